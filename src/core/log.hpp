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

// A message of several lines (a configuration's problems, one a line): each
// non-empty line a message of its own, after `head`, so that every line
// carries the prefix and says what it is about when the lines of several
// processes interleave in the web server's log.
void lines(Level level, std::string_view component, std::string_view head, std::string_view text);

// Text made safe for a one-line message: control bytes become \xNN, so
// that a value can never forge a second line.  By default UTF-8 and quotes
// stay as written (text from a file: a key, a value); the options serve
// values from the network.
struct Escape {
	bool quotes = false;    // backslash and '"' get a backslash
	bool non_ascii = false; // bytes from 0x80 become \xNN too
	// With non_ascii: text that is valid UTF-8 keeps its characters (a
	// person's text), and a cut never splits one.
	bool keep_utf8 = false;
	std::size_t max = std::string_view::npos; // bytes of input kept; "..." marks a cut
};
std::string one_line(std::string_view text, Escape how = {});

// A value from the network made safe for a log line: one_line with every
// option, cut to at most max bytes of input.
inline std::string escape(std::string_view value, std::size_t max = 256)
{
	return one_line(value, {.quotes = true, .non_ascii = true, .max = max});
}

} // namespace mxd::log
