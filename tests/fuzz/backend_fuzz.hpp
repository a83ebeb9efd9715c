// The lookup of a backend plugin with hostile keys, shared by the TOML and
// the SQLite targets.  The plugin is the fuzz build's instrumented copy,
// loaded through mxd::Plugin as the responder loads it, over a small fixed
// store.  Keys a client can never produce reach a plugin only through a bug
// above it, but the plugin must still answer exactly: NUL, %, _ and * must not
// act as wildcards (SQL LIKE, globbing), quotes must not escape anything,
// case must not fold, and a long key is just not found.
#pragma once

#include "fuzz.hpp"

#include "service/backend.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <map>

namespace mxd::fuzz {

// The fixed store: keys as the core would ask for them, records as stored.
inline const std::map<std::string, nlohmann::json> &store()
{
	static const std::map<std::string, nlohmann::json> s = {
		{"example.org", {{"server", "matrix.example.org:443"}}},
		{"*.example.net", {{"client", "https://{domain}/chat"}, {"max_age", 60}}},
		{"a.b.example.com", {{"server", "b.example.com:8448"}}},
		{"xn--bcher-kva.example", {{"support", {{"support_page", "https://example.org/"}}}}},
		{"localhost", {{"server", "localhost:8448"}}},
	};
	return s;
}

// A temporary folder for the store, removed when libFuzzer exits (it calls
// exit(), so atexit handlers run); kept while fuzzing, since the plugins
// watch their files.
inline std::string store_dir(const char *tag)
{
	static std::string dir;
	std::string tmpl = std::string("/tmp/mxd-fuzz-") + tag + "-XXXXXX";
	if (!mkdtemp(tmpl.data()))
		std::abort();
	dir = tmpl;
	std::atexit([] {
		std::error_code ec;
		std::filesystem::remove_all(dir, ec);
	});
	return dir;
}

// Looks the input up as a key and checks the answer against the store.
inline void check_lookup(const Backend &backend, const std::uint8_t *data, std::size_t size)
{
	const std::string key(reinterpret_cast<const char *>(data), size);
	std::optional<std::string> found;
	try {
		found = backend.lookup(key);
	} catch (const BackendError &e) {
		// The store is fixed and healthy: any error is a plugin bug.
		std::fprintf(stderr, "lookup failed: %s\n", e.what());
		std::abort();
	}
	// The ABI passes a C string: what the plugin sees ends at the first NUL.
	const std::string seen(key.c_str());
	const auto it = store().find(seen);
	FUZZ_CHECK(found.has_value() == (it != store().end()));
	if (found)
		FUZZ_CHECK(nlohmann::json::parse(*found) == it->second);
	(void)backend.generation();
}

// Every stored key is found and nothing near it is, before fuzzing starts,
// so that a target that finds nothing at all cannot pass.
inline void self_test(const Backend &backend)
{
	for (const auto &[key, record] : store()) {
		const auto found = backend.lookup(key);
		FUZZ_CHECK(found && nlohmann::json::parse(*found) == record);
		for (const std::string &near : {key + ".", key.substr(1), "%" + key.substr(1),
		                                "_" + key.substr(1), std::string("*"), std::string("%")})
			FUZZ_CHECK(!backend.lookup(near) || store().count(near));
	}
}

} // namespace mxd::fuzz
