#include "service/config.hpp"

#include "support.hpp"

#include <catch2/catch.hpp>

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
	CHECK(c.plugin_dir == MXD_PLUGINDIR);
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
	CHECK(c.cache_bytes == 32 * 1024 * 1024);
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
