// Shared by the libFuzzer targets: a check that aborts (so that libFuzzer
// saves the input) with the broken invariant and the input's size, and
// where the fuzz build put the plugins.
#pragma once

#include <nlohmann/json.hpp>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>

#include <unistd.h>

// assert() vanishes under NDEBUG; an invariant here must hold in every build.
#define FUZZ_CHECK(cond)                                                              \
	do {                                                                              \
		if (!(cond)) {                                                                \
			std::fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, \
			             #cond);                                                      \
			std::abort();                                                             \
		}                                                                             \
	} while (0)

namespace mxd::fuzz {

// The fuzz binaries live in BUILDDIR/fuzz/ and their instrumented plugins in
// BUILDDIR/fuzz/backends/, so the binary finds them from its own path and
// works from any current directory.
inline std::string plugin_dir()
{
	char self[PATH_MAX];
	const ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n <= 0)
		std::abort();
	std::string path(self, static_cast<std::size_t>(n));
	return path.substr(0, path.rfind('/')) + "/backends";
}

// Splits the input at its first newline: a short key or host, then the rest.
inline std::pair<std::string_view, std::string_view> split_line(std::string_view in)
{
	const std::size_t nl = in.find('\n');
	if (nl == std::string_view::npos)
		return {in, {}};
	return {in.substr(0, nl), in.substr(nl + 1)};
}

// JSON text from the input, or a discarded value when it is not JSON.
inline nlohmann::json parse_json(std::string_view text)
{
	return nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
}

} // namespace mxd::fuzz
