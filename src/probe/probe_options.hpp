// mxdelegate-probe's command line, checked for its syntax and ranges only.
// mxdelegatectl probe hands its own options over as they were given (all
// but --wildcard-sample, which chooses the names it sends).
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

namespace mxd::probe {

// A command line that does not parse: exit 64.
class UsageError : public std::runtime_error {
public:
	using std::runtime_error::runtime_error;
};

struct Options {
	int concurrency = 32;        // documents in flight
	int per_host = 2;            // requests in flight to one host name
	double rate = 0;             // requests started a second, 0: no limit
	bool json = false;           // --format json
	bool federation = false;     // also a homeserver's and a client's next step
	std::string user_agent;      // empty: mxdelegate-probe/VERSION
	std::vector<std::string> resolve;    // HOST:PORT:ADDR, as curl's --resolve
	std::vector<std::string> connect_to; // HOST:PORT:HOST2:PORT2, as curl's
	std::string cacert;          // a CA bundle instead of the system's
	bool insecure = false;       // no certificate checks (the tls code never shows)
	long timeout_ms = 10000;     // each request, connection included
	std::string origin = "https://mxdelegate-probe.invalid"; // a browser's Origin
	bool check_only = false;     // --check-options: parse, then exit 0
};

// argv[0] is the program.  "--opt value" and "--opt=value" both work.
Options parse_options(int argc, const char *const *argv);

// The names of the options that take a value, for mxdelegatectl, which
// passes them on: "concurrency", "per-host", ...
bool takes_value(std::string_view name);

const char *usage_text();

} // namespace mxd::probe
