#include "core/settle.hpp"

namespace mxd::settle {

namespace {

std::int64_t nanoseconds(const timespec &t)
{
	return static_cast<std::int64_t>(t.tv_sec) * 1000000000 + t.tv_nsec;
}

} // namespace

Stamp stamp_of(const struct stat &st)
{
	Stamp s;
	s.dev = st.st_dev;
	s.ino = st.st_ino;
	s.size = st.st_size;
	s.mtime_ns = nanoseconds(st.st_mtim);
	s.ctime_ns = nanoseconds(st.st_ctim);
	return s;
}

Watch::Verdict Watch::see(const Stamp &now, Clock::time_point t)
{
	if (now == taken_) {
		pending_ = false;
		return Verdict::same;
	}
	// Another file, or a file gone or come back: a rename puts a whole file
	// in place, and a missing one has nothing to wait for.
	if (now.error || taken_.error || now.dev != taken_.dev || now.ino != taken_.ino)
		return Verdict::take;
	if (!pending_ || !(now == seen_)) {
		seen_ = now;
		since_ = t;
		pending_ = true;
		return Verdict::wait;
	}
	return t - since_ >= settle_time ? Verdict::take : Verdict::wait;
}

} // namespace mxd::settle
