// The backend loader: plugins found by name, checked for their ABI before any
// of their code runs, and wrapped so that C++ code above sees exceptions and
// RAII, never the C interface.
#pragma once

#include <mxdelegate/backend.h>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace mxd {

class BackendError : public std::runtime_error {
public:
	using std::runtime_error::runtime_error;
};

// A loaded shared object.  Kept alive by every Backend opened from it.
class Plugin {
public:
	// dlopen(RTLD_NOW | RTLD_LOCAL), then the ABI check.  Throws BackendError
	// naming the path and, for a version mismatch, the expected and the found
	// version.
	static std::shared_ptr<const Plugin> load(const std::string &path);
	~Plugin();
	Plugin(const Plugin &) = delete;
	Plugin &operator=(const Plugin &) = delete;

	const mxd_backend &table() const { return *table_; }
	const std::string &path() const { return path_; }

private:
	Plugin(std::string path, void *dl, const mxd_backend *table);
	std::string path_;
	void *dl_;
	const mxd_backend *table_;
};

// "<dir>/<name>.so"; throws BackendError for a name that is not [a-z0-9_-]+.
std::string plugin_path(std::string_view dir, std::string_view name);

// An open backend handle.
class Backend {
public:
	// Calls the plugin's open() with the configuration object (see backend.h
	// for its keys).  Throws BackendError with the plugin's message.
	static std::shared_ptr<Backend> open(std::shared_ptr<const Plugin> plugin,
	                                     const nlohmann::json &config);
	~Backend();
	Backend(const Backend &) = delete;
	Backend &operator=(const Backend &) = delete;

	// The record JSON stored under exactly `key`, nullopt when there is none.
	// Throws BackendError when the backend cannot answer.
	std::optional<std::string> lookup(const std::string &key) const;
	// Throws BackendError when the backend cannot answer.
	std::uint64_t generation() const;

	const Plugin &plugin() const { return *plugin_; }

private:
	Backend(std::shared_ptr<const Plugin> plugin, void *handle);
	std::string take(char *s) const; // copies and frees a plugin string
	std::shared_ptr<const Plugin> plugin_;
	void *handle_;
};

} // namespace mxd
