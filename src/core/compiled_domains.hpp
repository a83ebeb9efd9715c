// The records of a TOML domains file compiled into one buffer, sorted by
// key: the TOML backend's form of them in memory, and the bytes it keeps in
// [backend] cache so that a process that lives for one request (CGI) reads
// them back instead of parsing the whole file again.  With 10,000 domains,
// toml++'s parse and the checks of every record were 95 % of such a request
// (bench/RESULTS.md).  Pure: bytes in, bytes out; the backend does the I/O.
//
// The bytes are tied to what they were made from: the source file's exact
// bytes, where it stands (a configuration file or a file of its own, which
// changes what may stand beside [domains]), and the version of mxdelegate
// and of its checks of records that made them.  A text that
// differs by one byte has another Source, and bytes made for another are
// refused, so an edit is never answered from stale records.  Nothing read
// back is trusted for its shape (read() checks every length, the order of
// the keys and a checksum of the whole), and the core checks every record
// again before it serves it, as it does a record from any store.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mxd::compiled_domains {

// The layout of the bytes; a new layout is a new number.
inline constexpr unsigned format = 1;

// What the bytes are made for.
struct Source {
	std::uint64_t high = 0, low = 0;
	bool operator==(const Source &) const = default;
};

// XXH3-128 of the file's text, seeded with the format, mxd::version, the
// renderer's revision (rendering.hpp) and `separate` (a file that holds
// nothing but [domains]).
Source source_of(std::string_view text, bool separate);

class Domains {
public:
	Domains() = default; // no records, made for no text

	// The records (canonical key, record text) of a load of `source`'s
	// text; a key given twice is kept once (domains_toml never gives one
	// twice: it refuses a file that names a domain twice).
	// Throws std::length_error past 4 GiB, far beyond a file toml++ reads.
	static Domains make(const Source &source, std::vector<std::pair<std::string, std::string>> records);

	// The Domains of bytes() of one made for this same source; nullopt for
	// anything else (another source, another format, truncated, garbled,
	// keys out of order), never an exception for bad bytes.
	static std::optional<Domains> read(std::string bytes, const Source &source);

	const std::string &bytes() const { return bytes_; }
	std::size_t size() const { return count_; }

	// The record of exactly `key`.
	std::optional<std::string_view> find(std::string_view key) const;

	// The i-th key and its record, in key order; each is followed by a NUL
	// in memory, so that its data() is a C string.
	std::string_view key(std::size_t i) const;
	std::string_view record(std::size_t i) const;

private:
	std::string bytes_;
	std::size_t count_ = 0;
};

} // namespace mxd::compiled_domains
