// host: the Host normaliser (reference §3 and tests 1, 4-7), the name checks,
// IDNA conversion, wildcard keys and the Matrix server-name grammar.
#include "core/host.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

using mxd::host::Kind;
using mxd::host::normalise;

namespace {

std::string repeat(char c, std::size_t n) { return std::string(n, c); }

// A name of exactly n characters made of 63-character labels and one rest.
std::string name_of_length(std::size_t n)
{
	std::string s;
	while (s.size() < n) {
		if (!s.empty())
			s += '.';
		s += repeat('a', std::min<std::size_t>(63, n - s.size()));
	}
	return s;
}

void require_name(std::string_view raw, std::string_view want)
{
	INFO("Host: " << std::string(raw));
	const auto p = normalise(raw);
	REQUIRE(p.kind == Kind::name);
	REQUIRE(p.name == want);
	REQUIRE(p.reason.empty());
}

void require_ip(std::string_view raw)
{
	INFO("Host: " << std::string(raw));
	const auto p = normalise(raw);
	REQUIRE(p.kind == Kind::ip_literal);
	REQUIRE(p.name.empty());
	REQUIRE(p.reason.empty());
}

void require_invalid(std::string_view raw, std::string_view reason)
{
	INFO("Host: " << std::string(raw));
	const auto p = normalise(raw);
	REQUIRE(p.kind == Kind::invalid);
	REQUIRE(p.name.empty());
	REQUIRE(p.reason == reason);
}

} // namespace

TEST_CASE("normalise: the spellings of one tenant (test 1)", "[host]")
{
	require_name("example.org", "example.org");
	require_name("Example.ORG", "example.org");
	require_name("example.org.", "example.org");
	require_name("example.org:443", "example.org");
	require_name("EXAMPLE.org.:8448", "example.org");
	require_name("Example.ORG:443", "example.org");
	require_name("localhost", "localhost");
	require_name("localhost:8080", "localhost");
	require_name("a", "a");
	require_name("a-b.c-d.example", "a-b.c-d.example");
	require_name("xn--exmple-cua.org", "xn--exmple-cua.org");
	require_name("XN--EXMPLE-CUA.ORG", "xn--exmple-cua.org");
	require_name("0x7f.example", "0x7f.example");
	require_name("123.example", "123.example");
	require_name("example.123a", "example.123a");
}

TEST_CASE("normalise: ports", "[host]")
{
	require_name("example.org:1", "example.org");
	require_name("example.org:65535", "example.org");
	require_name("example.org:00443", "example.org");
	// The header allows 1-5 digits up to 65535; the port is dropped anyway.
	require_name("example.org:0", "example.org");
	require_invalid("example.org:65536", "port out of range");
	require_invalid("example.org:99999", "port out of range");
	require_invalid("example.org:123456", "port out of range");
	require_invalid("example.org:000443", "port too long");
	require_invalid("example.org:abc", "malformed port");
	require_invalid("example.org:44a", "malformed port");
	require_invalid("example.org:-1", "malformed port");
	require_invalid("example.org:+443", "malformed port");
	require_invalid("example.org: 443", "malformed port");
	require_invalid("example.org:443\r\n", "control character");
	require_invalid("example.org:", "empty port");
	require_invalid("a:1:2", "more than one colon");
	// nginx's "double port hack" must not yield 123.40.56.78.
	require_invalid("123.40.56.78:9000:80", "more than one colon");
	require_invalid("example.org::443", "more than one colon");
	require_invalid(":443", "empty name");
	require_invalid(":", "empty name");
}

