#include "backend.hpp"

#include "log.hpp"

#include <dlfcn.h>

#include <cstdlib>

namespace mxd {

namespace {

// The size of the table as ABI 1.0 defines it: the loader reads no member
// beyond what the plugin's minor version promises.
constexpr std::size_t table_size_1_0 = sizeof(mxd_backend);

void host_log(void *, int level, const char *message)
{
	auto lvl = level <= MXD_LOG_ERR ? log::Level::error
	         : level == MXD_LOG_WARNING ? log::Level::warning : log::Level::info;
	log::write(lvl, "backend", message ? message : "(null)");
}

const mxd_host the_host{nullptr, host_log};

bool valid_plugin_name(std::string_view name)
{
	if (name.empty() || name.size() > 64)
		return false;
	for (char c : name)
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return false;
	return true;
}

} // namespace

std::string plugin_path(std::string_view dir, std::string_view name)
{
	if (!valid_plugin_name(name))
		throw BackendError("backend name \"" + log::escape(name, 64) +
		                   "\" is not a plugin name (letters a-z, digits, '_' and '-')");
	std::string path(dir);
	if (path.empty() || path.back() != '/')
		path += '/';
	path.append(name).append(".so");
	return path;
}

Plugin::Plugin(std::string path, void *dl, const mxd_backend *table)
	: path_(std::move(path)), dl_(dl), table_(table)
{
}

Plugin::~Plugin()
{
	dlclose(dl_);
}

std::shared_ptr<const Plugin> Plugin::load(const std::string &path)
{
	void *dl = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
	if (!dl) {
		const char *why = dlerror();
		throw BackendError("cannot load backend plugin " + path + ": " +
		                   (why ? why : "unknown dlopen error"));
	}
	dlerror();
	auto *table = static_cast<const mxd_backend *>(dlsym(dl, MXD_BACKEND_SYMBOL));
	if (!table) {
		dlclose(dl);
		throw BackendError(path + ": not an mxdelegate backend: no symbol \"" MXD_BACKEND_SYMBOL "\"");
	}
	// Only the two version fields are read until the version is known good.
	const std::uint32_t major = table->abi_major, minor = table->abi_minor;
	if (major != MXD_BACKEND_ABI_MAJOR) {
		dlclose(dl);
		throw BackendError(path + ": backend ABI version " + std::to_string(major) + "." +
		                   std::to_string(minor) + " found, " +
		                   std::to_string(MXD_BACKEND_ABI_MAJOR) + ".x expected");
	}
	static_assert(table_size_1_0 == sizeof(mxd_backend),
	              "reading appended members needs a check of abi_minor");
	const char *missing = !table->open ? "open"
	                    : !table->lookup ? "lookup"
	                    : !table->generation ? "generation"
	                    : !table->close ? "close"
	                    : !table->free_string ? "free_string"
	                    : !table->name ? "name" : nullptr;
	if (missing) {
		dlclose(dl);
		throw BackendError(path + ": backend table has no \"" + missing + "\" entry");
	}
	return std::shared_ptr<const Plugin>(new Plugin(path, dl, table));
}

Backend::Backend(std::shared_ptr<const Plugin> plugin, void *handle)
	: plugin_(std::move(plugin)), handle_(handle)
{
}

Backend::~Backend()
{
	plugin_->table().close(handle_);
}

std::string Backend::take(char *s) const
{
	if (!s)
		return "(no message)";
	std::string copy(s);
	plugin_->table().free_string(s);
	return copy;
}

std::shared_ptr<Backend> Backend::open(std::shared_ptr<const Plugin> plugin,
                                       const nlohmann::json &config)
{
	const std::string text = config.dump();
	void *handle = nullptr;
	char *error = nullptr;
	const mxd_backend &t = plugin->table();
	int rc = t.open(text.c_str(), &the_host, &handle, &error);
	if (rc != MXD_OK) {
		std::string why = error ? std::string(error) : "(no message)";
		if (error)
			t.free_string(error);
		// A failed open() owns no handle (backend.h), so none is closed here.
		throw BackendError(why);
	}
	if (error)
		t.free_string(error);
	return std::shared_ptr<Backend>(new Backend(std::move(plugin), handle));
}

std::optional<std::string> Backend::lookup(const std::string &key) const
{
	char *record = nullptr, *error = nullptr;
	switch (plugin_->table().lookup(handle_, key.c_str(), &record, &error)) {
	case MXD_OK:
		if (!record)
			throw BackendError(plugin_->path() + ": lookup of " + key +
			                   " succeeded without a record");
		return take(record);
	case MXD_NOT_FOUND:
		return std::nullopt;
	default:
		throw BackendError(take(error));
	}
}

std::uint64_t Backend::generation() const
{
	std::uint64_t gen = 0;
	char *error = nullptr;
	if (plugin_->table().generation(handle_, &gen, &error) != MXD_OK)
		throw BackendError(take(error));
	return gen;
}

} // namespace mxd
