// A rendered answer in its wire form, kept in the directory's cache, and the
// two variants made from it on demand: the 304 and the stale answer served
// while the backend fails.  Pure functions.
//
// The wire form is two pieces: `lead`, the status line and the four headers
// every answer carries (Content-Type and CORS), which are the same bytes for
// every answer of one status and so are kept once for the whole process; and
// `rest`, what varies (Cache-Control, ETag, Location, Content-Length, the
// body).  The cache holds the rest alone: about 260 bytes a document less.
#pragma once

#include "core/response.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace mxd {

struct Answer {
	int status = 0;
	// Static storage (lead_of): never freed, never counted per answer.
	// Empty when the response does not start with the common headers, and
	// then `rest` is the whole.
	std::string_view lead;
	std::string rest; // the headers after lead, the blank line, the body
	// Bytes of `rest` before the body (HEAD); where the ETag and
	// Cache-Control values are in `rest`, size 0 = none.  32 bits: an
	// answer is bounded far below (record::max_document_size).
	std::uint32_t head_size = 0;
	std::uint32_t etag_at = 0, etag_size = 0;
	std::uint32_t cache_at = 0, cache_size = 0;

	// What follows `lead` on the wire, for GET or HEAD.
	std::string_view bytes(bool head) const
	{
		return head ? std::string_view(rest).substr(0, head_size) : std::string_view(rest);
	}
	// The whole wire form in one string: a copy, for CGI, the admin tool and
	// tests; a FastCGI worker writes lead and bytes() as they are.
	std::string wire(bool head = false) const
	{
		const std::string_view b = bytes(head);
		std::string out;
		out.reserve(lead.size() + b.size());
		out.append(lead).append(b);
		return out;
	}
	std::string_view etag() const { return std::string_view(rest).substr(etag_at, etag_size); }
	std::string_view cache_control() const
	{
		return std::string_view(rest).substr(cache_at, cache_size);
	}
};

// The status line and the common headers of every answer of `status`, as
// serialize() writes them: one string per status for the process's life.
std::string_view lead_of(int status);

// Serialises a rendered response once: HEAD's bytes are a prefix of GET's.
Answer make_answer(const Response &response);

// The 304 for an answer with an ETag: the same validators, Cache-Control and
// CORS headers, no body.  Made per request: 304s are rare and the cache
// keeps one form per document instead of two.
std::string not_modified(const Answer &answer);

// `wire` (a form of `answer`: its bytes() after the lead, its whole wire
// form, or its 304) with Cache-Control lowered to at most max_age seconds,
// for an answer served from the cache while the backend cannot confirm it.
// An answer that is not cacheable (no-store) is returned as it is.
std::string stale(const Answer &answer, std::string_view wire, unsigned max_age);

} // namespace mxd
