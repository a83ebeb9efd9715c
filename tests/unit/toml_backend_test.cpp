// The TOML backend, loaded as the responder loads it: build/backends/toml.so
// through the plugin loader, reading real files.
#include "service/backend.hpp"

#include "core/compiled_domains.hpp"

#include "support.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using mxd::test::lines;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

const std::shared_ptr<const mxd::Plugin> &plugin()
{
	static const auto loaded = [] {
		const char *dir = std::getenv("MXD_BUILDDIR");
		return mxd::Plugin::load(std::string(dir && *dir ? dir : "build") + "/backends/toml.so");
	}();
	return loaded;
}

class TempDir {
public:
	TempDir()
	{
		std::string tmpl = (fs::temp_directory_path() / "mxd-toml-XXXXXX").string();
		if (!mkdtemp(tmpl.data()))
			throw std::runtime_error("mkdtemp failed");
		path_ = tmpl;
	}
	~TempDir()
	{
		std::error_code ec;
		fs::remove_all(path_, ec);
	}
	TempDir(const TempDir &) = delete;
	TempDir &operator=(const TempDir &) = delete;

	std::string file(const std::string &name) const { return (path_ / name).string(); }
	std::string dir() const { return path_.string(); }

private:
	fs::path path_;
};

void write(const std::string &path, const std::string &text)
{
	std::ofstream out(path, std::ios::binary | std::ios::trunc);
	out << text;
	out.close();
	REQUIRE(out.good());
}

// Moves the mtime well away from any earlier one, so that a change is seen
// even where the file system counts whole seconds.
void bump(const std::string &path)
{
	static long step = 0;
	step += 10;
	struct timespec now;
	REQUIRE(clock_gettime(CLOCK_REALTIME, &now) == 0);
	struct timespec times[2] = {now, now};
	times[0].tv_sec += step;
	times[1].tv_sec += step;
	REQUIRE(utimensat(AT_FDCWD, path.c_str(), times, 0) == 0);
}

json config_for(const TempDir &dir, const std::string &config_file, json extra = json::object())
{
	extra["config_file"] = dir.file(config_file);
	extra["config_dir"] = dir.dir();
	return extra;
}

std::shared_ptr<mxd::Backend> open(const TempDir &dir, const std::string &config_file,
                                   json extra = json::object())
{
	return mxd::Backend::open(plugin(), config_for(dir, config_file, std::move(extra)));
}

// The message open() fails with.
std::string refusal(const json &config)
{
	try {
		(void)mxd::Backend::open(plugin(), config);
	} catch (const mxd::BackendError &e) {
		return e.what();
	}
	FAIL("open() succeeded");
	return {};
}

bool starts_with(const std::string &s, const std::string &prefix)
{
	return s.rfind(prefix, 0) == 0;
}

json record(const mxd::Backend &backend, const std::string &key)
{
	const auto found = backend.lookup(key);
	REQUIRE(found);
	return json::parse(*found);
}

// The plugin's table used directly, to see what it logs.
class Raw {
public:
	explicit Raw(const json &config)
	{
		const std::string text = config.dump();
		char *error = nullptr;
		const int rc = table().open(text.c_str(), &host_, &handle_, &error);
		const std::string why = error ? error : "";
		if (error)
			table().free_string(error);
		if (rc != MXD_OK)
			FAIL("open: " << why);
	}
	~Raw()
	{
		if (handle_)
			table().close(handle_);
	}
	Raw(const Raw &) = delete;
	Raw &operator=(const Raw &) = delete;

	std::uint64_t generation()
	{
		std::uint64_t g = 0;
		char *error = nullptr;
		REQUIRE(table().generation(handle_, &g, &error) == MXD_OK);
		return g;
	}

	std::string lookup(const std::string &key)
	{
		char *record = nullptr, *error = nullptr;
		const int rc = table().lookup(handle_, key.c_str(), &record, &error);
		REQUIRE(rc != MXD_ERROR);
		if (rc == MXD_NOT_FOUND)
			return "";
		std::string s = record;
		table().free_string(record);
		return s;
	}

