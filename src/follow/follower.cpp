#include "follow/follower.hpp"

#include "core/log.hpp"

#include <poll.h>
#include <sys/signalfd.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <utility>

namespace mxd::follow {
namespace {

using Clock = std::chrono::steady_clock;
using follow_status::State;

void info(const std::string &m) { log::info("follow", m); }
void error(const std::string &m) { log::error("follow", m); }

} // namespace

Follower::Follower(Settings s, int signals)
    : s_(std::move(s)), signals_(signals), primary_(s_.conninfo, s_.shown), copy_(s_.copy, s_.render),
      random_(static_cast<unsigned>(::getpid()) ^ static_cast<unsigned>(std::time(nullptr)))
{
	status_.primary = s_.shown;
	status_.pid = ::getpid();
	status_.state = State::stopped;
	std::uint64_t usec = 0;
	if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0)
		watchdog_every_ = std::chrono::milliseconds(std::max<std::uint64_t>(usec / 2000, 1));
}

// WATCHDOG=1 from the follower's own loop, at half WatchdogSec: the pings
// stop when it is stuck (in a copy, in libpq), not merely when the process
// is gone, which is what a timer thread would tell.
void Follower::alive()
{
	if (watchdog_every_.count() <= 0)
		return;
	const auto now = Clock::now();
	if (now < next_ping_)
		return;
	sd_notify(0, "WATCHDOG=1");
	next_ping_ = now + watchdog_every_;
}

bool Follower::stop_requested()
{
	alive();
	if (stopping_)
		return true;
	pollfd p{signals_, POLLIN, 0};
	if (::poll(&p, 1, 0) > 0) {
		signalfd_siginfo si{};
		if (::read(signals_, &si, sizeof si) > 0)
			stopping_ = true;
	}
	return stopping_;
}

bool Follower::wait(std::chrono::milliseconds wait, int fd)
{
	// In slices of at most the watchdog's interval, so that a long poll
	// (30 s by default) does not starve it.
	const auto until = Clock::now() + wait;
	for (;;) {
		alive();
		auto left = std::chrono::ceil<std::chrono::milliseconds>(until - Clock::now());
		if (left.count() < 0)
			left = std::chrono::milliseconds(0);
		if (watchdog_every_.count() > 0)
			left = std::min(left, watchdog_every_);
		pollfd p[2] = {{signals_, POLLIN, 0}, {fd, POLLIN, 0}};
		const int n = ::poll(p, fd >= 0 ? 2 : 1, static_cast<int>(left.count()));
		if (n > 0 && (p[0].revents & POLLIN)) {
			signalfd_siginfo si{};
			if (::read(signals_, &si, sizeof si) > 0)
				stopping_ = true;
		}
		if (n != 0 || Clock::now() >= until)
			break;
	}
	alive();
	return !stopping_;
}

// The status file and systemd's STATUS= line.
void Follower::publish()
{
	try {
		follow_status::write(s_.copy, status_);
	} catch (const follow_status::Error &e) {
		// The copy serves all the same; only the word on it is missing.
		if (!status_unwritable_)
			error(std::string(e.what()) + "; following without a status file");
		status_unwritable_ = true;
	}
	// "following, seq 1234: in step (change 1234)"
	const std::string line = std::string(follow_status::name(status_.state)) + ", seq " +
	                         std::to_string(status_.seq) + ": " +
	                         follow_status::describe(status_, true, std::time(nullptr));
	sd_notify(0, ("STATUS=" + line).c_str());
}

// A new state is logged; the same state again (another failed attempt) only
// updates the status file.
void Follower::enter(State state, const std::string &err)
{
	const bool changed = state != status_.state;
	if (changed) {
		status_.since = std::time(nullptr);
		if (state == State::connecting && err.empty())
			info("connecting to " + s_.shown);
		else if (state == State::connecting)
			error(err + "; the copy " + s_.copy + " keeps serving as it is, trying again");
		else if (state == State::following)
			info(s_.copy + ": in step with " + s_.shown + " (seq " + std::to_string(status_.seq) +
			     "), following its changes");
	}
	status_.state = state;
	status_.error = err;
	publish();
}

void Follower::full_copy(const std::string &why)
{
	info(s_.copy + ": full copy from " + s_.shown + ": " + why);
	enter(State::copying);
	const auto started = Clock::now();
	Build build(s_.copy, s_.shown, s_.render);
	const Head head = primary_.copy([&](const Row &row) {
		build.add(row);
		if (build.rows() % 8192 == 0 && stop_requested())
			throw Stopped{};
	});
	build.install(head);
	const auto ms =
		std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count();
	status_.store_id = head.store_id;
	status_.seq = head.max_seq;
	status_.renderings_taken += static_cast<std::int64_t>(build.taken());
	status_.renderings_made += static_cast<std::int64_t>(build.rendered());
	info(s_.copy + ": full copy of " + std::to_string(build.rows()) + " domains (" +
	     std::to_string(build.rendered()) + " rendered here, " + std::to_string(build.taken()) +
	     " renderings taken from the primary) done in " + std::to_string(ms / 1000) + "." +
	     std::to_string(ms % 1000 / 100) + " s (seq " + std::to_string(head.max_seq) + ")");
	// Every name of it was rendered under this configuration as it came.
	rendered_all_ = true;
	render_after_.clear();
}

