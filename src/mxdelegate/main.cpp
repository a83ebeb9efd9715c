// mxdelegate: arguments, signals, threads and the FastCGI accept loop.  All
// that decides an answer lives in the modules below responder.hpp.
#include "service/config.hpp"
#include "mxdelegate/listen.hpp"
#include "core/log.hpp"
#include "service/responder.hpp"

#include <fcgiapp.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#ifndef MXD_VERSION
#define MXD_VERSION "0.1.0"
#endif

namespace {

using namespace mxd;

// sysexits(3)
constexpr int ex_usage = 64, ex_config = 78, ex_unavailable = 69, ex_oserr = 71;

void usage(FILE *to)
{
	std::fprintf(to,
	             "usage: mxdelegate [-c file] [--listen address] [--threads n]\n"
	             "       mxdelegate [-c file] --check\n"
	             "  -c, --config file   configuration (default %s)\n"
	             "  --listen address    serve FastCGI on unix:/path, host:port or *:port\n"
	             "  --threads n         worker threads (default: [server] threads, 4)\n"
	             "  --check             check the configuration and every record, then exit\n"
	             "Started by a web server, mxdelegate serves FastCGI on the socket it is given\n"
	             "(fd 0, or fd 3 from systemd), or answers one CGI request.\n",
	             default_config_path());
}

struct Options {
	std::string config = default_config_path();
	std::string listen;
	unsigned threads = 0;
	bool check = false;
};

Options parse_args(int argc, char **argv)
{
	Options o;
	for (int i = 1; i < argc; ++i) {
		std::string a = argv[i];
		auto value = [&](const char *name) -> std::string {
			if (i + 1 >= argc) {
				std::fprintf(stderr, "mxdelegate: %s needs a value\n", name);
				std::exit(ex_usage);
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
				std::exit(ex_usage);
			}
			o.threads = static_cast<unsigned>(n);
		} else if (a == "--check")
			o.check = true;
		else if (a == "-h" || a == "--help") {
			usage(stdout);
			std::exit(0);
		} else if (a == "-V" || a == "--version") {
			std::printf("mxdelegate %s\n", MXD_VERSION);
			std::exit(0);
		} else {
			std::fprintf(stderr, "mxdelegate: unknown argument: %s\n", a.c_str());
			usage(stderr);
			std::exit(ex_usage);
		}
	}
	return o;
}

// Prints each line of a multi-line message with the program's prefix.
void report(const char *what)
{
	std::string s(what);
	size_t start = 0;
	while (start <= s.size()) {
		size_t nl = s.find('\n', start);
		std::string line = s.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
		if (!line.empty())
			std::fprintf(stderr, "%s\n", line.c_str());
		if (nl == std::string::npos)
			break;
		start = nl + 1;
	}
}

int check(const std::string &path)
{
	try {
		Config c = load_config(path);
		Responder r(c);
		return 0;
	} catch (const ConfigError &e) {
		report(e.what());
	} catch (const std::exception &e) {
		report(e.what());
	}
	return 1;
}

// --- CGI --------------------------------------------------------------------

const char *env_param(const char *name, void *)
{
	return std::getenv(name);
}

bool write_all(int fd, std::string_view bytes)
{
	while (!bytes.empty()) {
		ssize_t n = write(fd, bytes.data(), bytes.size());
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		bytes.remove_prefix(static_cast<size_t>(n));
	}
	return true;
}

// mod_cgid hands the program its stdin and stdout as one unix socket, and
// closing a socket with unread data resets it: Apache then loses the end of
// the answer (a POST's 405 arrived only after its keep-alive timeout, the
// chunked body unterminated).  No answer needs the body, so up to 1 MiB of
// it is read and dropped before the answer is written.
void discard_body()
{
	const char *length = std::getenv("CONTENT_LENGTH");
	if (length == nullptr || *length < '0' || *length > '9')
		return;
	char *end = nullptr;
	unsigned long long left = std::strtoull(length, &end, 10);
	if (*end != '\0')
		return;
	left = std::min(left, 1ULL << 20);
	char buf[8192];
	while (left > 0) {
		ssize_t n = read(0, buf, std::min<unsigned long long>(sizeof buf, left));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		left -= static_cast<unsigned long long>(n);
	}
}

int serve_cgi(const Config &config)
{
	Request req = parse_request(env_param, nullptr);
	Reply reply;
	// The reply may point into the responder's fixed answers: it lives
	// until the bytes are written.
	std::unique_ptr<Responder> responder;
	try {
		responder = std::make_unique<Responder>(config);
		responder->answer(req, reply);
	} catch (const std::exception &e) {
		// The backend cannot be opened: the web server still gets an answer
		// that no remote server caches.
		report(e.what());
		Response resp = render::error(503, "M_UNAVAILABLE",
		                              "The delegation store is unavailable; try again later",
		                              config.http);
		reply.buffer = serialize(resp, req.method != Method::head);
		reply.bytes = reply.buffer;
	}
	return write_all(1, reply.bytes) ? 0 : ex_oserr;
}

// --- FastCGI ----------------------------------------------------------------

std::atomic<bool> stopping{false};

// The configuration in service.  Workers keep their own reference and look at
// `version` once a request to learn that a reload swapped in a new one.
std::mutex current_mutex;
std::shared_ptr<Responder> current;
std::atomic<std::uint64_t> version{0};

std::shared_ptr<Responder> load_current()
{
	std::lock_guard lock(current_mutex);
	return current;
}

void install(std::shared_ptr<Responder> r)
{
	{
		std::lock_guard lock(current_mutex);
		current = std::move(r);
	}
	version.fetch_add(1, std::memory_order_release);
}

void on_usr1(int)
{
	// Only interrupts a blocking read past the shutdown grace period; the
	// worker loop reads `stopping` itself.
}

// Workers wait in poll() on the listening socket and on this pipe, which
// the main thread closes at shutdown, so that idle workers leave at once
// while a worker inside a request finishes it.
int wake_pipe[2] = {-1, -1};

// False when the worker should leave.
bool wait_for_connection(int listen_fd)
{
	pollfd p[2] = {{listen_fd, POLLIN, 0}, {wake_pipe[0], POLLIN, 0}};
	for (;;) {
		if (stopping.load(std::memory_order_acquire))
			return false;
		int n = poll(p, 2, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || p[1].revents)
			return false;
		if (p[0].revents & (POLLERR | POLLNVAL)) {
			log::error("worker", "the listening socket failed");
			stopping = true;
			return false;
		}
		return true;
	}
}

// SO_RCVTIMEO bounds one read, not a request: a peer that sends a byte
// within each timeout, or goes on sending after its answer (libfcgi drains a
// connection before it closes it, waiting 2 s after each chunk), would hold
// a worker for ever.  So each worker accepts its connections itself and
// lends the watchdog a duplicate of the socket; a request not read,
// answered and closed within read_timeout has its socket shut down, which
// ends whatever read, write or drain libfcgi is blocked in.  The duplicate
// is closed by the worker alone, under the slot's lock, so the watchdog
// never shuts down a descriptor number that was reused.
struct Slot {
	std::mutex mutex;
	int fd = -1; // the worker's duplicate of its connection, or -1
	bool armed = false;
	std::chrono::steady_clock::time_point deadline;
};

std::chrono::seconds request_timeout{0}; // 0: no deadline
// libfcgi is given this socket, never listened on, to accept from: after it
// dropped a connection by itself (a bad BEGIN_REQUEST, an unknown role) it
// then fails at once instead of taking the next connection unwatched.
int no_listen_fd = -1;

void lend(Slot &slot, int fd)
{
	std::lock_guard lock(slot.mutex);
	slot.fd = fd;
	slot.armed = false;
}

void take_back(Slot &slot)
{
	std::lock_guard lock(slot.mutex);
	if (slot.fd >= 0)
		close(slot.fd);
	slot.fd = -1;
	slot.armed = false;
}

void arm(Slot &slot)
{
	if (request_timeout.count() == 0)
		return;
	std::lock_guard lock(slot.mutex);
	slot.armed = true;
	slot.deadline = std::chrono::steady_clock::now() + request_timeout;
}

// Wakes the watchdog at shutdown, so that the process does not linger for
// its next tick (a web server that stops its children may look at once).
std::mutex watchdog_mutex;
std::condition_variable watchdog_wake;

void stop_watchdog()
{
	std::lock_guard lock(watchdog_mutex);
	watchdog_wake.notify_all();
}

void watchdog(Slot *slots, unsigned n)
{
	for (;;) {
		{
			std::unique_lock lock(watchdog_mutex);
			if (watchdog_wake.wait_for(lock, std::chrono::milliseconds(100), [] {
				    return stopping.load(std::memory_order_acquire);
			    }))
				return;
		}
		const auto now = std::chrono::steady_clock::now();
		for (unsigned i = 0; i < n; ++i) {
			std::lock_guard lock(slots[i].mutex);
			if (slots[i].fd >= 0 && slots[i].armed && now >= slots[i].deadline) {
				shutdown(slots[i].fd, SHUT_RDWR);
				slots[i].armed = false;
			}
		}
	}
}

// FCGI_WEB_SERVER_ADDRS, read once: the IPv4 peers libfcgi would accept
// (none listed: all), checked here since libfcgi no longer accepts.
std::vector<in_addr_t> web_server_addrs;

void read_web_server_addrs()
{
	const char *list = std::getenv("FCGI_WEB_SERVER_ADDRS");
	if (list == nullptr)
		return;
	std::string all(list);
	for (std::size_t start = 0; start <= all.size();) {
		std::size_t comma = all.find(',', start);
		if (comma == std::string::npos)
			comma = all.size();
		const std::string one = all.substr(start, comma - start);
		if (const in_addr_t a = inet_addr(one.c_str()); a != INADDR_NONE)
			web_server_addrs.push_back(a);
		start = comma + 1;
	}
}

// What libfcgi's own accept did to a connection: TCP_NODELAY on TCP, so
// that the answer's records are not held back by Nagle, and the
// FCGI_WEB_SERVER_ADDRS check of IPv4 peers.  False: close it.
bool prepare_connection(int fd, const sockaddr_storage &peer)
{
	if (peer.ss_family != AF_INET && peer.ss_family != AF_INET6)
		return true;
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (peer.ss_family != AF_INET || web_server_addrs.empty())
		return true;
	sockaddr_in in;
	std::memcpy(&in, &peer, sizeof in);
	return std::find(web_server_addrs.begin(), web_server_addrs.end(), in.sin_addr.s_addr) !=
	       web_server_addrs.end();
}

// A connection of our own for FCGX_Accept_r, or -1 (none ready, or an error
// that passes).  Clears `ok` when the listening socket is unusable.
int accept_connection(int listen_fd, bool &ok)
{
	sockaddr_storage peer{};
	socklen_t len = sizeof peer;
	int fd = accept4(listen_fd, reinterpret_cast<sockaddr *>(&peer), &len, SOCK_CLOEXEC);
	if (fd >= 0) {
		if (prepare_connection(fd, peer))
			return fd;
		close(fd);
		return -1;
	}
	// EAGAIN: another worker took the connection (the listening socket is
	// non-blocking); the others: the peer left, or a stray signal.
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == ECONNABORTED)
		return -1;
	log::error("worker", std::string("accept failed: ") + std::strerror(errno));
	if (errno == EBADF || errno == ENOTSOCK || errno == EINVAL) {
		ok = false;
		return -1;
	}
	// EMFILE and the like pass; do not spin while they last.
	std::this_thread::sleep_for(std::chrono::milliseconds(100));
	return -1;
}

