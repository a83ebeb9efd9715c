// The fields of a delegation record, declared once.  The admin tool's
// options, --unset, the export order, the SQL stores' columns and the
// "unknown field" message are derived from these two tables: a new field is
// a row in `fields`, its check a row in record.cpp's field_checks (the build
// fails without it) and, for an admin option, a row in `options`.  Header
// only and constexpr, so that a plugin can use it without linking anything.
#pragma once

#include "core/route.hpp"

#include <array>
#include <cstddef>
#include <string_view>

namespace mxd::record {

// The JSON type of a field's value.
// string_or_object: redirect, a base URL for every document or a table of
// one URL a document.
enum class Kind : unsigned char { string, object, integer, string_or_object };

// How a store keeps a field: a text column, an object as compact JSON text,
// an integer column, any JSON value as its text (a string keeps its quotes,
// so that the column tells the string form from the table), or not at all
// (the domain is the store's key).
enum class Store : unsigned char { none, text, json, integer, json_any };

// A set of documents, one bit per Document.
using Documents = unsigned;

constexpr Documents feeds(Document d)
{
	return 1u << static_cast<unsigned>(d);
}

inline constexpr Documents no_document = 0;
inline constexpr Documents every_document = (1u << document_count) - 1;

struct FieldInfo {
	std::string_view name; // the JSON key, the SQL column, the --unset name if stored
	Kind kind;
	Documents documents;   // what it is served in; max_age is every document's Cache-Control
	Store store;
	// The generation of the SQL stores' columns that added the field: 0 for
	// the first columns, 1 for redirect and redirect_status (SQLite schema
	// 2, PostgreSQL schema 3).  A store of an older schema has no such
	// column; the plugins read it as NULL there (sql_columns.hpp).
	unsigned char since = 0;
};

// In export order; validation checks and reports in this order too.
inline constexpr FieldInfo fields[] = {
	{"server", Kind::string, feeds(Document::server), Store::text},
	{"client", Kind::string, feeds(Document::client), Store::text},
	{"client_extra", Kind::object, feeds(Document::client), Store::json},
	{"support", Kind::object, feeds(Document::support), Store::json},
	{"policy_server", Kind::object, feeds(Document::policy_server), Store::json},
	{"max_age", Kind::integer, every_document, Store::integer},
	// Every document, or those named in its table, answered by a redirect
	// instead of a body: no content field may feed a redirected document.
	{"redirect", Kind::string_or_object, every_document, Store::json_any, 1},
	{"redirect_status", Kind::integer, every_document, Store::integer, 1},
	{"domain", Kind::string, no_document, Store::none},
	{"note", Kind::string, no_document, Store::text},
};

inline constexpr std::size_t field_count = std::size(fields);

// The field named `name`, or nullptr.
constexpr const FieldInfo *find_field(std::string_view name)
{
	for (const FieldInfo &f : fields)
		if (f.name == name)
			return &f;
	return nullptr;
}

inline constexpr std::size_t stored_count = [] {
	std::size_t n = 0;
	for (const FieldInfo &f : fields)
		n += f.store != Store::none;
	return n;
}();

// The fields a store keeps, in export order: an SQL store's columns, each
// bound and read back as its `store` says (text, JSON text of an object,
// integer).
inline constexpr std::array<FieldInfo, stored_count> stored_fields = [] {
	std::array<FieldInfo, stored_count> out{};
	std::size_t i = 0;
	for (const FieldInfo &f : fields)
		if (f.store != Store::none)
			out[i++] = f;
	return out;
}();

// What an admin option's argument is.
enum class Input : unsigned char {
	text,    // the string as given
	integer, // a decimal integer; its range is validation's to judge
	member,  // KEY=JSON: the member KEY of the field, any JSON value
	contact, // role=ROLE,matrix_id=MXID,email=ADDRESS: one more contact
};

// An option of "mxdelegatectl add" and "set", writing a field or a part of
// one.  With a path, the option replaces the member path[0] of the field
// (an object) with its value wrapped in the rest of the path:
// --identity-server writes client_extra."m.identity_server" as
// {"base_url": URL}.
struct OptionInfo {
	std::string_view option;  // without "--"
	Input input;
	std::string_view metavar; // the argument in the usage text
	std::string_view field;
	std::array<std::string_view, 2> path; // empty names end it
	// The --unset name removing what the option writes (path[0]), or ""
	// when it is the field's own name.  For a member option, the name
	// shown: FIELD.KEY.
	std::string_view unset;
};

// In the order of the usage text.
inline constexpr OptionInfo options[] = {
	{"server", Input::text, "HOST[:PORT]", "server", {}, ""},
	{"client", Input::text, "URL", "client", {}, ""},
	{"identity-server", Input::text, "URL", "client_extra", {"m.identity_server", "base_url"},
	 "identity-server"},
	{"extra", Input::member, "KEY=JSON", "client_extra", {}, "client_extra.KEY"},
	{"support-page", Input::text, "URL", "support", {"support_page"}, "support-page"},
	{"contact", Input::contact, "role=ROLE,matrix_id=MXID,email=ADDRESS", "support", {"contacts"},
	 "contacts"},
	{"policy-server-key", Input::text, "KEY", "policy_server", {"ed25519"}, "policy-server-key"},
	{"max-age", Input::integer, "SECONDS", "max_age", {}, ""},
	{"redirect", Input::text, "URL", "redirect", {}, ""},
	{"redirect-server", Input::text, "URL", "redirect", {"server"}, "redirect-server"},
	{"redirect-client", Input::text, "URL", "redirect", {"client"}, "redirect-client"},
	{"redirect-support", Input::text, "URL", "redirect", {"support"}, "redirect-support"},
	{"redirect-policy-server", Input::text, "URL", "redirect", {"policy_server"},
	 "redirect-policy-server"},
	{"redirect-status", Input::integer, "CODE", "redirect_status", {}, ""},
	{"note", Input::text, "TEXT", "note", {}, ""},
};

// Compared by name, not through find_field(): g++ with -fsanitize=undefined
// does not take a comparison of addresses as a constant expression.
static_assert(
	[] {
		for (const OptionInfo &o : options) {
			bool stored = false;
			for (const FieldInfo &f : fields)
				stored = stored || (f.name == o.field && f.store != Store::none);
			if (!stored)
				return false;
		}
		return true;
	}(),
	"an option writes a field that is not stored");

// The option named `name` (without "--"), or nullptr.
constexpr const OptionInfo *find_option(std::string_view name)
{
	for (const OptionInfo &o : options)
		if (o.option == name)
			return &o;
	return nullptr;
}

} // namespace mxd::record
