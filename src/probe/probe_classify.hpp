// What the world answered for one document, judged against what mxdelegate
// would answer: the hops of one fetch (redirects followed by hand, so that
// each hop's CORS headers are seen) in, one stable code and a short detail
// out.  Pure: the fetching is probe_engine's.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

namespace mxd::probe {

// The federation resolvers' bounds (tuwunel's, which are the tightest in
// use): what passes them passes the others.
inline constexpr int max_redirects = 4;
inline constexpr std::size_t body_cap = 12 * 1024;

// Why a hop got no HTTP answer.
enum class Transport { none, dns, connect, tls, timeout, too_large, other };

struct Hop {
	std::string url;
	long status = 0;       // 0 when there was no answer
	std::string location;  // a redirect's target, made absolute
	std::optional<std::string> allow_origin; // Access-Control-Allow-Origin
	std::string content_type;
	std::string body;      // at most body_cap bytes
	Transport error = Transport::none;
	std::string error_text; // the library's words for a transport failure
};

// What mxdelegate answers for the document (`mxdelegatectl query`).
struct Expected {
	int status = 200;
	std::string body;     // the JSON text of a 200
	std::string location; // a redirect's Location
};

struct Outcome {
	std::string code;   // ok, mismatch, not-routed, ... (mxdelegatectl(8))
	std::string detail; // empty for ok
	bool ok() const { return code == "ok"; }
};

bool is_redirect(long status);

// Whether a browser sent `origin` may read the hop's answer.
bool cors_allows(const Hop &hop, std::string_view origin);

// The URL to fetch after the last hop, or nothing when the chain is over:
// not a redirect, a redirect to a URL already fetched, or one past
// max_redirects.
std::optional<std::string> next_hop(const std::vector<Hop> &hops);

// A challenge or block page of a CDN or WAF ("Cloudflare challenge"), a
// plain HTML page ("HTML page"), or nothing when the body is not HTML.
std::optional<std::string> html_kind(std::string_view content_type, std::string_view body);

// At most `max` differences between two JSON values, "path: want X, got Y",
// joined by "; ".  Empty when they are equal.
std::string json_diff(const nlohmann::json &want, const nlohmann::json &got, std::size_t max = 3);

// Text from the network or the store as a detail shows it: on one line,
// control bytes and invalid UTF-8 as \xNN, cut at `max` bytes.
std::string clean(std::string_view text, std::size_t max);

Outcome classify(const Expected &want, const std::vector<Hop> &hops, std::string_view origin);

// The body of a chain's last hop parsed as a JSON object, or nothing.
std::optional<nlohmann::json> json_object(std::string_view body);

} // namespace mxd::probe
