#include "core/rendering.hpp"

#include "core/record.hpp"
#include "core/version.hpp"

#include <catch2/catch.hpp>

#include <xxhash.h>

#include <set>
#include <string>

using nlohmann::json;
using mxd::Document;
using mxd::Response;
namespace rendering = mxd::rendering;
namespace render = mxd::render;

namespace {

const json record = json::parse(
	R"({"server":"matrix.example.org:443","client":"https://matrix.{domain}",)"
	R"("client_extra":{"org.example.key":"value \"quoted\""},"max_age":600,)"
	R"("support":{"support_page":"https://example.org/help"}})");

rendering::Documents documents_of(const json &effective, const std::string &key,
                                  const render::Policy &policy = {})
{
	rendering::Documents docs;
	for (Document d : mxd::all_documents)
		docs[static_cast<std::size_t>(d)] = mxd::make_answer(render::document(effective, d, key, policy));
	return docs;
}

bool same(const mxd::Answer &a, const mxd::Answer &b)
{
	return a.status == b.status && a.lead == b.lead && a.rest == b.rest &&
	       a.head_size == b.head_size && a.etag_at == b.etag_at && a.etag_size == b.etag_size &&
	       a.cache_at == b.cache_at && a.cache_size == b.cache_size;
}

bool same(const rendering::Documents &a, const rendering::Documents &b)
{
	for (std::size_t i = 0; i < a.size(); i++)
		if (!same(a[i], b[i]))
			return false;
	return true;
}

// Where document i's fields start in encode()'s bytes.
std::size_t document_at(const std::string &bytes, std::size_t key_size, std::size_t i)
{
	std::size_t at = 4 + 4 + key_size;
	for (; i > 0; i--) {
		const std::size_t rest = at + 2 + 1 + 5 * 4;
		std::size_t n = 0;
		for (int b = 3; b >= 0; b--)
			n = n * 256 + static_cast<unsigned char>(bytes[rest + static_cast<std::size_t>(b)]);
		at = rest + 4 + n;
	}
	return at;
}

// Sets the little-endian 32-bit field at `at`.
void set32(std::string &bytes, std::size_t at, std::uint32_t v)
{
	for (int b = 0; b < 4; b++)
		bytes[at + static_cast<std::size_t>(b)] = static_cast<char>(v >> (8 * b));
}

// Bytes with their checksum made again, as a forger with the format in
// hand would: only the structural checks stand between them and a client.
std::string resealed(std::string bytes)
{
	bytes.resize(bytes.size() - 8);
	std::uint64_t sum = XXH3_64bits(bytes.data(), bytes.size());
	for (int i = 0; i < 8; i++)
		bytes.push_back(static_cast<char>(sum >> (8 * i)));
	return bytes;
}

} // namespace

TEST_CASE("rendering: the fingerprint names the format, version, revision, defaults and policy",
          "[rendering]")
{
	const render::Policy policy;
	const std::string base = rendering::fingerprint(json::object(), policy);
	CHECK(base.size() == 3 + 16);
	CHECK(base.starts_with("f2-"));
	CHECK(base.find_first_not_of("0123456789abcdef", 3) == std::string::npos);
	CHECK(rendering::fingerprint(json::object(), policy) == base);
	// Canonical: the same [defaults] however they were written.
	CHECK(rendering::fingerprint(json::parse(R"({"max_age":60,"server":"a.example:443"})"), policy) ==
	      rendering::fingerprint(json::parse(R"({ "server": "a.example:443", "max_age": 60 })"),
	                             policy));

	std::set<std::string> seen{base};
	render::Policy p = policy;
	p.max_age++;
	CHECK(seen.insert(rendering::fingerprint(json::object(), p)).second);
	p = policy;
	p.not_found_max_age++;
	CHECK(seen.insert(rendering::fingerprint(json::object(), p)).second);
	p = policy;
	p.stale_max_age++;
	CHECK(seen.insert(rendering::fingerprint(json::object(), p)).second);
	CHECK(seen.insert(rendering::fingerprint(json::parse(R"({"max_age":60})"), policy)).second);
	CHECK(seen.insert(rendering::fingerprint(json::parse(R"({"max_age":61})"), policy)).second);
	// An empty [defaults] and none are one thing only when both dump alike.
	CHECK(seen.insert(rendering::fingerprint(json(), policy)).second);
}

