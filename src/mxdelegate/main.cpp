// mxdelegate: its arguments, the signals set up before any thread exists,
// and the choice of where requests come from (mode.hpp).  Serving is
// cgi.hpp's or server.hpp's; deciding an answer, the responder's.
#include "core/log.hpp"
#include "mxdelegate/cgi.hpp"
#include "mxdelegate/listen.hpp"
#include "mxdelegate/mode.hpp"
#include "mxdelegate/server.hpp"
#include "service/config.hpp"
#include "service/metrics.hpp"
#include "service/record_lints.hpp"
#include "service/responder.hpp"
#include "core/version.hpp"

#include <mxdelegate/backend.h>

#include <pthread.h>
#include <signal.h>
#include <sysexits.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

namespace {

using namespace mxd;

void usage(FILE *to)
{
	std::fprintf(to,
	             "usage: mxdelegate [-c file] [--listen address] [--threads n]\n"
	             "       mxdelegate [-c file] --check [--strict]\n"
	             "  -c, --config file   configuration (default %s)\n"
	             "  --listen address    serve FastCGI on unix:/path, host:port or *:port\n"
	             "  --threads n         worker threads (default: [server] threads, 4)\n"
	             "  --check             check the configuration and every record, then exit\n"
	             "  --strict            with --check: warnings fail too (exit 2)\n"
	             "Started by a web server, mxdelegate serves FastCGI on the socket it is given\n"
	             "(fd 0, or fd 3 from systemd), or answers one CGI request.\n",
	             default_config_path());
}

struct Arguments {
	std::string config = default_config_path();
	std::string listen;
	unsigned threads = 0;
	bool check = false;
	bool strict = false;
};

Arguments parse_args(int argc, char **argv)
{
	Arguments o;
	for (int i = 1; i < argc; ++i) {
		std::string a = argv[i];
		auto value = [&](const char *name) -> std::string {
			if (i + 1 >= argc) {
				std::fprintf(stderr, "mxdelegate: %s needs a value\n", name);
				std::exit(EX_USAGE);
			}
			return argv[++i];
		};
		if (a == "-c" || a == "--config")
			o.config = value("--config");
		else if (a == "--listen")
			o.listen = value("--listen");
		else if (a == "--threads") {
			std::string v = value("--threads");
			char *end = nullptr;
			long n = std::strtol(v.c_str(), &end, 10);
			if (v.empty() || *end || n < 1 || n > 1024) {
				std::fprintf(stderr, "mxdelegate: --threads: %s is not a number from 1 to 1024\n",
				             v.c_str());
				std::exit(EX_USAGE);
			}
			o.threads = static_cast<unsigned>(n);
		} else if (a == "--check")
			o.check = true;
		else if (a == "--strict")
			o.strict = true;
		else if (a == "-h" || a == "--help") {
			usage(stdout);
			std::exit(0);
		} else if (a == "-V" || a == "--version") {
			// The program's version, then the plugin interface's, which
			// mxdelegate-backend.pc carries: two numbers that are easily
			// taken for each other.
			std::printf("mxdelegate %s (backend ABI %d.%d)\n", mxd::version, MXD_BACKEND_ABI_MAJOR,
			            MXD_BACKEND_ABI_MINOR);
			std::exit(0);
		} else {
			std::fprintf(stderr, "mxdelegate: unknown argument: %s\n", a.c_str());
			usage(stderr);
			std::exit(EX_USAGE);
		}
	}
	return o;
}

// Exit 0, or 1 for a problem; warnings (core/lint) are printed after a
// clean check and fail it, with 2, only under --strict: a record they name
// is served as it is.
int check(const std::string &path, bool strict)
{
	std::vector<std::string> warnings;
	try {
		Config c = load_config(path);
		const auto responder = Responder::checked(c);
		warnings = record_warnings(c, responder->directory().backend());
	} catch (const std::exception &e) {
		// The shape of mxdelegatectl check's: "mxdelegate: check: " and
		// the problem, one line each.
		log::lines(log::Level::info, "check", "", e.what());
		return 1;
	}
	for (const auto &w : warnings)
		log::warning("check", w);
	return strict && !warnings.empty() ? 2 : 0;
}

// Before any thread exists, so that every thread inherits the mask:
// SIGPIPE is ignored so that a vanished peer is a failed write, the main
// thread takes SIGTERM, SIGINT and SIGHUP with sigtimedwait, and SIGUSR1
// stays blocked: libfcgi programs take it as "shut down after this
// request", and its default action would end the process in the middle of
// answers.  Returns the blocked set, which CGI unblocks again.
sigset_t set_up_signals()
{
	struct sigaction sa{};
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, nullptr);
	sigset_t block;
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &block, nullptr);
	return block;
}

