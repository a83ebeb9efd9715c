// A plugin's store going away and coming back (src/plugin/outage.hpp):
// logged once each way, the reason kept for generation() and lookups.
#include "plugin/outage.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

namespace {

struct Logs {
	std::vector<std::string> lines;
	mxd_host host{this, [](void *ctx, int level, const char *message) {
		              static_cast<Logs *>(ctx)->lines.push_back(std::to_string(level) + " " + message);
	              },
	              MXD_BACKEND_ABI_MINOR};
};

} // namespace

TEST_CASE("outage: logged when the store goes and when it comes back", "[outage]")
{
	Logs logs;
	mxd::plugin::Outage o(mxd::plugin::Log(&logs.host), "; 503 meanwhile", /*each_reason=*/false);
	CHECK_FALSE(o.why());
	CHECK_FALSE(o.up("back"));
	CHECK(o.down("db: refused"));
	CHECK_FALSE(o.down("db: refused"));
	CHECK_FALSE(o.down("db: timed out")); // not logged, but the reason is the latest
	CHECK(o.why() == "db: timed out");
	CHECK(o.up("db: back"));
	CHECK_FALSE(o.why());
	CHECK(logs.lines == std::vector<std::string>{"3 db: refused; 503 meanwhile", "6 db: back"});
}

TEST_CASE("outage: each new reason logged when asked", "[outage]")
{
	Logs logs;
	mxd::plugin::Outage o(mxd::plugin::Log(&logs.host), "; 503 meanwhile", /*each_reason=*/true);
	CHECK(o.down("a"));
	CHECK_FALSE(o.down("a"));
	CHECK_FALSE(o.down("b"));
	CHECK(logs.lines == std::vector<std::string>{"3 a; 503 meanwhile", "3 b; 503 meanwhile"});
	// Without a logger nothing breaks.
	mxd::plugin::Outage quiet(mxd::plugin::Log(nullptr), "", true);
	CHECK(quiet.down("x"));
}
