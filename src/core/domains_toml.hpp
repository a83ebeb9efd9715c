// The [domains] tables of a TOML file as records by canonical key: the one
// reader of that format, used by the TOML backend to serve the file and by
// mxdelegatectl to import it, so that import reads a file exactly as the
// backend does.  Pure: text and file name in, records and problems out.
#pragma once

#include <nlohmann/json.hpp>

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace mxd::domains_toml {

// What may stand beside [domains] at the top of the file.
enum class Beside {
	// The tables of a configuration file ([backend], [defaults], [http],
	// [server]): the file is the configuration itself, or a copy of it.
	configuration,
	// Nothing: a file of its own holds [domains] only.
	nothing,
};

// Also what mxdelegatectl's import reads from JSON lines.
struct Entry {
	std::string domain; // canonical key
	// The record as compact JSON text, without "domain": an import holds a
	// million of them at once, and a JSON tree costs several times the text.
	std::string record;
	std::string where;  // "file:line:column" of its key ("file:line" for a JSON line)
};

struct Read {
	std::vector<Entry> entries;        // in file order; only when problems is empty
	std::vector<std::string> problems; // "file:line:column: domain: field: message", in file order
};

// A further check of a valid record, for what only one reader knows (the
// admin tool's [defaults]): its problems, "key: field: message", are reported
// at the record's key.
using Check = std::function<std::vector<std::string>(const nlohmann::json &record,
                                                     const std::string &key)>;

// Reads and validates every record.  A record may hold "domain" when it names
// its own table (an export of JSON lines turned into TOML by hand); it is
// dropped.  Every problem is reported, not only the first.
Read read(std::string_view text, const std::string &file, Beside beside,
          const Check &check = nullptr);

} // namespace mxd::domains_toml
