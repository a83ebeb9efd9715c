// Logging: one line an event on stderr (the web server's error log), each
// prefixed with the program and the component.  Never stdout: in CGI mode
// that is the response.
#pragma once

#include <atomic>
#include <cstddef>
#include <string>
#include <string_view>

namespace mxd::log {

enum class Level { error = 3, warning = 4, info = 6 };

// One line a second at most, for events a client or a broken store can
// repeat at will: a flood of them must not flood the log.  Thread-safe.
class OncePerSecond {
public:
	bool allow();

private:
	std::atomic<long long> last_{0};
};

void write(Level level, std::string_view component, std::string_view message);
inline void error(std::string_view c, std::string_view m) { write(Level::error, c, m); }
inline void warning(std::string_view c, std::string_view m) { write(Level::warning, c, m); }
inline void info(std::string_view c, std::string_view m) { write(Level::info, c, m); }

// A message of several lines (a configuration's problems, one a line) on
// stderr as written, without the prefix, each non-empty line once.
void lines(std::string_view text);

// A value from the network made safe for a log line: bytes outside printable
// ASCII become \xNN, backslash and quote are escaped, and the result is cut
// to at most max bytes of input (with "..." appended when cut).
std::string escape(std::string_view value, std::size_t max = 256);

// Text from a file (a key, a value) made safe for a one-line message: only
// control bytes become \xNN, so UTF-8 and quotes stay as written.
std::string one_line(std::string_view text);

} // namespace mxd::log
