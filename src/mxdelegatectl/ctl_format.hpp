// mxdelegatectl's file formats: import from TOML ([domains."..."] tables, as
// the TOML backend reads them) or JSON lines (one record a line, the shape
// "show" prints), and export to either, so that export | import gives back
// the same export.
#pragma once

#include "core/domains_toml.hpp"

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace mxd::ctl {

// What import reads, from either format: the [domains] reader's own types.
using Entry = domains_toml::Entry;
using Read = domains_toml::Read;

// Reads an import file, TOML or JSON lines: a file whose first character
// other than white space is "{" is JSON lines.  Every record is validated
// (ctl::problems, with `defaults`); every problem is reported, in file order.
Read read_import(std::string_view text, const std::string &file,
                   const nlohmann::json &defaults);
Read read_toml(std::string_view text, const std::string &file, const nlohmann::json &defaults);
Read read_jsonl(std::string_view text, const std::string &file, const nlohmann::json &defaults);

// One JSON line, without the newline: {"domain":"example.org",...record}.
// The domain comes first, the record's keys follow in sorted order.
std::string json_line(std::string_view domain, const nlohmann::json &record);

// One [domains."..."] table and a blank line.  Fields come in the order of
// record::stored_fields (server, client, client_extra, support,
// policy_server, max_age, note), then any other key; nested values are
// inline tables and arrays, one field a line.
// Throws DataError for a value TOML cannot hold (null, an integer beyond
// 64 bits), naming the domain and the field.
std::string toml_table(std::string_view domain, const nlohmann::json &record);

} // namespace mxd::ctl
