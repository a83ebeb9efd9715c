#include "sqlite_statement.hpp"

#include <SQLiteCpp/Exception.h>

#include <climits>
#include <utility>

namespace mxd::sqlite {

Statement::Statement(sqlite3 *db, const std::string &sql) : db_(db)
{
	const int rc = sqlite3_prepare_v3(db, sql.c_str(), static_cast<int>(sql.size() + 1),
	                                  SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr);
	if (rc != SQLITE_OK) {
		sqlite3_finalize(stmt_); // null after a failure, as sqlite3 documents; harmless
		stmt_ = nullptr;
		fail(rc);
	}
}

Statement::~Statement()
{
	sqlite3_finalize(stmt_);
}

Statement::Statement(Statement &&other) noexcept
    : db_(std::exchange(other.db_, nullptr)), stmt_(std::exchange(other.stmt_, nullptr))
{
}

Statement &Statement::operator=(Statement &&other) noexcept
{
	if (this != &other) {
		sqlite3_finalize(stmt_);
		db_ = std::exchange(other.db_, nullptr);
		stmt_ = std::exchange(other.stmt_, nullptr);
	}
	return *this;
}

void Statement::fail(int rc) const
{
	throw SQLite::Exception(db_, rc);
}

void Statement::bind_static(int i, std::string_view text)
{
	if (text.size() > static_cast<std::size_t>(INT_MAX))
		throw SQLite::Exception("string or blob too big", SQLITE_TOOBIG);
	if (const int rc = sqlite3_bind_text(stmt_, i, text.data(), static_cast<int>(text.size()),
	                                     SQLITE_STATIC);
	    rc != SQLITE_OK)
		fail(rc);
}

void Statement::bind(int i, std::int64_t value)
{
	if (const int rc = sqlite3_bind_int64(stmt_, i, value); rc != SQLITE_OK)
		fail(rc);
}

bool Statement::step()
{
	const int rc = sqlite3_step(stmt_);
	if (rc == SQLITE_ROW)
		return true;
	if (rc == SQLITE_DONE)
		return false;
	fail(rc);
}

void Statement::reset() noexcept
{
	sqlite3_reset(stmt_);
}

} // namespace mxd::sqlite
