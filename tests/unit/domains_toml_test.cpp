// The one reader of [domains] (src/core/domains_toml.cpp), and the proof
// that the TOML backend and mxdelegatectl import read a file alike.
#include "core/domains_toml.hpp"

#include "mxdelegatectl/ctl_format.hpp"
#include "service/backend.hpp"

#include "support.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using mxd::domains_toml::Beside;
using mxd::domains_toml::read;
using mxd::test::lines;
using nlohmann::json;

namespace {

// Every kind of problem the reader knows, in one configuration file.
const char *const troubled = R"([backend]
name = "toml"

[domains."zzz.example"]
server = "bad name!"
[domains."exa mple.org"]
server = "matrix.example.org"
[domains."EXAMPLE.org."]
server = "m.example.org"
[domains."example.org"]
client = "ftp://matrix.example.org"
[domains."dated.example".support]
since = 2024-01-01
[domains."nan.example"]
client_extra = { "x.y" = nan }
[domains."named.example"]
domain = "other.example"
[domains]
"aaa.example" = "not a table"

[colour]
x = 1
)";

} // namespace

TEST_CASE("domains_toml: records by canonical key, in file order", "[domains_toml]")
{
	const auto r = read(R"([backend]
name = "toml"
[domains."Bücher.example"]
server = "matrix.example.org"
domain = "xn--bcher-kva.example"
[domains."*.example.net"]
max_age = 60
)", "a.toml", Beside::configuration);
	REQUIRE(r.problems.empty());
	REQUIRE(r.entries.size() == 2);
	CHECK(r.entries[0].domain == "xn--bcher-kva.example");
	CHECK(r.entries[0].record == R"({"server":"matrix.example.org"})");
	CHECK(r.entries[0].where == "a.toml:3:10");
	CHECK(r.entries[1].domain == "*.example.net");
	CHECK(r.entries[1].record == R"({"max_age":60})");
}

TEST_CASE("domains_toml: every problem, at file:line:column, in file order", "[domains_toml]")
{
	const auto r = read(troubled, "t.toml", Beside::configuration);
	CHECK(r.entries.empty());
	const std::vector<std::string> want = {
		"t.toml:5:10: zzz.example: server: ",
		"t.toml:6:10: exa mple.org: domain: ",
		// The later key of one domain is the duplicate, whatever it holds.
		"t.toml:10:10: example.org: domain: \"example.org\" is the same domain as \"EXAMPLE.org.\" "
		"at t.toml:8:10",
		"t.toml:13:9: dated.example: support.since: a date or time has no JSON form",
		"t.toml:15:26: nan.example: client_extra.\"x.y\": inf and nan have no JSON form",
		"t.toml:17:10: named.example: domain: names another domain than its table",
		"t.toml:19:17: aaa.example: must be a table of record fields",
		"t.toml:21:2: \"colour\": not [domains] (nor a table of the configuration: backend, "
		"defaults, http, server, log, status, follow)",
	};
	REQUIRE(r.problems.size() == want.size());
	for (std::size_t i = 0; i < want.size(); i++)
		CHECK_THAT(r.problems[i], Catch::StartsWith(want[i]));
	CHECK(r.problems[1].size() > want[1].size());
}

TEST_CASE("domains_toml: a file of its own holds [domains] only", "[domains_toml]")
{
	const auto r = read("[backend]\nname = \"toml\"\n[domains.\"example.org\"]\n", "d.toml",
	                    Beside::nothing);
	REQUIRE(r.problems.size() == 1);
	CHECK(r.problems[0] == "d.toml:1:2: \"backend\": only [domains] belongs in a separate domains file");
	CHECK(read("domains = 1\n", "d.toml", Beside::nothing).problems ==
	      std::vector<std::string>{"d.toml:1:1: domains: must be a table ([domains.\"example.org\"])"});
	const auto broken = read("[domains\n", "e.toml", Beside::nothing);
	REQUIRE(broken.problems.size() == 1);
	CHECK_THAT(broken.problems[0], Catch::StartsWith("e.toml:1:"));
}

TEST_CASE("domains_toml: a further check reports at the record's key", "[domains_toml]")
{
	int calls = 0;
	const auto r = read("[domains.\"a.example\"]\nserver = \"a.example\"\n[domains.\"b.example\"]\n"
	                    "server = \"bad name!\"\n",
	                    "c.toml", Beside::nothing, [&](const json &record, const std::string &key) {
		                    calls++;
		                    CHECK(record == json{{"server", "a.example"}});
		                    return std::vector<std::string>{key + ": server: line\nbreak"};
	                    });
	CHECK(calls == 1); // an invalid record is not checked further
	REQUIRE(r.problems.size() == 2);
	CHECK(r.problems[0] == "c.toml:1:10: a.example: server: line\\x0abreak");
}

TEST_CASE("domains_toml: the TOML backend and import report the same problems", "[domains_toml]")
{
	mxd::test::TempDir dir;
	const std::string file = dir.write("mxdelegate.toml", troubled);
	const auto plugin = mxd::Plugin::load(mxd::test::plugin_dir() + "/toml.so");
	std::string refused;
	try {
		(void)mxd::Backend::open(plugin, json{{"config_file", file}, {"config_dir", dir.path()}});
		FAIL("the backend served a file with problems");
	} catch (const mxd::BackendError &e) {
		refused = e.what();
	}
	const auto imported = mxd::ctl::read_import(troubled, file, json::object());
	CHECK(imported.entries.empty());
	CHECK(lines(refused) == imported.problems);
	CHECK(imported.problems == read(troubled, file, Beside::configuration).problems);
	CHECK(imported.problems.size() == 8);
}
