// The SQL plugins' reader pool (src/plugin/reader_pool.hpp): connections
// lent and taken back, retired, and the back-off after a failure.
#include "plugin/reader_pool.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using mxd::plugin::Backoff;
using mxd::plugin::StatusError;

namespace {

struct Conn {
	int id;
	bool up = true;
	bool alive() const { return up; }
};

using Pool = mxd::plugin::ReaderPool<Conn>;

// Counts the connections opened; fails with `status` while it is set.
struct Opener {
	int opened = 0;
	int status = MXD_OK;
	std::unique_ptr<Conn> operator()()
	{
		opened++;
		if (status != MXD_OK)
			throw StatusError(status, "store away #" + std::to_string(opened));
		return std::make_unique<Conn>(Conn{opened});
	}
};

// The status and message acquire() throws, or MXD_OK.
std::pair<int, std::string> attempt(Pool &pool, Opener &open)
{
	try {
		pool.release(pool.acquire([&] { return open(); }));
	} catch (const StatusError &e) {
		return {e.status(), e.what()};
	}
	return {MXD_OK, ""};
}

} // namespace

TEST_CASE("reader pool: a connection is lent, taken back and lent again", "[reader_pool]")
{
	Pool pool(Backoff{100ms, 400ms});
	Opener open;
	auto a = pool.acquire([&] { return open(); });
	CHECK_FALSE(a.reused);
	auto b = pool.acquire([&] { return open(); }); // a is lent: a second one
	CHECK(open.opened == 2);
	Conn *first = a.conn.get();
	pool.release(std::move(a));
	pool.release(std::move(b));
	auto again = pool.acquire([&] { return open(); });
	CHECK(again.reused);
	CHECK(open.opened == 2);
	CHECK((again.conn.get() == first || again->id == 2));

	SECTION("a connection that died is not lent") {
		again->up = false;
		pool.release(std::move(again));
		auto other = pool.acquire([&] { return open(); });
		CHECK(other->up);
	}
	SECTION("retired connections are dropped, idle or lent") {
		pool.retire();
		pool.release(std::move(again)); // lent before the retirement: dropped
		auto fresh = pool.acquire([&] { return open(); });
		CHECK_FALSE(fresh.reused);
		CHECK(fresh->id == 3);
	}
}

TEST_CASE("reader pool: each_idle visits the idle connections, not the lent ones", "[reader_pool]")
{
	Pool pool(Backoff{100ms, 400ms});
	Opener open;
	auto a = pool.acquire([&] { return open(); });
	auto b = pool.acquire([&] { return open(); });
	auto c = pool.acquire([&] { return open(); });
	pool.release(std::move(a));
	pool.release(std::move(c));
	std::vector<int> seen;
	pool.each_idle([&](Conn &conn) { seen.push_back(conn.id); });
	std::sort(seen.begin(), seen.end());
	CHECK(seen == std::vector<int>{1, 3});
	// f works on the pooled connections themselves: marked dead through
	// it, 3 and 1 are dropped, and a new one is opened.
	pool.each_idle([](Conn &conn) { conn.up = false; });
	auto next = pool.acquire([&] { return open(); });
	CHECK_FALSE(next.reused);
	CHECK(next->id == 4);
	pool.release(std::move(b)); // never idle, never visited: lent again
	auto again = pool.acquire([&] { return open(); });
	CHECK(again.reused);
	CHECK(again->id == 2);
}

TEST_CASE("reader pool: after a failure, lookups fail fast until the back-off passes",
          "[reader_pool]")
{
	Pool pool(Backoff{100ms, 400ms});
	Opener open;
	open.status = MXD_NO_STORE;
	CHECK(attempt(pool, open) == std::pair<int, std::string>{MXD_NO_STORE, "store away #1"});
	// Within the back-off: the same failure, and nobody tries.
	CHECK(attempt(pool, open) == std::pair<int, std::string>{MXD_NO_STORE, "store away #1"});
	CHECK(open.opened == 1);

	std::this_thread::sleep_for(120ms);
	CHECK(attempt(pool, open).second == "store away #2");
	// Two failures in a row: the wait doubled to 200 ms.
	std::this_thread::sleep_for(120ms);
	CHECK(attempt(pool, open).second == "store away #2");
	CHECK(open.opened == 2);
	std::this_thread::sleep_for(120ms);
	CHECK(attempt(pool, open).second == "store away #3");

	// Back: a connection opens, and the wait starts from the first again.
	open.status = MXD_OK;
	std::this_thread::sleep_for(420ms);
	CHECK(attempt(pool, open).first == MXD_OK);
	open.status = MXD_ERROR;
	pool.retire();
	CHECK(attempt(pool, open).second == "store away #5");
	std::this_thread::sleep_for(120ms);
	CHECK(attempt(pool, open).second == "store away #6");
}

TEST_CASE("reader pool: one lookup tries after the back-off, the others keep failing fast",
          "[reader_pool]")
{
	Pool pool(Backoff{50ms, 50ms});
	Opener open;
	open.status = MXD_ERROR;
	CHECK(attempt(pool, open).first == MXD_ERROR);
	std::this_thread::sleep_for(70ms);
	int inner_opened = -1;
	std::pair<int, std::string> inner;
	auto outer = pool.acquire([&] {
		// While this one connects, another lookup does not.
		inner = attempt(pool, open);
		inner_opened = open.opened;
		open.status = MXD_OK;
		return open();
	});
	CHECK(inner == std::pair<int, std::string>{MXD_ERROR, "store away #1"});
	CHECK(inner_opened == 1);
	CHECK(outer->id == 2);
	// It worked: nobody waits any longer.
	open.status = MXD_OK;
	CHECK(attempt(pool, open).first == MXD_OK);
}

TEST_CASE("reader pool: a busy store starts no back-off", "[reader_pool]")
{
	Pool pool(Backoff{10s, 10s});
	Opener open;
	open.status = MXD_BUSY;
	CHECK(attempt(pool, open).first == MXD_BUSY);
	pool.failed(MXD_BUSY, "locked");
	open.status = MXD_OK;
	CHECK(attempt(pool, open).first == MXD_OK);
	// A failure noted from a query, as a plugin does: it counts.
	pool.retire();
	pool.failed(MXD_ERROR, "query failed");
	CHECK(attempt(pool, open) == std::pair<int, std::string>{MXD_ERROR, "query failed"});
	pool.recovered();
	CHECK(attempt(pool, open).first == MXD_OK);
}
