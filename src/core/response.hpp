// An HTTP answer and its CGI/FastCGI wire form.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mxd {

struct Response {
	int status = 200;
	std::vector<std::pair<std::string, std::string>> headers; // in order
	std::string body;

	const std::string *header(std::string_view name) const; // case-insensitive
};

std::string_view reason_phrase(int status);

// "Status: 200 OK\r\n", the headers, "Content-Length: N\r\n" (the body's
// size, also for HEAD; left out for 204 and 304, which have no body), "\r\n",
// then the body unless include_body is false (HEAD).
std::string serialize(const Response &response, bool include_body);

} // namespace mxd
