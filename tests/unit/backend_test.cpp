#include "service/backend.hpp"

#include "support.hpp"

#include <catch2/catch.hpp>

#include <dlfcn.h>
#include <link.h>
#include <unistd.h>

#include <cstddef>
#include <string_view>
#include <vector>

using namespace mxd;
using mxd::test::capture_stderr;
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

namespace {

// The size of the plugin's exported table as the linker recorded it.
std::size_t symbol_size(const std::string &path)
{
	void *dl = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
	REQUIRE(dl);
	void *sym = dlsym(dl, MXD_BACKEND_SYMBOL);
	REQUIRE(sym);
	Dl_info info;
	void *extra = nullptr;
	REQUIRE(dladdr1(sym, &info, &extra, RTLD_DL_SYMENT) != 0);
	const auto *entry = static_cast<const ElfW(Sym) *>(extra);
	REQUIRE(entry);
	const std::size_t size = entry->st_size;
	dlclose(dl);
	return size;
}

} // namespace

TEST_CASE("a 1.0 plugin's table is shorter, and the loader reads none of the 1.1 members", "[backend]")
{
	const std::string p = test_plugin("abi_1_0");
	// The test is only worth something if the table really ends early.
	REQUIRE(symbol_size(p) == offsetof(mxd_backend, list));
	REQUIRE(symbol_size(p) < sizeof(mxd_backend));
	auto plugin = Plugin::load(p);
	CHECK(plugin->table().abi_minor == 0);
	CHECK(plugin->table().list == nullptr);
	CHECK(plugin->table().rollback == nullptr);
	CHECK_FALSE(plugin->writable());
	auto b = Backend::open(plugin, nlohmann::json::object());
	CHECK(b->lookup("example.org") == std::optional<std::string>(R"({"server":"matrix.example.org:443"})"));
	CHECK(b->generation() == 10);
	CHECK_FALSE(b->can_list());
	CHECK_FALSE(b->writable());
}

TEST_CASE("what follows a 1.0 table in memory is never taken for the write side", "[backend]")
{
	// Its trailing pointers lead to abort(): a loader that read them would
	// call writable() true, and a call would kill the test.
	auto plugin = Plugin::load(test_plugin("abi_1_0_trailing"));
	CHECK_FALSE(plugin->writable());
	auto b = Backend::open(plugin, nlohmann::json::object());
	CHECK_FALSE(b->can_list());
	const std::string read_only = "backend \"abi_1_0_trailing\" (" + test_plugin("abi_1_0_trailing") +
	                              ") is read-only: it cannot ";
	CHECK_THROWS_WITH(b->put("example.org", "{}"), read_only + "store records");
	CHECK_THROWS_WITH(b->remove("example.org"), read_only + "remove records");
	CHECK_THROWS_WITH(b->begin(), read_only + "begin a transaction");
	CHECK_THROWS_WITH(b->commit(), read_only + "commit a transaction");
	CHECK_THROWS_WITH(b->rollback(), read_only + "roll back a transaction");
	CHECK_THROWS_WITH(b->list([](std::string_view, std::string_view) { return true; }),
	                  Catch::Contains("cannot list its records"));
	try {
		b->put("example.org", "{}");
	} catch (const BackendError &e) {
		CHECK(e.kind() == BackendError::Kind::unsupported);
	}
}

TEST_CASE("a plugin that leaves the write side NULL is read-only", "[backend]")
{
	auto plugin = Plugin::load(test_plugin("memory"));
	CHECK(plugin->table().abi_minor == MXD_BACKEND_ABI_MINOR);
	CHECK_FALSE(plugin->writable());
	auto toml = Plugin::load(mxd::test::plugin_dir() + "/toml.so");
	CHECK_FALSE(toml->writable());
	// Read-only, but it lists: its records are all in memory (1.3).
	CHECK(toml->table().list != nullptr);
	CHECK(toml->table().put == nullptr);
	CHECK(toml->table().begin == nullptr);
	CHECK(toml->table().flags == MXD_IN_MEMORY);
	CHECK(plugin->table().flags == 0);
}

