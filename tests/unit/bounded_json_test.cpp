#include "core/bounded_json.hpp"

#include <catch2/catch.hpp>

#include <string>

using namespace mxd;
using nlohmann::json;

namespace {

std::string nested(std::size_t levels, const std::string &inner = "1")
{
	std::string s;
	for (std::size_t i = 0; i < levels; i++)
		s += i % 2 ? "[" : "{\"a\":";
	s += inner;
	for (std::size_t i = levels; i-- > 0;)
		s += i % 2 ? "]" : "}";
	return s;
}

} // namespace

TEST_CASE("depth counts brackets outside strings only", "[bounded_json]")
{
	CHECK(bounded_json::depth("1", 64) == 0);
	CHECK(bounded_json::depth("{}", 64) == 1);
	CHECK(bounded_json::depth(R"({"a":[1,{"b":[]}],"c":{}})", 64) == 4);
	CHECK(bounded_json::depth(R"({"a":"[[[{{{"})", 64) == 1);
	// An escaped quote does not end the string, an escaped backslash does.
	CHECK(bounded_json::depth(R"({"a":"\"[[[","b":"\\"})", 64) == 1);
	CHECK(bounded_json::depth(R"({"a":"\\\"[[["})", 64) == 1);
	CHECK(bounded_json::depth(nested(64), 64) == 64);
	// It stops counting past the limit: a million levels cost one pass.
	CHECK(bounded_json::depth(nested(1000000), 64) == 65);
}

TEST_CASE("a record within the limits parses as nlohmann would", "[bounded_json]")
{
	const std::string text = R"({"server":"m.example.org:443","support":{"contacts":[{"role":"m.role.admin"}]}})";
	const auto p = bounded_json::parse(text);
	CHECK(p.outcome == bounded_json::Outcome::ok);
	CHECK(p.value == json::parse(text));
	CHECK(p.problem.empty());

	const auto deepest = bounded_json::parse(nested(64));
	CHECK(deepest.outcome == bounded_json::Outcome::ok);
	CHECK(bounded_json::parse("\"[[[[\"", {1, 100}).outcome == bounded_json::Outcome::ok);
}

TEST_CASE("a record over a limit is refused before it is built, naming the limit",
          "[bounded_json]")
{
	for (std::size_t levels : {65, 1000, 10000, 100000, 1000000}) {
		const auto p = bounded_json::parse(nested(levels), {64, 100000000});
		CHECK(p.outcome == bounded_json::Outcome::too_deep);
		CHECK(p.value.is_null());
		CHECK(p.problem == "nests arrays and objects deeper than the limit of 64 levels");
	}
	const std::string big = "{\"note\":\"" + std::string(70000, 'x') + "\"}";
	const auto p = bounded_json::parse(big);
	CHECK(p.outcome == bounded_json::Outcome::too_big);
	CHECK(p.problem == "is 70011 bytes, over the limit of 65536");
	CHECK(bounded_json::parse(big, {64, big.size()}).outcome == bounded_json::Outcome::ok);
	// Size is checked first: a huge deep text is not even scanned.
	CHECK(bounded_json::parse(nested(100000), {64, 1000}).outcome ==
	      bounded_json::Outcome::too_big);
}

TEST_CASE("text that is not JSON is invalid, not over a limit", "[bounded_json]")
{
	for (const char *text : {"", "{", "{\"a\":}", "[1,]", "nul", "{\"a\":1}x"}) {
		const auto p = bounded_json::parse(text);
		CHECK(p.outcome == bounded_json::Outcome::invalid);
		CHECK(p.value.is_null());
	}
	// Unbalanced closers do not hide depth from the scan.
	CHECK(bounded_json::parse("]]]]" + nested(100)).outcome == bounded_json::Outcome::too_deep);
}
