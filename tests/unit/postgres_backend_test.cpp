// The PostgreSQL backend, loaded through the plugin loader as the responder
// loads it, without a server: its configuration, what its messages show of
// a connection string (never a password), and how it behaves while the
// server is away (open succeeds, lookups fail fast, generation reports it).
// Everything that needs a running server is in tests/e2e/test_postgres.py.
#include "service/backend.hpp"

#include "support.hpp"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <string>

using nlohmann::json;
using mxd::Backend;
using mxd::BackendError;

using mxd::test::error_of;

namespace {

const std::shared_ptr<const mxd::Plugin> &plugin()
{
	static const auto loaded = mxd::Plugin::load(mxd::test::plugin_dir() + "/postgres.so");
	return loaded;
}

std::shared_ptr<Backend> open(json config)
{
	return Backend::open(plugin(), config);
}

// A loopback port nobody listens on (bound, then released).
int closed_port()
{
	const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
	REQUIRE(fd >= 0);
	sockaddr_in a{};
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof a;
	REQUIRE(::bind(fd, reinterpret_cast<sockaddr *>(&a), sizeof a) == 0);
	REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr *>(&a), &len) == 0);
	::close(fd);
	return ntohs(a.sin_port);
}

const std::string password = "Pw-never-shown-7f3";

} // namespace

TEST_CASE("postgres: the configuration is checked", "[postgres]")
{
	CHECK_THAT(error_of([] { open(json::object()); }),
	           Catch::Contains("postgres: [backend] conninfo: missing; a libpq connection string"));
	CHECK_THAT(error_of([] { open({{"conninfo", "dbname=x"}, {"colour", "red"}}); }),
	           Catch::Contains("postgres: unknown key in [backend]: colour (known: conninfo, timeout)"));
	CHECK(error_of([] { open({{"conninfo", "dbname=x"}, {"timeout", 0}}); }) ==
	      "postgres: [backend] timeout: must be an integer number of milliseconds from 1 to 60000");
	CHECK_THAT(error_of([] { open({{"conninfo", 5}}); }),
	           Catch::Contains("postgres: [backend] conninfo: must be a string"));
	CHECK_THAT(error_of([] { open({{"conninfo", "dbname=x"}, {"access", "all"}}); }),
	           Catch::Contains("postgres: access: \"all\" is not read, write or create"));
}

TEST_CASE("postgres: a connection string libpq refuses is named, its password never",
          "[postgres]")
{
	CHECK_THAT(error_of([] { open({{"conninfo", "host=db colour=red"}}); }),
	           Catch::Contains("postgres: [backend] conninfo: not a libpq connection string "
	                           "(invalid connection option \"colour\")"));
	for (const std::string &conninfo :
	     {"host=db password=" + password + " colour=red", "host=db password=" + password + " junk",
	      "postgresql://u:" + password + "@db/x?colour=red"}) {
		const std::string e = error_of([&] { open({{"conninfo", conninfo}}); });
		INFO(e);
		CHECK_THAT(e, Catch::Contains("not a libpq connection string (libpq's reason is not "
		                              "shown, since the string holds a password)"));
		CHECK(e.find(password) == std::string::npos);
	}
}

TEST_CASE("postgres: a server that is away: open works, lookups fail fast, generation says so",
          "[postgres]")
{
	const int port = closed_port();
	const std::string conninfo = "host=127.0.0.1 port=" + std::to_string(port) +
	                             " dbname=mx user=reader password=" + password;
	const std::string target =
		"postgres: host=127.0.0.1 port=" + std::to_string(port) + " dbname=mx user=reader: ";
	auto b = open({{"conninfo", conninfo}});
	// The first call comes as the responder starts: no reason to fail it.
	CHECK_NOTHROW(b->generation());

	const std::string first = error_of([&] { (void)b->lookup("example.org"); });
	CHECK_THAT(first, Catch::StartsWith(target));
	CHECK_THAT(first, Catch::Contains("Connection refused"));
	CHECK(first.find(password) == std::string::npos);

	// Within the backoff the next lookups answer at once, with the same.
	const auto t0 = std::chrono::steady_clock::now();
	for (int i = 0; i < 100; i++)
		CHECK(error_of([&] { (void)b->lookup("example.org"); }) == first);
	CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(200));

	const std::string gen = error_of([&] { (void)b->generation(); });
	CHECK_THAT(gen, Catch::StartsWith(target));
	CHECK(gen.find(password) == std::string::npos);
	CHECK(error_of([&] { (void)b->generation(); }) == gen);
}

TEST_CASE("postgres: the admin tool's open fails with the server named", "[postgres]")
{
	const int port = closed_port();
	BackendError::Kind kind{};
	const std::string e = error_of(
		[&] {
			open({{"conninfo", "host=127.0.0.1,127.0.0.2 port=" + std::to_string(port) +
			                       " dbname=mx password=" + password},
			      {"access", "write"}});
		},
		&kind);
	// A server that cannot be reached is an outage to wait out: exit 75.
	CHECK(kind == BackendError::Kind::busy);
	CHECK_THAT(e, Catch::StartsWith("postgres: host=127.0.0.1,127.0.0.2 port=" +
	                                std::to_string(port) + " dbname=mx: "));
	CHECK(e.find(password) == std::string::npos);
}
