#include "mxdelegatectl/ctl_move.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <ctime>
#include <stdexcept>

namespace mxd::ctl::move {

Plan plan(std::int64_t now, std::int64_t at, std::int64_t old_max_age, std::int64_t low)
{
	if (at <= now)
		throw std::invalid_argument("--at " + format_time(at) + " is not in the future (now " +
		                            format_time(now) + ")");
	const std::int64_t hold = std::clamp<std::int64_t>(old_max_age, 0, longest_cache);
	Plan p;
	p.lower_at = std::max(now, at - hold);
	p.switch_at = at;
	// An answer fetched just before the lowering keeps the old max-age.
	p.stale_until = std::max(at + low, now + hold);
	p.restore_at = p.stale_until;
	return p;
}

std::int64_t parse_time(const std::string &text, std::int64_t now)
{
	const auto bad = [&] {
		return std::invalid_argument("--at \"" + text +
		                             "\": not +SECONDS (with s, m, h or d) or "
		                             "YYYY-MM-DDTHH:MM[:SS]Z");
	};
	if (!text.empty() && text[0] == '+') {
		std::int64_t n = 0;
		const char *end = text.data() + text.size();
		const auto [ptr, ec] = std::from_chars(text.data() + 1, end, n);
		if (ec != std::errc() || ptr == text.data() + 1 || n < 0 || end - ptr > 1)
			throw bad();
		std::int64_t unit = 1;
		if (ptr != end) {
			switch (*ptr) {
			case 's': unit = 1; break;
			case 'm': unit = 60; break;
			case 'h': unit = 3600; break;
			case 'd': unit = 86400; break;
			default: throw bad();
			}
		}
		if (n > 366 * 86400 / unit)
			throw std::invalid_argument("--at \"" + text + "\": more than a year ahead");
		return now + n * unit;
	}
	std::tm tm{};
	int consumed = 0;
	const int fields = std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d%n", &tm.tm_year, &tm.tm_mon,
	                               &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &consumed);
	if (fields != 5)
		throw bad();
	std::string rest = text.substr(static_cast<std::size_t>(consumed));
	if (rest.size() == 4 && rest[0] == ':' && std::isdigit(static_cast<unsigned char>(rest[1])) &&
	    std::isdigit(static_cast<unsigned char>(rest[2]))) {
		tm.tm_sec = (rest[1] - '0') * 10 + (rest[2] - '0');
		rest = rest.substr(3);
	}
	if (rest != "Z" || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
	    tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 59)
		throw bad();
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	const std::int64_t t = timegm(&tm);
	if (format_time(t) != text && format_time(t) != text.substr(0, 16) + ":00Z")
		throw bad(); // 31 February, normalised away by timegm
	return t;
}

std::string format_time(std::int64_t t)
{
	const std::time_t tt = static_cast<std::time_t>(t);
	std::tm tm{};
	gmtime_r(&tt, &tm);
	char buffer[32];
	std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return buffer;
}

} // namespace mxd::ctl::move
