// The per-request access line ([log] access = true), written the same way
// by the FastCGI workers and by a CGI request.
#pragma once

#include "core/request.hpp"
#include "service/responder.hpp"

#include <chrono>
#include <string_view>

namespace mxd::access_log {

// What was asked, by whom and what it cost.  `peer` is the HTTP client as
// the web server says (REMOTE_ADDR), not the web server; `start` is when
// the request began to be answered.
void write(const Request &request, const Reply &reply, std::string_view peer,
           std::chrono::steady_clock::time_point start);

} // namespace mxd::access_log
