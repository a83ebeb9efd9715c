// g++ 12 with -fsanitize=address,undefined -O2 warns that libstdc++'s own
// std::regex automaton copies a std::function "maybe uninitialized" (its
// _State move constructor): a false positive inside the library, which
// -Werror would make fatal in the sanitizer build.  Only this file uses
// <regex>, to read the man pages.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include "service/config.hpp"
#include "core/install_paths.hpp"
#include "plugin/plugin_config.hpp"
#include "service/directory.hpp"

#include "support.hpp"

#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

using namespace mxd;

namespace {

std::string error_of(const std::string &path)
{
	try {
		load_config(path);
	} catch (const ConfigError &e) {
		return e.what();
	}
	return "(accepted)";
}

} // namespace

TEST_CASE("a full configuration is read with its defaults", "[config]")
{
	test::TempDir d;
	const auto f = d.write("mx.toml", R"(
[backend]
name = "toml"
path = "domains.toml"

[defaults]
server = "matrix.{domain}:443"
max_age = 600

[http]
max_age = 7200
not_found_max_age = 60
stale_max_age = 5

[server]
threads = 8
listen = "unix:/run/mxdelegate/mxdelegate.sock"
check_interval = 0.25
read_timeout = 2
cache_size = 10
cache_bytes = 1048576
wildcard_depth = 3

[domains."example.org"]
client = "https://matrix.example.org"
)");
	Config c = load_config(f);
	CHECK(c.file == f);
	CHECK(c.backend_name == "toml");
	CHECK(c.plugin_dir == mxd::install_paths::plugin_dir);
	CHECK(c.backend["path"] == "domains.toml");
	CHECK(c.backend["config_file"] == f);
	CHECK(c.backend["config_dir"] == d.path());
	CHECK(c.backend.size() == 3);
	CHECK(c.defaults == nlohmann::json{{"server", "matrix.{domain}:443"}, {"max_age", 600}});
	CHECK(c.http.max_age == 7200);
	CHECK(c.http.not_found_max_age == 60);
	CHECK(c.http.stale_max_age == 5);
	CHECK(c.threads == 8);
	CHECK(c.listen == "unix:/run/mxdelegate/mxdelegate.sock");
	CHECK(c.check_interval_ms == 250);
	CHECK(c.read_timeout_s == 2);
	CHECK(c.cache_size == 10);
	CHECK(c.cache_bytes == 1048576);
	CHECK(c.wildcard_depth == 3);
}

TEST_CASE("the cache is bounded in bytes; cache_size is unset unless written", "[config]")
{
	test::TempDir d;
	Config c = load_config(d.write("a.toml", "[backend]\nname = \"x\"\n"));
	CHECK(c.cache_bytes == 6 * 1024 * 1024);
	CHECK_FALSE(c.cache_size);
	CHECK(c.wildcard_depth == 8);
	CHECK(load_config(d.write("b.toml", "[backend]\nname = \"x\"\n[server]\ncache_size = 0\n"))
	              .cache_size == 0u);
	const std::string f = d.write("c.toml", "[backend]\nname = \"x\"\n[server]\n"
	                                        "cache_bytes = -1\nwildcard_depth = 128\n");
	const std::string e = error_of(f);
	CHECK(e.find(f + ":4:15: cache_bytes: must be between 0 and 1099511627776") != std::string::npos);
	CHECK(e.find(f + ":5:18: wildcard_depth: must be between 0 and 127") != std::string::npos);
}

TEST_CASE("defaults apply when tables are absent; plugin_dir is relative to the file", "[config]")
{
	test::TempDir d;
	Config c = load_config(d.write("a.toml", "[backend]\nname = \"x\"\nplugin_dir = \"lib\"\n"));
	CHECK(c.plugin_dir == d.path() + "/lib");
	CHECK(c.defaults == nlohmann::json::object());
	CHECK(c.http.max_age == 14400);
	CHECK(c.http.not_found_max_age == 300);
	CHECK(c.http.stale_max_age == 30);
	CHECK(c.threads == 4);
	CHECK(c.listen.empty());
	CHECK(c.check_interval_ms == 20);
}

TEST_CASE("a syntax error names file, line and column", "[config]")
{
	test::TempDir d;
	const auto f = d.write("bad.toml", "[backend]\nname = \"toml\"\nthreads = = 3\n");
	const std::string e = error_of(f);
	CHECK(e.rfind(f + ":3:", 0) == 0);
}

