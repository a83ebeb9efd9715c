// The backend loader: plugins found by name, checked for their ABI before any
// of their code runs, and wrapped so that C++ code above sees exceptions and
// RAII, never the C interface.
#pragma once

#include <mxdelegate/backend.h>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace mxd {

class BackendError : public std::runtime_error {
public:
	// What the plugin's result said, so that the admin tool can pick its
	// exit code (sysexits): busy 75, invalid 65, no_store 66.
	enum class Kind { failed, busy, invalid, no_store, unsupported };

	using std::runtime_error::runtime_error;
	BackendError(const std::string &what, Kind kind) : std::runtime_error(what), kind_(kind) {}
	Kind kind() const { return kind_; }

private:
	Kind kind_ = Kind::failed;
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

	// A copy of the plugin's table as this core knows it: the members that
	// the plugin's minor version lacks are NULL here, whatever follows its
	// table in memory.
	const mxd_backend &table() const { return table_; }
	const std::string &path() const { return path_; }
	// list, put, remove, begin, commit and rollback are all there.
	bool writable() const;

private:
	Plugin(std::string path, void *dl, const mxd_backend &table);
	std::string path_;
	void *dl_;
	mxd_backend table_;
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

	// ABI 1.1, the write side.  Each throws BackendError (Kind::unsupported)
	// when the plugin lacks the member, and otherwise with the plugin's
	// message and the Kind of its result.
	bool can_list() const { return plugin_->table().list != nullptr; }
	bool writable() const { return plugin_->writable(); }
	// Calls each(domain, record_json) in domain order until it returns
	// false.  An exception thrown by each() stops the listing and is
	// rethrown here, after the plugin has returned.
	using Each = std::function<bool(std::string_view domain, std::string_view record_json)>;
	void list(const Each &each) const;
	void put(const std::string &domain, const std::string &record_json);
	// False when there was no record under domain.
	bool remove(const std::string &domain);
	void begin();
	void commit();
	void rollback();

	// ABI 1.3, renderings kept beside the records (backend.h).  Both
	// operations are there, or neither.
	bool keeps_renderings() const
	{
		return plugin_->table().lookup_rendered && plugin_->table().store_rendered;
	}
	struct Stored {
		enum Kind { none, record, rendered } kind = none;
		std::string text; // the record's JSON, or the rendering's bytes
	};
	// The rendering kept for `key` under `fingerprint` when the store holds
	// one for the record as it is now, else the record (as lookup()), else
	// none.  A plugin without the operation answers as lookup() does.
	// Throws BackendError when the backend cannot answer.
	Stored lookup_rendered(const std::string &key, const std::string &fingerprint) const;
	// Keeps `rendered` for the record stored under domain now (nullopt:
	// forgets the one kept).  False when there is no such record.  Throws
	// BackendError (Kind::unsupported without the operation).
	bool store_rendered(const std::string &domain, const std::string &fingerprint,
	                    const std::optional<std::string> &rendered);

private:
	Backend(std::shared_ptr<const Plugin> plugin, void *handle);
	std::string take(char *s) const; // copies and frees a plugin string
	[[noreturn]] void fail(int rc, char *error) const;
	const mxd_backend &writer(const char *what) const;
	std::shared_ptr<const Plugin> plugin_;
	void *handle_;
};

} // namespace mxd
