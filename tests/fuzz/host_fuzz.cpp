// host::normalise, lookup_keys, canonical_domain and check_server_name on
// arbitrary bytes: the Host header is the one value a client fully controls,
// and the name it yields becomes a backend key.
#include "fuzz.hpp"

#include "core/host.hpp"

#include <cstddef>
#include <cstdint>
#include <stdexcept>

using namespace mxd;

namespace {

bool has_upper(std::string_view s)
{
	for (char c : s)
		if (c >= 'A' && c <= 'Z')
			return true;
	return false;
}

void check_name(std::string_view raw)
{
	const host::Normalised p = host::normalise(raw);
	if (p.kind != host::Kind::name) {
		FUZZ_CHECK(p.name.empty());
		FUZZ_CHECK((p.kind == host::Kind::invalid) == !p.reason.empty());
		return;
	}
	// What the directory uses as a cache key and a backend key.
	const std::string &n = p.name;
	FUZZ_CHECK(!n.empty() && n.size() <= 253 && n.size() <= raw.size());
	FUZZ_CHECK(!has_upper(n));
	FUZZ_CHECK(n.back() != '.');
	FUZZ_CHECK(n.find_first_of(std::string_view("\0%_*:/\\\"' ", 10)) == std::string::npos);
	FUZZ_CHECK(host::is_valid_name(n));
	// Normalising a normalised name changes nothing.
	const host::Normalised again = host::normalise(n);
	FUZZ_CHECK(again.kind == host::Kind::name && again.name == n);

	// Most specific first, each a "*." key for a proper suffix of the name.
	const std::vector<std::string> keys = host::lookup_keys(n);
	FUZZ_CHECK(!keys.empty() && keys[0] == n);
	for (std::size_t i = 1; i < keys.size(); ++i) {
		const std::string &k = keys[i];
		FUZZ_CHECK(k.size() > 2 && k.compare(0, 2, "*.") == 0);
		FUZZ_CHECK(k.size() - 2 < n.size());
		FUZZ_CHECK(n.compare(n.size() - (k.size() - 2), k.size() - 2, k, 2) == 0);
		FUZZ_CHECK(n[n.size() - (k.size() - 2) - 1] == '.');
		FUZZ_CHECK(k.size() < keys[i - 1].size() + (i == 1 ? 2 : 0));
	}
}

void check_canonical(std::string_view raw, bool wildcard)
{
	std::string c;
	try {
		c = host::canonical_domain(raw, wildcard);
	} catch (const std::invalid_argument &e) {
		FUZZ_CHECK(*e.what() != '\0');
		return;
	}
	FUZZ_CHECK(!c.empty() && !has_upper(c) && c.back() != '.');
	const bool is_wild = c.size() > 2 && c.compare(0, 2, "*.") == 0;
	FUZZ_CHECK(wildcard || !is_wild);
	// A canonical domain is a name the Host normaliser can produce (so the
	// record can be found) and is its own canonical form.
	FUZZ_CHECK(host::is_valid_name(is_wild ? std::string_view(c).substr(2) : c));
	FUZZ_CHECK(host::canonical_domain(c, wildcard) == c);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
	const std::string_view in(reinterpret_cast<const char *>(data), size);
	check_name(in);
	check_canonical(in, false);
	check_canonical(in, true);
	const std::string why = host::check_server_name(in);
	// Only a well-formed server name is accepted, and no byte outside it.
	if (why.empty())
		FUZZ_CHECK(!in.empty() && in.find_first_of(std::string_view("\0/ \r\n", 5)) ==
		                              std::string_view::npos);
	return 0;
}
