// metrics: per-thread blocks summed, a thread's counts kept after it ends,
// lookups timed into the histogram by the backend, evictions by the
// directory, and the page the responder serves.
#include "service/metrics.hpp"

#include "service/directory.hpp"
#include "service/follow_status.hpp"
#include "service/responder.hpp"
#include "support.hpp"

#include <catch2/catch.hpp>

#include <ctime>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

using namespace mxd;

namespace {

std::uint64_t requests(const metrics::Totals &t, std::optional<Document> doc, int status)
{
	return t.requests[doc ? static_cast<std::size_t>(*doc) : document_count]
	                 [metrics::status_index(status)];
}

} // namespace

TEST_CASE("metrics: status slots", "[metrics]")
{
	CHECK(metrics::status_index(200) == 0);
	CHECK(metrics::status_index(503) == metrics::statuses.size() - 1);
	CHECK(metrics::status_index(418) == metrics::statuses.size());
	CHECK(metrics::status_index(0) == metrics::statuses.size());
}

TEST_CASE("metrics: each thread's block summed, and kept once the thread ends", "[metrics]")
{
	const metrics::Totals before = metrics::sum();
	metrics::local().answered(Document::client, 200, 1);
	metrics::local().answered(std::nullopt, 418, 0);
	std::thread a([] {
		for (int i = 0; i < 1000; ++i)
			metrics::local().answered(Document::client, 200, 1);
		metrics::local().answered(Document::server, 304, 3);
	});
	a.join();
	const metrics::Totals after = metrics::sum();
	CHECK(requests(after, Document::client, 200) - requests(before, Document::client, 200) == 1001);
	CHECK(requests(after, Document::server, 304) - requests(before, Document::server, 304) == 1);
	CHECK(requests(after, std::nullopt, 999) - requests(before, std::nullopt, 999) == 1);
	CHECK(after.sources[1] - before.sources[1] == 1001);
	CHECK(after.sources[3] - before.sources[3] == 1);
	// An out-of-range source counts as none rather than past the array.
	metrics::local().answered(Document::support, 200, 99);
	CHECK(metrics::sum().sources[0] - after.sources[0] == 1);
}

