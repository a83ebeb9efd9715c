// CGI: one request from the environment and stdin, its answer on stdout.
#pragma once

#include "service/config.hpp"

#include <string>

namespace mxd::cgi {

// Answers the request and returns the exit code.  `config_error` not empty:
// the configuration did not load, and the web server gets a 503 that no
// remote server caches instead of a script that printed nothing.
int serve(const Config &config, const std::string &config_error);

} // namespace mxd::cgi
