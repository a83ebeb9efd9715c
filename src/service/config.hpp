// The configuration file: what the core reads of it.  The [domains] tables
// belong to the toml backend, which reads them itself.
#pragma once

#include "core/log.hpp"
#include "core/render.hpp"

#include <nlohmann/json.hpp>

#include <optional>
#include <stdexcept>
#include <string>

namespace mxd {

// A configuration that cannot be used.  what() holds every problem, one a
// line, each "file:line:column: message".
class ConfigError : public std::runtime_error {
public:
	using std::runtime_error::runtime_error;
};

struct Config {
	std::string file;                 // the configuration's path, as given
	std::string plugin_dir;           // [backend] plugin_dir, default install_paths::plugin_dir
	std::string backend_name;         // [backend] name
	nlohmann::json backend;           // what the plugin's open() gets
	nlohmann::json defaults;          // [defaults]: an object, maybe empty
	render::Policy http;              // [http]
	unsigned threads = 4;             // [server] threads
	std::string listen;               // [server] listen; "" = as started
	// [server] socket_group and socket_mode: what a unix socket of our own
	// (--listen, [server] listen) is given, so that a web server running
	// as another user can connect.  "" keeps the process's own group.
	std::string socket_group;
	unsigned socket_mode = 0660;
	unsigned check_interval_ms = 20;  // [server] check_interval (seconds)
	unsigned read_timeout_s = 5;      // [server] read_timeout (seconds, 0 = none)
	// [server] cache_bytes: the last good answers of hosts with a record.
	std::size_t cache_bytes = 6 * 1024 * 1024;
	// [server] cache_size (hosts), deprecated for cache_bytes: a cap on
	// top of it when set.
	std::optional<std::size_t> cache_size;
	std::size_t wildcard_depth = 8;   // [server] wildcard_depth (labels)
	// [server] params_bytes: the FastCGI PARAMS records of one request,
	// headers and padding included; a connection sending more is closed.
	std::size_t params_bytes = 64 * 1024;
	// [server] max_connections: connections the gate holds (waiting for a
	// whole request, kept alive, or with a worker); lowered to what the
	// descriptor limit allows.
	std::size_t max_connections = 4096;
	// [follow]: the PostgreSQL store that the local copy ([backend], which
	// must then be sqlite) is kept an exact copy of by "mxdelegatectl
	// follow".  Its keys are the postgres backend's (conninfo, timeout), so
	// that the admin tool opens the primary with the postgres plugin and this
	// JSON as its configuration (config_file and config_dir added, as for
	// [backend]); nullopt without the table.
	std::optional<nlohmann::json> follow;
	std::string follow_at; // "file:line:column" of the [follow] table
	log::Format log_format = log::Format::text; // [log] format
	bool log_access = false;                    // [log] access: a line a request
	// [status] health: the request path answered with the health of this
	// responder (configuration loaded, store answering a probe); "" = off.
	// Canonical as core/route.cpp makes request paths, so that comparing
	// them is enough.
	std::string health_path;
	// [status] path: the request path answered with this process's metrics
	// (Prometheus text); "" = off.  Same rules as health_path.
	std::string metrics_path;
	// [status] listen: "ADDRESS:PORT" of the small HTTP listener of its own
	// (GET of /metrics and /health), long-running modes only; "" = none.
	std::string status_listen;
};

// The default configuration path, from SYSCONFDIR at build time.
const char *default_config_path();

// [backend] path of a sqlite backend as the plugin resolves it (relative to
// the configuration's folder, lexically normal): with [follow], the local
// copy, whose status files ("PATH.follow") the follower and the admin tool
// must name alike.  "" when [backend] has no path.
std::string copy_path(const Config &c);

// Reads and checks the configuration file.  Throws ConfigError with every
// problem found.
Config load_config(const std::string &path);

} // namespace mxd
