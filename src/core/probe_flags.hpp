// The options that mxdelegatectl probe hands over to mxdelegate-probe as
// they were given, and whether each takes a value.  One table for both
// programs: mxdelegatectl must know which words are values to find its own
// operands, and never links the probe, which judges the values.
#pragma once

#include <string_view>

namespace mxd::probe_flags {

struct Flag {
	std::string_view name; // without "--"
	bool value;
};

inline constexpr Flag passed[] = {
	{"concurrency", true}, {"per-host", true}, {"rate", true}, {"format", true},
	{"federation", false}, {"user-agent", true}, {"resolve", true}, {"connect-to", true},
	{"cacert", true}, {"insecure", false}, {"timeout", true}, {"origin", true},
};

// The entry for name, or nullptr.
constexpr const Flag *find(std::string_view name)
{
	for (const Flag &f : passed)
		if (f.name == name)
			return &f;
	return nullptr;
}

} // namespace mxd::probe_flags
