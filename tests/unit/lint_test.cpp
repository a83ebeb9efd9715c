// The lints of src/core/lint.cpp: each warning with its exact text, and the
// records that must draw none.
#include "core/lint.hpp"

#include "core/record.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using nlohmann::json;
namespace lint = mxd::lint;

namespace {

using Strings = std::vector<std::string>;

// "path: message [code]", as the programs print them after the domain.
Strings lines(const json &record)
{
	Strings out;
	for (const lint::Warning &w : lint::check(record))
		out.push_back(mxd::record::format_path(w.path) + ": " + w.message + " [" +
		              std::string(lint::code_name(w.code)) + "]");
	return out;
}

const json clean = json::parse(R"({
	"server": "matrix.example.org:443",
	"client": "https://matrix.example.org/",
	"client_extra": {
		"m.identity_server": {"base_url": "https://id.example.org"},
		"io.element.e2ee": {"default": false},
		"org.matrix.msc3575.proxy": {"url": "https://matrix.example.org"},
		"cc.etke.synapse-admin": "x"
	},
	"support": {
		"contacts": [{"role": "m.role.admin", "matrix_id": "@admin:example.org"},
		             {"role": "m.role.security", "email_address": "s@example.org"},
		             {"role": "org.example.role.moderator", "email_address": "m@example.org"}],
		"support_page": "https://example.org/help?x=1",
		"org.matrix.msc4266.policies": {}
	},
	"policy_server": {"ed25519": "6yhHGKhCiXTSEN2ksjV7kX_N6rBQZ3Xb-M7LlC6NS-s"},
	"max_age": 300
})");

json with(const char *field, json value)
{
	return json{{field, std::move(value)}};
}

} // namespace

TEST_CASE("lint: a careful record draws no warning", "[lint]")
{
	REQUIRE(mxd::record::validate(clean, "example.org").empty());
	CHECK(lines(clean).empty());
	CHECK(lines(json::object()).empty());
	CHECK(lines(json::array()).empty());
	CHECK(lines(with("server", "matrix.example.org")).empty());
	CHECK(lines(with("server", "[2001:db8::1]:8449")).empty());
	CHECK(lines(with("client", "https://matrix.example.org")).empty());
}

TEST_CASE("lint: org.matrix.msc2965.authentication", "[lint]")
{
	CHECK(lines({{"client", "https://m.example.org"},
	             {"client_extra", {{"org.matrix.msc2965.authentication",
	                                {{"issuer", "https://auth.example.org/"}}}}}}) ==
	      Strings{"client_extra.\"org.matrix.msc2965.authentication\": clients discover "
	              "authentication through GET /_matrix/client/v1/auth_metadata on the homeserver "
	              "now; remove this key (Synapse with MAS still writes it; current clients do not "
	              "read it) (spec: client-server API, OAuth 2.0 API, Server metadata discovery, "
	              "v1.15) [auth-metadata]"});
}

TEST_CASE("lint: org.matrix.msc4143.rtc_foci", "[lint]")
{
	CHECK(lines({{"client", "https://m.example.org"},
	             {"client_extra", {{"org.matrix.msc4143.rtc_foci", json::array()}}}}) ==
	      Strings{"client_extra.\"org.matrix.msc4143.rtc_foci\": MatrixRTC transports are found "
	              "through GET /_matrix/client/v1/rtc/transports on the homeserver now; configure "
	              "them there, and keep this key only while Element Call runs as a widget, which "
	              "still reads it (MSC4143; the spec has no section for it yet) [rtc-foci]"});
}

TEST_CASE("lint: a sliding sync proxy that is gone", "[lint]")
{
	CHECK(lines({{"client", "https://m.example.org"},
	             {"client_extra", {{"org.matrix.msc3575.proxy",
	                                {{"url", "https://SlidingSync.lab.matrix.org/"}}}}}}) ==
	      Strings{"client_extra.\"org.matrix.msc3575.proxy\": \"https://SlidingSync.lab.matrix.org/\" "
	              "is a sliding sync proxy that no longer runs; remove the key: homeservers serve "
	              "sliding sync themselves (simplified sliding sync, MSC4186: Synapse 1.114 and "
	              "later, conduwuit, tuwunel), and clients that take the key fail to sync "
	              "(MSC3575, superseded) [dead-proxy]"});
	// A proxy of one's own may still run for an old homeserver.
	CHECK(lines({{"client", "https://m.example.org"},
	             {"client_extra", {{"org.matrix.msc3575.proxy",
	                                {{"url", "https://syncv3.example.org"}}}}}})
	          .empty());
}