void worker(int listen_fd, Slot &slot)
{
	FCGX_Request req;
	// FCGI_FAIL_ACCEPT_ON_INTR: past the shutdown grace period, SIGUSR1 gets
	// a worker out of a read on a kept-alive connection.
	if (FCGX_InitRequest(&req, no_listen_fd, FCGI_FAIL_ACCEPT_ON_INTR) != 0) {
		log::error("worker", "FCGX_InitRequest failed");
		return;
	}
	sigset_t usr1;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);

	std::shared_ptr<Responder> responder;
	std::uint64_t seen = ~std::uint64_t{0};
	Reply reply;
	for (;;) {
		// A kept-alive connection (nginx fastcgi_keep_conn) is read again
		// by FCGX_Accept_r itself; only a new one is waited for here.
		if (req.ipcFd < 0) {
			take_back(slot);
			if (!wait_for_connection(listen_fd))
				break;
			bool ok = true;
			const int fd = accept_connection(listen_fd, ok);
			if (!ok) {
				stopping = true;
				break;
			}
			if (fd < 0)
				continue;
			const int dup = fcntl(fd, F_DUPFD_CLOEXEC, 0);
			if (dup < 0) {
				log::error("worker", std::string("dup failed: ") + std::strerror(errno));
				close(fd);
				std::this_thread::sleep_for(std::chrono::milliseconds(100));
				continue;
			}
			lend(slot, dup);
			req.ipcFd = fd;
			// FCGX_Accept_r first finishes "the previous request", and
			// closes its connection unless that one was kept alive.
			req.keepConnection = 1;
		}
		arm(slot);
		pthread_sigmask(SIG_UNBLOCK, &usr1, nullptr);
		int rc = FCGX_Accept_r(&req);
		// While a request is served, SIGUSR1 stays blocked: libfcgi takes an
		// interrupted write for a failed one and would drop the answer.
		pthread_sigmask(SIG_BLOCK, &usr1, nullptr);
		if (rc < 0) {
			// libfcgi closed the connection (no BEGIN_REQUEST, an unknown
			// role, a read error, the deadline), then could not accept.
			if (stopping.load(std::memory_order_acquire))
				break;
			continue;
		}
		if (FCGX_GetError(req.in) != 0) {
			// The parameters were cut short (peer gone, a read timeout, the
			// deadline): libfcgi still returns the request.  Answer nothing,
			// and close without libfcgi's drain, which a trickling peer
			// would prolong: there is no answer that a reset could lose.
			FCGX_Detach(&req);
			FCGX_Free(&req, 1);
			continue;
		}
		if (std::uint64_t v = version.load(std::memory_order_acquire); v != seen) {
			responder = load_current();
			seen = v;
		}
		Request request = parse_request(req.envp);
		responder->answer(request, reply);
		FCGX_PutStr(reply.bytes.data(), static_cast<int>(reply.bytes.size()), req.out);
		FCGX_Finish_r(&req);
		reply.hold.reset();
		if (stopping.load(std::memory_order_acquire))
			break;
	}
	FCGX_Free(&req, 1);
	take_back(slot);
}

