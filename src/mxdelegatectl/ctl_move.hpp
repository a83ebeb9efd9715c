// "mxdelegatectl move": the timeline of a homeserver move, worked out from
// the clock and the domain's Cache-Control, without I/O.  A cache that
// honours max-age (Synapse, gomatrixserverlib) keeps an answer up to its
// max-age (Synapse: at least 5 min, at most 48 h); so the domain's max_age is
// lowered one old max-age before the switch, and by the switch every such
// cache holds an answer that expires within the lowered max-age.  It is
// raised again once the last old answer has expired.
#pragma once

#include <cstdint>
#include <string>

namespace mxd::ctl::move {

// The longest a well-behaved cache keeps an answer, whatever max-age says:
// Synapse's ceiling, 48 h.
inline constexpr std::int64_t longest_cache = 172800;

struct Plan {
	std::int64_t lower_at;   // max_age set to `low`: now, or one old max-age before the switch
	std::int64_t switch_at;  // the new fields written
	std::int64_t restore_at; // max_age back to what it was
	// The last moment a cache that honours max-age may still hold the old
	// answer: switch_at + low when the lead was long enough, later when not.
	std::int64_t stale_until;
};

// Times are seconds since the epoch.  `old_max_age` is the max-age served
// now (the record's, else the configuration's).  Throws std::invalid_argument
// when `at` is not after `now`.
Plan plan(std::int64_t now, std::int64_t at, std::int64_t old_max_age, std::int64_t low);

// "+90", "+90s", "+15m", "+2h", "+3d" from now, or "2026-12-24T18:00:00Z"
// (seconds optional; UTC only, since a move across a daylight saving
// change must not be an hour off).  Throws std::invalid_argument, naming
// the value.
std::int64_t parse_time(const std::string &text, std::int64_t now);

// "2026-12-24T18:00:00Z".
std::string format_time(std::int64_t t);

} // namespace mxd::ctl::move
