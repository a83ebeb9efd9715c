// The C entry points of a plugin (struct mxd_backend, backend.h), made from
// one C++ handle class, so that every plugin checks its arguments, keeps
// exceptions on its side of the boundary and hands out strings the same way:
//
//   extern "C" __attribute__((visibility("default")))
//   const struct mxd_backend mxd_backend = mxd::plugin::backend_table<Handle>();
//
// What Handle offers (a sketch; the concepts below are the contract):
//
//   static constexpr const char *name = "sqlite";
//   static std::unique_ptr<Handle> open(const char *config_json, const mxd_host *host);
//   int lookup(const char *domain, Found &out);  // MXD_OK (out set) or MXD_NOT_FOUND
//   std::uint64_t generation();
//   // Optional (ABI 1.3): MXD_IN_MEMORY when list() does no I/O.
//   static constexpr std::uint32_t flags = MXD_IN_MEMORY;
//   // Optional for a read-only store, required with the write side:
//   void list(Each each, void *ctx);
//   // The write side of ABI 1.1, all or nothing:
//   bool writable() const;                       // opened with "access"
//   void put(std::string key, const nlohmann::json &record);
//   bool remove(const char *domain);             // false: there was none
//   void begin(); void commit(); void rollback();
//   // Optional, ABI 1.3: renderings kept beside the records (backend.h).
//   int lookup_rendered(const char *domain, const char *fingerprint, Found &out);
//                                                // out.set() or out.set_rendered()
//   bool store_rendered(const char *domain, const char *fingerprint,
//                       std::optional<std::string_view> rendered); // false: no record
//   // Optional: a plugin's own exception type as a result and a message.
//   static std::optional<StatusError> translate(const Handle *h, const std::exception &e);
//
// Inside, a method throws StatusError for a failure with its result code,
// InvalidRecord for a record put() refuses (MXD_INVALID), or anything else,
// which becomes MXD_ERROR with "name: call: what()".
#pragma once

#include "plugin/plugin_record.hpp"
#include "plugin/plugin_strings.hpp"

#include <mxdelegate/backend.h>

#include <nlohmann/json.hpp>

#include <concepts>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace mxd::plugin {

using Each = int (*)(void *ctx, const char *domain, const char *record_json);

// What lookup() found, already in the memory the core releases with
// free_string(): a plugin copies its record into it once, so the boundary
// adds no copy of its own.
class Found {
public:
	Found() = default;
	Found(const Found &) = delete;
	Found &operator=(const Found &) = delete;
	~Found()
	{
		std::free(text_);
		std::free(rendered_);
	}

	// Leaves the text unset when memory is short; lookup() says so.
	void set(std::string_view json) noexcept
	{
		std::free(text_);
		text_ = c_string(json);
	}
	// A rendering instead of the record (lookup_rendered); bytes, not a
	// C string, so its size travels beside it.
	void set_rendered(std::string_view bytes) noexcept
	{
		std::free(rendered_);
		rendered_ = static_cast<char *>(std::malloc(bytes.size() ? bytes.size() : 1));
		if (rendered_)
			std::memcpy(rendered_, bytes.data(), bytes.size());
		rendered_size_ = bytes.size();
		rendered_set_ = true;
	}
	bool empty() const { return rendered_set_ ? !rendered_ : !text_; }
	bool rendered() const { return rendered_set_; }
	std::size_t rendered_size() const { return rendered_size_; }
	char *release() noexcept
	{
		char *t = text_;
		text_ = nullptr;
		return t;
	}
	char *release_rendered() noexcept
	{
		char *r = rendered_;
		rendered_ = nullptr;
		return r;
	}

private:
	char *text_ = nullptr;
	char *rendered_ = nullptr;
	std::size_t rendered_size_ = 0;
	bool rendered_set_ = false;
};

// The core's logger, as open() was given it: only the members of ABI 1.0
// are copied, so that a later core's longer struct mxd_host changes nothing.
class Log {
public:
	explicit Log(const mxd_host *host) : ctx_(host ? host->ctx : nullptr), log_(host ? host->log : nullptr) {}
	void operator()(int level, const std::string &message) const
	{
		if (log_)
			log_(ctx_, level, message.c_str());
	}

private:
	void *ctx_;
	void (*log_)(void *, int, const char *);
};