TEST_CASE("normalise: IP literals are never tenants (test 7)", "[host]")
{
	require_ip("[::1]");
	require_ip("[::1]:8448");
	require_ip("[2001:DB8::1]");
	require_ip("[::ffff:192.0.2.1]:443");
	require_ip("127.0.0.1");
	require_ip("127.0.0.1:8448");
	require_ip("0.0.0.0");
	require_ip("255.255.255.255");
	require_ip("192.0.2.1.");

	require_invalid("[::1", "unclosed IPv6 literal");
	require_invalid("[", "unclosed IPv6 literal");
	require_invalid("[]", "malformed IPv6 literal");
	require_invalid("[1]", "malformed IPv6 literal");
	require_invalid("[:::]", "malformed IPv6 literal");
	require_invalid("[::g]", "malformed IPv6 literal");
	require_invalid("[v1.fe]", "malformed IPv6 literal");
	require_invalid("[::1%25eth0]", "malformed IPv6 literal");
	require_invalid("[example.org]", "malformed IPv6 literal");
	require_invalid("[::1]x", "junk after IPv6 literal");
	require_invalid("[::1]]", "junk after IPv6 literal");
	require_invalid("[::1]:", "empty port");
	require_invalid("[::1]:99999", "port out of range");
	require_invalid("[::1]:80:80", "more than one colon");
	require_invalid("::1", "empty name");
	require_invalid("::1]", "empty name");
	require_invalid("x[::1]", "forbidden character");
}

TEST_CASE("normalise: an all-digit last label must be a valid IPv4 address", "[host]")
{
	require_invalid("1.2.3", "numeric top-level label");
	require_invalid("1.2.3.4.5", "numeric top-level label");
	require_invalid("256.1.1.1", "numeric top-level label");
	require_invalid("1.2.3.256", "numeric top-level label");
	require_invalid("1.2.3.1000", "numeric top-level label");
	require_invalid("01.2.3.4", "numeric top-level label");
	require_invalid("123", "numeric top-level label");
	require_invalid("123:80", "numeric top-level label");
	require_invalid("example.123", "numeric top-level label");
	require_invalid("a.1.2.3", "numeric top-level label");
}

TEST_CASE("normalise: hostile bytes and characters (tests 4, 5)", "[host]")
{
	using namespace std::string_view_literals;
	require_invalid("exa\0mple.org"sv, "control character");
	require_invalid("\0"sv, "control character");
	require_invalid("example.org\r\nX-Injected: 1", "control character");
	require_invalid("example.org\n", "control character");
	require_invalid("exa\tmple.org", "control character");
	require_invalid("exa\x1bmple.org", "control character");
	require_invalid("exa\x7fmple.org", "control character");
	require_invalid("example.org ", "forbidden character");
	require_invalid(" example.org", "forbidden character");
	require_invalid("a.org, b.org", "forbidden character");
	require_invalid("a.org,b.org", "forbidden character");
	require_invalid("example.org/", "forbidden character");
	require_invalid("example.org/x", "forbidden character");
	require_invalid("example.org\\", "forbidden character");
	require_invalid("%.org", "forbidden character");
	require_invalid("ex%61mple.org", "forbidden character");
	require_invalid("_xample.org", "forbidden character");
	require_invalid("a_b.example.org", "forbidden character");
	require_invalid("*.example.org", "forbidden character");
	require_invalid("*", "forbidden character");
	require_invalid("a' OR '1'='1", "forbidden character");
	require_invalid("example.org;--", "forbidden character");
	require_invalid("user@example.org", "forbidden character");
	require_invalid("ex\"ample.org", "forbidden character");
	require_invalid("exämple.org", "non-ASCII byte");
	require_invalid("\xff", "non-ASCII byte");
	require_invalid("example.org\xc2\xa0", "non-ASCII byte");
}

