// The sqlite plugin's hot statements as sqlite3's own: a lookup reads a
// dozen cells a miss, and SQLiteCpp's Column (a copy of a shared_ptr, two
// atomic operations, for each cell) cost more than the reading itself.
// SQLiteCpp 3.2.1 keeps a Statement's sqlite3_stmt private, so the
// statements that read records are prepared here, on the connection's
// handle, and their cells read with plugin/sqlite_cells.hpp.
#pragma once

#include <sqlite3.h>

#include <cstdint>
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

	// `text` is not copied (SQLITE_STATIC): it must outlive every step
	// until the parameter is bound anew.
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

} // namespace mxd::sqlite