struct FileStamp {
	dev_t dev = 0;
	ino_t ino = 0;
	off_t size = -1;
	timespec mtime{};
	bool operator==(const FileStamp &o) const
	{
		return dev == o.dev && ino == o.ino && size == o.size && mtime.tv_sec == o.mtime.tv_sec &&
		       mtime.tv_nsec == o.mtime.tv_nsec;
	}
};

FileStamp stamp(const std::string &path)
{
	FileStamp s;
	struct stat st;
	if (stat(path.c_str(), &st) == 0) {
		s.dev = st.st_dev;
		s.ino = st.st_ino;
		s.size = st.st_size;
		s.mtime = st.st_mtim;
	}
	return s;
}

// Builds the new configuration completely and swaps it in only when it is
// valid; otherwise the old one goes on serving.
void reload(const std::string &path, const char *why)
{
	try {
		Config c = load_config(path);
		auto r = std::make_shared<Responder>(c);
		const Config &old = load_current()->config();
		if (c.threads != old.threads || c.listen != old.listen || c.read_timeout_s != old.read_timeout_s)
			log::warning("main", "threads, listen and read_timeout change at the next restart");
		install(std::move(r));
		log::info("main", std::string("configuration reloaded (") + why + ")");
	} catch (const std::exception &e) {
		log::error("main", std::string("reload (") + why +
		                       ") refused, the previous configuration stays in service:");
		report(e.what());
	}
}