TEST_CASE("a table name no key can start is a parse error, never toml++'s assertion", "[config]")
{
	// toml++ 3.3's parser asserts the first character of a table's key
	// before it checks it; compiled in with its assertions on, "[$a]"
	// aborted the process (core/toml_library.hpp).
	test::TempDir d;
	const auto f = d.write("bad.toml", "[$a]\nname = \"toml\"\n");
	const std::string e = error_of(f);
	CHECK(e.rfind(f + ":1:2: ", 0) == 0);
	CHECK(e.find("expected bare key starting character or string delimiter") != std::string::npos);
}

TEST_CASE("a duplicate table is a parse error with its position", "[config]")
{
	test::TempDir d;
	const auto f = d.write("dup.toml", "[backend]\nname = \"toml\"\n[backend]\nname = \"x\"\n");
	CHECK(error_of(f).rfind(f + ":3:", 0) == 0);
}

TEST_CASE("a missing file is named", "[config]")
{
	test::TempDir d;
	const std::string e = error_of(d.file("none.toml"));
	CHECK(e.rfind(d.file("none.toml") + ": ", 0) == 0);
}

TEST_CASE("every problem is reported, each with its position", "[config]")
{
	test::TempDir d;
	const auto f = d.write("p.toml", R"([backend]
name = 3
[http]
max_age = "long"
colour = "blue"
[server]
threads = 0
check_interval = 0
[defaults]
server = "https://matrix.{domain}"
[extra]
x = 1
)");
	const std::string e = error_of(f);
	CHECK_THAT(e, Catch::Contains(f + ":2:8: name: must be a string"));
	CHECK_THAT(e, Catch::Contains(f + ":4:11: max_age: must be an integer"));
	CHECK_THAT(e, Catch::Contains(f + ":5:10: unknown key \"colour\" in [http]"));
	CHECK_THAT(e, Catch::Contains(f + ":7:11: threads: must be between 1 and 1024"));
	CHECK_THAT(e, Catch::Contains(f + ":8:18: check_interval: must be a number of seconds"));
	CHECK_THAT(e, Catch::Contains(f + ":10:10: defaults: server: "));
	CHECK_THAT(e, Catch::Contains(f + ":11:1: unknown table or key \"extra\""));
}

TEST_CASE("no [backend] table is an error", "[config]")
{
	test::TempDir d;
	const auto f = d.write("n.toml", "[http]\nmax_age = 1\n");
	CHECK(error_of(f) == f + ":1:1: no [backend] table; add one with name = \"toml\" or another backend");
}

TEST_CASE("[domains] with another backend is refused", "[config]")
{
	test::TempDir d;
	const auto f = d.write("s.toml", "[backend]\nname = \"sqlite\"\n[domains.\"a.org\"]\nserver = \"x:1\"\n");
	CHECK_THAT(error_of(f), Catch::Contains("[domains] is read by the toml backend only"));
}

TEST_CASE("[backend] access is refused: the responder never opens a backend for writing",
          "[config]")
{
	test::TempDir d;
	const auto f = d.write("mx.toml", "[backend]\nname = \"sqlite\"\npath = \"d.db\"\naccess = \"write\"\n");
	CHECK(error_of(f) == f + ":4:10: [backend] access: not a configuration key; mxdelegatectl "
	                         "sets it for its own writes, and mxdelegate always reads only");
}

TEST_CASE("[follow] is the primary's postgres configuration, with its position", "[config][follow]")
{
	test::TempDir d;
	const auto f = d.write("mx.toml", "[backend]\nname = \"sqlite\"\npath = \"d.db\"\n\n"
	                                  "[follow]\nconninfo = \"host=db1 dbname=mx\"\ntimeout = 2500\n");
	const Config c = load_config(f);
	REQUIRE(c.follow);
	CHECK(c.follow_at == f + ":5:1");
	CHECK((*c.follow)["conninfo"] == "host=db1 dbname=mx");
	CHECK((*c.follow)["timeout"] == 2500);
	// What the postgres plugin's open() gets, as [backend] does.
	CHECK((*c.follow)["config_file"] == f);
	CHECK((*c.follow)["config_dir"] == c.backend["config_dir"]);
	CHECK(c.follow->size() == 4);
	CHECK(c.backend_name == "sqlite");

	const auto plain = d.write("plain.toml", "[backend]\nname = \"sqlite\"\npath = \"d.db\"\n");
	CHECK_FALSE(load_config(plain).follow);
}

