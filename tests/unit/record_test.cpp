#include "core/record.hpp"
#include "core/render.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <vector>

using nlohmann::json;
using mxd::record::Path;
using mxd::record::Problem;
using mxd::record::format_path;
using mxd::record::validate;

namespace {

using Strings = std::vector<std::string>;

// The formatted paths of the problems, sorted: the order of checks is not
// part of the contract, the set of places is.
Strings paths(const std::vector<Problem> &problems)
{
	Strings out;
	for (const Problem &p : problems)
		out.push_back(format_path(p.path));
	std::sort(out.begin(), out.end());
	return out;
}

Strings paths_of(const json &record, std::string_view key = "example.org")
{
	return paths(validate(record, key));
}

// "path: message" lines, as an operator reads them.
Strings lines(const std::vector<Problem> &problems)
{
	Strings out;
	for (const Problem &p : problems)
		out.push_back(format_path(p.path) + ": " + p.message);
	return out;
}

const Strings none;

const std::string key43 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";

json with(std::string_view key, json value)
{
	return json{{std::string(key), std::move(value)}};
}

json contact(json fields)
{
	return json{{"support", {{"contacts", json::array({std::move(fields)})}}}};
}

} // namespace

// format_path -----------------------------------------------------------

TEST_CASE("format_path: names, indexes and quoted names", "[record]")
{
	CHECK(format_path({}) == "");
	CHECK(format_path({std::string("server")}) == "server");
	CHECK(format_path({std::string("support"), std::string("contacts"), std::size_t{0},
	                   std::string("role")}) == "support.contacts[0].role");
	CHECK(format_path({std::string("client_extra"), std::string("m.identity_server"),
	                   std::string("base_url")}) == "client_extra.\"m.identity_server\".base_url");
	CHECK(format_path({std::string("a"), std::size_t{3}, std::size_t{14}}) == "a[3][14]");
	CHECK(format_path({std::size_t{2}}) == "[2]");
	CHECK(format_path({std::string("_x1")}) == "_x1");
	CHECK(format_path({std::string("1x")}) == "\"1x\"");
	CHECK(format_path({std::string("")}) == "\"\"");
	CHECK(format_path({std::string("a b")}) == "\"a b\"");
	CHECK(format_path({std::string("q\"\\")}) == "\"q\\\"\\\\\"");
	CHECK(format_path({std::string("nl\n\x7f")}) == "\"nl\\x0a\\x7f\"");
	CHECK(format_path({std::string("\xc3\xa9t\xc3\xa9")}) == "\"\xc3\xa9t\xc3\xa9\"");
	CHECK(format_path({std::string("bad\xff")}) == "\"bad\\xff\"");
}

// the whole record ------------------------------------------------------

TEST_CASE("validate: the design's example record is valid", "[record]")
{
	const json r = json::parse(R"({
		"domain": "example.org",
		"note": "customer 42",
		"server": "matrix.example.org:443",
		"client": "https://matrix.example.org",
		"client_extra": { "m.identity_server": {"base_url": "https://id.example.org"},
		                  "org.matrix.msc3575.proxy": {"url": "https://sync.example.org"},
		                  "org.matrix.msc4143.rtc_foci": [{"type": "livekit", "livekit_service_url": "https://rtc.example.org"}],
		                  "io.element.e2ee": {"default": false},
		                  "m.tile_server": {"map_style_url": "https://tiles.example.org/style.json"} },
		"support": { "contacts": [{"matrix_id": "@admin:example.org", "role": "m.role.admin"},
		                          {"email_address": "security@example.org", "role": "m.role.security"}],
		             "support_page": "https://example.org/help" },
		"policy_server": {"ed25519": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"},
		"max_age": 3600
	})");
	CHECK(validate(r, "example.org").empty());
	CHECK(validate(r, "").empty());
	CHECK(validate(r, "*.example.net").empty());
	CHECK(validate(json::object(), "example.org").empty());
}

TEST_CASE("validate: a record must be an object", "[record]")
{
	for (const json &bad : {json(), json::array(), json("x"), json(1), json(true)}) {
		const auto problems = validate(bad, "example.org");
		REQUIRE(problems.size() == 1);
		CHECK(problems[0].path.empty());
	}
	CHECK(validate(json::array(), "x")[0].message == "the record must be an object, not an array");
	CHECK(validate(json(), "x")[0].message == "the record must be an object, not null");
}

TEST_CASE("validate: unknown top-level fields", "[record]")
{
	const json r = {{"servr", "m.example.org"}, {"m.server", "x"}, {"server", "m.example.org"}};
	const auto problems = validate(r, "example.org");
	CHECK(paths(problems) == Strings{"\"m.server\"", "servr"});
	CHECK(problems[0].message ==
	      "unknown field; a record has server, client, client_extra, support, policy_server, "
	      "max_age, redirect, redirect_status, domain and note");
}

TEST_CASE("validate: every problem is reported, not just the first", "[record]")
{
	const json r = {{"server", "https://m.example.org"},
	                {"client", "m.example.org"},
	                {"support", json::object()},
	                {"max_age", -1},
	                {"note", 5}};
	CHECK(paths_of(r) == Strings{"client", "max_age", "note", "server", "support"});
}

// server ----------------------------------------------------------------

