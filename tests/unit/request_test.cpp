// request: what is read from the FastCGI/CGI parameters, and what never is
// (test 8: X-Forwarded-Host, Forwarded and SERVER_NAME never choose a tenant).
#include "core/request.hpp"

#include <catch2/catch.hpp>

#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

using mxd::Method;
using mxd::Role;

namespace {

struct Params {
	std::map<std::string, std::string> values;
	std::set<std::string> asked;
};

const char *lookup(const char *name, void *ctx)
{
	auto *p = static_cast<Params *>(ctx);
	p->asked.insert(name);
	const auto it = p->values.find(name);
	return it == p->values.end() ? nullptr : it->second.c_str();
}

mxd::Request parse(Params &p) { return mxd::parse_request(lookup, &p); }

mxd::Request parse(std::map<std::string, std::string> values)
{
	Params p{std::move(values), {}};
	return parse(p);
}

} // namespace

TEST_CASE("parse_request: a plain GET", "[request]")
{
	const auto r = parse({{"REQUEST_METHOD", "GET"},
	                      {"FCGI_ROLE", "RESPONDER"},
	                      {"REQUEST_URI", "/.well-known/matrix/server?x=1"},
	                      {"SCRIPT_NAME", "/.well-known/matrix/server"},
	                      {"HTTP_HOST", "Example.ORG:443"},
	                      {"HTTP_IF_NONE_MATCH", "\"abc\""}});
	CHECK(r.method == Method::get);
	CHECK(r.method_name == "GET");
	CHECK(r.role == Role::responder);
	CHECK(r.has_target);
	CHECK(r.document == mxd::Document::server);
	CHECK(r.has_host);
	CHECK(r.host == "Example.ORG:443"); // raw: host::normalise decides
	CHECK(r.if_none_match == "\"abc\"");
}

TEST_CASE("parse_request: methods are case-sensitive", "[request]")
{
	CHECK(parse({{"REQUEST_METHOD", "GET"}}).method == Method::get);
	CHECK(parse({{"REQUEST_METHOD", "HEAD"}}).method == Method::head);
	CHECK(parse({{"REQUEST_METHOD", "OPTIONS"}}).method == Method::options);
	for (const char *m : {"get", "Get", "head", "options", "POST", "PUT", "DELETE", "PATCH",
	                      "FOO", "", "GET ", " GET", "GETS"}) {
		INFO(m);
		const auto r = parse({{"REQUEST_METHOD", m}});
		CHECK(r.method == Method::other);
		CHECK(r.method_name == m);
	}
	const auto r = parse({});
	CHECK(r.method == Method::other);
	CHECK(r.method_name.empty());
}

TEST_CASE("parse_request: FCGI_ROLE", "[request]")
{
	CHECK(parse({}).role == Role::responder);
	CHECK(parse({{"FCGI_ROLE", "RESPONDER"}}).role == Role::responder);
	for (const char *role : {"AUTHORIZER", "FILTER", "responder", "", "RESPONDER ", "99"}) {
		INFO(role);
		CHECK(parse({{"FCGI_ROLE", role}}).role == Role::other);
	}
}

TEST_CASE("parse_request: the target", "[request]")
{
	auto r = parse({});
	CHECK_FALSE(r.has_target);
	CHECK_FALSE(r.document.has_value());

	r = parse({{"REQUEST_URI", "/elsewhere?q"}});
	CHECK(r.has_target);
	CHECK_FALSE(r.document.has_value());
	CHECK(r.path == "/elsewhere"); // for the health path

	r = parse({{"SCRIPT_NAME", "/status"}, {"PATH_INFO", "/health"}});
	CHECK_FALSE(r.document.has_value());
	CHECK(r.path == "/status/health");

	r = parse({{"REQUEST_URI", "https://b.example/.well-known/matrix/client"}});
	CHECK(r.has_target);
	CHECK(r.document == mxd::Document::client);
	CHECK(r.path.empty()); // a document costs no copy of its path

	r = parse({{"SCRIPT_NAME", ""}, {"PATH_INFO", "/.well-known/matrix/support"}});
	CHECK(r.has_target);
	CHECK(r.document == mxd::Document::support);

	r = parse({{"SCRIPT_NAME", "/.well-known/matrix"}, {"PATH_INFO", "/policy_server"}});
	CHECK(r.has_target);
	CHECK(r.document == mxd::Document::policy_server);

	r = parse({{"REQUEST_URI", ""}, {"SCRIPT_NAME", "/.well-known/matrix/server"}});
	CHECK(r.has_target);
	CHECK(r.document == mxd::Document::server);

	// RFC 3875 requires SCRIPT_NAME: a lone PATH_INFO is no target.
	r = parse({{"PATH_INFO", "/.well-known/matrix/server"}});
	CHECK_FALSE(r.has_target);
	CHECK_FALSE(r.document.has_value());
}

TEST_CASE("parse_request: Host and If-None-Match are copied as sent", "[request]")
{
	auto r = parse({});
	CHECK_FALSE(r.has_host);
	CHECK(r.host.empty());
	CHECK(r.if_none_match.empty());

	r = parse({{"HTTP_HOST", ""}, {"HTTP_IF_NONE_MATCH", ""}});
	CHECK(r.has_host);
	CHECK(r.host.empty());
	CHECK(r.if_none_match.empty());

	r = parse({{"HTTP_HOST", "a' OR '1'='1\r\n"}, {"HTTP_IF_NONE_MATCH", "W/\"x\", \"y\""}});
	CHECK(r.has_host);
	CHECK(r.host == "a' OR '1'='1\r\n");
	CHECK(r.if_none_match == "W/\"x\", \"y\"");
}

