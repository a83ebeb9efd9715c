#include "core/render.hpp"

#include <cstdint>
#include <utility>

namespace mxd::render {

namespace {

using json = nlohmann::json;

// Strict: a record read from a database may hold any bytes, and an invalid
// document must fail loudly (500) rather than reach a client altered.
std::string dump(const json &value)
{
	return value.dump(-1, ' ', false, json::error_handler_t::strict);
}

std::string dump_string(std::string_view s)
{
	return dump(json(s));
}

// The same four headers on every answer: a browser that cannot read a 404
// or a 5xx takes it for a network failure (FAIL_PROMPT instead of IGNORE).
void add_common(Response &r)
{
	r.headers.reserve(8);
	r.headers.emplace_back("Content-Type", "application/json");
	r.headers.emplace_back("Access-Control-Allow-Origin", "*");
	r.headers.emplace_back("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE, OPTIONS");
	r.headers.emplace_back("Access-Control-Allow-Headers",
	                       "X-Requested-With, Content-Type, Authorization");
}

std::string max_age_value(std::uint64_t seconds)
{
	return "public, max-age=" + std::to_string(seconds);
}

bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

} // namespace

std::optional<std::string> body(const nlohmann::json &record, Document doc)
{
	if (!record.is_object())
		return std::nullopt;
	switch (doc) {
	case Document::server: {
		const auto it = record.find("server");
		if (it == record.end())
			return std::nullopt;
		return "{\"m.server\":" + dump(*it) + "}";
	}
	case Document::client: {
		const auto it = record.find("client");
		if (it == record.end())
			return std::nullopt;
		// Built by hand so that m.homeserver comes first whatever the
		// extra keys sort as, and no extra key can replace it.
		std::string out = "{\"m.homeserver\":{\"base_url\":" + dump(*it) + "}";
		const auto extra = record.find("client_extra");
		if (extra != record.end() && extra->is_object()) {
			for (const auto &[key, value] : extra->items()) {
				if (key == "m.homeserver")
					continue;
				out.append(1, ',').append(dump_string(key)).append(1, ':').append(dump(value));
			}
		}
		out.append(1, '}');
		return out;
	}
	case Document::support: {
		const auto it = record.find("support");
		if (it == record.end())
			return std::nullopt;
		return dump(*it);
	}
	case Document::policy_server: {
		const auto it = record.find("policy_server");
		if (it == record.end())
			return std::nullopt;
		// The document form is already the document.
		if (it->is_object() && it->contains("public_keys"))
			return dump(*it);
		return "{\"public_keys\":" + dump(*it) + "}";
	}
	}
	return std::nullopt;
}

std::optional<Redirect> redirect(const nlohmann::json &record, Document doc)
{
	if (!record.is_object())
		return std::nullopt;
	const auto it = record.find("redirect");
	if (it == record.end())
		return std::nullopt;
	Redirect r;
	if (it->is_string()) {
		std::string_view base = it->get_ref<const std::string &>();
		// "https://h/" and "https://h" both mean the site's root.
		if (base.ends_with('/'))
			base.remove_suffix(1);
		r.location = std::string(base).append(document_path(doc));
	} else {
		const auto one = it->find(std::string(document_name(doc)));
		if (one == it->end())
			return std::nullopt;
		r.location = one->get<std::string>();
	}
	if (const auto status = record.find("redirect_status");
	    status != record.end() && status->is_number_integer())
		r.status = status->get<int>();
	return r;
}

namespace {

Response moved(Redirect to, std::uint64_t max_age)
{
	Response r;
	r.status = to.status;
	add_common(r);
	r.headers.emplace_back("Cache-Control", max_age_value(max_age));
	// Not an error, so not an errcode: a client that does not follow the
	// redirect is told where the document is, nothing more.
	r.body = "{\"location\":" + dump_string(to.location) + "}";
	// The status is part of the validator: a 302 turned into a 308 with the
	// same target is another answer, and a cache must not refresh one with
	// the other's 304.
	r.headers.emplace_back("ETag", etag(std::to_string(to.status) + r.body));
	r.headers.emplace_back("Location", std::move(to.location));
	return r;
}

} // namespace

Response document(const nlohmann::json &record, Document doc, std::string_view domain,
                  const Policy &policy)
{
	std::optional<std::string> b;
	std::optional<Redirect> to;
	try {
		to = redirect(record, doc);
		if (!to)
			b = body(record, doc);
	} catch (const json::exception &e) {
		std::string message = "cannot render ";
		message.append(document_path(doc)).append(" for ").append(domain);
		message.append(e.id == 316 ? ": the record is not valid UTF-8" : ": the record is malformed");
		return error(500, "M_UNKNOWN", message, policy);
	}
	if (!b && !to)
		return missing(doc, policy);

	std::uint64_t max_age = policy.max_age;
	const auto it = record.find("max_age");
	if (it != record.end()) {
		// A negative or fractional value is no delta-seconds (RFC 9111
		// 1.2.2); the policy's value serves until the record is fixed.
		if (it->is_number_unsigned())
			max_age = it->get<std::uint64_t>();
		else if (it->is_number_integer() && it->get<std::int64_t>() >= 0)
			max_age = static_cast<std::uint64_t>(it->get<std::int64_t>());
	}

	if (to)
		return moved(std::move(*to), max_age);
	Response r;
	r.status = 200;
	add_common(r);
	r.headers.emplace_back("Cache-Control", max_age_value(max_age));
	r.headers.emplace_back("ETag", etag(*b));
	r.body = std::move(*b);
	return r;
}

Response missing(Document doc, const Policy &policy)
{
	std::string message = "no ";
	message.append(document_path(doc)).append(" for this host");
	return error(404, "M_NOT_FOUND", message, policy);
}

Response error(int status, std::string_view errcode, std::string_view message,
               const Policy &policy)
{
	// Our own text, but it may quote a name from the network: replace any
	// invalid byte rather than fail while reporting a failure.
	const auto str = [](std::string_view s) {
		return json(s).dump(-1, ' ', false, json::error_handler_t::replace);
	};
	Response r;
	r.status = status;
	add_common(r);
	// A 404 is cacheable so that remote servers do not ask again at once;
	// any other error is transient and must not be cached as an answer.
	r.headers.emplace_back("Cache-Control",
	                       status == 404 ? max_age_value(policy.not_found_max_age) : "no-store");
	if (status == 405)
		r.headers.emplace_back("Allow", "GET, HEAD, OPTIONS");
	r.body = "{\"errcode\":" + str(errcode) + ",\"error\":" + str(message) + "}";
	return r;
}

Response preflight()
{
	Response r;
	r.status = 204;
	add_common(r);
	return r;
}

Response not_modified(const Response &document)
{
	const std::string *cache = document.header("Cache-Control");
	const std::string *tag = document.header("ETag");
	return not_modified(cache ? std::string_view(*cache) : std::string_view(),
	                    tag ? std::string_view(*tag) : std::string_view());
}

Response not_modified(std::string_view cache_control, std::string_view etag)
{
	Response r;
	r.status = 304;
	add_common(r);
	// RFC 9110 15.4.5: a 304 repeats the validators and cache headers the
	// 200 would have sent, so caches can refresh what they hold.
	if (!cache_control.empty())
		r.headers.emplace_back("Cache-Control", cache_control);
	if (!etag.empty())
		r.headers.emplace_back("ETag", etag);
	return r;
}

std::string etag(std::string_view body)
{
	// FNV-1a: fast, no dependency, and collisions only cost a missed 304
	// refresh between two versions of one domain's document.
	std::uint64_t h = 0xcbf29ce484222325ULL;
	for (unsigned char c : body) {
		h ^= c;
		h *= 0x100000001b3ULL;
	}
	static constexpr char hex[] = "0123456789abcdef";
	std::string out(18, '"');
	for (int i = 16; i >= 1; i--) {
		out[static_cast<std::size_t>(i)] = hex[h & 0xf];
		h >>= 4;
	}
	return out;
}

bool etag_matches(std::string_view if_none_match, std::string_view etag)
{
	// Weak comparison: "W/" is ignored on both sides.
	if (etag.starts_with("W/"))
		etag.remove_prefix(2);

	const std::string_view h = if_none_match;
	const std::size_t n = h.size();
	std::size_t i = 0;
	while (i < n) {
		while (i < n && (is_ows(h[i]) || h[i] == ','))
			i++;
		if (i == n)
			break;

		std::size_t end = i; // one past the member, when well formed
		bool ok = false;
		if (h[i] == '*') {
			// "*" is the whole field by the grammar; a web server that
			// joined two If-None-Match lines may put it in a list.
			end = i + 1;
			ok = true;
			std::size_t j = end;
			while (j < n && is_ows(h[j]))
				j++;
			if (j == n || h[j] == ',')
				return true;
		} else {
			std::size_t j = i;
			if (h.substr(j, 2) == "W/")
				j += 2;
			if (j < n && h[j] == '"') {
				const std::size_t close = h.find('"', j + 1);
				if (close == std::string_view::npos)
					return false; // unterminated: nothing after it can be read
				if (h.substr(j, close + 1 - j) == etag)
					return true;
				end = close + 1;
				ok = true;
			}
		}

		i = end;
		while (i < n && is_ows(h[i]))
			i++;
		if (!ok || (i < n && h[i] != ',')) {
			// Garbage: skip to the next member instead of giving up on
			// a list that may still hold a valid tag.
			while (i < n && h[i] != ',')
				i++;
		}
	}
	return false;
}

} // namespace mxd::render
