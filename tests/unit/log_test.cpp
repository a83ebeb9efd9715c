// log: the line format on fd 2 and the escaping of network values.
#include "core/log.hpp"

#include "support.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <thread>

#include <cerrno>
#include <string>
#include <string_view>
#include <unistd.h>

using mxd::test::capture_stderr;

TEST_CASE("log: one line per event, prefixed with program and component", "[log]")
{
	using mxd::log::Level;
	CHECK(capture_stderr([] { mxd::log::error("backend", "cannot open x.db"); }) ==
	      "mxdelegate: backend: error: cannot open x.db\n");
	CHECK(capture_stderr([] { mxd::log::warning("host", "bad Host"); }) ==
	      "mxdelegate: host: warning: bad Host\n");
	CHECK(capture_stderr([] { mxd::log::info("main", "started"); }) ==
	      "mxdelegate: main: started\n");
	CHECK(capture_stderr([] { mxd::log::write(Level::error, "c", ""); }) ==
	      "mxdelegate: c: error: \n");
	CHECK(capture_stderr([] { mxd::log::write(Level::info, "c", "m"); }) == "mxdelegate: c: m\n");
	CHECK(capture_stderr([] {
		      mxd::log::info("a", "one");
		      mxd::log::warning("b", "two");
	      }) == "mxdelegate: a: one\nmxdelegate: b: warning: two\n");
}

TEST_CASE("log: a message cannot forge a second line", "[log]")
{
	CHECK(capture_stderr([] { mxd::log::error("sqlite", "line one\nline two\r\n"); }) ==
	      "mxdelegate: sqlite: error: line one line two  \n");
	CHECK(capture_stderr([] { mxd::log::info("x\ny", "m"); }) == "mxdelegate: x y: m\n");
}

TEST_CASE("log: a long line is written whole", "[log]")
{
	const std::string big(3000, 'v');
	CHECK(capture_stderr([&] { mxd::log::info("c", big); }) == "mxdelegate: c: " + big + "\n");
}

TEST_CASE("log: errno survives logging", "[log]")
{
	int after = 0;
	capture_stderr([&] {
		errno = ENOENT;
		mxd::log::error("c", "m");
		after = errno;
	});
	CHECK(after == ENOENT);
	// Also when the write itself fails (fd 2 closed).
	const int saved = dup(STDERR_FILENO);
	REQUIRE(saved >= 0);
	close(STDERR_FILENO);
	errno = EACCES;
	mxd::log::error("c", "m");
	after = errno;
	dup2(saved, STDERR_FILENO);
	close(saved);
	CHECK(after == EACCES);
}

TEST_CASE("log::lines: each non-empty line a message of its own, prefixed", "[log]")
{
	using mxd::log::Level;
	CHECK(capture_stderr([] {
		      mxd::log::lines(Level::error, "main", "reload refused: ",
		                      "a.toml:3: bad\n\na.toml:4: worse\n");
	      }) == "mxdelegate: main: error: reload refused: a.toml:3: bad\n"
	            "mxdelegate: main: error: reload refused: a.toml:4: worse\n");
	CHECK(capture_stderr([] { mxd::log::lines(Level::error, "config", "", "one"); }) ==
	      "mxdelegate: config: error: one\n");
	CHECK(capture_stderr([] { mxd::log::lines(Level::error, "c", "h: ", ""); }).empty());
	CHECK(capture_stderr([] { mxd::log::lines(Level::error, "c", "h: ", "\n\n"); }).empty());
}

TEST_CASE("log::escape", "[log]")
{
	using mxd::log::escape;
	using namespace std::string_view_literals;
	CHECK(escape("") == "");
	CHECK(escape("example.org:443") == "example.org:443");
	CHECK(escape(" ~!#") == " ~!#");
	CHECK(escape("a\"b") == "a\\\"b");
	CHECK(escape("a\\b") == "a\\\\b");
	CHECK(escape("\r\n") == "\\x0d\\x0a");
	CHECK(escape("\t\x1b") == "\\x09\\x1b");
	CHECK(escape("\0"sv) == "\\x00");
	CHECK(escape("\x7f") == "\\x7f");
	CHECK(escape("ex\xc3\xa4mple") == "ex\\xc3\\xa4mple");
	CHECK(escape("\xff") == "\\xff");
}

