#include "backend.hpp"

#include "support.hpp"

#include <catch2/catch.hpp>

using namespace mxd;
using mxd::test::test_plugin;

namespace {

std::string load_error(const std::string &path)
{
	try {
		Plugin::load(path);
	} catch (const BackendError &e) {
		return e.what();
	}
	return "(loaded)";
}

} // namespace

TEST_CASE("plugin_path joins directory and name, and refuses odd names", "[backend]")
{
	CHECK(plugin_path("/usr/lib/mxdelegate/backends", "toml") ==
	      "/usr/lib/mxdelegate/backends/toml.so");
	CHECK(plugin_path("dir/", "sqlite") == "dir/sqlite.so");
	CHECK_THROWS_WITH(plugin_path("/x", "../../evil"),
	                  Catch::Contains("is not a plugin name"));
	CHECK_THROWS_AS(plugin_path("/x", ""), BackendError);
	CHECK_THROWS_AS(plugin_path("/x", "Toml"), BackendError);
}

TEST_CASE("a missing plugin file is named with dlopen's reason", "[backend]")
{
	const std::string msg = load_error("/nonexistent/nothing.so");
	CHECK(msg.rfind("cannot load backend plugin /nonexistent/nothing.so: ", 0) == 0);
	CHECK_THAT(msg, Catch::Contains("No such file"));
}

TEST_CASE("a shared object without the table is refused", "[backend]")
{
	const std::string p = test_plugin("no_symbol");
	CHECK(load_error(p) == p + ": not an mxdelegate backend: no symbol \"mxd_backend\"");
}

TEST_CASE("another major ABI is refused before any plugin code runs", "[backend]")
{
	// wrong_abi.so aborts in every entry: reaching this check at all shows
	// that none was called.
	const std::string p = test_plugin("wrong_abi");
	CHECK(load_error(p) == p + ": backend ABI version 2.7 found, 1.x expected");
}

TEST_CASE("a table with an empty entry is refused", "[backend]")
{
	const std::string p = test_plugin("missing_entry");
	CHECK(load_error(p) == p + ": backend table has no \"open\" entry");
}

TEST_CASE("open, lookup and generation errors carry the plugin's message", "[backend]")
{
	auto plugin = Plugin::load(test_plugin("failing"));
	CHECK(std::string(plugin->table().name) == "failing");
	CHECK_THROWS_WITH(Backend::open(plugin, {{"fail_open", true}}),
	                  "failing: open refused as asked");
	auto b = Backend::open(plugin, nlohmann::json::object());
	CHECK_THROWS_WITH(b->lookup("example.org"), "failing: the store is down");
	CHECK(b->lookup("missing.example") == std::nullopt);
	CHECK(b->generation() == 42);
	auto g = Backend::open(plugin, {{"fail_generation", true}});
	CHECK_THROWS_WITH(g->generation(), "failing: no generation either");
}

TEST_CASE("records come back as the plugin stored them", "[backend]")
{
	auto plugin = Plugin::load(test_plugin("memory"));
	nlohmann::json config = {
		{"records", {{"example.org", R"({"server":"matrix.example.org:443"})"}}}};
	auto b = Backend::open(plugin, config);
	CHECK(b->lookup("example.org") == std::optional<std::string>(R"({"server":"matrix.example.org:443"})"));
	CHECK(b->lookup("example.net") == std::nullopt);
	CHECK(b->generation() == 0);
	// The handle keeps the plugin loaded after the last other reference goes.
	plugin.reset();
	CHECK(b->lookup("example.org").has_value());
}
