// The record's fields as the SQL plugins store them: one column each, in
// this order in every statement that names them.  The columns are the
// stored fields of core/record_fields.hpp, so a field added there is added
// here by itself (each schema.sql still needs its column).
#pragma once

#include "core/record_fields.hpp"

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace mxd::plugin {

struct Column {
	// For SQL text and libpq, hence a C string: the table's names are string
	// literals, so their .data() ends in a NUL.
	const char *name;
	// text: a JSON string; object: a JSON object as its text; integer;
	// value: a JSON string or object as its text.
	enum Type { text, object, integer, value } type;
	// The generation of columns that added it (record::FieldInfo::since).
	unsigned char since;
};

// The generation of the newest columns: what the stores' current schemas
// hold (SQLite 2, PostgreSQL 3); a store of an older schema lacks the
// columns added since its own generation.
inline constexpr unsigned latest_columns = 1;

inline constexpr auto record_columns = [] {
	std::array<Column, record::stored_fields.size()> out{};
	for (std::size_t i = 0; i < out.size(); i++) {
		const record::FieldInfo &f = record::stored_fields[i];
		out[i] = {f.name.data(),
		          f.store == record::Store::integer    ? Column::integer
		          : f.store == record::Store::json     ? Column::object
		          : f.store == record::Store::json_any ? Column::value
		                                               : Column::text,
		          f.since};
	}
	return out;
}();

// "server, client, ...", each name after `prefix` ("excluded." or "d.").
// For a SELECT from a store of an older generation of columns, a column it
// lacks is NULL, so that every row has the same cells whatever the schema.
inline std::string column_list(std::string_view prefix = {}, unsigned generation = latest_columns)
{
	std::string out;
	for (const Column &c : record_columns) {
		out += out.empty() ? "" : ", ";
		if (c.since > generation)
			out.append("NULL");
		else
			out.append(prefix).append(c.name);
	}
	return out;
}

// "server = excluded.server, ...": an upsert's replacement of every column.
inline std::string column_updates()
{
	std::string out;
	for (const Column &c : record_columns)
		(out += out.empty() ? "" : ", ").append(c.name).append(" = excluded.").append(c.name);
	return out;
}

// One cell of a row as the store gave it.
struct Cell {
	enum Kind { null, text, integer, other } kind = null;
	std::string_view chars{}; // kind text
	std::int64_t number = 0; // kind integer
};

using Row = std::array<Cell, record_columns.size()>;

// The record of a row, as the JSON text lookup() hands out.  The cells are
// checked again, since a row may have been written by hand: a refusal is a
// StatusError "PLUGIN: STORE: DOMAIN: COLUMN: problem" (made only then: this
// is on every lookup's path).
std::string record_of(const Row &row, std::string_view plugin, std::string_view store,
                      std::string_view domain);

// The digest of a row that a store keeps beside a rendering (backend.h,
// ABI 1.3): XXH3-128 of the domain and every cell, each with its kind and
// length, so that a NULL, an empty text and a text that moved between
// columns all differ.  16 bytes.  Not cryptographic: it notices a row
// changed around the admin tool, not a forger (HACKING.md, the trust
// boundary).
std::string row_digest(std::string_view domain, const Row &row);

// The rowid under which a SQL store keeps a domain's rendering: XXH3-64 of
// the domain, as SQLite's signed integer.
std::int64_t domain_id(std::string_view domain);

} // namespace mxd::plugin
