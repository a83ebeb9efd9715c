// When a watched file is read again (src/core/settle.cpp).
#include "core/settle.hpp"

#include <catch2/catch.hpp>

using mxd::settle::Clock;
using mxd::settle::Stamp;
using mxd::settle::Watch;
using mxd::settle::settle_time;
using namespace std::chrono_literals;

namespace {

Stamp file(std::uint64_t ino, std::int64_t size, std::int64_t mtime)
{
	Stamp s;
	s.dev = 1;
	s.ino = ino;
	s.size = size;
	s.mtime_ns = mtime;
	s.ctime_ns = mtime;
	return s;
}

} // namespace

TEST_CASE("settle: an edit in place is taken once it has stayed the same for the settle time",
          "[settle]")
{
	const Clock::time_point t0{};
	Watch w(file(7, 100, 1));
	CHECK(w.see(file(7, 100, 1), t0) == Watch::Verdict::same);
	CHECK_FALSE(w.pending());
	// Truncated, then written in pieces 30 ms apart: never taken half-way.
	auto t = t0;
	for (std::int64_t size : {0, 40, 80, 120, 160}) {
		t += 30ms;
		CHECK(w.see(file(7, size, t.time_since_epoch().count()), t) == Watch::Verdict::wait);
		CHECK(w.pending());
		CHECK(w.due() == t + settle_time);
	}
	const Stamp done = file(7, 160, t.time_since_epoch().count());
	CHECK(w.see(done, t + 50ms) == Watch::Verdict::wait);
	CHECK(w.see(done, t + settle_time - 1ns) == Watch::Verdict::wait);
	CHECK(w.see(done, t + settle_time) == Watch::Verdict::take);
	w.taken(done);
	CHECK_FALSE(w.pending());
	CHECK(w.see(done, t + 1s) == Watch::Verdict::same);
}

TEST_CASE("settle: a file replaced by rename, gone or back is taken at once", "[settle]")
{
	const Clock::time_point t0{};
	Watch w(file(7, 100, 1));
	CHECK(w.see(file(8, 100, 2), t0) == Watch::Verdict::take);
	w.taken(file(8, 100, 2));
	Stamp gone;
	gone.error = 2;
	CHECK(w.see(gone, t0) == Watch::Verdict::take);
	w.taken(gone);
	CHECK(w.see(gone, t0 + 1s) == Watch::Verdict::same);
	CHECK(w.see(file(9, 10, 3), t0 + 2s) == Watch::Verdict::take);
	// Another device with the same inode number is another file.
	w.taken(file(9, 10, 3));
	Stamp other = file(9, 10, 3);
	other.dev = 2;
	CHECK(w.see(other, t0 + 3s) == Watch::Verdict::take);
}

TEST_CASE("settle: a change undone before it settled is nothing to take", "[settle]")
{
	const Clock::time_point t0{};
	Watch w(file(7, 100, 1));
	CHECK(w.see(file(7, 50, 2), t0) == Watch::Verdict::wait);
	CHECK(w.see(file(7, 100, 1), t0 + 10ms) == Watch::Verdict::same);
	CHECK_FALSE(w.pending());
}

TEST_CASE("a stamp is made of what stat(2) said, to the nanosecond", "[settle]")
{
	struct stat st{};
	st.st_dev = 8;
	st.st_ino = 1234;
	st.st_size = 4096;
	st.st_mtim = {1700000000, 999999999};
	st.st_ctim = {1700000001, 5};
	const Stamp s = mxd::settle::stamp_of(st);
	CHECK(s.error == 0);
	CHECK(s.dev == 8);
	CHECK(s.ino == 1234);
	CHECK(s.size == 4096);
	CHECK(s.mtime_ns == 1700000000999999999);
	CHECK(s.ctime_ns == 1700000001000000005);
	// One nanosecond later is another stamp: a rewrite within the same
	// second is seen.
	st.st_mtim.tv_nsec = 0;
	st.st_mtim.tv_sec = 1700000001;
	CHECK_FALSE(mxd::settle::stamp_of(st) == s);
}
