#include "probe/probe_options.hpp"

#include "core/hostport.hpp"
#include "core/probe_flags.hpp"

#include <charconv>
#include <cmath>
#include <string_view>

namespace mxd::probe {

namespace {

long whole(std::string_view name, std::string_view v, long lo, long hi)
{
	long n = 0;
	const auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
	if (ec != std::errc() || p != v.data() + v.size() || n < lo || n > hi)
		throw UsageError("--" + std::string(name) + " " + std::string(v) + ": want a whole number from " +
		                 std::to_string(lo) + " to " + std::to_string(hi));
	return n;
}

double decimal(std::string_view name, std::string_view v, double lo, double hi)
{
	// strtod reads the locale's decimal point; this program never sets one,
	// so it is ".".
	const std::string s(v);
	char *end = nullptr;
	const double d = std::strtod(s.c_str(), &end);
	if (s.empty() || end != s.c_str() + s.size() || !std::isfinite(d) || d < lo || d > hi)
		throw UsageError("--" + std::string(name) + " " + s + ": want a number from " +
		                 std::to_string(static_cast<long>(lo)) + " to " + std::to_string(static_cast<long>(hi)));
	return d;
}

bool port_ok(std::string_view p)
{
	return hostport::read_port(p).usable();
}

// curl's HOST:PORT:ADDR[,ADDR]...
void check_resolve(const std::string &v)
{
	const std::size_t a = v.find(':');
	const std::size_t b = a == std::string::npos ? a : v.find(':', a + 1);
	if (a == std::string::npos || b == std::string::npos || a == 0 || !port_ok(std::string_view(v).substr(a + 1, b - a - 1)) ||
	    b + 1 == v.size())
		throw UsageError("--resolve " + v + ": want HOST:PORT:ADDRESS (example.org:443:127.0.0.1)");
}

// curl's HOST:PORT:CONNECT-TO-HOST:CONNECT-TO-PORT, each part may be empty
// (any host, the same port); an IPv6 address in brackets.
void check_connect_to(const std::string &v)
{
	const auto bad = [&] {
		return UsageError("--connect-to " + v + ": want HOST:PORT:CONNECT-HOST:CONNECT-PORT "
		                  "(example.org:443:127.0.0.1:8443; an empty part matches any)");
	};
	std::vector<std::string_view> parts;
	std::string_view s = v;
	for (int i = 0; i < 3; i++) {
		std::size_t colon;
		if (!s.empty() && s.front() == '[') {
			const std::size_t close = s.find(']');
			if (close == std::string_view::npos)
				throw bad();
			colon = s.find(':', close);
		} else {
			colon = s.find(':');
		}
		if (colon == std::string_view::npos)
			throw bad();
		parts.push_back(s.substr(0, colon));
		s.remove_prefix(colon + 1);
	}
	parts.push_back(s);
	if ((!parts[1].empty() && !port_ok(parts[1])) || (!parts[3].empty() && !port_ok(parts[3])))
		throw bad();
}

} // namespace

bool takes_value(std::string_view name)
{
	const probe_flags::Flag *f = probe_flags::find(name);
	return f && f->value; // --check-options, the probe's own, takes none
}

const char *usage_text()
{
	return "usage: mxdelegatectl probe [--concurrency N] [--per-host N] [--rate N]\n"
	       "         [--format table|json] [--federation] [--wildcard-sample N]\n"
	       "         [--user-agent TEXT] [--origin URL] [--timeout SECONDS]\n"
	       "         [--resolve HOST:PORT:ADDR]... [--connect-to HOST:PORT:HOST2:PORT2]...\n"
	       "         [--cacert FILE] [--insecure] [DOMAIN...]\n"
	       "mxdelegate-probe reads what to fetch from mxdelegatectl probe; see mxdelegatectl(8).\n";
}

Options parse_options(int argc, const char *const *argv)
{
	Options o;
	for (int i = 1; i < argc; i++) {
		const std::string_view arg = argv[i];
		if (!arg.starts_with("--") || arg == "--")
			throw UsageError("unexpected argument \"" + std::string(arg) +
			                 "\" (domains are mxdelegatectl probe's)");
		const std::size_t eq = arg.find('=');
		const std::string_view name = arg.substr(2, eq == std::string_view::npos ? std::string_view::npos : eq - 2);
		// --check-options is this program's own: mxdelegatectl checks its
		// command line with it before it reads the store.
		static constexpr probe_flags::Flag check_options{"check-options", false};
		const probe_flags::Flag *spec =
			name == check_options.name ? &check_options : probe_flags::find(name);
		if (!spec)
			throw UsageError("unknown option --" + std::string(name));
		std::string value;
		if (spec->value) {
			if (eq != std::string_view::npos)
				value = std::string(arg.substr(eq + 1));
			else if (i + 1 < argc)
				value = argv[++i];
			else
				throw UsageError("--" + std::string(name) + " needs a value");
		} else if (eq != std::string_view::npos) {
			throw UsageError("--" + std::string(name) + " takes no value");
		}
		if (name == "concurrency")
			o.concurrency = static_cast<int>(whole(name, value, 1, 10000));
		else if (name == "per-host")
			o.per_host = static_cast<int>(whole(name, value, 1, 1000));
		else if (name == "rate")
			o.rate = decimal(name, value, 0, 1000000);
		else if (name == "format") {
			if (value != "table" && value != "json")
				throw UsageError("--format " + value + ": want table or json");
			o.json = value == "json";
		} else if (name == "federation")
			o.federation = true;
		else if (name == "user-agent") {
			for (char c : value)
				if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
					throw UsageError("--user-agent: a control character would end the header");
			o.user_agent = value;
		} else if (name == "resolve") {
			check_resolve(value);
			o.resolve.push_back(value);
		} else if (name == "connect-to") {
			check_connect_to(value);
			o.connect_to.push_back(value);
		} else if (name == "cacert") {
			if (value.empty())
				throw UsageError("--cacert needs a file name");
			o.cacert = value;
		} else if (name == "insecure")
			o.insecure = true;
		else if (name == "timeout")
			o.timeout_ms = std::lround(decimal(name, value, 0.001, 3600) * 1000);
		else if (name == "origin") {
			if (!(value.starts_with("https://") || value.starts_with("http://")) ||
			    value.find_first_of("\r\n/", value.find("//") + 2) != std::string::npos)
				throw UsageError("--origin " + value + ": want an origin, scheme://host[:port]");
			o.origin = value;
		} else if (name == "check-options")
			o.check_only = true;
	}
	return o;
}

} // namespace mxd::probe
