#include "core/lazy_library.hpp"

#include <catch2/catch.hpp>

#include <cstring>
#include <stdexcept>
#include <string>

using mxd::LazyLibrary;

namespace {

std::string error_of(LazyLibrary &lib, const char *name)
{
	try {
		lib.symbol(name);
	} catch (const std::runtime_error &e) {
		return e.what();
	}
	return "";
}

} // namespace

TEST_CASE("a library is opened on the first symbol asked for, and found")
{
	LazyLibrary lib("libidn2.so.0");
	using Fn = const char *(*)(int);
	const auto strerror = lib.function<Fn>("idn2_strerror");
	REQUIRE(strerror != nullptr);
	CHECK(std::strlen(strerror(0)) > 0);
	// The same handle: a second symbol does not open it again.
	CHECK(lib.symbol("idn2_free") != nullptr);
}

TEST_CASE("a library that is not there names itself, every time it is asked")
{
	LazyLibrary lib("libmxd-no-such-library.so.7");
	const std::string first = error_of(lib, "anything");
	CHECK(first.starts_with("libmxd-no-such-library.so.7: cannot be loaded: "));
	CHECK(error_of(lib, "other") == first);
}

TEST_CASE("a symbol the library lacks names the library and the symbol")
{
	LazyLibrary lib("libidn2.so.0");
	const std::string e = error_of(lib, "idn2_no_such_function");
	CHECK(e.starts_with("libidn2.so.0: no idn2_no_such_function: "));
}
