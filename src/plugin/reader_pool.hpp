// The read side of an SQL plugin: a small pool of read connections, one per
// thread that is inside a lookup at once, opened lazily, and the back-off
// after a failure, so that while a store is broken or away a lookup fails at
// once instead of waiting for it, and service resumes once it is back
// without a restart.
//
// One policy for every plugin, parameterised: after a failure, lookups that
// find no idle connection fail at once with that failure for `first`; then
// one of them tries again (the others keep failing fast meanwhile), and each
// failure in a row doubles the wait up to `max`.  SQLite gives both 250 ms (a
// local file is cheap to try); PostgreSQL 250 ms doubling to 2 s (a server
// that is down should not get a connection storm).  A busy store (MXD_BUSY)
// is nobody's fault and starts no back-off.
#pragma once

#include "plugin/plugin_strings.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace mxd::plugin {

struct Backoff {
	std::chrono::milliseconds first, max;
};

// Conn: one connection and its prepared statements, used by one thread at a
// time.  When it has `bool alive() const`, an idle one that is no longer
// alive is dropped rather than lent.
template <class Conn>
class ReaderPool {
public:
	using Clock = std::chrono::steady_clock;

	// A connection lent to one lookup; hand it back with release().
	struct Lease {
		std::unique_ptr<Conn> conn;
		std::uint64_t epoch = 0;
		bool reused = false; // from the pool, not opened for this lookup
		Conn *operator->() const { return conn.get(); }
	};

	explicit ReaderPool(Backoff backoff) : backoff_(backoff), wait_(backoff.first) {}

	// An idle connection, or a new one from open() (which throws
	// StatusError, noted as a failure); throws the last failure while the
	// back-off runs.
	template <class Open>
	Lease acquire(Open &&open)
	{
		const std::uint64_t epoch = epoch_.load();
		{
			std::lock_guard lock(idle_mutex_);
			while (!idle_.empty()) {
				Lease l = std::move(idle_.back());
				idle_.pop_back();
				if (l.epoch != epoch)
					continue;
				if constexpr (requires(const Conn &c) { c.alive(); })
					if (!l.conn->alive())
						continue;
				l.reused = true;
				return l;
			}
		}
		{
			std::lock_guard lock(state_);
			if (failing_) {
				if (Clock::now() < retry_at_)
					throw StatusError(status_, message_);
				// This lookup tries; the others keep failing fast meanwhile.
				retry_at_ = Clock::now() + wait_;
			}
		}
		try {
			Lease l{open(), epoch, false};
			recovered();
			return l;
		} catch (const StatusError &e) {
			failed(e.status(), e.what());
			throw;
		}
	}

	// Back into the pool, unless the pool was retired meanwhile.
	void release(Lease l)
	{
		if (l.epoch != epoch_.load())
			return;
		std::lock_guard lock(idle_mutex_);
		idle_.push_back(std::move(l));
	}

	// f(conn) on each idle connection, under the pool's lock: f must be
	// brief, since a lookup waits for the lock to borrow one.
	template <class F>
	void each_idle(F &&f)
	{
		std::lock_guard lock(idle_mutex_);
		for (Lease &l : idle_)
			f(*l.conn);
	}

	// Every connection, idle or lent, is dropped: the store changed under
	// them or they are suspect after a failure.
	void retire()
	{
		epoch_.fetch_add(1);
		std::vector<Lease> old;
		std::lock_guard lock(idle_mutex_);
		old.swap(idle_);
	}

	// A failure that is the store's: the back-off starts, or grows.
	void failed(int status, std::string message)
	{
		if (status == MXD_BUSY)
			return;
		std::lock_guard lock(state_);
		wait_ = failing_ ? std::min(wait_ * 2, backoff_.max) : backoff_.first;
		failing_ = true;
		status_ = status;
		message_ = std::move(message);
		retry_at_ = Clock::now() + wait_;
	}

	// The store works again (a connection opened, or the plugin's watcher
	// saw it come back): lookups may try at once.
	void recovered()
	{
		std::lock_guard lock(state_);
		failing_ = false;
		wait_ = backoff_.first;
	}

private:
	const Backoff backoff_;

	std::mutex idle_mutex_;
	std::vector<Lease> idle_;
	std::atomic<std::uint64_t> epoch_{0};

	std::mutex state_;
	bool failing_ = false;
	int status_ = MXD_ERROR;
	std::string message_;
	Clock::time_point retry_at_;
	std::chrono::milliseconds wait_;
};

} // namespace mxd::plugin
