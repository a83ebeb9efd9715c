// UTF-8 well-formedness, for record validation (every string served must be
// valid UTF-8) and for the log's escaper (a person's text is shown as it is
// when it is valid, never cut inside a character).
#pragma once

#include <cstddef>
#include <string_view>

namespace mxd::utf8 {

// RFC 3629 well-formed sequences (Unicode table 3-7): no overlong forms, no
// surrogates, nothing above U+10FFFF; what nlohmann's strict dump() accepts.
constexpr bool valid(std::string_view s)
{
	std::size_t i = 0;
	const std::size_t n = s.size();
	while (i < n) {
		const auto c = static_cast<unsigned char>(s[i]);
		if (c < 0x80) {
			i++;
			continue;
		}
		std::size_t len;
		unsigned char lo = 0x80, hi = 0xbf;
		if (c >= 0xc2 && c <= 0xdf)
			len = 2;
		else if (c >= 0xe0 && c <= 0xef) {
			len = 3;
			if (c == 0xe0)
				lo = 0xa0;
			else if (c == 0xed)
				hi = 0x9f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			len = 4;
			if (c == 0xf0)
				lo = 0x90;
			else if (c == 0xf4)
				hi = 0x8f;
		} else
			return false;
		if (n - i < len)
			return false;
		const auto c1 = static_cast<unsigned char>(s[i + 1]);
		if (c1 < lo || c1 > hi)
			return false;
		for (std::size_t k = 2; k < len; k++) {
			const auto ck = static_cast<unsigned char>(s[i + k]);
			if (ck < 0x80 || ck > 0xbf)
				return false;
		}
		i += len;
	}
	return true;
}

// The longest prefix of s of at most max bytes that does not end inside a
// character (s valid UTF-8).
constexpr std::size_t cut(std::string_view s, std::size_t max)
{
	if (s.size() <= max)
		return s.size();
	std::size_t end = max;
	while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xc0) == 0x80)
		end--;
	return end;
}

} // namespace mxd::utf8