TEST_CASE("normalise: empty and oversized (test 6)", "[host]")
{
	require_invalid("", "empty");
	require_invalid(".", "empty name");
	require_invalid("..", "empty label");
	require_invalid(".a", "empty label");
	require_invalid("a..b", "empty label");
	require_invalid("example.org..", "empty label");
	require_invalid(".:80", "empty name");

	const std::string label63 = repeat('a', 63);
	require_name(label63 + ".org", label63 + ".org");
	require_invalid(repeat('a', 64) + ".org", "label too long");
	require_invalid("www." + repeat('b', 64), "label too long");
	// The first fault in reading order is the one named: a label grown past
	// 63 before a bad byte, a hyphen or an empty label after it.
	require_invalid(repeat('a', 64) + "_.org", "label too long");
	require_invalid(repeat('a', 63) + "_.org", "forbidden character");
	require_invalid(repeat('a', 64) + "-.org", "label too long");
	require_invalid(repeat('a', 64) + "..org", "label too long");
	require_invalid("a" + repeat('B', 63) + "\x01", "label too long");
	require_invalid("a" + repeat('B', 62) + "\x01", "control character");
	require_name(repeat('A', 63) + ".ORG", repeat('a', 63) + ".org");

	const std::string n253 = name_of_length(253);
	REQUIRE(n253.size() == 253);
	require_name(n253, n253);
	require_name(n253 + ".", n253);
	require_name(n253 + ".:65535", n253);
	const std::string n254 = name_of_length(254);
	REQUIRE(n254.size() == 254);
	require_invalid(n254, "name too long");
	require_invalid(n254 + ".", "name too long");
	require_invalid(repeat('a', 261), "too long");
	require_invalid(std::string(64 * 1024, 'a'), "too long");
	require_invalid(std::string(64 * 1024, '\0'), "too long");
}

TEST_CASE("normalise: hyphens at label edges", "[host]")
{
	require_invalid("-example.org", "hyphen at label edge");
	require_invalid("example-.org", "hyphen at label edge");
	require_invalid("example.-org", "hyphen at label edge");
	require_invalid("example.org-", "hyphen at label edge");
	require_invalid("example.org-.", "hyphen at label edge");
	require_invalid("-", "hyphen at label edge");
	require_name("e--x.org", "e--x.org");
}

TEST_CASE("normalise: the name never grows and reasons are static", "[host]")
{
	for (std::string_view raw : {"EXAMPLE.ORG.:8448", "a.b", "x"}) {
		const auto p = normalise(raw);
		REQUIRE(p.kind == Kind::name);
		REQUIRE(p.name.size() <= raw.size());
	}
	std::string raw = "bad host";
	const auto p = normalise(raw);
	raw.assign(raw.size(), 'x');
	// The reason must not point into the input.
	REQUIRE(p.reason == "forbidden character");
}

TEST_CASE("is_valid_name", "[host]")
{
	using mxd::host::is_valid_name;
	CHECK(is_valid_name("example.org"));
	CHECK(is_valid_name("a"));
	CHECK(is_valid_name("localhost"));
	CHECK(is_valid_name("xn--exmple-cua.org"));
	CHECK(is_valid_name("a-b.c"));
	CHECK(is_valid_name("1a.2b"));
	CHECK(is_valid_name("example.org1"));
	CHECK(is_valid_name(repeat('a', 63) + ".org"));
	CHECK(is_valid_name(name_of_length(253)));

	CHECK_FALSE(is_valid_name(""));
	CHECK_FALSE(is_valid_name("Example.org"));
	CHECK_FALSE(is_valid_name("example.org."));
	CHECK_FALSE(is_valid_name(".example.org"));
	CHECK_FALSE(is_valid_name("a..b"));
	CHECK_FALSE(is_valid_name("-a.org"));
	CHECK_FALSE(is_valid_name("a-.org"));
	CHECK_FALSE(is_valid_name("1.2.3.4"));
	CHECK_FALSE(is_valid_name("example.123"));
	CHECK_FALSE(is_valid_name("123"));
	CHECK_FALSE(is_valid_name("a_b.org"));
	CHECK_FALSE(is_valid_name("*.example.org"));
	CHECK_FALSE(is_valid_name("example.org:443"));
	CHECK_FALSE(is_valid_name("exämple.org"));
	CHECK_FALSE(is_valid_name(repeat('a', 64) + ".org"));
	CHECK_FALSE(is_valid_name(name_of_length(254)));
}

