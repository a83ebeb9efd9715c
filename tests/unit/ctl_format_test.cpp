#include "mxdelegatectl/ctl_fields.hpp"
#include "mxdelegatectl/ctl_format.hpp"

#include "core/record_fields.hpp"

#include <catch2/catch.hpp>

using namespace mxd::ctl;
using nlohmann::json;

namespace {

const json none = json::object();

std::string export_toml(const std::vector<Entry> &entries)
{
	std::string out;
	for (const auto &e : entries)
		out += toml_table(e.domain, json::parse(e.record));
	return out;
}

std::string export_jsonl(const std::vector<Entry> &entries)
{
	std::string out;
	for (const auto &e : entries)
		out += json_line(e.domain, json::parse(e.record)) + "\n";
	return out;
}

const char *sample_jsonl =
	R"({"domain":"example.org","client":"https://matrix.example.org","client_extra":{"m.identity_server":{"base_url":"https://id.example.org"},"org.example.list":[1,2.5,"three",true,{"k":"v"}],"org.example.tricky":{"a key":"quote \" backslash \\ tab \t é"}},"max_age":600,"note":"line\nbreak","policy_server":{"ed25519":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},"server":"matrix.example.org:443","support":{"contacts":[{"matrix_id":"@a:example.org","role":"m.role.admin"}],"support_page":"https://example.org/help"}}
{"domain":"*.example.net","server":"matrix.example.net"}
{"domain":"empty.example"}
)";

} // namespace

TEST_CASE("a JSON line has the domain first and the record's keys sorted", "[ctl_format]")
{
	CHECK(json_line("example.org", json{{"server", "m.example.org"}, {"client", "https://c.example.org"}}) ==
	      R"({"domain":"example.org","client":"https://c.example.org","server":"m.example.org"})");
	CHECK(json_line("example.org", json::object()) == R"({"domain":"example.org"})");
}

TEST_CASE("a TOML table has one field a line, nested values inline", "[ctl_format]")
{
	const json r = json::parse(R"({"note": "a \"b\"\n", "server": "m.example.org",
		"client_extra": {"m.identity_server": {"base_url": "https://id.example.org"}, "x.y": []},
		"max_age": 60})");
	CHECK(toml_table("example.org", r) ==
	      "[domains.\"example.org\"]\n"
	      "server = \"m.example.org\"\n"
	      "client_extra = { \"m.identity_server\" = { base_url = \"https://id.example.org\" }, \"x.y\" = [] }\n"
	      "max_age = 60\n"
	      "note = \"a \\\"b\\\"\\n\"\n"
	      "\n");
	// TOML wants DEL escaped, which JSON does not.
	const json del = {{"note", "del \x7f"}};
	CHECK(toml_table("example.org", del) == "[domains.\"example.org\"]\nnote = \"del \\u007F\"\n\n");
	CHECK(read_toml(toml_table("example.org", del), "del.toml", json::object()).entries.at(0).record ==
	      del.dump());
	CHECK_THROWS_WITH(toml_table("example.org", json{{"client_extra", {{"x.y", nullptr}}}}),
	                  "example.org: client_extra.\"x.y\": null has no TOML form; export it with "
	                  "--format jsonl");
}

TEST_CASE("a TOML table has every stored field, in the table's order, then any other key",
          "[ctl_format]")
{
	json r = json::object();
	for (const auto &f : mxd::record::stored_fields)
		r[std::string(f.name)] = f.kind == mxd::record::Kind::integer ? json(1)
		                       : f.kind == mxd::record::Kind::object  ? json{{"a.b", 1}}
		                                                              : json("s");
	r["org.example.other"] = 2;
	r["domain"] = "example.org";
	std::string keys;
	const std::string table = toml_table("example.org", r);
	for (std::size_t at = table.find('\n') + 1; at < table.size() && table[at] != '\n';
	     at = table.find('\n', at) + 1)
		keys += table.substr(at, table.find(' ', at) - at) + " ";
	CHECK(keys == "server client client_extra support policy_server max_age redirect redirect_status note "
	              "\"org.example.other\" ");
}

