// notify: the STATUS= line and the reload datagram; the Notifier without
// NOTIFY_SOCKET (the datagrams themselves: tests/e2e/test_notify.py).
#include "mxdelegate/notify.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <string>

using namespace mxd;

TEST_CASE("notify::status_line: hosts, requests/s, last error, on one line", "[notify]")
{
	CHECK(notify::status_line({}) == "0.0 requests/s");
	CHECK(notify::status_line({.hosts = 0, .requests_per_s = 0}) == "0 hosts cached, 0.0 requests/s");
	CHECK(notify::status_line({.hosts = 1, .requests_per_s = 2.25}) == "1 host cached, 2.2 requests/s");
	CHECK(notify::status_line({.hosts = 12, .requests_per_s = 3456.78,
	                           .last_error = "2026-12-02T10:38:27Z backend: gone"}) ==
	      "12 hosts cached, 3456.8 requests/s; last error: 2026-12-02T10:38:27Z backend: gone");
	// A newline would end STATUS= and start another assignment.
	CHECK(notify::status_line({.requests_per_s = 1, .last_error = "a\nWATCHDOG=1"}) ==
	      "1.0 requests/s; last error: a\\x0aWATCHDOG=1");
	CHECK(notify::status_line({.requests_per_s = -1}) == "0.0 requests/s");
	const std::string cut = notify::status_line({.last_error = std::string(1000, 'e')});
	CHECK(cut.size() == notify::max_status + 3);
	CHECK(cut.substr(cut.size() - 3) == "...");
}

TEST_CASE("notify::reloading: RELOADING=1 with MONOTONIC_USEC", "[notify]")
{
	CHECK(notify::reloading(0) == "RELOADING=1\nMONOTONIC_USEC=0");
	CHECK(notify::reloading(18446744073709551615ull) ==
	      "RELOADING=1\nMONOTONIC_USEC=18446744073709551615");
	const auto a = notify::monotonic_usec();
	const auto b = notify::monotonic_usec();
	CHECK(a > 0);
	CHECK(b >= a);
}

TEST_CASE("notify::Notifier: off without NOTIFY_SOCKET, the watchdog from WATCHDOG_USEC",
          "[notify]")
{
	const char *saved = std::getenv("NOTIFY_SOCKET");
	const std::string keep = saved ? saved : "";
	unsetenv("NOTIFY_SOCKET");
	setenv("WATCHDOG_USEC", "1000000", 1);
	{
		const notify::Notifier n;
		CHECK_FALSE(n.enabled());
		CHECK(n.watchdog_every().count() == 0);
		n.ready(); // nowhere to go: returns
	}
	setenv("NOTIFY_SOCKET", "/nonexistent/notify.sock", 1);
	{
		const notify::Notifier n;
		CHECK(n.enabled());
		CHECK(n.watchdog_every().count() == 500);
	}
	unsetenv("WATCHDOG_USEC");
	{
		const notify::Notifier n;
		CHECK(n.enabled());
		CHECK(n.watchdog_every().count() == 0);
	}
	if (saved)
		setenv("NOTIFY_SOCKET", keep.c_str(), 1);
	else
		unsetenv("NOTIFY_SOCKET");
}