TEST_CASE("metrics: lookups into the latency histogram and failures by kind", "[metrics]")
{
	const metrics::Totals before = metrics::sum();
	metrics::local().looked_up(30'000, -1);       // 30 us: the first bucket (50 us)
	metrics::local().looked_up(700'000, 1);       // 0.7 ms, busy: the 1 ms bucket
	metrics::local().looked_up(5'000'000'000, 0); // 5 s: above every bound
	const metrics::Totals after = metrics::sum();
	CHECK(after.lookups - before.lookups == 3);
	CHECK(after.failures[0] - before.failures[0] == 1);
	CHECK(after.failures[1] - before.failures[1] == 1);
	CHECK(after.latency[0] - before.latency[0] == 1);
	CHECK(after.latency[4] - before.latency[4] == 1);
	CHECK(metrics::latency_bounds[4] == 0.001);
	CHECK(after.latency[metrics::latency_slots - 1] - before.latency[metrics::latency_slots - 1] == 1);
	CHECK(after.latency_ns - before.latency_ns == 5'000'730'000);
}

TEST_CASE("metrics: the store's lookups, their failures and the cache's evictions counted where "
          "they happen", "[metrics]")
{
	test::TempDir d;
	const std::string cfg = d.write("c.toml", "[backend]\nname = \"toml\"\nplugin_dir = \"" +
	                                              std::filesystem::absolute(test::plugin_dir()).string() + "\"\n\n[server]\n"
	                                              "cache_bytes = 16384\n\n[status]\n"
	                                              "path = \"/metrics\"\n\n[domains]\n"
	                                              "\"a.example\" = {server = \"m.a.example:443\"}\n");
	Responder r(load_config(cfg));
	const metrics::Totals before = metrics::sum();
	// Negative entries get a sixteenth of 16 KiB: a few hundred names push
	// each other out.
	for (int i = 0; i < 400; ++i)
		r.directory().find("n" + std::to_string(i) + ".example", Document::server);
	r.directory().find("a.example", Document::server);
	const metrics::Totals after = metrics::sum();
	// An unknown name is asked as itself, then its parent's wildcard.
	CHECK(after.lookups - before.lookups >= 401);
	CHECK(after.evictions[1] > before.evictions[1]);
	CHECK(after.evictions[0] == before.evictions[0]);

	Reply reply;
	r.answer(parse_request(Params{.method = "GET", .uri = "/metrics", .host = "x"}), reply);
	REQUIRE(reply.status == 200);
	const std::string page(reply.bytes);
	CHECK_THAT(page, Catch::StartsWith("Status: 200 OK\r\nContent-Type: text/plain; version=0.0.4; "
	                                   "charset=utf-8\r\nCache-Control: no-store\r\n"));
	CHECK_THAT(page, Catch::Contains("\nmxdelegate_cache_hosts{record=\"yes\"} 1\n"));
	CHECK_THAT(page, Catch::Contains("\n# TYPE mxdelegate_store_lookup_seconds histogram\n"));
	CHECK_THAT(page, Catch::Contains("mxdelegate_build_info{version=\""));
	CHECK_THAT(page, Catch::Contains(",backend=\"toml\"} 1\n"));
	// No server runs here: no connection or thread families.
	CHECK_THAT(page, !Catch::Contains("mxdelegate_connections"));
	// POST is refused as on the health path; HEAD has the headers alone.
	r.answer(parse_request(Params{.method = "POST", .uri = "/metrics"}), reply);
	CHECK(reply.status == 405);
	r.answer(parse_request(Params{.method = "HEAD", .uri = "/metrics"}), reply);
	CHECK(reply.status == 200);
	CHECK(std::string(reply.bytes).ends_with("\r\n\r\n"));
}

TEST_CASE("metrics: the runtime source, and reloads", "[metrics]")
{
	metrics::set_runtime([] {
		metrics::Runtime r;
		r.open = 7;
		r.threads = 4;
		r.busy = 2;
		r.refused_peer = 3;
		return r;
	});
	metrics::reloaded(false);
	metrics::View v;
	v.backend = "x\"y";
	const std::string page = metrics::render(v);
	metrics::set_runtime(nullptr);
	CHECK_THAT(page, Catch::Contains("\nmxdelegate_connections_open 7\n"));
	CHECK_THAT(page, Catch::Contains("\nmxdelegate_threads_busy 2\n"));
	CHECK_THAT(page, Catch::Contains("\nmxdelegate_connections_closed_total{rule=\"peer\"} 3\n"));
	CHECK_THAT(page, Catch::Contains("\nmxdelegate_config_last_reload_successful 0\n"));
	CHECK_THAT(page, Catch::Contains(",backend=\"x\\\"y\"} 1\n"));
	CHECK_THAT(metrics::render(metrics::View()), !Catch::Contains("mxdelegate_threads"));
	metrics::reloaded(true);
	CHECK_THAT(metrics::render(metrics::View()), Catch::Contains("\nmxdelegate_config_last_reload_successful 1\n"));
}

TEST_CASE("metrics: a follower's copy, its lag from the status file", "[metrics]")
{
	test::TempDir d;
	const std::string copy = d.file("domains.db");
	metrics::View v;
	v.follow_copy = copy;
	// No follower ever ran: whether one runs, and no lag to tell.
	std::string page = metrics::render(v);
	CHECK_THAT(page, Catch::Contains("\nmxdelegate_follow_running 0\n"));
	CHECK_THAT(page, Catch::Contains("\nmxdelegate_follow_status_readable 1\n"));
	CHECK_THAT(page, !Catch::Contains("mxdelegate_follow_lag_seconds"));
	follow_status::Status st;
	st.state = follow_status::State::following;
	st.seq = 42;
	st.since = std::time(nullptr) - 100;
	st.in_step = std::time(nullptr) - 30;
	follow_status::write(copy, st);
	page = metrics::render(v);
	// No follower holds the lock: behind since it was last in step.
	const auto at = page.find("\nmxdelegate_follow_lag_seconds ");
	REQUIRE(at != std::string::npos);
	const double lag = std::stod(page.substr(at + 31));
	CHECK(lag >= 30);
	CHECK(lag < 40);
	CHECK_THAT(page, Catch::Contains("\nmxdelegate_follow_seq 42\n"));
	{
		std::ofstream(follow_status::status_path(copy)) << "{";
	}
	CHECK_THAT(metrics::render(v), Catch::Contains("\nmxdelegate_follow_status_readable 0\n"));
}
