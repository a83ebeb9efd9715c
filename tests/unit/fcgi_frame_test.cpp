// fcgi_frame: the rules a request's records must follow before a worker
// sees them, the worker's reading of them and its answer's records, and the
// answers to management records.
#include "core/fcgi_frame.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
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

namespace {

using Pairs = std::vector<std::pair<std::string, std::string>>;

void collect(std::string_view name, std::string_view value, void *ctx)
{
	static_cast<Pairs *>(ctx)->emplace_back(name, value);
}

std::optional<fr::Begin> read(const Bytes &b, Pairs &pairs)
{
	std::string scratch;
	pairs.clear();
	return fr::read_request(b, scratch, &collect, &pairs);
}

// The records of an answer, read back: STDOUT's content joined, and
// whether the empty STDOUT and a complete END_REQUEST close it.
struct Answer {
	std::string out;
	bool stdout_ended = false, ended = false;
	std::size_t records = 0;
};

Answer read_answer(const std::string &w, int id)
{
	Answer a;
	std::size_t at = 0;
	while (at + 8 <= w.size()) {
		const auto *p = reinterpret_cast<const unsigned char *>(w.data() + at);
		REQUIRE(p[0] == 1);
		REQUIRE((p[2] << 8 | p[3]) == id);
		const std::size_t content = static_cast<std::size_t>(p[4] << 8 | p[5]), padding = p[6];
		REQUIRE((content + padding) % 8 == 0);
		REQUIRE(at + 8 + content + padding <= w.size());
		REQUIRE_FALSE(a.ended);
		++a.records;
		if (p[1] == fr::stdout_stream) {
			REQUIRE_FALSE(a.stdout_ended);
			if (content == 0)
				a.stdout_ended = true;
			a.out.append(w, at + 8, content);
		} else {
			REQUIRE(p[1] == fr::end_request);
			REQUIRE(a.stdout_ended);
			REQUIRE(content == 8);
			CHECK(w.substr(at + 8, 8) == std::string(8, '\0'));
			a.ended = true;
		}
		at += 8 + content + padding;
	}
	CHECK(at == w.size());
	return a;
}

} // namespace

TEST_CASE("fcgi_frame: read_request gives BEGIN_REQUEST and every pair in order", "[fcgi_frame]")
{
	Pairs pairs;
	const auto b = read(get_request(true, 258), pairs);
	REQUIRE(b);
	CHECK(b->id == 258);
	CHECK(b->role == 1);
	CHECK(b->keep);
	CHECK(pairs == Pairs{{"HTTP_HOST", "example.org"}, {"REQUEST_METHOD", "GET"}});

	// Without its STDIN end (a body follows, unread), and as an authorizer.
	const Bytes head = record(fr::begin_request, 3, begin_body(2, false)) +
	                   record(fr::params, 3, pair("A", "1") + pair("A", "2") + pair("", "")) +
	                   record(fr::params, 3, "");
	const auto h = read(head, pairs);
	REQUIRE(h);
	CHECK(h->role == 2);
	CHECK_FALSE(h->keep);
	CHECK(pairs == Pairs{{"A", "1"}, {"A", "2"}, {"", ""}});

	// No parameters at all.
	const Bytes none = record(fr::begin_request, 1, begin_body(3, false)) + record(fr::params, 1, "") +
	                   record(fr::stdin_stream, 1, "");
	REQUIRE(read(none, pairs));
	CHECK(pairs.empty());
}

TEST_CASE("fcgi_frame: read_request joins a stream that spans records", "[fcgi_frame]")
{
	const std::string big(70000, 'v'); // a four-byte length, and more than one record
	const std::string stream = pair("HTTP_HOST", "example.org") + pair("HTTP_COOKIE", big) +
	                           pair("REQUEST_URI", "/.well-known/matrix/client");
	Bytes req = record(fr::begin_request, 1, begin_body(1, false));
	for (std::size_t at = 0; at < stream.size(); at += 5000)
		req = req + record(fr::params, 1, stream.substr(at, 5000), 3);
	req = req + record(fr::params, 1, "") + record(fr::stdin_stream, 1, "");
	Pairs pairs;
	REQUIRE(read(req, pairs));
	CHECK(pairs == Pairs{{"HTTP_HOST", "example.org"}, {"HTTP_COOKIE", big},
	                     {"REQUEST_URI", "/.well-known/matrix/client"}});
}

