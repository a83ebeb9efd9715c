// A record's JSON, parsed with its work bounded: a store written around the
// admin tool may hold anything, and one record must not take the process
// down.  nlohmann's parser is iterative, but destroying, copying or dumping
// a value recurses once per level, so a value nested 100,000 deep is refused
// before it is built, not after.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <string>
#include <string_view>

namespace mxd::bounded_json {

struct Limits {
	// Far beyond any real record (a record is four levels deep at most),
	// far below what recursion over the value can take on a worker's stack.
	std::size_t depth = 64;
	// A valid record renders each of its four documents in at most
	// record::max_document_size (12 KiB); five times that leaves room for
	// whitespace and escapes, and bounds the parse to well under a millisecond.
	std::size_t bytes = 64 * 1024;
};

enum class Outcome { ok, too_big, too_deep, invalid };

struct Parsed {
	Outcome outcome = Outcome::invalid;
	nlohmann::json value; // null unless ok
	// For too_big and too_deep: the limit, named, for a log line.
	std::string problem;
};

// The deepest nesting of arrays and objects in text, counting brackets
// outside strings; stops counting once past `stop`.  Exact for valid JSON.
std::size_t depth(std::string_view text, std::size_t stop);

Parsed parse(std::string_view text, const Limits &limits = {});

} // namespace mxd::bounded_json
