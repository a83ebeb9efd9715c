// mxdelegate-follow: keeps the local SQLite store of a node (the
// configuration's [backend]) an exact copy of the PostgreSQL store named in
// its [follow] table.  Started by "mxdelegatectl follow", which execs it.
//
// Exits 0 on SIGTERM or SIGINT, 78 for a configuration it cannot use, 75
// when another follower keeps the same copy, 69 when either end has a
// schema version it does not read.
#include "core/log.hpp"
#include "follow/conninfo.hpp"
#include "follow/follower.hpp"
#include "service/config.hpp"

#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cstring>
#include <iostream>
#include <string>

namespace {

using namespace mxd;
using follow::Exit;

struct ConfigProblem : std::runtime_error {
	using std::runtime_error::runtime_error;
};

// [backend] (the copy) and [follow] (the primary), read by the responder's
// own reading of the file, so that the follower, the admin tool and the
// responder agree on every key and on where the copy is (copy_path: the
// status files beside it are found by that path).
follow::Settings read_config(const std::string &file)
{
	Config c;
	try {
		c = load_config(file);
		log::set_format(c.log_format);
	} catch (const ConfigError &e) {
		throw ConfigProblem(e.what());
	}
	if (!c.follow)
		throw ConfigProblem(file + ": no [follow] table; it names the PostgreSQL store to copy "
		                           "(conninfo = \"host=... dbname=...\")");
	follow::Settings s;
	s.copy = copy_path(c);
	if (s.copy.empty())
		throw ConfigProblem(file + ": [backend] path: missing; the file of the local copy");
	s.conninfo = c.follow->at("conninfo").get<std::string>();
	s.render = {c.defaults, c.http};
	try {
		s.shown = follow::shown_conninfo(s.conninfo);
	} catch (const follow::ConninfoError &e) {
		throw ConfigProblem(c.follow_at + ": " + e.what());
	}
	return s;
}

int usage(int code)
{
	(code ? std::cerr : std::cout)
		<< "usage: mxdelegate-follow [-c CONFIG]\n"
		   "Keeps the configuration's [backend] (sqlite) a copy of the PostgreSQL store of its\n"
		   "[follow] table; normally started by \"mxdelegatectl follow\".\n";
	return code;
}

} // namespace

int main(int argc, char **argv)
{
	log::set_program("mxdelegate-follow");
	std::string file = default_config_path();
	for (int i = 1; i < argc; i++) {
		const std::string a = argv[i];
		if ((a == "-c" || a == "--config") && i + 1 < argc)
			file = argv[++i];
		else if (a == "-h" || a == "--help")
			return usage(0);
		else
			return usage(64);
	}
	follow::Settings s;
	try {
		s = read_config(file);
	} catch (const ConfigProblem &e) {
		log::error("follow", e.what());
		return Exit::config;
	}
	// Taken before anything is read or written, and held until exit.
	pid_t holder = 0;
	bool unopenable = false;
	auto take = [&]() -> std::optional<follow_status::Lock> {
		try {
			return follow_status::Lock::take(s.copy, &holder);
		} catch (const follow_status::Error &e) {
			log::error("follow", e.what());
			unopenable = true;
			return std::nullopt;
		}
	};
	const std::optional<follow_status::Lock> lock = take();
	if (!lock) {
		if (unopenable) // a folder that is not there, or not ours: said above
			return Exit::config;
		log::error("follow", follow_status::lock_path(s.copy) + ": another follower" +
		                         (holder > 0 ? " (pid " + std::to_string(holder) + ")" : std::string()) +
		                         " keeps this copy; one follower a copy");
		return Exit::tempfail;
	}
	// Taken as events from a signalfd, so that a signal never interrupts a
	// write to the copy halfway: it is looked at between steps.
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, nullptr);
	signal(SIGPIPE, SIG_IGN);
	const int fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (fd < 0) {
		log::error("follow", std::string("signalfd: ") + std::strerror(errno));
		return Exit::software;
	}
	try {
		return follow::Follower(s, fd).run();
	} catch (const std::exception &e) {
		log::error("follow", e.what());
		return Exit::software;
	}
}