int serve_fastcgi(const Options &opt, const Config &config, int listen_fd,
                  std::shared_ptr<Responder> first)
{
	install(first ? std::move(first) : std::make_shared<Responder>(config));
	if (config.read_timeout_s > 0)
		listen::set_read_timeout(listen_fd, config.read_timeout_s);
	// Every worker polls the socket; those that lose the race for a
	// connection must get EAGAIN from accept(), not block in it.
	int fl = fcntl(listen_fd, F_GETFL);
	if (fl < 0 || fcntl(listen_fd, F_SETFL, fl | O_NONBLOCK) < 0)
		throw std::runtime_error(std::string("listening socket: ") + std::strerror(errno));
	if (pipe2(wake_pipe, O_CLOEXEC) != 0)
		throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));

	read_web_server_addrs();
	no_listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (no_listen_fd < 0)
		throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
	request_timeout = std::chrono::seconds(config.read_timeout_s);

	unsigned n = opt.threads ? opt.threads : config.threads;
	auto slots = std::make_unique<Slot[]>(n);
	std::vector<std::thread> workers;
	std::vector<pthread_t> ids;
	for (unsigned i = 0; i < n; ++i) {
		workers.emplace_back(worker, listen_fd, std::ref(slots[i]));
		ids.push_back(workers.back().native_handle());
	}
	std::thread guard;
	if (request_timeout.count() > 0)
		guard = std::thread(watchdog, slots.get(), n);

	sigset_t wait;
	sigemptyset(&wait);
	sigaddset(&wait, SIGTERM);
	sigaddset(&wait, SIGINT);
	sigaddset(&wait, SIGHUP);
	FileStamp seen = stamp(opt.config);
	while (!stopping.load()) {
		// Read each time: a reload may have changed it.
		const unsigned interval = load_current()->config().check_interval_ms;
		timespec ts{static_cast<time_t>(interval / 1000),
		            static_cast<long>(interval % 1000) * 1000000L};
		int sig = sigtimedwait(&wait, nullptr, &ts);
		if (sig == SIGTERM || sig == SIGINT) {
			log::info("main", sig == SIGTERM ? "SIGTERM: finishing requests in flight"
			                                 : "SIGINT: finishing requests in flight");
			break;
		}
		if (sig == SIGHUP) {
			seen = stamp(opt.config);
			reload(opt.config, "SIGHUP");
			continue;
		}
		if (FileStamp now = stamp(opt.config); !(now == seen)) {
			seen = now;
			reload(opt.config, "file changed");
			continue;
		}
		load_current()->refresh();
	}

	stopping = true;
	close(wake_pipe[1]);
	std::atomic<bool> joined{false};
	std::thread joiner([&] {
		for (auto &w : workers)
			w.join();
		joined = true;
	});
	// Requests in flight finish; a worker still waiting on a kept-alive
	// connection after the grace period is interrupted.  A worker may block
	// again just after a signal, so it is sent until all have left.
	const auto grace = std::chrono::steady_clock::now() + std::chrono::seconds(2);
	while (!joined.load()) {
		std::this_thread::sleep_for(std::chrono::milliseconds(20));
		if (std::chrono::steady_clock::now() < grace)
			continue;
		FCGX_ShutdownPending();
		for (pthread_t id : ids)
			pthread_kill(id, SIGUSR1);
	}
	joiner.join();
	if (guard.joinable()) {
		stop_watchdog();
		guard.join();
	}
	return 0;
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
		first = std::make_shared<Responder>(config);
		return true;
	} catch (const std::exception &e) {
		report(e.what());
		return false;
	}
}

