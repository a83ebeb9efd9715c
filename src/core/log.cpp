// Logging.  A line goes out in one write(2) so that lines from several
// threads or processes sharing the web server's error log never interleave.
#include "core/log.hpp"

#include "core/utf8.hpp"

#include <nlohmann/json.hpp>

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace mxd::log {

namespace {

std::atomic<Format> format_{Format::text};
std::atomic<const char *> program_{"mxdelegate"};

std::mutex last_error_mutex;
std::string last_error_text;

std::string_view level_name(Level level)
{
	switch (level) {
	case Level::error: return "error";
	case Level::warning: return "warning";
	case Level::info: break;
	}
	return "info";
}

// RFC 3339, UTC, milliseconds: what log shippers parse without a format.
std::string utc(std::chrono::system_clock::time_point t, bool millis)
{
	using namespace std::chrono;
	const auto ms = duration_cast<milliseconds>(t.time_since_epoch()).count();
	const std::time_t secs = static_cast<std::time_t>(ms / 1000 - (ms % 1000 < 0));
	std::tm tm{};
	gmtime_r(&secs, &tm);
	char buf[40];
	std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
	std::string out(buf, n);
	if (millis) {
		const long long frac = ((ms % 1000) + 1000) % 1000;
		char f[8];
		std::snprintf(f, sizeof f, ".%03lld", frac);
		out += f;
	}
	out += 'Z';
	return out;
}

// An access line's value in text: bare when it is one word, quoted
// otherwise, escaped either way (it comes from the network).
void append_text_field(std::string &out, const Field &f)
{
	if (out.back() != ' ')
		out += ' ';
	out += f.key;
	out += '=';
	if (f.is_number) {
		out += std::to_string(f.number);
		return;
	}
	const std::string v = escape(f.text);
	if (!v.empty() && v.find(' ') == std::string::npos) {
		out += v;
	} else {
		out += '"';
		out += v;
		out += '"';
	}
}

std::string_view level_prefix(Level level)
{
	switch (level) {
	case Level::error: return "error: ";
	case Level::warning: return "warning: ";
	case Level::info: break;
	}
	return {};
}

// One event, one line: a message that carries a newline (an exception's
// text, a backend's error) must not forge a second line.
void append_line_safe(std::string &out, std::string_view s)
{
	for (char c : s)
		out += c == '\n' || c == '\r' ? ' ' : c;
}

// In one write(2) unless interrupted.  Callers may log between a failing
// call and their use of errno, so errno is kept.
void write_out(std::string_view line)
{
	const int saved = errno;
	const char *p = line.data();
	std::size_t left = line.size();
	while (left > 0) {
		const ssize_t n = ::write(STDERR_FILENO, p, left);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		p += n;
		left -= static_cast<std::size_t>(n);
	}
	errno = saved;
}

} // namespace

void set_format(Format f) { format_.store(f, std::memory_order_relaxed); }
Format format() { return format_.load(std::memory_order_relaxed); }
void set_program(const char *name) { program_.store(name, std::memory_order_relaxed); }

std::string format_line(Format f, Level level, std::string_view program,
                        std::string_view component, std::string_view message, Fields fields,
                        std::chrono::system_clock::time_point time)
{
	if (f == Format::json) {
		// ordered: the same keys in the same place on every line, for the
		// person reading them as much as for the shipper.
		nlohmann::ordered_json j;
		j["time"] = utc(time, true);
		j["level"] = level_name(level);
		j["program"] = program;
		j["module"] = component;
		if (!message.empty())
			j["message"] = message;
		for (const Field &fl : fields) {
			if (fl.is_number)
				j[std::string(fl.key)] = fl.number;
			else
				j[std::string(fl.key)] = fl.text;
		}
		// Control bytes become \u00XX escapes (a newline cannot end the
		// line), bytes that are not UTF-8 U+FFFD: a hostile Host must not
		// make the line unparsable.
		std::string line = j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
		line += '\n';
		return line;
	}
	static constexpr std::string_view text_program = "mxdelegate: ";
	const std::string_view prefix = level_prefix(level);
	std::string line;
	line.reserve(text_program.size() + component.size() + 2 + prefix.size() + message.size() + 1);
	line += text_program;
	append_line_safe(line, component);
	line += ": ";
	line += prefix;
	append_line_safe(line, message);
	// Fields repeat what the message says, but an access line is nothing
	// else.
	if (message.empty())
		for (const Field &fl : fields)
			append_text_field(line, fl);
	line += '\n';
	return line;
}

void write(Level level, std::string_view component, std::string_view message, Fields fields)
{
	const auto now = std::chrono::system_clock::now();
	if (level == Level::error) {
		std::string last = utc(now, false) + " " + std::string(component) + ": " + std::string(message);
		std::lock_guard lock(last_error_mutex);
		last_error_text = std::move(last);
	}
	write_out(format_line(format(), level, program_.load(std::memory_order_relaxed), component,
	                      message, fields, now));
}

std::string last_error()
{
	std::lock_guard lock(last_error_mutex);
	return last_error_text;
}

void access(Fields fields)
{
	write(Level::info, "access", "", fields);
}

void lines(Level level, std::string_view component, std::string_view head, std::string_view text)
{
	while (!text.empty()) {
		const std::size_t nl = std::min(text.find('\n'), text.size());
		if (nl > 0) {
			std::string message(head);
			message += text.substr(0, nl);
			write(level, component, message);
		}
		text.remove_prefix(std::min(nl + 1, text.size()));
	}
}

std::string one_line(std::string_view text, Escape how)
{
	static constexpr char hex[] = "0123456789abcdef";
	const bool keep = how.non_ascii && how.keep_utf8 && utf8::valid(text);
	const bool cut = text.size() > how.max;
	if (cut)
		text = text.substr(0, keep ? utf8::cut(text, how.max) : how.max);
	std::string out;
	out.reserve(text.size() + (cut ? 3 : 0));
	for (char c : text) {
		const auto u = static_cast<unsigned char>(c);
		if (how.quotes && (c == '\\' || c == '"')) {
			out += '\\';
			out += c;
		} else if (u < 0x20 || u == 0x7f || (how.non_ascii && !keep && u >= 0x80)) {
			out += "\\x";
			out += hex[u >> 4];
			out += hex[u & 0xf];
		} else {
			out += c;
		}
	}
	if (cut)
		out += "...";
	return out;
}

bool OncePerSecond::allow()
{
	// A second since the last line, not a new second of the clock: two
	// events a millisecond apart across a second's boundary were two lines.
	using namespace std::chrono;
	const long long now = duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
	long long last = last_.load(std::memory_order_relaxed);
	return (last == 0 || now - last >= 1000) && last_.compare_exchange_strong(last, now);
}

} // namespace mxd::log
