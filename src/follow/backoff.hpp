// How long the follower waits before it tries the primary again: 250 ms,
// doubling to 1 s while it stays away, each wait drawn between half and the
// whole of that, so that a fleet's followers do not knock on a restarted
// server all in the same millisecond.
#pragma once

#include <chrono>

namespace mxd::follow {

class Backoff {
public:
	static constexpr std::chrono::milliseconds first{250}, max{1000};

	// The wait before the next attempt; `draw` in [0, 1) places it between
	// half the current step and the whole of it.  The step then doubles.
	std::chrono::milliseconds next(double draw);
	void reset() { step_ = first; }

private:
	std::chrono::milliseconds step_ = first;
};

} // namespace mxd::follow
