#include "core/toml_tables.hpp"

#include <array>
#include <cstring>

namespace mxd::toml_tables {

namespace {

// What a line leaves open for the next.
struct State {
	enum class Open { none, basic, literal } multiline = Open::none; // """ or '''
	int depth = 0; // [ and { of values not yet closed
};

bool is_blank(char c) { return c == ' ' || c == '\t'; }

// The bytes scan() acts on outside strings; it passes over the others in a
// loop of its own, since they are most of a file and scan() runs over
// every line of a CGI request's configuration (bench/RESULTS.md).
constexpr std::array<bool, 256> stops = [] {
	std::array<bool, 256> t{};
	for (const char c : std::string_view("#\"'[]{}"))
		t[static_cast<unsigned char>(c)] = true;
	return t;
}();

bool is_bare(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
	       c == '-';
}

// Where byte c is in l from at on, or l.size().
std::size_t find_byte(std::string_view l, std::size_t at, char c)
{
	const void *p = at < l.size() ? std::memchr(l.data() + at, c, l.size() - at) : nullptr;
	return p ? static_cast<std::size_t>(static_cast<const char *>(p) - l.data()) : l.size();
}

// Past a one-line string opened by quote at at, or the line's end.  With
// memchr rather than a byte at a time: strings are most of the bytes of a
// file of domains.
std::size_t past_string(std::string_view l, std::size_t at, char quote)
{
	for (std::size_t k = at + 1; k < l.size();) {
		const std::size_t end = find_byte(l, k, quote);
		if (quote == '"')
			if (const std::size_t escape = find_byte(l.substr(0, end), k, '\\'); escape < end) {
				k = escape + 2; // the escaped byte, whatever it is, is the string's
				continue;
			}
		return end < l.size() ? end + 1 : l.size();
	}
	return l.size();
}

// Inside a multi-line string at at: past its closing run of three to five
// quotes (TOML lets up to two of them belong to the string), or the end.
std::size_t past_multiline(std::string_view l, std::size_t at, State &s)
{
	const char quote = s.multiline == State::Open::basic ? '"' : '\'';
	for (std::size_t k = at; k < l.size(); ++k) {
		if (quote == '"' && l[k] == '\\') {
			++k;
			continue;
		}
		if (l[k] != quote)
			continue;
		std::size_t run = 0;
		while (k + run < l.size() && l[k + run] == quote)
			++run;
		if (run >= 3) {
			s.multiline = State::Open::none;
			return k + run;
		}
		k += run - 1;
	}
	return l.size();
}

// The header at l[0] == '[': where it ends, and whether its first key is
// key.  Keys are strings or bare; anything else ends the header early, and
// toml++ will refuse the line.
std::size_t header(std::string_view l, std::string_view key, bool &match)
{
	std::size_t k = l.size() > 1 && l[1] == '[' ? 2 : 1;
	while (k < l.size() && is_blank(l[k]))
		++k;
	std::size_t name_end = k;
	match = false;
	if (k < l.size() && (l[k] == '"' || l[k] == '\'')) {
		name_end = past_string(l, k, l[k]);
		const std::string_view name = l.substr(k + 1, name_end - k - 2);
		match = name_end <= l.size() && l[name_end - 1] == l[k] && name == key &&
		        name.find('\\') == std::string_view::npos;
	} else {
		while (name_end < l.size() && is_bare(l[name_end]))
			++name_end;
		match = l.substr(k, name_end - k) == key;
	}
	std::size_t after = name_end;
	while (after < l.size() && is_blank(l[after]))
		++after;
	match = match && after < l.size() && (l[after] == '.' || l[after] == ']');
	// The rest of the header: more keys, dots, blanks, to the closing bracket.
	for (k = name_end; k < l.size();) {
		if (l[k] == '"' || l[k] == '\'')
			k = past_string(l, k, l[k]);
		else if (l[k] == ']')
			return k + (k + 1 < l.size() && l[k + 1] == ']' ? 2 : 1);
		else if (l[k] == '#' || l[k] == '\n')
			return k;
		else
			++k;
	}
	return k;
}

// Carries s across one line's values from at.
void scan(std::string_view l, std::size_t at, State &s)
{
	for (std::size_t k = at; k < l.size();) {
		if (s.multiline != State::Open::none) {
			k = past_multiline(l, k, s);
			continue;
		}
		while (k < l.size() && !stops[static_cast<unsigned char>(l[k])])
			++k;
		if (k == l.size())
			return;
		const char c = l[k];
		if (c == '#')
			return;
		if (c == '"' || c == '\'') {
			if (l.size() - k >= 3 && l[k + 1] == c && l[k + 2] == c) {
				s.multiline = c == '"' ? State::Open::basic : State::Open::literal;
				k += 3;
			} else {
				k = past_string(l, k, c);
			}
			continue;
		}
		if (c == '[' || c == '{')
			++s.depth;
		else if ((c == ']' || c == '}') && s.depth > 0)
			--s.depth;
		++k;
	}
}

} // namespace

Cut without(std::string_view text, std::string_view key)
{
	Cut out;
	out.text.reserve(text.size());
	State s;
	bool cutting = false;
	std::size_t line = 1;
	for (std::size_t at = 0; at < text.size(); ++line) {
		std::size_t end = text.find('\n', at);
		end = end == std::string_view::npos ? text.size() : end + 1;
		const std::string_view l = text.substr(at, end - at);
		std::size_t from = 0;
		if (s.multiline == State::Open::none && s.depth == 0) {
			std::size_t j = 0;
			while (j < l.size() && is_blank(l[j]))
				++j;
			if (j < l.size() && l[j] == '[') {
				bool match = false;
				from = j + header(l.substr(j), key, match);
				cutting = match;
				if (match && out.line == 0) {
					out.line = line;
					out.column = j + 1;
				}
			}
		}
		scan(l, from, s);
		if (!cutting)
			out.text += l;
		else if (l.ends_with("\r\n"))
			out.text += "\r\n";
		else if (l.ends_with('\n'))
			out.text += '\n';
		at = end;
	}
	return out;
}

} // namespace mxd::toml_tables
