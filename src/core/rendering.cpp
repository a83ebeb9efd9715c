#include "core/rendering.hpp"

#include "core/bounded_json.hpp"
#include "core/byte_fields.hpp"
#include "core/record.hpp"
#include "core/version.hpp"

#include <xxhash.h>

#include <cstdint>
#include <cstdio>

namespace mxd::rendering {

namespace {

using byte_fields::put_int;
using byte_fields::Reader;

// "MXR" and the format: a blob of anything else is refused at its first
// bytes.
constexpr char magic[3] = {'M', 'X', 'R'};
constexpr std::size_t checksum_size = 8;

std::string hex64(std::uint64_t v)
{
	char out[17];
	std::snprintf(out, sizeof out, "%016llx", static_cast<unsigned long long>(v));
	return out;
}

} // namespace

std::string fingerprint(const nlohmann::json &defaults, const render::Policy &policy)
{
	// NUL between the parts: none of them holds one (dump() escapes it),
	// so no two inputs run together into the same text.
	std::string in;
	for (const std::string &part :
	     {std::to_string(format), std::string(mxd::version), std::to_string(renderer_revision),
	      defaults.dump(), std::to_string(policy.max_age), std::to_string(policy.not_found_max_age),
	      std::to_string(policy.stale_max_age)})
		(in += part) += '\0';
	return "f" + std::to_string(format) + "-" + hex64(XXH3_64bits(in.data(), in.size()));
}

std::string encode(std::string_view key, const Documents &docs)
{
	std::string out(magic, sizeof magic);
	out.push_back(static_cast<char>(format));
	put_int(out, key.size(), 4);
	out.append(key);
	for (const Answer &a : docs) {
		put_int(out, static_cast<std::uint64_t>(a.status), 2);
		// The lead is the process's own (lead_of): a flag, not its bytes.
		out.push_back(a.lead.empty() ? '\0' : '\1');
		for (const std::uint32_t v : {a.head_size, a.etag_at, a.etag_size, a.cache_at, a.cache_size})
			put_int(out, v, 4);
		put_int(out, a.rest.size(), 4);
		out.append(a.rest);
	}
	put_int(out, XXH3_64bits(out.data(), out.size()), checksum_size);
	return out;
}

std::optional<Documents> decode(std::string_view bytes, std::string_view key)
{
	if (bytes.size() > max_size || bytes.size() < sizeof magic + 1 + checksum_size)
		return std::nullopt;
	const std::string_view signed_part = bytes.substr(0, bytes.size() - checksum_size);
	std::uint64_t sum;
	Reader tail(bytes.substr(signed_part.size()));
	if (!tail.integer<checksum_size>(sum) ||
	    sum != XXH3_64bits(signed_part.data(), signed_part.size()))
		return std::nullopt;
	if (signed_part.substr(0, sizeof magic) != std::string_view(magic, sizeof magic) ||
	    static_cast<unsigned char>(signed_part[sizeof magic]) != format)
		return std::nullopt;
	Reader in(signed_part.substr(sizeof magic + 1));
	std::string_view made_for;
	if (!in.text<4>(made_for) || made_for != key)
		return std::nullopt;
	Documents docs;
	for (Answer &a : docs) {
		std::uint64_t status, lead, v[5];
		if (!in.integer<2>(status) || status < 100 || status > 599 || !in.integer<1>(lead) ||
		    lead > 1)
			return std::nullopt;
		for (std::uint64_t &x : v)
			if (!in.integer<4>(x))
				return std::nullopt;
		std::string_view rest;
		if (!in.text<4>(rest))
			return std::nullopt;
		const auto [head, etag_at, etag_size, cache_at, cache_size] = v;
		// The framing a writer of this format always makes: the head ends
		// its last line and the blank one, the values sit inside it, and a
		// head without the shared lead starts with its own status line.
		if (head > rest.size() || head < 2 || rest.substr(head - 2, 2) != "\r\n" ||
		    etag_at + etag_size > head || cache_at + cache_size > head ||
		    (lead == 0 && !rest.starts_with("Status: ")))
			return std::nullopt;
		a.status = static_cast<int>(status);
		if (lead) {
			a.lead = lead_of(a.status);
			if (a.lead.empty())
				return std::nullopt;
		}
		a.rest = rest;
		a.head_size = static_cast<std::uint32_t>(head);
		a.etag_at = static_cast<std::uint32_t>(etag_at);
		a.etag_size = static_cast<std::uint32_t>(etag_size);
		a.cache_at = static_cast<std::uint32_t>(cache_at);
		a.cache_size = static_cast<std::uint32_t>(cache_size);
	}
	if (!in.done())
		return std::nullopt;
	return docs;
}

Made make(std::string_view key, std::string_view record_text, const nlohmann::json &defaults,
          const render::Policy &policy)
{
	Made made;
	bounded_json::Parsed stored = bounded_json::parse(record_text);
	if (stored.outcome == bounded_json::Outcome::too_big ||
	    stored.outcome == bounded_json::Outcome::too_deep) {
		made.outcome = Made::Outcome::over_limit;
		made.problem = "record " + stored.problem;
		return made;
	}
	if (!stored.value.is_object()) {
		made.outcome = Made::Outcome::not_object;
		return made;
	}
	const nlohmann::json record = record::effective(stored.value, defaults, key);
	if (const auto problems = record::validate(record, key); !problems.empty()) {
		made.outcome = Made::Outcome::invalid;
		made.problem = record::format_path(problems.front().path) + ": " + problems.front().message;
		return made;
	}
	for (Document d : all_documents)
		made.docs[static_cast<std::size_t>(d)] = make_answer(render::document(record, d, key, policy));
	return made;
}

Outcome prepare(std::string_view key, std::string_view record_text, const nlohmann::json &defaults,
                const render::Policy &policy)
{
	const std::string name(key);
	// A wildcard's documents name the host asked for ({domain}), so they
	// are rendered per host, when asked.
	if (key.starts_with("*."))
		return {std::nullopt, name + ": wildcard key (rendered per host when asked)"};
	Made made = make(key, record_text, defaults, policy);
	switch (made.outcome) {
	case Made::Outcome::over_limit:
		return {std::nullopt, name + ": " + made.problem};
	case Made::Outcome::not_object:
		return {std::nullopt, name + ": the stored record is not a JSON object"};
	case Made::Outcome::invalid:
		return {std::nullopt, name + ": " + made.problem + " (with [defaults])"};
	case Made::Outcome::documents:
		break;
	}
	for (Document d : all_documents)
		if (made.docs[static_cast<std::size_t>(d)].status >= 500)
			return {std::nullopt, name + ": " + std::string(document_path(d)) + ": cannot be rendered"};
	return {encode(key, made.docs), {}};
}

} // namespace mxd::rendering