TEST_CASE("validate: server accepts server names", "[record]")
{
	for (const char *ok : {"matrix.example.org", "matrix.example.org:443", "example.org:8448",
	                       "1.2.3.4", "1.2.3.4:8448", "[2001:db8::1]", "[::1]:443", "localhost"})
		CHECK(paths_of(with("server", ok)) == none);
}

TEST_CASE("validate: server rejects URLs, paths, bad ports and non-strings", "[record]")
{
	for (const json &bad : {json("https://matrix.example.org"), json("matrix.example.org/"),
	                        json("matrix.example.org:99999"), json("matrix.example.org:0"),
	                        json("matrix example.org"), json(""), json(443), json::object()})
		CHECK(paths_of(with("server", bad)) == Strings{"server"});

	const auto p = validate(with("server", "https://m.example.org"), "example.org");
	REQUIRE(p.size() == 1);
	CHECK(p[0].message.starts_with("\"https://m.example.org\" "));
	CHECK(p[0].message.find("host[:port]") != std::string::npos);
	const auto port = validate(with("server", "m.example.org:0"), "example.org");
	REQUIRE(port.size() == 1);
	CHECK(port[0].message.starts_with("\"m.example.org:0\" "));
	CHECK(port[0].message.ends_with("; a server name is host[:port], such as matrix.example.org:443"));
	CHECK(validate(with("server", 443), "x")[0].message ==
	      "must be a string such as \"matrix.example.org:443\", not an integer");
}

// templates -------------------------------------------------------------

TEST_CASE("validate: templates are expanded with a sample name from the key", "[record]")
{
	// Unexpanded, "{domain}" is no server name; expanded it is.
	const json r = {{"server", "{domain}"}, {"client", "https://matrix.{domain}/"}};
	CHECK(paths(validate(r, "")) == none);              // example.org
	CHECK(paths(validate(r, "*.example.net")) == none); // a.example.net, not *.example.net
	CHECK(paths(validate(r, "chat.example.com")) == none);

	// The sample is what is checked: a key that makes the name too long.
	const std::string label(63, 'a');
	const std::string long_key = label + "." + label + "." + label + "." + std::string(61, 'b');
	CHECK(paths(validate(with("server", "{domain}"), long_key)) == none);
	CHECK(paths(validate(with("server", "matrix.{domain}"), long_key)) == Strings{"server"});

	// A template that breaks the grammar whatever the name.
	CHECK(paths(validate(with("server", "{domain}/x"), "")) == Strings{"server"});
	CHECK(validate(with("server", "{domain}/x"), "")[0].message.starts_with("\"example.org/x\" "));
}

TEST_CASE("validate: templates in nested values are expanded too", "[record]")
{
	const json r = contact({{"role", "m.role.admin"}, {"email_address", "admin@{domain}"}});
	CHECK(paths(validate(r, "")) == none);
	const json bad = contact({{"role", "m.role.admin"}, {"email_address", "{domain}"}});
	CHECK(paths(validate(bad, "")) == Strings{"support.contacts[0].email_address"});
}

// client ----------------------------------------------------------------

TEST_CASE("validate: client accepts absolute http(s) URLs", "[record]")
{
	for (const char *ok : {"https://matrix.example.org", "https://matrix.example.org/",
	                       "http://localhost:8008", "HTTPS://Matrix.Example.org/base/path",
	                       "Http://m.example.org:65535/x/", "https://[2001:db8::1]:8448",
	                       "https://192.0.2.1"})
		CHECK(paths_of(with("client", ok)) == none);
}

TEST_CASE("validate: client rejects anything else", "[record]")
{
	for (const json &bad :
	     {json("matrix.example.org"), json("ftp://matrix.example.org"), json("https://"),
	      json("https:///path"), json("https://m.example.org#frag"), json("https://m.example.org/?q=1"),
	      json("https://m.example.org:0"), json("https://m.example.org:65536"),
	      json("https://m.example.org:"), json("https://m.example.org:44x"), json("https://a b.org"),
	      json("https://m.example.org/\t"), json("https://user:pw@m.example.org"),
	      json("https://[::1"), json("https://[::1]x"), json("https://:443"), json(""),
	      json("//m.example.org"), json(5), json::object()})
		CHECK(paths_of(with("client", bad)) == Strings{"client"});

	CHECK(validate(with("client", "matrix.example.org"), "x")[0].message ==
	      "\"matrix.example.org\" has no http:// or https:// scheme; expected an absolute http or "
	      "https URL such as https://matrix.example.org");
	// An unbracketed IPv6 address was once split at its last ':' and passed.
	CHECK(validate(with("client", "https://2001:db8::1:8448"), "x")[0].message ==
	      "\"https://2001:db8::1:8448\" has more than one ':'; write an IPv6 address in "
	      "brackets: [2001:db8::1]:8448; expected an absolute http or https URL such as "
	      "https://matrix.example.org");
	CHECK(validate(with("client", "https://m.example.org#x"), "x")[0].message ==
	      "\"https://m.example.org#x\" has a fragment (#...); expected an absolute http or "
	      "https URL such as https://matrix.example.org");
}

// client_extra ----------------------------------------------------------

TEST_CASE("validate: client_extra passes namespaced keys with any value", "[record]")
{
	const json extra = {{"org.matrix.msc4143.rtc_foci", json::array({{{"type", "livekit"}}})},
	                    {"m.tile_server", {{"map_style_url", "https://t.example.org"}}},
	                    {"io.element.jitsi", {{"preferredDomain", "jitsi.example.org"}}},
	                    {"cc.etke.synapse-admin", "anything"},
	                    {"org.example.number", 5},
	                    {"org.example.null", nullptr},
	                    {"m.identity_server", {{"base_url", "https://id.example.org/"}, {"x", 1}}}};
	CHECK(paths_of(with("client_extra", extra)) == none);
	CHECK(paths_of(with("client_extra", json::object())) == none);
}

