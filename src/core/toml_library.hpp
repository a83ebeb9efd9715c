// toml++ as mxdelegate builds it.  Every file includes it through here,
// never <toml++/toml.h> itself, so that all of them see one configuration:
// - the definitions are compiled once, in toml_library.cpp, rather than
//   linked from libtomlplusplus.so.3 (why: HACKING.md, "Libraries, and why
//   each");
// - toml++'s assertions are off, as in the library Debian ships.  toml++
//   3.3's parser asserts what it goes on to check and report: a table name
//   that starts with a character no key starts with ("[$a]") aborted the
//   process where the shipped library says "expected bare key starting
//   character or string delimiter" with its position.  The fuzz target
//   config found it (tests/fuzz/regressions/config/table-name-bad-start.toml).
#pragma once

#define TOML_HEADER_ONLY 0
#define TOML_ASSERT(expr) static_cast<void>(0)
#include <toml++/toml.h>
