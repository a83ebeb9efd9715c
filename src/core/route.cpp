// Routing.  Web servers disagree on which parameter holds the path and how
// much of it they decode (reference §2.2), so the raw REQUEST_URI is the one
// source when there is one, and everything else must match exactly.
#include "core/route.hpp"

#include "core/ascii.hpp"

#include <algorithm>

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

// The path part of a request target, still encoded: no scheme and
// authority, no query or fragment.  nullopt when it cannot be a path.
std::optional<std::string_view> raw_path(std::string_view target)
{
	// A control byte anywhere, even in the query we drop, means a request
	// that no conforming client sent.  One pass finds both.
	std::size_t end = std::string_view::npos;
	for (std::size_t i = 0; i < target.size(); ++i) {
		const char c = target[i];
		if (is_control(c))
			return std::nullopt;
		if ((c == '?' || c == '#') && end == std::string_view::npos)
			end = i;
	}

	// The absolute form ("https://host/path") is rare: an origin-form
	// target starts with '/' and has no scheme to look for.
	if (const std::size_t scheme = target.starts_with('/') ? 0 : scheme_length(target); scheme != 0) {
		const std::size_t path = target.find_first_of("/?#", scheme);
		if (path == std::string_view::npos || target[path] != '/')
			return std::string_view("/");
		target.remove_prefix(path);
		end = target.find_first_of("?#");
	}
	target = target.substr(0, end);
	if (target.empty() || target.front() != '/')
		return std::nullopt;
	return target;
}

} // namespace

std::optional<std::string> canonical_path(std::string_view raw)
{
	const std::optional<std::string_view> found = raw_path(raw);
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
		const auto raw = raw_path(request_uri);
		if (raw && raw->find('%') == std::string_view::npos)
			return match_path(*raw);
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
