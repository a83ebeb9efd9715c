// Logging: one line an event on stderr (the web server's error log), each
// prefixed with the program and the component, or one JSON object a line
// ([log] format = "json").  Never stdout: in CGI mode that is the response.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <initializer_list>
#include <string>
#include <string_view>

namespace mxd::log {

enum class Level { error = 3, warning = 4, info = 6 };

enum class Format { text, json };

// Set once at start by each program (and again at a reload), read by every
// line: an atomic, so that workers logging meanwhile see one or the other.
void set_format(Format f);
Format format();
// The "program" of a JSON line ("mxdelegate", "mxdelegate-follow").  Text
// lines keep "mxdelegate:" for every program, as they always have.  Call
// before any thread logs; the text must outlive the program (a literal).
void set_program(const char *name);

// A fact of an event that log shippers index: a JSON line carries it as a
// key of its own; a text line does not repeat it (its message says it),
// except in an access line, made of fields alone.
struct Field {
	Field(std::string_view k, std::string_view v) : key(k), text(v) {}
	Field(std::string_view k, const char *v) : key(k), text(v) {}
	Field(std::string_view k, const std::string &v) : key(k), text(v) {}
	Field(std::string_view k, long long v) : key(k), number(v), is_number(true) {}
	Field(std::string_view k, int v) : Field(k, static_cast<long long>(v)) {}
	std::string_view key;
	std::string_view text;
	long long number = 0;
	bool is_number = false;
};
using Fields = std::initializer_list<Field>;

// The line write() sends, pure: `time` is written into JSON lines only.
std::string format_line(Format f, Level level, std::string_view program,
                        std::string_view component, std::string_view message, Fields fields,
                        std::chrono::system_clock::time_point time);

// The last error line's message (with its component and UTC time), or ""
// before the first: what systemd's STATUS= shows.  Thread-safe.
std::string last_error();

// The per-request access line ([log] access = true): fields only, never
// rate-limited (it is one line a request by choice), level info.
void access(Fields fields);

// One line a second at most, for events a client or a broken store can
// repeat at will: a flood of them must not flood the log.  Thread-safe.
class OncePerSecond {
public:
	bool allow();

private:
	std::atomic<long long> last_{0};
};

void write(Level level, std::string_view component, std::string_view message, Fields fields = {});
inline void error(std::string_view c, std::string_view m, Fields f = {}) { write(Level::error, c, m, f); }
inline void warning(std::string_view c, std::string_view m, Fields f = {}) { write(Level::warning, c, m, f); }
inline void info(std::string_view c, std::string_view m, Fields f = {}) { write(Level::info, c, m, f); }

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
