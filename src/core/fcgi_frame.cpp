#include "core/fcgi_frame.hpp"

#include <algorithm>
#include <array>
#include <string_view>

namespace mxd::fcgi_frame {

namespace {

constexpr std::size_t max_padding = 255;
constexpr std::size_t max_record = header_size + 0xffff + max_padding;

struct Header {
	std::uint8_t version;
	std::uint8_t type;
	std::uint16_t id;
	std::size_t content;
	std::size_t padding;
	std::size_t size() const { return header_size + content + padding; }
};

Header header_at(std::span<const std::uint8_t> b, std::size_t at)
{
	return Header{b[at],
	              b[at + 1],
	              static_cast<std::uint16_t>(b[at + 2] << 8 | b[at + 3]),
	              static_cast<std::size_t>(b[at + 4] << 8 | b[at + 5]),
	              b[at + 6]};
}

Verdict need(std::size_t bytes) { return Verdict{Verdict::Kind::need, bytes, false, Rule::version}; }
Verdict broken(Rule rule) { return Verdict{Verdict::Kind::broken, 0, false, rule}; }

// One length of a name-value pair: a byte below 128, else four bytes with
// the top bit cleared.  False when the stream ends inside it.
bool read_length(std::span<const std::uint8_t> s, std::size_t &at, std::size_t &length)
{
	if (at >= s.size())
		return false;
	if ((s[at] & 0x80) == 0) {
		length = s[at++];
		return true;
	}
	if (s.size() - at < 4)
		return false;
	length = static_cast<std::size_t>(s[at] & 0x7f) << 24 | static_cast<std::size_t>(s[at + 1]) << 16 |
	         static_cast<std::size_t>(s[at + 2]) << 8 | s[at + 3];
	at += 4;
	return true;
}

// Calls f(name, value) for each pair; false when one is malformed.
template <class F> bool for_each_pair(std::span<const std::uint8_t> s, F &&f)
{
	std::size_t at = 0;
	while (at < s.size()) {
		std::size_t name = 0, value = 0;
		if (!read_length(s, at, name) || !read_length(s, at, value))
			return false;
		// Each length is below 2^31, so the sum cannot wrap.
		if (name + value > s.size() - at)
			return false;
		const auto *p = reinterpret_cast<const char *>(s.data() + at);
		f(std::string_view(p, name), std::string_view(p + name, value));
		at += name + value;
	}
	return true;
}

// The PARAMS stream's bytes, the record headers and padding left out: a
// pair may span records.
std::string params_stream(std::span<const std::uint8_t> b, std::size_t from, std::size_t to)
{
	std::string s;
	while (from < to) {
		const Header h = header_at(b, from);
		s.append(reinterpret_cast<const char *>(b.data() + from + header_size), h.content);
		from += h.size();
	}
	return s;
}

void put_length(std::string &out, std::size_t n)
{
	if (n < 0x80) {
		out.push_back(static_cast<char>(n));
		return;
	}
	out.push_back(static_cast<char>(0x80 | (n >> 24 & 0x7f)));
	out.push_back(static_cast<char>(n >> 16 & 0xff));
	out.push_back(static_cast<char>(n >> 8 & 0xff));
	out.push_back(static_cast<char>(n & 0xff));
}

std::string record(Type type, std::string_view content)
{
	const std::size_t padding = (8 - content.size() % 8) % 8;
	std::string r;
	r.reserve(header_size + content.size() + padding);
	const std::array<char, header_size> h{1,
	                                      static_cast<char>(type),
	                                      0,
	                                      0,
	                                      static_cast<char>(content.size() >> 8 & 0xff),
	                                      static_cast<char>(content.size() & 0xff),
	                                      static_cast<char>(padding),
	                                      0};
	r.append(h.data(), h.size());
	r.append(content);
	r.append(padding, '\0');
	return r;
}

} // namespace

const char *describe(Rule rule)
{
	switch (rule) {
	case Rule::version:
		return "a record's version is not 1";
	case Rule::no_begin:
		return "a request does not start with BEGIN_REQUEST";
	case Rule::begin_length:
		return "BEGIN_REQUEST's body is not 8 bytes";
	case Rule::role:
		return "an unknown role";
	case Rule::request_id:
		return "a record of a second request id";
	case Rule::record_type:
		return "a record type out of place";
	case Rule::null_id:
		return "an application record with request id 0";
	case Rule::management:
		return "a management record inside a request";
	case Rule::management_size:
		return "a management record larger than the parameters allowed";
	case Rule::params_bytes:
		return "parameters over [server] params_bytes";
	case Rule::params_pairs:
		return "a malformed name-value pair in PARAMS";
	case Rule::values_pairs:
		return "a malformed name-value pair in GET_VALUES";
	}
	return "?";
}

std::size_t window(const Limits &limits)
{
	const std::size_t begin = header_size + 8 + max_padding;
	const std::size_t request = begin + limits.params_bytes + header_size + max_padding + 1;
	return std::max(request, max_record);
}

Verdict scan(std::span<const std::uint8_t> b, Progress &p, const Limits &limits)
{
	for (;;) {
		const std::size_t at = p.offset;
		if (b.size() < at + header_size)
			return need(at + header_size);
		const Header h = header_at(b, at);
		if (h.version != 1)
			return broken(Rule::version);

		if (p.id == 0) {
			if (h.id == 0) {
				// An application record cannot be a management one.
				if (h.type >= begin_request && h.type <= data)
					return broken(Rule::null_id);
				// Between requests, so at the front of what is held.
				if (h.size() > window(limits))
					return broken(Rule::management_size);
				if (b.size() < h.size())
					return need(h.size());
				return Verdict{Verdict::Kind::management, h.size(), false, Rule::version};
			}
			if (h.type != begin_request)
				return broken(Rule::no_begin);
			if (h.content != 8)
				return broken(Rule::begin_length);
			if (b.size() < at + h.size())
				return need(at + h.size());
			const unsigned role = b[at + 8] << 8 | b[at + 9];
			if (role < 1 || role > 3)
				return broken(Rule::role);
			p.id = h.id;
			p.keep = (b[at + 10] & 1) != 0;
			p.in_params = true;
			p.offset += h.size();
			continue;
		}
		if (h.id == 0)
			return broken(Rule::management);
		if (h.id != p.id)
			return broken(Rule::request_id);

		if (p.in_params) {
			if (h.type != params)
				return broken(Rule::record_type);
			// Counted from the header, before its body arrives: a peer
			// announcing too much is refused at once.
			if (p.params + h.size() > limits.params_bytes)
				return broken(Rule::params_bytes);
			if (b.size() < at + h.size())
				return need(at + h.size());
			p.params += h.size();
			p.offset += h.size();
			if (h.content != 0)
				continue;
			p.in_params = false;
			const std::size_t first = header_at(b, 0).size(); // after BEGIN_REQUEST
			const Header one = header_at(b, first);
			if (first + one.size() + h.size() == p.offset) {
				// One record and the empty one, as web servers send them:
				// checked where it lies, without a copy.
				if (!pairs_well_formed(b.subspan(first + header_size, one.content)))
					return broken(Rule::params_pairs);
				continue;
			}
			const std::string stream = params_stream(b, first, p.offset);
			if (!pairs_well_formed({reinterpret_cast<const std::uint8_t *>(stream.data()), stream.size()}))
				return broken(Rule::params_pairs);
			continue;
		}

		// PARAMS ended: the STDIN stream follows.  No answer reads a body,
		// so a request with one goes to a worker at its first STDIN
		// header; without one, at the empty record that ends the stream.
		if (h.type != stdin_stream)
			return broken(Rule::record_type);
		if (h.content != 0)
			return Verdict{Verdict::Kind::whole, at, false, Rule::version};
		if (b.size() < at + h.size())
			return need(at + h.size());
		return Verdict{Verdict::Kind::whole, at + h.size(), true, Rule::version};
	}
}

bool pairs_well_formed(std::span<const std::uint8_t> stream)
{
	return for_each_pair(stream, [](std::string_view, std::string_view) {});
}

std::optional<Begin> read_request(std::span<const std::uint8_t> b, std::string &scratch, PairFn pair,
                                  void *ctx)
{
	if (b.size() < header_size + 8)
		return std::nullopt;
	const Header begin = header_at(b, 0);
	if (begin.version != 1 || begin.type != begin_request || begin.content != 8 || begin.id == 0 ||
	    b.size() < begin.size())
		return std::nullopt;
	Begin r{begin.id, static_cast<std::uint16_t>(b[8] << 8 | b[9]), (b[10] & 1) != 0};
	if (r.role < 1 || r.role > 3)
		return std::nullopt;

	// The PARAMS records, up to the empty one.
	const std::size_t first = begin.size();
	std::size_t end = first, records = 0;
	for (;;) {
		if (b.size() - end < header_size)
			return std::nullopt;
		const Header h = header_at(b, end);
		if (h.version != 1 || h.type != params || h.id != r.id || b.size() - end < h.size())
			return std::nullopt;
		end += h.size();
		if (h.content == 0)
			break;
		++records;
	}
	// Then nothing (a body follows, unread), or STDIN's end and nothing more.
	if (end != b.size()) {
		if (b.size() - end < header_size)
			return std::nullopt;
		const Header h = header_at(b, end);
		if (h.version != 1 || h.type != stdin_stream || h.id != r.id || h.content != 0 ||
		    b.size() - end != h.size())
			return std::nullopt;
	}

	std::span<const std::uint8_t> stream;
	if (records == 1) {
		stream = b.subspan(first + header_size, header_at(b, first).content);
	} else if (records > 1) {
		scratch.clear();
		for (std::size_t at = first; at < end;) {
			const Header h = header_at(b, at);
			scratch.append(reinterpret_cast<const char *>(b.data() + at + header_size), h.content);
			at += h.size();
		}
		stream = {reinterpret_cast<const std::uint8_t *>(scratch.data()), scratch.size()};
	}
	if (!for_each_pair(stream, [&](std::string_view n, std::string_view v) { pair(n, v, ctx); }))
		return std::nullopt;
	return r;
}

void append_reply(std::string &out, std::uint16_t id, std::span<const std::string_view> parts)
{
	// The largest content a multiple of 8: no padding but the last record's.
	constexpr std::size_t most = 0xffff & ~std::size_t{7};
	const auto header = [&out, id](Type type, std::size_t content, std::size_t padding) {
		const char h[header_size] = {1,
		                             static_cast<char>(type),
		                             static_cast<char>(id >> 8),
		                             static_cast<char>(id & 0xff),
		                             static_cast<char>(content >> 8),
		                             static_cast<char>(content & 0xff),
		                             static_cast<char>(padding),
		                             0};
		out.append(h, header_size);
	};
	std::size_t total = 0;
	for (const std::string_view p : parts)
		total += p.size();
	out.reserve(out.size() + total + (total / most + 1) * (header_size + 7) + 2 * header_size + 8);
	std::size_t part = 0, offset = 0;
	while (total > 0) {
		const std::size_t content = std::min(total, most);
		const std::size_t padding = (8 - content % 8) % 8;
		header(stdout_stream, content, padding);
		for (std::size_t left = content; left > 0;) {
			const std::string_view p = parts[part];
			const std::size_t n = std::min(left, p.size() - offset);
			if (n != 0) // an empty part may have no data() at all
				out.append(p.data() + offset, n);
			left -= n;
			offset += n;
			if (offset == p.size()) {
				++part;
				offset = 0;
			}
		}
		out.append(padding, '\0');
		total -= content;
	}
	header(stdout_stream, 0, 0);
	header(end_request, 8, 0);
	out.append(8, '\0'); // application status 0, FCGI_REQUEST_COMPLETE (0), reserved
}

std::optional<std::string> answer_management(std::span<const std::uint8_t> rec, const Values &values)
{
	const Header h = header_at(rec, 0);
	if (h.type != get_values) {
		const std::array<char, 8> body{static_cast<char>(h.type), 0, 0, 0, 0, 0, 0, 0};
		return record(unknown_type, std::string_view(body.data(), body.size()));
	}
	// Each variable answered once however often it is asked: libfcgi's own
	// answer wrote one line an asking into a 64-byte stack buffer.
	bool conns = false, reqs = false, mpxs = false;
	const bool ok = for_each_pair(rec.subspan(header_size, h.content), [&](std::string_view name, std::string_view) {
		conns |= name == "FCGI_MAX_CONNS";
		reqs |= name == "FCGI_MAX_REQS";
		mpxs |= name == "FCGI_MPXS_CONNS";
	});
	if (!ok)
		return std::nullopt;
	std::string content;
	auto pair = [&content](std::string_view name, const std::string &value) {
		put_length(content, name.size());
		put_length(content, value.size());
		content.append(name);
		content.append(value);
	};
	if (conns)
		pair("FCGI_MAX_CONNS", std::to_string(values.max_conns));
	if (reqs)
		pair("FCGI_MAX_REQS", std::to_string(values.max_reqs));
	if (mpxs)
		pair("FCGI_MPXS_CONNS", "0");
	return record(get_values_result, content);
}

} // namespace mxd::fcgi_frame
