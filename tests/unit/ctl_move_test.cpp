// The timeline of mxdelegatectl move (src/mxdelegatectl/ctl_move.cpp).
#include "mxdelegatectl/ctl_move.hpp"

#include <catch2/catch.hpp>

#include <stdexcept>

namespace move = mxd::ctl::move;

TEST_CASE("move: lowered one old max-age ahead, raised once the old answers expired", "[ctl_move]")
{
	const std::int64_t now = 1'000'000;
	const move::Plan p = move::plan(now, now + 86400, 14400, 300);
	CHECK(p.lower_at == now + 86400 - 14400);
	CHECK(p.switch_at == now + 86400);
	CHECK(p.stale_until == now + 86400 + 300);
	CHECK(p.restore_at == p.stale_until);
}

TEST_CASE("move: too short a lead lowers now, and says how long old answers may last", "[ctl_move]")
{
	const std::int64_t now = 1'000'000;
	const move::Plan p = move::plan(now, now + 600, 14400, 300);
	CHECK(p.lower_at == now);
	CHECK(p.switch_at == now + 600);
	CHECK(p.stale_until == now + 14400);
	// No cache keeps an answer past 48 h, whatever max-age said.
	CHECK(move::plan(now, now + 3 * 86400, 604800, 300).lower_at == now + 86400);
	CHECK_THROWS_AS(move::plan(now, now, 300, 300), std::invalid_argument);
}

TEST_CASE("move: --at", "[ctl_move]")
{
	const std::int64_t now = 1'000'000;
	CHECK(move::parse_time("+90", now) == now + 90);
	CHECK(move::parse_time("+90s", now) == now + 90);
	CHECK(move::parse_time("+15m", now) == now + 900);
	CHECK(move::parse_time("+2h", now) == now + 7200);
	CHECK(move::parse_time("+3d", now) == now + 3 * 86400);
	CHECK(move::parse_time("2026-12-24T18:00:00Z", now) == 1798135200);
	CHECK(move::parse_time("2026-12-24T18:00Z", now) == 1798135200);
	CHECK(move::format_time(1798135200) == "2026-12-24T18:00:00Z");
	for (const char *bad : {"", "+", "+x", "+5y", "+-5", "2026-12-24 18:00Z", "2026-12-24T18:00:00",
	                        "2026-12-24T18:00:00+01:00", "2026-02-31T00:00Z", "2026-13-01T00:00Z",
	                        "+400d"})
		CHECK_THROWS_AS(move::parse_time(bad, now), std::invalid_argument);
}
