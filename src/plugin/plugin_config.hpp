// A plugin's configuration: the JSON object open() receives (backend.h),
// read against the keys the plugin knows, so that every plugin refuses an
// unknown key, a value of the wrong type and a bad "access" in the same words.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mxd::plugin {

// "access": what the admin tool asked for; the responder never passes it.
enum class Access { read, write, create };

// One key of [backend] that the plugin knows.  config_file and config_dir
// (from the core) and access (when the plugin is writable) are always known.
struct Key {
	std::string_view name;
	enum Type { text, integer } type = text;
	// An integer's range, both ends included.
	std::int64_t min = 0, max = 0;
	// What a wrong value is told, after "[backend] NAME: ".
	std::string_view must = "must be a string";
};

struct ConfigRules {
	// Before every message: "sqlite: ", or "" for a plugin whose messages
	// stand alone.
	std::string_view prefix;
	std::vector<Key> keys;
	// Whether "access" is known: a plugin without a write side refuses it.
	bool writable = false;
	// Whether the refusal of an unknown key lists the known ones.
	bool list_known = true;
};

// [backend] timeout: how long one lookup of the responder may take in the
// store, in milliseconds, the same key and words in every plugin that makes
// store calls.  Well under [server] read_timeout (5 s): a lookup past it is a
// store failure for that request (its stale answer, or 503), so that a slow
// store cannot hold the workers, and with them every other tenant.  The
// admin tool's write side is not bounded by it.
inline constexpr Key timeout_key{"timeout", Key::integer, 1, 60000,
                                 "must be an integer number of milliseconds from 1 to 60000"};
inline constexpr std::chrono::milliseconds default_timeout{1000};

// Throws StatusError(MXD_ERROR) for the first key it refuses, and whatever
// nlohmann::json::parse throws for text that is not JSON.
class PluginConfig {
public:
	PluginConfig(const char *config_json, const ConfigRules &rules);

	// The value of a known key, or nothing when it is absent.
	const std::string *text(std::string_view key) const;
	std::optional<std::int64_t> integer(std::string_view key) const;
	Access access() const { return access_; }
	// [backend] timeout, or its default (for a plugin that lists timeout_key).
	std::chrono::milliseconds timeout() const
	{
		return std::chrono::milliseconds(integer(timeout_key.name).value_or(default_timeout.count()));
	}

	// A path from the configuration made absolute: relative to config_dir,
	// or to config_file's folder, as an operator reads it in the file.
	std::string resolve(const std::string &path) const;

private:
	const nlohmann::json *find(std::string_view key) const;

	nlohmann::json config_;
	Access access_ = Access::read;
};

} // namespace mxd::plugin
