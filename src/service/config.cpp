#include "service/config.hpp"

#include "core/install_paths.hpp"
#include "core/log.hpp"
#include "core/record.hpp"
#include "core/route.hpp"
#include "core/toml_json.hpp"
#include "core/toml_tables.hpp"
#include "service/file_text.hpp"
#include "service/listen_spec.hpp"

#include <cmath>
#include <filesystem>
#include <optional>
#include <string_view>
#include <vector>

namespace mxd {

const char *default_config_path()
{
	return install_paths::config_file;
}

namespace {

// Collects problems so that one run reports all of them, not the first.
class Problems {
public:
	void add(const toml::node &at, std::string_view message)
	{
		add(toml_json::where(at), message);
	}
	// One line a problem, whatever the file holds: a key or a parser's
	// quote with a newline in it must not make up a problem of its own.
	void add(const std::string &where, std::string_view message)
	{
		if (!text_.empty())
			text_ += '\n';
		text_.append(log::one_line(where)).append(": ").append(log::one_line(message));
	}
	void raise() const
	{
		if (!text_.empty())
			throw ConfigError(text_);
	}

private:
	std::string text_;
};

// An integer key within [lo, hi]; false (and a problem) otherwise.
template <typename T>
void read_int(const toml::table &t, std::string_view key, long long lo, long long hi,
              T &out, Problems &p)
{
	const toml::node *n = t.get(key);
	if (!n)
		return;
	// is_integer() first: value<int64_t>() converts a float such as 1e302
	// before checking its range, which is undefined behaviour (the config
	// fuzzer found it under UBSan).
	const auto *i = n->as_integer();
	if (!i) {
		p.add(*n, std::string(key) + ": must be an integer");
		return;
	}
	const std::optional<std::int64_t> v = i->get();
	if (*v < lo || *v > hi) {
		p.add(*n, std::string(key) + ": must be between " + std::to_string(lo) + " and " +
		              std::to_string(hi));
		return;
	}
	out = static_cast<T>(*v);
}

void read_string(const toml::table &t, std::string_view key, std::string &out, Problems &p)
{
	const toml::node *n = t.get(key);
	if (!n)
		return;
	if (!n->is_string()) {
		p.add(*n, std::string(key) + ": must be a string");
		return;
	}
	out = **n->as_string();
	if (out.empty())
		p.add(*n, std::string(key) + ": must not be empty");
}

void unknown_keys(const toml::table &t, std::string_view table,
                  std::initializer_list<std::string_view> known, Problems &p)
{
	for (auto &&[k, v] : t) {
		bool ok = false;
		for (auto name : known)
			ok = ok || k.str() == name;
		if (!ok)
			p.add(v, "unknown key \"" + std::string(k.str()) + "\" in [" + std::string(table) + "]");
	}
}

const toml::table *table_of(const toml::table &root, std::string_view name, Problems &p)
{
	const toml::node *n = root.get(name);
	if (!n)
		return nullptr;
	if (!n->is_table()) {
		p.add(*n, std::string(name) + ": must be a table");
		return nullptr;
	}
	return n->as_table();
}

// The folder that relative paths of the file start from.
std::filesystem::path config_dir(const std::string &file)
{
	std::error_code ec;
	auto abs = std::filesystem::absolute(file, ec);
	return (ec ? std::filesystem::path(file) : abs.lexically_normal()).parent_path();
}

void read_backend(const toml::table &root, Config &c, Problems &p)
{
	const toml::table *t = table_of(root, "backend", p);
	if (!t) {
		p.add(c.file + ":1:1", "no [backend] table; add one with name = \"toml\" or another backend");
		return;
	}
	read_string(*t, "name", c.backend_name, p);
	if (c.backend_name.empty() && !t->get("name"))
		p.add(*t, "[backend]: name is missing (the plugin to load, e.g. \"toml\")");
	read_string(*t, "plugin_dir", c.plugin_dir, p);
	c.backend = nlohmann::json::object();
	for (auto &&[k, v] : *t) {
		if (k.str() == "name" || k.str() == "plugin_dir")
			continue;
		// The responder opens its backend read-only, always: "access" is
		// what mxdelegatectl adds to open one for writing.
		if (k.str() == "access") {
			p.add(v, "[backend] access: not a configuration key; mxdelegatectl sets it "
			         "for its own writes, and mxdelegate always reads only");
			continue;
		}
		try {
			c.backend[std::string(k.str())] = toml_json::to_json(v);
		} catch (const std::exception &e) {
			p.add(v, e.what());
		}
	}
	const auto dir = config_dir(c.file);
	c.backend["config_file"] = c.file;
	c.backend["config_dir"] = dir.string();
	if (c.plugin_dir.empty())
		c.plugin_dir = install_paths::plugin_dir;
	else if (std::filesystem::path(c.plugin_dir).is_relative())
		c.plugin_dir = (dir / c.plugin_dir).lexically_normal().string();
}

void read_defaults(const toml::table &root, Config &c, Problems &p)
{
	c.defaults = nlohmann::json::object();
	const toml::table *t = table_of(root, "defaults", p);
	if (!t)
		return;
	try {
		c.defaults = toml_json::to_json(*t);
	} catch (const std::exception &e) {
		p.add(*t, e.what());
		return;
	}
	for (const auto &problem : record::validate(c.defaults, ""))
		p.add(toml_json::locate(*t, problem.path),
		      "defaults: " + record::format_path(problem.path) + ": " + problem.message);
}

void read_http(const toml::table &root, Config &c, Problems &p)
{
	const toml::table *t = table_of(root, "http", p);
	if (!t)
		return;
	unknown_keys(*t, "http", {"max_age", "not_found_max_age", "stale_max_age"}, p);
	read_int(*t, "max_age", 0, 604800, c.http.max_age, p);
	read_int(*t, "not_found_max_age", 0, 86400, c.http.not_found_max_age, p);
	read_int(*t, "stale_max_age", 0, 3600, c.http.stale_max_age, p);
}

void read_server(const toml::table &root, Config &c, Problems &p)
{
	const toml::table *t = table_of(root, "server", p);
	if (!t)
		return;
	unknown_keys(*t, "server",
	             {"threads", "listen", "socket_group", "socket_mode", "check_interval",
	              "read_timeout", "cache_size", "cache_bytes", "wildcard_depth", "params_bytes",
	              "max_connections"},
	             p);
	read_int(*t, "threads", 1, 1024, c.threads, p);
	read_string(*t, "listen", c.listen, p);
	// Refused here with its position, not at start with none.
	if (!c.listen.empty()) {
		try {
			listen_spec::parse(c.listen);
		} catch (const listen_spec::Error &e) {
			p.add(*t->get("listen"), "listen: \"" + c.listen + "\": " + e.what());
		}
	}
	read_string(*t, "socket_group", c.socket_group, p);
	if (const toml::node *n = t->get("socket_mode")) {
		// A string: TOML reads 0660 as a decimal or an error, and the
		// digits an operator writes for a mode are octal.
		const auto *s = n->as_string();
		const std::string v = s ? s->get() : std::string();
		if (v.empty() || v.size() > 4 || v.find_first_not_of("01234567") != std::string::npos)
			p.add(*n, "socket_mode: must be a string of octal digits, such as \"0660\"");
		else if (const unsigned mode = static_cast<unsigned>(std::stoul(v, nullptr, 8));
		         (mode & 0600) != 0600 || mode > 0777)
			p.add(*n, "socket_mode: \"" + v + "\": must give the owner read and write (0600) "
			          "and hold nothing past 0777");
		else
			c.socket_mode = mode;
	}
	read_int(*t, "read_timeout", 0, 3600, c.read_timeout_s, p);
	if (t->get("cache_size")) {
		std::size_t hosts = 0;
		read_int(*t, "cache_size", 0, 100000000, hosts, p);
		c.cache_size = hosts;
	}
	read_int(*t, "cache_bytes", 0, 1LL << 40, c.cache_bytes, p);
	// 127 labels is the most a 253-character name has.
	read_int(*t, "wildcard_depth", 0, 127, c.wildcard_depth, p);
	// Below 4 KiB no web server's parameters fit; 1 MiB is far above the
	// largest header sets they forward.
	read_int(*t, "params_bytes", 4096, 1 << 20, c.params_bytes, p);
	read_int(*t, "max_connections", 16, 1000000, c.max_connections, p);
	if (const toml::node *n = t->get("check_interval")) {
		// Seconds, fractions allowed: a provider may want changes live sooner.
		double s = n->is_integer() ? double(*n->value<std::int64_t>())
		         : n->is_floating_point() ? *n->value<double>() : -1;
		if (!(s >= 0.01 && s <= 3600))
			p.add(*n, "check_interval: must be a number of seconds from 0.01 to 3600");
		else
			c.check_interval_ms = static_cast<unsigned>(std::lround(s * 1000));
	}
}

// [follow]: checked here, key by key, rather than left to the postgres
// plugin, whose messages would name [backend] and no position.  The keys
// are the postgres backend's; a key it gains belongs here too.
void read_log(const toml::table &root, Config &c, Problems &p)
{
	const toml::table *t = table_of(root, "log", p);
	if (!t)
		return;
	unknown_keys(*t, "log", {"format", "access"}, p);
	if (const toml::node *n = t->get("format")) {
		const auto *s = n->as_string();
		if (s && s->get() == "text")
			c.log_format = log::Format::text;
		else if (s && s->get() == "json")
			c.log_format = log::Format::json;
		else
			p.add(*n, "format: must be \"text\" or \"json\"");
	}
	if (const toml::node *n = t->get("access")) {
		if (const auto *b = n->as_boolean())
			c.log_access = b->get();
		else
			p.add(*n, "access: must be true or false");
	}
}

// A path of [status]: absolute, canonical as core/route.cpp makes request
// paths (so that comparing is enough), outside the tenants' documents.
bool read_status_path(const toml::table &t, const char *key, std::string &out, Problems &p)
{
	const toml::node *n = t.get(key);
	if (!n)
		return false;
	std::string path;
	read_string(t, key, path, p);
	if (path.empty())
		return false;
	const auto canonical = route::canonical_path(path);
	const std::string k = key;
	if (!path.starts_with('/'))
		p.add(*n, k + ": must be an absolute path such as \"/" + (k == "path" ? "metrics" : k) + "\"");
	else if (!canonical || *canonical != path)
		p.add(*n, k + ": must be a plain path: no query or fragment, no control byte, and "
		          "no percent-escape of a letter, digit, '-', '.', '_' or '~'");
	else if (path == "/.well-known/matrix" || path.starts_with("/.well-known/matrix/"))
		p.add(*n, k + ": must not be under /.well-known/matrix/, whose paths are the "
		          "tenants' documents");
	else {
		out = path;
		return true;
	}
	return false;
}

// [status]: what monitoring reads: the health and metrics paths, and a
// listener of its own.
void read_status(const toml::table &root, Config &c, Problems &p)
{
	const toml::table *t = table_of(root, "status", p);
	if (!t)
		return;
	unknown_keys(*t, "status", {"health", "path", "listen"}, p);
	read_status_path(*t, "health", c.health_path, p);
	if (read_status_path(*t, "path", c.metrics_path, p) && c.metrics_path == c.health_path) {
		p.add(*t->get("path"), "path: \"" + c.metrics_path + "\" is also [status] health; "
		                       "the metrics need a path of their own");
		c.metrics_path.clear();
	}
	if (const toml::node *n = t->get("listen")) {
		std::string listen;
		read_string(*t, "listen", listen, p);
		if (listen.empty())
			return;
		try {
			const listen_spec::Spec spec = listen_spec::parse(listen);
			// An HTTP listener: TCP only, on an address (a UNIX socket's
			// scraper would be a proxy, which has the web server's path).
			if (spec.unix_socket)
				p.add(*n, "listen: \"" + listen + "\": must be ADDRESS:PORT, such as "
				          "\"127.0.0.1:9188\"; a UNIX socket is not served");
			else
				c.status_listen = listen;
		} catch (const listen_spec::Error &e) {
			p.add(*n, "listen: \"" + listen + "\": " + e.what());
		}
	}
}

void read_follow(const toml::table &root, Config &c, Problems &p)
{
	const toml::table *t = table_of(root, "follow", p);
	if (!t)
		return;
	c.follow_at = toml_json::where(*t);
	nlohmann::json follow = nlohmann::json::object();
	for (auto &&[k, v] : *t) {
		const std::string key(k.str());
		if (key == "name" || key == "plugin_dir") {
			p.add(v, "[follow] " + key + ": not allowed here; the primary is always read with "
			         "the postgres plugin, from [backend]'s plugin_dir");
		} else if (key == "access") {
			p.add(v, "[follow] access: not a configuration key; mxdelegatectl writes to the "
			         "primary and the follower only reads it");
		} else if (key == "conninfo") {
			std::string conninfo;
			read_string(*t, "conninfo", conninfo, p);
			if (!conninfo.empty())
				follow["conninfo"] = conninfo;
		} else if (key == "timeout") {
			std::int64_t ms = 0;
			read_int(*t, "timeout", 1, 60000, ms, p);
			if (ms)
				follow["timeout"] = ms;
		} else {
			p.add(v, "unknown key \"" + key + "\" in [follow] (known: conninfo, timeout)");
		}
	}
	if (!t->get("conninfo"))
		p.add(*t, "[follow]: conninfo is missing (the primary's libpq connection string, "
		          "such as \"host=db1 dbname=mxdelegate user=mxdelegate\")");
	if (!c.backend_name.empty() && c.backend_name != "sqlite")
		p.add(*t, "[follow]: the local copy is a [backend] with name = \"sqlite\"; this "
		          "configuration uses \"" + c.backend_name + "\"");
	follow["config_file"] = c.file;
	follow["config_dir"] = config_dir(c.file).string();
	c.follow = std::move(follow);
}

} // namespace

std::string copy_path(const Config &c)
{
	const auto path = c.backend.is_object() ? c.backend.find("path") : c.backend.end();
	if (!c.backend.is_object() || path == c.backend.end() || !path->is_string())
		return "";
	std::filesystem::path p(path->get<std::string>());
	if (p.is_relative())
		p = config_dir(c.file) / p;
	return p.lexically_normal().string();
}

Config load_config(const std::string &path)
{
	Config c;
	// Messages name the file as the operator wrote it; only the directory
	// that relative paths start from is made absolute.
	c.file = path;

	toml::table root;
	try {
		const std::string text = read_file(c.file);
		// The TOML backend parses [domains] again, from this same file: the
		// core reads the text without them.  Where no one else would see
		// them (another backend, or a TOML backend reading another file),
		// the whole text, so that every error is said.
		const auto cut = toml_tables::without(text, "domains");
		root = toml::parse(cut.text, c.file);
		const toml::node *name = root["backend"]["name"].node();
		if (cut.line != 0 && !(name && name->value<std::string_view>() == "toml" &&
		                       !root["backend"]["path"]))
			root = toml::parse(text, c.file);
	} catch (const FileError &e) {
		throw ConfigError(log::one_line(e.what()));
	} catch (const toml::parse_error &e) {
		const auto &src = e.source();
		// toml++ quotes the file's bytes, newlines included: one line each.
		throw ConfigError(log::one_line(toml_json::where(src) + ": " + std::string(e.description())));
	}

	Problems p;
	read_backend(root, c, p);
	read_defaults(root, c, p);
	read_http(root, c, p);
	read_server(root, c, p);
	read_follow(root, c, p);
	read_log(root, c, p);
	read_status(root, c, p);
	for (auto &&[k, v] : root) {
		const auto key = k.str();
		if (key == "backend" || key == "defaults" || key == "http" || key == "server" ||
		    key == "follow" || key == "log" || key == "status")
			continue;
		if (key == "domains") {
			if (!c.backend_name.empty() && c.backend_name != "toml")
				p.add(v, "[domains] is read by the toml backend only; this configuration uses \"" +
				             c.backend_name + "\"");
			continue;
		}
		p.add(v, "unknown table or key \"" + std::string(key) +
		             "\" (known: backend, defaults, http, server, follow, log, status, domains)");
	}
	p.raise();
	return c;
}

} // namespace mxd
