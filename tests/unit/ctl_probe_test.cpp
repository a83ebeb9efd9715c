// What mxdelegatectl probe hands mxdelegate-probe (src/mxdelegatectl/ctl_probe.cpp).
#include "mxdelegatectl/ctl_probe.hpp"

#include <catch2/catch.hpp>

namespace probe = mxd::ctl::probe;

TEST_CASE("ctl probe: the wire answer's status, body and Location", "[ctl_probe]")
{
	probe::Answer a = probe::parse_wire("Status: 200 OK\r\nContent-Type: application/json\r\n"
	                                    "Content-Length: 2\r\n\r\n{}");
	CHECK(a.status == 200);
	CHECK(a.body == "{}");
	CHECK(a.location.empty());
	a = probe::parse_wire("Status: 302 Found\r\nlocation: https://b.example/.well-known/matrix/server\r\n\r\n");
	CHECK(a.status == 302);
	CHECK(a.location == "https://b.example/.well-known/matrix/server");
	CHECK(a.body.empty());
	CHECK(probe::parse_wire("").status == 0);
}

TEST_CASE("ctl probe: what is probed, and its JSON line", "[ctl_probe]")
{
	CHECK(probe::served(200));
	CHECK(probe::served(308));
	CHECK_FALSE(probe::served(404));
	CHECK_FALSE(probe::served(500));
	CHECK(probe::expectation("example.org", "server", {200, "{\"m.server\":\"a:443\"}", ""}) ==
	      R"({"body":"{\"m.server\":\"a:443\"}","document":"server","domain":"example.org","status":200})"
	      "\n");
	CHECK(probe::expectation("example.org", "client", {307, "", "https://b.example/x"}) ==
	      R"({"body":"","document":"client","domain":"example.org","location":"https://b.example/x","status":307})"
	      "\n");
}

TEST_CASE("ctl probe: names made up under a wildcard key", "[ctl_probe]")
{
	CHECK(probe::sample_names("*.example.net", 2) ==
	      std::vector<std::string>{"probe-1.example.net", "probe-2.example.net"});
	CHECK(probe::sample_names("*.example.net", 0).empty());
	CHECK(probe::sample_names("example.net", 3).empty());
}