TEST_CASE("validate: client_extra must be an object", "[record]")
{
	for (const json &bad : {json::array(), json("x"), json(1)})
		CHECK(paths_of(with("client_extra", bad)) == Strings{"client_extra"});
}

TEST_CASE("validate: client_extra keys must be namespaced", "[record]")
{
	CHECK(paths_of(with("client_extra", {{"rtc_foci", 1}})) == Strings{"client_extra.rtc_foci"});
	CHECK(paths_of(with("client_extra", {{"org.example key", 1}})) ==
	      Strings{"client_extra.\"org.example key\""});
	CHECK(paths_of(with("client_extra", {{"org.example\tkey", 1}})) ==
	      Strings{"client_extra.\"org.example\\x09key\""});
	CHECK(paths_of(with("client_extra", {{"", 1}})) == Strings{"client_extra.\"\""});
	CHECK(validate(with("client_extra", {{"rtc_foci", 1}}), "x")[0].message ==
	      "not a namespaced key; extra client keys follow the Java package convention, such as "
	      "org.example.key or m.identity_server");
}

TEST_CASE("validate: client_extra may not override m.homeserver", "[record]")
{
	const json r = {{"client", "https://m.example.org"},
	                {"client_extra", {{"m.homeserver", {{"base_url", "https://other.example"}}}}}};
	const auto p = validate(r, "example.org");
	CHECK(paths(p) == Strings{"client_extra.\"m.homeserver\""});
	CHECK(p[0].message == "m.homeserver is built from \"client\"; set client instead");
}

TEST_CASE("validate: m.identity_server needs an object with an http(s) base_url", "[record]")
{
	const auto id = [](json v) { return with("client_extra", {{"m.identity_server", std::move(v)}}); };
	CHECK(paths_of(id({{"base_url", "https://id.example.org"}})) == none);
	CHECK(paths_of(id("https://id.example.org")) == Strings{"client_extra.\"m.identity_server\""});
	CHECK(paths_of(id(json::object())) == Strings{"client_extra.\"m.identity_server\".base_url"});
	CHECK(paths_of(id({{"base_url", "id.example.org"}})) ==
	      Strings{"client_extra.\"m.identity_server\".base_url"});
	CHECK(paths_of(id({{"base_url", 1}})) == Strings{"client_extra.\"m.identity_server\".base_url"});
	CHECK(validate(id(json::object()), "x")[0].message ==
	      "missing; m.identity_server needs a base_url such as https://id.example.org");
}

// support ---------------------------------------------------------------

TEST_CASE("validate: support with contacts, a page, or both", "[record]")
{
	CHECK(paths_of(with("support", {{"support_page", "https://example.org/help?lang=en#matrix"}})) == none);
	CHECK(paths_of(contact({{"role", "m.role.admin"}, {"matrix_id", "@admin:example.org"}})) == none);
	CHECK(paths_of(contact({{"role", "m.role.security"}, {"email_address", "sec@example.org"}})) == none);
	CHECK(paths_of(contact({{"role", "org.example.moderator"},
	                        {"matrix_id", "@mod:other.example:8448"},
	                        {"email_address", "mod@example.org"},
	                        {"dev.zirco.msc4439.pgp_key", "https://example.org/key.asc"}})) == none);
	const json both = {{"support",
	                    {{"contacts", json::array({{{"role", "m.role.admin"}, {"matrix_id", "@a:b.org"}}})},
	                     {"support_page", "https://example.org/help"},
	                     {"org.example.policies", {{"x", 1}}}}}};
	CHECK(paths_of(both) == none);
}

TEST_CASE("validate: support must be an object with contacts or support_page", "[record]")
{
	CHECK(paths_of(with("support", json::array())) == Strings{"support"});
	CHECK(paths_of(with("support", json::object())) == Strings{"support"});
	CHECK(validate(with("support", json::object()), "x")[0].message ==
	      "needs contacts, support_page or both");
	// A namespaced extension alone is not enough.
	CHECK(paths_of(with("support", {{"org.example.x", 1}})) == Strings{"support"});
}

TEST_CASE("validate: support.contacts must be a non-empty array of objects", "[record]")
{
	CHECK(paths_of(with("support", {{"contacts", "@admin:example.org"}})) ==
	      Strings{"support.contacts"});
	// Empty is wrong even next to a page: the spec says "if present".
	CHECK(paths_of(with("support", {{"contacts", json::array()},
	                                {"support_page", "https://example.org/help"}})) ==
	      Strings{"support.contacts"});
	CHECK(paths_of(with("support", {{"contacts", json::array({"@admin:example.org"})}})) ==
	      Strings{"support.contacts[0]"});
}