	std::vector<std::string> logs()
	{
		std::lock_guard lock(mutex_);
		return logs_;
	}

	// Calls generation() until it differs from `from` or the log grows to
	// `log_lines`; the plugin looks at its file at most once a second.
	std::uint64_t wait(std::uint64_t from, std::size_t log_lines = SIZE_MAX)
	{
		const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
		for (;;) {
			const auto g = generation();
			if (g != from || logs().size() >= log_lines ||
			    std::chrono::steady_clock::now() > deadline)
				return g;
			std::this_thread::sleep_for(std::chrono::milliseconds(20));
		}
	}

private:
	static const mxd_backend &table() { return plugin()->table(); }
	static void log(void *ctx, int level, const char *message)
	{
		auto *self = static_cast<Raw *>(ctx);
		std::lock_guard lock(self->mutex_);
		self->logs_.push_back(std::to_string(level) + " " + message);
	}

	mxd_host host_{this, log, MXD_BACKEND_ABI_MINOR};
	void *handle_ = nullptr;
	std::mutex mutex_;
	std::vector<std::string> logs_;
};

const char *const operator_config = R"([backend]
name = "toml"
# path = "domains.toml"
[defaults]
server = "matrix.{domain}:443"
[domains."example.org"]
server = "matrix.example.org:443"
client = "https://matrix.example.org"
[domains."example.org".client_extra]
"m.identity_server" = { base_url = "https://vector.im" }
"org.matrix.msc4143.rtc_foci" = [ { type = "livekit", livekit_service_url = "https://rtc.example.org" } ]
[domains."example.org".support]
support_page = "https://example.org/help"
contacts = [ { matrix_id = "@admin:example.org", email_address = "admin@example.org", role = "m.role.admin" } ]
[domains."*.example.net"]
client = "https://chat.example.net"
[domains."Bücher.example"]
server = "matrix.xn--bcher-kva.example:443"
)";

std::string one_domain(const std::string &server)
{
	return "[domains.\"example.org\"]\nserver = \"" + server + "\"\n";
}

} // namespace

TEST_CASE("toml plugin: its table", "[toml_backend]")
{
	const mxd_backend &t = plugin()->table();
	CHECK(t.abi_major == MXD_BACKEND_ABI_MAJOR);
	CHECK(t.abi_minor == MXD_BACKEND_ABI_MINOR);
	CHECK(std::string(t.name) == "toml");
}

TEST_CASE("toml backend: the operator's configuration file", "[toml_backend]")
{
	TempDir dir;
	write(dir.file("mxdelegate.toml"), operator_config);
	const auto backend = open(dir, "mxdelegate.toml");

	CHECK(record(*backend, "example.org") == json::parse(R"({
		"server": "matrix.example.org:443",
		"client": "https://matrix.example.org",
		"client_extra": {
			"m.identity_server": {"base_url": "https://vector.im"},
			"org.matrix.msc4143.rtc_foci": [
				{"type": "livekit", "livekit_service_url": "https://rtc.example.org"}
			]
		},
		"support": {
			"support_page": "https://example.org/help",
			"contacts": [{"matrix_id": "@admin:example.org",
			              "email_address": "admin@example.org",
			              "role": "m.role.admin"}]
		}
	})"));
	// Stored under the wildcard key itself; matching is the core's work.
	CHECK(record(*backend, "*.example.net") == json{{"client", "https://chat.example.net"}});
	// A Unicode name is found by its A-label only.
	CHECK(record(*backend, "xn--bcher-kva.example") ==
	      json{{"server", "matrix.xn--bcher-kva.example:443"}});

	for (const char *absent : {"Bücher.example", "bücher.example", "a.example.net",
	                           "example.net", "Example.org", "example.org.", "example.com",
	                           "defaults", "backend", ""}) {
		INFO(absent);
		CHECK_FALSE(backend->lookup(absent));
	}
}

