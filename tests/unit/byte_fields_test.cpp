#include "core/byte_fields.hpp"

#include <catch2/catch.hpp>

#include <string>

using mxd::byte_fields::put_int;
using mxd::byte_fields::Reader;

TEST_CASE("byte fields: little-endian integers of 1 to 8 bytes, read back")
{
	std::string out;
	put_int(out, 0xab, 1);
	put_int(out, 0x1234, 2);
	put_int(out, 0xdeadbeef, 4);
	put_int(out, 0x0102030405060708, 8);
	CHECK(out.size() == 15);
	CHECK(out.substr(1, 2) == "\x34\x12");
	Reader in(out);
	std::uint64_t a, b, c, d;
	REQUIRE(in.integer<1>(a));
	REQUIRE(in.integer<2>(b));
	REQUIRE(in.integer<4>(c));
	REQUIRE(in.integer<8>(d));
	CHECK(a == 0xab);
	CHECK(b == 0x1234);
	CHECK(c == 0xdeadbeef);
	CHECK(d == 0x0102030405060708);
	CHECK(in.done());
	CHECK_FALSE(in.integer<1>(a));
}

TEST_CASE("byte fields: a length past what is left is refused, and nothing is read")
{
	std::string out;
	put_int(out, 3, 4);
	out += "abc";
	std::string_view s;
	REQUIRE(Reader(out).text<4>(s));
	CHECK(s == "abc");

	Reader short_by_one(std::string_view(out).substr(0, out.size() - 1));
	CHECK_FALSE(short_by_one.text<4>(s));
	Reader three_of_four(std::string_view(out).substr(0, 3));
	std::uint64_t v;
	CHECK_FALSE(three_of_four.integer<4>(v));
	// A huge length is refused, not allocated.
	std::string huge;
	put_int(huge, 0xffffffff, 4);
	CHECK_FALSE(Reader(huge).text<4>(s));
}
