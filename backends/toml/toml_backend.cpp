// The TOML backend: records in a TOML file, either the configuration file
// itself ([domains."example.org"] next to [backend]) or a separate file that
// holds nothing but [domains].  The whole file is validated before any of it
// is served, and a changed file is reloaded the same way: a broken edit is
// refused and the previous data keeps serving.
#include <mxdelegate/backend.h>

#include "core/domains_toml.hpp"
#include "core/settle.hpp"
#include "plugin/entry_points.hpp"
#include "plugin/plugin_config.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <system_error>
#include <algorithm>
#include <unordered_map>
#include <utility>
#include <vector>

namespace mxd {
namespace {

struct Hash {
	using is_transparent = void;
	std::size_t operator()(std::string_view s) const noexcept
	{
		return std::hash<std::string_view>{}(s);
	}
};

// Canonical key -> the record as JSON text, exactly as lookup() hands it out.
using Map = std::unordered_map<std::string, std::string, Hash, std::equal_to<>>;

// What stat() said about the file; a vanished or unreadable file is a state
// too, so that it is logged once and not on every check.
using FileState = settle::Stamp;

// A directory reads as an empty document, which would serve nothing, and a
// FIFO would block the reload forever.
constexpr int not_regular = -1;

FileState state_of(const struct stat &st)
{
	if (!S_ISREG(st.st_mode)) {
		FileState s;
		s.error = not_regular;
		return s;
	}
	return settle::stamp_of(st);
}

FileState stat_file(const std::string &file)
{
	struct stat st;
	if (::stat(file.c_str(), &st) != 0) {
		FileState s;
		s.error = errno;
		return s;
	}
	return state_of(st);
}

// Reads the whole file through one descriptor, so that the state returned is
// that of the bytes read even when the file is replaced meanwhile, or, when
// it was written to meanwhile, the state after.
FileState read_file(const std::string &file, std::string &text)
{
	FileState s;
	const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		s.error = errno;
		return s;
	}
	struct stat st;
	if (::fstat(fd, &st) != 0) {
		s.error = errno;
	} else if (s = state_of(st); !s.error) {
		text.clear();
		text.reserve(static_cast<std::size_t>(st.st_size));
		char buffer[65536];
		for (;;) {
			const ssize_t n = ::read(fd, buffer, sizeof buffer);
			if (n > 0)
				text.append(buffer, static_cast<std::size_t>(n));
			else if (n == 0)
				break;
			else if (errno != EINTR) {
				s.error = errno;
				break;
			}
		}
		// Written to while being read: the state after, which the caller
		// sees differ from the one it settled on.
		if (!s.error && ::fstat(fd, &st) == 0 && !(state_of(st) == s))
			s = state_of(st);
	}
	::close(fd);
	return s;
}

// strerror() may share a buffer between threads; this does not.
std::string reason(int error)
{
	if (error == not_regular)
		return "not a regular file";
	return std::generic_category().message(error);
}

struct Source {
	std::string file;
	bool separate; // a file of its own: nothing but [domains] belongs in it
};

// open() and every reload: the same reading, the same checks.
std::vector<std::string> read_and_load(const Source &source, FileState &state, Map &map)
{
	std::string text;
	state = read_file(source.file, text);
	if (state.error)
		return {source.file + ": " + reason(state.error)};
	auto read = domains_toml::read(text, source.file, source.separate ? domains_toml::Beside::nothing
	                                                                   : domains_toml::Beside::configuration);
	if (read.problems.empty()) {
		map.clear();
		map.reserve(read.entries.size());
		for (auto &e : read.entries)
			map.emplace(std::move(e.domain), std::move(e.record));
	}
	return std::move(read.problems);
}

using Clock = settle::Clock;

// Checking the file costs a stat() and callers may ask on every request.
constexpr std::chrono::seconds check_interval{1};

class Handle {
public:
	static constexpr const char *name = "toml";
	// The whole file is in map_: listing it is a walk over memory, which is
	// what lets the responder render every record when it opens the handle.
	static constexpr std::uint32_t flags = MXD_IN_MEMORY;
	static std::unique_ptr<Handle> open(const char *config_json, const mxd_host *host);

	Handle(Source source, const mxd_host *host, FileState seen, Map map)
	    : source_(std::move(source)), log(host),
	      map_(std::make_shared<const Map>(std::move(map))),
	      next_check_(tick(Clock::now() + check_interval)), watch_(seen)
	{
	}

	int lookup(const char *domain, plugin::Found &out) const
	{
		const auto map = this->map();
		const auto it = map->find(std::string_view(domain));
		if (it == map->end())
			return MXD_NOT_FOUND;
		out.set(it->second);
		return MXD_OK;
	}

	// In domain order, as backend.h asks, over the map as it is now: a
	// reload meanwhile swaps in another map, and this one lives on through
	// the pointer held here.  The generation moves only after that swap, so
	// a caller that read the generation before listing never pairs old data
	// with a newer number.
	void list(plugin::Each each, void *ctx) const
	{
		const auto map = this->map();
		std::vector<const Map::value_type *> sorted;
		sorted.reserve(map->size());
		for (const auto &entry : *map)
			sorted.push_back(&entry);
		std::sort(sorted.begin(), sorted.end(),
		          [](const auto *a, const auto *b) { return a->first < b->first; });
		for (const auto *entry : sorted)
			if (each(ctx, entry->first.c_str(), entry->second.c_str()) != 0)
				break;
	}

