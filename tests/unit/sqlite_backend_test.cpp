// The SQLite backend, loaded as the responder and mxdelegatectl load it:
// build/backends/sqlite.so through the plugin loader, on real files.  The
// database is tampered with through SQLite's own C API.
#include "service/backend.hpp"

#include "support.hpp"

#include <catch2/catch.hpp>

#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <string>
#include <mutex>
#include <thread>
#include <vector>

using nlohmann::json;
using mxd::Backend;
using mxd::BackendError;
using mxd::test::TempDir;

using mxd::test::error_of;

namespace {

const std::shared_ptr<const mxd::Plugin> &plugin()
{
	static const auto loaded = mxd::Plugin::load(mxd::test::plugin_dir() + "/sqlite.so");
	return loaded;
}

std::shared_ptr<Backend> open(const std::string &path, const char *access = nullptr,
                              json extra = json::object())
{
	extra["path"] = path;
	if (access)
		extra["access"] = access;
	return Backend::open(plugin(), extra);
}

std::shared_ptr<Backend> create(const std::string &path)
{
	return open(path, "create");
}

// Raw SQL on the file, as another program would run it.
class Raw {
public:
	explicit Raw(const std::string &path)
	{
		REQUIRE(sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
		                        nullptr) == SQLITE_OK);
		// As any writer beside mxdelegatectl should (mxdelegate.toml(5)):
		// a reader that has just answered a run of lookups keeps its read
		// lock for up to 10 ms more.
		sqlite3_busy_timeout(db_, 2000);
	}
	~Raw() { sqlite3_close(db_); }
	Raw(const Raw &) = delete;
	Raw &operator=(const Raw &) = delete;

	void exec(const std::string &sql)
	{
		char *error = nullptr;
		const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error);
		const std::string why = error ? error : "";
		sqlite3_free(error);
		INFO(sql << ": " << why);
		REQUIRE(rc == SQLITE_OK);
	}

	std::string text(const std::string &sql)
	{
		sqlite3_stmt *st = nullptr;
		REQUIRE(sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr) == SQLITE_OK);
		std::string out;
		if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
			out = reinterpret_cast<const char *>(sqlite3_column_text(st, 0));
		sqlite3_finalize(st);
		return out;
	}

private:
	sqlite3 *db_ = nullptr;
};

void write_file(const std::string &path, const std::string &bytes)
{
	FILE *f = std::fopen(path.c_str(), "wb");
	REQUIRE(f);
	std::fwrite(bytes.data(), 1, bytes.size(), f);
	std::fclose(f);
}

// Polls until the backend answers without an error, as the responder's
// next requests would: the handle retries after its backoff.
bool recovers(const Backend &b, const std::string &key)
{
	for (int i = 0; i < 200; i++) {
		try {
			(void)b.generation();
			(void)b.lookup(key);
			return true;
		} catch (const BackendError &) {
			std::this_thread::sleep_for(std::chrono::milliseconds(10));
		}
	}
	return false;
}

const std::string record_text =
	R"({"client":"https://matrix.example.org","client_extra":{"m.identity_server":{"base_url":"https://id.example.org"}},)"
	R"("max_age":600,"note":"customer 42","policy_server":{"ed25519":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},)"
	R"("server":"matrix.example.org:443","support":{"contacts":[{"matrix_id":"@admin:example.org","role":"m.role.admin"}]}})";

} // namespace

TEST_CASE("sqlite: create makes the schema, mode 0644 whatever the umask, rollback journal",
          "[sqlite]")
{
	TempDir dir;
	const std::string db = dir.file("domains.db");
	const mode_t old = umask(077);
	auto w = create(db);
	umask(old);
	struct stat st;
	REQUIRE(stat(db.c_str(), &st) == 0);
	CHECK((st.st_mode & 0777) == 0644);
	Raw raw(db);
	CHECK(raw.text("PRAGMA user_version") == "3");
	CHECK(raw.text("PRAGMA journal_mode") == "delete");
	CHECK(raw.text("SELECT name FROM sqlite_schema WHERE type = 'table'") == "domains");
	CHECK(w->writable());
	// A second create is a no-op on a current database.
	w.reset();
	CHECK_NOTHROW(create(db));
}