TEST_CASE("copy_path: the sqlite path as the plugin resolves it, for the follower's files",
          "[config][follow]")
{
	test::TempDir d;
	const auto rel = d.write("rel.toml", "[backend]\nname = \"sqlite\"\npath = \"sub/../d.db\"\n");
	CHECK(copy_path(load_config(rel)) == d.file("d.db"));
	const auto abs = d.write("abs.toml", "[backend]\nname = \"sqlite\"\npath = \"/var//lib/x.db\"\n");
	CHECK(copy_path(load_config(abs)) == "/var/lib/x.db");
	const auto none = d.write("none.toml", "[backend]\nname = \"toml\"\n");
	CHECK(copy_path(load_config(none)).empty());
}

TEST_CASE("[follow] problems are named with their position", "[config][follow]")
{
	test::TempDir d;
	const std::string head = "[backend]\nname = \"sqlite\"\npath = \"d.db\"\n[follow]\n";
	auto error = [&](const std::string &follow) { return error_of(d.write("f.toml", head + follow)); };
	const std::string f = d.file("f.toml");
	CHECK(error("timeout = 5\n") ==
	      f + ":4:1: [follow]: conninfo is missing (the primary's libpq connection string, such as "
	          "\"host=db1 dbname=mxdelegate user=mxdelegate\")");
	CHECK(error("conninfo = 5\n") == f + ":5:12: conninfo: must be a string");
	CHECK(error("conninfo = \"\"\n") == f + ":5:12: conninfo: must not be empty");
	CHECK(error("conninfo = \"host=db1\"\ntimeout = 0\n") ==
	      f + ":6:11: timeout: must be between 1 and 60000");
	CHECK(error("conninfo = \"host=db1\"\nname = \"postgres\"\n") ==
	      f + ":6:8: [follow] name: not allowed here; the primary is always read with the "
	          "postgres plugin, from [backend]'s plugin_dir");
	CHECK(error("conninfo = \"host=db1\"\nplugin_dir = \"/x\"\n") ==
	      f + ":6:14: [follow] plugin_dir: not allowed here; the primary is always read with the "
	          "postgres plugin, from [backend]'s plugin_dir");
	CHECK(error("conninfo = \"host=db1\"\naccess = \"write\"\n") ==
	      f + ":6:10: [follow] access: not a configuration key; mxdelegatectl writes to the primary "
	          "and the follower only reads it");
	CHECK(error("conninfo = \"host=db1\"\nhost = \"db1\"\n") ==
	      f + ":6:8: unknown key \"host\" in [follow] (known: conninfo, timeout)");
	CHECK(error_of(d.write("t.toml", "follow = 1\n[backend]\nname = \"sqlite\"\n")) ==
	      d.file("t.toml") + ":1:10: follow: must be a table");
}

TEST_CASE("[follow] keeps a sqlite copy: another backend is refused", "[config][follow]")
{
	test::TempDir d;
	const auto f = d.write("pg.toml", "[backend]\nname = \"postgres\"\nconninfo = \"host=db1\"\n\n"
	                                  "[follow]\nconninfo = \"host=db1\"\n");
	CHECK(error_of(f) == f + ":5:1: [follow]: the local copy is a [backend] with name = \"sqlite\"; "
	                         "this configuration uses \"postgres\"");
}

TEST_CASE("a float where an integer belongs is a problem, not a conversion", "[config]")
{
	test::TempDir d;
	const std::string f =
		d.write("a.toml", "[backend]\nname = \"x\"\n[server]\ncache_size = 1e302\nthreads = -1e308\n");
	const std::string e = error_of(f);
	CHECK(e.find(f + ":4:") != std::string::npos);
	CHECK(e.find("cache_size: must be an integer") != std::string::npos);
	CHECK(e.find("threads: must be an integer") != std::string::npos);
}

