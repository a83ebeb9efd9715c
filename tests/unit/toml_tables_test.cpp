#include "core/toml_tables.hpp"

#include "core/toml_library.hpp"

#include <catch2/catch.hpp>

#include <string>

using mxd::toml_tables::without;

namespace {

// toml++'s reading of the cut text is its reading of the whole, less the key.
void agrees(const std::string &text)
{
	INFO(text);
	toml::table whole = toml::parse(text);
	toml::table cut = toml::parse(without(text, "domains").text);
	whole.erase("domains");
	cut.erase("domains");
	CHECK(whole == cut);
}

} // namespace

TEST_CASE("the tables under the key are cut, their lines kept empty")
{
	const std::string text = "[backend]\nname = \"toml\"\n\n[domains.\"a.example\"]\nserver = \"m:443\"\n"
	                         "\n[server]\nthreads = 2\n[domains.b]\nclient = \"https://b\"\n";
	const auto cut = without(text, "domains");
	CHECK(cut.text == "[backend]\nname = \"toml\"\n\n\n\n\n[server]\nthreads = 2\n\n\n");
	CHECK(cut.line == 4);
	CHECK(cut.column == 1);
	agrees(text);
}

TEST_CASE("nothing to cut leaves the text as it was")
{
	const std::string text = "[backend]\r\nname = \"toml\"\r\n# [domains.x]\r\nkey = \"[domains]\"\r\n";
	const auto cut = without(text, "domains");
	CHECK(cut.text == text);
	CHECK(cut.line == 0);
}

TEST_CASE("a header only where a line starts outside a string or an array")
{
	// Each of these holds a line that starts with "[domains", inside a value.
	agrees("[server]\nx = \"\"\"\n[domains.a]\n\"\"\"\n[http]\ny = 1\n");
	agrees("[server]\nx = '''\n[domains.a]\n'''\n[http]\ny = 1\n");
	agrees("[server]\nx = [\n[1],\n[\"domains\"],\n]\n[http]\ny = 1\n");
	agrees("[server]\nx = \"\"\"a\\\"\"\"\n[domains.a]\n\"\"\"\"\"\n[http]\ny = 1\n");
	agrees("[server]\nx = '''a''''\n[domains.a]\nz = 1\n[http]\ny = 1\n");
	agrees("[server]\nx = \"\\\"[\" # [ {\n[domains.a]\nz = [ # ]\n1]\n[http]\ny = 1\n");
	// An escaped backslash just before the closing quote, in a value and in
	// a header's key: the quote closes the string.
	agrees("[server]\nx = \"a\\\\\" # [\n[domains.a]\nz = [ \"\\\\\", \"]\" ]\n[http]\ny = 1\n");
	agrees("[\"se\\\\\".x]\ny = 1\n[domains.a]\nz = 1\n[\"h\\\"]\".t]\nw = 2\n");
}

TEST_CASE("the header's first key, bare or quoted, and only that")
{
	agrees("[ domains . a ]\nz = 1\n[http]\ny = 1\n");
	agrees("[\"domains\".a]\nz = 1\n['domains'.b]\nz = 2\n[http]\ny = 1\n");
	agrees("[[domains]]\nz = 1\n[[domains]]\nz = 2\n[http]\ny = 1\n");
	agrees("[domainsx]\nz = 1\n[x.domains]\nz = 2\n[\"domains.x\"]\nz = 3\n");
	// An escaped quoted key is left to toml++: kept, and the loader sees it.
	const std::string escaped = "[\"domain\\u0073\".a]\nz = 1\n";
	CHECK(without(escaped, "domains").text == escaped);
	agrees(escaped);
}

TEST_CASE("keys at the top, before any header, are not cut")
{
	const std::string text = "domains.a.server = \"m\"\n[domains.b]\nserver = \"n\"\n";
	CHECK(without(text, "domains").text == "domains.a.server = \"m\"\n\n\n");
	agrees(text);
}

TEST_CASE("text toml++ refuses gets an answer, not a crash")
{
	for (const char *t : {"[domains", "[\"domains", "[domains.a]\nx = \"\"\"", "x = [\n[domains]\n",
	                      "['''", "\"\\", "[domains]]]\n[[["})
		CHECK_NOTHROW(without(t, "domains"));
}
