// mxdelegatectl status, the responder's part: its metrics fetched from
// [status] listen and read back into a few lines for a person.  The page
// is read as the text format 0.0.4 (core/prom_text writes it); the summary
// is pure, so that its wording is tested on a page of the test's own.
#pragma once

#include <chrono>
#include <ctime>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mxd::ctl_status {

class Error : public std::runtime_error {
public:
	using std::runtime_error::runtime_error;
};

struct Sample {
	std::string name;
	std::vector<std::pair<std::string, std::string>> labels; // as written, unescaped
	double value = 0;
};

// Every sample of a page; comments skipped.  Throws Error "line N: ..." for
// a line that is no sample.
std::vector<Sample> parse(std::string_view text);

using Rows = std::vector<std::pair<std::string, std::string>>;

// "version", "up", "requests", "answers", "store", "cache", "reloads",
// "connections" (when the page has them), "follower lag" (idem), at `now`.
Rows summary(const std::vector<Sample> &samples, std::time_t now);

// Whether the summary says something is wrong: the last reload refused,
// or stale answers served.  (The follower's own state is the follow part's.)
bool troubled(const std::vector<Sample> &samples);

// The URL to ask for an address as [status] listen has it: "*" is asked
// on 127.0.0.1.
std::string url_of(const std::string &listen);

// GET /metrics over HTTP/1.1 from the listener at `listen`, within
// `timeout`; the body.  Throws Error naming the URL and what failed.
std::string fetch(const std::string &listen, std::chrono::milliseconds timeout);

} // namespace mxd::ctl_status
