// What a client and a homeserver conclude (src/probe/probe_discovery.cpp),
// step by step as the spec's discovery says.
#include "probe/probe_discovery.hpp"

#include <catch2/catch.hpp>

using namespace mxd::probe;

namespace {

const std::string origin = "https://app.example";

Hop answer(long status, std::string body, std::optional<std::string> acao = "*",
           std::string url = "https://example.org/.well-known/matrix/client")
{
	Hop h;
	h.url = std::move(url);
	h.status = status;
	h.body = std::move(body);
	h.allow_origin = std::move(acao);
	h.content_type = "application/json";
	return h;
}

} // namespace

TEST_CASE("discovery: the client's verdict on /client", "[probe_discovery]")
{
	Conclusion c = client_wellknown({answer(404, "")}, origin);
	CHECK(c.verdict == Verdict::ignore);
	// A 404 the browser may not read is a network error: FAIL_PROMPT.
	c = client_wellknown({answer(404, "", std::nullopt)}, origin);
	CHECK(c.verdict == Verdict::fail_prompt);
	CHECK(c.why == "no CORS on https://example.org/.well-known/matrix/client");
	c = client_wellknown({answer(500, "")}, origin);
	CHECK(c.verdict == Verdict::fail_prompt);
	CHECK(c.why == "status 500");
	c = client_wellknown({answer(200, "<html>")}, origin);
	CHECK(c.verdict == Verdict::fail_prompt);
	c = client_wellknown({answer(200, R"({"m.homeserver":{}})")}, origin);
	CHECK(c.verdict == Verdict::fail_prompt);
	CHECK(c.why == "no m.homeserver.base_url");
	c = client_wellknown({answer(200, R"({"m.homeserver":{"base_url":"matrix.example.org"}})")}, origin);
	CHECK(c.verdict == Verdict::fail_error);
	c = client_wellknown({answer(200, R"({"m.homeserver":{"base_url":"https://matrix.example.org/"}})")}, origin);
	CHECK(c.verdict == Verdict::ok);
	CHECK(c.next == "https://matrix.example.org/_matrix/client/versions");
	Hop t;
	t.url = "https://example.org/.well-known/matrix/client";
	t.error = Transport::timeout;
	t.error_text = "Operation timed out";
	c = client_wellknown({t}, origin);
	CHECK(c.verdict == Verdict::fail_prompt);
	CHECK(c.why == "Operation timed out");
}

TEST_CASE("discovery: the versions answer decides between ok and FAIL_ERROR", "[probe_discovery]")
{
	const std::string v = "https://matrix.example.org/_matrix/client/versions";
	CHECK(client_versions({answer(200, R"({"versions":["v1.11"]})", "*", v)}, origin).verdict == Verdict::ok);
	Conclusion c = client_versions({answer(200, R"({"versions":"v1.11"})", "*", v)}, origin);
	CHECK(c.verdict == Verdict::fail_error);
	CHECK(c.why == v + ": not a versions answer");
	c = client_versions({answer(200, R"({"versions":["v1.11"]})", std::nullopt, v)}, origin);
	CHECK(c.verdict == Verdict::fail_error);
	c = client_versions({answer(502, "", "*", v)}, origin);
	CHECK(c.why == v + ": status 502");
	CHECK(verdict_name(Verdict::fail_error) == "FAIL_ERROR");
	CHECK(verdict_name(Verdict::fail_error, true) == "FAIL");
	CHECK(verdict_name(Verdict::ignore) == "IGNORE");
	CHECK(verdict_name(Verdict::fail_prompt) == "FAIL_PROMPT");
}

TEST_CASE("discovery: server names", "[probe_discovery]")
{
	auto t = server_name("matrix.example.org");
	REQUIRE(t);
	CHECK((t->host == "matrix.example.org" && t->port == 8448 && !t->port_given && !t->ip_literal));
	CHECK(t->version_url() == "https://matrix.example.org:8448/_matrix/federation/v1/version");
	t = server_name("matrix.example.org:443");
	REQUIRE(t);
	CHECK((t->port == 443 && t->port_given));
	t = server_name("[2001:db8::1]:8448");
	REQUIRE(t);
	CHECK((t->host == "2001:db8::1" && t->ip_literal));
	CHECK(t->version_url() == "https://[2001:db8::1]:8448/_matrix/federation/v1/version");
	t = server_name("192.0.2.1");
	REQUIRE(t);
	CHECK(t->ip_literal);
	CHECK_FALSE(server_name(""));
	CHECK_FALSE(server_name("a b"));
	CHECK_FALSE(server_name("example.org:0"));
	CHECK_FALSE(server_name("example.org:99999"));
	CHECK_FALSE(server_name("[::1"));
	CHECK_FALSE(server_name("2001:db8::1"));
}

TEST_CASE("discovery: the federation target, m.server or the domain itself", "[probe_discovery]")
{
	std::string why;
	FedTarget t = federation_target("example.org", {answer(200, R"({"m.server":"hs.example.net:443"})")}, why);
	CHECK((t.host == "hs.example.net" && t.port == 443));
	CHECK(why == "m.server hs.example.net:443");
	t = federation_target("example.org", {answer(404, "")}, why);
	CHECK((t.host == "example.org" && t.port == 8448 && !t.port_given));
	CHECK(why == "no usable /server, so the domain itself");
	t = federation_target("example.org", {answer(200, R"({"m.server":"bad name"})")}, why);
	CHECK(t.host == "example.org");
}

TEST_CASE("discovery: the SRV record tried first", "[probe_discovery]")
{
	CHECK_FALSE(pick_srv({}));
	const auto s = pick_srv({{10, 5, 8448, "b.example"}, {5, 1, 443, "a.example"}, {5, 9, 8449, "c.example"}});
	REQUIRE(s);
	CHECK((s->target == "c.example" && s->port == 8449));
	CHECK_FALSE(pick_srv({{0, 0, 0, "."}}));
}

TEST_CASE("discovery: the federation version answer", "[probe_discovery]")
{
	const std::string v = "https://hs.example.net:443/_matrix/federation/v1/version";
	CHECK(federation_version({answer(200, R"({"server":{"name":"Synapse"}})", std::nullopt, v)}).verdict ==
	      Verdict::ok);
	const Conclusion c = federation_version({answer(200, R"({"versions":[]})", std::nullopt, v)});
	CHECK(c.verdict == Verdict::fail_error);
	CHECK(c.why == v + ": not a version answer");
}