void Follower::render_missing()
{
	if (rendered_all_)
		return;
	const auto started = Clock::now();
	const CatchUp done = copy_.render_missing(
		s_.render_batch,
		[&] {
			if (stop_requested())
				throw Stopped{};
			// Changes wait no longer than a batch.
			notified_ = notified_ || primary_.notified();
			return notified_;
		},
		render_after_);
	render_ms_ += std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count();
	render_done_.rendered += done.rendered;
	render_done_.refused += done.refused;
	if (!done.finished)
		return;
	rendered_all_ = true;
	if (render_done_.rendered == 0)
		return;
	const auto ms = render_ms_;
	info(s_.copy + ": " + std::to_string(render_done_.rendered) + " records rendered for this "
	     "configuration's [defaults] and [http] in " + std::to_string(ms / 1000) + "." +
	     std::to_string(ms % 1000 / 100) + " s; " + std::to_string(render_done_.refused) +
	     " refused with them (served by the full path)");
}

void Follower::sync()
{
	const auto meta = copy_.meta();
	if (!meta) {
		full_copy("no copy yet");
	} else {
		const Changes changes = primary_.changes(meta->seq, meta->store_id, s_.change_limit);
		if (changes.full) {
			full_copy(changes.why);
		} else {
			if (changes.head.max_seq != meta->seq || meta->primary != s_.shown) {
				const Copy::Applied done = copy_.apply(changes, meta->primary != s_.shown ? s_.shown : "");
				status_.renderings_taken += static_cast<std::int64_t>(done.taken);
				status_.renderings_made += static_cast<std::int64_t>(done.rendered);
			}
			status_.store_id = changes.head.store_id;
			status_.seq = changes.head.max_seq;
		}
	}
	status_.in_step = std::time(nullptr);
	enter(State::following);
	if (!ready_) {
		ready_ = true;
		sd_notify(0, "READY=1");
	}
	// After READY: the copy serves meanwhile, rendered or not.
	render_missing();
}

int Follower::run()
{
	try {
		if (const auto meta = copy_.meta()) {
			status_.store_id = meta->store_id;
			status_.seq = meta->seq;
		}
	} catch (const CopySchema &e) {
		error(e.what());
		return unavailable;
	} catch (const CopyError &e) {
		// Made anew by the first full copy.
		error(std::string(e.what()) + "; it will be copied whole");
	}
	enter(State::connecting);
	while (!stopping_) {
		try {
			if (!primary_.connected()) {
				primary_.connect();
				backoff_.reset();
			}
			sync();
			// Following: woken by a notification, or by the poll.  A
			// notification that came while sync() ran its queries was
			// read from the socket by libpq and waits in its queue:
			// looked for before sleeping, or the commit it announces
			// would wait for the next one, or a whole poll.
			for (;;) {
				if (std::exchange(notified_, false) || primary_.notified()) {
					if (stop_requested())
						break;
				} else if (!wait(s_.poll, primary_.socket())) {
					break;
				} else {
					primary_.notified();
				}
				sync();
			}
		} catch (const Stopped &) {
			break;
		} catch (const WrongSchema &e) {
			error(e.what());
			enter(State::stopped, e.what());
			return unavailable;
		} catch (const CopySchema &e) {
			error(e.what());
			enter(State::stopped, e.what());
			return unavailable;
		} catch (const std::exception &e) {
			// The primary away, or the copy failing (a full disk): the copy
			// serves what it holds, and the follower tries again.
			primary_.disconnect();
			if (status_.state == State::following)
				status_.in_step = std::time(nullptr);
			enter(State::connecting, e.what());
			// A copy that exists serves: the node is ready without the primary.
			if (!ready_ && !status_.store_id.empty()) {
				ready_ = true;
				sd_notify(0, "READY=1");
			}
			std::uniform_real_distribution<double> draw(0.0, 1.0);
			wait(backoff_.next(draw(random_)), -1);
		}
	}
	sd_notify(0, "STOPPING=1");
	info("stopping on a signal; the copy " + s_.copy + " stays as it is (seq " +
	     std::to_string(status_.seq) + ")");
	enter(State::stopped);
	return ok;
}

} // namespace mxd::follow
