// The follower's life: connect to the primary, bring the copy in step
// (a full copy, or the changes since the copy's seq), then wait for
// notifications (and poll every 30 s besides) and apply each change; while
// the primary is away, try again with back-off and leave the copy serving.
// Its state goes to the status file beside the copy and to systemd.
#pragma once

#include "follow/backoff.hpp"
#include "follow/copy.hpp"
#include "follow/primary.hpp"
#include "service/follow_status.hpp"

#include <chrono>
#include <random>
#include <string>

namespace mxd::follow {

// Exit codes (sysexits.h): the follower stops only for these.
enum Exit : int { ok = 0, unavailable = 69, software = 70, tempfail = 75, config = 78 };

struct Settings {
	std::string copy;     // the copy's path ([backend] path)
	std::string conninfo; // [follow] conninfo
	std::string shown;    // conninfo without secrets
	// How often the primary is asked even when no notification came: the
	// safety net under LISTEN.
	std::chrono::milliseconds poll{30000};
	// More changed domains than this since the copy's seq: copied whole.
	std::size_t change_limit = 100000;
	// The configuration's [defaults] and [http]: what the copy's renderings
	// are made under, as the responders reading it ask for them.
	RenderWith render;
	// Names a transaction when rendering what the copy lacks: the write
	// lock is held for about this many renderings (about 60 ms a batch on
	// the tests' 2 cores), and a change waits at most that long.
	std::size_t render_batch = 1000;
};

class Follower {
public:
	// `signals`: a signalfd for SIGTERM and SIGINT.
	Follower(Settings s, int signals);
	// Runs until a signal (0) or a fault it cannot wait out (69).
	int run();

private:
	struct Stopped {};

	void sync();
	void full_copy(const std::string &why);
	// Once a run, in step: renders what the copy lacks for this
	// configuration (a copy made before, or under other [defaults]).  A
	// notification from the primary pauses it: the change is applied
	// first, and the walk goes on from where it stopped.
	void render_missing();
	// Waits up to `wait` for the primary's socket (or none), or a signal;
	// false when a signal came.
	bool wait(std::chrono::milliseconds wait, int fd);
	bool stop_requested();
	void enter(follow_status::State state, const std::string &error = "");
	void publish();
	void alive();

	Settings s_;
	int signals_;
	Primary primary_;
	Copy copy_;
	Backoff backoff_;
	std::minstd_rand random_;
	follow_status::Status status_;
	bool ready_ = false;
	bool rendered_all_ = false;
	bool notified_ = false;       // seen by render_missing(), not yet synced
	std::string render_after_;    // where render_missing() goes on
	CatchUp render_done_;         // what it did so far this run
	long long render_ms_ = 0;     // and in how long
	bool stopping_ = false;
	bool status_unwritable_ = false;
	std::chrono::milliseconds watchdog_every_{0}; // half WatchdogSec; 0: none
	std::chrono::steady_clock::time_point next_ping_{};
};

} // namespace mxd::follow