TEST_CASE("validate: each contact needs a role", "[record]")
{
	const auto p = validate(contact({{"matrix_id", "@admin:example.org"}}), "example.org");
	CHECK(lines(p) ==
	      Strings{"support.contacts[0].role: missing; each contact needs a role such as m.role.admin"});

	CHECK(paths_of(contact({{"role", 1}, {"matrix_id", "@a:b.org"}})) ==
	      Strings{"support.contacts[0].role"});
	CHECK(paths_of(contact({{"role", "admin"}, {"matrix_id", "@a:b.org"}})) ==
	      Strings{"support.contacts[0].role"});
	CHECK(paths_of(contact({{"role", "m.role admin"}, {"matrix_id", "@a:b.org"}})) ==
	      Strings{"support.contacts[0].role"});
	CHECK(validate(contact({{"role", "admin"}, {"matrix_id", "@a:b.org"}}), "x")[0].message ==
	      "\"admin\" is not a role; use m.role.admin, m.role.security or a namespaced role such "
	      "as org.example.role");
}

TEST_CASE("validate: each contact needs a matrix_id or an email_address", "[record]")
{
	const json r = {{"support",
	                 {{"contacts", json::array({{{"role", "m.role.admin"}, {"matrix_id", "@a:b.org"}},
	                                            {{"role", "m.role.admin"}}})}}}};
	const auto p = validate(r, "example.org");
	CHECK(lines(p) == Strings{"support.contacts[1]: needs a matrix_id, an email_address or both"});
}

TEST_CASE("validate: matrix_id must look like a user ID", "[record]")
{
	for (const char *ok : {"@admin:example.org", "@a:b", "@admin:[::1]:8448", "@admin:other.example:8448"})
		CHECK(paths_of(contact({{"role", "m.role.admin"}, {"matrix_id", ok}})) == none);
	for (const json &bad : {json("admin:example.org"), json("@admin"), json("@admin:"),
	                        json("@:example.org"), json("@ad min:example.org"), json("@"), json(""),
	                        json(7)})
		CHECK(paths_of(contact({{"role", "m.role.admin"}, {"matrix_id", bad}})) ==
		      Strings{"support.contacts[0].matrix_id"});
}

TEST_CASE("validate: email_address must look like an address", "[record]")
{
	for (const char *ok : {"admin@example.org", "first.last+tag@sub.example.org", "a@b"})
		CHECK(paths_of(contact({{"role", "m.role.admin"}, {"email_address", ok}})) == none);
	for (const json &bad : {json("admin"), json("a@b@c"), json("@example.org"), json("admin@"),
	                        json("ad min@example.org"), json("admin@example.org\n"), json(""),
	                        json(json::array())})
		CHECK(paths_of(contact({{"role", "m.role.admin"}, {"email_address", bad}})) ==
		      Strings{"support.contacts[0].email_address"});
}

TEST_CASE("validate: a contact's other keys must be namespaced", "[record]")
{
	CHECK(paths_of(contact({{"role", "m.role.admin"}, {"matrix_id", "@a:b.org"}, {"name", "Al"}})) ==
	      Strings{"support.contacts[0].name"});
	// A misspelt field is named, not silently served.
	CHECK(paths_of(contact({{"role", "m.role.admin"}, {"matrix_id", "@a:b.org"},
	                        {"emial_address", "a@b.org"}})) ==
	      Strings{"support.contacts[0].emial_address"});
}

TEST_CASE("validate: support_page must be an http(s) URL", "[record]")
{
	for (const json &bad : {json("example.org/help"), json("mailto:admin@example.org"),
	                        json("https://"), json(3)})
		CHECK(paths_of(with("support", {{"support_page", bad}})) == Strings{"support.support_page"});
}

TEST_CASE("validate: other support keys must be namespaced", "[record]")
{
	CHECK(paths_of(with("support", {{"support_page", "https://example.org/"}, {"policies", 1}})) ==
	      Strings{"support.policies"});
	CHECK(paths_of(with("support", {{"support_page", "https://example.org/"},
	                                {"org.matrix.msc4266.policies", 1}})) == none);
}

// policy_server ---------------------------------------------------------

TEST_CASE("validate: policy_server ed25519 is 32 bytes of unpadded base64", "[record]")
{
	const auto ps = [](json v) { return with("policy_server", std::move(v)); };
	CHECK(paths_of(ps({{"ed25519", key43}})) == none);
	CHECK(paths_of(ps({{"ed25519", std::string(42, '/') + "8"}})) == none);
	CHECK(paths_of(ps({{"ed25519", key43}, {"org.example.alg", "x"}})) == none);

	for (const json &bad :
	     {json(key43 + "="), json(key43.substr(0, 42)), json(key43 + "A"), json(key43.substr(0, 42) + "!"),
	      json(key43.substr(0, 42) + "9"), json(""), json(32)})
		CHECK(paths_of(ps({{"ed25519", bad}})) == Strings{"policy_server.ed25519"});

	CHECK(validate(ps({{"ed25519", key43 + "="}}), "x")[0].message ==
	      "\"" + key43 + "=\" has padding (=); the key is unpadded base64");
	CHECK(validate(ps({{"ed25519", key43.substr(0, 42)}}), "x")[0].message ==
	      "\"" + key43.substr(0, 42) +
	          "\" is 42 characters long; an ed25519 key (32 bytes) is 43 in unpadded base64");
	// 43 characters but the last one has bits set past the 32nd byte.
	CHECK(validate(ps({{"ed25519", key43.substr(0, 42) + "9"}}), "x")[0].message.ends_with(
	      "is not canonical base64: the unused bits of its last character are not zero"));
}