TEST_CASE("toml backend: a configuration without domains serves nothing", "[toml_backend]")
{
	TempDir dir;
	write(dir.file("mxdelegate.toml"), "[backend]\nname = \"toml\"\n");
	const auto backend = open(dir, "mxdelegate.toml");
	CHECK_FALSE(backend->lookup("example.org"));
	CHECK(backend->generation() == backend->generation());
}

TEST_CASE("toml backend: a syntax error says file:line:column", "[toml_backend]")
{
	TempDir dir;
	const std::string file = dir.file("mxdelegate.toml");
	write(file, "[domains.\"example.org\"]\nserver = \"matrix.example.org\"\nclient = \n");
	const std::string why = refusal(config_for(dir, "mxdelegate.toml"));
	CHECK(starts_with(why, file + ":3:10: "));
	CHECK(why.size() > file.size() + 7);
	CHECK(why.find('\n') == std::string::npos);

	write(file, "[domains.\"example.org\"]\nserver = \"a\"\nserver = \"b\"\n");
	CHECK(starts_with(refusal(config_for(dir, "mxdelegate.toml")), file + ":3:"));
}

TEST_CASE("toml backend: a file that cannot be read is named", "[toml_backend]")
{
	TempDir dir;
	CHECK(refusal(config_for(dir, "absent.toml")) ==
	      dir.file("absent.toml") + ": No such file or directory");
	// A directory would read as an empty document, a FIFO would block.
	fs::create_directory(dir.file("d.toml"));
	CHECK(refusal(config_for(dir, "d.toml")) == dir.file("d.toml") + ": not a regular file");
	REQUIRE(mkfifo(dir.file("f.toml").c_str(), 0600) == 0);
	CHECK(refusal(config_for(dir, "f.toml")) == dir.file("f.toml") + ": not a regular file");
}

TEST_CASE("toml backend: two keys for one domain are both named", "[toml_backend]")
{
	TempDir dir;
	const std::string file = dir.file("mxdelegate.toml");
	write(file, "[domains.\"Example.org\"]\nserver = \"a.example.org\"\n"
	            "\n[domains.\"example.org.\"]\nserver = \"b.example.org\"\n");
	CHECK(refusal(config_for(dir, "mxdelegate.toml")) ==
	      file + ":4:10: example.org: domain: \"example.org.\" is the same domain as "
	             "\"Example.org\" at " + file + ":1:10");
}

TEST_CASE("toml backend: an invalid record names position, domain and field", "[toml_backend]")
{
	TempDir dir;
	const std::string file = dir.file("mxdelegate.toml");
	write(file, "[domains.\"Example.ORG\"]\nclient = \"https://matrix.example.org\"\n"
	            "server = \"matrix.example.org:99999\"\n");
	const std::string why = refusal(config_for(dir, "mxdelegate.toml"));
	CHECK(starts_with(why, file + ":3:10: example.org: server: "));
	CHECK(why.size() > (file + ":3:10: example.org: server: ").size());
	CHECK(why.find('\n') == std::string::npos);
}

TEST_CASE("toml backend: every problem of the file is reported, in file order", "[toml_backend]")
{
	TempDir dir;
	const std::string file = dir.file("mxdelegate.toml");
	write(file, R"([domains."zzz.example"]
server = "bad name!"
[domains."exa mple.org"]
server = "matrix.example.org"
[domains]
"aaa.example" = "not a table"
[domains."example.org"]
client = "ftp://matrix.example.org"
[domains."dated.example".support]
since = 2024-01-01
[domains."fine.example"]
server = "matrix.fine.example"
[domains."line\nbreak.example"]
)");
	const auto got = lines(refusal(config_for(dir, "mxdelegate.toml")));
	REQUIRE(got.size() == 6);
	CHECK(starts_with(got[0], file + ":2:10: zzz.example: server: "));
	CHECK(starts_with(got[1], file + ":3:10: exa mple.org: domain: "));
	CHECK(got[2] == file + ":6:17: aaa.example: must be a table of record fields");
	CHECK(starts_with(got[3], file + ":8:10: example.org: client: "));
	CHECK(got[4] == file + ":10:9: dated.example: support.since: a date or time has no JSON form");
	CHECK(starts_with(got[5], file + ":13:10: line\\x0abreak.example: domain: "));
}

