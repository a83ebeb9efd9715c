// mxdelegate-probe's command line (src/probe/probe_options.cpp).
#include "probe/probe_options.hpp"

#include <catch2/catch.hpp>

#include <vector>

using namespace mxd::probe;

namespace {

Options parse(std::vector<const char *> args)
{
	args.insert(args.begin(), "mxdelegate-probe");
	return parse_options(static_cast<int>(args.size()), args.data());
}

} // namespace

TEST_CASE("probe options: defaults", "[probe_options]")
{
	const Options o = parse({});
	CHECK(o.concurrency == 32);
	CHECK(o.per_host == 2);
	CHECK(o.rate == 0);
	CHECK(o.timeout_ms == 10000);
	CHECK_FALSE(o.json);
	CHECK_FALSE(o.federation);
	CHECK_FALSE(o.insecure);
}

TEST_CASE("probe options: every option, both spellings", "[probe_options]")
{
	const Options o = parse({"--concurrency=100", "--per-host", "4", "--rate", "50.5", "--format=json",
	                         "--federation", "--user-agent", "Mozilla/5.0 (probe)", "--resolve",
	                         "example.org:443:127.0.0.1", "--resolve=example.net:443:[::1]", "--connect-to",
	                         "::127.0.0.1:8443", "--connect-to", "example.org:443:[::1]:8443", "--cacert",
	                         "ca.pem", "--insecure", "--timeout", "0.5", "--origin", "https://app.example:8080"});
	CHECK(o.concurrency == 100);
	CHECK(o.per_host == 4);
	CHECK(o.rate == 50.5);
	CHECK(o.json);
	CHECK(o.federation);
	CHECK(o.user_agent == "Mozilla/5.0 (probe)");
	CHECK(o.resolve == std::vector<std::string>{"example.org:443:127.0.0.1", "example.net:443:[::1]"});
	CHECK(o.connect_to == std::vector<std::string>{"::127.0.0.1:8443", "example.org:443:[::1]:8443"});
	CHECK(o.cacert == "ca.pem");
	CHECK(o.insecure);
	CHECK(o.timeout_ms == 500);
	CHECK(o.origin == "https://app.example:8080");
}

TEST_CASE("probe options: each bad value named", "[probe_options]")
{
	const std::pair<std::vector<const char *>, const char *> cases[] = {
		{{"--concurrency", "0"}, "--concurrency 0: want a whole number from 1 to 10000"},
		{{"--per-host=x"}, "--per-host x: want a whole number from 1 to 1000"},
		{{"--rate", "-1"}, "--rate -1: want a number from 0 to 1000000"},
		{{"--format", "xml"}, "--format xml: want table or json"},
		{{"--timeout", "0"}, "--timeout 0: want a number from 0 to 3600"},
		{{"--resolve", "example.org:443"}, "--resolve example.org:443: want HOST:PORT:ADDRESS (example.org:443:127.0.0.1)"},
		{{"--resolve", "example.org:0:127.0.0.1"}, "--resolve example.org:0:127.0.0.1: want HOST:PORT:ADDRESS (example.org:443:127.0.0.1)"},
		{{"--connect-to", "a:1:b"}, "--connect-to a:1:b: want HOST:PORT:CONNECT-HOST:CONNECT-PORT (example.org:443:127.0.0.1:8443; an empty part matches any)"},
		{{"--user-agent", "a\nb"}, "--user-agent: a control character would end the header"},
		{{"--origin", "app.example"}, "--origin app.example: want an origin, scheme://host[:port]"},
		{{"--origin", "https://app.example/path"}, "--origin https://app.example/path: want an origin, scheme://host[:port]"},
		{{"--insecure=yes"}, "--insecure takes no value"},
		{{"--cacert"}, "--cacert needs a value"},
		{{"--bogus"}, "unknown option --bogus"},
		{{"example.org"}, "unexpected argument \"example.org\" (domains are mxdelegatectl probe's)"},
	};
	for (const auto &[args, message] : cases) {
		INFO(message);
		CHECK_THROWS_WITH(parse(args), message);
	}
}

TEST_CASE("probe options: which take a value", "[probe_options]")
{
	CHECK(takes_value("concurrency"));
	CHECK(takes_value("resolve"));
	CHECK_FALSE(takes_value("federation"));
	CHECK_FALSE(takes_value("insecure"));
	CHECK_FALSE(takes_value("nonsense"));
}
