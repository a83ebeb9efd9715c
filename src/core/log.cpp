// Logging.  A line goes out in one write(2) so that lines from several
// threads or processes sharing the web server's error log never interleave.
#include "core/log.hpp"

#include "core/utf8.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>

namespace mxd::log {

namespace {

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

void write(Level level, std::string_view component, std::string_view message)
{
	static constexpr std::string_view program = "mxdelegate: ";
	const std::string_view prefix = level_prefix(level);
	std::string line;
	line.reserve(program.size() + component.size() + 2 + prefix.size() + message.size() + 1);
	line += program;
	append_line_safe(line, component);
	line += ": ";
	line += prefix;
	append_line_safe(line, message);
	line += '\n';

	write_out(line);
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
	using namespace std::chrono;
	const long long now = duration_cast<seconds>(steady_clock::now().time_since_epoch()).count();
	long long last = last_.load(std::memory_order_relaxed);
	return now != last && last_.compare_exchange_strong(last, now);
}

} // namespace mxd::log
