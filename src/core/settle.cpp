#include "core/settle.hpp"

namespace mxd::settle {

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
