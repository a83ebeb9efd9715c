// ctl_status: a metrics page read back and summed into mxdelegatectl
// status's lines (the fetch from a running listener:
// tests/e2e/test_metrics.py).
#include "mxdelegatectl/ctl_status.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <string>

using namespace mxd;

namespace {

const char *page = R"(# HELP mxdelegate_requests_total Requests.
# TYPE mxdelegate_requests_total counter
mxdelegate_requests_total{document="client",status="200"} 90
mxdelegate_requests_total{document="server",status="200"} 8
mxdelegate_requests_total{document="server",status="404"} 2
mxdelegate_requests_total{document="none",status="other"} 1
mxdelegate_answers_total{source="none"} 3
mxdelegate_answers_total{source="cache"} 95
mxdelegate_answers_total{source="store"} 4
mxdelegate_answers_total{source="stale"} 1
mxdelegate_store_lookups_total 12
mxdelegate_store_failures_total{kind="failed"} 0
mxdelegate_store_failures_total{kind="busy"} 2
mxdelegate_store_generation 7
mxdelegate_store_generation_change_timestamp_seconds 1764655200
mxdelegate_cache_hosts{record="yes"} 3
mxdelegate_cache_hosts{record="no"} 1
mxdelegate_cache_bytes{record="yes"} 3072
mxdelegate_cache_evictions_total{record="yes"} 0
mxdelegate_cache_evictions_total{record="no"} 5
mxdelegate_reloads_total{result="ok"} 2
mxdelegate_reloads_total{result="refused"} 1
mxdelegate_config_last_reload_successful 0
mxdelegate_connections{state="worker"} 1
mxdelegate_connections{state="queued"} 0
mxdelegate_connections_open 4
mxdelegate_threads 4
mxdelegate_threads_busy 1
process_start_time_seconds 1764651600.25
mxdelegate_build_info{version="0.1.0",abi="1.2",backend="sqlite"} 1
)";

} // namespace

TEST_CASE("ctl_status::parse: samples, labels unescaped, timestamps and comments skipped",
          "[ctl_status]")
{
	const auto s = ctl_status::parse("# HELP x y\nx 1\ny{a=\"q\\\"\\n\\\\\",b=\"\"} 2.5 1700000000\n"
	                                 "z +Inf\n");
	REQUIRE(s.size() == 3);
	CHECK(s[0].name == "x");
	CHECK(s[0].labels.empty());
	CHECK(s[1].labels == std::vector<std::pair<std::string, std::string>>{{"a", "q\"\n\\"}, {"b", ""}});
	CHECK(s[1].value == 2.5);
	CHECK(std::isinf(s[2].value));
	CHECK_THROWS_WITH(ctl_status::parse("x 1\n{a=\"b\"} 1\n"), "line 2: no metric name");
	CHECK_THROWS_WITH(ctl_status::parse("x{a=\"b} 1\n"), "line 1: a label value without its closing quote");
	CHECK_THROWS_WITH(ctl_status::parse("x{a} 1\n"), "line 1: a label without =\"value\"");
	CHECK_THROWS_WITH(ctl_status::parse("x\n"), "line 1: no value");
	CHECK_THROWS_WITH(ctl_status::parse("x one\n"), "line 1: \"one\" is no number");
}

TEST_CASE("ctl_status::summary: the lines of mxdelegatectl status", "[ctl_status]")
{
	const auto samples = ctl_status::parse(page);
	const auto rows = ctl_status::summary(samples, 1764651600 + 3 * 3600 + 125);
	const ctl_status::Rows want{
		{"version", "0.1.0 (plugin ABI 1.2), backend sqlite"},
		{"up", "3 h 2 min (since 2025-12-02T05:00:00Z)"},
		{"requests", "101: 200 98, 404 2, other 1"},
		{"answers", "cache 95.0 %, store 4.0 %, stale 1"},
		{"store", "12 lookups, 2 failed (busy 2); generation 7 since 2025-12-02T06:00:00Z"},
		{"cache", "3 hosts, 3.0 KiB; 1 without a record; 5 evicted"},
		{"reloads", "2 ok, 1 refused; the last one refused: the previous configuration serves"},
		{"connections", "4 open, 1 with workers, 0 queued; threads 1 busy of 4"},
	};
	REQUIRE(rows.size() == want.size());
	for (std::size_t i = 0; i < want.size(); ++i) {
		CHECK(rows[i].first == want[i].first);
		CHECK(rows[i].second == want[i].second);
	}
	CHECK(ctl_status::troubled(samples));
	CHECK_FALSE(ctl_status::troubled(ctl_status::parse("mxdelegate_config_last_reload_successful 1\n")));
	// A CGI-like page without connections: no such line.
	const auto bare = ctl_status::summary(ctl_status::parse("mxdelegate_store_lookups_total 0\n"), 0);
	for (const auto &r : bare)
		CHECK(r.first != "connections");
}

TEST_CASE("ctl_status::url_of: the address as asked", "[ctl_status]")
{
	CHECK(ctl_status::url_of("127.0.0.1:9188") == "http://127.0.0.1:9188/metrics");
	CHECK(ctl_status::url_of("*:9188") == "http://127.0.0.1:9188/metrics");
	CHECK(ctl_status::url_of("[::1]:9188") == "http://[::1]:9188/metrics");
}

TEST_CASE("ctl_status::summary: the preloaded names of an in-memory store", "[ctl_status]")
{
	const auto rows = ctl_status::summary(
		ctl_status::parse("mxdelegate_cache_hosts{record=\"yes\"} 1\n"
		                  "mxdelegate_cache_hosts{record=\"preloaded\"} 10000\n"
		                  "mxdelegate_cache_bytes{record=\"preloaded\"} 7340032\n"),
		0);
	bool seen = false;
	for (const auto &r : rows)
		if (r.first == "cache") {
			seen = true;
			CHECK(r.second == "1 hosts, 0 B; 0 without a record; 0 evicted; 10000 preloaded, 7.0 MiB");
		}
	CHECK(seen);
}
