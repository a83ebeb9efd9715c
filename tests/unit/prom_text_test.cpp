// prom_text: names, escaping, values and histograms exactly as the text
// format 0.0.4 wants them (promtool itself reads a real page in
// tests/e2e/test_metrics.py).
#include "core/prom_text.hpp"

#include <catch2/catch.hpp>

#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>

using namespace mxd;

TEST_CASE("prom: metric and label names", "[prom]")
{
	CHECK(prom::valid_metric_name("mxdelegate_requests_total"));
	CHECK(prom::valid_metric_name("a:b_c9"));
	CHECK(prom::valid_metric_name("_x"));
	CHECK_FALSE(prom::valid_metric_name(""));
	CHECK_FALSE(prom::valid_metric_name("9a"));
	CHECK_FALSE(prom::valid_metric_name("a-b"));
	CHECK_FALSE(prom::valid_metric_name("a b"));
	CHECK_FALSE(prom::valid_metric_name("é"));
	CHECK(prom::valid_label_name("document"));
	CHECK_FALSE(prom::valid_label_name("a:b"));
	CHECK_FALSE(prom::valid_label_name("__name__"));
	CHECK_FALSE(prom::valid_label_name("1a"));
}

TEST_CASE("prom: label values and HELP escaped, other bytes kept", "[prom]")
{
	CHECK(prom::escape_label_value("plain") == "plain");
	CHECK(prom::escape_label_value("a\\b\"c\nd") == "a\\\\b\\\"c\\nd");
	CHECK(prom::escape_label_value("tab\there") == "tab\there");
	CHECK(prom::escape_label_value("\xc3\xa9t\xc3\xa9") == "\xc3\xa9t\xc3\xa9");
	// HELP escapes no quote.
	CHECK(prom::escape_help("say \"hi\"\\\n") == "say \"hi\"\\\\\\n");
}

TEST_CASE("prom: values read back as written", "[prom]")
{
	CHECK(prom::format_value(std::uint64_t{0}) == "0");
	CHECK(prom::format_value(std::uint64_t{18446744073709551615ull}) == "18446744073709551615");
	CHECK(prom::format_value(0.0) == "0");
	CHECK(prom::format_value(42.0) == "42");
	CHECK(prom::format_value(-3.0) == "-3");
	CHECK(prom::format_value(0.25) == "0.25");
	CHECK(prom::format_value(0.00005) == "5e-05");
	CHECK(prom::format_value(1764672000.125) == "1764672000.125");
	CHECK(prom::format_value(1e300) == "1e+300");
	CHECK(prom::format_value(std::numeric_limits<double>::infinity()) == "+Inf");
	CHECK(prom::format_value(-std::numeric_limits<double>::infinity()) == "-Inf");
	CHECK(prom::format_value(std::nan("")) == "NaN");
}

TEST_CASE("prom::Text: families, samples, labels", "[prom]")
{
	prom::Text t;
	t.family("x_total", "Things\ncounted \\ here.", prom::Type::counter);
	t.sample("x_total", {}, std::uint64_t{3});
	t.sample("x_total", {{"a", "1"}, {"b", "q\"uote"}}, std::uint64_t{4});
	t.family("y", "A gauge.", prom::Type::gauge);
	t.sample("y", {{"v", "1.0"}}, 0.5);
	CHECK(t.str() == "# HELP x_total Things\\ncounted \\\\ here.\n"
	                 "# TYPE x_total counter\n"
	                 "x_total 3\n"
	                 "x_total{a=\"1\",b=\"q\\\"uote\"} 4\n"
	                 "# HELP y A gauge.\n"
	                 "# TYPE y gauge\n"
	                 "y{v=\"1.0\"} 0.5\n");
}

TEST_CASE("prom::Text: a histogram's cumulative buckets, sum and count", "[prom]")
{
	prom::Text t;
	t.family("h_seconds", "Latency.", prom::Type::histogram);
	const std::array<double, 3> bounds{0.001, 0.01, 0.1};
	const std::array<std::uint64_t, 4> counts{2, 0, 5, 1};
	t.histogram("h_seconds", {{"k", "v"}}, bounds, counts, 0.75);
	CHECK(t.str() == "# HELP h_seconds Latency.\n"
	                 "# TYPE h_seconds histogram\n"
	                 "h_seconds_bucket{k=\"v\",le=\"0.001\"} 2\n"
	                 "h_seconds_bucket{k=\"v\",le=\"0.01\"} 2\n"
	                 "h_seconds_bucket{k=\"v\",le=\"0.1\"} 7\n"
	                 "h_seconds_bucket{k=\"v\",le=\"+Inf\"} 8\n"
	                 "h_seconds_sum{k=\"v\"} 0.75\n"
	                 "h_seconds_count{k=\"v\"} 8\n");
}

TEST_CASE("prom::Text: programming errors are refused by name", "[prom]")
{
	prom::Text t;
	CHECK_THROWS_WITH(t.family("bad-name", "", prom::Type::gauge),
	                  "prometheus: invalid metric name \"bad-name\"");
	t.family("g", "", prom::Type::gauge);
	CHECK_THROWS_WITH(t.sample("other", {}, 1.0),
	                  "prometheus: sample of \"other\" outside its family (\"g\" is open)");
	CHECK_THROWS_WITH(t.sample("g", {{"__x", "1"}}, 1.0),
	                  "prometheus: invalid label name \"__x\" on \"g\"");
	const std::array<double, 2> bounds{1, 2};
	const std::array<std::uint64_t, 3> counts{0, 0, 0};
	CHECK_THROWS_WITH(t.histogram("g", {}, bounds, counts, 0),
	                  "prometheus: \"g\" is not a histogram");
	t.family("h", "", prom::Type::histogram);
	CHECK_THROWS_WITH(t.histogram("h", {{"le", "1"}}, bounds, counts, 0),
	                  "prometheus: label \"le\" on the histogram \"h\"");
	const std::array<std::uint64_t, 2> short_counts{0, 0};
	CHECK_THROWS_WITH(t.histogram("h", {}, bounds, short_counts, 0),
	                  "prometheus: \"h\": one count a bucket and one above them all");
	const std::array<double, 2> down{2, 1};
	CHECK_THROWS_WITH(t.histogram("h", {}, down, counts, 0),
	                  "prometheus: \"h\": bucket bounds must ascend");
}