template <class H>
concept Readable = requires(H &h, const char *s, const mxd_host *host, Found &found) {
	{ H::name } -> std::convertible_to<const char *>;
	{ H::open(s, host) } -> std::same_as<std::unique_ptr<H>>;
	{ h.lookup(s, found) } -> std::same_as<int>;
	{ h.generation() } -> std::same_as<std::uint64_t>;
};

// backend.h allows list() alone: a read-only store that can still hand the
// core every record (the TOML plugin, for the responder's preload).
template <class H>
concept Listable = Readable<H> && requires(H &h, Each each) { h.list(each, nullptr); };

template <class H>
concept Writable = Listable<H> && requires(H &h, const H &c, const char *s,
                                           std::string key, const nlohmann::json &record) {
	{ c.writable() } -> std::same_as<bool>;
	h.put(std::move(key), record);
	{ h.remove(s) } -> std::same_as<bool>;
	h.begin();
	h.commit();
	h.rollback();
};

template <class H>
concept Renders = requires(H &h, const char *s, Found &found,
                           std::optional<std::string_view> rendered) {
	{ h.lookup_rendered(s, s, found) } -> std::same_as<int>;
	{ h.store_rendered(s, s, rendered) } -> std::same_as<bool>;
};

template <class H>
concept Flagged = requires {
	{ H::flags } -> std::convertible_to<std::uint32_t>;
};

template <class H>
concept Translates = requires(const H *h, const std::exception &e) {
	{ H::translate(h, e) } -> std::same_as<std::optional<StatusError>>;
};

template <Readable H>
struct EntryPoints {
	static std::string prefix(const char *call) { return std::string(H::name) + ": " + call + ": "; }

	// Every entry point runs in this: no exception crosses into the core.
	template <typename F>
	static int guarded(const char *call, const H *h, char **error, F &&body) noexcept
	{
		try {
			try {
				return body();
			} catch (const StatusError &e) {
				return fail(error, e.status(), e.what());
			} catch (const InvalidRecord &e) {
				return fail(error, MXD_INVALID, e.what());
			} catch (const std::exception &e) {
				if constexpr (Translates<H>)
					if (const auto t = H::translate(h, e))
						return fail(error, t->status(), t->what());
				return fail(error, MXD_ERROR, prefix(call) + e.what());
			} catch (...) {
				return fail(error, MXD_ERROR, prefix(call) + "unknown error");
			}
		} catch (...) {
			// Building the message itself failed (memory): a result without one.
			return MXD_ERROR;
		}
	}

	static int null_argument(const char *call, char **error)
	{
		return fail(error, MXD_ERROR, prefix(call) + "null argument");
	}

	static H &writer(void *handle, const char *call)
	{
		auto &h = *static_cast<H *>(handle);
		if (!h.writable())
			throw StatusError(MXD_ERROR, prefix(call) + "the store was opened read-only (no \"access\")");
		return h;
	}

	static int open(const char *config_json, const mxd_host *host, void **handle, char **error)
	{
		return guarded("open", nullptr, error, [&]() -> int {
			if (!handle)
				return null_argument("open", error);
			*handle = H::open(config_json, host).release();
			return MXD_OK;
		});
	}

	static int lookup(void *handle, const char *domain, char **record_json, char **error)
	{
		auto *h = static_cast<H *>(handle);
		return guarded("lookup", h, error, [&]() -> int {
			if (!h || !domain || !record_json)
				return null_argument("lookup", error);
			Found found;
			if (h->lookup(domain, found) != MXD_OK)
				return MXD_NOT_FOUND;
			if (found.empty())
				return fail(error, MXD_ERROR, prefix("lookup") + "out of memory");
			*record_json = found.release();
			return MXD_OK;
		});
	}

	static int generation(void *handle, std::uint64_t *generation, char **error)
	{
		auto *h = static_cast<H *>(handle);
		return guarded("generation", h, error, [&]() -> int {
			if (!h || !generation)
				return null_argument("generation", error);
			*generation = h->generation();
			return MXD_OK;
		});
	}

	static void close(void *handle)
	{
		try {
			delete static_cast<H *>(handle);
		} catch (...) {
			// A destructor that throws has nowhere to report to.
		}
	}

	static void free_string(char *s) { std::free(s); }

