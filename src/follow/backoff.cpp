#include "follow/backoff.hpp"

#include <algorithm>

namespace mxd::follow {

std::chrono::milliseconds Backoff::next(double draw)
{
	draw = std::clamp(draw, 0.0, 1.0);
	const auto half = step_ / 2;
	const auto wait = half + std::chrono::milliseconds(static_cast<long long>(
		                        static_cast<double>((step_ - half).count()) * draw));
	step_ = std::min(step_ * 2, max);
	return wait;
}

} // namespace mxd::follow