TEST_CASE("validate: policy_server keys in either base64 alphabet, never both", "[record]")
{
	const auto ps = [](json v) { return with("policy_server", std::move(v)); };
	// The spec's own example key (policy_server.yaml) is URL-safe.
	const std::string spec = "6yhHGKhCiXTSEN2ksjV7kX_N6rBQZ3Xb-M7LlC6NS-s";
	CHECK(paths_of(ps({{"ed25519", spec}})) == none);
	CHECK(paths_of(ps({{"ed25519", std::string(42, '_') + "8"}})) == none);
	CHECK(paths_of(ps({{"ed25519", std::string(42, '-') + "w"}})) == none);
	// The same bytes in the standard alphabet.
	CHECK(paths_of(ps({{"ed25519", "6yhHGKhCiXTSEN2ksjV7kX/N6rBQZ3Xb+M7LlC6NS+s"}})) == none);
	const std::string mixed = "6yhHGKhCiXTSEN2ksjV7kX/N6rBQZ3Xb-M7LlC6NS-s";
	CHECK(lines(validate(ps({{"ed25519", mixed}}), "x")) ==
	      Strings{"policy_server.ed25519: \"" + mixed +
	              "\" mixes the standard (+ /) and URL-safe (- _) base64 alphabets; write the key in "
	              "one of them"});
	// Canonical in its own alphabet: '_' is 63, whose low bits are set.
	CHECK(validate(ps({{"ed25519", spec.substr(0, 42) + "_"}}), "x")[0].message.ends_with(
	      "is not canonical base64: the unused bits of its last character are not zero"));
	CHECK(validate(ps({{"ed25519", spec.substr(0, 41)}}), "x")[0].message.ends_with(
	      "is 41 characters long; an ed25519 key (32 bytes) is 43 in unpadded base64"));
}

TEST_CASE("validate: policy_server in the spec's document form", "[record]")
{
	const auto ps = [](json v) { return with("policy_server", std::move(v)); };
	CHECK(paths_of(ps({{"public_keys", {{"ed25519", key43}}}})) == none);
	CHECK(paths_of(ps({{"public_keys", {{"ed25519", key43}, {"org.example.alg", "x"}}}})) == none);
	CHECK(lines(validate(ps({{"public_keys", {{"ed25519", key43 + "="}}}}), "x")) ==
	      Strings{"policy_server.public_keys.ed25519: \"" + key43 +
	              "=\" has padding (=); the key is unpadded base64"});
	CHECK(paths_of(ps({{"public_keys", json::object()}})) ==
	      Strings{"policy_server.public_keys.ed25519"});
	CHECK(paths_of(ps({{"public_keys", key43}})) == Strings{"policy_server.public_keys"});
	CHECK(paths_of(ps({{"public_keys", {{"curve", "x"}, {"ed25519", key43}}}})) ==
	      Strings{"policy_server.public_keys.curve"});
	// Both forms at once would be two documents in one.
	CHECK(lines(validate(ps({{"public_keys", {{"ed25519", key43}}}, {"ed25519", key43}}), "x")) ==
	      Strings{"policy_server.ed25519: beside public_keys; write either the short form "
	              "{ed25519 = \"...\"} or the document form {public_keys = {ed25519 = \"...\"}}, "
	              "with nothing beside it"});
}

TEST_CASE("validate: policy_server shape", "[record]")
{
	CHECK(paths_of(with("policy_server", key43)) == Strings{"policy_server"});
	CHECK(paths_of(with("policy_server", json::object())) == Strings{"policy_server.ed25519"});
	CHECK(paths_of(with("policy_server", {{"ed25519", key43}, {"curve", 1}})) ==
	      Strings{"policy_server.curve"});
}

// max_age, domain, note -------------------------------------------------

TEST_CASE("validate: max_age is an integer from 0 to 604800", "[record]")
{
	for (const json &ok : {json(0), json(300), json(604800), json(604800u)})
		CHECK(paths_of(with("max_age", ok)) == none);
	for (const json &bad : {json(-1), json(604801), json(604801u), json(1.5), json(60.0),
	                        json("60"), json(true), json(nullptr)})
		CHECK(paths_of(with("max_age", bad)) == Strings{"max_age"});
}

TEST_CASE("validate: domain and note are strings", "[record]")
{
	CHECK(paths_of({{"domain", "example.org"}, {"note", ""}}) == none);
	CHECK(paths_of({{"domain", 1}, {"note", json::array()}}) == Strings{"domain", "note"});
	CHECK(validate(with("note", 1), "x")[0].message == "must be a string, not an integer");
}

// size and UTF-8 --------------------------------------------------------

TEST_CASE("validate: a rendered document may be 12288 bytes, not one more", "[record]")
{
	json r = {{"client", "https://m.example.org"}, {"client_extra", {{"org.example.pad", ""}}}};
	const std::size_t base = mxd::render::body(r, mxd::Document::client)->size();
	r["client_extra"]["org.example.pad"] = std::string(mxd::record::max_document_size - base, 'x');
	REQUIRE(mxd::render::body(r, mxd::Document::client)->size() == 12288);
	CHECK(paths_of(r) == none);

	r["client_extra"]["org.example.pad"] = std::string(mxd::record::max_document_size - base + 1, 'x');
	const auto p = validate(r, "example.org");
	CHECK(lines(p) == Strings{"client_extra: makes /.well-known/matrix/client 12289 bytes long; "
	                          "the limit is 12288 bytes, the smallest a homeserver accepts"});
}

