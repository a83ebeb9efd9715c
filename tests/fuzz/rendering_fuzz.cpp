// rendering: the bytes a store hands back (first line: the name asked for,
// rest: the bytes), decoded as they are, and again with their checksum
// made good, so that the structural checks behind it are fuzzed too; what
// decodes must encode back to the same bytes.  When the rest is a record's
// JSON, prepare() renders it as the writer does, and its bytes must decode
// for that name alone, to the documents render::document gives.
#include "fuzz.hpp"

#include "core/record.hpp"
#include "core/rendering.hpp"

#include <xxhash.h>

#include <cstddef>
#include <cstdint>
#include <string>

using namespace mxd;
using nlohmann::json;

namespace {

void check_decoded(std::string_view bytes, std::string_view key)
{
	const auto docs = rendering::decode(bytes, key);
	if (!docs)
		return;
	FUZZ_CHECK(bytes.size() <= rendering::max_size);
	FUZZ_CHECK(rendering::encode(key, *docs) == bytes);
	for (const Answer &a : *docs) {
		FUZZ_CHECK(a.status >= 100 && a.status <= 599);
		FUZZ_CHECK(a.head_size >= 2 && a.head_size <= a.rest.size());
		FUZZ_CHECK(a.rest.compare(a.head_size - 2, 2, "\r\n") == 0);
		FUZZ_CHECK(std::size_t{a.etag_at} + a.etag_size <= a.head_size);
		FUZZ_CHECK(std::size_t{a.cache_at} + a.cache_size <= a.head_size);
		FUZZ_CHECK(!a.lead.empty() || a.rest.starts_with("Status: "));
		// The views a worker writes stay inside the answer.
		FUZZ_CHECK(a.bytes(true).size() == a.head_size);
		FUZZ_CHECK(a.etag().size() == a.etag_size && a.cache_control().size() == a.cache_size);
	}
	// Made for this key: never served for another.
	FUZZ_CHECK(!rendering::decode(bytes, std::string(key) + "x"));
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
	const std::string_view in(reinterpret_cast<const char *>(data), size);
	const auto [key, rest] = fuzz::split_line(in);

	check_decoded(rest, key);
	if (rest.size() >= 8) {
		std::string sealed(rest.substr(0, rest.size() - 8));
		const std::uint64_t sum = XXH3_64bits(sealed.data(), sealed.size());
		for (int i = 0; i < 8; i++)
			sealed.push_back(static_cast<char>(sum >> (8 * i)));
		check_decoded(sealed, key);
	}

	const json stored = fuzz::parse_json(rest);
	if (!stored.is_object() || key.empty())
		return 0;
	const render::Policy policy;
	const rendering::Outcome out = rendering::prepare(key, rest, json::object(), policy);
	FUZZ_CHECK(out.bytes.has_value() == out.skipped.empty());
	if (!out.bytes)
		return 0;
	const auto docs = rendering::decode(*out.bytes, key);
	FUZZ_CHECK(docs.has_value());
	FUZZ_CHECK(!rendering::decode(*out.bytes, std::string(key) + "x"));
	const json record = record::effective(stored, json::object(), key);
	for (Document d : all_documents) {
		const Answer want = make_answer(render::document(record, d, key, policy));
		const Answer &got = (*docs)[static_cast<std::size_t>(d)];
		FUZZ_CHECK(got.wire() == want.wire() && got.etag() == want.etag() &&
		           got.cache_control() == want.cache_control());
	}
	return 0;
}