TEST_CASE("a 1.1 plugin, built before the host grew, loads with its write side", "[backend]")
{
	const std::string p = test_plugin("abi_1_1");
	// 1.2 appended nothing to the table, 1.3 did: a 1.1 table ends at
	// rollback, and what follows it in memory is not the plugin's.
	REQUIRE(symbol_size(p) == offsetof(mxd_backend, rollback) + sizeof(void *));
	REQUIRE(symbol_size(p) < sizeof(mxd_backend));
	auto plugin = Plugin::load(p);
	CHECK(plugin->table().abi_minor == 1);
	CHECK(plugin->writable());
	CHECK(plugin->table().flags == 0);
	CHECK(plugin->table().lookup_rendered == nullptr);
	CHECK(plugin->table().store_rendered == nullptr);
	std::shared_ptr<Backend> b;
	// It logs through ctx and log, read at the offsets 1.1 knew.
	CHECK(capture_stderr([&] { b = Backend::open(plugin, nlohmann::json::object()); }) ==
	      "mxdelegate: backend: abi_1_1: opened\n");
	REQUIRE(b);
	const std::uint64_t gen = b->generation();
	b->put("example.org", R"({"server":"matrix.example.org:443"})");
	b->put("*.example.net", R"({"client":"https://matrix.{domain}"})");
	CHECK(b->lookup("example.org") == std::optional<std::string>(R"({"server":"matrix.example.org:443"})"));
	CHECK(b->lookup("example.com") == std::nullopt);
	CHECK(b->generation() > gen);
	std::vector<std::string> domains;
	b->list([&](std::string_view d, std::string_view) { domains.emplace_back(d); return true; });
	CHECK(domains == std::vector<std::string>{"*.example.net", "example.org"});
	BackendError::Kind kind{};
	CHECK(mxd::test::error_of([&] { b->put("example.com", "not json"); }, &kind) ==
	      "abi_1_1: record refused");
	CHECK(kind == BackendError::Kind::invalid);
	b->begin();
	CHECK(b->remove("example.org"));
	CHECK(b->lookup("example.org") == std::nullopt);
	b->rollback();
	CHECK(b->lookup("example.org").has_value());
	b->begin();
	CHECK(b->remove("example.org"));
	b->commit();
	CHECK(b->lookup("example.org") == std::nullopt);
	CHECK_FALSE(b->remove("example.org"));
}

TEST_CASE("a 1.2 plugin finds the core's minor version in the host", "[backend]")
{
	const std::string p = test_plugin("abi_1_2");
	REQUIRE(symbol_size(p) == sizeof(mxd_backend));
	auto plugin = Plugin::load(p);
	CHECK(plugin->table().abi_minor == 2);
	CHECK_FALSE(plugin->writable());
	// This core is 1.2 or later, so the host carries abi_minor, and it is
	// the core's own version, not the plugin's.
	static_assert(MXD_BACKEND_ABI_MINOR >= 2);
	std::shared_ptr<Backend> b;
	CHECK(capture_stderr([&] { b = Backend::open(plugin, nlohmann::json::object()); }) ==
	      "mxdelegate: backend: abi_1_2: host ABI 1." + std::to_string(MXD_BACKEND_ABI_MINOR) + "\n");
	REQUIRE(b);
	// Read again through the pointer the plugin kept from open().
	CHECK(b->lookup("example.org") ==
	      std::optional<std::string>(R"({"server":"matrix.example.org:443","host_abi_minor":)" +
	                                 std::to_string(MXD_BACKEND_ABI_MINOR) + "}"));
	CHECK(b->lookup("example.net") == std::nullopt);
	CHECK(b->generation() == 12);
	CHECK_FALSE(b->can_list());
}

TEST_CASE("a plugin file replaced or removed while its object is loaded is refused", "[backend]")
{
	// dlopen() would hand back the object in memory for the same path
	// without looking at the file: a reload would run the old code silently.
	namespace fs = std::filesystem;
	mxd::test::TempDir tmp;
	const std::string so = tmp.file("memory.so");
	fs::copy_file(test_plugin("memory"), so);
	auto first = Plugin::load(so);
	CHECK(Plugin::load(so)->path() == so); // the same file: loaded again
	fs::copy_file(test_plugin("memory"), so + ".new");
	fs::rename(so + ".new", so);
	CHECK(load_error(so) == "cannot load backend plugin " + so +
	                            ": the file was replaced since it was loaded, and the old one is "
	                            "still in use; restart mxdelegate to load the new one");
	fs::remove(so);
	CHECK(load_error(so) == "cannot load backend plugin " + so + ": No such file or directory");
	fs::copy_file(test_plugin("memory"), so);
	first.reset(); // unloaded: the file now at the path is loaded
	CHECK_NOTHROW(Plugin::load(so));
}
