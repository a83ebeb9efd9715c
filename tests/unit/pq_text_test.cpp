// libpq's text as the PostgreSQL plugin and the follower show it
// (src/plugin/pq_text.hpp); shown_conninfo's cases are conninfo_test's.
#include "plugin/pq_text.hpp"

#include <catch2/catch.hpp>

using mxd::plugin::pq_message;

TEST_CASE("libpq's messages become one line", "[pq_text]")
{
	CHECK(pq_message("connection to server failed: refused\n\tIs the server running?\n") ==
	      "connection to server failed: refused Is the server running?");
	CHECK(pq_message("one\n\ntwo\n") == "one two");
	CHECK(pq_message(nullptr) == "unknown error");
	CHECK(pq_message("\n") == "unknown error");
	CHECK(pq_message("a\x01" "b") == "a\\x01b");
}