TEST_CASE("log::escape: cut to max bytes of input", "[log]")
{
	using mxd::log::escape;
	CHECK(escape("abcdef", 3) == "abc...");
	CHECK(escape("abc", 3) == "abc");
	CHECK(escape("ab", 3) == "ab");
	CHECK(escape("a", 0) == "...");
	CHECK(escape("", 0) == "");
	CHECK(escape("\n\n\n\n", 2) == "\\x0a\\x0a...");
	CHECK(escape("\"\"\"", 2) == "\\\"\\\"...");
	CHECK(escape(std::string(256, 'a')) == std::string(256, 'a'));
	CHECK(escape(std::string(64 * 1024, 'a')) == std::string(256, 'a') + "...");
	const std::string escaped_nul = escape(std::string(300, '\0'));
	CHECK(escaped_nul.size() == 256 * 4 + 3);
	CHECK(escaped_nul.substr(0, 8) == "\\x00\\x00");
	CHECK(escaped_nul.substr(escaped_nul.size() - 7) == "\\x00...");
}

TEST_CASE("one_line escapes control bytes only", "[log]")
{
	CHECK(mxd::log::one_line("a\nb\tc\x7f") == "a\\x0ab\\x09c\\x7f");
	CHECK(mxd::log::one_line("\"B\xc3\xbc" "cher\" \\") == "\"B\xc3\xbc" "cher\" \\");
	CHECK(mxd::log::one_line("") == "");
}

TEST_CASE("one_line: each option alone", "[log]")
{
	using mxd::log::one_line;
	CHECK(one_line("\"\\\xc3\xbc\n", {.quotes = true}) == "\\\"\\\\\xc3\xbc\\x0a");
	CHECK(one_line("\"\\\xc3\xbc\n", {.non_ascii = true}) == "\"\\\\xc3\\xbc\\x0a");
	CHECK(one_line("abcdef", {.max = 4}) == "abcd...");
	CHECK(one_line("ab\n", {.max = 3}) == "ab\\x0a");
}

TEST_CASE("OncePerSecond: one event a second gets through", "[log]")
{
	mxd::log::OncePerSecond limit;
	const auto start = std::chrono::steady_clock::now();
	int allowed = 0;
	for (int i = 0; i < 10000; ++i)
		allowed += limit.allow();
	const auto took = std::chrono::steady_clock::now() - start;
	CHECK(allowed >= 1);
	CHECK(allowed <= 1 + std::chrono::duration_cast<std::chrono::seconds>(took).count());
}

TEST_CASE("OncePerSecond: a second since the last line, whatever the clock's second", "[log]")
{
	// The first event 0.1 s before the steady clock's next whole second, the
	// second 0.2 s later, past it: a limit by the clock's seconds took both.
	using namespace std::chrono;
	const auto since = steady_clock::now().time_since_epoch();
	const auto into = since - duration_cast<seconds>(since);
	std::this_thread::sleep_for(into < 900ms ? 900ms - into : 1900ms - into);
	mxd::log::OncePerSecond limit;
	const auto first = steady_clock::now();
	REQUIRE(limit.allow());
	std::this_thread::sleep_for(200ms);
	if (steady_clock::now() - first < 1s) // not when the machine stalled that long
		CHECK_FALSE(limit.allow());
	std::this_thread::sleep_for(810ms);
	CHECK(limit.allow());
}

TEST_CASE("log: one_line keeps valid UTF-8 when asked, and never cuts inside a character", "[log]")
{
	using mxd::log::one_line;
	// "ü" is c3 bc: kept, quotes and controls still escaped.
	CHECK(one_line("\"\xc3\xbc\n", {.quotes = true, .non_ascii = true, .keep_utf8 = true}) ==
	      "\\\"\xc3\xbc\\x0a");
	// Not valid UTF-8 (a lone c3): every non-ASCII byte escaped, as without keep_utf8.
	CHECK(one_line("a\xc3z\xc3\xbc", {.non_ascii = true, .keep_utf8 = true}) == "a\\xc3z\\xc3\\xbc");
	// A cut at 2 would split "ü" (bytes 1 and 2): it backs up to the character's start.
	CHECK(one_line("a\xc3\xbc" "b", {.non_ascii = true, .keep_utf8 = true, .max = 2}) == "a...");
	CHECK(one_line("a\xc3\xbc" "b", {.non_ascii = true, .max = 2}) == "a\\xc3...");
}

