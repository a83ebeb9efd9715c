#include "service/backend.hpp"

#include "core/log.hpp"
#include "service/metrics.hpp"

#include <dlfcn.h>
#include <sys/stat.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <map>
#include <mutex>
#include <utility>

namespace mxd {

namespace {

// The size of the table as each minor version defines it.  The loader reads
// no member beyond what the plugin's minor version promises.  1.0 ends at
// free_string; 1.1 appended the write side; 1.2 appended nothing to the
// table (it grew struct mxd_host), so a 1.2 table is a 1.1 table; 1.3
// appended flags and the renderings.
constexpr std::size_t table_size_1_0 = offsetof(mxd_backend, list);
static_assert(table_size_1_0 == offsetof(mxd_backend, free_string) + sizeof(void (*)(char *)),
              "the 1.1 members start right after free_string");
constexpr std::size_t table_size_1_1 = offsetof(mxd_backend, rollback) + sizeof(void *);
constexpr std::size_t table_size_1_3 = offsetof(mxd_backend, store_rendered) + sizeof(void *);
static_assert(sizeof(mxd_backend) == table_size_1_3,
              "a member appended to the table after 1.3 needs its own case in promised_size()");

constexpr std::size_t promised_size(std::uint32_t minor)
{
	return minor == 0 ? table_size_1_0 : minor < 3 ? table_size_1_1 : table_size_1_3;
}

void host_log(void *, int level, const char *message)
{
	auto lvl = level <= MXD_LOG_ERR ? log::Level::error
	         : level == MXD_LOG_WARNING ? log::Level::warning : log::Level::info;
	log::write(lvl, "backend", message ? message : "(null)");
}

// The same host goes to every plugin, whatever its minor version: a 1.0 or
// 1.1 plugin reads ctx and log, which still lead the struct, and nothing
// after them.  Static, so it outlives every handle (backend.h promises it
// until close()).
static_assert(offsetof(mxd_host, ctx) == 0 && offsetof(mxd_host, log) == sizeof(void *),
              "the 1.0 members of mxd_host stay where 1.0 and 1.1 plugins read them");
static_assert(offsetof(mxd_host, abi_minor) == 2 * sizeof(void *),
              "abi_minor is appended right after the 1.0 members");
const mxd_host the_host{nullptr, host_log, MXD_BACKEND_ABI_MINOR};

BackendError::Kind kind_of(int rc)
{
	switch (rc) {
	case MXD_BUSY: return BackendError::Kind::busy;
	case MXD_INVALID: return BackendError::Kind::invalid;
	case MXD_NO_STORE: return BackendError::Kind::no_store;
	default: return BackendError::Kind::failed;
	}
}

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

Plugin::Plugin(std::string path, void *dl, const mxd_backend &table)
	: path_(std::move(path)), dl_(dl), table_(table)
{
}

bool Plugin::writable() const
{
	return table_.list && table_.put && table_.remove && table_.begin && table_.commit &&
	       table_.rollback;
}

Plugin::~Plugin()
{
	dlclose(dl_);
}

namespace {

// dlopen() hands back an object already loaded under the same name without
// looking at the file again: a reload after the plugin was deleted or
// replaced would go on with the old code and say nothing.  So the file is
// looked at first, and a path that now names another file than the one in
// memory is refused until the old one is unloaded (the next start).  The
// path holds a '/' (plugin_path makes it so): dlopen() searches no library
// path for it, and stat() sees the file that dlopen() would open.
std::mutex loaded_mutex;
std::map<std::string, std::pair<dev_t, ino_t>> loaded_files;

void check_file(const std::string &path)
{
	struct stat st;
	if (::stat(path.c_str(), &st) != 0)
		throw BackendError("cannot load backend plugin " + path + ": " + std::strerror(errno));
	std::lock_guard lock(loaded_mutex);
	const std::pair<dev_t, ino_t> id{st.st_dev, st.st_ino};
	void *in_memory = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
	if (in_memory) {
		dlclose(in_memory);
		if (auto it = loaded_files.find(path); it != loaded_files.end() && it->second != id)
			throw BackendError("cannot load backend plugin " + path +
			                   ": the file was replaced since it was loaded, and the old one is "
			                   "still in use; restart mxdelegate to load the new one");
		return;
	}
	loaded_files[path] = id;
}

} // namespace

std::shared_ptr<const Plugin> Plugin::load(const std::string &path)
{
	check_file(path);
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
	// A 1.0 table is shorter than ours: copy what its version promises and
	// leave the rest NULL.  A later minor's extra members are not ours to read.
	mxd_backend copy{};
	std::memcpy(static_cast<void *>(&copy), table, promised_size(minor));
	const char *missing = !copy.open ? "open"
	                    : !copy.lookup ? "lookup"
	                    : !copy.generation ? "generation"
	                    : !copy.close ? "close"
	                    : !copy.free_string ? "free_string"
	                    : !copy.name ? "name" : nullptr;
	if (missing) {
		dlclose(dl);
		throw BackendError(path + ": backend table has no \"" + missing + "\" entry");
	}
	return std::shared_ptr<const Plugin>(new Plugin(path, dl, copy));
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
		throw BackendError(why, kind_of(rc));
	}
	if (error)
		t.free_string(error);
	return std::shared_ptr<Backend>(new Backend(std::move(plugin), handle));
}

namespace {

// A lookup's call into the plugin, timed and counted in the thread's
// metrics block (a failure by its kind); returns the plugin's result.
template <typename Call>
int timed_lookup(Call call)
{
	const auto start = std::chrono::steady_clock::now();
	const int rc = call();
	const auto took = std::chrono::duration_cast<std::chrono::nanoseconds>(
		std::chrono::steady_clock::now() - start);
	metrics::local().looked_up(static_cast<std::uint64_t>(took.count()),
	                           rc == MXD_OK || rc == MXD_NOT_FOUND
	                               ? -1
	                               : static_cast<int>(kind_of(rc)));
	return rc;
}

} // namespace

std::optional<std::string> Backend::lookup(const std::string &key) const
{
	char *record = nullptr, *error = nullptr;
	const int rc = timed_lookup(
		[&] { return plugin_->table().lookup(handle_, key.c_str(), &record, &error); });
	switch (rc) {
	case MXD_OK:
		if (!record)
			throw BackendError(plugin_->path() + ": lookup of " + key +
			                   " succeeded without a record");
		return take(record);
	case MXD_NOT_FOUND:
		return std::nullopt;
	default:
		fail(rc, error);
	}
}

Backend::Stored Backend::lookup_rendered(const std::string &key, const std::string &fingerprint) const
{
	const mxd_backend &t = plugin_->table();
	if (!keeps_renderings()) {
		std::optional<std::string> text = lookup(key);
		return text ? Stored{Stored::record, std::move(*text)} : Stored{};
	}
	char *record = nullptr, *rendered = nullptr, *error = nullptr;
	std::size_t size = 0;
	const int rc = timed_lookup([&] {
		return t.lookup_rendered(handle_, key.c_str(), fingerprint.c_str(), &record, &rendered,
		                         &size, &error);
	});
	switch (rc) {
	case MXD_OK:
		if (rendered) {
			if (record)
				t.free_string(record); // the contract says untouched; a plugin may err
			Stored out{Stored::rendered, std::string(rendered, size)};
			t.free_string(rendered);
			return out;
		}
		if (!record)
			throw BackendError(plugin_->path() + ": lookup of " + key +
			                   " succeeded without a record or a rendering");
		return {Stored::record, take(record)};
	case MXD_NOT_FOUND:
		return {};
	default:
		fail(rc, error);
	}
}

bool Backend::store_rendered(const std::string &domain, const std::string &fingerprint,
                             const std::optional<std::string> &rendered)
{
	const mxd_backend &t = plugin_->table();
	if (!keeps_renderings())
		throw BackendError("backend \"" + std::string(t.name) + "\" (" + plugin_->path() +
		                   ") keeps no renderings (ABI 1.3 store_rendered)",
		                   BackendError::Kind::unsupported);
	char *error = nullptr;
	const int rc = t.store_rendered(handle_, domain.c_str(), fingerprint.c_str(),
	                                rendered ? rendered->data() : nullptr,
	                                rendered ? rendered->size() : 0, &error);
	if (rc == MXD_NOT_FOUND)
		return false;
	if (rc != MXD_OK)
		fail(rc, error);
	return true;
}

std::uint64_t Backend::generation() const
{
	std::uint64_t gen = 0;
	char *error = nullptr;
	if (int rc = plugin_->table().generation(handle_, &gen, &error); rc != MXD_OK)
		fail(rc, error);
	return gen;
}

namespace {

struct ListContext {
	const Backend::Each *each;
	std::exception_ptr error;
	bool bad_arguments = false;
};

// The plugin calls this with C linkage; nothing may unwind into it.
extern "C" int list_trampoline(void *ctx, const char *domain, const char *record_json)
{
	auto *c = static_cast<ListContext *>(ctx);
	if (!domain || !record_json) {
		c->bad_arguments = true;
		return 1;
	}
	try {
		return (*c->each)(domain, record_json) ? 0 : 1;
	} catch (...) {
		c->error = std::current_exception();
		return 1;
	}
}

} // namespace

void Backend::fail(int rc, char *error) const
{
	throw BackendError(take(error), kind_of(rc));
}

const mxd_backend &Backend::writer(const char *what) const
{
	const mxd_backend &t = plugin_->table();
	if (!writable())
		throw BackendError("backend \"" + std::string(t.name) + "\" (" + plugin_->path() +
		                   ") is read-only: it cannot " + what,
		                   BackendError::Kind::unsupported);
	return t;
}

void Backend::list(const Each &each) const
{
	const mxd_backend &t = plugin_->table();
	if (!t.list)
		throw BackendError("backend \"" + std::string(t.name) + "\" (" + plugin_->path() +
		                   ") cannot list its records",
		                   BackendError::Kind::unsupported);
	ListContext ctx{&each, nullptr};
	char *error = nullptr;
	const int rc = t.list(handle_, list_trampoline, &ctx, &error);
	if (ctx.error) {
		if (error)
			t.free_string(error);
		std::rethrow_exception(ctx.error);
	}
	if (rc != MXD_OK)
		fail(rc, error);
	if (ctx.bad_arguments)
		throw BackendError(plugin_->path() + ": list passed a null domain or record");
}

void Backend::put(const std::string &domain, const std::string &record_json)
{
	char *error = nullptr;
	if (int rc = writer("store records").put(handle_, domain.c_str(), record_json.c_str(), &error);
	    rc != MXD_OK)
		fail(rc, error);
}

bool Backend::remove(const std::string &domain)
{
	char *error = nullptr;
	const int rc = writer("remove records").remove(handle_, domain.c_str(), &error);
	if (rc == MXD_NOT_FOUND)
		return false;
	if (rc != MXD_OK)
		fail(rc, error);
	return true;
}

void Backend::begin()
{
	char *error = nullptr;
	if (int rc = writer("begin a transaction").begin(handle_, &error); rc != MXD_OK)
		fail(rc, error);
}

void Backend::commit()
{
	char *error = nullptr;
	if (int rc = writer("commit a transaction").commit(handle_, &error); rc != MXD_OK)
		fail(rc, error);
}

void Backend::rollback()
{
	char *error = nullptr;
	if (int rc = writer("roll back a transaction").rollback(handle_, &error); rc != MXD_OK)
		fail(rc, error);
}

} // namespace mxd