TEST_CASE("lint: a base_url with a path", "[lint]")
{
	CHECK(lines(with("client", "https://matrix.example.org/_matrix/client?x")) ==
	      Strings{"client: \"https://matrix.example.org/_matrix/client?x\" has the path "
	              "\"/_matrix/client\"; clients add /_matrix/client/... to the base URL "
	              "themselves, so it is normally the bare origin, \"https://matrix.example.org\"; "
	              "keep a path only if the server is really served under it (spec: client-server "
	              "API, Server Discovery, Well-known URIs) [base-url-path]"});
	CHECK(lines({{"client", "https://m.example.org"},
	             {"client_extra", {{"m.identity_server", {{"base_url", "https://id.example.org/is/"}}}}}}) ==
	      Strings{"client_extra.\"m.identity_server\".base_url: \"https://id.example.org/is/\" has "
	              "the path \"/is/\"; clients add /_matrix/client/... to the base URL themselves, "
	              "so it is normally the bare origin, \"https://id.example.org\"; keep a path only "
	              "if the server is really served under it (spec: client-server API, Server "
	              "Discovery, Well-known URIs) [base-url-path]"});
	CHECK(lines(with("client", "https://matrix.example.org:8008/")).empty());
	CHECK(lines(with("client", "https://matrix.example.org?a/b")).empty());
}

TEST_CASE("lint: server port 8448", "[lint]")
{
	CHECK(lines(with("server", "matrix.example.org:8448")) ==
	      Strings{"server: \"matrix.example.org:8448\" states port 8448, which a homeserver uses "
	              "anyway for a name without a port; write \"matrix.example.org\", which also lets "
	              "an SRV record (_matrix-fed._tcp) move the port later, unless skipping SRV is "
	              "what you want (spec: server-server API, Resolving server names, step 3) "
	              "[server-port-8448]"});
	CHECK(lines(with("server", "[2001:db8::1]:8448"))[0].starts_with(
	      "server: \"[2001:db8::1]:8448\" states port 8448, which a homeserver uses anyway for a "
	      "name without a port; write \"[2001:db8::1]\","));
	CHECK(lines(with("server", "matrix.example.org:84480")).empty());
}

TEST_CASE("lint: extension keys not in Java package style", "[lint]")
{
	const std::string tail = " is not namespaced in Java package style; name an extension after a "
	                         "domain you control, reversed and in lower case, such as "
	                         "com.example.myapp.setting (";
	CHECK(lines({{"client", "https://m.example.org"},
	             {"client_extra", {{"myapp.setting", 1}, {"Org.Example.key", 2}}}}) ==
	      Strings{"client_extra.\"Org.Example.key\": \"Org.Example.key\"" + tail +
	                  "spec: client-server API, Server Discovery, Well-known URIs; spec: "
	                  "appendices, Common Namespaced Identifier Grammar) [extension-key]",
	              "client_extra.\"myapp.setting\": \"myapp.setting\"" + tail +
	                  "spec: client-server API, Server Discovery, Well-known URIs; spec: "
	                  "appendices, Common Namespaced Identifier Grammar) [extension-key]"});
	CHECK(lines(with("support", {{"support_page", "https://example.org/"}, {"x.policies", 1}})) ==
	      Strings{"support.\"x.policies\": \"x.policies\"" + tail +
	              "spec: client-server API, GET /.well-known/matrix/support; spec: appendices, "
	              "Common Namespaced Identifier Grammar) [extension-key]"});
	CHECK(lines(with("support", {{"contacts", {{{"role", "m.role.admin"}, {"email_address", "a@b.c"},
	                                            {"pgp.key", "x"}}}}}))
	          .size() == 1);

	CHECK(lint::java_package_style("m.identity_server"));
	CHECK(lint::java_package_style("com.example.myapp.property"));
	CHECK(lint::java_package_style("cc.etke.synapse-admin"));
	CHECK(lint::java_package_style("org.matrix.msc4143.rtc_foci"));
	for (const char *bad : {"", "myapp.setting", "example", "Com.example.x", "1com.example.x",
	                        "com..example", "com.example.", "com.example x.y", "com.exämple.x"})
		CHECK_FALSE(lint::java_package_style(bad));
	CHECK_FALSE(lint::java_package_style("com.example." + std::string(244, 'x')));
	CHECK(lint::java_package_style("com.example." + std::string(243, 'x')));
}

