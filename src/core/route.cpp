// Routing.  Web servers disagree on which parameter holds the path and how
// much of it they decode (reference §2.2), so the raw REQUEST_URI is the one
// source when there is one, and everything else must match exactly.
#include "core/route.hpp"

#include "core/ascii.hpp"

#include <algorithm>
#include <array>

namespace mxd {

std::string_view document_path(Document doc)
{
	switch (doc) {
	case Document::server: return "/.well-known/matrix/server";
	case Document::client: return "/.well-known/matrix/client";
	case Document::support: return "/.well-known/matrix/support";
	case Document::policy_server: return "/.well-known/matrix/policy_server";
	}
	return {};
}

std::string_view document_name(Document doc)
{
	switch (doc) {
	case Document::server: return "server";
	case Document::client: return "client";
	case Document::support: return "support";
	case Document::policy_server: return "policy_server";
	}
	return {};
}

} // namespace mxd

namespace mxd::route {

namespace {

using namespace ascii;

constexpr bool is_unreserved(char c)
{
	return is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

// Case-insensitive "http://" or "https://" at the start of the target.
std::size_t scheme_length(std::string_view t)
{
	for (std::string_view scheme : {std::string_view("http://"), std::string_view("https://")}) {
		if (t.size() < scheme.size())
			continue;
		bool same = true;
		for (std::size_t i = 0; i < scheme.size() && same; ++i) {
			char c = t[i];
			if (c >= 'A' && c <= 'Z')
				c = static_cast<char>(c - 'A' + 'a');
			same = c == scheme[i];
		}
		if (same)
			return scheme.size();
	}
	return 0;
}

} // namespace

namespace {

// What each byte of a target means to raw_target(): a byte test a character
// instead of four comparisons, on every request's REQUEST_URI.
enum ByteClass : unsigned char { plain, control, query, percent };
constexpr std::array<unsigned char, 256> byte_class = [] {
	std::array<unsigned char, 256> t{};
	for (std::size_t c = 0; c < t.size(); ++c)
		if (is_control(static_cast<char>(c)))
			t[c] = control;
	t['?'] = query;
	t['#'] = query;
	t['%'] = percent;
	return t;
}();

struct RawTarget {
	std::optional<std::string_view> path;
	bool escaped = false; // a '%' in the path: it needs decoding
};

// The path part of a request target, still encoded: no scheme and
// authority, no query or fragment.  No path when it cannot be one.
RawTarget raw_target(std::string_view target)
{
	// A control byte anywhere, even in the query we drop, means a request
	// that no conforming client sent.  One pass finds both, and the '%'.
	std::size_t end = std::string_view::npos;
	bool escaped = false;
	for (std::size_t i = 0; i < target.size(); ++i) {
		const unsigned char k = byte_class[static_cast<unsigned char>(target[i])];
		if (k == plain)
			continue;
		if (k == control)
			return {};
		if (end == std::string_view::npos) {
			if (k == query)
				end = i;
			else
				escaped = true;
		}
	}

	// The absolute form ("https://host/path") is rare: an origin-form
	// target starts with '/' and has no scheme to look for.
	if (const std::size_t scheme = target.starts_with('/') ? 0 : scheme_length(target); scheme != 0) {
		const std::size_t path = target.find_first_of("/?#", scheme);
		if (path == std::string_view::npos || target[path] != '/')
			return {std::string_view("/"), false};
		target.remove_prefix(path);
		end = target.find_first_of("?#");
		escaped = target.substr(0, end).find('%') != std::string_view::npos;
	}
	target = target.substr(0, end);
	if (target.empty() || target.front() != '/')
		return {};
	return {target, escaped};
}

} // namespace

std::optional<std::string> canonical_path(std::string_view raw)
{
	const std::optional<std::string_view> found = raw_target(raw).path;
	if (!found)
		return std::nullopt;
	const std::string_view target = *found;

	static constexpr char hex[] = "0123456789ABCDEF";
	std::string path;
	path.reserve(target.size());
	for (std::size_t i = 0; i < target.size(); ++i) {
		// The bytes up to the next '%' are copied as they are, in one go.
		const std::size_t pct = std::min(target.find('%', i), target.size());
		path.append(target.substr(i, pct - i));
		i = pct;
		if (i == target.size())
			break;
		if (target.size() - i < 3)
			return std::nullopt;
		const int hi = hex_value(target[i + 1]);
		const int lo = hex_value(target[i + 2]);
		if (hi < 0 || lo < 0)
			return std::nullopt;
		const auto decoded = static_cast<char>(hi * 16 + lo);
		if (is_unreserved(decoded)) {
			path += decoded;
		} else {
			// Decoding "%2F" or "%3F" would change the path's structure.
			path += '%';
			path += hex[hi];
			path += hex[lo];
		}
		i += 2;
	}
	return path;
}

std::optional<Document> match_path(std::string_view path)
{
	for (Document doc : all_documents)
		if (path == document_path(doc))
			return doc;
	return std::nullopt;
}

std::optional<Document> match(const char *request_uri, const char *script_name,
                              const char *path_info)
{
	if (request_uri != nullptr && *request_uri != '\0') {
		// Nothing escaped, nothing to decode: compared in place, without
		// building the canonical copy.
		const RawTarget raw = raw_target(request_uri);
		if (raw.path && !raw.escaped)
			return match_path(*raw.path);
		const auto path = canonical_path(request_uri);
		return path ? match_path(*path) : std::nullopt;
	}
	// RFC 3875: SCRIPT_NAME and PATH_INFO are already decoded.  Decoding them
	// again would make "%2573erver" match here but not through REQUEST_URI,
	// and a decoded '?' would be cut as a query, so they are compared as they
	// are, without building the concatenation.
	const std::string_view script = script_name != nullptr ? script_name : "";
	const std::string_view info = path_info != nullptr ? path_info : "";
	for (Document doc : all_documents) {
		const std::string_view want = document_path(doc);
		if (want.size() == script.size() + info.size() && want.starts_with(script) &&
		    want.substr(script.size()) == info)
			return doc;
	}
	return std::nullopt;
}

std::optional<std::string> path(const char *request_uri, const char *script_name,
                                const char *path_info)
{
	if (request_uri != nullptr && *request_uri != '\0')
		return canonical_path(request_uri);
	std::string p = script_name != nullptr ? script_name : "";
	p += path_info != nullptr ? path_info : "";
	return p;
}

} // namespace mxd::route
