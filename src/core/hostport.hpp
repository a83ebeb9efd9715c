// "host[:port]" as the Host header, a record's URLs, a Matrix server name and
// --listen write it: split into its host and port, and the port's digits
// read.  Facts only: each caller keeps its own rules and messages (the Host
// grammar allows port 0 and ignores the port; --listen needs 1..65535).
#pragma once

#include <cstddef>
#include <string_view>

namespace mxd::hostport {

struct Split {
	enum class Fault {
		none,
		unclosed,   // "[" without "]"
		after_bracket, // text after "]" that is not ":port"
	};
	std::string_view host; // without the brackets of an IPv6 literal
	std::string_view port; // after the first ':' past the host; may hold more ':'
	bool bracketed = false; // host was written "[...]"
	bool has_port = false;  // a ':' separated a port, perhaps an empty one
	Fault fault = Fault::none;

	// An unbracketed host:port with a second ':', such as an IPv6 address
	// written without brackets.
	bool several_colons() const { return !bracketed && port.find(':') != std::string_view::npos; }
};

// Never fails: a fault leaves what could be split, and the caller words it.
Split split(std::string_view text);

struct Port {
	static constexpr std::size_t npos = std::string_view::npos;
	unsigned long value = 0;  // of the digits before non_digit and overflow
	std::size_t size = 0;     // the port's length in bytes
	std::size_t non_digit = npos; // where the first byte that is not a digit is
	std::size_t overflow = npos;  // where the digits first exceed 65535

	bool empty() const { return size == 0; }
	bool all_digits() const { return non_digit == npos; }
	// 1..65535 in at most 5 digits: a port a socket can use.
	bool usable() const
	{
		return size > 0 && size <= 5 && all_digits() && overflow == npos && value >= 1;
	}
};

Port read_port(std::string_view port);

} // namespace mxd::hostport
