#include "core/compiled_domains.hpp"

#include "core/byte_fields.hpp"
#include "core/rendering.hpp"
#include "core/version.hpp"

#include <xxhash.h>

#include <algorithm>
#include <limits>
#include <stdexcept>

namespace mxd::compiled_domains {

namespace {

using byte_fields::put_int;
using byte_fields::Reader;

// The layout: "MXDC", the format, the source (16), the count (4), a table
// of each entry's offset (4 each), the entries in key order (the key's size
// (4), the key, a NUL, the record's size (4), the record, a NUL), then
// XXH3-64 of everything before it (8).
constexpr std::string_view magic = "MXDC";
constexpr std::size_t head_size = magic.size() + 1 + 16 + 4;
constexpr std::size_t checksum_size = 8;

std::uint32_t u32_at(const std::string &bytes, std::size_t at)
{
	std::uint64_t v = 0;
	Reader(std::string_view(bytes).substr(at, 4)).integer<4>(v);
	return static_cast<std::uint32_t>(v);
}

} // namespace

Source source_of(std::string_view text, bool separate)
{
	// NUL between the parts: a version never holds one.  The renderer's
	// revision, because it is bumped whenever record::validate may judge a
	// record otherwise: a build that checks records differently must load
	// the file anew, even under the same version.
	std::string seed = std::to_string(format);
	((seed += '\0') += mxd::version) += '\0';
	(seed += std::to_string(rendering::renderer_revision)) += '\0';
	seed += separate ? "separate" : "configuration";
	const XXH128_hash_t h =
	    XXH3_128bits_withSeed(text.data(), text.size(), XXH3_64bits(seed.data(), seed.size()));
	return {h.high64, h.low64};
}

Domains Domains::make(const Source &source, std::vector<std::pair<std::string, std::string>> records)
{
	// A key given twice (never by domains_toml) is kept once, the first.
	std::stable_sort(records.begin(), records.end(),
	                 [](const auto &a, const auto &b) { return a.first < b.first; });
	records.erase(std::unique(records.begin(), records.end(),
	                          [](const auto &a, const auto &b) { return a.first == b.first; }),
	              records.end());
	std::size_t size = head_size + 4 * records.size() + checksum_size;
	for (const auto &[key, record] : records)
		size += 4 + key.size() + 1 + 4 + record.size() + 1;
	if (size > std::numeric_limits<std::uint32_t>::max())
		throw std::length_error("compiled domains: more than 4 GiB of records");
	Domains d;
	d.count_ = records.size();
	std::string &out = d.bytes_;
	out.reserve(size);
	out.append(magic);
	out.push_back(static_cast<char>(format));
	put_int(out, source.high, 8);
	put_int(out, source.low, 8);
	put_int(out, records.size(), 4);
	std::size_t at = head_size + 4 * records.size();
	for (const auto &[key, record] : records) {
		put_int(out, at, 4);
		at += 4 + key.size() + 1 + 4 + record.size() + 1;
	}
	for (const auto &[key, record] : records) {
		put_int(out, key.size(), 4);
		(out += key) += '\0';
		put_int(out, record.size(), 4);
		(out += record) += '\0';
	}
	put_int(out, XXH3_64bits(out.data(), out.size()), checksum_size);
	return d;
}

std::optional<Domains> Domains::read(std::string bytes, const Source &source)
{
	if (bytes.size() < head_size + checksum_size)
		return std::nullopt;
	const std::string_view all(bytes);
	const std::string_view signed_part = all.substr(0, all.size() - checksum_size);
	std::uint64_t sum, high, low, count;
	if (!Reader(all.substr(signed_part.size())).integer<checksum_size>(sum) ||
	    sum != XXH3_64bits(signed_part.data(), signed_part.size()) || !signed_part.starts_with(magic) ||
	    static_cast<unsigned char>(signed_part[magic.size()]) != format)
		return std::nullopt;
	Reader head(signed_part.substr(magic.size() + 1));
	if (!head.integer<8>(high) || !head.integer<8>(low) || !(Source{high, low} == source) ||
	    !head.integer<4>(count) || count > (signed_part.size() - head_size) / 4)
		return std::nullopt;
	// Every entry where the table says, one after another from the end of
	// the table to the checksum, each key after the one before: so find()
	// and key() may read without checking.
	Reader table(signed_part.substr(head_size, 4 * count));
	std::size_t at = head_size + 4 * count;
	std::string_view previous;
	for (std::uint64_t i = 0; i < count; i++) {
		std::uint64_t offset;
		if (!table.integer<4>(offset) || offset != at)
			return std::nullopt;
		Reader entry(signed_part.substr(at));
		std::string_view key, record;
		std::uint64_t nul1, nul2;
		if (!entry.text<4>(key) || key.empty() || !(previous < key) || !entry.integer<1>(nul1) ||
		    nul1 != 0 || !entry.text<4>(record) || !entry.integer<1>(nul2) || nul2 != 0)
			return std::nullopt;
		previous = key;
		at += 4 + key.size() + 1 + 4 + record.size() + 1;
	}
	if (at != signed_part.size())
		return std::nullopt;
	Domains d;
	d.bytes_ = std::move(bytes);
	d.count_ = static_cast<std::size_t>(count);
	return d;
}

std::string_view Domains::key(std::size_t i) const
{
	const std::size_t at = u32_at(bytes_, head_size + 4 * i);
	return std::string_view(bytes_).substr(at + 4, u32_at(bytes_, at));
}

std::string_view Domains::record(std::size_t i) const
{
	const std::size_t at = u32_at(bytes_, head_size + 4 * i);
	const std::size_t record_at = at + 4 + u32_at(bytes_, at) + 1;
	return std::string_view(bytes_).substr(record_at + 4, u32_at(bytes_, record_at));
}

std::optional<std::string_view> Domains::find(std::string_view key) const
{
	std::size_t low = 0, high = count_;
	while (low < high) {
		const std::size_t mid = low + (high - low) / 2;
		const std::string_view k = this->key(mid);
		if (k == key)
			return record(mid);
		if (k < key)
			low = mid + 1;
		else
			high = mid;
	}
	return std::nullopt;
}

} // namespace mxd::compiled_domains
