// A row's cells as the SQLite store's readers take them
// (src/plugin/sqlite_cells.hpp), against an in-memory database.
#include "plugin/sqlite_cells.hpp"

#include "sqlite_memory.hpp"

#include <catch2/catch.hpp>
#include <sqlite3.h>

#include <optional>
#include <string>
#include <string_view>

using mxd::plugin::Cell;

namespace {

using Db = mxd::test::MemoryDb;

struct Stmt {
	sqlite3_stmt *stmt = nullptr;
	Stmt(sqlite3 *db, const char *sql) { REQUIRE(sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr) == SQLITE_OK); }
	~Stmt() { sqlite3_finalize(stmt); }
	Stmt(const Stmt &) = delete;
	Stmt &operator=(const Stmt &) = delete;
	sqlite3_stmt *get() const { return stmt; }
};

} // namespace

TEST_CASE("sqlite cells: a row's cells as the record reads them", "[sqlite_cells]")
{
	Db db;
	// a: text, b: integer, c: NULL, d: real, e: blob, f: empty text,
	// g: text with a NUL inside, h: a negative integer; the rest NULL.
	db.exec("INSERT INTO t (k, a, b, c, d, e, f, g, h) VALUES "
	        "('x', 'matrix.example.org:443', 600, NULL, 1.5, x'00ff', '', 'a' || char(0) || 'b', -7)");
	Stmt s(db.handle, "SELECT k, a, b, c, d, e, f, g, h, i FROM t");
	REQUIRE(sqlite3_step(s.get()) == SQLITE_ROW);
	const mxd::plugin::Row row = mxd::plugin::row_of(s.get(), 1);
	CHECK(row[0].kind == Cell::text);
	CHECK(row[0].chars == "matrix.example.org:443");
	CHECK(row[1].kind == Cell::integer);
	CHECK(row[1].number == 600);
	CHECK(row[2].kind == Cell::null);
	CHECK(row[3].kind == Cell::other); // a real: no column holds one
	CHECK(row[4].kind == Cell::other); // a blob, likewise
	CHECK(row[5].kind == Cell::text);
	CHECK(row[5].chars.empty());
	CHECK(row[6].kind == Cell::text);
	CHECK(row[6].chars == std::string_view("a\0b", 3)); // the bytes as stored, NUL and all
	CHECK(row[7].kind == Cell::integer);
	CHECK(row[7].number == -7);
	CHECK(row[8].kind == Cell::null);

	// The columns start where asked: from 0, the key is the first cell.
	const mxd::plugin::Row from_key = mxd::plugin::row_of(s.get(), 0);
	CHECK(from_key[0].chars == "x");
	CHECK(from_key[1].chars == "matrix.example.org:443");
}

TEST_CASE("sqlite cells: a cell's bytes, text or blob, unconverted", "[sqlite_cells]")
{
	Db db;
	db.exec("INSERT INTO t (k, a, b, c, d, blob_col) VALUES "
	        "('x', 'fingerprint', x'00010203', NULL, x'', 42)");
	Stmt s(db.handle, "SELECT a, b, c, d, blob_col FROM t");
	REQUIRE(sqlite3_step(s.get()) == SQLITE_ROW);
	CHECK(mxd::plugin::bytes_of(s.get(), 0) == std::optional<std::string_view>("fingerprint"));
	CHECK(mxd::plugin::bytes_of(s.get(), 1) ==
	      std::optional<std::string_view>(std::string_view("\0\1\2\3", 4)));
	CHECK_FALSE(mxd::plugin::bytes_of(s.get(), 2).has_value());
	// An empty blob is no NULL: its bytes are none.
	REQUIRE(mxd::plugin::bytes_of(s.get(), 3).has_value());
	CHECK(mxd::plugin::bytes_of(s.get(), 3)->empty());
	// An integer cell read as bytes is its text, as sqlite3 converts it.
	CHECK(mxd::plugin::bytes_of(s.get(), 4) == std::optional<std::string_view>("42"));
}
