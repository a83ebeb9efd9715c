// mxdelegatectl's command line: what was asked, checked for its syntax only.
// Whether a domain, a URL or a JSON value is good is for ctl_fields and
// record to say.
#pragma once

#include <sysexits.h>

#include <stdexcept>
#include <string>
#include <vector>

namespace mxd::ctl {

// The manual page's exit codes: sysexits(3)'s values from <sysexits.h>, named
// for what they mean to this program.
namespace exit_code {
inline constexpr int ok = 0;
inline constexpr int problems = 1;              // check found problems; query got no 200;
                                                // status: no follower, the copy behind, the
                                                // responder unreachable or troubled;
                                                // probe: a document not ok
inline constexpr int warnings = 2;              // check --strict found warnings only
inline constexpr int usage = EX_USAGE;          // 64
inline constexpr int data = EX_DATAERR;         // 65: bad domain, URL, JSON, record
inline constexpr int no_input = EX_NOINPUT;     // 66: import file or database missing
inline constexpr int unavailable = EX_UNAVAILABLE; // 69: the backend is read-only; no follower
                                                   // or probe program
inline constexpr int software = EX_SOFTWARE;    // 70: a bug
inline constexpr int cant_create = EX_CANTCREAT; // 73: init could not create the store
inline constexpr int io = EX_IOERR;             // 74: the store failed
inline constexpr int temporary = EX_TEMPFAIL;   // 75: the store stayed locked, or is away
inline constexpr int config = EX_CONFIG;        // 78: configuration or plugin unusable
} // namespace exit_code

// A command line that does not parse: exit 64.
class UsageError : public std::runtime_error {
public:
	using std::runtime_error::runtime_error;
};

enum class Command {
	init, add, set, remove, show, list, import, export_, check, query, move, status, follow, probe,
	render, help, version
};

// One field option, in the order given: {"server", "matrix.example.org"},
// {"unset", "client"}, {"extra", "org.example.key={...}"}.
struct Field {
	std::string option; // without the leading "--"
	std::string value;
};

struct Options {
	std::string config;     // -c; empty: the default path
	std::string db;         // --db; empty: use the configuration
	std::string plugin_dir; // --plugin-dir; empty: configuration or default
	bool primary = false;   // --primary: reads go to [follow]'s primary, not the copy
	Command command = Command::help;
	std::string command_name;
	std::vector<std::string> operands; // domains, the import file, the document; follow's
	                                   // arguments, handed to the follower untouched
	std::vector<Field> fields;         // add and set
	bool json = false;                 // list --json
	std::string match;                 // list --match
	bool dry_run = false;              // import --dry-run
	bool replace = false;              // import --replace
	bool strict = false;               // check --strict
	std::string at;                    // move --at
	std::string low = "300";           // move --low: Synapse's floor
	std::string format = "toml";       // export --format
	std::vector<std::string> probe_args; // probe's options but --wildcard-sample, as
	                                   // "--name=value", for mxdelegate-probe to read
	std::size_t wildcard_sample = 0;   // probe --wildcard-sample
};

// Parses argv (argv[0] is the program).  Options before the command are
// global (-c, --db, --plugin-dir, --primary, -h, -V); those after it belong
// to the command, except for follow, whose are the follower's.  "--opt=value" and "--opt value" are both accepted; "--" ends
// the options.  Throws UsageError naming the argument.
Options parse_args(int argc, const char *const *argv);

// The usage text, for --help and after a usage error.
const char *usage_text();

} // namespace mxd::ctl
