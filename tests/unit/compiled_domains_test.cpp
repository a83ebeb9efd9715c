#include "core/compiled_domains.hpp"

#include "core/byte_fields.hpp"

#include <catch2/catch.hpp>

#include <xxhash.h>

#include <string>
#include <utility>
#include <vector>

using mxd::compiled_domains::Domains;
using mxd::compiled_domains::Source;
using mxd::compiled_domains::source_of;

namespace {

const std::string text = "[domains.\"example.org\"]\nserver = \"matrix.example.org:443\"\n";

std::vector<std::pair<std::string, std::string>> records()
{
	return {{"example.org", R"({"server":"matrix.example.org:443"})"},
	        {"*.example.net", R"({"client":"https://chat.example.net"})"},
	        {"b.example", "{}"},
	        {"a.example", R"({"client":"https://a.example"})"}};
}

// Bytes laid out as make() lays them, entries given in this order and
// signed: what a writer with a bug in its sort would make.
std::string laid_out(const Source &source, const std::vector<std::pair<std::string, std::string>> &entries)
{
	using mxd::byte_fields::put_int;
	std::string out = "MXDC";
	out.push_back(static_cast<char>(mxd::compiled_domains::format));
	put_int(out, source.high, 8);
	put_int(out, source.low, 8);
	put_int(out, entries.size(), 4);
	std::size_t at = out.size() + 4 * entries.size();
	for (const auto &[key, record] : entries) {
		put_int(out, at, 4);
		at += 4 + key.size() + 1 + 4 + record.size() + 1;
	}
	for (const auto &[key, record] : entries) {
		put_int(out, key.size(), 4);
		(out += key) += '\0';
		put_int(out, record.size(), 4);
		(out += record) += '\0';
	}
	put_int(out, XXH3_64bits(out.data(), out.size()), 8);
	return out;
}

} // namespace

TEST_CASE("compiled domains: the source is the text's exact bytes and where it stands")
{
	CHECK(source_of(text, false) == source_of(text, false));
	CHECK_FALSE(source_of(text, false) == source_of(text, true));
	CHECK_FALSE(source_of(text, false) == source_of(text + " ", false));
	std::string one_bit = text;
	one_bit[30] ^= 1;
	CHECK_FALSE(source_of(text, false) == source_of(one_bit, false));
}

TEST_CASE("compiled domains: made, found in key order, read back")
{
	const Source source = source_of(text, false);
	const Domains d = Domains::make(source, records());
	REQUIRE(d.size() == 4);
	CHECK(d.key(0) == "*.example.net");
	CHECK(d.key(1) == "a.example");
	CHECK(d.key(2) == "b.example");
	CHECK(d.key(3) == "example.org");
	for (std::size_t i = 0; i < d.size(); i++) {
		// C strings, for the plugin's list().
		CHECK(d.key(i).data()[d.key(i).size()] == '\0');
		CHECK(d.record(i).data()[d.record(i).size()] == '\0');
	}
	for (const auto &[key, record] : records())
		CHECK(d.find(key) == record);
	for (const char *absent : {"", "example", "example.orh", "example.org.", "*.example.org", "c.example", "zzz"})
		CHECK_FALSE(d.find(absent));

	const auto back = Domains::read(d.bytes(), source);
	REQUIRE(back);
	CHECK(back->bytes() == d.bytes());
	CHECK(back->size() == 4);
	CHECK(back->find("b.example") == "{}");

	const Domains none = Domains::make(source, {});
	CHECK(none.size() == 0);
	CHECK_FALSE(none.find("example.org"));
	REQUIRE(Domains::read(none.bytes(), source));
	CHECK(Domains::read(none.bytes(), source)->size() == 0);
	CHECK_FALSE(Domains().find("example.org"));
}

TEST_CASE("compiled domains: a key given twice is kept once, the first")
{
	const Domains d = Domains::make(Source{}, {{"x.example", "{\"a\":1}"}, {"x.example", "{\"a\":2}"}});
	CHECK(d.size() == 1);
	CHECK(d.find("x.example") == "{\"a\":1}");
	CHECK(Domains::read(d.bytes(), Source{}));
}

TEST_CASE("compiled domains: bytes of another source, garbled or cut short are refused")
{
	const Source source = source_of(text, false);
	const std::string bytes = Domains::make(source, records()).bytes();
	CHECK_FALSE(Domains::read(bytes, source_of(text, true)));
	CHECK_FALSE(Domains::read(bytes, source_of(text + "\n", false)));
	for (std::size_t i = 0; i < bytes.size(); i++) {
		std::string garbled = bytes;
		garbled[i] = static_cast<char>(garbled[i] ^ 0x20);
		CHECK_FALSE(Domains::read(garbled, source));
	}
	for (std::size_t n = 0; n < bytes.size(); n++)
		CHECK_FALSE(Domains::read(bytes.substr(0, n), source));
	CHECK_FALSE(Domains::read(bytes + '\0', source));
	CHECK_FALSE(Domains::read("", source));
}

TEST_CASE("compiled domains: signed bytes whose layout is wrong are refused")
{
	const Source source = source_of(text, false);
	// The layout itself is right: what the checks below refuse is each one
	// thing changed in it.
	REQUIRE(Domains::read(laid_out(source, {{"a.example", "{}"}, {"b.example", "{}"}}), source));
	// Out of order, twice, empty: find() could not find by halves.
	CHECK_FALSE(Domains::read(laid_out(source, {{"b.example", "{}"}, {"a.example", "{}"}}), source));
	CHECK_FALSE(Domains::read(laid_out(source, {{"a.example", "{}"}, {"a.example", "{}"}}), source));
	CHECK_FALSE(Domains::read(laid_out(source, {{"", "{}"}}), source));

	// A count larger than the table could be: refused before anything is
	// read past the end.
	std::string bytes = laid_out(source, {{"a.example", "{}"}});
	bytes[4 + 1 + 16 + 3] = '\x7f';
	bytes.resize(bytes.size() - 8);
	mxd::byte_fields::put_int(bytes, XXH3_64bits(bytes.data(), bytes.size()), 8);
	CHECK_FALSE(Domains::read(bytes, source));

	// An entry whose NUL is not one, signed anew.
	bytes = laid_out(source, {{"a.example", "{}"}});
	bytes[bytes.size() - 8 - 1] = 'x';
	bytes.resize(bytes.size() - 8);
	mxd::byte_fields::put_int(bytes, XXH3_64bits(bytes.data(), bytes.size()), 8);
	CHECK_FALSE(Domains::read(bytes, source));
}
