// The renderings a follower keeps in its copy, read back by the sqlite
// plugin as the responder reads them: a copy built, changes applied, and a
// copy rendered again under other [defaults].
#include "follow/copy.hpp"

#include "core/rendering.hpp"
#include "service/backend.hpp"

#include "support.hpp"

#include <catch2/catch.hpp>

#include <sqlite3.h>

#include <cstring>
#include <string>

using nlohmann::json;
using mxd::Backend;
using mxd::test::TempDir;
namespace follow = mxd::follow;

namespace {

const std::shared_ptr<const mxd::Plugin> &plugin()
{
	static const auto loaded = mxd::Plugin::load(mxd::test::plugin_dir() + "/sqlite.so");
	return loaded;
}

std::shared_ptr<Backend> open(const std::string &path)
{
	return Backend::open(plugin(), json{{"path", path}});
}

std::size_t column(const char *name)
{
	for (std::size_t i = 0; i < mxd::plugin::record_columns.size(); i++)
		if (std::strcmp(mxd::plugin::record_columns[i].name, name) == 0)
			return i;
	FAIL("no column " << name);
	return 0;
}

follow::Row row(const std::string &domain, const std::string &server,
                std::optional<std::string> max_age = std::nullopt)
{
	follow::Row r;
	r.domain = domain;
	if (!server.empty())
		r.cells[column("server")] = server;
	r.cells[column("max_age")] = std::move(max_age);
	r.created = r.updated = "2026-01-01T00:00:00Z";
	return r;
}

std::size_t count(const std::string &path, const std::string &sql)
{
	sqlite3 *db = nullptr;
	REQUIRE(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
	sqlite3_stmt *s = nullptr;
	REQUIRE(sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr) == SQLITE_OK);
	REQUIRE(sqlite3_step(s) == SQLITE_ROW);
	const auto n = static_cast<std::size_t>(sqlite3_column_int64(s, 0));
	sqlite3_finalize(s);
	sqlite3_close(db);
	return n;
}

// The server document's bytes of the rendering the plugin hands back for
// this fingerprint, or "record"/"none" for the full path.
std::string served(const std::string &path, const std::string &key, const std::string &fingerprint)
{
	const Backend::Stored s = open(path)->lookup_rendered(key, fingerprint);
	if (s.kind == Backend::Stored::record)
		return "record";
	if (s.kind == Backend::Stored::none)
		return "none";
	const auto docs = mxd::rendering::decode(s.text, key);
	REQUIRE(docs);
	return (*docs)[static_cast<std::size_t>(mxd::Document::server)].rest;
}

// The bytes the copy keeps as the rendering of `domain`, or "none".
std::string kept(const std::string &path, const std::string &domain)
{
	sqlite3 *db = nullptr;
	REQUIRE(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
	sqlite3_stmt *s = nullptr;
	REQUIRE(sqlite3_prepare_v2(db, "SELECT rendered FROM renderings WHERE domain = ?1", -1, &s,
	                           nullptr) == SQLITE_OK);
	sqlite3_bind_text(s, 1, domain.c_str(), -1, SQLITE_STATIC);
	std::string out = "none";
	if (sqlite3_step(s) == SQLITE_ROW)
		out.assign(static_cast<const char *>(sqlite3_column_blob(s, 0)),
		           static_cast<std::size_t>(sqlite3_column_bytes(s, 0)));
	sqlite3_finalize(s);
	sqlite3_close(db);
	return out;
}

// The digest the primary's plugin keeps for a row of `server` and
// `max_age` alone: its cells as PostgreSQL hands them (text, bigint).
std::string primary_digest(const std::string &domain, const std::string &server,
                           std::optional<std::int64_t> max_age = std::nullopt)
{
	mxd::plugin::Row cells;
	cells[column("server")] = {mxd::plugin::Cell::text, server};
	if (max_age)
		cells[column("max_age")] = {mxd::plugin::Cell::integer, {}, *max_age};
	return mxd::plugin::row_digest(domain, cells);
}

follow::Changes changes(std::int64_t seq, std::vector<std::pair<std::string, std::optional<follow::Row>>> rows)
{
	follow::Changes c;
	c.head.store_id = "store-1";
	c.head.max_seq = seq;
	c.rows = std::move(rows);
	return c;
}

} // namespace

TEST_CASE("copy: each exact name is rendered with the row, as the plugin accepts it",
          "[follow][rendering]")
{
	TempDir dir;
	const std::string path = dir.file("copy.db");
	follow::RenderWith with;
	with.defaults = json{{"max_age", 900}};
	const std::string fp = mxd::rendering::fingerprint(with.defaults, with.policy);
	{
		follow::Build build(path, "host=primary", with);
		build.add(row("example.org", "matrix.example.org:443"));
		build.add(row("*.example.net", "matrix.example.net:443"));
		build.add(row("bad.example", "not a server name!"));
		build.add(row("short.example", "matrix.short.example:443", "600"));
		CHECK(build.rows() == 4);
		CHECK(build.rendered() == 2);
		build.install({"store-1", 10, 0});
	}
	CHECK(count(path, "SELECT count(*) FROM renderings") == 2);
	// The integer column bound as an integer: the row the plugin digests.
	CHECK(served(path, "short.example", fp).find("max-age=600") != std::string::npos);
	CHECK(served(path, "example.org", fp).find("matrix.example.org:443") != std::string::npos);
	// Another fingerprint (another [defaults] in the responder): full path.
	CHECK(served(path, "example.org", mxd::rendering::fingerprint(json::object(), with.policy)) ==
	      "record");
	CHECK(served(path, "*.example.net", fp) == "record");
	CHECK(served(path, "bad.example", fp) == "record");

	const follow::Copy copy(path, with);
	SECTION("an update is rendered anew in its transaction, a removal drops it")
	{
		copy.apply(changes(11, {{"example.org", row("example.org", "matrix2.example.org:8448")},
		                        {"new.example", row("new.example", "matrix.new.example:443")}}),
		           "");
		CHECK(served(path, "example.org", fp).find("matrix2.example.org:8448") != std::string::npos);
		CHECK(served(path, "new.example", fp).find("matrix.new.example:443") != std::string::npos);
		copy.apply(changes(12, {{"example.org", std::nullopt}}), "");
		CHECK(served(path, "example.org", fp) == "none");
		CHECK(count(path, "SELECT count(*) FROM renderings WHERE domain = 'example.org'") == 0);
		// A good record turned bad loses the rendering it had.
		copy.apply(changes(13, {{"new.example", row("new.example", "not a server name!")}}), "");
		CHECK(served(path, "new.example", fp) == "record");
		CHECK(count(path, "SELECT count(*) FROM renderings") == 1);
	}
	SECTION("the primary's rendering is taken for this fingerprint and the row as the copy holds it")
	{
		const auto offered = [&](follow::Row r, std::string fingerprint, std::string digest) {
			r.offered = follow::Offered{std::move(fingerprint), std::move(digest), "PRIMARY:" + r.domain};
			return r;
		};
		const auto applied = copy.apply(
			changes(11, {{"a.example", offered(row("a.example", "m.a.example:443", "600"), fp,
			                                     primary_digest("a.example", "m.a.example:443", 600))},
			             // Another fingerprint: rendered here.
			             {"b.example", offered(row("b.example", "m.b.example:443"), "f2-other",
			                                     primary_digest("b.example", "m.b.example:443"))},
			             // The digest of another row (an older one): rendered here.
			             {"c.example", offered(row("c.example", "m.c.example:443"), fp,
			                                     primary_digest("c.example", "old.c.example:443"))},
			             // Another domain's digest of the same columns: rendered here.
			             {"d.example", offered(row("d.example", "m.d.example:443"), fp,
			                                     primary_digest("e.example", "m.d.example:443"))},
			             // A wildcard gets none, offered or not.
			             {"*.w.example", offered(row("*.w.example", "m.w.example:443"), fp,
			                                       primary_digest("*.w.example", "m.w.example:443"))}}),
			"");
		CHECK(applied.taken == 1);
		CHECK(applied.rendered == 3);
		CHECK(kept(path, "a.example") == "PRIMARY:a.example");
		for (const char *key : {"b.example", "c.example", "d.example"}) {
			INFO(key);
			CHECK(served(path, key, fp).find(std::string("m.") + key[0]) != std::string::npos);
		}
		CHECK(kept(path, "*.w.example") == "none");
		// Offered again for the same row: what the copy keeps holds already.
		const auto again = copy.apply(
			changes(12, {{"a.example", offered(row("a.example", "m.a.example:443", "600"), fp,
			                                     primary_digest("a.example", "m.a.example:443", 600))}}),
			"");
		CHECK(again.taken == 0);
		CHECK(again.rendered == 0);
		// And in a full copy.
		const std::string fresh = dir.file("fresh.db");
		follow::Build build(fresh, "host=primary", with);
		build.add(offered(row("a.example", "m.a.example:443", "600"), fp,
		                  primary_digest("a.example", "m.a.example:443", 600)));
		build.add(offered(row("b.example", "m.b.example:443"), "f2-other",
		                  primary_digest("b.example", "m.b.example:443")));
		CHECK(build.taken() == 1);
		CHECK(build.rendered() == 1);
		build.install({"store-1", 10, 0});
		CHECK(kept(fresh, "a.example") == "PRIMARY:a.example");
		CHECK(served(fresh, "b.example", fp).find("m.b.example:443") != std::string::npos);
	}
	SECTION("rendered again under other [defaults], in batches, only what lacks one")
	{
		copy.apply(changes(11, {{"a.example", row("a.example", "matrix.a.example:443")},
		                        {"b.example", row("b.example", "matrix.b.example:443")},
		                        {"c.example", row("c.example", "matrix.c.example:443")}}),
		           "");
		follow::RenderWith other;
		other.defaults = json{{"max_age", 1200}};
		const std::string fp2 = mxd::rendering::fingerprint(other.defaults, other.policy);
		REQUIRE(fp2 != fp);
		const follow::Copy again(path, other);
		// Paused before its second batch (a notification, say), then gone
		// on with from where it stopped.
		int asked = 0;
		std::string after;
		const follow::CatchUp first = again.render_missing(2, [&] { return ++asked > 1; }, after);
		CHECK_FALSE(first.finished);
		CHECK(first.rendered == 2);
		CHECK(after == "b.example");
		CHECK(served(path, "a.example", fp2) != "record");
		CHECK(served(path, "c.example", fp2) == "record");
		asked = 0;
		const follow::CatchUp rest = again.render_missing(2, [&] { return ++asked > 100; }, after);
		CHECK(rest.finished);
		CHECK(rest.rendered == 3); // c., example.org, short.; never the wildcard
		CHECK(rest.refused == 1);  // bad.example
		CHECK(asked == 3);         // bad. and c., example.org and short., then none left
		for (const char *key : {"example.org", "a.example", "b.example", "c.example"}) {
			INFO(key);
			CHECK(served(path, key, fp2) != "record");
			CHECK(served(path, key, fp) == "record");
		}
		// Nothing lacks one now: nothing is written.
		after.clear();
		const follow::CatchUp twice = again.render_missing(1000, [] { return false; }, after);
		CHECK(twice.rendered == 0);
		CHECK(twice.finished);
		// A stop asked for before the first batch renders nothing.
		after.clear();
		const follow::CatchUp stopped = copy.render_missing(1000, [] { return true; }, after);
		CHECK(stopped.rendered == 0);
		CHECK_FALSE(stopped.finished);
		CHECK(served(path, "a.example", fp) == "record");
	}
}
