// A plugin's store, as its change detection sees it: away (with the reason,
// which generation() or a lookup may report) or there.  The log hears of it
// once when it goes and once when it comes back, not at every check.
#pragma once

#include "plugin/entry_points.hpp"

#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace mxd::plugin {

class Outage {
public:
	// `consequence` follows the reason in the log ("; lookups answer 503
	// until it is fixed"); `each_reason`: a new reason is logged too.
	Outage(Log log, std::string_view consequence, bool each_reason)
	    : log_(log), consequence_(consequence), each_reason_(each_reason)
	{
	}

	// The store is away; true when it was there until now.
	bool down(const std::string &why)
	{
		std::lock_guard lock(mutex_);
		const bool was_up = !why_;
		const bool news = was_up || (each_reason_ && *why_ != why);
		why_ = why;
		if (news)
			log_(MXD_LOG_ERR, why + consequence_);
		return was_up;
	}

	// The store is back; true (and `message` logged) when it was away.
	bool up(const std::string &message)
	{
		{
			std::lock_guard lock(mutex_);
			if (!why_)
				return false;
			why_.reset();
		}
		log_(MXD_LOG_INFO, message);
		return true;
	}

	// Why the store is away, or nothing while it is there.
	std::optional<std::string> why() const
	{
		std::lock_guard lock(mutex_);
		return why_;
	}

private:
	const Log log_;
	const std::string consequence_;
	const bool each_reason_;
	mutable std::mutex mutex_;
	std::optional<std::string> why_;
};

} // namespace mxd::plugin
