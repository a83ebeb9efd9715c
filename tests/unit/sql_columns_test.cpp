// The SQL plugins' column list and the record of a row
// (src/plugin/sql_columns.cpp), checked as a hand-edited row is.
#include "plugin/sql_columns.hpp"

#include "core/bounded_json.hpp"
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
	      "server, client, client_extra, support, policy_server, max_age, redirect, "
	      "redirect_status, note");
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

TEST_CASE("sql columns: a JSON cell past the core's bounds is handed on unbuilt", "[sql_columns]")
{
	// 100,000 levels: building this value, let alone dumping it, would
	// recurse past a worker's stack.  The text goes through as it is, for
	// the core's bounded parse to refuse by name.
	const std::string deep = "{\"x\":" + std::string(99999, '[') + std::string(99999, ']') + "}";
	Row row;
	row[0] = {Cell::text, "matrix.example.org:443"};
	row[2] = {Cell::text, deep};
	const std::string text = mxd::plugin::record_of(row, "db", "/x.db", "example.org");
	CHECK(text == R"({"server":"matrix.example.org:443","client_extra":)" + deep + "}");
	CHECK(mxd::bounded_json::parse(text).outcome == mxd::bounded_json::Outcome::too_big);

	// Deep but small: refused for its depth.
	const std::string deep1000 = "{\"x\":" + std::string(999, '[') + std::string(999, ']') + "}";
	row[2] = {Cell::text, deep1000};
	CHECK(mxd::bounded_json::parse(mxd::plugin::record_of(row, "db", "/x.db", "example.org")).outcome ==
	      mxd::bounded_json::Outcome::too_deep);

	// Alone in its row, and too big rather than too deep.
	const std::string big = R"({"org.example.k":")" + std::string(70000, 'a') + R"("})";
	Row alone;
	alone[3] = {Cell::text, big};
	const std::string text2 = mxd::plugin::record_of(alone, "db", "/x.db", "example.org");
	CHECK(text2 == R"({"support":)" + big + "}");
	CHECK(mxd::bounded_json::parse(text2).outcome == mxd::bounded_json::Outcome::too_big);

	// Within the bounds, a cell is parsed and checked as before.
	const std::string within = "{\"x\":" + std::string(60, '[') + std::string(60, ']') + "}";
	row[2] = {Cell::text, within};
	CHECK(nlohmann::json::parse(mxd::plugin::record_of(row, "db", "/x.db", "example.org"))
	          .contains("client_extra"));
}

TEST_CASE("sql columns: a store of an older generation selects NULL for newer columns",
          "[sql_columns]")
{
	CHECK(mxd::plugin::column_list("d.", 0) ==
	      "d.server, d.client, d.client_extra, d.support, d.policy_server, d.max_age, NULL, NULL, "
	      "d.note");
	CHECK(mxd::plugin::column_list("", mxd::plugin::latest_columns) == mxd::plugin::column_list());
}

TEST_CASE("sql columns: redirect is a JSON string or object", "[sql_columns]")
{
	Row row;
	row[6] = {Cell::text, R"("https://matrix.other.example")"};
	row[7] = {Cell::integer, {}, 308};
	CHECK(mxd::plugin::record_of(row, "db", "/x.db", "example.org") ==
	      R"({"redirect":"https://matrix.other.example","redirect_status":308})");
	row[6] = {Cell::text, R"({"client":"https://other.example/c"})"};
	CHECK(mxd::plugin::record_of(row, "db", "/x.db", "example.org") ==
	      R"({"redirect":{"client":"https://other.example/c"},"redirect_status":308})");
	// Text that is not JSON: a URL stored by hand without its quotes.
	row[6] = {Cell::text, "https://matrix.other.example"};
	CHECK(refusal(row) == "db: /x.db: example.org: redirect: is not a JSON string or object");
	row[6] = {Cell::text, "[1]"};
	CHECK(refusal(row) == "db: /x.db: example.org: redirect: is not a JSON string or object");
}

TEST_CASE("sql columns: a row's digest is the one stores already keep", "[sql_columns]")
{
	// Digests kept beside renderings by every store made so far: one taken
	// otherwise would make each rendering stale.  These were taken before
	// the digest's buffer moved to the stack; the last row (a 3,000-byte
	// cell) takes the heap path.
	const auto hex = [](const std::string &digest) {
		std::string out;
		for (const unsigned char c : digest) {
			out += "0123456789abcdef"[c >> 4];
			out += "0123456789abcdef"[c & 15];
		}
		return out;
	};
	Row row;
	CHECK(hex(mxd::plugin::row_digest("example.org", row)) == "d43340dec32313015a2f6b00593e011e");
	row[0] = {Cell::text, "matrix.example.org:443"};
	row[2] = {Cell::text, ""};
	row[3] = {Cell::other};
	row[5] = {Cell::integer, {}, -600};
	CHECK(hex(mxd::plugin::row_digest("example.org", row)) == "613982f6412b4377dd2518af65a0a19c");
	const std::string big(3000, 'x');
	row[1] = {Cell::text, big};
	CHECK(hex(mxd::plugin::row_digest("example.org", row)) == "22781ca98d6970589e771814deaf440d");
	// A NULL, an empty text and a text moved to another column all differ.
	Row a, b, c;
	b[0] = {Cell::text, ""};
	c[1] = {Cell::text, ""};
	CHECK(mxd::plugin::row_digest("x", a) != mxd::plugin::row_digest("x", b));
	CHECK(mxd::plugin::row_digest("x", b) != mxd::plugin::row_digest("x", c));
	CHECK(mxd::plugin::row_digest("x", a) != mxd::plugin::row_digest("y", a));
}
