#include "core/render.hpp"

#include "core/domains_toml.hpp"
#include "core/record.hpp"

#define CATCH_CONFIG_ENABLE_PAIR_STRINGMAKER
#define CATCH_CONFIG_ENABLE_OPTIONAL_STRINGMAKER
#include <catch2/catch.hpp>

#include <string>
#include <utility>
#include <vector>

using nlohmann::json;
using mxd::Document;
using mxd::Response;
namespace render = mxd::render;

namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;

const Headers common = {
	{"Content-Type", "application/json"},
	{"Access-Control-Allow-Origin", "*"},
	{"Access-Control-Allow-Methods", "GET, POST, PUT, DELETE, OPTIONS"},
	{"Access-Control-Allow-Headers", "X-Requested-With, Content-Type, Authorization"},
};

Headers with(Headers h, std::initializer_list<std::pair<std::string, std::string>> more)
{
	h.insert(h.end(), more.begin(), more.end());
	return h;
}

const json full = json::parse(R"({
	"domain": "example.org",
	"server": "matrix.example.org:443",
	"client": "https://matrix.example.org",
	"client_extra": {
		"org.matrix.msc4143.rtc_foci": [{"type": "livekit", "livekit_service_url": "https://rtc.example.org"}],
		"m.identity_server": {"base_url": "https://id.example.org"},
		"io.element.e2ee": {"default": false}
	},
	"support": {
		"contacts": [{"role": "m.role.admin", "matrix_id": "@admin:example.org"}],
		"support_page": "https://example.org/help"
	},
	"policy_server": {"ed25519": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}
})");

// A value with every character that a careless writer breaks.
const std::string hostile = "q\"b\\s</script>\xe2\x80\xa8 c\x01\x1f\x7f \xf0\x9f\x98\x80 /";

} // namespace

TEST_CASE("body: server", "[render]")
{
	CHECK(render::body(full, Document::server) == R"({"m.server":"matrix.example.org:443"})");
}

