// The primary's connection string as the follower shows it
// (src/follow/conninfo.cpp): in the log, the status file and the copy's
// write guard, never with its password.
#include "follow/conninfo.hpp"

#include <catch2/catch.hpp>

using mxd::follow::shown_conninfo;

TEST_CASE("the shown conninfo keeps host, port, dbname, user and nothing else", "[conninfo]")
{
	CHECK(shown_conninfo("host=db1 port=5432 dbname=mx user=mx password=s3cret sslmode=require") ==
	      "host=db1 port=5432 dbname=mx user=mx");
	CHECK(shown_conninfo("dbname=mx host=db1,db2 password='with space'") == "host=db1,db2 dbname=mx");
	CHECK(shown_conninfo("postgresql://mx:s3cret@db1:5433/mxdb") == "host=db1 port=5433 dbname=mxdb user=mx");
	CHECK(shown_conninfo("hostaddr=10.0.0.1 dbname=mx") == "hostaddr=10.0.0.1 dbname=mx");
	CHECK(shown_conninfo("dbname=mx") == "host=(libpq default) dbname=mx");
	CHECK(shown_conninfo("service=mxdelegate") == "host=(libpq default) service=mxdelegate");
}

TEST_CASE("a conninfo libpq cannot parse is refused without quoting it", "[conninfo]")
{
	try {
		shown_conninfo("host=db1 password='s3cret");
		FAIL("accepted");
	} catch (const mxd::follow::ConninfoError &e) {
		CHECK(std::string(e.what()) == "[follow] conninfo: not a libpq connection string");
	}
	CHECK_THROWS_AS(shown_conninfo("colour=blue"), mxd::follow::ConninfoError);
}
