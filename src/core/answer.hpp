// A rendered answer in its wire form, kept in the directory's cache, and the
// two variants made from it on demand: the 304 and the stale answer served
// while the backend fails.  Pure functions.
#pragma once

#include "core/response.hpp"

#include <cstddef>
#include <string>
#include <string_view>

namespace mxd {

struct Answer {
	int status = 0;
	std::string full;          // status line, headers, body
	std::size_t head_size = 0; // bytes of `full` before the body (HEAD)
	// Where the ETag and Cache-Control values are in `full`; size 0 = none.
	std::size_t etag_at = 0, etag_size = 0;
	std::size_t cache_at = 0, cache_size = 0;

	std::string_view bytes(bool head) const
	{
		return head ? std::string_view(full).substr(0, head_size) : std::string_view(full);
	}
	std::string_view etag() const { return std::string_view(full).substr(etag_at, etag_size); }
	std::string_view cache_control() const
	{
		return std::string_view(full).substr(cache_at, cache_size);
	}
};

// Serialises a rendered response once: HEAD's bytes are a prefix of GET's.
Answer make_answer(const Response &response);

// The 304 for an answer with an ETag: the same validators, Cache-Control and
// CORS headers, no body.  Made per request: 304s are rare and the cache
// keeps one form per document instead of two.
std::string not_modified(const Answer &answer);

// `wire` (a form of `answer`: its bytes, or its 304) with Cache-Control
// lowered to at most max_age seconds, for an answer served from the cache
// while the backend cannot confirm it.  An answer that is not cacheable
// (no-store) is returned as it is.
std::string stale(const Answer &answer, std::string_view wire, unsigned max_age);

} // namespace mxd
