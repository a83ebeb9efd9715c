#include "core/response.hpp"

#include <catch2/catch.hpp>

using mxd::Response;
using mxd::reason_phrase;
using mxd::serialize;

TEST_CASE("Response::header finds a header whatever its case", "[response]")
{
	Response r;
	r.headers = {{"Content-Type", "application/json"}, {"ETag", "\"1\""}, {"etag", "\"2\""}};
	REQUIRE(r.header("Content-Type") != nullptr);
	CHECK(*r.header("Content-Type") == "application/json");
	REQUIRE(r.header("content-type") != nullptr);
	CHECK(*r.header("content-type") == "application/json");
	REQUIRE(r.header("CONTENT-TYPE") != nullptr);
	CHECK(r.header("CONTENT-TYPE") == &r.headers[0].second);
	// The first of two equal names wins, as the list is in order.
	REQUIRE(r.header("ETAG") != nullptr);
	CHECK(*r.header("ETAG") == "\"1\"");
}

TEST_CASE("Response::header returns null for a missing or partial name", "[response]")
{
	Response r;
	CHECK(r.header("ETag") == nullptr);
	r.headers = {{"Content-Type", "application/json"}};
	CHECK(r.header("Content") == nullptr);
	CHECK(r.header("Content-Type2") == nullptr);
	CHECK(r.header("") == nullptr);
	// Only ASCII letters fold: '-' (0x2d) must not equal '\r' (0x0d).
	CHECK(r.header("Content\rType") == nullptr);
}

TEST_CASE("reason_phrase knows the statuses mxdelegate sends", "[response]")
{
	CHECK(reason_phrase(200) == "OK");
	CHECK(reason_phrase(204) == "No Content");
	CHECK(reason_phrase(304) == "Not Modified");
	CHECK(reason_phrase(400) == "Bad Request");
	CHECK(reason_phrase(403) == "Forbidden");
	CHECK(reason_phrase(404) == "Not Found");
	CHECK(reason_phrase(405) == "Method Not Allowed");
	CHECK(reason_phrase(500) == "Internal Server Error");
	CHECK(reason_phrase(503) == "Service Unavailable");
}

TEST_CASE("reason_phrase falls back to the status class", "[response]")
{
	CHECK(reason_phrase(201) == "Success");
	CHECK(reason_phrase(302) == "Found");
	CHECK(reason_phrase(303) == "Redirection");
	CHECK(reason_phrase(418) == "Client Error");
	CHECK(reason_phrase(502) == "Server Error");
	CHECK(reason_phrase(0) == "Unknown");
	CHECK(reason_phrase(-1) == "Unknown");
	CHECK(reason_phrase(999) == "Unknown");
}

TEST_CASE("serialize writes status, headers, length and body", "[response]")
{
	Response r;
	r.status = 200;
	r.headers = {{"Content-Type", "application/json"}, {"ETag", "\"abc\""}};
	r.body = "{\"m.server\":\"matrix.example.org:443\"}";
	CHECK(serialize(r, true) == "Status: 200 OK\r\n"
	                            "Content-Type: application/json\r\n"
	                            "ETag: \"abc\"\r\n"
	                            "Content-Length: 37\r\n"
	                            "\r\n"
	                            "{\"m.server\":\"matrix.example.org:443\"}");
}

TEST_CASE("serialize for HEAD keeps the length but drops the body", "[response]")
{
	Response r;
	r.status = 404;
	r.headers = {{"Content-Type", "application/json"}};
	r.body = "{\"errcode\":\"M_NOT_FOUND\"}";
	CHECK(serialize(r, false) == "Status: 404 Not Found\r\n"
	                             "Content-Type: application/json\r\n"
	                             "Content-Length: 25\r\n"
	                             "\r\n");
}

TEST_CASE("serialize leaves out Content-Length and body for 204 and 304", "[response]")
{
	Response r;
	r.headers = {{"A", "b"}};
	r.body = "must not appear";
	r.status = 204;
	CHECK(serialize(r, true) == "Status: 204 No Content\r\nA: b\r\n\r\n");
	CHECK(serialize(r, false) == "Status: 204 No Content\r\nA: b\r\n\r\n");
	r.status = 304;
	CHECK(serialize(r, true) == "Status: 304 Not Modified\r\nA: b\r\n\r\n");
}

TEST_CASE("serialize of an empty 200 says Content-Length: 0", "[response]")
{
	Response r;
	CHECK(serialize(r, true) == "Status: 200 OK\r\nContent-Length: 0\r\n\r\n");
}

TEST_CASE("serialize keeps binary bodies and unusual statuses intact", "[response]")
{
	Response r;
	r.status = 418;
	r.body = std::string("a\0b\r\n", 5);
	const std::string out = serialize(r, true);
	CHECK(out == "Status: 418 Client Error\r\nContent-Length: 5\r\n\r\n" + r.body);
}

TEST_CASE("serialize handles a large body in one buffer", "[response]")
{
	Response r;
	r.body.assign(100000, 'x');
	const std::string out = serialize(r, true);
	const std::string head = "Status: 200 OK\r\nContent-Length: 100000\r\n\r\n";
	REQUIRE(out.size() == head.size() + 100000);
	CHECK(out.compare(0, head.size(), head) == 0);
	CHECK(out.substr(head.size()) == r.body);
}