TEST_CASE("canonical_domain: ASCII, IDNA and wildcards", "[host]")
{
	using mxd::host::canonical_domain;
	CHECK(canonical_domain("example.org", false) == "example.org");
	CHECK(canonical_domain("Example.ORG", false) == "example.org");
	CHECK(canonical_domain("example.org.", false) == "example.org");
	CHECK(canonical_domain("localhost", false) == "localhost");
	CHECK(canonical_domain("Exämple.org", false) == "xn--exmple-cua.org");
	CHECK(canonical_domain("EXÄMPLE.ORG.", false) == "xn--exmple-cua.org");
	CHECK(canonical_domain("xn--exmple-cua.org", false) == "xn--exmple-cua.org");
	CHECK(canonical_domain("日本.jp", false) == "xn--wgv71a.jp");
	// Non-transitional: ß stays ß, not "ss".
	CHECK(canonical_domain("faß.de", false) == "xn--fa-hia.de");
	CHECK(canonical_domain("*.example.net", true) == "*.example.net");
	CHECK(canonical_domain("*.Example.NET.", true) == "*.example.net");
	CHECK(canonical_domain("*.bücher.example", true) == "*.xn--bcher-kva.example");
	CHECK(canonical_domain("example.net", true) == "example.net");
	CHECK(canonical_domain(repeat('a', 63) + ".org", false) == repeat('a', 63) + ".org");
}

TEST_CASE("canonical_domain: what is wrong is named", "[host]")
{
	using mxd::host::canonical_domain;
	using namespace std::string_view_literals;
	CHECK_THROWS_WITH(canonical_domain("", false), "empty domain name");
	CHECK_THROWS_WITH(canonical_domain(".", false), "empty domain name");
	CHECK_THROWS_WITH(canonical_domain("*.", true), "empty domain name");
	CHECK_THROWS_WITH(canonical_domain("*.example.net", false), "a wildcard is not allowed here");
	CHECK_THROWS_WITH(canonical_domain("a.*.net", false), "a wildcard is not allowed here");
	CHECK_THROWS_WITH(canonical_domain("*", true),
	                  "'*' is allowed only as the whole first label (\"*.example.net\")");
	CHECK_THROWS_WITH(canonical_domain("a.*.net", true),
	                  "'*' is allowed only as the whole first label (\"*.example.net\")");
	CHECK_THROWS_WITH(canonical_domain("*foo.net", true),
	                  "'*' is allowed only as the whole first label (\"*.example.net\")");
	CHECK_THROWS_WITH(canonical_domain("*.*.net", true),
	                  "'*' is allowed only as the whole first label (\"*.example.net\")");
	CHECK_THROWS_WITH(canonical_domain("a..b", false),
	                  "domain name has an empty label (a leading, trailing or doubled '.')");
	CHECK_THROWS_WITH(canonical_domain("example.org..", false),
	                  "domain name has an empty label (a leading, trailing or doubled '.')");
	CHECK_THROWS_WITH(canonical_domain("a_b.org", false),
	                  "domain name has '_'; a host name has only letters, digits, '-' and '.'");
	CHECK_THROWS_WITH(canonical_domain("a b.org", false),
	                  "domain name has ' '; a host name has only letters, digits, '-' and '.'");
	CHECK_THROWS_WITH(canonical_domain("example.org:443", false),
	                  "domain name has ':'; a host name has only letters, digits, '-' and '.'");
	CHECK_THROWS_WITH(canonical_domain("a\0b.org"sv, false), "control character in domain name");
	CHECK_THROWS_WITH(canonical_domain("a\nb.org", false), "control character in domain name");
	CHECK_THROWS_WITH(canonical_domain("1.2.3.4", false),
	                  "domain name ends in an all-digit label: an IP address is not a domain name");
	CHECK_THROWS_WITH(canonical_domain("example.123", false),
	                  "domain name ends in an all-digit label: an IP address is not a domain name");
	CHECK_THROWS_WITH(canonical_domain(name_of_length(254), false),
	                  "domain name is longer than 253 characters");
	CHECK_THROWS_WITH(canonical_domain("*." + name_of_length(252), true),
	                  "domain name is longer than 253 characters");
	// Punycode is idn2's to check, in any case; plain ASCII names are
	// checked for hyphens and label length without it, with the same verdict.
	CHECK_THROWS_WITH(canonical_domain("xn--zz.org", false),
	                  Catch::StartsWith("not a valid internationalised domain name: "));
	CHECK_THROWS_WITH(canonical_domain("a.XN--ZZ.org", false),
	                  Catch::StartsWith("not a valid internationalised domain name: "));
	CHECK(canonical_domain("xn--bcher-kva.example", false) == "xn--bcher-kva.example");
	CHECK(canonical_domain("Sub.XN--Bcher-KVA.Example.", false) == "sub.xn--bcher-kva.example");
	CHECK_THROWS_WITH(canonical_domain("-a.org", false),
	                  "domain name has a label that starts or ends with '-'");
	CHECK_THROWS_WITH(canonical_domain(repeat('a', 64) + ".org", false),
	                  "domain name has a label longer than 63 characters");
	CHECK_THROWS_WITH(canonical_domain("a_b.org", false), Catch::StartsWith("domain name "));
	CHECK(canonical_domain("*.MiXeD-Case.Example", true) == "*.mixed-case.example");
	CHECK_THROWS_AS(canonical_domain("\xff.org", false), std::invalid_argument);
}

