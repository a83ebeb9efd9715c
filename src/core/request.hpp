// A request as mxdelegate sees it, built from FastCGI or CGI parameters.
#pragma once

#include "core/route.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace mxd {

enum class Method : unsigned char { get, head, options, other };

enum class Role : unsigned char { responder, other };

struct Request {
	Method method = Method::other;
	std::string method_name;             // as sent, for logs
	Role role = Role::responder;         // FCGI_ROLE; absent means responder
	bool has_target = false;             // REQUEST_URI or SCRIPT_NAME was given
	std::optional<Document> document;    // nullopt: not a path we serve
	// Without a document only, so that a document costs no copy: the path
	// as route::path gives it ("" when none), for the health path.
	std::string path;
	bool has_host = false;
	std::string host;                    // HTTP_HOST as sent (raw)
	std::string if_none_match;           // HTTP_IF_NONE_MATCH as sent
};

// The only parameters a request is built from; null when absent.
// X-Forwarded-Host, Forwarded and SERVER_NAME never choose a tenant.
struct Params {
	const char *method = nullptr;        // REQUEST_METHOD
	const char *role = nullptr;          // FCGI_ROLE
	const char *uri = nullptr;           // REQUEST_URI
	const char *script = nullptr;        // SCRIPT_NAME
	const char *info = nullptr;          // PATH_INFO
	const char *host = nullptr;          // HTTP_HOST
	const char *if_none_match = nullptr; // HTTP_IF_NONE_MATCH
};

Request parse_request(const Params &params);

// The field of Params that a parameter of this name fills; null for any
// other name.  Each name is told by its length before one compare.
const char *Params::*param_field(std::string_view name);

// The seven parameters gathered from name-value pairs as FastCGI carries
// them, in one pass: the first of each name counts, as with getenv, and
// FCGI_ROLE is never taken from a pair (BEGIN_REQUEST's role is the role).
class Gathered {
public:
	void add(std::string_view name, std::string_view value);
	// As C strings, which Params holds and a FastCGI value is not: each
	// value copied into `text` with its NUL (a value then ends at its first
	// NUL, as in an environment), `role` ("RESPONDER", ...) as given.
	// Valid while `text` is neither changed nor destroyed; `text` only
	// grows, so that a worker's stays the size of its largest request.
	Params params(std::string &text, const char *role) const;

private:
	std::pair<const char *Params::*, std::string_view> found_[7];
	std::size_t count_ = 0;
};

// Looks up one parameter by name; returns null when absent.
using ParamFn = const char *(*)(const char *name, void *ctx);

// The same, each parameter asked for by name.
Request parse_request(ParamFn param, void *ctx);

} // namespace mxd