TEST_CASE("parse_request: reads exactly its seven parameters (test 8)", "[request]")
{
	Params p{{{"REQUEST_METHOD", "GET"},
	          {"REQUEST_URI", "/.well-known/matrix/server"},
	          {"HTTP_HOST", "a.example"},
	          {"HTTP_X_FORWARDED_HOST", "b.example"},
	          {"HTTP_FORWARDED", "host=b.example"},
	          {"HTTP_X_HOST", "b.example"},
	          {"SERVER_NAME", "b.example"},
	          {"QUERY_STRING", "host=b.example"}},
	         {}};
	const auto r = parse(p);
	CHECK(r.host == "a.example");
	CHECK(p.asked == std::set<std::string>{"REQUEST_METHOD", "FCGI_ROLE", "REQUEST_URI",
	                                       "SCRIPT_NAME", "PATH_INFO", "HTTP_HOST",
	                                       "HTTP_IF_NONE_MATCH"});

	// Without Host, no fallback to any other parameter either.
	p.values.erase("HTTP_HOST");
	p.asked.clear();
	const auto r2 = parse(p);
	CHECK_FALSE(r2.has_host);
	CHECK(r2.host.empty());
	CHECK(p.asked.count("SERVER_NAME") == 0);
	CHECK(p.asked.count("HTTP_X_FORWARDED_HOST") == 0);
}

TEST_CASE("Gathered: FastCGI's pairs read in one pass give the same request", "[request]")
{
	using Pair = std::pair<std::string_view, std::string_view>;
	const std::vector<Pair> pairs = {
		{"SERVER_NAME", "b.example"}, {"HTTP_X_FORWARDED_HOST", "b.example"}, {"REQUEST_METHOD", "HEAD"},
		{"FCGI_ROLE", "AUTHORIZER"}, {"REQUEST_URI", "/.well-known/matrix/client?x=1"},
		{"SCRIPT_NAME", "/.well-known/matrix/client"}, {"HTTP_HOST", "A.Example:443"},
		{"HTTP_IF_NONE_MATCH", "\"t\""}, {"HTTP_HOST", "second.example"}, {"HTTP_HOSTX", "x.example"},
		{"PATH_INFO", ""}, {"", "x"}, {"HTTP_HOS", "y"}, {"REQUEST_METHODS", "GET"},
		{"REQUEST_UR", "/.well-known/matrix/server"}, {"HTTP_IF_NONE_MATCH", "\"u\""},
		{"HTTP_HOST\0X", "z.example"}};
	mxd::Gathered g;
	for (const auto &[name, value] : pairs)
		g.add(name, value);
	std::string text = "left over";
	const auto r = mxd::parse_request(g.params(text, "RESPONDER"));
	const auto same = parse({{"REQUEST_METHOD", "HEAD"},
	                         {"FCGI_ROLE", "RESPONDER"},
	                         {"REQUEST_URI", "/.well-known/matrix/client?x=1"},
	                         {"SCRIPT_NAME", "/.well-known/matrix/client"},
	                         {"HTTP_HOST", "A.Example:443"},
	                         {"HTTP_IF_NONE_MATCH", "\"t\""},
	                         {"PATH_INFO", ""}});
	CHECK(r.method == same.method);
	CHECK(r.method_name == "HEAD");
	CHECK(r.role == Role::responder); // the role given, never the FCGI_ROLE pair
	CHECK(r.has_target);
	CHECK(r.document == same.document);
	CHECK(r.document == mxd::Document::client);
	CHECK(r.host == "A.Example:443"); // the first HTTP_HOST
	CHECK(r.if_none_match == "\"t\"");

	// A value ends at its first NUL, as in an environment.
	mxd::Gathered nul;
	nul.add("HTTP_HOST", std::string_view("example.org\0.evil", 17));
	nul.add("HTTP_IF_NONE_MATCH", std::string_view()); // empty, with no data()
	const auto r2 = mxd::parse_request(nul.params(text, "RESPONDER"));
	CHECK(r2.host == "example.org");
	CHECK(r2.if_none_match.empty());

	mxd::Gathered none;
	const auto empty = mxd::parse_request(none.params(text, "AUTHORIZER"));
	CHECK_FALSE(empty.has_host);
	CHECK_FALSE(empty.has_target);
	CHECK(empty.method == Method::other);
	CHECK(empty.role == Role::other);
}

TEST_CASE("param_field: the seven names, and nothing like them", "[request]")
{
	CHECK(mxd::param_field("REQUEST_METHOD") == &mxd::Params::method);
	CHECK(mxd::param_field("FCGI_ROLE") == &mxd::Params::role);
	CHECK(mxd::param_field("REQUEST_URI") == &mxd::Params::uri);
	CHECK(mxd::param_field("SCRIPT_NAME") == &mxd::Params::script);
	CHECK(mxd::param_field("PATH_INFO") == &mxd::Params::info);
	CHECK(mxd::param_field("HTTP_HOST") == &mxd::Params::host);
	CHECK(mxd::param_field("HTTP_IF_NONE_MATCH") == &mxd::Params::if_none_match);
	for (const char *other : {"", "HTTP_HOSt", "http_host", "HTTP_HOSTS", "HTTP_HOS", "HTTP_X_HOST",
	                          "SERVER_NAME", "REQUEST_METHOX", "PATH_INFO ", "QUERY_STRING",
	                          "HTTP_IF_NONE_MATCHE", "HTTP_IF_MATCH"})
		CHECK(mxd::param_field(other) == nullptr);
}
