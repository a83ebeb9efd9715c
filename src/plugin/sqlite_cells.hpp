// A row's cells as the SQLite store's readers take them, through
// sqlite3's own calls: the sqlite plugin's lookups (backends/sqlite), its
// writer keeping a rendering, and mxdelegate-follow rendering its copy
// (src/follow/copy_renderings) all read here, so that the digest one of
// them keeps is the digest of the cells the others read.  Header only, for
// the two that link libsqlite3.
#pragma once

#include "plugin/sql_columns.hpp"

#include <sqlite3.h>

#include <cstddef>
#include <optional>
#include <string_view>

namespace mxd::plugin {

// The record's cells of the row `stmt` is on, its columns starting at
// `first`: text (its bytes as stored), integer, NULL, or other (a real or
// a blob, which no column holds); valid until the statement steps or
// resets.
inline Row row_of(sqlite3_stmt *stmt, int first = 0)
{
	Row row;
	for (int at = first; Cell &cell : row) {
		switch (sqlite3_column_type(stmt, at)) {
		case SQLITE_TEXT:
			// column_text before column_bytes: the length is of the form
			// the text was last asked in (sqlite3's docs).
			cell.kind = Cell::text;
			cell.chars = {reinterpret_cast<const char *>(sqlite3_column_text(stmt, at)),
			              static_cast<std::size_t>(sqlite3_column_bytes(stmt, at))};
			break;
		case SQLITE_INTEGER:
			cell.kind = Cell::integer;
			cell.number = sqlite3_column_int64(stmt, at);
			break;
		case SQLITE_NULL:
			break;
		default:
			cell.kind = Cell::other;
			break;
		}
		at++;
	}
	return row;
}

// A cell's bytes, text or blob alike (a text's unconverted), or nullopt
// for NULL; valid until the statement steps or resets.
inline std::optional<std::string_view> bytes_of(sqlite3_stmt *stmt, int i)
{
	if (sqlite3_column_type(stmt, i) == SQLITE_NULL)
		return std::nullopt;
	// column_blob before column_bytes (sqlite3's docs); for a text cell the
	// text's bytes as stored.  An empty blob is a null pointer.
	const void *p = sqlite3_column_blob(stmt, i);
	const auto n = static_cast<std::size_t>(sqlite3_column_bytes(stmt, i));
	return p ? std::string_view(static_cast<const char *>(p), n) : std::string_view();
}

} // namespace mxd::plugin
