// listen: the --listen and [server] listen addresses refused before any
// socket is made, each with the address in the message.
#include "mxdelegate/listen.hpp"

#include <catch2/catch.hpp>

#include <string>

namespace {

std::string refusal(const char *spec)
{
	try {
		const int fd = mxd::listen::open(spec);
		(void)fd;
		return "opened";
	} catch (const mxd::listen::Error &e) {
		return e.what();
	}
}

} // namespace

TEST_CASE("listen: host:port addresses it refuses", "[listen]")
{
	CHECK(refusal(":9000") == ":9000: no address; write 127.0.0.1:9000 for this machine only, "
	                          "or *:9000 for every interface");
	CHECK(refusal("9000") == "9000: expected unix:/path, 127.0.0.1:port (this machine only) "
	                         "or *:port (every interface)");
	CHECK(refusal("::1:9000") == "::1:9000: write an IPv6 address in brackets: [::1]:port");
	CHECK(refusal("[::1]") == "[::1]: expected [IPv6]:port");
	CHECK(refusal("[::1]9000") == "[::1]9000: expected [IPv6]:port");
	CHECK(refusal("[::1:9000") == "[::1:9000: expected [IPv6]:port");
	for (const char *bad : {"127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:000080",
	                        "127.0.0.1:80a", "127.0.0.1:-1", "[::1]:", "[::1]:0"})
		CHECK(refusal(bad) == std::string(bad) + ": port must be a number from 1 to 65535");
}
