// ASCII character classes, locale-free (the <cctype> functions depend on the
// locale and take int), shared by the parsers of hosts, paths and headers.
#pragma once

#include <cstddef>
#include <string_view>

namespace mxd::ascii {

constexpr bool is_digit(char c) { return c >= '0' && c <= '9'; }
constexpr bool is_lower(char c) { return c >= 'a' && c <= 'z'; }
constexpr bool is_upper(char c) { return c >= 'A' && c <= 'Z'; }
constexpr bool is_alpha(char c) { return is_lower(c) || is_upper(c); }
constexpr bool is_hex(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
// The value of a hex digit, -1 for any other byte.
constexpr int hex_value(char c)
{
	return is_digit(c) ? c - '0'
	     : (c >= 'a' && c <= 'f') ? c - 'a' + 10
	     : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
}
constexpr char to_lower(char c) { return is_upper(c) ? static_cast<char>(c - 'A' + 'a') : c; }
constexpr bool is_control(char c)
{
	const auto u = static_cast<unsigned char>(c);
	return u < 0x20 || u == 0x7f;
}
constexpr bool is_non_ascii(char c) { return static_cast<unsigned char>(c) >= 0x80; }

// Case-insensitive equality of ASCII strings (header names, URL schemes).
constexpr bool iequal(std::string_view a, std::string_view b)
{
	if (a.size() != b.size())
		return false;
	for (std::size_t i = 0; i < a.size(); ++i)
		if (to_lower(a[i]) != to_lower(b[i]))
			return false;
	return true;
}

} // namespace mxd::ascii
