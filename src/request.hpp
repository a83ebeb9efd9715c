// A request as mxdelegate sees it, built from FastCGI or CGI parameters.
#pragma once

#include "route.hpp"

#include <optional>
#include <string>

namespace mxd {

enum class Method : unsigned char { get, head, options, other };

enum class Role : unsigned char { responder, other };

struct Request {
	Method method = Method::other;
	std::string method_name;             // as sent, for logs
	Role role = Role::responder;         // FCGI_ROLE; absent means responder
	bool has_target = false;             // REQUEST_URI or SCRIPT_NAME was given
	std::optional<Document> document;    // nullopt: not a path we serve
	bool has_host = false;
	std::string host;                    // HTTP_HOST as sent (raw)
	std::string if_none_match;           // HTTP_IF_NONE_MATCH as sent
};

// Looks up one parameter by name; returns null when absent.
using ParamFn = const char *(*)(const char *name, void *ctx);

// Builds a Request from REQUEST_METHOD, FCGI_ROLE, REQUEST_URI, SCRIPT_NAME,
// PATH_INFO, HTTP_HOST and HTTP_IF_NONE_MATCH.  Never reads any other
// parameter: X-Forwarded-Host, Forwarded and SERVER_NAME never choose a tenant.
Request parse_request(ParamFn param, void *ctx);

} // namespace mxd