// What counts is the document as served, escapes included: a quote renders
// as \" and a control character as \u0001, so a record that fits only when
// its characters are counted as written must still be refused, whatever
// shortcut validation takes to skip rendering small records.
TEST_CASE("validate: the size limit counts characters escaped as served", "[record]")
{
	const auto refused = [](const std::string &pad) {
		json r = {{"client", "https://m.example.org"}, {"client_extra", {{"org.example.pad", pad}}}};
		REQUIRE(pad.size() < mxd::record::max_document_size);
		const auto p = validate(r, "example.org");
		return paths(p) == Strings{"client_extra"} &&
		       p[0].message.find("the limit is 12288 bytes") != std::string::npos;
	};
	CHECK(refused(std::string(7000, '"')));
	CHECK(refused(std::string(7000, '\\')));
	CHECK(refused(std::string(3000, '\x01')));
	CHECK(refused(std::string(2100, '\x1f')));
	// The same counts unescaped are well inside the limit.
	CHECK(paths_of({{"client", "https://m.example.org"},
	                {"client_extra", {{"org.example.pad", std::string(7000, 'x')}}}}) == none);
}

TEST_CASE("validate: the size problem names the part that grew", "[record]")
{
	const std::string big(13000, 'a');
	CHECK(paths_of(with("client", "https://m.example.org/" + big)) == Strings{"client"});
	CHECK(paths_of(with("support", {{"support_page", "https://example.org/" + big}})) ==
	      Strings{"support"});
	// Expansion counts: a template grows with the name.
	json r = with("support", {{"support_page", "https://example.org/"}});
	std::string page = "https://example.org/";
	for (int i = 0; i < 1200; i++)
		page += "{domain}";
	r["support"]["support_page"] = page;
	CHECK(page.size() < mxd::record::max_document_size);
	CHECK(paths(validate(r, "a")) == none);                         // 1200 bytes of name
	CHECK(paths(validate(r, "example.org")) == Strings{"support"}); // 13200
	r["support"]["support_page"] = page + page;
	CHECK(paths(validate(r, "a")) == none);
	CHECK(paths(validate(r, "example.org")) == Strings{"support"});
}

TEST_CASE("validate: invalid UTF-8 is named where it is", "[record]")
{
	CHECK(lines(validate(with("note", "caf\xe9"), "x")) == Strings{"note: not valid UTF-8"});

	const json extra = with("client_extra", {{"org.example.a", json::array({"ok", "\xff"})}});
	const auto p = validate(extra, "example.org");
	REQUIRE(p.size() == 1);
	CHECK(p[0].path == Path{std::string("client_extra"), std::string("org.example.a"), std::size_t{1}});
	CHECK(p[0].message == "not valid UTF-8");

	const json key = with("client_extra", {{"org.\xc3", 1}});
	const auto k = validate(key, "example.org");
	REQUIRE(k.size() == 1);
	CHECK(k[0].path == Path{std::string("client_extra"), std::string("org.\xc3")});
	CHECK(k[0].message == "key is not valid UTF-8");
	CHECK(format_path(k[0].path) == "client_extra.\"org.\\xc3\"");

	CHECK(paths_of(contact({{"role", "m.role.admin"}, {"matrix_id", "@\xed\xa0\x80:example.org"}})) ==
	      Strings{"support.contacts[0].matrix_id"});
	CHECK(paths_of(with("unknown", "\xff")) == Strings{"unknown", "unknown"});
}

TEST_CASE("validate: valid UTF-8 of every length passes", "[record]")
{
	const json r = {{"note", "\x7f \xc2\x80 \xdf\xbf \xe0\xa0\x80 \xef\xbf\xbf \xe2\x80\xa8 "
	                         "\xf0\x90\x80\x80 \xf4\x8f\xbf\xbf \xf0\x9f\x98\x80"},
	                {"client", "https://m.example.org"},
	                {"client_extra", {{"org.example.\xc3\xa9", "</script>\"\\\x01"}}}};
	CHECK(paths_of(r) == none);
	for (const char *bad : {"\x80", "\xc1\xbf", "\xe0\x9f\xbf", "\xed\xa0\x80", "\xf0\x8f\xbf\xbf",
	                        "\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\xc2", "\xe2\x80", "\xf0\x9f\x98"})
		CHECK(paths_of(with("note", bad)) == Strings{"note"});
}

// expand and effective --------------------------------------------------

TEST_CASE("expand: every {domain} in every string, no key, nothing else", "[record]")
{
	const json in = {{"server", "matrix.{domain}:443"},
	                 {"{domain}", "{domain}{domain}"},
	                 {"n", 5},
	                 {"b", true},
	                 {"z", nullptr},
	                 {"a", json::array({"x.{domain}", 1, json::array({"{domain}"})})},
	                 {"o", {{"p", {{"q", "@admin:{domain}"}}}}},
	                 {"partial", "{domai} {DOMAIN} {domain"}};
	const json before = in;
	const json out = mxd::record::expand(in, "example.org");
	CHECK(in == before);
	CHECK(out == json{{"server", "matrix.example.org:443"},
	                  {"{domain}", "example.orgexample.org"},
	                  {"n", 5},
	                  {"b", true},
	                  {"z", nullptr},
	                  {"a", json::array({"x.example.org", 1, json::array({"example.org"})})},
	                  {"o", {{"p", {{"q", "@admin:example.org"}}}}},
	                  {"partial", "{domai} {DOMAIN} {domain"}});
	CHECK(mxd::record::expand(json("{domain}"), "") == json(""));
	CHECK(mxd::record::expand(json(1), "x") == json(1));
}

