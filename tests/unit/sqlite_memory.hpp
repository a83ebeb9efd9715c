// An in-memory SQLite database with the table the cell and statement tests
// read: a text key, ten columns of any type (a record's), and a blob.
#pragma once

#include <catch2/catch.hpp>
#include <sqlite3.h>

namespace mxd::test {

struct MemoryDb {
	sqlite3 *handle = nullptr;
	MemoryDb()
	{
		REQUIRE(sqlite3_open(":memory:", &handle) == SQLITE_OK);
		exec("CREATE TABLE t (k TEXT PRIMARY KEY, a, b, c, d, e, f, g, h, i, j, blob_col)");
	}
	// SQLITE_BUSY when a statement outlived the test: each must be
	// finalized first.
	~MemoryDb() { CHECK(sqlite3_close(handle) == SQLITE_OK); }
	MemoryDb(const MemoryDb &) = delete;
	MemoryDb &operator=(const MemoryDb &) = delete;
	void exec(const char *sql) const
	{
		REQUIRE(sqlite3_exec(handle, sql, nullptr, nullptr, nullptr) == SQLITE_OK);
	}
};

} // namespace mxd::test
