// follow_status: the follower's status file read back as written, refused
// with the path and field when it is not, the lag told as people read it, and
// the lock seen from another process without being taken.
#include "service/follow_status.hpp"

#include "support.hpp"

#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <string>

namespace fs = mxd::follow_status;

namespace {

fs::Status sample()
{
	fs::Status s;
	s.primary = "host=db1 dbname=mx";
	s.store_id = "5d3c";
	s.seq = 1234;
	s.state = fs::State::connecting;
	s.since = 1796193600; // 2026-12-02T06:40:00Z
	s.in_step = 1796193590;
	s.error = "PostgreSQL unreachable: connection refused";
	s.pid = 42;
	s.renderings_taken = 7;
	s.renderings_made = 3;
	return s;
}

std::string refusal(const std::string &text)
{
	try {
		fs::parse(text, "/x/domain.db.follow");
		return "parsed";
	} catch (const fs::Error &e) {
		return e.what();
	}
}

} // namespace

TEST_CASE("follow_status: times are UTC ISO 8601 and nothing else", "[follow_status]")
{
	CHECK(fs::format_time(1796193600) == "2026-12-02T06:40:00Z");
	CHECK(fs::parse_time("2026-12-02T06:40:00Z") == 1796193600);
	CHECK_FALSE(fs::parse_time("2026-12-02 06:40:00Z"));
	CHECK_FALSE(fs::parse_time("2026-12-02T06:40:00"));
	CHECK_FALSE(fs::parse_time("2026-12-02T06:40:00Zx"));
	CHECK_FALSE(fs::parse_time(""));
}

TEST_CASE("follow_status: the file's text reads back as written", "[follow_status]")
{
	const fs::Status s = sample();
	const fs::Status back = fs::parse(fs::format(s), "x");
	CHECK(back.primary == s.primary);
	CHECK(back.store_id == s.store_id);
	CHECK(back.seq == s.seq);
	CHECK(back.state == s.state);
	CHECK(back.since == s.since);
	CHECK(back.in_step == s.in_step);
	CHECK(back.error == s.error);
	CHECK(back.pid == s.pid);
	CHECK(back.renderings_taken == 7);
	CHECK(back.renderings_made == 3);

	// A file of a follower from before the counts reads, with none.
	auto older = nlohmann::json::parse(fs::format(s));
	older.erase("renderings_taken");
	older.erase("renderings_made");
	const fs::Status old = fs::parse(older.dump(), "x");
	CHECK(old.renderings_taken == 0);
	CHECK(old.renderings_made == 0);
	older["renderings_taken"] = "many";
	CHECK_THROWS_WITH(fs::parse(older.dump(), "/x/d.follow"),
	                  "/x/d.follow: \"renderings_taken\" is not an integer");

	fs::Status never = s;
	never.in_step.reset();
	CHECK_FALSE(fs::parse(fs::format(never), "x").in_step);
}

TEST_CASE("follow_status: a broken file is refused with its path and field", "[follow_status]")
{
	CHECK(refusal("[]") == "/x/domain.db.follow: not a JSON object");
	CHECK(refusal("{\"primary\": ") == "/x/domain.db.follow: not a JSON object");
	std::string text = fs::format(sample());
	CHECK(refusal(std::string(text).replace(text.find("\"seq\":1234"), 10, "\"seq\":\"1\"")) ==
	      "/x/domain.db.follow: \"seq\" is not an integer");
	CHECK(refusal(std::string(text).replace(text.find("connecting"), 10, "asleep")) ==
	      "/x/domain.db.follow: \"state\" is \"asleep\", not one of following, connecting, copying, stopped");
	CHECK(refusal(std::string(text).replace(text.find("2026-12-02T06:40:00Z"), 20, "yesterday")) ==
	      "/x/domain.db.follow: \"since\" is not a UTC time like 2026-12-02T06:00:00Z");
	CHECK(refusal("{\"primary\": \"p\"}") == "/x/domain.db.follow: \"store_id\" is missing");
}

TEST_CASE("follow_status: the lag as people read it", "[follow_status]")
{
	fs::Status s = sample();
	const std::time_t now = s.since + 50;

	s.state = fs::State::following;
	CHECK(fs::lag(s, true, now) == 0);
	CHECK(fs::describe(s, true, now) == "in step (change 1234)");

	s.state = fs::State::connecting;
	CHECK(fs::lag(s, true, now) == 60);
	CHECK(fs::describe(s, true, now) ==
	      "60 s behind (connecting since 2026-12-02T06:40:00Z: PostgreSQL unreachable: connection refused)");

	// A follower killed while following left "following" behind: without
	// the lock, the file's state says nothing about now.
	s.state = fs::State::following;
	CHECK(fs::lag(s, false, s.since + 3 * 3600) == 3 * 3600 + 10);
	CHECK(fs::describe(s, false, s.since + 3 * 3600) ==
	      "no follower running; last in step 2026-12-02T06:39:50Z, 3 h ago");

	s.in_step.reset();
	CHECK_FALSE(fs::lag(s, false, now));
	CHECK(fs::describe(s, false, now) == "no follower running; the copy was never in step");
	s.state = fs::State::copying;
	s.error.clear();
	CHECK(fs::describe(s, true, now) == "never in step yet (copying since 2026-12-02T06:40:00Z)");
}

TEST_CASE("follow_status: written whole, read back, absent is no error", "[follow_status]")
{
	mxd::test::TempDir dir;
	const std::string copy = dir.path() + "/domain.db";
	CHECK_FALSE(fs::read(copy));
	fs::write(copy, sample());
	const auto back = fs::read(copy);
	REQUIRE(back);
	CHECK(back->seq == 1234);
	CHECK_FALSE(std::filesystem::exists(fs::status_path(copy) + ".tmp"));
	CHECK((std::filesystem::status(fs::status_path(copy)).permissions() & std::filesystem::perms::others_read) !=
	      std::filesystem::perms::none);

	std::ofstream(fs::status_path(copy)) << "{";
	CHECK_THROWS_WITH(fs::read(copy), copy + ".follow: not a JSON object");
	CHECK_THROWS_WITH(fs::write(dir.path() + "/gone/domain.db", sample()),
	                  dir.path() + "/gone/domain.db.follow.tmp: No such file or directory");
}

TEST_CASE("follow_status: the lock is seen from another process, and dropped with it", "[follow_status]")
{
	mxd::test::TempDir dir;
	const std::string copy = dir.path() + "/domain.db";
	CHECK_FALSE(fs::running(copy));

	int ready[2], release[2];
	REQUIRE(::pipe(ready) == 0);
	REQUIRE(::pipe(release) == 0);
	const pid_t child = ::fork();
	REQUIRE(child >= 0);
	if (child == 0) {
		auto lock = fs::Lock::take(copy);
		char c = lock ? 'y' : 'n';
		(void)!::write(ready[1], &c, 1);
		(void)!::read(release[0], &c, 1);
		::_exit(0);
	}
	char c = 0;
	REQUIRE(::read(ready[0], &c, 1) == 1);
	CHECK(c == 'y');

	pid_t holder = 0;
	CHECK(fs::running(copy, &holder));
	CHECK(holder == child);
	holder = 0;
	CHECK_FALSE(fs::Lock::take(copy, &holder));
	CHECK(holder == child);

	::kill(child, SIGKILL);
	::waitpid(child, nullptr, 0);
	CHECK_FALSE(fs::running(copy));
	CHECK(fs::Lock::take(copy));
	for (int fd : {ready[0], ready[1], release[0], release[1]})
		::close(fd);
}
