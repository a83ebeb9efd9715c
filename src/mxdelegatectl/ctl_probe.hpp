// What "mxdelegatectl probe" hands mxdelegate-probe: for each name and
// document, what the responder answers (the very answer of "query"), as a
// JSON line.  Pure; the store and the child process are main's.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace mxd::ctl::probe {

// The status, body and Location of a CGI/FastCGI wire answer
// ("Status: 200 OK\r\n...\r\n\r\nbody").
struct Answer {
	int status = 0;
	std::string body;
	std::string location;
};
Answer parse_wire(std::string_view bytes);

// Whether the world should see the document: mxdelegate serves it (200) or
// redirects it; a 404 is a document the store does not have.
bool served(int status);

// {"domain":...,"document":...,"status":...,"body":...,"location":...}\n
std::string expectation(std::string_view domain, std::string_view document, const Answer &a);

// n names a wildcard key ("*.example.net") stands for, made up, since the
// store knows no real one: probe-1.example.net, ... (a wildcard's DNS and
// routing are what they test).
std::vector<std::string> sample_names(std::string_view wildcard_key, std::size_t n);

} // namespace mxd::ctl::probe