	std::uint64_t generation()
	{
		const auto now = tick(Clock::now());
		if (now < next_check_.load(std::memory_order_relaxed))
			return generation_.load();
		// One thread checks; the others answer with what is current.
		std::unique_lock lock(check_, std::try_to_lock);
		if (!lock.owns_lock() || now < next_check_.load())
			return generation_.load();
		next_check_.store(tick(Clock::now() + check_interval));

		const FileState state = stat_file(source_.file);
		switch (watch_.see(state, Clock::now())) {
		case settle::Watch::Verdict::same:
			return generation_.load();
		case settle::Watch::Verdict::wait:
			// Edited in place and not yet still: looked at again once it
			// may have settled, not a whole check_interval later.
			next_check_.store(tick(watch_.due()));
			return generation_.load();
		case settle::Watch::Verdict::take:
			break;
		}
		if (state.error) {
			watch_.taken(state);
			log(MXD_LOG_ERR, "toml: " + source_.file + ": " + reason(state.error) +
			    "; keeping the previous data");
			return generation_.load();
		}

		Map fresh;
		std::vector<std::string> problems;
		try {
			FileState read = state;
			problems = read_and_load(source_, read, fresh);
			if (!read.error && !(read == state)) {
				// Written again since the stat() above, or while being
				// read: what was read may be half a file.  It settles anew.
				next_check_.store(tick(Clock::now() + settle::settle_time));
				return generation_.load();
			}
			watch_.taken(state);
		} catch (const std::exception &e) {
			// Like a refused edit, this waits for the next change
			// instead of failing every second.
			watch_.taken(state);
			problems = {source_.file + ": " + e.what()};
		}
		if (!problems.empty()) {
			log(MXD_LOG_ERR, "toml: " + source_.file +
			    ": reload refused, keeping the previous data:");
			for (const auto &problem : problems)
				log(MXD_LOG_ERR, "toml: " + problem);
			return generation_.load();
		}
		const auto count = fresh.size();
		// The previous map is freed outside the lock, here or by its last
		// reader.
		auto previous = std::make_shared<const Map>(std::move(fresh));
		{
			std::lock_guard lock(map_mutex_);
			map_.swap(previous);
		}
		// After the swap: whoever sees the new number finds the new data.
		const auto generation = generation_.fetch_add(1) + 1;
		log(MXD_LOG_INFO, "toml: " + source_.file + ": reloaded, " +
		    std::to_string(count) + (count == 1 ? " domain" : " domains"));
		return generation;
	}

private:
	static std::int64_t tick(Clock::time_point t)
	{
		return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
	}

	std::shared_ptr<const Map> map() const
	{
		std::lock_guard lock(map_mutex_);
		return map_;
	}

	const Source source_;
	const plugin::Log log;
	// A mutex, not std::atomic<std::shared_ptr>: the one in GCC 12's
	// libstdc++ unlocks load() with relaxed order, a race TSan reports.
	mutable std::mutex map_mutex_;
	std::shared_ptr<const Map> map_;
	std::atomic<std::uint64_t> generation_{1};
	std::atomic<std::int64_t> next_check_;
	std::mutex check_; // one checker at a time; guards watch_
	settle::Watch watch_;
};

Source configure(const char *config_json)
{
	static const plugin::ConfigRules rules{"", {{"path"}}, /*writable=*/false, /*list_known=*/false};
	const plugin::PluginConfig config(config_json, rules);
	const std::string *config_file = config.text("config_file"), *path = config.text("path");
	if (!config_file || config_file->empty())
		throw plugin::StatusError(MXD_ERROR, "no config_file in the backend configuration");
	if (!path)
		return {*config_file, false};
	if (path->empty())
		throw plugin::StatusError(MXD_ERROR, "[backend] path: must not be empty");
	std::string file = config.resolve(*path);
	// "path" may name the configuration file itself, which then keeps its
	// other tables.
	std::error_code ec;
	const bool same = std::filesystem::equivalent(file, *config_file, ec);
	return {std::move(file), !(same && !ec)};
}

std::unique_ptr<Handle> Handle::open(const char *config_json, const mxd_host *host)
{
	Source source = configure(config_json);
	FileState state;
	Map map;
	const auto problems = read_and_load(source, state, map);
	if (!problems.empty()) {
		std::string text;
		for (const auto &p : problems)
			text += (text.empty() ? "" : "\n") + p;
		throw plugin::StatusError(MXD_ERROR, text);
	}
	return std::make_unique<Handle>(std::move(source), host, state, std::move(map));
}

} // namespace
} // namespace mxd

// Without a write side: the file is the operator's to edit, so the backend
// stays read-only and the admin tool says so.  list() alone is there (and
// MXD_IN_MEMORY), for the responder's preload and mxdelegatectl's reading.
extern "C" __attribute__((visibility("default"))) const struct mxd_backend mxd_backend =
	mxd::plugin::backend_table<mxd::Handle>();
