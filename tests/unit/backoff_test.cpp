// The follower's waits between attempts on an absent primary
// (src/follow/backoff.cpp): 250 ms doubling to 1 s, drawn between half and
// the whole of each step.
#include "follow/backoff.hpp"

#include <catch2/catch.hpp>

using namespace std::chrono_literals;
using mxd::follow::Backoff;

TEST_CASE("the wait doubles from 250 ms to 1 s and stays there", "[backoff]")
{
	Backoff b;
	CHECK(b.next(0.999999) == 249ms);
	CHECK(b.next(0.999999) == 499ms);
	CHECK(b.next(0.999999) == 999ms);
	CHECK(b.next(0.999999) == 999ms);
	b.reset();
	CHECK(b.next(0.0) == 125ms);
}

TEST_CASE("each wait is drawn between half and the whole of its step", "[backoff]")
{
	Backoff b;
	CHECK(b.next(0.0) == 125ms);
	CHECK(b.next(0.5) == 375ms);
	CHECK(b.next(0.0) == 500ms);
	// Out of range draws are held to the range.
	CHECK(b.next(-3) == 500ms);
	CHECK(b.next(7) == 1000ms);
}
