// A TOML document with the tables under one top-level key cut out, found
// by a lexer of the little of TOML that says where a table starts: strings
// (the four kinds), comments, and the brackets of values that span lines.
// The configuration loader gives toml++ the text without [domains], which
// the TOML backend parses again from the same file: with 10,000 domains
// that was a third of a CGI request (bench/RESULTS.md).
//
// Exact only for text that toml++ parses; for text it refuses, what is cut
// may differ, and the loader parses the whole text wherever the error would
// otherwise go unreported.  The fuzz target config_fuzz checks that the two
// parses agree.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace mxd::toml_tables {

struct Cut {
	// The same lines, those of the cut tables left empty (their line breaks
	// kept), so that positions in the rest are the file's.
	std::string text;
	// The first cut header's position, 1-based; line 0 when nothing was cut.
	std::size_t line = 0;
	std::size_t column = 0;
};

// Cuts every table and array of tables whose header's first key is key
// (bare, or quoted without escapes), from its header to the next header.
// Keys at the top, before any header, are left: "key.a = 1" stays.
Cut without(std::string_view text, std::string_view key);

} // namespace mxd::toml_tables