TEST_CASE("toml backend: domains in a file of their own", "[toml_backend]")
{
	TempDir dir;
	write(dir.file("mxdelegate.toml"), "[backend]\nname = \"toml\"\npath = \"domains.toml\"\n");
	const std::string domains = dir.file("domains.toml");

	SECTION("served") {
		write(domains, "[domains.\"example.org\"]\nserver = \"matrix.example.org:443\"\n");
		const auto backend = open(dir, "mxdelegate.toml", {{"path", "domains.toml"}});
		CHECK(record(*backend, "example.org") == json{{"server", "matrix.example.org:443"}});
		// An absolute path ignores config_dir.
		TempDir other;
		write(other.file("mxdelegate.toml"), "");
		const auto absolute = open(other, "mxdelegate.toml", {{"path", domains}});
		CHECK(absolute->lookup("example.org"));
	}
	SECTION("problems are reported against that file") {
		write(domains, "[domains.\"example.org\"]\nserver = \"bad name!\"\n");
		CHECK(starts_with(refusal(config_for(dir, "mxdelegate.toml", {{"path", "domains.toml"}})),
		                  domains + ":2:10: example.org: server: "));
	}
	SECTION("nothing but [domains] belongs in it") {
		write(domains, "[defaults]\nserver = \"matrix.{domain}:443\"\n"
		               "[domains.\"example.org\"]\nserver = \"matrix.example.org:443\"\n"
		               "[backend]\nname = \"toml\"\n");
		const auto got = lines(refusal(config_for(dir, "mxdelegate.toml", {{"path", "domains.toml"}})));
		REQUIRE(got.size() == 2);
		CHECK(got[0] == domains + ":1:2: \"defaults\": only [domains] belongs in a separate domains file");
		CHECK(got[1] == domains + ":5:2: \"backend\": only [domains] belongs in a separate domains file");
	}
	SECTION("[domains] must be a table") {
		write(domains, "domains = \"example.org\"\n");
		CHECK(refusal(config_for(dir, "mxdelegate.toml", {{"path", "domains.toml"}})) ==
		      domains + ":1:1: domains: must be a table ([domains.\"example.org\"])");
	}
	SECTION("a path naming the configuration file keeps it the configuration file") {
		write(dir.file("mxdelegate.toml"), operator_config);
		const auto backend = open(dir, "mxdelegate.toml", {{"path", "./mxdelegate.toml"}});
		CHECK(backend->lookup("example.org"));
	}
	SECTION("a missing file") {
		CHECK(refusal(config_for(dir, "mxdelegate.toml", {{"path", "nope.toml"}})) ==
		      dir.file("nope.toml") + ": No such file or directory");
	}
}

TEST_CASE("toml backend: the [backend] keys it does not know are refused", "[toml_backend]")
{
	TempDir dir;
	write(dir.file("mxdelegate.toml"), operator_config);
	CHECK(refusal(config_for(dir, "mxdelegate.toml", {{"paht", "domains.toml"}})) ==
	      "unknown key in [backend]: paht");
	CHECK(refusal(config_for(dir, "mxdelegate.toml", {{"path", 42}})) ==
	      "[backend] path: must be a string");
	CHECK(refusal(config_for(dir, "mxdelegate.toml", {{"path", ""}})) ==
	      "[backend] path: must not be empty");
	CHECK(refusal(json{{"config_dir", dir.dir()}}) ==
	      "no config_file in the backend configuration");
}

