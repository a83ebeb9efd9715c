// Routing: which well-known document a request path names.
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace mxd {

enum class Document : unsigned char { server, client, support, policy_server };
inline constexpr std::size_t document_count = 4;
inline constexpr std::array<Document, document_count> all_documents{
	Document::server, Document::client, Document::support, Document::policy_server};

// "/.well-known/matrix/server" etc.
std::string_view document_path(Document doc);
// "server", "client", "support", "policy_server"
std::string_view document_name(Document doc);

} // namespace mxd

namespace mxd::route {

// The path of a request target as one policy for every web server:
// an absolute-form target ("http://host/p") is reduced to its path, the query
// and fragment are dropped, percent-escapes of unreserved characters
// (ALPHA DIGIT - . _ ~) are decoded and any other escape is kept as it is (so
// "%2F" never becomes a separator).  nullopt when the target is not a path:
// empty, no leading "/", a NUL or control byte, or a malformed escape.
std::optional<std::string> canonical_path(std::string_view target);

// The document a canonical path names exactly; no trailing slash, no case
// folding, no dot-segment removal.  nullopt for any other path.
std::optional<Document> match_path(std::string_view path);

// Routes from the FastCGI/CGI parameters: REQUEST_URI when present,
// otherwise SCRIPT_NAME followed by PATH_INFO.  Any may be null.
std::optional<Document> match(const char *request_uri, const char *script_name,
                              const char *path_info);

// The path the same parameters name, for a request that names no document:
// the canonical path of REQUEST_URI when present, otherwise SCRIPT_NAME
// followed by PATH_INFO as they are (already decoded).  nullopt when
// REQUEST_URI is not a path.
std::optional<std::string> path(const char *request_uri, const char *script_name,
                                const char *path_info);

} // namespace mxd::route