TEST_CASE("body: client puts m.homeserver first, then the extra keys", "[render]")
{
	CHECK(render::body(full, Document::client) ==
	      R"({"m.homeserver":{"base_url":"https://matrix.example.org"},)"
	      R"("io.element.e2ee":{"default":false},)"
	      R"("m.identity_server":{"base_url":"https://id.example.org"},)"
	      R"("org.matrix.msc4143.rtc_foci":[{"livekit_service_url":"https://rtc.example.org","type":"livekit"}]})");
}

TEST_CASE("body: client extra keys that sort before m.homeserver still follow it", "[render]")
{
	const json r = {{"client", "https://m.example.org/"},
	                {"client_extra", {{"a.b", 1}, {"io.x", "s"}, {"z.z", nullptr}}}};
	CHECK(render::body(r, Document::client) ==
	      R"({"m.homeserver":{"base_url":"https://m.example.org/"},"a.b":1,"io.x":"s","z.z":null})");
}

TEST_CASE("body: client_extra cannot replace m.homeserver", "[render]")
{
	const json r = {{"client", "https://good.example.org"},
	                {"client_extra", {{"m.homeserver", {{"base_url", "https://evil.example"}}}}}};
	CHECK(render::body(r, Document::client) ==
	      R"({"m.homeserver":{"base_url":"https://good.example.org"}})");
}

TEST_CASE("body: client without client_extra, or with a non-object one", "[render]")
{
	json r = {{"client", "https://m.example.org"}};
	CHECK(render::body(r, Document::client) ==
	      R"({"m.homeserver":{"base_url":"https://m.example.org"}})");
	r["client_extra"] = json::array({1, 2});
	CHECK(render::body(r, Document::client) ==
	      R"({"m.homeserver":{"base_url":"https://m.example.org"}})");
}

TEST_CASE("body: client_extra alone yields no client document", "[render]")
{
	const json r = {{"client_extra", {{"m.identity_server", {{"base_url", "https://id.example.org"}}}}}};
	CHECK_FALSE(render::body(r, Document::client).has_value());
}

TEST_CASE("body: support as stored", "[render]")
{
	CHECK(render::body(full, Document::support) ==
	      R"({"contacts":[{"matrix_id":"@admin:example.org","role":"m.role.admin"}],)"
	      R"("support_page":"https://example.org/help"})");
}

TEST_CASE("body: policy_server wraps the keys in public_keys", "[render]")
{
	CHECK(render::body(full, Document::policy_server) ==
	      R"({"public_keys":{"ed25519":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}})");
}

TEST_CASE("body: policy_server in the document form is served as written", "[render]")
{
	const json doc = {{"policy_server", {{"public_keys", {{"ed25519", "k-_"}, {"org.example.alg", "v"}}}}}};
	CHECK(render::body(doc, Document::policy_server) ==
	      R"({"public_keys":{"ed25519":"k-_","org.example.alg":"v"}})");
}

TEST_CASE("body: a missing part, an empty record or a non-object is nullopt", "[render]")
{
	const json only_server = {{"server", "m.example.org"}};
	for (Document d : {Document::client, Document::support, Document::policy_server})
		CHECK_FALSE(render::body(only_server, d).has_value());
	for (Document d : mxd::all_documents) {
		CHECK_FALSE(render::body(json::object(), d).has_value());
		CHECK_FALSE(render::body(json(), d).has_value());
		CHECK_FALSE(render::body(json::array({1}), d).has_value());
		CHECK_FALSE(render::body(json("server"), d).has_value());
	}
}

TEST_CASE("body: hostile strings round-trip through a JSON parser", "[render]")
{
	const json r = {{"server", hostile},
	                {"client", hostile},
	                {"client_extra", {{"org.example.v", hostile}, {"org.example." + hostile, 1}}},
	                {"support", {{"support_page", hostile}}},
	                {"policy_server", {{"ed25519", hostile}}}};

	const auto server = render::body(r, Document::server);
	REQUIRE(server);
	CHECK(json::parse(*server) == json{{"m.server", hostile}});

	const auto client = render::body(r, Document::client);
	REQUIRE(client);
	const json c = json::parse(*client);
	CHECK(c == json{{"m.homeserver", {{"base_url", hostile}}},
	                {"org.example.v", hostile},
	                {"org.example." + hostile, 1}});

	const auto support = render::body(r, Document::support);
	REQUIRE(support);
	CHECK(json::parse(*support) == r["support"]);

	const auto policy = render::body(r, Document::policy_server);
	REQUIRE(policy);
	CHECK(json::parse(*policy) == json{{"public_keys", {{"ed25519", hostile}}}});
}

TEST_CASE("body: escaping is exactly JSON's, UTF-8 is kept raw", "[render]")
{
	const json r = {{"server", "a\"b\\c\n\x01\x7f</script>\xe2\x80\xa8\xf0\x9f\x98\x80"}};
	CHECK(render::body(r, Document::server) ==
	      "{\"m.server\":\"a\\\"b\\\\c\\n\\u0001\x7f</script>\xe2\x80\xa8\xf0\x9f\x98\x80\"}");
}

TEST_CASE("body: invalid UTF-8 throws type_error 316", "[render]")
{
	const json r = {{"server", "bad\xff"}};
	try {
		(void)render::body(r, Document::server);
		FAIL("no exception");
	} catch (const json::type_error &e) {
		CHECK(e.id == 316);
	}
}

TEST_CASE("document: 200 with the exact headers in order", "[render]")
{
	const Response r = render::document(full, Document::server, "example.org", {});
	CHECK(r.status == 200);
	const std::string body = R"({"m.server":"matrix.example.org:443"})";
	CHECK(r.body == body);
	CHECK(r.headers == with(common, {{"Cache-Control", "public, max-age=14400"},
	                                 {"ETag", render::etag(body)}}));
}

TEST_CASE("document: the policy's max_age, or the record's integer max_age", "[render]")
{
	render::Policy p;
	p.max_age = 600;
	json r = {{"server", "m.example.org"}};
	CHECK(*render::document(r, Document::server, "example.org", p).header("Cache-Control") ==
	      "public, max-age=600");
	r["max_age"] = 60;
	CHECK(*render::document(r, Document::server, "example.org", p).header("Cache-Control") ==
	      "public, max-age=60");
	r["max_age"] = 0;
	CHECK(*render::document(r, Document::server, "example.org", p).header("Cache-Control") ==
	      "public, max-age=0");
	r["max_age"] = 604800u;
	CHECK(*render::document(r, Document::server, "example.org", p).header("Cache-Control") ==
	      "public, max-age=604800");
	// Not delta-seconds: the policy serves.
	for (const json &bad : {json(-5), json(60.5), json("60"), json(true), json(nullptr)}) {
		r["max_age"] = bad;
		CHECK(*render::document(r, Document::server, "example.org", p).header("Cache-Control") ==
		      "public, max-age=600");
	}
}

TEST_CASE("document: every document of a full record", "[render]")
{
	for (Document d : mxd::all_documents) {
		const Response r = render::document(full, d, "example.org", {});
		CHECK(r.status == 200);
		CHECK(r.body == *render::body(full, d));
		CHECK(r.headers.size() == 6);
		CHECK(*r.header("ETag") == render::etag(r.body));
	}
}

TEST_CASE("document: a missing part is a cacheable 404 naming the path, the same for every host", "[render]")
{
	render::Policy p;
	p.not_found_max_age = 120;
	const json r = {{"server", "m.example.org"}};
	const Response res = render::document(r, Document::support, "example.org", p);
	CHECK(res.status == 404);
	CHECK(res.body ==
	      R"({"errcode":"M_NOT_FOUND","error":"no /.well-known/matrix/support for this host"})");
	CHECK(res.headers == with(common, {{"Cache-Control", "public, max-age=120"}}));
	const Response other = render::document(r, Document::support, "other.example", p);
	CHECK(serialize(other, true) == serialize(res, true));
	CHECK(serialize(render::missing(Document::support, p), true) == serialize(res, true));
}

TEST_CASE("document: invalid UTF-8 is a 500, never an exception", "[render]")
{
	const json bad_value = {{"client", "https://m.example.org"},
	                        {"client_extra", {{"org.example.x", "\xc3\x28"}}}};
	Response r;
	REQUIRE_NOTHROW(r = render::document(bad_value, Document::client, "example.org", {}));
	CHECK(r.status == 500);
	CHECK(r.body == R"({"errcode":"M_UNKNOWN","error":"cannot render /.well-known/matrix/client)"
	                R"( for example.org: the record is not valid UTF-8"})");
	CHECK(r.headers == with(common, {{"Cache-Control", "no-store"}}));
	CHECK(r.header("ETag") == nullptr);

	// In a key, in a nested array, in a lone continuation byte, an overlong
	// form, a surrogate.
	const json cases[] = {
		{{"client", "https://m.example.org"}, {"client_extra", {{"org.\xff", 1}}}},
		{{"support", {{"contacts", {{{"role", "m.role.admin"}, {"matrix_id", "@\x80:x"}}}}}}},
		{{"server", "\xc0\xaf"}},
		{{"server", "\xed\xa0\x80"}},
		{{"policy_server", {{"ed25519", "\xf4\x90\x80\x80"}}}},
	};
	const Document docs[] = {Document::client, Document::support, Document::server,
	                         Document::server, Document::policy_server};
	for (std::size_t i = 0; i < std::size(cases); i++) {
		REQUIRE_NOTHROW(r = render::document(cases[i], docs[i], "example.org", {}));
		CHECK(r.status == 500);
		CHECK(json::parse(r.body)["errcode"] == "M_UNKNOWN");
	}
}

TEST_CASE("document: the bad part only spoils its own document", "[render]")
{
	const json r = {{"server", "m.example.org"}, {"note", "\xff"}, {"support", {{"x.y", "\xff"}}}};
	CHECK(render::document(r, Document::server, "example.org", {}).status == 200);
	CHECK(render::document(r, Document::support, "example.org", {}).status == 500);
}

TEST_CASE("error: body and headers", "[render]")
{
	render::Policy p;
	const Response r = render::error(503, "M_UNAVAILABLE", "backend down", p);
	CHECK(r.status == 503);
	CHECK(r.body == R"({"errcode":"M_UNAVAILABLE","error":"backend down"})");
	CHECK(r.headers == with(common, {{"Cache-Control", "no-store"}}));

	const Response nf = render::error(404, "M_NOT_FOUND", "no such host", p);
	CHECK(nf.body == R"({"errcode":"M_NOT_FOUND","error":"no such host"})");
	CHECK(nf.headers == with(common, {{"Cache-Control", "public, max-age=300"}}));

	for (int status : {400, 403, 500})
		CHECK(render::error(status, "M_X", "m", p).headers ==
		      with(common, {{"Cache-Control", "no-store"}}));
}

TEST_CASE("error: 405 carries Allow", "[render]")
{
	const Response r = render::error(405, "M_UNRECOGNIZED", "Unrecognized request", {});
	CHECK(r.status == 405);
	CHECK(r.headers == with(common, {{"Cache-Control", "no-store"}, {"Allow", "GET, HEAD, OPTIONS"}}));
	CHECK(r.body == R"({"errcode":"M_UNRECOGNIZED","error":"Unrecognized request"})");
}

TEST_CASE("error: messages are escaped and invalid UTF-8 replaced", "[render]")
{
	const Response r = render::error(400, "M_BAD_REQUEST", hostile, {});
	CHECK(json::parse(r.body) == json{{"errcode", "M_BAD_REQUEST"}, {"error", hostile}});

	Response bad;
	REQUIRE_NOTHROW(bad = render::error(400, "M_BAD_REQUEST", "host \xff!", {}));
	CHECK(bad.body == "{\"errcode\":\"M_BAD_REQUEST\",\"error\":\"host \xef\xbf\xbd!\"}");
}

TEST_CASE("preflight: 204 with the common headers and nothing else", "[render]")
{
	const Response r = render::preflight();
	CHECK(r.status == 204);
	CHECK(r.headers == common);
	CHECK(r.body.empty());
}

TEST_CASE("not_modified: 304 repeating ETag and Cache-Control", "[render]")
{
	const Response doc = render::document(full, Document::client, "example.org", {});
	const Response r = render::not_modified(doc);
	CHECK(r.status == 304);
	CHECK(r.body.empty());
	CHECK(r.headers == with(common, {{"Cache-Control", "public, max-age=14400"},
	                                 {"ETag", render::etag(doc.body)}}));

	// Without validators to copy it still answers with the common headers.
	CHECK(render::not_modified(Response{}).headers == common);
}

TEST_CASE("etag: quoted 64-bit FNV-1a in 16 hex digits", "[render]")
{
	// Published FNV-1a 64 test vectors.
	CHECK(render::etag("") == "\"cbf29ce484222325\"");
	CHECK(render::etag("a") == "\"af63dc4c8601ec8c\"");
	CHECK(render::etag("foobar") == "\"85944171f73967e8\"");
	CHECK(render::etag(std::string_view("\0", 1)) == "\"af63bd4c8601b7df\"");
	CHECK(render::etag("{\"m.server\":\"a\"}") != render::etag("{\"m.server\":\"b\"}"));
	CHECK(render::etag("x").size() == 18);
}

TEST_CASE("etag_matches: exact, listed, weak on either side", "[render]")
{
	const std::string tag = "\"0123456789abcdef\"";
	CHECK(render::etag_matches(tag, tag));
	CHECK(render::etag_matches("W/" + tag, tag));
	CHECK(render::etag_matches(tag, "W/" + tag));
	CHECK(render::etag_matches("W/" + tag, "W/" + tag));
	CHECK(render::etag_matches("\"x\", " + tag, tag));
	CHECK(render::etag_matches("\"x\",\t" + tag + " , \"y\"", tag));
	CHECK(render::etag_matches(" \t" + tag + " \t", tag));
	CHECK(render::etag_matches(",," + tag + ",,", tag));
	CHECK(render::etag_matches("\"a,b\", " + tag, tag));
}

TEST_CASE("etag_matches: star", "[render]")
{
	CHECK(render::etag_matches("*", "\"t\""));
	CHECK(render::etag_matches("  *  ", "\"t\""));
	CHECK(render::etag_matches("\"x\", *", "\"t\""));
	CHECK_FALSE(render::etag_matches("*x", "\"t\""));
	CHECK_FALSE(render::etag_matches("\"*\"", "\"t\""));
}

TEST_CASE("etag_matches: mismatches", "[render]")
{
	const std::string tag = "\"0123456789abcdef\"";
	CHECK_FALSE(render::etag_matches("", tag));
	CHECK_FALSE(render::etag_matches("\"0123456789ABCDEF\"", tag)); // case matters
	CHECK_FALSE(render::etag_matches("0123456789abcdef", tag));    // unquoted
	CHECK_FALSE(render::etag_matches("\"0123456789abcdef", tag));  // unterminated
	CHECK_FALSE(render::etag_matches("w/" + tag, tag));            // W/ is case-sensitive
	CHECK_FALSE(render::etag_matches("\"0123456789abcde\"", tag));
	CHECK_FALSE(render::etag_matches("\"x\", \"y\"", tag));
	CHECK_FALSE(render::etag_matches(tag, ""));
	CHECK_FALSE(render::etag_matches("\"\"", ""));
	CHECK_FALSE(render::etag_matches("W/", tag));
}

TEST_CASE("etag_matches: garbage around a valid member", "[render]")
{
	const std::string tag = "\"t\"";
	CHECK(render::etag_matches("garbage, \"t\"", tag));
	CHECK(render::etag_matches("\"u\"junk, \"t\"", tag));
	CHECK(render::etag_matches("W/x, W/\"t\"", tag));
	CHECK_FALSE(render::etag_matches("\"u\"\"t\"", tag));
	CHECK_FALSE(render::etag_matches("\"t", tag));
}

TEST_CASE("etag_matches: never throws on any short input", "[render]")
{
	// Every string of up to 4 bytes over an alphabet of the parser's
	// delimiters: no crash, no throw, no false match of a different tag.
	const std::string alphabet("\"W/*, \t\0x", 9);
	const std::string tag = "\"t\"";
	std::string s;
	std::size_t count = 0;
	const auto visit = [&](auto &&self, std::size_t depth) -> void {
		count++;
		bool result = false;
		REQUIRE_NOTHROW(result = render::etag_matches(s, tag));
		if (result)
			REQUIRE((s.find('*') != std::string::npos || s.find(tag) != std::string::npos));
		if (depth == 4)
			return;
		for (char c : alphabet) {
			s.push_back(c);
			self(self, depth + 1);
			s.pop_back();
		}
	};
	visit(visit, 0);
	CHECK(count == 1 + 9 + 81 + 729 + 6561);
}

// The spec's example documents (matrix-spec, data/api/*/wellknown.yaml,
// support.yaml, policy_server.yaml, as of v1.19 and its main branch), copied
// here as the spec prints them, and the records an operator writes from
// them.  Each record must be valid and serve its example: JSON objects are
// unordered, so the documents are compared as JSON values, and each string
// (the key above all) byte for byte through that comparison.
namespace {

const char *const spec_server = R"({
  "m.server": "delegated.example.com:1234"
})";

const char *const spec_client = R"({
  "m.homeserver": {
    "base_url": "https://matrix.example.com"
  },
  "m.identity_server": {
    "base_url": "https://identity.example.com"
  },
  "org.example.custom.property": {
    "app_url": "https://custom.app.example.org"
  }
})";

const char *const spec_support = R"({
  "contacts": [
    {
      "matrix_id": "@admin:example.org",
      "email_address": "admin@example.org",
      "role": "m.role.admin"
    },
    {
      "email_address": "security@example.org",
      "role": "m.role.security"
    }
  ],
  "support_page": "https://example.org/support.html"
})";