TEST_CASE("expand: a name holding the placeholder is inserted once", "[record]")
{
	CHECK(mxd::record::expand(json("{domain}.{domain}"), "{domain}") == json("{domain}.{domain}"));
	CHECK(mxd::record::expand(json("a{domain}b"), "{domain}x") == json("a{domain}xb"));
}

TEST_CASE("effective: defaults fill missing parts, then templates expand", "[record]")
{
	const json defaults = {{"server", "matrix.{domain}:443"},
	                       {"client", "https://matrix.{domain}"},
	                       {"support", {{"support_page", "https://{domain}/help"}}},
	                       {"max_age", 600}};
	const json stored = {{"client", "https://chat.example.com"},
	                     {"support", {{"contacts", json::array({{{"role", "m.role.admin"},
	                                                             {"email_address", "a@{domain}"}}})}}}};
	const json d0 = defaults, s0 = stored;
	const json e = mxd::record::effective(stored, defaults, "example.org");
	CHECK(defaults == d0);
	CHECK(stored == s0);
	// A stored part replaces the default part as a whole: no merge inside.
	CHECK(e == json{{"server", "matrix.example.org:443"},
	                {"client", "https://chat.example.com"},
	                {"support", {{"contacts", json::array({{{"role", "m.role.admin"},
	                                                        {"email_address", "a@example.org"}}})}}},
	                {"max_age", 600}});
	CHECK(validate(e, "example.org").empty());
}

TEST_CASE("effective: a stored part wins even when it is null or empty", "[record]")
{
	const json defaults = {{"server", "matrix.{domain}"}, {"max_age", 600}};
	const json stored = {{"max_age", 0}, {"server", "s.{domain}"}};
	CHECK(mxd::record::effective(stored, defaults, "x.org") ==
	      json{{"max_age", 0}, {"server", "s.x.org"}});
	CHECK(mxd::record::effective(json::object(), defaults, "x.org") ==
	      json{{"max_age", 600}, {"server", "matrix.x.org"}});
	CHECK(mxd::record::effective(stored, json::object(), "x.org") ==
	      json{{"max_age", 0}, {"server", "s.x.org"}});
	CHECK(mxd::record::effective(stored, json(), "x.org") ==
	      json{{"max_age", 0}, {"server", "s.x.org"}});
}

namespace {

// Every message of a validation, as "path: message".
std::vector<std::string> messages(const json &record, std::string_view key = "example.org")
{
	std::vector<std::string> out;
	for (const auto &p : validate(record, key))
		out.push_back(format_path(p.path) + ": " + p.message);
	return out;
}

} // namespace

TEST_CASE("validate: redirect as a base for every document, or a table of documents",
          "[record]")
{
	CHECK(messages({{"redirect", "https://matrix.example.net"}}).empty());
	CHECK(messages({{"redirect", "https://example.net/sub/"}, {"redirect_status", 308}}).empty());
	CHECK(messages({{"redirect", "https://{domain}.hosting.example"}}).empty());
	CHECK(messages({{"redirect", {{"client", "https://example.net/c.json?t=1"}}},
	                {"server", "matrix.example.org"},
	                {"max_age", 60}})
	          .empty());
	for (int status : {301, 302, 307, 308})
		CHECK(messages({{"redirect", "https://example.net"}, {"redirect_status", status}}).empty());
	// http only to a loopback host, which a browser trusts as a secure
	// context and which is only ever a test.
	CHECK(messages({{"redirect", "http://127.0.0.1:8080"}}).empty());
	CHECK(messages({{"redirect", "http://localhost:8080"}}).empty());
	CHECK(messages({{"redirect", {{"client", "http://[::1]:9/x"}}}}).empty());
	// Wildcards redirect like any record.
	CHECK(messages({{"redirect", "https://{domain}.hosting.example"}}, "*.example.net").empty());
}

TEST_CASE("validate: redirect refuses what it cannot serve, by name", "[record]")
{
	CHECK(messages({{"redirect", "http://matrix.example.net"}}) ==
	      std::vector<std::string>{
		      "redirect: \"http://matrix.example.net\" is not an https URL (http only to localhost "
		      "or 127.0.0.1, for tests); expected a base such as https://matrix.example.net, to "
		      "which the document's path is appended"});
	CHECK(messages({{"redirect", "https://example.net/?x=1"}}) ==
	      std::vector<std::string>{
		      "redirect: \"https://example.net/?x=1\" has a query (?...); expected a base such as "
		      "https://matrix.example.net, to which the document's path is appended"});
	CHECK(messages({{"redirect", {{"client", "https://example.net/c#top"}}}}) ==
	      std::vector<std::string>{
		      "redirect.client: \"https://example.net/c#top\" has a fragment (#...); expected an "
		      "absolute https URL such as https://example.net/.well-known/matrix/client"});
	CHECK(messages({{"redirect", {{"client", "https://user:pw@example.net/c"}}}}).at(0).find(
	          "has user information") != std::string::npos);
	CHECK(messages({{"redirect", "https://bücher.example"}}).at(0).find(
	          "contains a character outside ASCII") != std::string::npos);
	CHECK(messages({{"redirect", "https://example.net/" + std::string(2100, 'a')}}).at(0).find(
	          "bytes long; the limit is 2048") != std::string::npos);
	CHECK(messages({{"redirect", "matrix.example.net"}}).at(0).find("has no http:// or https://") !=
	      std::string::npos);
	CHECK(messages({{"redirect", 5}}) ==
	      std::vector<std::string>{"redirect: must be a string (a base for every document) or a "
	                               "table of documents, not an integer"});
	CHECK(messages({{"redirect", json::object()}}).at(0).starts_with("redirect: is empty"));
	CHECK(messages({{"redirect", {{"clients", "https://example.net/c"}}}}) ==
	      std::vector<std::string>{"redirect.clients: not a document; redirect's table has server, "
	                               "client, support and policy_server"});
	CHECK(messages({{"redirect", {{"client", 1}}}}).at(0) ==
	      "redirect.client: must be a string: a URL such as "
	      "https://example.net/.well-known/matrix/client, not an integer");
}

