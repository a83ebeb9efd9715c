// What the responder tells systemd (sd_notify(3)) in its long-running
// FastCGI mode: READY=1 once the socket is served, RELOADING=1 and READY=1
// around a reload, STOPPING=1, a STATUS= line, WATCHDOG=1.  Never in CGI
// mode.  Without NOTIFY_SOCKET every call returns at once, before any text
// is made.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace mxd::notify {

// What STATUS= says, gathered by the server's main thread.
struct Summary {
	std::optional<std::size_t> hosts{}; // hosts with a cached answer, when known
	double requests_per_s = 0;        // over the last interval
	std::string last_error{};           // log::last_error(), or ""
};

// "12 hosts cached, 3.4 requests/s; last error: 2026-12-02T10:38:27Z
// backend: ..." on one line, cut after max_status bytes ("..."): systemctl
// status shows it in a line of its own.
constexpr std::size_t max_status = 400;
std::string status_line(const Summary &s);

// The datagram that opens a reload: RELOADING=1 with the CLOCK_MONOTONIC
// time in microseconds, which systemd 253 and later want from a
// Type=notify-reload service (and which 252 ignores).
std::string reloading(std::uint64_t monotonic_usec);

// CLOCK_MONOTONIC now, in microseconds.
std::uint64_t monotonic_usec();

class Notifier {
public:
	// Reads NOTIFY_SOCKET and the watchdog's WATCHDOG_USEC/WATCHDOG_PID
	// (sd_watchdog_enabled), leaving them in the environment.
	Notifier();

	bool enabled() const { return enabled_; }
	// Half systemd's WatchdogSec, as sd_watchdog_enabled(3) advises; 0
	// when no watchdog is asked for.
	std::chrono::milliseconds watchdog_every() const { return watchdog_every_; }

	void ready() const;
	void reloading() const;
	void stopping() const;
	void status(const Summary &s) const;
	void watchdog() const;

private:
	void send(const std::string &message) const;
	bool enabled_ = false;
	std::chrono::milliseconds watchdog_every_{0};
};

} // namespace mxd::notify