const char *const spec_policy_server = R"({
  "public_keys": {
    "ed25519": "6yhHGKhCiXTSEN2ksjV7kX_N6rBQZ3Xb-M7LlC6NS-s"
  }
})";

const char *const spec_records = R"(
[domains."example.com"]
server = "delegated.example.com:1234"
client = "https://matrix.example.com"

[domains."example.com".client_extra]
"m.identity_server" = { base_url = "https://identity.example.com" }
"org.example.custom.property" = { app_url = "https://custom.app.example.org" }

[domains."example.com".support]
contacts = [
	{ matrix_id = "@admin:example.org", email_address = "admin@example.org", role = "m.role.admin" },
	{ email_address = "security@example.org", role = "m.role.security" },
]
support_page = "https://example.org/support.html"

# The spec's JSON copied as it is.
[domains."example.com".policy_server]
public_keys = { ed25519 = "6yhHGKhCiXTSEN2ksjV7kX_N6rBQZ3Xb-M7LlC6NS-s" }

# The short form.
[domains."short.example.com"]
policy_server = { ed25519 = "6yhHGKhCiXTSEN2ksjV7kX_N6rBQZ3Xb-M7LlC6NS-s" }
)";

} // namespace

TEST_CASE("the spec's example documents, written as records, are served as the spec shows them",
          "[render][spec]")
{
	const auto read = mxd::domains_toml::read(spec_records, "spec.toml", mxd::domains_toml::Beside::nothing);
	REQUIRE(read.problems.empty());
	REQUIRE(read.entries.size() == 2);
	const json record = json::parse(read.entries[0].record);
	const json short_form = json::parse(read.entries[1].record);
	CHECK(mxd::record::validate(record, "example.com").empty());
	CHECK(mxd::record::validate(short_form, "short.example.com").empty());

	const render::Policy policy;
	const auto served = [&](const json &r, Document d) {
		const Response answer = render::document(r, d, "example.com", policy);
		CHECK(answer.status == 200);
		return json::parse(answer.body);
	};
	CHECK(served(record, Document::server) == json::parse(spec_server));
	CHECK(served(record, Document::client) == json::parse(spec_client));
	CHECK(served(record, Document::support) == json::parse(spec_support));
	CHECK(served(record, Document::policy_server) == json::parse(spec_policy_server));
	CHECK(served(short_form, Document::policy_server) == json::parse(spec_policy_server));
	// Single-member documents are byte for byte the spec's, compacted.
	CHECK(render::body(record, Document::server) == json::parse(spec_server).dump());
	CHECK(render::body(record, Document::policy_server) == json::parse(spec_policy_server).dump());
	CHECK(render::body(short_form, Document::policy_server) ==
	      json::parse(spec_policy_server).dump());
}

