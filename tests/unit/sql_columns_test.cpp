// The SQL plugins' column list and the record of a row
// (src/plugin/sql_columns.cpp), checked as a hand-edited row is.
#include "plugin/sql_columns.hpp"

#include "plugin/plugin_strings.hpp"

#include <catch2/catch.hpp>

using mxd::plugin::Cell;
using mxd::plugin::Row;

namespace {

std::string refusal(const Row &row, const std::string &domain = "example.org")
{
	try {
		mxd::plugin::record_of(row, "db", "/x.db", domain);
	} catch (const mxd::plugin::StatusError &e) {
		CHECK(e.status() == MXD_ERROR);
		return e.what();
	}
	return "(accepted)";
}

} // namespace

TEST_CASE("sql columns: the lists every statement names", "[sql_columns]")
{
	CHECK(mxd::plugin::column_list() ==
	      "server, client, client_extra, support, policy_server, max_age, note");
	CHECK(mxd::plugin::column_list("d.").starts_with("d.server, d.client, d.client_extra"));
	CHECK(mxd::plugin::column_updates().starts_with("server = excluded.server, client = excluded.client"));
}

TEST_CASE("sql columns: a row's record", "[sql_columns]")
{
	Row row;
	CHECK(mxd::plugin::record_of(row, "db", "/x.db", "example.org") == "{}");
	row[0] = {Cell::text, "matrix.example.org:443"};
	row[3] = {Cell::text, R"({"support_page":"https://example.org/"})"};
	row[5] = {Cell::integer, {}, 600};
	CHECK(mxd::plugin::record_of(row, "db", "/x.db", "example.org") ==
	      R"({"max_age":600,"server":"matrix.example.org:443","support":{"support_page":"https://example.org/"}})");
}

TEST_CASE("sql columns: a cell of the wrong kind names domain and column", "[sql_columns]")
{
	Row row;
	row[0] = {Cell::integer, {}, 1};
	CHECK(refusal(row) == "db: /x.db: example.org: server: is not text");
	row[0] = {};
	row[2] = {Cell::other};
	CHECK(refusal(row) == "db: /x.db: example.org: client_extra: is not JSON text");
	row[2] = {Cell::text, "[1]"};
	CHECK(refusal(row) == "db: /x.db: example.org: client_extra: is not a JSON object");
	row[2] = {};
	row[5] = {Cell::text, "600"};
	CHECK(refusal(row, "line\nbreak.example") == "db: /x.db: line\\x0abreak.example: max_age: is not an integer");
}