TEST_CASE("rendering: encode and decode round-trip the four documents for their key only",
          "[rendering]")
{
	const json effective = mxd::record::effective(record, json::object(), "example.org");
	const rendering::Documents docs = documents_of(effective, "example.org");
	REQUIRE(docs[static_cast<std::size_t>(Document::policy_server)].status == 404);
	const std::string bytes = rendering::encode("example.org", docs);

	const auto back = rendering::decode(bytes, "example.org");
	REQUIRE(back);
	CHECK(same(*back, docs));
	CHECK_FALSE(rendering::decode(bytes, "example.net"));
	CHECK_FALSE(rendering::decode(bytes, "example.or"));
	CHECK_FALSE(rendering::decode(bytes, ""));
	CHECK_FALSE(rendering::decode("", "example.org"));

	SECTION("every truncation and every single changed byte is refused")
	{
		for (std::size_t n = 0; n < bytes.size(); n++)
			CHECK_FALSE(rendering::decode(bytes.substr(0, n), "example.org"));
		for (std::size_t i = 0; i < bytes.size(); i++) {
			std::string b = bytes;
			b[i] = static_cast<char>(b[i] ^ 0x20);
			INFO("byte " << i);
			CHECK_FALSE(rendering::decode(b, "example.org"));
		}
		CHECK_FALSE(rendering::decode(bytes + "x", "example.org"));
	}
	SECTION("forged bytes with a good checksum are still checked for their shape")
	{
		CHECK(rendering::decode(resealed(bytes), "example.org")); // the helper is right
		// Another format number.
		std::string b = bytes;
		b[3] = static_cast<char>(rendering::format + 1);
		CHECK_FALSE(rendering::decode(resealed(b), "example.org"));
		// The key's length past the end.
		b = bytes;
		b[4] = '\xff';
		b[7] = '\x7f';
		CHECK_FALSE(rendering::decode(resealed(b), "example.org"));
		// The first document's status out of range, its lead flag unknown.
		const std::size_t key_size = std::string("example.org").size();
		const std::size_t doc0 = document_at(bytes, key_size, 0);
		b = bytes;
		b[doc0] = 0;
		b[doc0 + 1] = 0;
		CHECK_FALSE(rendering::decode(resealed(b), "example.org"));
		b = bytes;
		b[doc0 + 2] = 2;
		CHECK_FALSE(rendering::decode(resealed(b), "example.org"));
		// Said to be without the shared lead: then the rest must be a whole
		// answer, status line first.
		b = bytes;
		b[doc0 + 2] = 0;
		CHECK_FALSE(rendering::decode(resealed(b), "example.org"));
		// Each document's head past its bytes, not ending its line, or
		// ETag and Cache-Control outside it.
		for (std::size_t i = 0; i < mxd::document_count; i++) {
			INFO("document " << i);
			const std::size_t at = document_at(bytes, key_size, i);
			const mxd::Answer &a = docs[i];
			b = bytes;
			set32(b, at + 3, static_cast<std::uint32_t>(a.rest.size() + 1));
			CHECK_FALSE(rendering::decode(resealed(b), "example.org"));
			b = bytes;
			set32(b, at + 3, a.head_size - 1);
			CHECK_FALSE(rendering::decode(resealed(b), "example.org"));
			b = bytes;
			set32(b, at + 3, 1);
			CHECK_FALSE(rendering::decode(resealed(b), "example.org"));
			b = bytes;
			set32(b, at + 7, a.head_size);
			set32(b, at + 11, 1);
			CHECK_FALSE(rendering::decode(resealed(b), "example.org"));
			b = bytes;
			set32(b, at + 15, a.head_size - a.cache_size + 1);
			CHECK_FALSE(rendering::decode(resealed(b), "example.org"));
			// The length of its bytes past the end.
			b = bytes;
			set32(b, at + 23, 0x7fffffff);
			CHECK_FALSE(rendering::decode(resealed(b), "example.org"));
		}
		// Trailing bytes inside the checksum.
		b = bytes;
		b.insert(b.size() - 8, "tail");
		CHECK_FALSE(rendering::decode(resealed(b), "example.org"));
	}
	SECTION("oversized bytes are refused before they are read")
	{
		rendering::Documents big = docs;
		big[0].rest.append(rendering::max_size, 'x');
		CHECK_FALSE(rendering::decode(rendering::encode("example.org", big), "example.org"));
		big[0].rest.resize(docs[0].rest.size() + rendering::max_size / 2);
		CHECK(rendering::decode(rendering::encode("example.org", big), "example.org"));
	}
}

