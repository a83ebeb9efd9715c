// The sqlite plugin's hot statements as sqlite3's own: a lookup reads a
// dozen cells a miss, and SQLiteCpp's Column (a copy of a shared_ptr, two
// atomic operations, for each cell) cost more than the reading itself.
// SQLiteCpp 3.2.1 keeps a Statement's sqlite3_stmt private, so the reader's
// statements are prepared here, on the connection's handle, and every cell
// a lookup reads is read through these.
#pragma once

#include "plugin/sql_columns.hpp"

#include <sqlite3.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mxd::sqlite {

// One prepared statement of a connection, finalized with this object,
// which must go before the connection does.  Failures throw
// SQLite::Exception as SQLiteCpp's own statements do (the connection's
// message, the code the call returned), so that the plugin names the path
// and tells a busy store from a broken one in one place.
class Statement {
public:
	// Not prepared: see prepared().
	Statement() = default;
	// SQLITE_PREPARE_PERSISTENT: kept for the connection's life, so that
	// SQLite does not take its memory from the lookaside meant for short
	// ones.
	Statement(sqlite3 *db, const std::string &sql);
	~Statement();
	Statement(Statement &&other) noexcept;
	Statement &operator=(Statement &&other) noexcept;
	Statement(const Statement &) = delete;
	Statement &operator=(const Statement &) = delete;

	bool prepared() const { return stmt_ != nullptr; }
	sqlite3_stmt *get() const { return stmt_; }

	// `text` is not copied: it must stay until the statement is reset.
	void bind_static(int i, std::string_view text);
	void bind(int i, std::int64_t value);
	// True on a row, false when there are no more.
	bool step();
	// Ends the step and lets the read transaction go.  Its result repeats
	// the last step's failure, which step() has thrown already.
	void reset() noexcept;

private:
	[[noreturn]] void fail(int rc) const;

	sqlite3 *db_ = nullptr;
	sqlite3_stmt *stmt_ = nullptr;
};

// The record's cells of the row `stmt` is on, its columns starting at
// `first`: text (its bytes as stored), integer, NULL, or other (a real or
// a blob, which no column holds); valid until the statement steps or
// resets.  The row digest is taken of these, by the writer when it keeps a
// rendering and by the reader before it hands one out, so both read here.
plugin::Row row_of(sqlite3_stmt *stmt, int first);

// A cell's bytes, text or blob alike (a text's unconverted), or nullopt
// for NULL; valid until the statement steps or resets.
std::optional<std::string_view> bytes_of(sqlite3_stmt *stmt, int i);

} // namespace mxd::sqlite