TEST_CASE("redirect: a base gets the document's path, a table names whole URLs", "[render]")
{
	const json base = {{"redirect", "https://matrix.example.net/"}};
	CHECK(render::redirect(base, Document::client)->location ==
	      "https://matrix.example.net/.well-known/matrix/client");
	CHECK(render::redirect(base, Document::policy_server)->location ==
	      "https://matrix.example.net/.well-known/matrix/policy_server");
	CHECK(render::redirect(base, Document::server)->status == 302);
	CHECK(render::redirect({{"redirect", "https://example.net/sub"}}, Document::support)->location ==
	      "https://example.net/sub/.well-known/matrix/support");
	const json table = {{"redirect", {{"client", "https://example.net/c.json?v=2"}}},
	                    {"redirect_status", 308},
	                    {"server", "matrix.example.org"}};
	CHECK(render::redirect(table, Document::client)->location == "https://example.net/c.json?v=2");
	CHECK(render::redirect(table, Document::client)->status == 308);
	CHECK_FALSE(render::redirect(table, Document::server));
	CHECK_FALSE(render::redirect(full, Document::client));
}

TEST_CASE("document: a redirect with Location, CORS, Cache-Control, ETag and a small body",
          "[render]")
{
	for (int status : {301, 302, 307, 308}) {
		INFO(status);
		const json record = {{"redirect", "https://matrix.example.net"},
		                     {"redirect_status", status},
		                     {"max_age", 120}};
		const Response r = render::document(record, Document::client, "example.org", {});
		CHECK(r.status == status);
		const std::string body =
			R"({"location":"https://matrix.example.net/.well-known/matrix/client"})";
		CHECK(r.body == body);
		CHECK(r.headers ==
		      with(common, {{"Cache-Control", "public, max-age=120"},
		                    {"ETag", render::etag(std::to_string(status) + body)},
		                    {"Location", "https://matrix.example.net/.well-known/matrix/client"}}));
	}
	// Without a status, 302; without max_age, the policy's.
	const Response d = render::document({{"redirect", {{"server", "https://example.net/s"}}}},
	                                    Document::server, "example.org", {});
	CHECK(d.status == 302);
	CHECK(*d.header("Cache-Control") == "public, max-age=14400");
	CHECK(*d.header("Location") == "https://example.net/s");
	// The documents the table does not name are the record's as ever.
	CHECK(render::document({{"redirect", {{"server", "https://example.net/s"}}}}, Document::client,
	                       "example.org", {})
	          .status == 404);
	// Two statuses to one place are two validators.
	CHECK(*render::document({{"redirect", "https://example.net"}, {"redirect_status", 301}},
	                        Document::client, "example.org", {})
	           .header("ETag") !=
	      *render::document({{"redirect", "https://example.net"}}, Document::client, "example.org",
	                        {})
	           .header("ETag"));
}