void report_cgi_failure(const char *why)
{
	report(why);
	// The web server still gets a JSON answer that no remote server caches,
	// rather than a bare 500 for a script that printed nothing.
	Response resp = render::error(503, "M_UNAVAILABLE", "mxdelegate is misconfigured",
	                              render::Policy{});
	write_all(1, serialize(resp, true));
}

int run(int argc, char **argv)
{
	Options opt = parse_args(argc, argv);
	if (opt.check)
		return check(opt.config);

	// Before anything of libfcgi runs (FCGX_IsCGI calls FCGX_Init, which
	// installs handlers where it finds the default disposition): SIGUSR1 only
	// interrupts accept(), SIGPIPE is ignored so that a vanished peer is a
	// failed write, and the main thread takes the rest with sigtimedwait.
	struct sigaction sa{};
	sa.sa_handler = on_usr1;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0; // no SA_RESTART: accept() must return EINTR
	sigaction(SIGUSR1, &sa, nullptr);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, nullptr);
	sigset_t block;
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &block, nullptr);

	Config config;
	std::string config_error;
	try {
		config = load_config(opt.config);
	} catch (const std::exception &e) {
		config_error = e.what();
	}

	// Where requests come from, first match wins: --listen; a socket from
	// systemd; a listening socket on fd 0 from a web server; CGI variables;
	// [server] listen.
	int listen_fd = -1;
	std::shared_ptr<Responder> first;
	try {
		if (!opt.listen.empty()) {
			if (!open_first(config, config_error, first))
				return ex_config;
			listen_fd = listen::open(opt.listen);
		} else if ((listen_fd = listen::systemd_fd()) >= 0)
			;
		else if (!FCGX_IsCGI())
			listen_fd = 0;
		else if (std::getenv("REQUEST_METHOD")) {
			pthread_sigmask(SIG_UNBLOCK, &block, nullptr);
			discard_body();
			if (!config_error.empty()) {
				report_cgi_failure(config_error.c_str());
				return ex_config;
			}
			return serve_cgi(config);
		} else if (config_error.empty() && !config.listen.empty()) {
			if (!open_first(config, config_error, first))
				return ex_config;
			listen_fd = listen::open(config.listen);
		} else if (config_error.empty()) {
			std::fprintf(stderr, "mxdelegate: not started by a web server (no FastCGI "
			                     "socket, no REQUEST_METHOD) and no --listen given\n");
			usage(stderr);
			return ex_usage;
		}
	} catch (const std::exception &e) {
		log::error("main", e.what());
		return ex_unavailable;
	}
	if (!config_error.empty()) {
		report(config_error.c_str());
		return ex_config;
	}
	if (listen_fd == 0 && !config.listen.empty())
		log::warning("main", "[server] listen ignored: the web server gave a socket on fd 0");

	if (FCGX_Init() != 0) {
		log::error("main", "FCGX_Init failed");
		return ex_oserr;
	}
	try {
		return serve_fastcgi(opt, config, listen_fd, std::move(first));
	} catch (const std::exception &e) {
		report(e.what());
		return ex_config;
	}
}

} // namespace

int main(int argc, char **argv)
{
	return run(argc, argv);
}