// LISTEN_PID names this process and LISTEN_FDS is set; listen::systemd_fd
// then takes the socket and unsets the variables.
bool socket_activated()
{
	const char *pid = std::getenv("LISTEN_PID");
	return pid != nullptr && std::getenv("LISTEN_FDS") != nullptr &&
	       std::strtol(pid, nullptr, 10) == static_cast<long>(getpid());
}

// A socket of our own accepts connections into its backlog as soon as it
// exists, so the backend is opened before it is made: whoever waits for the
// socket (a supervisor's check, the tests) finds a responder that started,
// not one that may still fail on a file edited meanwhile.  False (reported)
// when the backend cannot be opened.
bool open_first(const Config &config, const std::string &config_error,
                std::shared_ptr<Responder> &first)
{
	if (!config_error.empty())
		return true; // reported after the socket, as before
	try {
		// Only the FastCGI server gets here (CGI returned before): it
		// renders an in-memory store's records once, for all its requests.
		first = std::make_shared<Responder>(config, Responder::Preload::yes);
		return true;
	} catch (const std::exception &e) {
		log::lines(log::Level::error, "main", "", e.what());
		return false;
	}
}

listen::Access socket_access(const Config &config)
{
	return {.mode = config.socket_mode, .group = config.socket_group};
}

int run(int argc, char **argv)
{
	const Arguments args = parse_args(argc, argv);
	// Before the signals are blocked: a check stays interruptible, and
	// libfcgi is never called.
	if (args.check)
		return check(args.config, args.strict);
	if (args.strict) {
		std::fprintf(stderr, "mxdelegate: --strict goes with --check\n");
		usage(stderr);
		return EX_USAGE;
	}

	const sigset_t blocked = set_up_signals();

	Config config;
	std::string config_error;
	// Before the read: an edit landing between the read and the moment the
	// server starts watching is then a change, not the baseline.
	const settle::Stamp read_as = config_stamp(args.config);
	try {
		config = load_config(args.config);
		log::set_format(config.log_format);
	} catch (const std::exception &e) {
		config_error = e.what();
	}

	mode::Facts facts;
	facts.listen_option = !args.listen.empty();
	facts.systemd = socket_activated();
	facts.fd0_listening = listen::fd0_listening();
	facts.request_method = std::getenv("REQUEST_METHOD") != nullptr;
	facts.config_loaded = config_error.empty();
	facts.config_listen = !config.listen.empty();
	const mode::Mode mode = mode::detect(facts);

	if (mode == mode::Mode::cgi) {
		// A web server may start CGI programs with SIGTERM ignored, which
		// exec keeps: the default action ends the process in any read.
		struct sigaction dfl{};
		sigemptyset(&dfl.sa_mask);
		dfl.sa_handler = SIG_DFL;
		sigaction(SIGTERM, &dfl, nullptr);
		sigaction(SIGINT, &dfl, nullptr);
		pthread_sigmask(SIG_UNBLOCK, &blocked, nullptr);
		// Known only now, from the environment: a CGI process answers one
		// request and is gone, nothing a listener could serve.
		if (!config.status_listen.empty())
			log::warning("main", config.file + ": [status] listen is for the long-running modes; "
			                     "ignored in CGI mode");
		return cgi::serve(config, config_error);
	}

	int listen_fd = -1;
	std::shared_ptr<Responder> first;
	try {
		switch (mode) {
		case mode::Mode::listen_option:
			if (!open_first(config, config_error, first))
				return EX_CONFIG;
			listen_fd = listen::open(args.listen, socket_access(config));
			break;
		case mode::Mode::systemd:
			listen_fd = listen::systemd_fd();
			break;
		case mode::Mode::inherited:
			listen_fd = 0;
			break;
		case mode::Mode::listen_config:
			if (!open_first(config, config_error, first))
				return EX_CONFIG;
			listen_fd = listen::open(config.listen, socket_access(config));
			break;
		case mode::Mode::none:
			if (config_error.empty()) {
				std::fprintf(stderr, "mxdelegate: not started by a web server (no FastCGI "
				                     "socket, no REQUEST_METHOD) and no --listen given\n");
				usage(stderr);
				return EX_USAGE;
			}
			break;
		case mode::Mode::cgi:
			break;
		}
	} catch (const std::exception &e) {
		log::error("main", e.what());
		return EX_UNAVAILABLE;
	}
	if (!config_error.empty()) {
		log::lines(log::Level::error, "config", "", config_error);
		return EX_CONFIG;
	}
	if (mode == mode::Mode::inherited && !config.listen.empty())
		log::warning("main", "[server] listen ignored: the web server gave a socket on fd 0");

	try {
		Server server(args.config, config, read_as, listen_fd, std::move(first));
		server.run(args.threads ? args.threads : config.threads);
		return 0;
	} catch (const std::exception &e) {
		log::lines(log::Level::error, "main", "", e.what());
		return EX_CONFIG;
	}
}

} // namespace

int main(int argc, char **argv)
{
	mxd::metrics::set_version(mxd::version);
	return run(argc, argv);
}
