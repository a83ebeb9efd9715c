// status_http: the request head read, the answer made HTTP, refusals (the
// listener itself, hostile clients included: tests/e2e/test_metrics.py).
#include "mxdelegate/status_http.hpp"

#include <catch2/catch.hpp>

#include <string>

using namespace mxd;
using status_http::Head;
using status_http::Page;

namespace {

Head parse(const std::string &s, std::size_t limit = status_http::head_limit)
{
	return status_http::parse_head(s, limit);
}

} // namespace

TEST_CASE("status_http::parse_head: more is needed until the blank line", "[status_http]")
{
	CHECK(parse("").kind == Head::Kind::need);
	CHECK(parse("GET /metrics HTTP/1.1\r\nHost: x\r\n").kind == Head::Kind::need);
	CHECK(parse("GET /metr").kind == Head::Kind::need);
}

TEST_CASE("status_http::parse_head: the two pages, GET and HEAD", "[status_http]")
{
	Head h = parse("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:9188\r\nAccept: */*\r\n\r\n");
	CHECK(h.kind == Head::Kind::answer);
	CHECK(h.page == Page::metrics);
	CHECK_FALSE(h.head);
	h = parse("HEAD /health HTTP/1.0\r\n\r\n");
	CHECK(h.kind == Head::Kind::answer);
	CHECK(h.page == Page::health);
	CHECK(h.head);
	// A query is ignored; bare line feeds are read too.
	CHECK(parse("GET /metrics?x=1 HTTP/1.1\n\n").kind == Head::Kind::answer);
}

TEST_CASE("status_http::parse_head: refusals", "[status_http]")
{
	auto status = [](const std::string &s, std::size_t limit = status_http::head_limit) {
		const Head h = parse(s, limit);
		return h.kind == Head::Kind::refuse ? h.status : 0;
	};
	CHECK(status("POST /metrics HTTP/1.1\r\n\r\n") == 405);
	CHECK(status("GET /other HTTP/1.1\r\n\r\n") == 404);
	CHECK(status("GET /metrics/ HTTP/1.1\r\n\r\n") == 404);
	CHECK(status("GET /metrics HTTP/2.0\r\n\r\n") == 505);
	CHECK(status("GET /metrics SPDY\r\n\r\n") == 400);
	CHECK(status("GET /metrics\r\n\r\n") == 400);
	CHECK(status("GET  /metrics HTTP/1.1\r\n\r\n") == 400);
	CHECK(status("GET /metrics HTTP/1.1 x\r\n\r\n") == 400);
	// Past the limit with no end in sight, or an end past it.
	CHECK(status(std::string(101, 'a'), 100) == 431);
	CHECK(status(std::string(100, 'a'), 100) == 0);
	CHECK(status("GET /metrics HTTP/1.1\r\nX: " + std::string(200, 'a') + "\r\n\r\n", 100) == 431);
}

TEST_CASE("status_http::to_http and refusal", "[status_http]")
{
	CHECK(status_http::to_http("Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok") ==
	      "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok");
	CHECK_THAT(status_http::to_http("garbage"), Catch::StartsWith("HTTP/1.1 500 Internal Server Error\r\n"));
	CHECK(status_http::refusal(431) ==
	      "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: text/plain; charset=utf-8\r\n"
	      "Content-Length: 36\r\nConnection: close\r\n\r\n431 Request Header Fields Too Large\n");
	CHECK_THAT(status_http::refusal(405), Catch::Contains("\r\nAllow: GET, HEAD\r\n"));
}
