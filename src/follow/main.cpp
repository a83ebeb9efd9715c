// mxdelegate-follow: keeps the local SQLite store of a node (the
// configuration's [backend]) an exact copy of the PostgreSQL store named in
// its [follow] table.  Started by "mxdelegatectl follow", which execs it.
//
// Exits 0 on SIGTERM or SIGINT, 78 for a configuration it cannot use, 75
// when another follower keeps the same copy, 69 when either end has a
// schema version it does not read.
#include "core/log.hpp"
#include "core/toml_json.hpp"
#include "follow/conninfo.hpp"
#include "follow/follower.hpp"
#include "service/config.hpp"

#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>

namespace {

using namespace mxd;
using follow::Exit;

struct ConfigProblem : std::runtime_error {
	using std::runtime_error::runtime_error;
};

// [backend] (the copy) and [follow] (the primary).  The other tables are the
// responder's, checked by it.
follow::Settings read_config(const std::string &file)
{
	toml::table root;
	try {
		root = toml::parse_file(file);
	} catch (const toml::parse_error &e) {
		throw ConfigProblem(toml_json::where(e.source()) + ": " + std::string(e.description()));
	} catch (const std::exception &e) {
		throw ConfigProblem(file + ": " + e.what());
	}
	follow::Settings s;
	const toml::table *backend = root["backend"].as_table();
	if (!backend)
		throw ConfigProblem(file + ": no [backend] table; the follower keeps a [backend] of name "
		                           "\"sqlite\" in step");
	const auto *name = backend->get_as<std::string>("name");
	if (!name || name->get() != "sqlite")
		throw ConfigProblem((name ? toml_json::where(*name) : file) +
		                    ": [backend] name: must be \"sqlite\" in a configuration with [follow] "
		                    "(the local copy)");
	const auto *path = backend->get_as<std::string>("path");
	if (!path || path->get().empty())
		throw ConfigProblem(toml_json::where(*backend) + ": [backend] path: missing; the file of the "
		                                                 "local copy");
	const std::filesystem::path p(path->get());
	s.copy = p.is_absolute() ? p.string()
	                         : (std::filesystem::absolute(file).parent_path() / p).lexically_normal().string();
	const toml::table *f = root["follow"].as_table();
	if (!f)
		throw ConfigProblem(file + ": no [follow] table; it names the PostgreSQL store to copy "
		                           "(conninfo = \"host=... dbname=...\")");
	for (const auto &[key, value] : *f) {
		if (key.str() == "conninfo") {
			if (!value.is_string())
				throw ConfigProblem(toml_json::where(value) + ": [follow] conninfo: must be a string");
			s.conninfo = value.as_string()->get();
		} else if (key.str() == "timeout") {
			if (!value.is_integer() || value.as_integer()->get() < 1 || value.as_integer()->get() > 60000)
				throw ConfigProblem(toml_json::where(value) + ": [follow] timeout: must be an integer "
				                                              "number of milliseconds from 1 to 60000");
		} else {
			throw ConfigProblem(toml_json::where(value) + ": unknown key \"" + std::string(key.str()) +
			                    "\" in [follow] (conninfo, timeout)");
		}
	}
	if (s.conninfo.empty())
		throw ConfigProblem(toml_json::where(*f) + ": [follow] conninfo: missing; a libpq connection "
		                                           "string, such as \"host=db1 dbname=mxdelegate\"");
	try {
		s.shown = follow::shown_conninfo(s.conninfo);
	} catch (const follow::ConninfoError &e) {
		throw ConfigProblem(toml_json::where(*f) + ": " + e.what());
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