TEST_CASE("lint: support roles", "[lint]")
{
	const auto role = [](const char *r) {
		return with("support", {{"contacts", {{{"role", r}, {"email_address", "a@example.org"}}}}});
	};
	CHECK(lines(role("m.role.moderator")) ==
	      Strings{"support.contacts[0].role: \"m.role.moderator\" is not a role of the spec, whose "
	              "m. names are its own (a moderator role is only proposed, MSC4121); use "
	              "m.role.admin (any query), m.role.security (sensitive requests) or a role of your "
	              "own such as org.example.role.moderator (spec: client-server API, GET "
	              "/.well-known/matrix/support; spec: appendices, Common Namespaced Identifier "
	              "Grammar) [support-role]"});
	CHECK(lines(role("role.moderator")) ==
	      Strings{"support.contacts[0].role: \"role.moderator\" is not namespaced in Java package "
	              "style; use m.role.admin (any query), m.role.security (sensitive requests) or a "
	              "role of your own such as org.example.role.moderator (spec: client-server API, GET "
	              "/.well-known/matrix/support; spec: appendices, Common Namespaced Identifier "
	              "Grammar) [support-role]"});
	CHECK(lines(role("m.role.admin")).empty());
	CHECK(lines(role("m.role.security")).empty());
	CHECK(lines(role("org.example.role")).empty());
}

TEST_CASE("lint: a document over 4 KiB", "[lint]")
{
	json r = {{"client", "https://m.example.org"},
	          {"client_extra", {{"org.example.big", std::string(4100, 'x')}}}};
	const Strings got = lines(r);
	REQUIRE(got.size() == 1);
	CHECK(got[0] == "client_extra: makes /.well-known/matrix/client 4174 bytes long; keep a "
	                "document under 4096 bytes: homeservers drop one past 12 KiB (tuwunel) to 50 "
	                "KiB (Synapse), and clients fetch it at every login; move large data to a URL "
	                "the document names (the spec sets no limit; spec: client-server API, Server "
	                "Discovery, Well-known URIs) [document-size]");
	// 4096 bytes exactly draws none.
	r["client_extra"]["org.example.big"] = std::string(4096 - 74, 'x');
	CHECK(lines(r).empty());
	CHECK(lines(with("support", {{"support_page", "https://example.org/" + std::string(4096, 'p')}}))[0]
	          .starts_with("support: makes /.well-known/matrix/support 41"));
}

TEST_CASE("lint: a client document of extras only", "[lint]")
{
	CHECK(lines(with("client_extra", {{"io.element.e2ee", {{"default", false}}}})) ==
	      Strings{"client_extra: is not served: /.well-known/matrix/client requires m.homeserver, "
	              "which comes from client; add client = \"https://matrix.example.org\" (the "
	              "homeserver's base URL), or remove client_extra (spec: client-server API, Server "
	              "Discovery, Well-known URIs) [client-without-homeserver]"});
}

TEST_CASE("lint: a permanent redirect", "[lint]")
{
	for (int status : {301, 308})
		CHECK(lines({{"redirect", "https://example.net"}, {"redirect_status", status}}) ==
		      Strings{"redirect_status: " + std::to_string(status) +
		              " is a permanent redirect: a client may remember the new place and never "
		              "ask this domain again, so a later change of the redirect would not reach "
		              "it; use 302 (the default) or 307 unless the move is final (RFC 9110 15.4.2 "
		              "and 15.4.9; spec: client-server API, Server Discovery, Well-known URIs, "
		              "v1.20) "
		              "[permanent-redirect]"});
	for (int status : {302, 307})
		CHECK(lines({{"redirect", "https://example.net"}, {"redirect_status", status}}).empty());
	CHECK(lines({{"redirect", {{"client", "https://example.net/c"}}}}).empty());
}
