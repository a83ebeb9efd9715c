// fcgi_frame: the rules a request's records must follow before a worker
// (and libfcgi) sees them, and the answers to management records.
#include "core/fcgi_frame.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace fr = mxd::fcgi_frame;
using Bytes = std::vector<std::uint8_t>;
using Kind = fr::Verdict::Kind;

namespace {

Bytes record(int type, int id, const std::string &content, int padding = -1)
{
	if (padding < 0)
		padding = static_cast<int>((8 - content.size() % 8) % 8);
	std::string r{1,
	              static_cast<char>(type),
	              static_cast<char>(id >> 8),
	              static_cast<char>(id & 0xff),
	              static_cast<char>(content.size() >> 8),
	              static_cast<char>(content.size() & 0xff),
	              static_cast<char>(padding),
	              0};
	r += content;
	r.append(static_cast<std::size_t>(padding), '\0');
	return Bytes(r.begin(), r.end());
}

std::string pair(const std::string &name, const std::string &value)
{
	std::string s;
	for (std::size_t n : {name.size(), value.size()}) {
		if (n < 128) {
			s.push_back(static_cast<char>(n));
		} else {
			s.push_back(static_cast<char>(0x80 | (n >> 24)));
			s.push_back(static_cast<char>(n >> 16 & 0xff));
			s.push_back(static_cast<char>(n >> 8 & 0xff));
			s.push_back(static_cast<char>(n & 0xff));
		}
	}
	return s + name + value;
}

std::string begin_body(int role, bool keep)
{
	return std::string{static_cast<char>(role >> 8), static_cast<char>(role & 0xff),
	                   static_cast<char>(keep ? 1 : 0), 0, 0, 0, 0, 0};
}

Bytes operator+(Bytes a, const Bytes &b)
{
	a.insert(a.end(), b.begin(), b.end());
	return a;
}

Bytes get_request(bool keep = false, int id = 1)
{
	return record(fr::begin_request, id, begin_body(1, keep)) +
	       record(fr::params, id, pair("HTTP_HOST", "example.org") + pair("REQUEST_METHOD", "GET")) +
	       record(fr::params, id, "") + record(fr::stdin_stream, id, "");
}

fr::Verdict scan(const Bytes &b, fr::Progress &p, fr::Limits l = {})
{
	return fr::scan(b, p, l);
}

fr::Verdict scan(const Bytes &b, fr::Limits l = {})
{
	fr::Progress p;
	return fr::scan(b, p, l);
}

} // namespace

TEST_CASE("fcgi_frame: a GET is whole at its empty STDIN record", "[fcgi_frame]")
{
	const Bytes req = get_request(true);
	const fr::Verdict v = scan(req);
	CHECK(v.kind == Kind::whole);
	CHECK(v.bytes == req.size());
	CHECK(v.stdin_ended);
}

TEST_CASE("fcgi_frame: every prefix of a request asks for more, and resumes", "[fcgi_frame]")
{
	const Bytes req = get_request();
	fr::Progress p;
	for (std::size_t n = 0; n < req.size(); ++n) {
		const Bytes part(req.begin(), req.begin() + static_cast<long>(n));
		const fr::Verdict v = scan(part, p);
		REQUIRE(v.kind == Kind::need);
		CHECK(v.bytes > n);
		CHECK(v.bytes <= req.size());
	}
	const fr::Verdict v = scan(req, p);
	CHECK(v.kind == Kind::whole);
	CHECK_FALSE(p.keep);
}

TEST_CASE("fcgi_frame: a body goes to the worker at its first STDIN header", "[fcgi_frame]")
{
	const Bytes head = record(fr::begin_request, 1, begin_body(1, true)) +
	                   record(fr::params, 1, pair("REQUEST_METHOD", "POST")) + record(fr::params, 1, "");
	const fr::Verdict v = scan(head + record(fr::stdin_stream, 1, "a body"));
	CHECK(v.kind == Kind::whole);
	CHECK(v.bytes == head.size());
	CHECK_FALSE(v.stdin_ended);
}

TEST_CASE("fcgi_frame: a pair may span PARAMS records", "[fcgi_frame]")
{
	const std::string p = pair("HTTP_COOKIE", std::string(300, 'c'));
	const Bytes req = record(fr::begin_request, 1, begin_body(1, false)) +
	                  record(fr::params, 1, p.substr(0, 7)) + record(fr::params, 1, p.substr(7)) +
	                  record(fr::params, 1, "") + record(fr::stdin_stream, 1, "");
	CHECK(scan(req).kind == Kind::whole);
}

