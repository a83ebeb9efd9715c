// The request as mxdelegate sees it.  Only the parameters named in the header
// are read: a tenant chosen by X-Forwarded-Host or SERVER_NAME would let any
// client pick another tenant's delegation.
#include "core/request.hpp"

#include <cstring>
#include <string>
#include <string_view>

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

Request parse_request(const Params &p)
{
	Request req;
	req.method = parse_method(p.method);
	if (p.method != nullptr)
		req.method_name = p.method;

	// An authorizer or filter must never read our 200 as "access granted".
	req.role = p.role == nullptr || std::strcmp(p.role, "RESPONDER") == 0 ? Role::responder
	                                                                      : Role::other;

	// RFC 3875 requires SCRIPT_NAME; a lone PATH_INFO is no target at all.
	req.has_target = p.uri != nullptr || p.script != nullptr;
	if (req.has_target) {
		req.document = route::match(p.uri, p.script, p.info);
		if (!req.document)
			req.path = route::path(p.uri, p.script, p.info).value_or("");
	}

	if (p.host != nullptr) {
		req.has_host = true;
		req.host = p.host;
	}
	if (p.if_none_match != nullptr)
		req.if_none_match = p.if_none_match;
	return req;
}

Request parse_request(ParamFn param, void *ctx)
{
	Params p;
	p.method = param("REQUEST_METHOD", ctx);
	p.role = param("FCGI_ROLE", ctx);
	p.uri = param("REQUEST_URI", ctx);
	p.script = param("SCRIPT_NAME", ctx);
	p.info = param("PATH_INFO", ctx);
	p.host = param("HTTP_HOST", ctx);
	p.if_none_match = param("HTTP_IF_NONE_MATCH", ctx);
	return parse_request(p);
}

namespace {

// Equal to a name of the same length known at compile time: with the length
// a constant, the compiler compares in a few word loads, with no call.
template <std::size_t N>
bool is(std::string_view name, const char (&want)[N])
{
	return std::memcmp(name.data(), want, N - 1) == 0;
}

} // namespace

const char *Params::*param_field(std::string_view name)
{
	switch (name.size()) {
	case 9:
		if (is(name, "HTTP_HOST"))
			return &Params::host;
		if (is(name, "FCGI_ROLE"))
			return &Params::role;
		if (is(name, "PATH_INFO"))
			return &Params::info;
		break;
	case 11:
		if (is(name, "REQUEST_URI"))
			return &Params::uri;
		if (is(name, "SCRIPT_NAME"))
			return &Params::script;
		break;
	case 14:
		if (is(name, "REQUEST_METHOD"))
			return &Params::method;
		break;
	case 18:
		if (is(name, "HTTP_IF_NONE_MATCH"))
			return &Params::if_none_match;
		break;
	default:
		break;
	}
	return nullptr;
}

void Gathered::add(std::string_view name, std::string_view value)
{
	const auto field = param_field(name);
	if (field == nullptr || field == &Params::role)
		return;
	for (std::size_t i = 0; i < count_; i++)
		if (found_[i].first == field)
			return;
	found_[count_++] = {field, value};
}

Params Gathered::params(std::string &text, const char *role) const
{
	// Sized first, so that no copy moves another; each value then copied
	// in place, its NUL after it.
	std::size_t size = 0;
	for (std::size_t i = 0; i < count_; i++)
		size += found_[i].second.size() + 1;
	if (text.size() < size)
		text.resize(size);
	Params p;
	char *at = text.data();
	for (std::size_t i = 0; i < count_; i++) {
		const std::string_view v = found_[i].second;
		p.*found_[i].first = at;
		if (!v.empty()) // an empty view may have no data() at all
			std::memcpy(at, v.data(), v.size());
		at[v.size()] = '\0';
		at += v.size() + 1;
	}
	p.role = role;
	return p;
}

} // namespace mxd