	static int list(void *handle, Each each, void *ctx, char **error)
	{
		auto *h = static_cast<H *>(handle);
		return guarded("list", h, error, [&]() -> int {
			if (!h || !each)
				return null_argument("list", error);
			h->list(each, ctx);
			return MXD_OK;
		});
	}

	static int put(void *handle, const char *domain, const char *record_json, char **error)
	{
		return guarded("put", static_cast<H *>(handle), error, [&]() -> int {
			if (!handle || !domain || !record_json)
				return null_argument("put", error);
			H &h = writer(handle, "put");
			std::string key = domain;
			const nlohmann::json record = record_to_store(key, record_json);
			h.put(std::move(key), record);
			return MXD_OK;
		});
	}

	static int remove(void *handle, const char *domain, char **error)
	{
		return guarded("remove", static_cast<H *>(handle), error, [&]() -> int {
			if (!handle || !domain)
				return null_argument("remove", error);
			return writer(handle, "remove").remove(domain) ? MXD_OK : MXD_NOT_FOUND;
		});
	}

	// Only a handle with Renders gets these two: backend_table() names them
	// for no other, so they are never instantiated without it.
	static int lookup_rendered(void *handle, const char *domain, const char *fingerprint,
	                           char **record_json, char **rendered, size_t *rendered_size,
	                           char **error)
	{
		auto *h = static_cast<H *>(handle);
		return guarded("lookup_rendered", h, error, [&]() -> int {
			if (!h || !domain || !fingerprint || !record_json || !rendered || !rendered_size)
				return null_argument("lookup_rendered", error);
			Found found;
			if (h->lookup_rendered(domain, fingerprint, found) != MXD_OK)
				return MXD_NOT_FOUND;
			if (found.empty())
				return fail(error, MXD_ERROR, prefix("lookup_rendered") + "out of memory");
			if (found.rendered()) {
				*rendered_size = found.rendered_size();
				*rendered = found.release_rendered();
			} else {
				*record_json = found.release();
			}
			return MXD_OK;
		});
	}

	static int store_rendered(void *handle, const char *domain, const char *fingerprint,
	                          const char *rendered, size_t rendered_size, char **error)
	{
		return guarded("store_rendered", static_cast<H *>(handle), error, [&]() -> int {
			if (!handle || !domain || !fingerprint)
				return null_argument("store_rendered", error);
			H &h = writer(handle, "store_rendered");
			const std::optional<std::string_view> bytes =
				rendered ? std::optional<std::string_view>(std::string_view(rendered, rendered_size))
				         : std::nullopt;
			return h.store_rendered(domain, fingerprint, bytes) ? MXD_OK : MXD_NOT_FOUND;
		});
	}

	// begin, commit and rollback: no argument but the handle.
	template <void (H::*step)(), const char *call>
	static int transaction(void *handle, char **error)
	{
		return guarded(call, static_cast<H *>(handle), error, [&]() -> int {
			if (!handle)
				return null_argument(call, error);
			(writer(handle, call).*step)();
			return MXD_OK;
		});
	}
	static constexpr char begin_call[] = "begin", commit_call[] = "commit",
	                      rollback_call[] = "rollback";
};

// The table a plugin exports as mxd_backend: list() when the handle can
// list, the write side and the renderings when it has them, each left NULL
// when not; flags when the handle declares them.
template <Readable H>
constexpr mxd_backend backend_table()
{
	using E = EntryPoints<H>;
	mxd_backend t{};
	t.abi_major = MXD_BACKEND_ABI_MAJOR;
	t.abi_minor = MXD_BACKEND_ABI_MINOR;
	t.name = H::name;
	t.open = E::open;
	t.lookup = E::lookup;
	t.generation = E::generation;
	t.close = E::close;
	t.free_string = E::free_string;
	if constexpr (Flagged<H>)
		t.flags = H::flags;
	if constexpr (Listable<H>)
		t.list = E::list;
	if constexpr (Writable<H>) {
		t.put = E::put;
		t.remove = E::remove;
		t.begin = E::template transaction<&H::begin, E::begin_call>;
		t.commit = E::template transaction<&H::commit, E::commit_call>;
		t.rollback = E::template transaction<&H::rollback, E::rollback_call>;
	}
	if constexpr (Renders<H>) {
		t.lookup_rendered = E::lookup_rendered;
		t.store_rendered = E::store_rendered;
	}
	return t;
}

} // namespace mxd::plugin
