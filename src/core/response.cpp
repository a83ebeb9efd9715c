#include "core/response.hpp"

#include "core/ascii.hpp"

#include <cstddef>

namespace mxd {

namespace {


// 204 and 304 never carry a body (RFC 9110 6.4.1), so neither a length nor
// the bytes of one may follow their headers.
bool bodiless(int status)
{
	return status == 204 || status == 304;
}

} // namespace

const std::string *Response::header(std::string_view name) const
{
	for (const auto &[n, v] : headers)
		if (ascii::iequal(n, name))
			return &v;
	return nullptr;
}

std::string_view reason_phrase(int status)
{
	switch (status) {
	case 200: return "OK";
	case 204: return "No Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 304: return "Not Modified";
	case 307: return "Temporary Redirect";
	case 308: return "Permanent Redirect";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	}
	// Clients ignore the phrase (RFC 9112 4); the class keeps a log readable.
	if (status >= 200 && status < 300)
		return "Success";
	if (status >= 300 && status < 400)
		return "Redirection";
	if (status >= 400 && status < 500)
		return "Client Error";
	if (status >= 500 && status < 600)
		return "Server Error";
	return "Unknown";
}

std::string serialize(const Response &response, bool include_body)
{
	static constexpr std::string_view status_name = "Status: ";
	static constexpr std::string_view length_name = "Content-Length: ";
	static constexpr std::string_view crlf = "\r\n";

	const std::string code = std::to_string(response.status);
	const std::string_view reason = reason_phrase(response.status);
	const bool has_body = !bodiless(response.status);
	const std::string length = has_body ? std::to_string(response.body.size()) : std::string();
	const bool write_body = include_body && has_body;

	// One allocation: the web server gets the answer in a single write.
	std::size_t size = status_name.size() + code.size() + 1 + reason.size() + crlf.size();
	for (const auto &[n, v] : response.headers)
		size += n.size() + 2 + v.size() + crlf.size();
	if (has_body)
		size += length_name.size() + length.size() + crlf.size();
	size += crlf.size();
	if (write_body)
		size += response.body.size();

	std::string out;
	out.reserve(size);
	out.append(status_name).append(code).append(1, ' ').append(reason).append(crlf);
	for (const auto &[n, v] : response.headers)
		out.append(n).append(": ").append(v).append(crlf);
	if (has_body)
		out.append(length_name).append(length).append(crlf);
	out.append(crlf);
	if (write_body)
		out.append(response.body);
	return out;
}

} // namespace mxd