TEST_CASE("validate: redirect_status is 301, 302, 307 or 308, and needs a redirect", "[record]")
{
	for (const json &bad : {json(303), json(300), json(200), json("302"), json(302.0)})
		CHECK(messages({{"redirect", "https://example.net"}, {"redirect_status", bad}}) ==
		      std::vector<std::string>{
			      "redirect_status: must be 301, 302, 307 or 308 (default 302)"});
	CHECK(messages({{"server", "matrix.example.org"}, {"redirect_status", 302}}) ==
	      std::vector<std::string>{"redirect_status: is given without a redirect"});
}

TEST_CASE("validate: a redirected document has no content of its own", "[record]")
{
	CHECK(messages({{"redirect", "https://example.net"}, {"server", "matrix.example.org"}}) ==
	      std::vector<std::string>{"server: feeds /.well-known/matrix/server, which redirect sends "
	                               "elsewhere; remove one of them"});
	CHECK(messages({{"redirect", {{"client", "https://example.net/c"}}},
	                {"client", "https://matrix.example.org"},
	                {"client_extra", {{"org.example.key", 1}}},
	                {"server", "matrix.example.org"}}) ==
	      std::vector<std::string>{
		      "client: feeds /.well-known/matrix/client, which redirect sends elsewhere; remove one "
		      "of them",
		      "client_extra: feeds /.well-known/matrix/client, which redirect sends elsewhere; "
		      "remove one of them"});
}

TEST_CASE("validate: a redirect to its own host and path is a loop", "[record]")
{
	CHECK(messages({{"redirect", "https://example.org"}}).size() == 4);
	CHECK(messages({{"redirect", "https://Example.ORG./"}}).at(0) ==
	      "redirect: \"https://Example.ORG./\" redirects /.well-known/matrix/server of example.org "
	      "to itself, a loop");
	CHECK(messages({{"redirect", {{"client", "https://example.org:443/.well-known/matrix/client?x"}}}}) ==
	      std::vector<std::string>{
		      "redirect.client: \"https://example.org:443/.well-known/matrix/client?x\" is "
		      "/.well-known/matrix/client of example.org itself, a loop"});
	// An escaped unreserved character is the same path to the responder.
	CHECK(messages({{"redirect", {{"client", "https://example.org/.well-known/matrix/%63lient"}}}})
	          .size() == 1);
	// Another port, another path or another document is no loop.
	CHECK(messages({{"redirect", "https://example.org:8443"}}).empty());
	CHECK(messages({{"redirect", "https://example.org/elsewhere"}}).empty());
	CHECK(messages({{"redirect", {{"client", "https://example.org/.well-known/matrix/server"}}}})
	          .empty());
	// A template is a loop for every host: found under a wildcard too.
	CHECK(messages({{"redirect", "https://{domain}"}}, "*.example.net").size() == 4);
	// Served, the record is checked for the host asked: a wildcard's
	// redirect to one of its own names loops for that name alone.
	const json wild = {{"redirect", "https://a.example.net"}};
	CHECK(messages(wild, "*.example.net").size() == 4); // its sample name is a.example.net
	CHECK(messages(wild, "b.example.net").empty());
	CHECK(messages(wild, "a.example.net").size() == 4);
}

TEST_CASE("validate: redirect has no place in [defaults]", "[record]")
{
	CHECK(messages({{"redirect", "https://example.net"}}, "") ==
	      std::vector<std::string>{
		      "redirect: is not allowed in [defaults]: it would take every domain's documents "
		      "elsewhere; give it in the records it is for"});
	CHECK(messages({{"redirect_status", 307}}, "") ==
	      std::vector<std::string>{
		      "redirect_status: is not allowed in [defaults], as redirect is not"});
}

TEST_CASE("effective: [defaults] give no content to a redirected document", "[record]")
{
	const json defaults = {{"server", "matrix.hosting.example:443"},
	                       {"support", {{"support_page", "https://hosting.example/help"}}},
	                       {"max_age", 600}};
	const json all = mxd::record::effective({{"redirect", "https://example.net"}}, defaults, "example.org");
	CHECK(all == json{{"redirect", "https://example.net"}, {"max_age", 600}});
	CHECK(validate(all, "example.org").empty());
	const json one =
		mxd::record::effective({{"redirect", {{"server", "https://example.net/s"}}}}, defaults, "example.org");
	CHECK(one == json{{"redirect", {{"server", "https://example.net/s"}}},
	                  {"support", {{"support_page", "https://hosting.example/help"}}},
	                  {"max_age", 600}});
	CHECK(validate(one, "example.org").empty());
}
