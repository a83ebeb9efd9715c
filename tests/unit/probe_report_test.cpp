// The probe's rows and summary (src/probe/probe_report.cpp), exactly as the
// manual page shows them.
#include "probe/probe_report.hpp"

#include <catch2/catch.hpp>

using namespace mxd::probe;

TEST_CASE("report: table rows in fixed columns, the detail last", "[probe_report]")
{
	CHECK(table_header() == "DOMAIN                       DOCUMENT      CODE                  DETAIL\n");
	Row r{"example.org", "server", "https://example.org/.well-known/matrix/server", "ok", "", "", ""};
	CHECK(table_row(r) == "example.org                  server        ok\n");
	r.code = "mismatch";
	r.detail = "m.server: want \"a\", got \"b\"";
	CHECK(table_row(r) == "example.org                  server        mismatch              m.server: want \"a\", got \"b\"\n");
	r.conclusion = "FAIL";
	r.conclusion_why = "m.server b: timeout";
	CHECK(table_row(r).ends_with("got \"b\"; federation: FAIL (m.server b: timeout)\n"));
	Row c{"a-very-long-domain-name.example.org", "client", "", "ok", "", "ok", ""};
	CHECK(table_row(c) == "a-very-long-domain-name.example.org client        ok                    client: ok\n");
}

TEST_CASE("report: JSON lines carry only what there is", "[probe_report]")
{
	Row r{"example.org", "client", "https://example.org/.well-known/matrix/client", "ok", "", "", ""};
	CHECK(json_row(r) == R"({"code":"ok","document":"client","domain":"example.org","url":"https://example.org/.well-known/matrix/client"})"
	                     "\n");
	r.code = "not-routed";
	r.detail = "404";
	r.conclusion = "IGNORE";
	r.conclusion_why = "404";
	CHECK(json_row(r) == R"({"code":"not-routed","conclusion":"IGNORE","conclusion_detail":"404","detail":"404","document":"client","domain":"example.org","url":"https://example.org/.well-known/matrix/client"})"
	                     "\n");
}

TEST_CASE("report: the summary counts codes, ok first, and conclusions", "[probe_report]")
{
	Tally t;
	CHECK(t.table() == "summary: 0 documents of 0 domains\n");
	t.domain();
	t.add({"a.example", "server", "", "ok", "", "", ""});
	t.add({"a.example", "client", "", "tls", "x", "", ""});
	t.domain();
	t.add({"b.example", "server", "", "mismatch", "x", "", ""});
	t.add({"b.example", "client", "", "no-cors", "x", "", ""});
	t.add({"b.example", "support", "", "ok", "", "", ""});
	CHECK(t.table() == "summary: 5 documents of 2 domains: 2 ok, 1 mismatch, 1 no-cors, 1 tls\n");
	CHECK_FALSE(t.all_ok());
	CHECK(t.not_ok() == 3);
	CHECK(t.json() == R"({"summary":{"codes":{"mismatch":1,"no-cors":1,"ok":2,"tls":1},"documents":5,"domains":2,"not_ok":3}})"
	                  "\n");
	Tally f;
	f.domain();
	f.add({"a.example", "server", "", "ok", "", "ok", ""});
	f.add({"a.example", "client", "", "ok", "", "FAIL_ERROR", "x"});
	CHECK(f.table() == "summary: 2 documents of 1 domain: 2 ok\nsummary: client: 1 FAIL_ERROR\n"
	                   "summary: federation: 1 ok\n");
	// A conclusion that is not ok fails the run even when the code is ok.
	CHECK_FALSE(f.all_ok());
}
