// hostport: the split of host[:port] and the facts about a port's digits
// that each caller words by its own rules.
#include "core/hostport.hpp"

#include <catch2/catch.hpp>

using mxd::hostport::Port;
using mxd::hostport::read_port;
using mxd::hostport::split;
using Fault = mxd::hostport::Split::Fault;

TEST_CASE("hostport: split of a name, with and without a port", "[hostport]")
{
	auto s = split("example.org");
	CHECK(s.host == "example.org");
	CHECK_FALSE(s.has_port);
	CHECK(s.port.empty());
	CHECK_FALSE(s.bracketed);
	CHECK(s.fault == Fault::none);

	s = split("example.org:8448");
	CHECK(s.host == "example.org");
	CHECK(s.has_port);
	CHECK(s.port == "8448");

	s = split("example.org:");
	CHECK(s.has_port);
	CHECK(s.port.empty());

	s = split(":9000");
	CHECK(s.host.empty());
	CHECK(s.port == "9000");

	s = split("*:9000");
	CHECK(s.host == "*");
	CHECK(s.port == "9000");

	s = split("");
	CHECK(s.host.empty());
	CHECK_FALSE(s.has_port);
}

TEST_CASE("hostport: a second ':' stays in the port", "[hostport]")
{
	auto s = split("2001:db8::1");
	CHECK(s.host == "2001");
	CHECK(s.port == "db8::1");
	CHECK(s.several_colons());
	CHECK_FALSE(split("a.b:1").several_colons());
	CHECK(split("a:1:2").several_colons());
}

TEST_CASE("hostport: bracketed IPv6 literals", "[hostport]")
{
	auto s = split("[::1]");
	CHECK(s.bracketed);
	CHECK(s.host == "::1");
	CHECK_FALSE(s.has_port);
	CHECK(s.fault == Fault::none);

	s = split("[2001:db8::1]:8448");
	CHECK(s.host == "2001:db8::1");
	CHECK(s.has_port);
	CHECK(s.port == "8448");
	CHECK_FALSE(s.several_colons());

	s = split("[::1]:");
	CHECK(s.has_port);
	CHECK(s.port.empty());

	s = split("[::1");
	CHECK(s.fault == Fault::unclosed);
	CHECK(s.host == "::1");

	s = split("[::1]x");
	CHECK(s.fault == Fault::after_bracket);
	CHECK(s.host == "::1");
	CHECK_FALSE(s.has_port);

	s = split("[]:80");
	CHECK(s.host.empty());
	CHECK(s.port == "80");
}

TEST_CASE("hostport: read_port", "[hostport]")
{
	Port p = read_port("8448");
	CHECK(p.value == 8448);
	CHECK(p.size == 4);
	CHECK(p.all_digits());
	CHECK(p.overflow == Port::npos);
	CHECK(p.usable());

	CHECK(read_port("1").usable());
	CHECK(read_port("65535").usable());
	CHECK(read_port("00443").usable());
	CHECK_FALSE(read_port("0").usable());
	CHECK_FALSE(read_port("00000").usable());
	CHECK_FALSE(read_port("").usable());
	CHECK(read_port("").empty());
	CHECK_FALSE(read_port("000443").usable()); // six digits

	p = read_port("65536");
	CHECK(p.overflow == 4);
	CHECK(p.all_digits());
	CHECK_FALSE(p.usable());

	p = read_port("123456");
	CHECK(p.overflow == 5);
	CHECK(p.value == 12345);

	p = read_port("44a");
	CHECK(p.non_digit == 2);
	CHECK(p.value == 44);
	CHECK_FALSE(p.usable());

	// Both faults, in the order a reader meets them.
	p = read_port("99999x");
	CHECK(p.overflow == 4);
	CHECK(p.non_digit == 5);
	p = read_port("1:99999");
	CHECK(p.non_digit == 1);
	CHECK(p.overflow == Port::npos);

	CHECK(read_port("-1").non_digit == 0);
	CHECK(read_port(" 443").non_digit == 0);
}