TEST_CASE("every problem is one line, whatever the file quotes", "[config]")
{
	test::TempDir d;
	const std::string f = d.write(
		"a.toml", "\"evil\\n/etc/mxdelegate.toml:1:1: fake\" = 2\n[backend]\nname = \"x\"\n");
	const std::string e = error_of(f);
	CHECK(e.find('\n') == std::string::npos);
	CHECK(e.rfind(f + ":1:", 0) == 0);
	CHECK(e.find("evil\\x0a/etc/mxdelegate.toml:1:1: fake") != std::string::npos);

	const std::string g = d.write("b.toml", "[backend]\nname = tr\nue\n");
	const std::string pe = error_of(g);
	CHECK(pe.find('\n') == std::string::npos);
	CHECK(pe.rfind(g + ":2:", 0) == 0);
}

TEST_CASE("[server] listen is refused when no socket could ever be bound to it", "[config]")
{
	test::TempDir d;
	for (const auto &[listen, why] : std::vector<std::pair<std::string, std::string>>{
	         {"127.0.0.1:99999", "port must be a number from 1 to 65535"},
	         {"127.0.0.1:0", "port must be a number from 1 to 65535"},
	         {"::1:9000", "write an IPv6 address in brackets: [::1]:port"},
	         {"[::1]", "expected [IPv6]:port"},
	         {":9000", "no address; write 127.0.0.1:9000 for this machine only, or *:9000 for "
	                   "every interface"},
	         {"unix:", "socket path empty or longer than 107 bytes"}}) {
		const auto f = d.write("mx.toml", "[backend]\nname = \"toml\"\n[server]\nlisten = \"" +
		                                      listen + "\"\n");
		CHECK(error_of(f) == f + ":4:10: listen: \"" + listen + "\": " + why);
	}
	for (const char *ok : {"unix:/run/mx.sock", "/run/mx.sock", "127.0.0.1:9000", "[::1]:9000",
	                       "*:9000", "localhost:9000"}) {
		const auto f = d.write("mx.toml", std::string("[backend]\nname = \"toml\"\n[server]\nlisten = \"") +
		                                      ok + "\"\n");
		CHECK(load_config(f).listen == ok);
	}
}

TEST_CASE("[server] socket_group and socket_mode", "[config]")
{
	test::TempDir d;
	const auto f = d.write("mx.toml", "[backend]\nname = \"toml\"\n");
	CHECK(load_config(f).socket_mode == 0660);
	CHECK(load_config(f).socket_group.empty());
	const auto g = d.write("g.toml", "[backend]\nname = \"toml\"\n[server]\nsocket_group = \"www-data\"\n"
	                                 "socket_mode = \"0666\"\n");
	CHECK(load_config(g).socket_mode == 0666);
	CHECK(load_config(g).socket_group == "www-data");
	for (const char *bad : {"660", "0o660", "\"rw\"", "\"08\"", "\"07777\""}) {
		const auto b = d.write("b.toml", std::string("[backend]\nname = \"toml\"\n[server]\nsocket_mode = ") +
		                                     bad + "\n");
		CHECK(error_of(b) == b + ":4:15: socket_mode: must be a string of octal digits, such as \"0660\"");
	}
	const auto o = d.write("o.toml", "[backend]\nname = \"toml\"\n[server]\nsocket_mode = \"0066\"\n");
	CHECK(error_of(o) == o + ":4:15: socket_mode: \"0066\": must give the owner read and write (0600) "
	                         "and hold nothing past 0777");
}

