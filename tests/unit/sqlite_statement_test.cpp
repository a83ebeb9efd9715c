// The sqlite plugin's own statements (backends/sqlite/sqlite_statement.cpp),
// against an in-memory database.
#include "backends/sqlite/sqlite_statement.hpp"

#include <SQLiteCpp/Exception.h>
#include "sqlite_memory.hpp"

#include <catch2/catch.hpp>
#include <sqlite3.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>

using mxd::sqlite::Statement;

namespace {

using Db = mxd::test::MemoryDb;

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