TEST_CASE("toml backend: [backend] cache keeps the records of the file's text", "[toml_backend]")
{
	TempDir dir;
	const std::string file = dir.file("mxdelegate.toml"), cache = dir.file("domains.cache");
	const json with_cache{{"cache", "domains.cache"}};
	write(file, operator_config);
	const auto slurp = [](const std::string &path) {
		std::ifstream in(path, std::ios::binary);
		return std::string(std::istreambuf_iterator<char>(in), {});
	};
	const auto source = mxd::compiled_domains::source_of(operator_config, false);

	// The first load writes the records it checked, in the form read back.
	const auto first = open(dir, "mxdelegate.toml", with_cache);
	const auto written = mxd::compiled_domains::Domains::read(slurp(cache), source);
	REQUIRE(written);
	CHECK(written->size() == 3);
	CHECK(json::parse(*written->find("example.org")) == record(*first, "example.org"));
	struct stat st, file_st;
	REQUIRE(stat(cache.c_str(), &st) == 0);
	REQUIRE(stat(file.c_str(), &file_st) == 0);
	CHECK((st.st_mode & 0777) == (file_st.st_mode & 0644));

	SECTION("a later load of the same text reads them back instead of the file") {
		// Records the file does not hold, for its exact text: what is
		// served shows where it came from.
		const auto planted = mxd::compiled_domains::Domains::make(
		    source, {{"example.org", R"({"server":"from-the-cache.example:443"})"}});
		write(cache, planted.bytes());
		const auto second = open(dir, "mxdelegate.toml", with_cache);
		CHECK(record(*second, "example.org") == json{{"server", "from-the-cache.example:443"}});
		CHECK_FALSE(second->lookup("*.example.net"));
		// Without the key, the file as always.
		CHECK(record(*open(dir, "mxdelegate.toml"), "example.org")["server"] == "matrix.example.org:443");
	}
	SECTION("an edit is read from the file, and the cache made anew") {
		const std::string edited = one_domain("edited.example.org");
		write(file, edited);
		const auto second = open(dir, "mxdelegate.toml", with_cache);
		CHECK(record(*second, "example.org") == json{{"server", "edited.example.org"}});
		CHECK_FALSE(second->lookup("*.example.net"));
		const auto again = mxd::compiled_domains::Domains::read(
		    slurp(cache), mxd::compiled_domains::source_of(edited, false));
		REQUIRE(again);
		CHECK(again->size() == 1);
	}
	SECTION("a broken edit is refused, though the cache holds the last good records") {
		write(file, std::string(operator_config) + "[domains.\"example.com\"]\nserver = \"bad name!\"\n");
		CHECK(refusal(config_for(dir, "mxdelegate.toml", with_cache)).find("example.com: server: ") !=
		      std::string::npos);
	}
	SECTION("a garbled cache is passed over and written anew") {
		std::string bytes = slurp(cache);
		bytes[bytes.size() / 2] ^= 0x01;
		write(cache, bytes);
		const auto second = open(dir, "mxdelegate.toml", with_cache);
		CHECK(record(*second, "example.org")["server"] == "matrix.example.org:443");
		CHECK(mxd::compiled_domains::Domains::read(slurp(cache), source));
	}
	SECTION("a reload reads the edited file and keeps the cache in step") {
		Raw raw(config_for(dir, "mxdelegate.toml", with_cache));
		const auto before = raw.generation();
		const std::string edited = one_domain("reloaded.example.org");
		write(file, edited);
		bump(file);
		CHECK(raw.wait(before) != before);
		CHECK(raw.lookup("example.org") == R"({"server":"reloaded.example.org"})");
		CHECK(mxd::compiled_domains::Domains::read(slurp(cache),
		                                           mxd::compiled_domains::source_of(edited, false)));
	}
}

TEST_CASE("toml backend: a cache that cannot be written is logged, and the file served", "[toml_backend]")
{
	TempDir dir;
	write(dir.file("mxdelegate.toml"), operator_config);
	const std::string cache = dir.file("no-such-folder/domains.cache");
	Raw raw(config_for(dir, "mxdelegate.toml", {{"cache", cache}}));
	CHECK(raw.lookup("example.org").find("matrix.example.org:443") != std::string::npos);
	const auto logs = raw.logs();
	REQUIRE(logs.size() == 1);
	const std::string prefix = "4 toml: [backend] cache: cannot write " + cache + ".new." +
	                           std::to_string(getpid()) + ".";
	CHECK(starts_with(logs[0], prefix));
	CHECK(logs[0].substr(logs[0].find(':', prefix.size())) ==
	      ": No such file or directory; each start parses " + dir.file("mxdelegate.toml") + " in full");
}