TEST_CASE("fcgi_frame: broken rules", "[fcgi_frame]")
{
	auto rule = [](const Bytes &b, fr::Limits l = {}) {
		const fr::Verdict v = scan(b, l);
		REQUIRE(v.kind == Kind::broken);
		return v.rule;
	};
	Bytes bad_version = get_request();
	bad_version[0] = 2;
	CHECK(rule(bad_version) == fr::Rule::version);
	CHECK(rule(record(fr::params, 1, "")) == fr::Rule::no_begin);
	CHECK(rule(record(fr::begin_request, 0, begin_body(1, false))) == fr::Rule::null_id);
	CHECK(rule(record(fr::params, 0, "")) == fr::Rule::null_id);
	CHECK(rule(record(fr::begin_request, 1, "1234")) == fr::Rule::begin_length);
	CHECK(rule(record(fr::begin_request, 1, begin_body(7, false))) == fr::Rule::role);
	CHECK(rule(record(fr::begin_request, 1, begin_body(0, false))) == fr::Rule::role);
	const Bytes begin = record(fr::begin_request, 1, begin_body(1, false));
	CHECK(rule(begin + record(fr::params, 2, "")) == fr::Rule::request_id);
	CHECK(rule(begin + record(fr::get_values, 0, "")) == fr::Rule::management);
	CHECK(rule(begin + record(fr::begin_request, 1, begin_body(1, false))) == fr::Rule::record_type);
	CHECK(rule(begin + record(fr::stdin_stream, 1, "")) == fr::Rule::record_type);
	CHECK(rule(begin + record(fr::params, 1, "") + record(fr::abort_request, 1, "")) ==
	      fr::Rule::record_type);

	// CVE-2025-23016: lengths that overrun the stream never reach libfcgi.
	std::string lying = pair("A", "b");
	lying[1] = static_cast<char>(0xff); // a value of 2^31 - 1 bytes, announced
	lying.insert(2, "\xff\xff\xff");
	CHECK(rule(begin + record(fr::params, 1, lying) + record(fr::params, 1, "") +
	           record(fr::stdin_stream, 1, "")) == fr::Rule::params_pairs);
	CHECK(rule(begin + record(fr::params, 1, "\x05") + record(fr::params, 1, "") +
	           record(fr::stdin_stream, 1, "")) == fr::Rule::params_pairs);
}

TEST_CASE("fcgi_frame: parameters over the limit are refused from the header", "[fcgi_frame]")
{
	fr::Limits small{4096};
	const Bytes begin = record(fr::begin_request, 1, begin_body(1, false));
	Bytes req = begin;
	const std::string big = pair("HTTP_X", std::string(1000, 'x'));
	for (int i = 0; i < 4; ++i)
		req = req + record(fr::params, 1, big);
	CHECK(scan(req, small).kind == Kind::need);
	// Refused as the fifth record's header announces it, before its body.
	Bytes fifth = record(fr::params, 1, big);
	fifth.resize(fr::header_size);
	const fr::Verdict v = scan(req + fifth, small);
	REQUIRE(v.kind == Kind::broken);
	CHECK(v.rule == fr::Rule::params_bytes);
	CHECK(fr::window(small) >= 4096 + 16);
}

TEST_CASE("fcgi_frame: management records are answered once a name", "[fcgi_frame]")
{
	std::string ask;
	for (int i = 0; i < 100; ++i)
		ask += pair("FCGI_MAX_CONNS", "") + pair("FCGI_MPXS_CONNS", "") + pair("FCGI_UNKNOWN", "");
	const Bytes rec = record(fr::get_values, 0, ask);
	const fr::Verdict v = scan(rec + get_request());
	REQUIRE(v.kind == Kind::management);
	CHECK(v.bytes == rec.size());

	const auto answer = fr::answer_management(rec, fr::Values{4096, 4096});
	REQUIRE(answer);
	const std::string expect = pair("FCGI_MAX_CONNS", "4096") + pair("FCGI_MPXS_CONNS", "0");
	const Bytes want = record(fr::get_values_result, 0, expect);
	CHECK(*answer == std::string(want.begin(), want.end()));

	const auto unknown = fr::answer_management(record(42, 0, "xyz"), fr::Values{});
	REQUIRE(unknown);
	const Bytes u = record(fr::unknown_type, 0, std::string{42, 0, 0, 0, 0, 0, 0, 0});
	CHECK(*unknown == std::string(u.begin(), u.end()));

	CHECK_FALSE(fr::answer_management(record(fr::get_values, 0, "\x0e"), fr::Values{}));
}

TEST_CASE("fcgi_frame: pairs_well_formed", "[fcgi_frame]")
{
	auto ok = [](const std::string &s) {
		return fr::pairs_well_formed({reinterpret_cast<const std::uint8_t *>(s.data()), s.size()});
	};
	CHECK(ok(""));
	CHECK(ok(pair("A", "")));
	CHECK(ok(pair(std::string(200, 'n'), std::string(70000, 'v'))));
	CHECK_FALSE(ok(pair("AB", "c").substr(0, 4)));
	CHECK_FALSE(ok(std::string("\x80\x00", 2)));
}
