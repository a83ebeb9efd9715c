// The delegation record: one domain's data, the same shape in every backend
// and in the admin tool.  Validation here is the single source of truth for
// what may be served.
//
//   {
//     "server": "matrix.example.org:443",              // m.server
//     "client": "https://matrix.example.org",          // m.homeserver.base_url
//     "client_extra": { "m.identity_server": {...}, "org.example.key": ... },
//     "support": { "contacts": [...], "support_page": "https://..." },
//     "policy_server": { "ed25519": "<unpadded base64 of 32 bytes>" },
//                      // or the document form { "public_keys": { "ed25519": ... } }
//     "max_age": 14400,                                // Cache-Control override
//     "domain": "example.org", "note": "..."           // informational
//   }
//
// Every part is optional.  String values may hold the template "{domain}",
// replaced by the requested host name when the record is served.  The
// fields, how they are stored and the admin options writing them are
// declared in record_fields.hpp.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace mxd::record {

// Where in a record a problem is: {"support", "contacts", 0, "role"}.
using PathElement = std::variant<std::string, std::size_t>;
using Path = std::vector<PathElement>;

struct Problem {
	Path path;
	std::string message;
};

// "support.contacts[0].role"; an element that is not an identifier
// ("m.identity_server") is quoted: client_extra."m.identity_server".
std::string format_path(const Path &path);

// The largest rendered document any homeserver accepts (tuwunel: 12288).
inline constexpr std::size_t max_document_size = 12 * 1024;

// Checks a record as stored under `key` (a domain, a wildcard "*.example.net",
// or "" for the [defaults] table).  Templates are expanded with a sample name
// derived from the key before the grammar checks, and each document the record
// yields is rendered once to check its size.  Returns every problem found;
// empty when the record is valid.
std::vector<Problem> validate(const nlohmann::json &record, std::string_view key);

// Replaces every "{domain}" in the string values of `value` (recursively).
nlohmann::json expand(const nlohmann::json &value, std::string_view domain);

// The record served for `domain`: the parts of `defaults` that `stored` lacks
// are added, then templates are expanded.  Neither input is modified.
nlohmann::json effective(const nlohmann::json &stored, const nlohmann::json &defaults,
                         std::string_view domain);

} // namespace mxd::record
