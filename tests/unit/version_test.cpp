// version: the one place the programs' version is compiled in.  make check
// builds from the tree, where it must be debian/changelog's first entry, so
// that the Makefile's default and the packages (debian/rules passes the
// changelog's version) never print different versions.
#include "core/version.hpp"

#include <catch2/catch.hpp>

#include <fstream>
#include <string>

TEST_CASE("version: debian/changelog's first entry, as the Makefile reads it", "[version]")
{
	// The unit tests run from the tree's root (tests/run).
	std::ifstream f("debian/changelog");
	REQUIRE(f);
	std::string first;
	std::getline(f, first);
	const auto open = first.find(" (");
	const auto close = first.find(')', open);
	REQUIRE(first.rfind("mxdelegate (", 0) == 0);
	REQUIRE(close != std::string::npos);
	CHECK(std::string(mxd::version) == first.substr(open + 2, close - open - 2));
}
