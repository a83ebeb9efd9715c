// TOML documents as JSON values, with the source positions needed to report
// a problem as "file:line:column".  Shared by the configuration loader and
// the TOML backend so both report positions the same way.
#pragma once

#include "core/record.hpp"
#include "core/toml_library.hpp"

#include <nlohmann/json.hpp>

#include <string>

namespace mxd::toml_json {

// Converts a TOML value to JSON: tables to objects (key order kept as toml++
// iterates), arrays to arrays, strings, integers, floats and booleans as such.
// Dates and times have no JSON form: they throw std::invalid_argument naming
// the position.
nlohmann::json to_json(const toml::node &node);

// The node that `path` reaches from `root`, or the deepest ancestor that
// exists, so a problem is pinned to the nearest place the reader can see.
const toml::node &locate(const toml::node &root, const record::Path &path);

// "file:line:column" of a node (the file as toml++ recorded it).
std::string where(const toml::node &node);
std::string where(const toml::source_region &region);

} // namespace mxd::toml_json