TEST_CASE("lookup_keys: most specific first, never \"*\" alone", "[host]")
{
	using mxd::host::lookup_keys;
	using V = std::vector<std::string>;
	CHECK(lookup_keys("a.b.example.net") ==
	      V{"a.b.example.net", "*.b.example.net", "*.example.net", "*.net"});
	CHECK(lookup_keys("example.org") == V{"example.org", "*.org"});
	CHECK(lookup_keys("localhost") == V{"localhost"});
	CHECK(lookup_keys("") == V{});
	// Bounded by the parent's labels: the exact name always, then the
	// wildcards of the shortest parents.
	CHECK(lookup_keys("a.b.example.net", 2) == V{"a.b.example.net", "*.example.net", "*.net"});
	CHECK(lookup_keys("a.b.example.net", 0) == V{"a.b.example.net"});
	CHECK(lookup_keys("a.b.example.net", 3) == lookup_keys("a.b.example.net"));
	CHECK(lookup_keys("a.b.example.net", 8) == lookup_keys("a.b.example.net"));
	std::string deep;
	for (int i = 0; i < 126; i++)
		deep += "a.";
	deep += "net";
	const V keys = lookup_keys(deep, 8);
	REQUIRE(keys.size() == 9);
	CHECK(keys[0] == deep);
	CHECK(keys[1] == "*.a.a.a.a.a.a.a.net");
	CHECK(keys[8] == "*.net");
	CHECK(lookup_keys(deep).size() == 127);
}

TEST_CASE("check_server_name: valid server names", "[host]")
{
	using mxd::host::check_server_name;
	for (std::string_view v : {"matrix.example.org", "matrix.example.org:443",
	                           "Matrix.Example.ORG:8448", "localhost", "localhost:1", "a:65535",
	                           "xn--exmple-cua.org", "1.2.3.4", "1.2.3.4:8448", "0.0.0.0",
	                           "255.255.255.255:1", "[::1]", "[::1]:8448", "[2001:DB8::1]",
	                           "[::ffff:192.0.2.1]:443", "e--x.example", "example.org1"}) {
		INFO(std::string(v));
		CHECK(check_server_name(v).empty());
	}
	// The grammar allows 255 characters, not DNS's 253.
	const std::string n255 = name_of_length(255);
	REQUIRE(n255.size() == 255);
	CHECK(check_server_name(n255).empty());
	CHECK(check_server_name(name_of_length(256)) == "is longer than 255 characters");
	CHECK(check_server_name(name_of_length(251) + ".123") ==
	      "ends in an all-digit label, so it is neither a DNS name nor an IPv4 address");
}