TEST_CASE("fcgi_frame: read_request refuses anything but a whole request", "[fcgi_frame]")
{
	Pairs pairs;
	const Bytes good = get_request();
	for (std::size_t n = 0; n < good.size(); ++n) {
		// Every cut but the one after PARAMS' end (a request with a body).
		const Bytes part(good.begin(), good.begin() + static_cast<long>(n));
		if (n == good.size() - 8)
			CHECK(read(part, pairs));
		else
			CHECK_FALSE(read(part, pairs));
	}
	const Bytes begin = record(fr::begin_request, 1, begin_body(1, false));
	const Bytes params = record(fr::params, 1, pair("HTTP_HOST", "a")) + record(fr::params, 1, "");
	const Bytes end = record(fr::stdin_stream, 1, "");
	CHECK_FALSE(read(good + record(fr::stdin_stream, 1, ""), pairs)); // something after it
	CHECK_FALSE(read(begin + params + record(fr::stdin_stream, 1, "body"), pairs));
	CHECK_FALSE(read(begin + params + record(fr::stdin_stream, 2, ""), pairs));
	CHECK_FALSE(read(begin + record(fr::params, 2, pair("A", "1")) + record(fr::params, 2, "") + end, pairs));
	CHECK_FALSE(read(begin + record(fr::stdin_stream, 1, "") + params + end, pairs));
	CHECK_FALSE(read(record(fr::begin_request, 0, begin_body(1, false)) + params + end, pairs));
	CHECK_FALSE(read(record(fr::begin_request, 1, begin_body(4, false)) + params + end, pairs));
	CHECK_FALSE(read(record(fr::begin_request, 1, begin_body(0, false)) + params + end, pairs));
	CHECK_FALSE(read(record(fr::begin_request, 1, begin_body(1, false) + "x") + params + end, pairs));
	CHECK_FALSE(read(record(fr::params, 1, "") + params + end, pairs));
	Bytes version = good;
	version[0] = 2;
	CHECK_FALSE(read(version, pairs));
	// A pair whose lengths overrun the stream, or end inside a length.
	CHECK_FALSE(read(begin + record(fr::params, 1, std::string("\x05\x01" "ab", 4)) +
	                     record(fr::params, 1, "") + end, pairs));
	CHECK_FALSE(read(begin + record(fr::params, 1, std::string("\x80\x00", 2)) +
	                     record(fr::params, 1, "") + end, pairs));
}

TEST_CASE("fcgi_frame: append_reply writes STDOUT records, their end and END_REQUEST", "[fcgi_frame]")
{
	for (const std::size_t size : {std::size_t{0}, std::size_t{1}, std::size_t{7}, std::size_t{8},
	                               std::size_t{65527}, std::size_t{65528}, std::size_t{65529},
	                               std::size_t{65535}, std::size_t{65536}, std::size_t{200000}}) {
		std::string lead(size / 3, 'L'), rest(size - size / 3, 'r');
		for (std::size_t i = 0; i < rest.size(); i++)
			rest[i] = static_cast<char>('a' + i % 26);
		const std::string_view parts[] = {lead, std::string_view(), rest}; // an empty part with no data()
		std::string w = "kept";
		fr::append_reply(w, 0x1234, parts);
		REQUIRE(w.substr(0, 4) == "kept");
		const Answer a = read_answer(w.substr(4), 0x1234);
		CHECK(a.out == lead + rest);
		CHECK(a.stdout_ended);
		CHECK(a.ended);
		CHECK(a.records == (size + 65527) / 65528 + 2);
	}
}
