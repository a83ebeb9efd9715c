// record::validate, expand and effective on arbitrary JSON, as a backend or
// the admin tool hands it over.  Input: a key (first line: a domain, a
// wildcard or nothing for [defaults]), then the record's JSON text.  What the
// directory relies on is checked: validate never throws, and a record that
// passes it (with the host's name in its templates, as the directory checks
// it) renders every document as JSON within the size limit.
#include "fuzz.hpp"

#include "core/host.hpp"
#include "core/record.hpp"
#include "core/render.hpp"

#include <cstddef>
#include <cstdint>

using namespace mxd;
using nlohmann::json;

namespace {

bool has_placeholder(const json &v)
{
	if (v.is_string())
		return v.get_ref<const std::string &>().find("{domain}") != std::string::npos;
	if (v.is_structured())
		for (const json &c : v)
			if (has_placeholder(c))
				return true;
	return false;
}

// The directory's path for one host: defaults merged, templates expanded,
// validated again, then rendered.
void serve(const json &stored, const json &defaults, const std::string &host)
{
	const json eff = record::effective(stored, defaults, host);
	FUZZ_CHECK(eff.is_object());
	FUZZ_CHECK(!has_placeholder(eff) || host.find("{domain}") != std::string::npos);
	for (auto it = stored.begin(); it != stored.end(); ++it)
		FUZZ_CHECK(eff.contains(it.key()));
	if (!record::validate(eff, host).empty())
		return; // the directory answers 500
	for (Document d : all_documents) {
		const std::optional<std::string> b = render::body(eff, d);
		if (!b)
			continue;
		FUZZ_CHECK(b->size() <= record::max_document_size);
		const json parsed = fuzz::parse_json(*b);
		FUZZ_CHECK(parsed.is_object());
	}
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
	const auto [key_in, text] = fuzz::split_line(
		std::string_view(reinterpret_cast<const char *>(data), size));
	const std::string key(key_in);
	const json record = fuzz::parse_json(text);
	if (record.is_discarded())
		return 0;

	const std::vector<record::Problem> problems = record::validate(record, key);
	for (const record::Problem &p : problems) {
		FUZZ_CHECK(!p.message.empty());
		(void)record::format_path(p.path);
	}
	// expand() keeps the shape and leaves no placeholder behind.
	const json expanded = record::expand(record, "a.example.org");
	FUZZ_CHECK(expanded.type() == record.type() && expanded.size() == record.size());
	FUZZ_CHECK(!has_placeholder(expanded));
	if (!problems.empty() || !record.is_object())
		return 0;

	// A valid record served for hosts its key matches, with and without
	// defaults, and as the defaults of another record.
	static const json defaults = {{"server", "matrix.{domain}:443"},
	                              {"support", {{"support_page", "https://{domain}/help"}}}};
	std::string host = key.empty() ? "example.org" : key;
	if (key.starts_with("*."))
		host = "a." + key.substr(2);
	if (host::is_valid_name(host)) {
		serve(record, json::object(), host);
		serve(record, defaults, host);
		serve(json::object(), record, host);
		// The longest name a wildcard can be asked for.
		if (key.starts_with("*.")) {
			std::string longer = key.substr(2);
			while (longer.size() + 64 <= 253)
				longer.insert(0, std::string(63, 'x') + ".");
			if (host::is_valid_name(longer))
				serve(record, defaults, longer);
		}
	}
	return 0;
}
