// Rendering: an effective record and a document into the HTTP answer, and the
// fixed answers (errors, preflight, 304).  Pure functions: no I/O, no clock.
#pragma once

#include "core/response.hpp"
#include "core/route.hpp"

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace mxd::render {

struct Policy {
	unsigned max_age = 14400;          // documents: 4 h, within Synapse's [5 min, 48 h]
	unsigned not_found_max_age = 300;  // 404: a remote server retries after 5 min
	// A cached answer served while the backend fails is given this lifetime
	// at most; 0 = never served stale (503 instead).
	unsigned stale_max_age = 30;
};

// The JSON body of `doc` for an effective record, or nullopt when the record
// has no such part (404).  Bodies are compact, keys in a fixed order.
//   server        {"m.server": server}
//   client        {"m.homeserver": {"base_url": client}, ...client_extra}
//   support       the support object as stored (contacts, support_page, ...)
//   policy_server {"public_keys": policy_server}, or policy_server itself
//                 when it is written in the document form {"public_keys": ...}
std::optional<std::string> body(const nlohmann::json &record, Document doc);

// A document answered by a redirect: where to, and with which status.
struct Redirect {
	std::string location;
	int status = 302;
};

// 302: a temporary redirect is not kept by a browser past the response's
// Cache-Control, so a tenant who later changes or removes the redirect is
// obeyed; 301 and 308 are kept indefinitely by browsers.
inline constexpr int default_redirect_status = 302;

// The redirect of `doc` in an effective record, or nullopt.  "redirect" as
// a string is a base for every document: the document's path is appended
// to it (one "/" between them); as an object, the member named after the
// document (server, client, support, policy_server) is the whole URL.
// Throws json::exception for a record that validation refuses.
std::optional<Redirect> redirect(const nlohmann::json &record, Document doc);

// 200 with the body, or the 404 M_NOT_FOUND answer when the record lacks the
// document, or the redirect (the record's redirect_status, default 302)
// with Location and a body {"location": URL}.  Cache-Control uses the
// record's "max_age" when it has one.
Response document(const nlohmann::json &record, Document doc, std::string_view domain,
                  const Policy &policy);

// The 404 for a document a record lacks.  It names the document, not the
// host, so that one answer serves every host (the directory shares it).
Response missing(Document doc, const Policy &policy);

// A Matrix-style error answer: {"errcode": errcode, "error": message}.
// 404 gets "public, max-age=<not_found_max_age>", every other error "no-store".
// 405 also gets "Allow: GET, HEAD, OPTIONS".
Response error(int status, std::string_view errcode, std::string_view message,
               const Policy &policy);

// 204 answer to OPTIONS: the CORS headers, no body, no lookup.
Response preflight();

// 304 answer for a 200 answer whose ETag matched: same ETag, Cache-Control
// and CORS headers, no body.
Response not_modified(const Response &document);
// The same from the two header values (empty: left out).
Response not_modified(std::string_view cache_control, std::string_view etag);

// Strong ETag of a body: a quoted hex digest.
std::string etag(std::string_view body);

// If-None-Match evaluation (RFC 9110 13.1.2, weak comparison): true when the
// header is "*" or lists an entity tag equal to etag, with or without "W/".
bool etag_matches(std::string_view if_none_match, std::string_view etag);

} // namespace mxd::render
