// The request as mxdelegate sees it.  Only the parameters named in the header
// are read: a tenant chosen by X-Forwarded-Host or SERVER_NAME would let any
// client pick another tenant's delegation.
#include "request.hpp"

#include <cstring>

namespace mxd {

namespace {

// Methods are case-sensitive (RFC 9110 §9.1): "get" is not GET.
Method parse_method(const char *name)
{
	if (name == nullptr)
		return Method::other;
	if (std::strcmp(name, "GET") == 0)
		return Method::get;
	if (std::strcmp(name, "HEAD") == 0)
		return Method::head;
	if (std::strcmp(name, "OPTIONS") == 0)
		return Method::options;
	return Method::other;
}

} // namespace

Request parse_request(ParamFn param, void *ctx)
{
	Request req;
	const char *method = param("REQUEST_METHOD", ctx);
	req.method = parse_method(method);
	if (method != nullptr)
		req.method_name = method;

	// An authorizer or filter must never read our 200 as "access granted".
	const char *role = param("FCGI_ROLE", ctx);
	req.role = role == nullptr || std::strcmp(role, "RESPONDER") == 0 ? Role::responder
	                                                                  : Role::other;

	const char *uri = param("REQUEST_URI", ctx);
	const char *script = param("SCRIPT_NAME", ctx);
	const char *info = param("PATH_INFO", ctx);
	// RFC 3875 requires SCRIPT_NAME; a lone PATH_INFO is no target at all.
	req.has_target = uri != nullptr || script != nullptr;
	if (req.has_target)
		req.document = route::match(uri, script, info);

	if (const char *host = param("HTTP_HOST", ctx); host != nullptr) {
		req.has_host = true;
		req.host = host;
	}
	if (const char *inm = param("HTTP_IF_NONE_MATCH", ctx); inm != nullptr)
		req.if_none_match = inm;
	return req;
}

} // namespace mxd
