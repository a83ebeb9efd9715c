#include "core/answer.hpp"

#include "core/render.hpp"

#include <catch2/catch.hpp>

using namespace mxd;
using nlohmann::json;

namespace {

Answer document_answer(unsigned max_age = 14400)
{
	render::Policy p;
	p.max_age = max_age;
	return make_answer(render::document(json{{"server", "m.example.org:443"}}, Document::server,
	                                    "example.org", p));
}

} // namespace

TEST_CASE("make_answer: one serialisation, HEAD a prefix, headers located", "[answer]")
{
	const Response r = render::document(json{{"server", "m.example.org:443"}}, Document::server,
	                                    "example.org", {});
	const Answer a = make_answer(r);
	CHECK(a.status == 200);
	CHECK(a.wire() == serialize(r, true));
	CHECK(a.wire(true) == serialize(r, false));
	// The status line and the common headers are the shared lead, not the
	// answer's own bytes.
	CHECK(a.lead == lead_of(200));
	CHECK(a.lead.data() == lead_of(200).data());
	CHECK(a.lead.starts_with("Status: 200 OK\r\nContent-Type: application/json\r\n"));
	CHECK(a.lead.ends_with("Access-Control-Allow-Headers: X-Requested-With, Content-Type, "
	                       "Authorization\r\n"));
	CHECK(a.rest.starts_with("Cache-Control: "));
	CHECK(a.etag() == *r.header("ETag"));
	CHECK(a.cache_control() == "public, max-age=14400");

	const Answer e = make_answer(render::error(503, "M_UNAVAILABLE", "down", {}));
	CHECK(e.etag().empty()); // validators only on documents
	CHECK(e.cache_control() == "no-store");
	const Answer p = make_answer(render::preflight());
	CHECK(p.bytes(true) == p.rest); // no body
	CHECK(p.wire() == serialize(render::preflight(), true));
	CHECK(p.rest == "\r\n");
}

TEST_CASE("not_modified: the 304 render makes, from the answer's bytes", "[answer]")
{
	const Response r = render::document(json{{"client", "https://m.example.org"}},
	                                    Document::client, "example.org", {});
	CHECK(not_modified(make_answer(r)) == serialize(render::not_modified(r), false));
}

TEST_CASE("stale: Cache-Control lowered to the stale lifetime, nothing else", "[answer]")
{
	const Answer a = document_answer();
	const std::string s = stale(a, a.wire(), 30);
	CHECK(s.find("Cache-Control: public, max-age=30\r\n") != std::string::npos);
	CHECK(s.find("max-age=14400") == std::string::npos);
	std::string expect = a.wire();
	expect.replace(expect.find("public, max-age=14400"), 21, "public, max-age=30");
	CHECK(s == expect);

	// HEAD's bytes and the 304 are lowered the same way.
	CHECK(stale(a, a.wire(true), 30) == expect.substr(0, expect.find("\r\n\r\n") + 4));
	// And the part after the lead, which a worker writes after it.
	CHECK(std::string(a.lead) + stale(a, a.bytes(false), 30) == expect);
	CHECK(std::string(a.lead) + stale(a, a.bytes(true), 30) ==
	      expect.substr(0, expect.find("\r\n\r\n") + 4));
	const std::string nm = stale(a, not_modified(a), 30);
	CHECK(nm.rfind("Status: 304", 0) == 0);
	CHECK(nm.find("Cache-Control: public, max-age=30\r\n") != std::string::npos);

	// A shorter lifetime of the record's own is kept; no-store stays.
	const Answer brief = document_answer(10);
	CHECK(stale(brief, brief.wire(), 30) == brief.wire());
	const Answer e = make_answer(render::error(500, "M_UNKNOWN", "broken", {}));
	CHECK(stale(e, e.wire(), 30) == e.wire());
}

TEST_CASE("make_answer: a redirect has its ETag located, so it gets 304s", "[answer]")
{
	for (int status : {301, 302, 307, 308}) {
		const Response r = render::document(
			{{"redirect", "https://example.net"}, {"redirect_status", status}}, Document::client,
			"example.org", {});
		const Answer a = make_answer(r);
		CHECK(a.etag() == *r.header("ETag"));
		const std::string nm = not_modified(a);
		CHECK(nm.rfind("Status: 304 Not Modified\r\n", 0) == 0);
		CHECK(nm.find("ETag: " + *r.header("ETag")) != std::string::npos);
		CHECK(nm.find("Location") == std::string::npos);
	}
}

TEST_CASE("make_answer: a response in another order keeps its whole form", "[answer]")
{
	Response r;
	r.status = 200;
	r.headers.emplace_back("Content-Type", "text/plain");
	r.body = "x";
	const Answer a = make_answer(r);
	CHECK(a.lead.empty());
	CHECK(a.rest == serialize(r, true));
	CHECK(a.wire(true) == serialize(r, false));
	// Every status has its lead, each a line and the four headers.
	for (int status : {200, 204, 301, 302, 304, 307, 308, 400, 403, 404, 405, 500, 503}) {
		const Answer e = make_answer(render::error(status, "M_X", "x", {}));
		CHECK(e.lead == lead_of(status));
		CHECK(e.wire() == serialize(render::error(status, "M_X", "x", {}), true));
	}
}