TEST_CASE("rendering: prepare renders as the responder does for host == key, or says why not",
          "[rendering]")
{
	const json defaults = json::parse(R"({"max_age":900,"support":{"support_page":"https://d.example/"}})");
	render::Policy policy;
	policy.max_age = 3600;

	const auto out = rendering::prepare("example.org", record.dump(), defaults, policy);
	REQUIRE(out.bytes);
	CHECK(out.skipped.empty());
	const auto docs = rendering::decode(*out.bytes, "example.org");
	REQUIRE(docs);
	CHECK(same(*docs, documents_of(mxd::record::effective(record, defaults, "example.org"),
	                               "example.org", policy)));
	CHECK((*docs)[static_cast<std::size_t>(Document::client)].rest.find("matrix.example.org") !=
	      std::string::npos);

	CHECK(rendering::prepare("*.example.org", record.dump(), defaults, policy).skipped ==
	      "*.example.org: wildcard key (rendered per host when asked)");
	CHECK_FALSE(rendering::prepare("*.example.org", record.dump(), defaults, policy).bytes);

	// Valid alone, refused with the defaults in force: no rendering.
	const json with_redirect_defaults = json::parse(R"({"server":"not a server name!"})");
	const auto refused = rendering::prepare("example.net", R"({"client":"https://m.example.net"})",
	                                        with_redirect_defaults, policy);
	CHECK_FALSE(refused.bytes);
	CHECK(refused.skipped.starts_with("example.net: server: "));
	CHECK(refused.skipped.ends_with(" (with [defaults])"));

	CHECK(rendering::prepare("example.net", "[1]", defaults, policy).skipped ==
	      "example.net: the stored record is not a JSON object");
	const std::string deep = std::string(100, '[') + std::string(100, ']');
	const auto too_deep =
		rendering::prepare("example.net", R"({"client_extra":{"k":)" + deep + "}}", defaults, policy);
	CHECK_FALSE(too_deep.bytes);
	CHECK(too_deep.skipped.starts_with("example.net: record "));

	// The issue's case: fits 12 KiB only when its escapes are not counted.
	const json quotes = {{"client", "https://m.example.net"},
	                     {"client_extra", {{"org.example.q", std::string(7000, '"')}}}};
	const auto escaped = rendering::prepare("example.net", quotes.dump(), json::object(), policy);
	CHECK_FALSE(escaped.bytes);
	CHECK(escaped.skipped.starts_with("example.net: "));
}

TEST_CASE("rendering: make gives the four documents a miss gives, or the outcome that stops them",
          "[rendering]")
{
	const render::Policy policy;
	const json defaults = json::parse(R"({"support":{"support_page":"https://help.{domain}/"}})");
	auto made = rendering::make("example.org", record.dump(), defaults, policy);
	REQUIRE(made.outcome == rendering::Made::Outcome::documents);
	CHECK(same(made.docs, documents_of(mxd::record::effective(record, defaults, "example.org"),
	                                   "example.org", policy)));

	made = rendering::make("example.org", "[1]", defaults, policy);
	CHECK(made.outcome == rendering::Made::Outcome::not_object);
	made = rendering::make("example.org", R"({"server":"not a server name!"})", defaults, policy);
	CHECK(made.outcome == rendering::Made::Outcome::invalid);
	CHECK(made.problem.starts_with("server: "));
	const std::string deep = std::string(100, '[') + std::string(100, ']');
	made = rendering::make("example.org", R"({"client_extra":{"k":)" + deep + "}}", defaults, policy);
	CHECK(made.outcome == rendering::Made::Outcome::over_limit);
	CHECK(made.problem.starts_with("record "));
}
