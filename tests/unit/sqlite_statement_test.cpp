// The sqlite plugin's own statements and cell reading
// (backends/sqlite/sqlite_statement.cpp), against an in-memory database.
#include "backends/sqlite/sqlite_statement.hpp"

#include <SQLiteCpp/Exception.h>
#include <catch2/catch.hpp>
#include <sqlite3.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>

using mxd::plugin::Cell;
using mxd::sqlite::Statement;

namespace {

struct Db {
	sqlite3 *handle = nullptr;
	Db()
	{
		REQUIRE(sqlite3_open(":memory:", &handle) == SQLITE_OK);
		exec("CREATE TABLE t (k TEXT PRIMARY KEY, a, b, c, d, e, f, g, h, i, j, blob_col)");
	}
	~Db() { CHECK(sqlite3_close(handle) == SQLITE_OK); } // SQLITE_BUSY: a statement outlived it
	Db(const Db &) = delete;
	Db &operator=(const Db &) = delete;
	void exec(const char *sql) const { REQUIRE(sqlite3_exec(handle, sql, nullptr, nullptr, nullptr) == SQLITE_OK); }
};

std::string failure(const std::function<void()> &f, int *code = nullptr)
{
	try {
		f();
	} catch (const SQLite::Exception &e) {
		if (code)
			*code = e.getErrorCode();
		return e.what();
	}
	return "(no failure)";
}

} // namespace

TEST_CASE("sqlite statement: prepared, stepped, reset, finalized", "[sqlite_statement]")
{
	Db db;
	db.exec("INSERT INTO t (k, a) VALUES ('one', 'x'), ('two', 'y')");
	{
		Statement s(db.handle, "SELECT a FROM t WHERE k = ?1");
		CHECK(s.prepared());
		const std::string key = "two";
		s.bind_static(1, key);
		REQUIRE(s.step());
		CHECK(std::string(reinterpret_cast<const char *>(sqlite3_column_text(s.get(), 0))) == "y");
		CHECK_FALSE(s.step());
		s.reset();
		s.bind_static(1, "none");
		CHECK_FALSE(s.step());
		s.reset();

		// Moved: the one finalize goes with the new owner.
		Statement moved(std::move(s));
		CHECK_FALSE(s.prepared());
		CHECK(moved.prepared());
		Statement other;
		CHECK_FALSE(other.prepared());
		other.reset(); // harmless unprepared, as after a busy step
		other = std::move(moved);
		CHECK(other.prepared());
		other.bind_static(1, "one");
		CHECK(other.step());
		other.reset();
	}
	// ~Db checks that every statement was finalized: close fails otherwise.
}

TEST_CASE("sqlite statement: failures are SQLite's own exceptions, with its message", "[sqlite_statement]")
{
	Db db;
	int code = 0;
	CHECK(failure([&] { Statement(db.handle, "SELECT absent FROM t"); }, &code) ==
	      "no such column: absent");
	CHECK(code == SQLITE_ERROR);
	CHECK(failure([&] { Statement(db.handle, "SELECT * FROM missing"); }) == "no such table: missing");

	Statement s(db.handle, "SELECT ?1");
	CHECK(failure([&] { s.bind(2, std::int64_t{1}); }, &code) == "column index out of range");
	CHECK(code == SQLITE_RANGE);

	// A failing step: the constraint names itself.
	db.exec("INSERT INTO t (k) VALUES ('one')");
	Statement insert(db.handle, "INSERT INTO t (k) VALUES ('one')");
	CHECK(failure([&] { insert.step(); }, &code) == "UNIQUE constraint failed: t.k");
	CHECK(code == SQLITE_CONSTRAINT);
	insert.reset();
}

TEST_CASE("sqlite statement: a row's cells as the record reads them", "[sqlite_statement]")
{
	Db db;
	// a: text, b: integer, c: NULL, d: real, e: blob, f: empty text,
	// g: text with a NUL inside, h: a negative integer; the rest NULL.
	db.exec("INSERT INTO t (k, a, b, c, d, e, f, g, h) VALUES "
	        "('x', 'matrix.example.org:443', 600, NULL, 1.5, x'00ff', '', 'a' || char(0) || 'b', -7)");
	Statement s(db.handle, "SELECT k, a, b, c, d, e, f, g, h, i FROM t");
	REQUIRE(s.step());
	const mxd::plugin::Row row = mxd::sqlite::row_of(s.get(), 1);
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
	const mxd::plugin::Row from_key = mxd::sqlite::row_of(s.get(), 0);
	CHECK(from_key[0].chars == "x");
	CHECK(from_key[1].chars == "matrix.example.org:443");
	s.reset();
}

TEST_CASE("sqlite statement: a cell's bytes, text or blob, unconverted", "[sqlite_statement]")
{
	Db db;
	db.exec("INSERT INTO t (k, a, b, c, d, blob_col) VALUES "
	        "('x', 'fingerprint', x'00010203', NULL, x'', 42)");
	Statement s(db.handle, "SELECT a, b, c, d, blob_col FROM t");
	REQUIRE(s.step());
	CHECK(mxd::sqlite::bytes_of(s.get(), 0) == std::optional<std::string_view>("fingerprint"));
	CHECK(mxd::sqlite::bytes_of(s.get(), 1) ==
	      std::optional<std::string_view>(std::string_view("\0\1\2\3", 4)));
	CHECK_FALSE(mxd::sqlite::bytes_of(s.get(), 2).has_value());
	// An empty blob is no NULL: its bytes are none.
	REQUIRE(mxd::sqlite::bytes_of(s.get(), 3).has_value());
	CHECK(mxd::sqlite::bytes_of(s.get(), 3)->empty());
	// An integer cell read as bytes is its text, as sqlite3 converts it.
	CHECK(mxd::sqlite::bytes_of(s.get(), 4) == std::optional<std::string_view>("42"));
	s.reset();
}
