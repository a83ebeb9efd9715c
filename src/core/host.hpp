// Host names: the normaliser for the request's Host, and the checks that
// configured domain names and Matrix server names must pass.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mxd::host {

enum class Kind {
	name,       // a valid DNS host name, normalised in Normalised::name
	ip_literal, // a well-formed IPv4 or [IPv6] literal: never a tenant (404)
	invalid,    // missing, malformed or hostile: 400
};

struct Normalised {
	Kind kind;
	std::string name;        // normalised name when kind == name
	std::string_view reason; // static text when kind == invalid
};

// Normalises an HTTP Host value as any web server passes it (raw or already
// normalised): ASCII only, optional ":port" (1-5 digits, <= 65535) removed,
// lower-cased, one trailing dot removed, LDH labels of 1..63 characters,
// 253 characters in all.  Never allocates more than the input's size.
Normalised normalise(std::string_view raw);

// True for a lower-case LDH name of at most 253 characters, labels 1..63,
// no leading or trailing hyphen in a label, last label not all digits.
bool is_valid_name(std::string_view name);

// A domain as written in the configuration or given to the admin tool:
// Unicode names are converted to A-labels (libidn2, IDNA2008 non-transitional),
// upper case is lowered, one trailing dot dropped.  With allow_wildcard a
// leading "*." is kept ("*.example.net").  Throws std::invalid_argument with a
// message that names what is wrong.
std::string canonical_domain(std::string_view configured, bool allow_wildcard);

// The keys to try, most specific first, for a normalised name:
// "a.b.example.net" -> {"a.b.example.net", "*.b.example.net",
// "*.example.net", "*.net"}.  Wildcards whose parent has more than
// max_parent_labels labels are left out, so that a Host of 127 labels costs
// a few lookups, not 127.
std::vector<std::string> lookup_keys(std::string_view name,
                                     std::size_t max_parent_labels = SIZE_MAX);

// Checks a Matrix server name (spec appendix "Server Name"):
// hostname [":" port] with hostname an IPv4 literal, "[" IPv6 "]" or a DNS
// name, port 1..65535.  Returns an empty string when valid, else the reason.
std::string check_server_name(std::string_view value);

} // namespace mxd::host