TEST_CASE("toml backend: [backend] cache is never a file the operator wrote", "[toml_backend]")
{
	TempDir dir;
	write(dir.file("mxdelegate.toml"), operator_config);
	CHECK(refusal(config_for(dir, "mxdelegate.toml", {{"cache", ""}})) ==
	      "[backend] cache: must not be empty");
	CHECK(refusal(config_for(dir, "mxdelegate.toml", {{"cache", 1}})) == "[backend] cache: must be a string");
	CHECK(refusal(config_for(dir, "mxdelegate.toml", {{"cache", "./mxdelegate.toml"}})) ==
	      "[backend] cache: " + dir.file("mxdelegate.toml") + " is the domains file");
	write(dir.file("domains.toml"), one_domain("matrix.example.org:443"));
	CHECK(refusal(config_for(dir, "mxdelegate.toml", {{"path", "domains.toml"}, {"cache", "domains.toml"}})) ==
	      "[backend] cache: " + dir.file("domains.toml") + " is the domains file");
	CHECK(refusal(config_for(dir, "mxdelegate.toml", {{"path", "domains.toml"}, {"cache", "mxdelegate.toml"}})) ==
	      "[backend] cache: " + dir.file("mxdelegate.toml") + " is the configuration file");
	// The configuration file is untouched.
	std::ifstream in(dir.file("mxdelegate.toml"));
	CHECK(std::string(std::istreambuf_iterator<char>(in), {}) == operator_config);
}

TEST_CASE("toml backend: open() through the raw table", "[toml_backend]")
{
	const mxd_backend &t = plugin()->table();
	void *handle = nullptr;
	char *error = nullptr;
	CHECK(t.open("not json", nullptr, &handle, &error) == MXD_ERROR);
	REQUIRE(error);
	CHECK(starts_with(error, "toml: open: "));
	t.free_string(error);
	error = nullptr;
	CHECK(t.open("[]", nullptr, &handle, &error) == MXD_ERROR);
	REQUIRE(error);
	CHECK(std::string(error) == "configuration is not a JSON object");
	t.free_string(error);
	CHECK(handle == nullptr);
}

TEST_CASE("toml backend: an edited file is reloaded", "[toml_backend][reload]")
{
	TempDir dir;
	const std::string file = dir.file("mxdelegate.toml");
	write(file, one_domain("old.example.org"));
	Raw raw(config_for(dir, "mxdelegate.toml"));
	const auto before = raw.generation();
	CHECK(raw.lookup("example.org") == R"({"server":"old.example.org"})");

	write(file, one_domain("new.example.org") + "[domains.\"example.com\"]\nserver = \"m.example.com\"\n");
	bump(file);
	const auto after = raw.wait(before);
	CHECK(after != before);
	CHECK(raw.lookup("example.org") == R"({"server":"new.example.org"})");
	CHECK(raw.lookup("example.com") == R"({"server":"m.example.com"})");
	CHECK(raw.generation() == after);
	CHECK(raw.logs() == std::vector<std::string>{"6 toml: " + file + ": reloaded, 2 domains"});

	write(file, "");
	bump(file);
	CHECK(raw.wait(after) != after);
	CHECK(raw.lookup("example.org").empty());
}