// The defaults the pages and the example configuration state, against the
// code's (issue 15: check_interval was "1 second" in two places and 0.02 in
// the code).  Read from the source tree: the tests run from its top.
namespace {

std::string slurp(const std::string &path)
{
	std::ifstream f(path);
	INFO(path << ": run the unit tests from the top of the source tree");
	REQUIRE(f.good());
	std::ostringstream s;
	s << f.rdbuf();
	return s.str();
}

// Each key's default as a page writes it.
std::map<std::string, std::string> code_defaults()
{
	const Config c;
	const Directory::Limits limits;
	// The directory's own defaults are the configuration's.
	CHECK(limits.bytes == c.cache_bytes);
	CHECK(limits.wildcard_depth == c.wildcard_depth);
	std::ostringstream seconds;
	seconds << c.check_interval_ms / 1000.0;
	char mode[8];
	std::snprintf(mode, sizeof mode, "%04o", c.socket_mode);
	// The sqlite plugin's, which no header shares.
	std::smatch busy;
	const std::string sqlite = slurp("backends/sqlite/sqlite_backend.cpp");
	REQUIRE(std::regex_search(sqlite, busy, std::regex(R"(default_busy_timeout_ms = (\d+);)")));
	return {{"threads", std::to_string(c.threads)},
	        {"check_interval", seconds.str()},
	        {"read_timeout", std::to_string(c.read_timeout_s)},
	        {"cache_bytes", std::to_string(c.cache_bytes)},
	        {"wildcard_depth", std::to_string(c.wildcard_depth)},
	        {"socket_mode", mode},
	        {"params_bytes", std::to_string(c.params_bytes)},
	        {"max_connections", std::to_string(c.max_connections)},
	        {"timeout", std::to_string(plugin::default_timeout.count())},
	        {"max_age", std::to_string(c.http.max_age)},
	        {"not_found_max_age", std::to_string(c.http.not_found_max_age)},
	        {"stale_max_age", std::to_string(c.http.stale_max_age)},
	        {"busy_timeout", busy[1]}};
}

std::vector<std::string> lines_of(const std::string &text)
{
	std::vector<std::string> out;
	std::istringstream in(text);
	for (std::string line; std::getline(in, line);)
		out.push_back(line);
	return out;
}

// "0.02:", "4." and "14400" alike.
std::string number(std::string s)
{
	while (!s.empty() && (s.back() == '.' || s.back() == ',' || s.back() == ':' || s.back() == ';'))
		s.pop_back();
	return s;
}

} // namespace