TEST_CASE("sqlite: records written are read back as the same JSON, in domain order", "[sqlite]")
{
	TempDir dir;
	const std::string db = dir.file("domains.db");
	auto w = create(db);
	w->put("example.org", record_text);
	w->put("*.example.net", R"({"server":"matrix.example.net"})");
	w->put("b.example", R"({"client":"https://b.example"})");
	auto r = open(db);
	CHECK(r->lookup("example.org") == std::optional<std::string>(record_text));
	CHECK(r->lookup("*.example.net") == std::optional<std::string>(R"({"server":"matrix.example.net"})"));
	CHECK(r->lookup("a.example.net") == std::nullopt);
	// Bound, never spliced: a quote in the key is just a key that is not there.
	CHECK(r->lookup("x' OR '1'='1") == std::nullopt);
	// Compared with '=', never LIKE or GLOB: their wildcards match nothing.
	for (const char *pattern : {"exampl_.org", "%", "%.org", "example.%", "*", "*.example.%",
	                            "b.exampl?", "b.exampl[e]", "example.org%00"})
		CHECK(r->lookup(pattern) == std::nullopt);
	std::vector<std::string> keys;
	r->list([&](std::string_view d, std::string_view) {
		keys.emplace_back(d);
		return true;
	});
	CHECK(keys == std::vector<std::string>{"*.example.net", "b.example", "example.org"});
	// each() returning false stops the listing.
	keys.clear();
	r->list([&](std::string_view d, std::string_view) {
		keys.emplace_back(d);
		return false;
	});
	CHECK(keys.size() == 1);
	// A "domain" field naming the key is accepted and not stored.
	w->put("c.example", R"({"domain":"c.example","server":"c.example"})");
	CHECK(r->lookup("c.example") == std::optional<std::string>(R"({"server":"c.example"})"));
}

TEST_CASE("sqlite: replacing keeps created, moves updated only on a change", "[sqlite]")
{
	TempDir dir;
	const std::string db = dir.file("domains.db");
	auto w = create(db);
	w->put("example.org", R"({"server":"a.example.org"})");
	Raw raw(db);
	raw.exec("UPDATE domains SET created = '2000-01-01T00:00:00Z', updated = '2000-01-01T00:00:00Z'");
	w->put("example.org", R"({"server":"a.example.org"})");
	CHECK(raw.text("SELECT updated FROM domains") == "2000-01-01T00:00:00Z");
	w->put("example.org", R"({"server":"b.example.org"})");
	CHECK(raw.text("SELECT created FROM domains") == "2000-01-01T00:00:00Z");
	CHECK(raw.text("SELECT updated FROM domains") != "2000-01-01T00:00:00Z");
}

TEST_CASE("sqlite: put refuses what the responder would not serve, with domain and field",
          "[sqlite]")
{
	TempDir dir;
	auto w = create(dir.file("domains.db"));
	BackendError::Kind kind{};
	CHECK_THAT(error_of([&] { w->put("example.org", R"({"client":"ftp://x"})"); }, &kind),
	           Catch::StartsWith("example.org: client: \"ftp://x\" is not an http or https URL"));
	CHECK(kind == BackendError::Kind::invalid);
	CHECK(error_of([&] { w->put("Example.ORG", "{}"); }, &kind) ==
	      "Example.ORG: domain: not in canonical form; store it as example.org");
	CHECK(kind == BackendError::Kind::invalid);
	CHECK_THAT(error_of([&] { w->put("bad..org", "{}"); }), Catch::StartsWith("bad..org: domain: "));
	CHECK(error_of([&] { w->put("example.org", "[1]"); }) ==
	      "example.org: the record is not a JSON object");
	CHECK(error_of([&] { w->put("example.org", R"({"domain":"other.org"})"); }) ==
	      "example.org: domain: the record names another domain");
	CHECK_THAT(error_of([&] { w->put("example.org", R"({"colour":"red"})"); }),
	           Catch::StartsWith("example.org: colour: unknown field"));
	auto r = open(dir.file("domains.db"));
	CHECK(r->lookup("example.org") == std::nullopt);
}

TEST_CASE("sqlite: remove, and a transaction seen whole or not at all", "[sqlite]")
{
	TempDir dir;
	const std::string db = dir.file("domains.db");
	auto w = create(db);
	auto r = open(db);
	w->put("a.example", R"({"server":"a.example"})");
	CHECK(w->remove("a.example"));
	CHECK_FALSE(w->remove("a.example"));
	CHECK(r->lookup("a.example") == std::nullopt);

	w->begin();
	w->put("b.example", R"({"server":"b.example"})");
	CHECK(w->lookup("b.example").has_value()); // the transaction sees itself
	CHECK(r->lookup("b.example") == std::nullopt);
	w->rollback();
	CHECK(w->lookup("b.example") == std::nullopt);

	w->begin();
	w->put("b.example", R"({"server":"b.example"})");
	w->put("c.example", R"({"server":"c.example"})");
	w->commit();
	CHECK(r->lookup("b.example").has_value());
	CHECK(r->lookup("c.example").has_value());
	// rollback() outside a transaction is harmless.
	CHECK_NOTHROW(w->rollback());
}

TEST_CASE("sqlite: a read handle never writes", "[sqlite]")
{
	TempDir dir;
	const std::string db = dir.file("domains.db");
	create(db);
	auto r = open(db);
	CHECK_THAT(error_of([&] { r->put("a.example", "{}"); }),
	           Catch::Contains("opened read-only"));
	CHECK_THAT(error_of([&] { r->begin(); }), Catch::Contains("opened read-only"));
}

TEST_CASE("sqlite: configuration mistakes fail open() with the key named", "[sqlite]")
{
	CHECK_THAT(error_of([] { Backend::open(plugin(), json::object()); }),
	           Catch::Contains("path: missing"));
	CHECK_THAT(error_of([] { open("/x.db", nullptr, {{"colour", "red"}}); }),
	           Catch::Contains("unknown key in [backend]: colour"));
	CHECK_THAT(error_of([] { open("/x.db", "everything"); }),
	           Catch::Contains("\"everything\" is not read, write or create"));
	CHECK_THAT(error_of([] { open("/x.db", nullptr, {{"busy_timeout", "long"}}); }),
	           Catch::Contains("busy_timeout"));
	for (const json &t : {json(0), json(60001), json("1s"), json(1.5)})
		CHECK(error_of([&] { open("/x.db", nullptr, {{"timeout", t}}); }) ==
		      "sqlite: [backend] timeout: must be an integer number of milliseconds from 1 to 60000");
}

TEST_CASE("sqlite: relative paths start at the configuration's directory", "[sqlite]")
{
	TempDir dir;
	create(dir.file("domains.db"))->put("example.org", R"({"server":"example.org"})");
	auto r = Backend::open(plugin(), {{"path", "domains.db"}, {"config_dir", dir.path()},
	                                  {"config_file", dir.file("mxdelegate.toml")}});
	CHECK(r->lookup("example.org").has_value());
}

TEST_CASE("sqlite: opening for writing needs the store and its schema", "[sqlite]")
{
	TempDir dir;
	BackendError::Kind kind{};
	CHECK_THAT(error_of([&] { open(dir.file("none.db"), "write"); }, &kind),
	           Catch::Contains("none.db: No such file or directory; \"mxdelegatectl init\" creates it"));
	CHECK(kind == BackendError::Kind::no_store);
	CHECK_FALSE(std::filesystem::exists(dir.file("none.db")));

	{
		Raw raw(dir.file("old.db"));
		raw.exec("CREATE TABLE t(x)");
	}
	CHECK_THAT(error_of([&] { open(dir.file("old.db"), "write"); }),
	           Catch::Contains("run \"mxdelegatectl init\""));
	CHECK_THAT(error_of([&] { create(dir.file("old.db")); }),
	           Catch::Contains("holds other tables (t) and no mxdelegate schema"));

	create(dir.file("new.db"));
	Raw(dir.file("new.db")).exec("PRAGMA user_version = 9");
	CHECK_THAT(error_of([&] { create(dir.file("new.db")); }),
	           Catch::Contains("schema version 9 is newer than this mxdelegatectl knows (3)"));

	CHECK_THAT(error_of([&] { create(dir.path() + "/missing/x.db"); }, &kind),
	           Catch::Contains("cannot create " + dir.path() + "/missing/x.db: No such file"));
	CHECK(kind == BackendError::Kind::failed);
}

TEST_CASE("sqlite: a follower's copy is refused for writing, naming the primary, and read as any",
          "[sqlite][follow]")
{
	TempDir dir;
	const std::string path = dir.file("copy.db");
	{
		auto b = create(path);
		b->begin();
		b->put("example.org", record_text);
		b->commit();
	}
	// What the follower adds to the copy (the design of issue 16).
	Raw(path).exec("CREATE TABLE mxdelegate_follow (name TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL) "
	               "WITHOUT ROWID;"
	               "INSERT INTO mxdelegate_follow VALUES ('primary', 'host=db1 dbname=mx'), "
	               "('seq', '12'), ('writer', '');"
	               "CREATE TRIGGER mxdelegate_follow_insert BEFORE INSERT ON domains "
	               "WHEN (SELECT value FROM mxdelegate_follow WHERE name = 'writer') IS NOT 'follower' "
	               "BEGIN SELECT RAISE(ABORT, 'a copy'); END;");
	const std::string refused = "sqlite: " + path + ": a copy of PostgreSQL host=db1 dbname=mx kept by "
	                            "\"mxdelegatectl follow\"; write to the primary (a configuration with "
	                            "[follow] naming it)";
	BackendError::Kind kind{};
	CHECK(error_of([&] { open(path, "write"); }, &kind) == refused);
	CHECK(kind == BackendError::Kind::failed);
	CHECK(error_of([&] { create(path); }) == refused);

	auto reader = open(path);
	CHECK(reader->lookup("example.org"));

	Raw(path).exec("DELETE FROM mxdelegate_follow WHERE name = 'primary'");
	CHECK_THAT(error_of([&] { open(path, "write"); }),
	           Catch::Contains(": a copy of PostgreSQL (not recorded) kept by"));
}

TEST_CASE("sqlite: a missing database does not fail open(); lookups fail until it appears",
          "[sqlite]")
{
	TempDir dir;
	const std::string db = dir.file("domains.db");
	auto r = open(db);
	BackendError::Kind kind{};
	CHECK(error_of([&] { r->lookup("example.org"); }, &kind) ==
	      "sqlite: " + db + ": No such file or directory");
	CHECK(kind == BackendError::Kind::no_store);
	const auto g0 = r->generation();
	CHECK(r->generation() == g0);
	create(db)->put("example.org", R"({"server":"example.org"})");
	CHECK(recovers(*r, "example.org"));
	CHECK(r->generation() != g0);
	CHECK(r->lookup("example.org").has_value());
}

TEST_CASE("sqlite: a wrong schema version is refused with the tool and versions named",
          "[sqlite]")
{
	TempDir dir;
	const std::string db = dir.file("domains.db");
	create(db)->put("example.org", R"({"server":"example.org"})");
	auto r = open(db);
	CHECK(r->lookup("example.org").has_value());
	const auto g = r->generation();

	Raw(db).exec("PRAGMA user_version = 7");
	// The watcher notices the commit and the new version; the pooled
	// connection is retired with it.
	CHECK(r->generation() != g);
	CHECK(error_of([&] { r->lookup("example.org"); }) ==
	      "sqlite: " + db + ": schema version 7 is newer than this mxdelegate knows (3); "
	      "upgrade mxdelegate, or restore a database of schema version 3");

	Raw(db).exec("PRAGMA user_version = 0");
	// Past the backoff, the next lookup looks at the file again.
	std::this_thread::sleep_for(std::chrono::milliseconds(300));
	(void)r->generation();
	CHECK_THAT(error_of([&] { r->lookup("example.org"); }),
	           Catch::Contains("schema version 0, expected 3); run \"mxdelegatectl init\""));

	Raw(db).exec("PRAGMA user_version = 2");
	CHECK(recovers(*r, "example.org"));
}

TEST_CASE("sqlite: garbage in place of the database, then the database again", "[sqlite]")
{
	TempDir dir;
	const std::string db = dir.file("domains.db");
	create(db)->put("example.org", R"({"server":"example.org"})");
	std::filesystem::copy_file(db, dir.file("good.db"));
	auto r = open(db);
	CHECK(r->lookup("example.org").has_value());

	write_file(dir.file("bad.db"), std::string(8192, 'x'));
	std::filesystem::rename(dir.file("bad.db"), db);
	(void)r->generation();
	CHECK(error_of([&] { r->lookup("example.org"); }) ==
	      "sqlite: " + db + ": not an SQLite database (file is not a database)");

	std::filesystem::copy_file(dir.file("good.db"), dir.file("again.db"));
	std::filesystem::rename(dir.file("again.db"), db);
	CHECK(recovers(*r, "example.org"));
	CHECK(r->lookup("example.org").has_value());
}

TEST_CASE("sqlite: generation moves on a commit and on a replaced file, not otherwise",
          "[sqlite]")
{
	TempDir dir;
	const std::string db = dir.file("domains.db");
	auto w = create(db);
	auto r = open(db);
	const auto g0 = r->generation();
	CHECK(r->generation() == g0);
	w->put("example.org", R"({"server":"example.org"})");
	const auto g1 = r->generation();
	CHECK(g1 != g0);
	CHECK(r->generation() == g1);

	// A new file under the same name (a restore): new inode, same
	// data_version possibly, and the pooled connections read the old one.
	create(dir.file("other.db"))->put("example.org", R"({"server":"other.example.org"})");
	CHECK(r->lookup("example.org") == std::optional<std::string>(R"({"server":"example.org"})"));
	std::filesystem::rename(dir.file("other.db"), db);
	CHECK(r->generation() != g1);
	CHECK(r->lookup("example.org") == std::optional<std::string>(R"({"server":"other.example.org"})"));
}

TEST_CASE("sqlite: a writer's lock delays a lookup; held too long it is an error, then passes",
          "[sqlite]")
{
	TempDir dir;
	const std::string db = dir.file("domains.db");
	create(db)->put("example.org", R"({"server":"example.org"})");
	auto r = open(db, nullptr, {{"busy_timeout", 200}});
	Raw locker(db);
	locker.exec("BEGIN EXCLUSIVE");
	const auto t0 = std::chrono::steady_clock::now();
	BackendError::Kind kind{};
	CHECK(error_of([&] { r->lookup("example.org"); }, &kind) ==
	      "sqlite: " + db + ": the database stayed locked by a writer for more than 200 ms");
	CHECK(std::chrono::steady_clock::now() - t0 >= std::chrono::milliseconds(190));
	const auto g = r->generation(); // busy is no news, and no error
	locker.exec("ROLLBACK");
	CHECK(r->lookup("example.org").has_value());
	CHECK(r->generation() == g);

	// A lock released within the timeout is only a delay.
	locker.exec("BEGIN EXCLUSIVE");
	std::thread release([&] {
		std::this_thread::sleep_for(std::chrono::milliseconds(50));
		locker.exec("ROLLBACK");
	});
	CHECK(r->lookup("example.org").has_value());
	release.join();
}

TEST_CASE("sqlite: concurrent lookups while a writer commits see no errors", "[sqlite]")
{
	TempDir dir;
	const std::string db = dir.file("domains.db");
	auto w = create(db);
	w->put("example.org", R"({"server":"example.org"})");
	// Four readers in a tight loop on two cores can starve the writer's
	// commit past the default 2 s on a loaded machine (CI): what is tested
	// here is that no lookup fails or tears, not how long the lock waits.
	auto r = open(db, nullptr, {{"busy_timeout", 20000}, {"timeout", 20000}});
	std::atomic<bool> stop{false};
	std::atomic<int> errors{0}, found{0};
	std::mutex first_error_mutex;
	std::string first_error;
	std::vector<std::thread> readers;
	for (int t = 0; t < 4; t++)
		readers.emplace_back([&] {
			while (!stop) {
				try {
					found += r->lookup("example.org").has_value();
					(void)r->lookup("n.example");
				} catch (const BackendError &e) {
					// Catch2's macros are not thread-safe: report from
					// the main thread.
					if (errors++ == 0) {
						std::lock_guard lock(first_error_mutex);
						first_error = e.what();
					}
				}
			}
		});
	for (int i = 0; i < 200; i++) {
		w->begin();
		w->put("n.example", R"({"server":"n)" + std::to_string(i) + R"(.example"})");
		if (i % 2)
			w->remove("n.example");
		w->commit();
		(void)r->generation();
	}
	stop = true;
	for (auto &t : readers)
		t.join();
	INFO(first_error);
	CHECK(errors == 0);
	CHECK(found > 0);
}

TEST_CASE("sqlite: an exception in the list callback comes back through the loader", "[sqlite]")
{
	TempDir dir;
	const std::string db = dir.file("domains.db");
	auto w = create(db);
	w->put("a.example", "{}");
	w->put("b.example", "{}");
	auto r = open(db);
	int calls = 0;
	CHECK_THROWS_WITH(r->list([&](std::string_view, std::string_view) -> bool {
		calls++;
		throw std::runtime_error("callback failed");
	}),
	                  "callback failed");
	CHECK(calls == 1);
	// The handle is still good.
	CHECK(r->lookup("a.example").has_value());
}

namespace {

// Elapsed milliseconds of f(), which is to throw; its message in `error`.
long timed_error(const std::function<void()> &f, std::string &error)
{
	const auto t0 = std::chrono::steady_clock::now();
	error = error_of(f);
	return static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(
		std::chrono::steady_clock::now() - t0).count());
}

// domains made a view over a recursive query that never ends, for any key
// (CROSS JOIN: SQLite keeps the order written, so r is the outer loop, and
// no row of it passes),
// as a hand
// (or a careless migration) could make it behind the admin tool's back.
void endless_view(const std::string &db)
{
	Raw(db).exec("ALTER TABLE domains RENAME TO kept;"
	              "CREATE VIEW domains AS WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL "
	              "SELECT n + 1 FROM r) SELECT kept.* FROM r CROSS JOIN kept WHERE r.n < 0");
}

} // namespace

TEST_CASE("sqlite: a view in place of the domains table is refused by name, at once", "[sqlite]")
{
	TempDir dir;
	const std::string db = dir.file("domains.db");
	create(db)->put("example.org", R"({"server":"example.org"})");
	endless_view(db);
	const std::string refusal = "sqlite: " + db + ": \"domains\" is a view, not the table the "
	                            "schema makes; refusing to read it";
	auto r = open(db, nullptr, {{"timeout", 5000}});
	std::string error;
	CHECK(timed_error([&] { r->lookup("example.org"); }, error) < 1000);
	CHECK_THAT(error, Catch::StartsWith(refusal));
	// The admin tool, which has no deadline, refuses the store rather than
	// run the view.
	CHECK_THAT(error_of([&] { open(db, "write"); }), Catch::StartsWith(refusal));
}

TEST_CASE("sqlite: a lookup on a view swapped in under a reader ends at the deadline", "[sqlite]")
{
	TempDir dir;
	const std::string db = dir.file("domains.db");
	create(db)->put("example.org", R"({"server":"example.org"})");
	auto r = open(db, nullptr, {{"timeout", 300}});
	REQUIRE(r->lookup("example.org").has_value()); // a pooled connection, its lookup prepared
	endless_view(db);
	std::string error;
	const long ms = timed_error([&] { r->lookup("other.example"); }, error);
	CHECK(error == "sqlite: " + db + ": the lookup of other.example ran past [backend] timeout "
	               "(300 ms) and was interrupted");
	CHECK(ms >= 290);
	CHECK(ms < 1000);
	// The next lookups fail at once: the connection went, and a new one
	// refuses the view.
	CHECK(timed_error([&] { r->lookup("example.org"); }, error) < 200);
}

TEST_CASE("sqlite: a writer's lock holds a lookup no longer than the deadline", "[sqlite]")
{
	TempDir dir;
	const std::string db = dir.file("domains.db");
	create(db)->put("example.org", R"({"server":"example.org"})");
	// busy_timeout longer than the deadline: the deadline wins, and the
	// message says the wait that was done.
	auto r = open(db, nullptr, {{"busy_timeout", 20000}, {"timeout", 300}});
	Raw locker(db);
	locker.exec("BEGIN EXCLUSIVE");
	std::string error;
	const long ms = timed_error([&] { r->lookup("example.org"); }, error);
	locker.exec("ROLLBACK");
	CHECK(error == "sqlite: " + db + ": the database stayed locked by a writer for more than 300 ms");
	CHECK(ms >= 290);
	CHECK(ms < 1000);
	// The admin tool is not bound by the responder's deadline.
	auto w = open(db, "write", {{"busy_timeout", 1500}, {"timeout", 300}});
	locker.exec("BEGIN EXCLUSIVE");
	std::thread release([&] {
		std::this_thread::sleep_for(std::chrono::milliseconds(700));
		locker.exec("ROLLBACK");
	});
	CHECK_NOTHROW(w->begin());
	release.join();
	w->rollback();
}

TEST_CASE("sqlite: a schema 1 store is read without redirects; init migrates it to 3", "[sqlite]")
{
	TempDir dir;
	const std::string db = dir.file("domains.db");
	create(db)->put("example.org", R"({"server":"matrix.example.org:443"})");
	// Schema 1 as an older mxdelegatectl made it: no redirect columns, no
	// renderings.
	Raw(db).exec("DROP TABLE renderings; "
	             "ALTER TABLE domains DROP COLUMN redirect; "
	             "ALTER TABLE domains DROP COLUMN redirect_status; PRAGMA user_version = 1");

	auto r = open(db);
	(void)r->generation(); // the responder's first look, at its start
	CHECK(r->lookup("example.org") == R"({"server":"matrix.example.org:443"})");
	// Writing needs the new columns.
	CHECK_THAT(error_of([&] { open(db, "write"); }),
	           Catch::Contains("schema version 1, expected 3; run \"mxdelegatectl init\" to migrate it"));

	auto w = create(db);
	CHECK(Raw(db).text("PRAGMA user_version") == "3");
	w->put("example.net", R"({"redirect":"https://matrix.example.com","redirect_status":307})");
	w.reset();
	CHECK(recovers(*r, "example.net"));
	CHECK(r->lookup("example.net") ==
	      R"({"redirect":"https://matrix.example.com","redirect_status":307})");
	CHECK(r->lookup("example.org") == R"({"server":"matrix.example.org:443"})");
	// The table form is kept as the object it is.
	create(db)->put("example.com",
	                R"({"redirect":{"client":"https://example.net/.well-known/matrix/client"}})");
	CHECK(recovers(*r, "example.com"));
	CHECK(r->lookup("example.com") ==
	      R"({"redirect":{"client":"https://example.net/.well-known/matrix/client"}})");
}

namespace {

// What lookup_rendered() handed back: "rendered:BYTES", "record:JSON" or
// "none".
std::string rendered_of(const Backend &b, const std::string &key, const std::string &fingerprint)
{
	const Backend::Stored s = b.lookup_rendered(key, fingerprint);
	switch (s.kind) {
	case Backend::Stored::rendered: return "rendered:" + s.text;
	case Backend::Stored::record: return "record:" + s.text;
	case Backend::Stored::none: break;
	}
	return "none";
}

} // namespace

TEST_CASE("sqlite: a rendering is handed back only for its fingerprint and the row as it was",
          "[sqlite][rendering]")
{
	TempDir dir;
	const std::string db = dir.file("domains.db");
	auto w = create(db);
	REQUIRE(w->keeps_renderings());
	w->put("example.org", record_text);
	w->put("example.net", R"({"server":"matrix.example.net:443"})");
	// Bytes with a NUL and high bytes: a blob, not a C string.
	const std::string bytes("MXR\x01\0\xff rendering of example.org", 30);
	CHECK(w->store_rendered("example.org", "f1-aaaa", bytes));
	CHECK_FALSE(w->store_rendered("nowhere.example", "f1-aaaa", bytes));
	w.reset();

	auto r = open(db);
	CHECK(rendered_of(*r, "example.org", "f1-aaaa") == "rendered:" + bytes);
	CHECK(rendered_of(*r, "example.org", "f1-bbbb") == "record:" + record_text);
	CHECK(rendered_of(*r, "example.net", "f1-aaaa") ==
	      "record:" R"({"server":"matrix.example.net:443"})");
	CHECK(rendered_of(*r, "nowhere.example", "f1-aaaa") == "none");

	SECTION("an edit with SQL of any record column, the note too, loses it")
	{
		for (const char *edit :
		     {"server = 'matrix2.example.org:443'", "max_age = 601", "max_age = NULL",
		      "note = 'customer 43'", "note = NULL", "client_extra = '{}'",
		      "redirect = '\"https://example.com\"'"}) {
			INFO(edit);
			Raw(db).exec("UPDATE domains SET " + std::string(edit) + " WHERE domain = 'example.org'");
			auto fresh = open(db);
			CHECK(rendered_of(*fresh, "example.org", "f1-aaaa").starts_with("record:"));
			// The row put back as it was (by the tool): the rendering holds again.
			auto back = create(db);
			back->put("example.org", record_text);
			CHECK(back->store_rendered("example.org", "f1-aaaa", bytes));
			CHECK(rendered_of(*back, "example.org", "f1-aaaa") == "rendered:" + bytes);
		}
	}
	SECTION("the same value written back by SQL keeps it: the digest is of the values")
	{
		Raw(db).exec("UPDATE domains SET server = server WHERE domain = 'example.org'");
		auto fresh = open(db);
		CHECK(rendered_of(*fresh, "example.org", "f1-aaaa") == "rendered:" + bytes);
	}
	SECTION("a rendering and digest copied to another domain are never served for it")
	{
		{
			auto w2 = open(db, "write");
			CHECK(w2->store_rendered("example.net", "f1-aaaa", std::string("net's own")));
			CHECK(rendered_of(*w2, "example.net", "f1-aaaa") == "rendered:net's own");
		}
		Raw(db).exec("UPDATE renderings SET (rendered_for, rendered_of, rendered) = "
		             "(SELECT rendered_for, rendered_of, rendered FROM renderings "
		             "WHERE domain = 'example.org') WHERE domain = 'example.net'");
		CHECK(Raw(db).text("SELECT count(*) FROM renderings WHERE rendered_for = 'f1-aaaa' AND "
		                   "rendered = (SELECT rendered FROM renderings WHERE domain = 'example.org')") ==
		      "2");
		auto fresh = open(db);
		CHECK(rendered_of(*fresh, "example.net", "f1-aaaa").starts_with("record:"));
	}
	SECTION("put() forgets it, and store_rendered(nullopt) too")
	{
		auto w2 = open(db, "write");
		w2->put("example.org", record_text); // unchanged, still forgotten
		CHECK(rendered_of(*w2, "example.org", "f1-aaaa") == "record:" + record_text);
		CHECK(w2->store_rendered("example.org", "f1-aaaa", bytes));
		CHECK(rendered_of(*w2, "example.org", "f1-aaaa") == "rendered:" + bytes);
		CHECK(w2->store_rendered("example.org", "f1-aaaa", std::nullopt));
		CHECK(rendered_of(*w2, "example.org", "f1-aaaa") == "record:" + record_text);
		CHECK(Raw(db).text("SELECT count(*) FROM renderings") == "0");
		// remove() takes the rendering with the record.
		CHECK(w2->store_rendered("example.org", "f1-aaaa", bytes));
		CHECK(w2->remove("example.org"));
		CHECK(Raw(db).text("SELECT count(*) FROM renderings") == "0");
	}
	SECTION("a rendering column of another type is no rendering")
	{
		Raw(db).exec("UPDATE renderings SET rendered_of = 'text' WHERE domain = 'example.org'");
		auto fresh = open(db);
		CHECK(rendered_of(*fresh, "example.org", "f1-aaaa").starts_with("record:"));
	}
}

TEST_CASE("sqlite: a schema 2 store is read as before; init migrates it to 3 keeping its rows",
          "[sqlite][rendering]")
{
	TempDir dir;
	const std::string db = dir.file("domains.db");
	create(db)->put("example.org", record_text);
	Raw(db).exec("DROP TABLE renderings; PRAGMA user_version = 2");
	auto r = open(db);
	(void)r->generation();
	CHECK(rendered_of(*r, "example.org", "f1-aaaa") == "record:" + record_text);
	CHECK_THAT(error_of([&] { open(db, "write"); }),
	           Catch::Contains("schema version 2, expected 3; run \"mxdelegatectl init\""));
	auto w = create(db);
	CHECK(Raw(db).text("PRAGMA user_version") == "3");
	CHECK(rendered_of(*w, "example.org", "f1-aaaa") == "record:" + record_text);
	CHECK(w->store_rendered("example.org", "f1-aaaa", std::string("bytes")));
	w.reset();
	CHECK(recovers(*r, "example.org"));
	CHECK(rendered_of(*r, "example.org", "f1-aaaa") == "rendered:bytes");
}
