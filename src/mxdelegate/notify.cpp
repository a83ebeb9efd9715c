// libsystemd's sd_notify rather than a datagram of our own: it handles the
// abstract-namespace socket names, credentials and the protocol's later
// additions, and mxdelegate-follow links it already (HACKING.md).  Opened
// only when NOTIFY_SOCKET is set (core/lazy_library.hpp): linked in, it and
// the six libraries it needs cost every CGI request their relocation.
#include "mxdelegate/notify.hpp"

#include "core/lazy_library.hpp"
#include "core/log.hpp"

#include <systemd/sd-daemon.h>

#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

namespace mxd::notify {

namespace {

struct Systemd {
	decltype(&sd_notify) notify;
	decltype(&sd_watchdog_enabled) watchdog_enabled;
};

// Null when libsystemd cannot be loaded, which is logged once.
const Systemd *systemd()
{
	static const Systemd *const fns = []() -> const Systemd * {
		static LazyLibrary lib("libsystemd.so.0");
		try {
			static const Systemd s{lib.function<decltype(&sd_notify)>("sd_notify"),
			                       lib.function<decltype(&sd_watchdog_enabled)>("sd_watchdog_enabled")};
			return &s;
		} catch (const std::runtime_error &e) {
			log::error("notify", std::string("NOTIFY_SOCKET is set but systemd cannot be told: ") +
			                         e.what());
			return nullptr;
		}
	}();
	return fns;
}

} // namespace

std::string status_line(const Summary &s)
{
	std::string line;
	if (s.hosts)
		line += std::to_string(*s.hosts) + (*s.hosts == 1 ? " host" : " hosts") + " cached, ";
	char rate[32];
	std::snprintf(rate, sizeof rate, "%.1f", s.requests_per_s < 0 ? 0.0 : s.requests_per_s);
	line += rate;
	line += " requests/s";
	if (!s.last_error.empty()) {
		line += "; last error: ";
		line += s.last_error;
	}
	// Escaped: a newline would end the STATUS= assignment and start
	// another of the datagram's.
	return log::one_line(line, {.max = max_status});
}

std::string reloading(std::uint64_t monotonic_usec)
{
	return "RELOADING=1\nMONOTONIC_USEC=" + std::to_string(monotonic_usec);
}

std::uint64_t monotonic_usec()
{
	timespec ts{};
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return static_cast<std::uint64_t>(ts.tv_sec) * 1000000 +
	       static_cast<std::uint64_t>(ts.tv_nsec) / 1000;
}

Notifier::Notifier()
{
	const char *socket = std::getenv("NOTIFY_SOCKET");
	enabled_ = socket != nullptr && *socket != '\0' && systemd() != nullptr;
	if (!enabled_)
		return;
	std::uint64_t usec = 0;
	if (systemd()->watchdog_enabled(0, &usec) > 0 && usec > 0)
		watchdog_every_ = std::chrono::milliseconds(std::max<std::uint64_t>(usec / 2000, 1));
}

void Notifier::send(const std::string &message) const
{
	if (enabled_)
		systemd()->notify(0, message.c_str());
}

void Notifier::ready() const
{
	if (enabled_)
		systemd()->notify(0, "READY=1");
}

void Notifier::reloading() const
{
	if (enabled_)
		send(notify::reloading(monotonic_usec()));
}

void Notifier::stopping() const
{
	if (enabled_)
		systemd()->notify(0, "STOPPING=1");
}

void Notifier::status(const Summary &s) const
{
	if (enabled_)
		send("STATUS=" + status_line(s));
}

void Notifier::watchdog() const
{
	if (enabled_)
		systemd()->notify(0, "WATCHDOG=1");
}

} // namespace mxd::notify
