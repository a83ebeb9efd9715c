// gate: FCGI_WEB_SERVER_ADDRS for every peer family.  The epoll loop itself
// is tested end to end with a raw FastCGI peer (tests/e2e/test_gate.py).
#include "mxdelegate/gate.hpp"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <sys/un.h>

#include <cstring>

using mxd::PeerList;

namespace {

sockaddr_storage v4(const char *a)
{
	sockaddr_storage ss{};
	sockaddr_in in{};
	in.sin_family = AF_INET;
	inet_pton(AF_INET, a, &in.sin_addr);
	std::memcpy(&ss, &in, sizeof in);
	return ss;
}

sockaddr_storage v6(const char *a)
{
	sockaddr_storage ss{};
	sockaddr_in6 in6{};
	in6.sin6_family = AF_INET6;
	inet_pton(AF_INET6, a, &in6.sin6_addr);
	std::memcpy(&ss, &in6, sizeof in6);
	return ss;
}

} // namespace

TEST_CASE("gate: FCGI_WEB_SERVER_ADDRS covers IPv4, v4-mapped and IPv6 peers", "[gate]")
{
	std::vector<std::string> bad;
	const PeerList list = PeerList::parse("10.9.9.9, 2001:db8::1,nonsense,,", bad);
	CHECK(bad == std::vector<std::string>{"nonsense"});
	CHECK(list.allows(v4("10.9.9.9")));
	CHECK(list.allows(v6("::ffff:10.9.9.9")));
	CHECK(list.allows(v6("2001:db8::1")));
	CHECK_FALSE(list.allows(v4("127.0.0.1")));
	CHECK_FALSE(list.allows(v6("::ffff:127.0.0.1")));
	CHECK_FALSE(list.allows(v6("::1")));

	sockaddr_storage unix_peer{};
	unix_peer.ss_family = AF_UNIX;
	CHECK(list.allows(unix_peer));
}

TEST_CASE("gate: an empty FCGI_WEB_SERVER_ADDRS allows every peer", "[gate]")
{
	std::vector<std::string> bad;
	const PeerList list = PeerList::parse("", bad);
	CHECK(list.empty());
	CHECK(bad.empty());
	CHECK(list.allows(v4("192.0.2.1")));
	CHECK(list.allows(v6("::1")));
}
