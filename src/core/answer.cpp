#include "core/answer.hpp"

#include "core/render.hpp"

#include <charconv>

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

Answer make_answer(const Response &response)
{
	Answer a;
	a.status = response.status;
	a.full = serialize(response, true);
	const bool body_written = response.status != 204 && response.status != 304;
	a.head_size = a.full.size() - (body_written ? response.body.size() : 0);
	const std::string_view head = a.bytes(true);
	// A redirect is an answer like a document: a cache revalidates it too.
	if (response.status == 200 || response.status == 301 || response.status == 302 ||
	    response.status == 307 || response.status == 308)
		std::tie(a.etag_at, a.etag_size) = find_header(head, "ETag");
	std::tie(a.cache_at, a.cache_size) = find_header(head, "Cache-Control");
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
