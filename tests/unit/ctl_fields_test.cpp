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

TEST_CASE("--max-age writes an integer that validation judges", "[ctl_fields]")
{
	CHECK(build({{"max-age", "3600"}}) == json{{"max_age", 3600}});
	CHECK(build({{"max-age", "0"}}, json{{"max_age", 60}})["max_age"].get<std::int64_t>() == 0);
	for (const char *bad : {"", "abc", "60s", "1e3", " 60", "+60", "99999999999999999999"})
		CHECK_THROWS_WITH(build({{"max-age", bad}}),
		                  "--max-age: \"" + std::string(bad) + "\" is not a whole number");
	CHECK_THROWS_AS(build({{"max-age", "x"}}), DataError);
	// The range is record::validate's, with its message.
	for (const char *out : {"-1", "604801"})
		CHECK(problems(build({{"max-age", out}}), "example.org", json::object()) ==
		      std::vector<std::string>{"example.org: max_age: must be a whole number of seconds "
		                               "from 0 to 604800 (7 days)"});
	CHECK(problems(build({{"max-age", "604800"}}), "example.org", json::object()).empty());
}

TEST_CASE("--policy-server-key writes policy_server.ed25519", "[ctl_fields]")
{
	const std::string key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
	json r = build({{"policy-server-key", key}});
	CHECK(r == json{{"policy_server", {{"ed25519", key}}}});
	CHECK(problems(r, "example.org", json::object()).empty());
	// Another key algorithm stays; unsetting the key leaves it alone.
	const json stored = {{"server", "m.example.org"},
	                     {"policy_server", {{"ed25519", "old"}, {"org.example.alg", "x"}}}};
	r = build({{"policy-server-key", key}}, stored);
	CHECK(r["policy_server"] == json{{"ed25519", key}, {"org.example.alg", "x"}});
	CHECK(build({{"unset", "policy-server-key"}}, stored)["policy_server"] ==
	      json{{"org.example.alg", "x"}});
	CHECK(build({{"unset", "policy-server-key"}}, json{{"policy_server", {{"ed25519", key}}}}) ==
	      json::object());
	// The spec's document form is kept: the key goes into public_keys.
	const json doc = {{"policy_server", {{"public_keys", {{"ed25519", "old"}}}}}};
	CHECK(build({{"policy-server-key", key}}, doc) ==
	      json{{"policy_server", {{"public_keys", {{"ed25519", key}}}}}});
	CHECK(build({{"unset", "policy-server-key"}}, doc) == json::object());
	// Either alphabet: the spec's own example key is URL-safe.
	CHECK(problems(build({{"policy-server-key", "6yhHGKhCiXTSEN2ksjV7kX_N6rBQZ3Xb-M7LlC6NS-s"}}),
	               "example.org", json::object())
	          .empty());
	// A bad key: validate's message, at the field's path.
	CHECK(problems(build({{"policy-server-key", key + "="}}), "example.org", json::object()) ==
	      std::vector<std::string>{"example.org: policy_server.ed25519: \"" + key +
	                               "=\" has padding (=); the key is unpadded base64"});
}

TEST_CASE("--unset names every stored field and every part an option writes", "[ctl_fields]")
{
	CHECK_THROWS_WITH(build({{"unset", "colour"}}),
	                  "--unset: unknown field \"colour\" (server, client, client_extra, "
	                  "identity-server, client_extra.KEY, support, support-page, contacts, "
	                  "policy_server, policy-server-key, max_age, redirect, redirect-server, redirect-client, "
	                  "redirect-support, redirect-policy-server, redirect_status, note)");
	// The key is no field of the record.
	CHECK_THROWS_AS(build({{"unset", "domain"}}), UsageError);
	CHECK_THROWS_AS(build({{"unset", "client_extra."}}), UsageError);
	const json full = build({{"server", "m.example.org"},
	                         {"client", "https://m.example.org"},
	                         {"extra", "a.b=1"},
	                         {"support-page", "https://example.org/help"},
	                         {"policy-server-key", "k"},
	                         {"max-age", "60"},
	                         {"note", "n"}});
	for (const char *name : {"server", "client", "client_extra", "support", "policy_server", "max_age",
	                         "note"}) {
		const json r = build({{"unset", name}}, full);
		CHECK_FALSE(r.contains(name));
		CHECK(r.size() == full.size() - 1);
	}
}

TEST_CASE("--redirect gives a base, --redirect-DOCUMENT one document's URL", "[ctl_fields]")
{
	json r = build({{"redirect", "https://matrix.other.example"}, {"redirect-status", "307"}});
	CHECK(r == json{{"redirect", "https://matrix.other.example"}, {"redirect_status", 307}});
	// A document's URL replaces a base: the table form starts anew.
	r = build({{"redirect-client", "https://other.example/c"}}, r);
	CHECK(r == json{{"redirect", {{"client", "https://other.example/c"}}}, {"redirect_status", 307}});
	r = build({{"redirect-policy-server", "https://other.example/p"}}, r);
	CHECK(r["redirect"] ==
	      json{{"client", "https://other.example/c"}, {"policy_server", "https://other.example/p"}});
	r = build({{"unset", "redirect-client"}}, r);
	CHECK(r["redirect"] == json{{"policy_server", "https://other.example/p"}});
	r = build({{"unset", "redirect-policy-server"}, {"unset", "redirect_status"}}, r);
	CHECK(r == json::object());
	CHECK_THROWS_AS(build({{"redirect-status", "permanent"}}), DataError);
}
