// mxdelegatectl's command line: what was asked, checked for its syntax only.
// Whether a domain, a URL or a JSON value is good is for ctl_fields and
// record to say.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

namespace mxd::ctl {

// sysexits(3), as the manual page documents them.
namespace exit_code {
inline constexpr int ok = 0;
inline constexpr int problems = 1;     // check found problems; query got no 200
inline constexpr int usage = 64;       // EX_USAGE
inline constexpr int data = 65;        // EX_DATAERR: bad domain, URL, JSON, record
inline constexpr int no_input = 66;    // EX_NOINPUT: import file or database missing
inline constexpr int unavailable = 69; // EX_UNAVAILABLE: the backend is read-only
inline constexpr int software = 70;    // EX_SOFTWARE: a bug
inline constexpr int cant_create = 73; // EX_CANTCREAT: init could not create the store
inline constexpr int io = 74;          // EX_IOERR: the store failed
inline constexpr int temporary = 75;   // EX_TEMPFAIL: the store stayed locked
inline constexpr int config = 78;      // EX_CONFIG: configuration or plugin unusable
} // namespace exit_code

// A command line that does not parse: exit 64.
class UsageError : public std::runtime_error {
public:
	using std::runtime_error::runtime_error;
};

enum class Command { init, add, set, remove, show, list, import, export_, check, query, help, version };

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
	Command command = Command::help;
	std::string command_name;
	std::vector<std::string> operands; // domains, the import file, the document
	std::vector<Field> fields;         // add and set
	bool json = false;                 // list --json
	std::string match;                 // list --match
	bool dry_run = false;              // import --dry-run
	bool replace = false;              // import --replace
	std::string format = "toml";       // export --format
};

// Parses argv (argv[0] is the program).  Options before the command are
// global (-c, --db, --plugin-dir, -h, -V); those after it belong to the
// command.  "--opt=value" and "--opt value" are both accepted; "--" ends
// the options.  Throws UsageError naming the argument.
Options parse_args(int argc, const char *const *argv);

// The usage text, for --help and after a usage error.
const char *usage_text();

} // namespace mxd::ctl