TEST_CASE("export, import, export: the same bytes, through TOML and through JSON lines",
          "[ctl_format]")
{
	const Read first = read_import(sample_jsonl, "in.jsonl", none);
	REQUIRE(first.problems.empty());
	REQUIRE(first.entries.size() == 3);
	CHECK(first.entries[1].domain == "*.example.net");
	CHECK(first.entries[1].where == "in.jsonl:2");
	CHECK(export_jsonl(first.entries) == sample_jsonl);

	const std::string toml = export_toml(first.entries);
	const Read again = read_import(toml, "in.toml", none);
	INFO(toml);
	REQUIRE(again.problems.empty());
	REQUIRE(again.entries.size() == 3);
	for (std::size_t i = 0; i < 3; i++) {
		CHECK(again.entries[i].domain == first.entries[i].domain);
		CHECK(again.entries[i].record == first.entries[i].record);
	}
	CHECK(export_toml(again.entries) == toml);
	CHECK(export_jsonl(again.entries) == sample_jsonl);
}

TEST_CASE("TOML import: what the TOML backend reads, problems at file:line:column",
          "[ctl_format]")
{
	const Read ok = read_toml(R"([backend]
name = "toml"

[domains."Bücher.example"]
server = "matrix.example.org"
domain = "xn--bcher-kva.example"
)", "c.toml", none);
	REQUIRE(ok.problems.empty());
	REQUIRE(ok.entries.size() == 1);
	CHECK(ok.entries[0].domain == "xn--bcher-kva.example");
	CHECK(ok.entries[0].record == R"({"server":"matrix.example.org"})");
	CHECK(ok.entries[0].where == "c.toml:4:10");

	const Read bad = read_toml(R"([domains."example.org"]
client = "htp://x"

[domains."EXAMPLE.org."]
server = "x.example.org"

[domains."bad..name"]
server = "x.example.org"

[domain."typo.org"]
server = "x.example.org"
)", "d.toml", none);
	CHECK(bad.entries.empty());
	REQUIRE(bad.problems.size() == 4);
	CHECK_THAT(bad.problems[0], Catch::StartsWith("d.toml:2:10: example.org: client: \"htp://x\""));
	CHECK(bad.problems[1] == "d.toml:4:10: example.org: domain: \"EXAMPLE.org.\" is the same domain "
	                         "as \"example.org\" at d.toml:1:10");
	CHECK_THAT(bad.problems[2], Catch::StartsWith("d.toml:7:10: bad..name: domain: "));
	CHECK_THAT(bad.problems[3], Catch::StartsWith("d.toml:10:2: \"domain\": not [domains]"));

	const Read broken = read_toml("[domains\n", "e.toml", none);
	REQUIRE(broken.problems.size() == 1);
	CHECK_THAT(broken.problems[0], Catch::StartsWith("e.toml:1:"));
}

TEST_CASE("JSON lines import: problems at file:line, every one of them", "[ctl_format]")
{
	const Read p = read_jsonl(R"({"domain":"a.example","server":"a.example"}

{"domain":"b.example","server":
["not an object"]
{"server":"c.example"}
{"domain":"A.example","server":"a.example"}
{"domain":"d.example","support":{}}
{"domain":"e.example","colour":"red"}
)", "f.jsonl", none);
	CHECK(p.entries.empty());
	REQUIRE(p.problems.size() == 6);
	CHECK_THAT(p.problems[0], Catch::StartsWith("f.jsonl:3:32: not JSON: "));
	CHECK(p.problems[1] == "f.jsonl:4: not a JSON object");
	CHECK(p.problems[2] == "f.jsonl:5: domain: missing; each line is {\"domain\": \"example.org\", ...}");
	CHECK(p.problems[3] == "f.jsonl:6: a.example: domain: also on line 1");
	CHECK(p.problems[4] == "f.jsonl:7: d.example: support: needs contacts, support_page or both");
	CHECK_THAT(p.problems[5], Catch::StartsWith("f.jsonl:8: e.example: colour: unknown field"));
}

TEST_CASE("import checks records with the configuration's defaults", "[ctl_format]")
{
	const json defaults = {{"server", "matrix.{domain}:443"}};
	const std::string a(63, 'a');
	const std::string domain = a + "." + a + "." + a + "." + std::string(52, 'b') + ".example";
	REQUIRE(domain.size() == 252);
	const Read p = read_jsonl(R"({"domain":")" + domain + R"(","client":"https://x.example"})",
	                            "g.jsonl", defaults);
	REQUIRE(p.problems.size() == 1);
	CHECK_THAT(p.problems[0], Catch::EndsWith("(with the configuration's [defaults])"));
	CHECK(read_jsonl(R"({"domain":")" + domain + R"(","client":"https://x.example"})", "g.jsonl",
	                 none).problems.empty());
}