TEST_CASE("check_server_name: each mistake gets its reason", "[host]")
{
	using mxd::host::check_server_name;
	using namespace std::string_view_literals;
	const std::string scheme = "has a scheme; write host[:port] without https://";
	const std::string chars = "; a host name has only letters, digits, '-' and '.'";
	const std::pair<std::string_view, std::string> cases[] = {
		{"", "is empty"},
		{"https://matrix.example.org", scheme},
		{"https://matrix.example.org:443", scheme},
		{"HTTP://matrix.example.org", scheme},
		{"matrix.example.org/", "has a trailing slash; write host[:port] only"},
		{"matrix.example.org:443/", "has a trailing slash; write host[:port] only"},
		{"matrix.example.org/_matrix", "has a path; write host[:port] only"},
		{"/", "has a trailing slash; write host[:port] only"},
		{"exämple.org",
		 "has a non-ASCII character; write an internationalised name as A-labels (xn--...)"},
		{"matrix example.org", "has a space or control character"},
		{"matrix.example.org\n", "has a space or control character"},
		{"matrix\0.org"sv, "has a space or control character"},
		{"m.org:", "has an empty port after ':'"},
		{"m.org:abc", "has a port that is not a number"},
		{"m.org:-1", "has a port that is not a number"},
		{"m.org:123456", "has a port longer than 5 digits"},
		{"m.org:0", "has a port outside 1 to 65535"},
		{"m.org:00000", "has a port outside 1 to 65535"},
		{"m.org:65536", "has a port outside 1 to 65535"},
		{"m.org:99999", "has a port outside 1 to 65535"},
		{"m.org:443:1", "has more than one ':'"},
		{":443", "has no host name before the port"},
		{"::1", "is an IPv6 address without brackets; write [address] or [address]:port"},
		{"2001:db8::1", "is an IPv6 address without brackets; write [address] or [address]:port"},
		{"[::1", "has '[' without ']'"},
		{"[1]", "has an IPv6 literal with characters other than hex digits, ':' and '.', "
		        "or not 2 to 45 of them"},
		{"[::g]", "has an IPv6 literal with characters other than hex digits, ':' and '.', "
		          "or not 2 to 45 of them"},
		{"[]", "has an IPv6 literal with characters other than hex digits, ':' and '.', "
		       "or not 2 to 45 of them"},
		{"[:::::]", "is not a valid IPv6 address"},
		{"[1:2:3:4:5:6:7:8:9]", "is not a valid IPv6 address"},
		{"[::1]x", "has text after ']'; write [address] or [address]:port"},
		{"[::1]:", "has an empty port after ':'"},
		{"[::1]:0", "has a port outside 1 to 65535"},
		{"256.1.1.1", "is not a valid IPv4 address (four numbers 0 to 255)"},
		{"1.2.3", "is not a valid IPv4 address (four numbers 0 to 255)"},
		{"1.2.3.4.5", "is not a valid IPv4 address (four numbers 0 to 255)"},
		{"1.2.3.4.", "is not a valid IPv4 address (four numbers 0 to 255)"},
		{"1234.1.1.1", "is not a valid IPv4 address (four numbers 0 to 255)"},
		{"01.2.3.4",
		 "has an IPv4 number with a leading zero, which some resolvers read as octal"},
		{"example.123",
		 "ends in an all-digit label, so it is neither a DNS name nor an IPv4 address"},
		{"matrix_1.example.org", "has '_'" + chars},
		{"*.example.org", "has '*'" + chars},
		{"matrix.example.org?", "has '?'" + chars},
		{"a..b", "has an empty label (a leading, trailing or doubled '.')"},
		{".example.org", "has an empty label (a leading, trailing or doubled '.')"},
		{"matrix.example.org.", "has an empty label (a leading, trailing or doubled '.')"},
		{"matrix.example.org.:443", "has an empty label (a leading, trailing or doubled '.')"},
		{"-matrix.example.org", "has a label that starts or ends with '-'"},
		{"matrix-.example.org", "has a label that starts or ends with '-'"},
	};
	for (const auto &[value, reason] : cases) {
		INFO(std::string(value));
		CHECK(check_server_name(value) == reason);
	}
	CHECK(check_server_name(repeat('a', 64) + ".org") == "has a label longer than 63 characters");
}
