#include "mxdelegatectl/ctl_fields.hpp"

#include <catch2/catch.hpp>

using namespace mxd::ctl;
using nlohmann::json;

namespace {

json build(const std::vector<Field> &fields, json start = json::object())
{
	return apply(std::move(start), fields);
}

} // namespace

TEST_CASE("domains are stored as canonical keys", "[ctl_fields]")
{
	CHECK(domain_key("Example.ORG.") == "example.org");
	CHECK(domain_key("bücher.example") == "xn--bcher-kva.example");
	CHECK(domain_key("*.Example.net") == "*.example.net");
	CHECK_THROWS_AS(domain_key("bad..org"), DataError);
	CHECK_THROWS_WITH(domain_key("a b.org"), Catch::StartsWith("a b.org: domain: "));
}

TEST_CASE("field options build a record", "[ctl_fields]")
{
	const json r = build({{"server", "matrix.example.org:443"},
	                      {"client", "https://matrix.example.org"},
	                      {"identity-server", "https://id.example.org"},
	                      {"extra", R"(org.matrix.msc3575.proxy={"url":"https://sync.example.org"})"},
	                      {"support-page", "https://example.org/help"},
	                      {"contact", "role=admin,matrix_id=@a:example.org"},
	                      {"contact", "role=security,email=s@example.org"},
	                      {"note", "customer 42"}});
	CHECK(r == json::parse(R"({
		"server": "matrix.example.org:443",
		"client": "https://matrix.example.org",
		"client_extra": {"m.identity_server": {"base_url": "https://id.example.org"},
		                 "org.matrix.msc3575.proxy": {"url": "https://sync.example.org"}},
		"support": {"support_page": "https://example.org/help",
		            "contacts": [{"role": "m.role.admin", "matrix_id": "@a:example.org"},
		                         {"role": "m.role.security", "email_address": "s@example.org"}]},
		"note": "customer 42"})"));
	CHECK(problems(r, "example.org", json::object()).empty());
}

TEST_CASE("set replaces contacts as a whole and --unset removes one field", "[ctl_fields]")
{
	const json stored = json::parse(R"({"server": "a.example.org", "note": "n",
		"client_extra": {"m.identity_server": {"base_url": "https://id.example.org"}, "x.y": 1},
		"support": {"support_page": "https://example.org/help",
		            "contacts": [{"role": "m.role.admin", "matrix_id": "@a:example.org"}]}})");
	json r = build({{"contact", "role=org.example.role,email=b@example.org"}}, stored);
	CHECK(r["support"]["contacts"] ==
	      json::parse(R"([{"role": "org.example.role", "email_address": "b@example.org"}])"));
	CHECK(r["support"]["support_page"] == "https://example.org/help");

	r = build({{"unset", "note"}, {"unset", "identity-server"}, {"unset", "support-page"}}, stored);
	CHECK_FALSE(r.contains("note"));
	CHECK(r["client_extra"] == json::parse(R"({"x.y": 1})"));
	CHECK(r["support"].contains("contacts"));
	CHECK_FALSE(r["support"].contains("support_page"));

	// Emptied objects go: no "client_extra": {} is left to fail validation.
	r = build({{"unset", "client_extra.x.y"}, {"unset", "identity-server"}, {"unset", "contacts"},
	           {"unset", "support-page"}},
	          stored);
	CHECK(r == json::parse(R"({"server": "a.example.org", "note": "n"})"));
	// Unsetting what is not there is no error.
	CHECK(build({{"unset", "max_age"}}, stored) == stored);
}

TEST_CASE("option syntax errors are usage errors; a bad JSON value is a data error",
          "[ctl_fields]")
{
	CHECK_THROWS_AS(build({{"extra", "no-equals"}}), UsageError);
	CHECK_THROWS_AS(build({{"extra", "=1"}}), UsageError);
	CHECK_THROWS_AS(build({{"extra", "a.b={bad"}}), DataError);
	CHECK_THROWS_WITH(build({{"extra", "a.b=text"}}),
	                  Catch::StartsWith("--extra a.b: the value is not JSON"));
	CHECK_THROWS_WITH(build({{"contact", "role=admin,phone=1"}}),
	                  "--contact: unknown key \"phone\" (keys: role, matrix_id, email)");
	CHECK_THROWS_AS(build({{"contact", "admin"}}), UsageError);
	CHECK_THROWS_AS(build({{"contact", ","}}), UsageError);
	CHECK_THROWS_AS(build({{"contact", "role=a.b,role=c.d"}}), UsageError);
	CHECK_THROWS_WITH(build({{"unset", "colour"}}), Catch::StartsWith("--unset: unknown field \"colour\""));
}

TEST_CASE("problems are the responder's, with domain and field", "[ctl_fields]")
{
	auto p = problems(json{{"client", "htp://x"}}, "example.org", json::object());
	REQUIRE(p.size() == 1);
	CHECK_THAT(p[0], Catch::StartsWith("example.org: client: \"htp://x\" is not an http or https URL"));
	p = problems(json{{"server", "matrix.example.org:99999"}}, "example.org", json::object());
	REQUIRE(p.size() == 1);
	CHECK_THAT(p[0], Catch::StartsWith("example.org: server: "));
	CHECK(problems(json::array(), "example.org", json::object()) ==
	      std::vector<std::string>{"example.org: the record is not a JSON object"});
	// With [defaults], the record as served: a template that only breaks
	// once merged.
	const json defaults = {{"server", "matrix.{domain}:443"}};
	CHECK(problems(json{{"client", "https://m.example.org"}}, "*.example.net", defaults).empty());
	const std::string long_label(60, 'a');
	const json long_defaults = {
		{"server", long_label + "." + long_label + "." + long_label + ".{domain}"}};
	p = problems(json::object(), long_label + "." + long_label + ".example", long_defaults);
	REQUIRE_FALSE(p.empty());
	CHECK_THAT(p[0], Catch::EndsWith("(with the configuration's [defaults])"));
}