TEST_CASE("toml backend: a broken edit keeps the previous data", "[toml_backend][reload]")
{
	TempDir dir;
	const std::string file = dir.file("mxdelegate.toml");
	write(file, one_domain("old.example.org"));
	Raw raw(config_for(dir, "mxdelegate.toml"));
	const auto before = raw.generation();

	write(file, one_domain("bad name!") + "[domains.\"example.com\"]\nserver = \"also bad!\"\n");
	bump(file);
	CHECK(raw.wait(before, 3) == before);
	const auto logs = raw.logs();
	REQUIRE(logs.size() == 3);
	CHECK(logs[0] == "3 toml: " + file + ": reload refused, keeping the previous data:");
	CHECK(starts_with(logs[1], "3 toml: " + file + ":2:10: example.org: server: "));
	CHECK(starts_with(logs[2], "3 toml: " + file + ":4:10: example.com: server: "));
	CHECK(raw.lookup("example.org") == R"({"server":"old.example.org"})");
	CHECK(raw.lookup("example.com").empty());

	// Not retried while the file stays as it is.
	std::this_thread::sleep_for(std::chrono::milliseconds(1100));
	CHECK(raw.generation() == before);
	CHECK(raw.logs().size() == 3);

	write(file, "[domains.\"example.org\"]\nserver = \n");
	bump(file);
	CHECK(raw.wait(before, 5) == before);
	REQUIRE(raw.logs().size() == 5);
	CHECK(starts_with(raw.logs()[4], "3 toml: " + file + ":2:10: "));

	write(file, one_domain("fixed.example.org"));
	bump(file);
	CHECK(raw.wait(before) != before);
	CHECK(raw.lookup("example.org") == R"({"server":"fixed.example.org"})");
}

TEST_CASE("toml backend: a vanished file is logged once and its data kept", "[toml_backend][reload]")
{
	TempDir dir;
	const std::string file = dir.file("mxdelegate.toml");
	write(file, one_domain("old.example.org"));
	Raw raw(config_for(dir, "mxdelegate.toml"));
	const auto before = raw.generation();

	REQUIRE(fs::remove(file));
	CHECK(raw.wait(before, 1) == before);
	REQUIRE(raw.logs().size() == 1);
	CHECK(raw.logs()[0] == "3 toml: " + file + ": No such file or directory; keeping the previous data");
	CHECK(raw.lookup("example.org") == R"({"server":"old.example.org"})");

	std::this_thread::sleep_for(std::chrono::milliseconds(1100));
	CHECK(raw.generation() == before);
	CHECK(raw.logs().size() == 1);

	write(file, one_domain("back.example.org"));
	CHECK(raw.wait(before) != before);
	CHECK(raw.lookup("example.org") == R"({"server":"back.example.org"})");
}

TEST_CASE("toml backend: lookups from several threads during reloads", "[toml_backend][reload]")
{
	TempDir dir;
	const std::string file = dir.file("mxdelegate.toml");
	const std::string a = one_domain("a.example.org"), b = one_domain("b.example.org:8448");
	const std::string ra = R"({"server":"a.example.org"})", rb = R"({"server":"b.example.org:8448"})";
	write(file, a);
	const auto backend = open(dir, "mxdelegate.toml");

	std::atomic<bool> stop{false};
	std::atomic<long> lookups{0}, wrong{0}, seen_b{0};
	std::vector<std::thread> threads;
	for (int i = 0; i < 4; i++)
		threads.emplace_back([&] {
			// No Catch2 assertion here: they are not thread-safe.
			while (!stop.load()) {
				try {
					const auto r = backend->lookup("example.org");
					if (!r || (*r != ra && *r != rb))
						wrong++;
					else if (*r == rb)
						seen_b++;
					if (backend->lookup("absent.example"))
						wrong++;
					(void)backend->generation();
				} catch (...) {
					wrong++;
				}
				lookups++;
			}
		});

	auto generation = backend->generation();
	for (int round = 0; round < 2; round++) {
		write(file, round % 2 ? a : b);
		bump(file);
		const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
		while (backend->generation() == generation && std::chrono::steady_clock::now() < deadline)
			std::this_thread::sleep_for(std::chrono::milliseconds(5));
		CHECK(backend->generation() != generation);
		generation = backend->generation();
		CHECK(*backend->lookup("example.org") == (round % 2 ? ra : rb));
	}
	stop = true;
	for (auto &t : threads)
		t.join();
	CHECK(wrong.load() == 0);
	CHECK(seen_b.load() > 0);
	CHECK(lookups.load() > 0);
}