namespace {

// 2026-12-02T10:38:27.045Z
std::chrono::system_clock::time_point fixed_time()
{
	return std::chrono::system_clock::time_point(std::chrono::milliseconds(1796207907045LL));
}

} // namespace

TEST_CASE("log: a JSON line, exactly", "[log][json]")
{
	using mxd::log::Format;
	using mxd::log::Level;
	using mxd::log::format_line;
	CHECK(format_line(Format::json, Level::error, "mxdelegate", "backend", "cannot open x.db", {},
	                  fixed_time()) ==
	      R"({"time":"2026-12-02T10:38:27.045Z","level":"error","program":"mxdelegate",)"
	      R"("module":"backend","message":"cannot open x.db"})"
	      "\n");
	CHECK(format_line(Format::json, Level::warning, "mxdelegate-follow", "follow", "m",
	                  {{"domain", "example.org"}, {"status", 503}}, fixed_time()) ==
	      R"({"time":"2026-12-02T10:38:27.045Z","level":"warning","program":"mxdelegate-follow",)"
	      R"("module":"follow","message":"m","domain":"example.org","status":503})"
	      "\n");
	CHECK(format_line(Format::json, Level::info, "mxdelegate", "access", "",
	                  {{"method", "GET"}, {"bytes", 42LL}}, fixed_time()) ==
	      R"({"time":"2026-12-02T10:38:27.045Z","level":"info","program":"mxdelegate",)"
	      R"("module":"access","method":"GET","bytes":42})"
	      "\n");
}

TEST_CASE("log: a JSON line escapes hostile bytes and stays one line", "[log][json]")
{
	using mxd::log::Format;
	using mxd::log::Level;
	using mxd::log::format_line;
	using namespace std::string_view_literals;
	const std::string line =
		format_line(Format::json, Level::error, "mxdelegate", "c\nd", "line one\nline two\r\n\"q\"\\",
		            {{"domain", "a\x01\x1b\0b"sv}, {"peer", "\xff\xfe"}}, fixed_time());
	CHECK(line ==
	      R"({"time":"2026-12-02T10:38:27.045Z","level":"error","program":"mxdelegate",)"
	      R"("module":"c\nd","message":"line one\nline two\r\n\"q\"\\",)"
	      R"("domain":"a\u0001\u001b\u0000b","peer":")"
	      "\xef\xbf\xbd\xef\xbf\xbd" // bytes that are not UTF-8: U+FFFD each
	      "\"}\n");
	CHECK(line.find('\n') == line.size() - 1);
	// UTF-8 stays as written.
	CHECK(format_line(Format::json, Level::info, "p", "c", "B\xc3\xbc" "cher", {}, fixed_time())
	          .find("\"message\":\"B\xc3\xbc" "cher\"") != std::string::npos);
}

TEST_CASE("log: text lines leave fields to their message, but an access line is its fields",
          "[log]")
{
	using mxd::log::Format;
	using mxd::log::Level;
	using mxd::log::format_line;
	CHECK(format_line(Format::text, Level::error, "mxdelegate-follow", "backend", "gone",
	                  {{"domain", "example.org"}}, fixed_time()) ==
	      "mxdelegate: backend: error: gone\n");
	CHECK(format_line(Format::text, Level::info, "mxdelegate", "access", "",
	                  {{"method", "GET"}, {"host", "Ex ample\n"}, {"status", 200}, {"peer", ""}},
	                  fixed_time()) ==
	      "mxdelegate: access: method=GET host=\"Ex ample\\x0a\" status=200 peer=\"\"\n");
}

TEST_CASE("log: set_format turns write() to JSON; last_error keeps the last error", "[log][json]")
{
	using mxd::log::Format;
	mxd::log::set_format(Format::json);
	const std::string out = capture_stderr([] { mxd::log::error("backend", "a\nb", {{"status", 503}}); });
	mxd::log::set_format(Format::text);
	CHECK(out.find(R"("level":"error","program":"mxdelegate","module":"backend","message":"a\nb","status":503})"
	               "\n") != std::string::npos);
	CHECK(out.rfind("{\"time\":\"", 0) == 0);
	CHECK(mxd::log::last_error().find(" backend: a\nb") != std::string::npos);
	capture_stderr([] { mxd::log::info("x", "not an error"); });
	CHECK(mxd::log::last_error().find(" backend: a\nb") != std::string::npos);
	CHECK(capture_stderr([] { mxd::log::info("x", "text again"); }) == "mxdelegate: x: text again\n");
}