TEST_CASE("mxdelegate.toml(5) states each default as the code has it, and documents every key "
          "the example holds", "[config][docs]")
{
	const auto code = code_defaults();
	std::map<std::string, std::string> stated;
	std::set<std::string> documented;
	std::string section, key, item;
	const auto close = [&] {
		std::smatch m;
		if (!key.empty() && std::regex_search(item, m, std::regex(R"(default (?:\.Qq )?(\d[\d.]*))"))) {
			INFO(key << ": " << item);
			CHECK(code.count(key) == 1);
			stated[key] = number(m[1]);
		}
		key.clear();
		item.clear();
	};
	for (const auto &line : lines_of(slurp("man/mxdelegate.toml.5"))) {
		if (line.rfind(".Ss ", 0) == 0 || line.rfind(".Sh ", 0) == 0) {
			close();
			section = line.substr(4);
			continue;
		}
		if (section != "[backend]" && section != "[http]" && section != "[server]" &&
		    section != "[follow]")
			continue;
		std::smatch m;
		if (line.rfind(".It ", 0) == 0 || line == ".El")
			close();
		if (std::regex_match(line, m, std::regex(R"(\.It Ic (\w+) No = .*)"))) {
			key = m[1];
			documented.insert(key);
		} else if (!key.empty()) {
			item += line + " ";
		}
	}
	close();
	for (const auto &[k, v] : code) {
		INFO(k);
		CHECK(stated[k] == v);
	}

	// The example: every documented key, each default as the code has it.
	std::set<std::string> shown;
	std::string table;
	for (const auto &line : lines_of(slurp("etc/mxdelegate.toml"))) {
		std::smatch m;
		if (std::regex_match(line, m, std::regex(R"(\[([\w."]+)\].*)")))
			table = m[1];
		if (table != "backend" && table != "http" && table != "server" && table != "follow")
			continue;
		if (!std::regex_match(line, m, std::regex(R"(#? ?(\w+) = ("[^"]*"|\S+).*)")))
			continue;
		const std::string k = m[1];
		std::string v = m[2];
		if (v.size() >= 2 && v.front() == '"')
			v = v.substr(1, v.size() - 2);
		shown.insert(k);
		INFO("etc/mxdelegate.toml: " << line);
		if (code.count(k))
			CHECK(v == code.at(k));
	}
	for (const auto &k : documented) {
		INFO("etc/mxdelegate.toml lacks " << k);
		CHECK(shown.count(k) == 1);
	}
}

TEST_CASE("mxdelegate(8) states each default as the code has it", "[config][docs]")
{
	const auto code = code_defaults();
	// Without the comment lines, which describe the page's tests.
	std::string page;
	for (const auto &line : lines_of(slurp("man/mxdelegate.8")))
		page += line.rfind(".\\\"", 0) == 0 ? "\n" : line + "\n";
	// "(default 4", "default 6 MiB", "14400 by default": each given to the
	// key named nearest to it.
	const std::regex stated(R"(default (\d[\d.]*)( MiB)?|(\d+)\s+by default)");
	const std::regex named(R"((?:Ic |Fl -)(\w+))");
	std::size_t seen = 0;
	for (auto it = std::sregex_iterator(page.begin(), page.end(), stated); it != std::sregex_iterator();
	     ++it) {
		const auto &m = *it;
		std::string value = number(m[1].matched ? m[1].str() : m[3].str());
		if (m[2].matched)
			value = std::to_string(std::stoull(value) * 1024 * 1024);
		const auto at = static_cast<std::size_t>(m.position());
		const std::size_t from = at > 160 ? at - 160 : 0;
		const std::string around = page.substr(from, 160 + m.length() + 60);
		std::string key;
		std::size_t best = std::string::npos;
		for (auto n = std::sregex_iterator(around.begin(), around.end(), named);
		     n != std::sregex_iterator(); ++n) {
			if (!code.count((*n)[1]))
				continue;
			const auto pos = static_cast<std::size_t>(n->position());
			const std::size_t here = at - from;
			const std::size_t distance = pos > here ? pos - here : here - pos;
			if (distance < best) {
				best = distance;
				key = (*n)[1];
			}
		}
		INFO("man/mxdelegate.8: \"" << m.str() << "\" near: " << around);
		REQUIRE(!key.empty());
		CHECK(value == code.at(key));
		seen++;
	}
	CHECK(seen >= 6);
}

TEST_CASE("[log] format and access, each refused with its position when wrong", "[config][log]")
{
	test::TempDir d;
	const std::string head = "[backend]\nname = \"toml\"\n\n[log]\n";
	const auto plain = d.write("plain.toml", "[backend]\nname = \"toml\"\n");
	const Config none = load_config(plain);
	CHECK(none.log_format == log::Format::text);
	CHECK_FALSE(none.log_access);
	const Config json = load_config(d.write("json.toml", head + "format = \"json\"\naccess = true\n"));
	CHECK(json.log_format == log::Format::json);
	CHECK(json.log_access);
	const Config text = load_config(d.write("text.toml", head + "format = \"text\"\naccess = false\n"));
	CHECK(text.log_format == log::Format::text);
	CHECK_FALSE(text.log_access);

	const auto f = d.write("bad.toml", head + "format = \"JSON\"\naccess = \"yes\"\nlevel = 1\n");
	const std::string e = error_of(f);
	CHECK_THAT(e, Catch::Contains(f + ":5:10: format: must be \"text\" or \"json\""));
	CHECK_THAT(e, Catch::Contains(f + ":6:10: access: must be true or false"));
	CHECK_THAT(e, Catch::Contains(f + ":7:9: unknown key \"level\" in [log]"));
	CHECK(error_of(d.write("num.toml", head + "format = 1\n")) ==
	      d.file("num.toml") + ":5:10: format: must be \"text\" or \"json\"");
	CHECK(error_of(d.write("tab.toml", "log = 1\n[backend]\nname = \"toml\"\n")) ==
	      d.file("tab.toml") + ":1:7: log: must be a table");
}

TEST_CASE("[defaults] may not redirect, with the position named", "[config]")
{
	test::TempDir d;
	const auto f = d.write("r.toml", R"([backend]
name = "toml"
[defaults]
server = "matrix.{domain}:443"
redirect = "https://matrix.other.example"
redirect_status = 307
)");
	const std::string e = error_of(f);
	CHECK_THAT(e, Catch::Contains(f + ":5:12: defaults: redirect: is not allowed in [defaults]"));
	CHECK_THAT(e, Catch::Contains(f + ":6:19: defaults: redirect_status: is not allowed in "
	                                  "[defaults], as redirect is not"));
}

TEST_CASE("[status] health: off by default, a plain absolute path outside the documents",
          "[config][status]")
{
	test::TempDir d;
	const std::string head = "[backend]\nname = \"toml\"\n\n[status]\n";
	CHECK(load_config(d.write("none.toml", "[backend]\nname = \"toml\"\n")).health_path.empty());
	CHECK(load_config(d.write("empty.toml", head)).health_path.empty());
	CHECK(load_config(d.write("ok.toml", head + "health = \"/health\"\n")).health_path == "/health");
	CHECK(load_config(d.write("deep.toml", head + "health = \"/.well-known/mxdelegate/health\"\n"))
	          .health_path == "/.well-known/mxdelegate/health");

	const auto refused = [&](const std::string &value, const std::string &message) {
		INFO(value);
		const auto f = d.write("bad.toml", head + "health = " + value + "\n");
		CHECK(error_of(f) == f + ":5:10: health: " + message);
	};
	refused("\"health\"", "must be an absolute path such as \"/health\"");
	refused("\"http://a.example/health\"", "must be an absolute path such as \"/health\"");
	const std::string plain = "must be a plain path: no query or fragment, no control byte, and "
	                          "no percent-escape of a letter, digit, '-', '.', '_' or '~'";
	refused("\"/health?x=1\"", plain);
	refused("\"/health#x\"", plain);
	refused("\"/h%65alth\"", plain);
	refused("\"/bad%zz\"", plain);
	refused("\"/tab\\there\"", plain);
	const std::string under = "must not be under /.well-known/matrix/, whose paths are the "
	                          "tenants' documents";
	refused("\"/.well-known/matrix/health\"", under);
	refused("\"/.well-known/matrix/server\"", under);
	refused("\"/.well-known/matrix\"", under);
	refused("\"\"", "must not be empty");
	refused("1", "must be a string");

	const auto f = d.write("other.toml", head + "paths = \"/metrics\"\n");
	CHECK(error_of(f) == f + ":5:9: unknown key \"paths\" in [status]");
	CHECK(error_of(d.write("tab.toml", "status = 1\n[backend]\nname = \"toml\"\n")) ==
	      d.file("tab.toml") + ":1:10: status: must be a table");
}

TEST_CASE("[status] path: the metrics, off by default, the health path's rules",
          "[config][status]")
{
	test::TempDir d;
	const std::string head = "[backend]\nname = \"toml\"\n\n[status]\n";
	CHECK(load_config(d.write("none.toml", head)).metrics_path.empty());
	const Config c = load_config(d.write("ok.toml", head + "path = \"/metrics\"\nhealth = \"/health\"\n"));
	CHECK(c.metrics_path == "/metrics");
	CHECK(c.health_path == "/health");
	auto refused = [&](const std::string &value, const std::string &message) {
		INFO(value);
		const auto f = d.write("bad.toml", head + "path = " + value + "\n");
		CHECK(error_of(f) == f + ":5:8: path: " + message);
	};
	refused("\"metrics\"", "must be an absolute path such as \"/metrics\"");
	refused("\"/metrics?x\"", "must be a plain path: no query or fragment, no control byte, "
	                          "and no percent-escape of a letter, digit, '-', '.', '_' or '~'");
	refused("\"/.well-known/matrix/metrics\"",
	        "must not be under /.well-known/matrix/, whose paths are the tenants' documents");
	refused("\"\"", "must not be empty");
	const auto same = d.write("same.toml", head + "health = \"/s\"\npath = \"/s\"\n");
	CHECK(error_of(same) == same + ":6:8: path: \"/s\" is also [status] health; the metrics "
	                               "need a path of their own");
}

TEST_CASE("[status] listen: ADDRESS:PORT only", "[config][status]")
{
	test::TempDir d;
	const std::string head = "[backend]\nname = \"toml\"\n\n[status]\n";
	CHECK(load_config(d.write("none.toml", head)).status_listen.empty());
	CHECK(load_config(d.write("ok.toml", head + "listen = \"127.0.0.1:9188\"\n")).status_listen ==
	      "127.0.0.1:9188");
	CHECK(load_config(d.write("v6.toml", head + "listen = \"[::1]:9188\"\n")).status_listen ==
	      "[::1]:9188");
	const auto port = d.write("port.toml", head + "listen = \"127.0.0.1:99999\"\n");
	CHECK_THAT(error_of(port), Catch::StartsWith(port + ":5:10: listen: \"127.0.0.1:99999\": "));
	const auto unix_socket = d.write("unix.toml", head + "listen = \"unix:/run/m.sock\"\n");
	CHECK(error_of(unix_socket) ==
	      unix_socket + ":5:10: listen: \"unix:/run/m.sock\": must be ADDRESS:PORT, such as "
	                    "\"127.0.0.1:9188\"; a UNIX socket is not served");
}
