#include "core/answer.hpp"

#include "core/render.hpp"

#include <array>
#include <atomic>
#include <charconv>
#include <map>
#include <mutex>

namespace mxd {

namespace {

// The value of header `name` in a serialised head: where it starts and its
// size, or {0, 0}.  Names are written by render with this exact case.
std::pair<std::size_t, std::size_t> find_header(std::string_view head, std::string_view name)
{
	std::size_t at = 0;
	while (at < head.size()) {
		const std::size_t end = head.find("\r\n", at);
		if (end == std::string_view::npos || end == at)
			break;
		const std::string_view line = head.substr(at, end - at);
		if (line.size() > name.size() + 1 && line.substr(0, name.size()) == name &&
		    line[name.size()] == ':') {
			std::size_t v = name.size() + 1;
			while (v < line.size() && line[v] == ' ')
				++v;
			return {at + v, line.size() - v};
		}
		at = end + 2;
	}
	return {0, 0};
}

constexpr std::string_view max_age_key = "max-age=";

} // namespace

std::string_view lead_of(int status)
{
	// Nodes of a std::map never move, and a string is never changed once
	// in: the views handed out stay valid for the process's life.  Each
	// status is made once, under the lock; after that its lead is read
	// through `made` without it, since a miss from a store's rendering asks
	// four times (nearly 400 instructions a miss with the lock every time).
	static std::array<std::atomic<const std::string *>, 600> made{};
	const bool listed = status >= 0 && status < static_cast<int>(made.size());
	if (listed)
		if (const std::string *lead = made[static_cast<std::size_t>(status)].load(std::memory_order_acquire))
			return *lead;
	static std::mutex mutex;
	static std::map<int, std::string> leads;
	std::lock_guard lock(mutex);
	auto it = leads.find(status);
	if (it == leads.end()) {
		Response r = render::preflight(); // the common headers alone
		r.status = status;
		std::string s = serialize(r, false);
		// serialize's own end: a Content-Length for a status with a body,
		// then the blank line; the lead stops before either.
		const std::size_t end = s.find(status == 204 || status == 304 ? "\r\n\r\n"
		                                                                : "\r\nContent-Length: ");
		s.resize(end == std::string::npos ? 0 : end + 2);
		it = leads.emplace(status, std::move(s)).first;
		if (listed)
			made[static_cast<std::size_t>(status)].store(&it->second, std::memory_order_release);
	}
	return it->second;
}

Answer make_answer(const Response &response)
{
	Answer a;
	a.status = response.status;
	std::string full = serialize(response, true);
	const bool body_written = response.status != 204 && response.status != 304;
	const std::size_t head_size = full.size() - (body_written ? response.body.size() : 0);
	// Shared only when the bytes are exactly the shared ones: any other
	// header order keeps its whole form, correct if larger.
	const std::string_view lead = lead_of(response.status);
	const std::size_t cut = !lead.empty() && std::string_view(full).starts_with(lead) ? lead.size() : 0;
	if (cut)
		a.lead = lead;
	a.rest = full.substr(cut);
	a.head_size = static_cast<std::uint32_t>(head_size - cut);
	const std::string_view head = a.bytes(true);
	const auto locate = [&](std::string_view name, std::uint32_t &at, std::uint32_t &size) {
		const auto [where, length] = find_header(head, name);
		at = static_cast<std::uint32_t>(where);
		size = static_cast<std::uint32_t>(length);
	};
	// A redirect is an answer like a document: a cache revalidates it too.
	if (response.status == 200 || response.status == 301 || response.status == 302 ||
	    response.status == 307 || response.status == 308)
		locate("ETag", a.etag_at, a.etag_size);
	locate("Cache-Control", a.cache_at, a.cache_size);
	return a;
}

std::string not_modified(const Answer &answer)
{
	return serialize(render::not_modified(answer.cache_control(), answer.etag()), false);
}

std::string stale(const Answer &answer, std::string_view wire, unsigned max_age)
{
	const std::string_view value = answer.cache_control();
	const std::size_t key = value.find(max_age_key);
	if (key == std::string_view::npos)
		return std::string(wire);
	// A shorter lifetime of the answer's own is kept.
	unsigned long long own = 0;
	const char *digits = value.data() + key + max_age_key.size();
	const auto parsed = std::from_chars(digits, value.data() + value.size(), own);
	if (parsed.ec == std::errc() && own < max_age)
		return std::string(wire);
	// The value sits at the same place in the 304 as in the answer's own
	// bytes only by accident; look for it in `wire` itself.
	const std::size_t head_end = wire.find("\r\n\r\n");
	const auto [at, size] =
		find_header(wire.substr(0, head_end == std::string_view::npos ? wire.size() : head_end + 2),
		            "Cache-Control");
	if (size == 0)
		return std::string(wire);
	std::string out;
	const std::string lowered = "public, max-age=" + std::to_string(max_age);
	out.reserve(wire.size() + lowered.size());
	out.append(wire.substr(0, at)).append(lowered).append(wire.substr(at + size));
	return out;
}

} // namespace mxd
