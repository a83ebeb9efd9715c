// mode: where the requests come from, for every combination of the facts.
#include "mxdelegate/mode.hpp"

#include <catch2/catch.hpp>

using mxd::mode::Facts;
using mxd::mode::Mode;
using mxd::mode::detect;

namespace {

// Every combination of the six facts, as bits of n.
Facts facts_of(unsigned n)
{
	Facts f;
	f.listen_option = n & 1;
	f.systemd = n & 2;
	f.fd0_listening = n & 4;
	f.request_method = n & 8;
	f.config_loaded = n & 16;
	f.config_listen = n & 32;
	return f;
}

} // namespace

TEST_CASE("mode: each source of requests alone", "[mode]")
{
	Facts f;
	CHECK(detect(f) == Mode::none);
	f.config_loaded = true;
	CHECK(detect(f) == Mode::none);
	f.config_listen = true;
	CHECK(detect(f) == Mode::listen_config);
	f.request_method = true;
	CHECK(detect(f) == Mode::cgi);
	f.fd0_listening = true;
	CHECK(detect(f) == Mode::inherited);
	f.systemd = true;
	CHECK(detect(f) == Mode::systemd);
	f.listen_option = true;
	CHECK(detect(f) == Mode::listen_option);
}

TEST_CASE("mode: --listen wins over everything, even a broken configuration", "[mode]")
{
	for (unsigned n = 0; n < 64; ++n) {
		Facts f = facts_of(n);
		f.listen_option = true;
		INFO("facts " << n);
		CHECK(detect(f) == Mode::listen_option);
	}
}

TEST_CASE("mode: the order of the rules", "[mode]")
{
	for (unsigned n = 0; n < 64; ++n) {
		const Facts f = facts_of(n);
		INFO("facts " << n);
		Mode want = Mode::none;
		if (f.listen_option)
			want = Mode::listen_option;
		else if (f.systemd)
			want = Mode::systemd;
		else if (f.fd0_listening)
			want = Mode::inherited;
		else if (f.request_method)
			want = Mode::cgi;
		else if (f.config_loaded && f.config_listen)
			want = Mode::listen_config;
		CHECK(detect(f) == want);
	}
}

TEST_CASE("mode: a socket on fd 0 is FastCGI even with CGI variables set", "[mode]")
{
	// spawn-fcgi and some web servers leave REQUEST_METHOD in the
	// environment of a FastCGI child.
	Facts f;
	f.fd0_listening = true;
	f.request_method = true;
	CHECK(detect(f) == Mode::inherited);
}

TEST_CASE("mode: [server] listen only counts when the configuration loaded", "[mode]")
{
	Facts f;
	f.config_listen = true;
	CHECK(detect(f) == Mode::none);
	f.request_method = true;
	CHECK(detect(f) == Mode::cgi);
}
