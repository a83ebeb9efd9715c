#include "core/toml_json.hpp"

#include <catch2/catch.hpp>

#include <stdexcept>
#include <string>
#include <string_view>

using namespace std::string_view_literals;
using nlohmann::json;
using mxd::record::Path;

namespace {

toml::table parse(std::string_view text, std::string_view path = "cfg.toml")
{
	return toml::parse(text, path);
}

std::string position(const toml::node &node)
{
	return std::to_string(node.source().begin.line) + ":" +
	       std::to_string(node.source().begin.column);
}

} // namespace

TEST_CASE("to_json converts tables, arrays and scalars", "[toml_json]")
{
	const auto doc = parse(R"(
s = "caf\u00e9"
i = -42
big = 9223372036854775807
f = 1.5
t = true
empty = []
[sub]
list = [ 1, "two", { three = 3 }, [ false ] ]
inline = { a = { b = "c" } }
)");
	const json expected = {
		{"s", "caf\xc3\xa9"},
		{"i", -42},
		{"big", 9223372036854775807LL},
		{"f", 1.5},
		{"t", true},
		{"empty", json::array()},
		{"sub", {
			{"list", {1, "two", {{"three", 3}}, {false}}},
			{"inline", {{"a", {{"b", "c"}}}}},
		}},
	};
	const json got = mxd::toml_json::to_json(doc);
	CHECK(got == expected);
	CHECK(got["i"].is_number_integer());
	CHECK(got["f"].is_number_float());
	CHECK(got["big"].get<std::int64_t>() == 9223372036854775807LL);
}

TEST_CASE("to_json of a single value and of an empty table", "[toml_json]")
{
	const auto doc = parse("x = 'literal \\n'\n[t]\n");
	CHECK(mxd::toml_json::to_json(*doc.get("x")) == json("literal \\n"));
	CHECK(mxd::toml_json::to_json(*doc.get("t")) == json::object());
}

TEST_CASE("to_json refuses dates and times with their position", "[toml_json]")
{
	const char *cases[] = {
		"[a]\nwhen = 1979-05-27\n",
		"[a]\nwhen = 07:32:00\n",
		"[a]\nwhen = 1979-05-27T07:32:00Z\n",
		"[a]\nwhen = 1979-05-27T07:32:00\n",
	};
	for (const char *text : cases) {
		INFO(text);
		const auto doc = parse(text);
		try {
			(void)mxd::toml_json::to_json(doc);
			FAIL("no exception");
		} catch (const std::invalid_argument &e) {
			CHECK(std::string(e.what()) == "cfg.toml:2:8: a date or time has no JSON form");
		}
	}
}

TEST_CASE("to_json refuses inf and nan, which JSON cannot hold", "[toml_json]")
{
	for (const char *text : {"v = [ 1.0, inf ]", "v = -inf", "v = nan"}) {
		INFO(text);
		CHECK_THROWS_AS(mxd::toml_json::to_json(parse(text)), std::invalid_argument);
	}
	try {
		(void)mxd::toml_json::to_json(parse("v = [ 1.0, nan ]"));
		FAIL("no exception");
	} catch (const std::invalid_argument &e) {
		CHECK(std::string(e.what()) == "cfg.toml:1:12: inf and nan have no JSON form");
	}
}

TEST_CASE("locate finds the node of a record path", "[toml_json]")
{
	const auto doc = parse(R"([domains."example.org"]
server = "x"
[domains."example.org".client_extra]
"m.identity_server" = { base_url = "y" }
[domains."example.org".support]
contacts = [ { matrix_id = "@a:b" }, { role = "m.role.nope" } ]
)");
	const toml::node &domain = *doc.at_path("domains")["example.org"].node();

	CHECK(&mxd::toml_json::locate(domain, {}) == &domain);
	CHECK(position(mxd::toml_json::locate(domain, Path{"server"})) == "2:10");
	CHECK(position(mxd::toml_json::locate(domain,
	    Path{"client_extra", "m.identity_server", "base_url"})) == "4:36");
	CHECK(position(mxd::toml_json::locate(domain,
	    Path{"support", "contacts", std::size_t{1}, "role"})) == "6:47");
	CHECK(position(mxd::toml_json::locate(domain,
	    Path{"support", "contacts", std::size_t{1}})) == "6:38");
}

TEST_CASE("locate stops at the deepest node that exists", "[toml_json]")
{
	const auto doc = parse(R"(server = "x"
list = [ { a = 1 } ]
[support]
support_page = "y"
)");
	// A missing key: its table.
	CHECK(position(mxd::toml_json::locate(doc, Path{"support", "contacts"})) == "3:1");
	// An index past the end: the array.
	CHECK(position(mxd::toml_json::locate(doc, Path{"list", std::size_t{5}, "a"})) == "2:8");
	// A key into a string, an index into a table: where the path breaks.
	CHECK(position(mxd::toml_json::locate(doc, Path{"server", "deeper"})) == "1:10");
	CHECK(position(mxd::toml_json::locate(doc, Path{"support", std::size_t{0}})) == "3:1");
	CHECK(position(mxd::toml_json::locate(doc, Path{"list", "a"})) == "2:8");
	// Nothing at all: the root itself.
	CHECK(&mxd::toml_json::locate(doc, Path{"absent"}) == &doc);
}

TEST_CASE("where gives file:line:column, '-' for a document without a file", "[toml_json]")
{
	const auto named = parse("\n\n  key = 'v'\n", "/etc/mxdelegate/mxdelegate.toml");
	CHECK(mxd::toml_json::where(*named.get("key")) == "/etc/mxdelegate/mxdelegate.toml:3:9");
	CHECK(mxd::toml_json::where(named.get("key")->source()) ==
	      "/etc/mxdelegate/mxdelegate.toml:3:9");

	const auto anonymous = toml::parse("a = 1"sv);
	CHECK(mxd::toml_json::where(*anonymous.get("a")) == "-:1:5");

	toml::source_region region{};
	CHECK(mxd::toml_json::where(region) == "-:0:0");
}

TEST_CASE("where of a parse error", "[toml_json]")
{
	try {
		(void)parse("a = 1\nb = \n", "broken.toml");
		FAIL("no exception");
	} catch (const toml::parse_error &e) {
		CHECK(mxd::toml_json::where(e.source()).rfind("broken.toml:2:", 0) == 0);
	}
}
