// Host names.  normalise() runs on every request: a straight scan of at most
// 260 bytes, no allocation but the name it returns, nothing heavier than
// inet_pton.
#include "core/host.hpp"

#include "core/hostport.hpp"

#include "core/ascii.hpp"
#include "core/lazy_library.hpp"

#include <idn2.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <array>
#include <cstddef>
#include <cstring>
#include <stdexcept>

namespace mxd::host {

namespace {

constexpr std::size_t max_name = 253;
constexpr std::size_t max_label = 63;
// The longest Host value any valid input can have: a 253-character name, the
// trailing dot and ":65535".  Longer input is refused before it is walked.
constexpr std::size_t max_host_value = max_name + 1 + 6;

using namespace ascii;

// The reason for a byte that has no place in a host name.  Control bytes and
// non-ASCII get their own words because they are the ones worth spotting in
// a log (header injection, Unicode look-alikes).
constexpr std::string_view byte_reason(char c)
{
	if (is_control(c))
		return "control character";
	if (is_non_ascii(c))
		return "non-ASCII byte";
	return "forbidden character";
}

enum class Fault : unsigned char {
	none, empty, too_long, empty_label, label_too_long, hyphen_edge, upper, bad_byte
};

struct Scan {
	Fault fault = Fault::none;
	char byte = 0;             // the offending byte when fault == bad_byte
	bool numeric_last = false; // the last label is all digits
	bool upper = false;        // an upper-case letter (allowed) was seen
};

// What each byte is to a host name: one table load a byte instead of a
// chain of range tests, on every request's Host.
enum NameClass : unsigned char { other, lower, upper, digit, hyphen, dot };
constexpr std::array<unsigned char, 256> name_class = [] {
	std::array<unsigned char, 256> t{};
	for (std::size_t c = 0; c < t.size(); ++c) {
		const auto ch = static_cast<char>(c);
		t[c] = is_lower(ch) ? lower : is_upper(ch) ? upper : is_digit(ch) ? digit : other;
	}
	t['-'] = hyphen;
	t['.'] = dot;
	return t;
}();

// The LDH rules shared by normalise(), is_valid_name(), canonical_domain()
// and check_server_name().  Upper case is allowed only where the caller lowers
// the name afterwards or DNS ignores case anyway.  A label's length is
// checked where it ends or where a fault is found in it, before that fault:
// the first fault in reading order is the one named.
Scan scan_name(std::string_view s, bool allow_upper)
{
	if (s.empty())
		return {Fault::empty};
	std::size_t start = 0; // the current label's first byte
	bool digits = true;
	bool seen_upper = false;
	for (std::size_t i = 0; i < s.size(); ++i) {
		const char c = s[i];
		switch (name_class[static_cast<unsigned char>(c)]) {
		case lower:
			digits = false;
			continue;
		case digit:
			continue;
		case upper:
			if (i - start > max_label)
				return {Fault::label_too_long};
			if (!allow_upper)
				return {Fault::upper, c};
			seen_upper = true;
			digits = false;
			continue;
		case hyphen:
			if (i == start)
				return {Fault::hyphen_edge};
			digits = false;
			continue;
		case dot:
			if (i - start > max_label)
				return {Fault::label_too_long};
			if (i == start)
				return {Fault::empty_label};
			if (s[i - 1] == '-')
				return {Fault::hyphen_edge};
			start = i + 1;
			digits = true;
			continue;
		default:
			if (i - start > max_label)
				return {Fault::label_too_long};
			return {Fault::bad_byte, c};
		}
	}
	if (s.size() - start > max_label)
		return {Fault::label_too_long};
	if (start == s.size())
		return {Fault::empty_label};
	if (s.back() == '-')
		return {Fault::hyphen_edge};
	if (s.size() > max_name)
		return {Fault::too_long, 0, digits, seen_upper};
	return {Fault::none, 0, digits, seen_upper};
}

// Short and static, for the 400 path and its log line.
std::string_view short_reason(const Scan &scan)
{
	switch (scan.fault) {
	case Fault::none: break;
	case Fault::empty: return "empty name";
	case Fault::too_long: return "name too long";
	case Fault::empty_label: return "empty label";
	case Fault::label_too_long: return "label too long";
	case Fault::hyphen_edge: return "hyphen at label edge";
	case Fault::upper: return "upper-case letter";
	case Fault::bad_byte: return byte_reason(scan.byte);
	}
	return {};
}

// For people who wrote the name in a configuration: what to fix.
std::string long_reason(const Scan &scan)
{
	switch (scan.fault) {
	case Fault::none: break;
	case Fault::empty: return "is empty";
	case Fault::too_long: return "is longer than 253 characters";
	case Fault::empty_label: return "has an empty label (a leading, trailing or doubled '.')";
	case Fault::label_too_long: return "has a label longer than 63 characters";
	case Fault::hyphen_edge: return "has a label that starts or ends with '-'";
	case Fault::upper: return "has an upper-case letter";
	case Fault::bad_byte:
		if (is_control(scan.byte) || is_non_ascii(scan.byte))
			return "has a " + std::string(byte_reason(scan.byte));
		return std::string("has '") + scan.byte +
		       "'; a host name has only letters, digits, '-' and '.'";
	}
	return {};
}

enum class Ipv4 { ok, leading_zero, bad };

// Four dotted decimal octets 0..255.  A leading zero is reported apart:
// inet_aton() and some resolvers read "010" as octal.
Ipv4 parse_ipv4(std::string_view s)
{
	int parts = 0;
	bool leading_zero = false;
	std::size_t i = 0;
	for (;;) {
		const std::size_t start = i;
		unsigned value = 0;
		while (i < s.size() && is_digit(s[i]) && i - start < 3)
			value = value * 10 + static_cast<unsigned>(s[i++] - '0');
		const std::size_t len = i - start;
		if (len == 0 || value > 255)
			return Ipv4::bad;
		if (len > 1 && s[start] == '0')
			leading_zero = true;
		if (++parts == 4)
			break;
		if (i >= s.size() || s[i] != '.')
			return Ipv4::bad;
		++i;
	}
	if (i != s.size())
		return Ipv4::bad;
	return leading_zero ? Ipv4::leading_zero : Ipv4::ok;
}

bool looks_like_ipv6(std::string_view s)
{
	for (char c : s)
		if (!is_hex(c) && c != ':' && c != '.')
			return false;
	return true;
}

// RFC 4291 text form; the character check comes first so that inet_pton
// never sees a NUL or a zone index ("%eth0").
bool is_ipv6(std::string_view s)
{
	if (s.size() < 2 || s.size() > 45 || !looks_like_ipv6(s))
		return false;
	char buf[46];
	std::memcpy(buf, s.data(), s.size());
	buf[s.size()] = '\0';
	in6_addr addr;
	return inet_pton(AF_INET6, buf, &addr) == 1;
}

// The port of a Host value: 1..5 digits, at most 65535; 0 is the grammar's.
// The first fault from the left is named, as a reader would find it.
std::string_view port_reason(std::string_view p)
{
	if (p.empty())
		return "empty port";
	const hostport::Port port = hostport::read_port(p);
	if (port.overflow < port.non_digit)
		return "port out of range";
	if (!port.all_digits()) {
		const char c = p[port.non_digit];
		if (c == ':')
			return "more than one colon";
		return is_control(c) || is_non_ascii(c) ? byte_reason(c) : "malformed port";
	}
	if (p.size() > 5)
		return "port too long";
	return {};
}

std::string dns_name_reason(std::string_view host)
{
	// The grammar's own limit; the label rules below are DNS's ("should" in
	// the appendix) because a name that breaks them can never resolve.
	if (host.size() > 255)
		return "is longer than 255 characters";
	if (host.find_first_not_of("0123456789.") == std::string_view::npos) {
		switch (parse_ipv4(host)) {
		case Ipv4::ok:
			return {};
		case Ipv4::leading_zero:
			return "has an IPv4 number with a leading zero, which some resolvers read as octal";
		case Ipv4::bad:
			return "is not a valid IPv4 address (four numbers 0 to 255)";
		}
	}
	const Scan scan = scan_name(host, true);
	// 254 or 255 characters: the grammar allows them.
	if (scan.fault != Fault::none && scan.fault != Fault::too_long)
		return long_reason(scan);
	if (scan.numeric_last)
		return "ends in an all-digit label, so it is neither a DNS name nor an IPv4 address";
	return {};
}

std::string server_port_reason(std::string_view p)
{
	if (p.empty())
		return "has an empty port after ':'";
	const hostport::Port port = hostport::read_port(p);
	if (!port.all_digits())
		return "has a port that is not a number";
	if (port.size > 5)
		return "has a port longer than 5 digits";
	if (!port.usable())
		return "has a port outside 1 to 65535";
	return {};
}

Normalised invalid(std::string_view reason) { return {Kind::invalid, {}, reason}; }

Normalised bracketed(const hostport::Split &split)
{
	if (split.fault == hostport::Split::Fault::unclosed)
		return invalid("unclosed IPv6 literal");
	if (!is_ipv6(split.host))
		return invalid("malformed IPv6 literal");
	if (split.fault == hostport::Split::Fault::after_bracket)
		return invalid("junk after IPv6 literal");
	if (split.has_port)
		if (const auto r = port_reason(split.port); !r.empty())
			return invalid(r);
	return {Kind::ip_literal, {}, {}};
}

} // namespace

Normalised normalise(std::string_view raw)
{
	if (raw.empty())
		return invalid("empty");
	if (raw.size() > max_host_value)
		return invalid("too long");
	const hostport::Split split = hostport::split(raw);
	if (split.bracketed)
		return bracketed(split);

	std::string_view name = split.host;
	if (!name.empty() && name.back() == '.')
		name.remove_suffix(1);
	const Scan scan = scan_name(name, true);
	if (scan.fault != Fault::none)
		return invalid(short_reason(scan));
	// A second ':' stays in the port, which names it.
	if (split.has_port)
		if (const auto r = port_reason(split.port); !r.empty())
			return invalid(r);
	if (scan.numeric_last)
		return parse_ipv4(name) == Ipv4::ok ? Normalised{Kind::ip_literal, {}, {}}
		                                    : invalid("numeric top-level label");

	// Web servers that pass $host (nginx) send it lower-case already: a copy.
	std::string out(name);
	if (scan.upper)
		for (char &c : out)
			c = to_lower(c);
	return {Kind::name, std::move(out), {}};
}

bool is_valid_name(std::string_view name)
{
	const Scan scan = scan_name(name, false);
	return scan.fault == Fault::none && !scan.numeric_last;
}

namespace {

// A label starting "xn--" (any case): punycode that only idn2 can check.
bool has_a_label(std::string_view name)
{
	for (std::size_t at = 0; at < name.size();) {
		const std::string_view label = name.substr(at, name.find('.', at) - at);
		if (label.size() >= 4 && to_lower(label[0]) == 'x' && to_lower(label[1]) == 'n' &&
		    label[2] == '-' && label[3] == '-')
			return true;
		at += label.size() + 1;
	}
	return false;
}

// libidn2's three functions, from the library opened on the first name that
// needs it.  A library that cannot be loaded refuses that name, saying why,
// as an invalid name is refused: plain ASCII names never get here.
struct Idn2 {
	decltype(&idn2_to_ascii_8z) to_ascii_8z;
	decltype(&idn2_free) free;
	decltype(&idn2_strerror) strerror;
};

const Idn2 &idn2()
{
	static LazyLibrary lib("libidn2.so.0");
	try {
		// Set once; a throw leaves it unset, and the next name tries again
		// (and gets the same error, which the library keeps).
		static const Idn2 fns{lib.function<decltype(&idn2_to_ascii_8z)>("idn2_to_ascii_8z"),
		                      lib.function<decltype(&idn2_free)>("idn2_free"),
		                      lib.function<decltype(&idn2_strerror)>("idn2_strerror")};
		return fns;
	} catch (const std::runtime_error &e) {
		throw std::invalid_argument(std::string("cannot check an internationalised name: ") +
		                            e.what());
	}
}

} // namespace

std::string canonical_domain(std::string_view configured, bool allow_wildcard)
{
	std::string_view rest = configured;
	std::string_view prefix;
	if (rest.size() >= 2 && rest[0] == '*' && rest[1] == '.') {
		if (!allow_wildcard)
			throw std::invalid_argument("a wildcard is not allowed here");
		prefix = "*.";
		rest.remove_prefix(2);
	}
	if (rest.find('*') != std::string_view::npos)
		throw std::invalid_argument(allow_wildcard
			? "'*' is allowed only as the whole first label (\"*.example.net\")"
			: "a wildcard is not allowed here");
	if (!rest.empty() && rest.back() == '.')
		rest.remove_suffix(1);
	if (rest.empty())
		throw std::invalid_argument("empty domain name");
	// idn2 reads a C string: an embedded NUL would cut the name short.
	bool ascii_only = true;
	for (char c : rest) {
		if (is_control(c))
			throw std::invalid_argument("control character in domain name");
		ascii_only = ascii_only && !is_non_ascii(c);
	}
	// idn2 counts the wire form and would say "longer than 255" here.
	if (ascii_only && prefix.size() + rest.size() > max_name)
		throw std::invalid_argument("domain name is longer than 253 characters");

	std::string result(prefix);
	if (ascii_only && !has_a_label(rest)) {
		// Plain ASCII: idn2 would only lower it (30,000 instructions a
		// name, most of a 10,000-domain file's start-up); scan_name below
		// checks what idn2 would let through.
		for (char c : rest)
			result += to_lower(c);
	} else {
		// idn2 also lowers ASCII, and checks "xn--" labels for valid punycode.
		const Idn2 &idn = idn2();
		const std::string input(rest);
		char *ascii = nullptr;
		const int rc = idn.to_ascii_8z(input.c_str(), &ascii, IDN2_NONTRANSITIONAL);
		if (rc != IDN2_OK) {
			idn.free(ascii);
			throw std::invalid_argument(std::string("not a valid internationalised domain name: ") +
			                            idn.strerror(rc));
		}
		result += ascii;
		idn.free(ascii);
	}

	// IDNA2008 without STD3 rules lets '_', spaces and empty labels through;
	// a name that normalise() could never produce would never be served.
	const Scan scan = scan_name(std::string_view(result).substr(prefix.size()), false);
	if (scan.fault != Fault::none)
		throw std::invalid_argument("domain name " + long_reason(scan));
	if (scan.numeric_last)
		throw std::invalid_argument("domain name ends in an all-digit label: "
		                            "an IP address is not a domain name");
	if (result.size() > max_name)
		throw std::invalid_argument("domain name is longer than 253 characters");
	return result;
}

std::vector<std::string> lookup_keys(std::string_view name, std::size_t max_parent_labels)
{
	std::vector<std::string> keys;
	if (name.empty())
		return keys;
	// The parents, shortest first, up to the bound: walked from the end, so
	// that the work is bounded by the bound, not by the name.
	std::vector<std::size_t> parents; // where each parent starts in name
	for (std::size_t end = name.size(); parents.size() < max_parent_labels;) {
		const std::size_t dot = name.rfind('.', end - 1);
		if (dot == std::string_view::npos || dot == 0)
			break;
		parents.push_back(dot + 1);
		end = dot;
	}
	keys.reserve(parents.size() + 1);
	keys.emplace_back(name);
	for (std::size_t i = parents.size(); i-- > 0;) {
		std::string key("*.");
		key += name.substr(parents[i]);
		keys.push_back(std::move(key));
	}
	return keys;
}

std::string check_server_name(std::string_view value)
{
	if (value.empty())
		return "is empty";
	if (value.find("://") != std::string_view::npos)
		return "has a scheme; write host[:port] without https://";
	if (const std::size_t slash = value.find('/'); slash != std::string_view::npos)
		return slash + 1 == value.size() ? "has a trailing slash; write host[:port] only"
		                                 : "has a path; write host[:port] only";
	for (char c : value) {
		if (is_non_ascii(c))
			return "has a non-ASCII character; write an internationalised name as A-labels (xn--...)";
		if (is_control(c) || c == ' ')
			return "has a space or control character";
	}

	const hostport::Split split = hostport::split(value);
	if (split.bracketed) {
		if (split.fault == hostport::Split::Fault::unclosed)
			return "has '[' without ']'";
		const std::string_view addr = split.host;
		if (addr.size() < 2 || addr.size() > 45 || !looks_like_ipv6(addr))
			return "has an IPv6 literal with characters other than hex digits, ':' and '.', "
			       "or not 2 to 45 of them";
		if (!is_ipv6(addr))
			return "is not a valid IPv6 address";
		if (split.fault == hostport::Split::Fault::after_bracket)
			return "has text after ']'; write [address] or [address]:port";
	} else {
		if (split.several_colons())
			return looks_like_ipv6(value)
				? "is an IPv6 address without brackets; write [address] or [address]:port"
				: "has more than one ':'";
		if (split.host.empty())
			return "has no host name before the port";
		if (auto r = dns_name_reason(split.host); !r.empty())
			return r;
	}
	if (split.has_port)
		return server_port_reason(split.port);
	return {};
}

} // namespace mxd::host
