// The TOML backend: records in a TOML file, either the configuration file
// itself ([domains."example.org"] next to [backend]) or a separate file that
// holds nothing but [domains].  The whole file is validated before any of it
// is served, and a changed file is reloaded the same way: a broken edit is
// refused and the previous data keeps serving.  With [backend] cache, the
// records a load made are kept there, compiled, and a later load of the same
// text reads them back instead of parsing it (core/compiled_domains).
#include <mxdelegate/backend.h>

#include "core/compiled_domains.hpp"
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
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace mxd {
namespace {

// The records by canonical key, as lookup() hands them out: the form kept
// in [backend] cache too, so that reading it back builds nothing.
using Map = compiled_domains::Domains;

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
	// [backend] cache: where the records of the last good load are kept
	// compiled (core/compiled_domains); empty for none.
	std::string cache;
};

// A compiled file of this size is not the records of a text of this size
// (their JSON is about the size of their TOML): not read at all.
bool plausible_size(std::size_t compiled, std::size_t text)
{
	return compiled <= 8 * text + (1 << 20);
}

// The records kept in source.cache for exactly this text; none when there
// are none: no file, another text's, garbled.  The size is looked at before
// anything is read; read_file refuses what is not a regular file.
std::optional<Map> load_compiled(const Source &source, const compiled_domains::Source &made_for,
                                 std::size_t text_size)
{
	std::string bytes;
	struct stat st;
	if (::stat(source.cache.c_str(), &st) != 0 ||
	    !plausible_size(static_cast<std::size_t>(st.st_size), text_size) ||
	    read_file(source.cache, bytes).error)
		return std::nullopt;
	return Map::read(std::move(bytes), made_for);
}

// Writes the map's bytes to source.cache: a new file beside it, renamed
// over it, so that a reader sees the old file or the new one whole.  The
// reason it could not, or "".
std::string save_compiled(const Source &source, const Map &map)
{
	// The process and a count in the name: two handles of one process
	// (a reload while the old one serves) may write at once.
	static std::atomic<unsigned> serial{0};
	const std::string &bytes = map.bytes();
	const std::string temp = source.cache + ".new." + std::to_string(::getpid()) + "." +
	                         std::to_string(serial.fetch_add(1));
	// The records are what the file's answers say, but the file may be
	// readable by fewer than everyone: the copy is no more readable.
	struct stat st;
	const mode_t mode = ::stat(source.file.c_str(), &st) == 0 ? (st.st_mode & 0644) : 0600;
	const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return temp + ": " + reason(errno);
	std::size_t done = 0;
	int error = 0;
	while (done < bytes.size()) {
		const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			error = n < 0 ? errno : EIO;
			break;
		}
		done += static_cast<std::size_t>(n);
	}
	if (::close(fd) != 0 && !error)
		error = errno;
	if (!error && ::rename(temp.c_str(), source.cache.c_str()) != 0)
		error = errno;
	if (error) {
		::unlink(temp.c_str());
		return source.cache + ": " + reason(error);
	}
	return {};
}

// open() and every reload: the same reading, the same checks.  With a
// cache, the records of a text read and checked before are read back from
// it instead (a CGI process is one request: parsing 10,000 domains was
// nearly all of it), and a load that parses the text writes them there.
std::vector<std::string> read_and_load(const Source &source, FileState &state, Map &map,
                                       const plugin::Log &log)
{
	std::string text;
	state = read_file(source.file, text);
	if (state.error)
		return {source.file + ": " + reason(state.error)};
	// Hashing the text is for the cache alone: without one, the records
	// are made for no text in particular.
	const compiled_domains::Source made_for =
	    source.cache.empty() ? compiled_domains::Source{} : compiled_domains::source_of(text, source.separate);
	if (!source.cache.empty())
		if (std::optional<Map> compiled = load_compiled(source, made_for, text.size())) {
			map = std::move(*compiled);
			return {};
		}
	auto read = domains_toml::read(text, source.file, source.separate ? domains_toml::Beside::nothing
	                                                                   : domains_toml::Beside::configuration);
	if (!read.problems.empty())
		return std::move(read.problems);
	std::vector<std::pair<std::string, std::string>> records;
	records.reserve(read.entries.size());
	for (auto &e : read.entries)
		records.emplace_back(std::move(e.domain), std::move(e.record));
	map = Map::make(made_for, std::move(records));
	if (!source.cache.empty())
		if (const std::string why = save_compiled(source, map); !why.empty())
			log(MXD_LOG_WARNING, "toml: [backend] cache: cannot write " + why +
			                         "; each start parses " + source.file + " in full");
	return {};
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
		const auto record = map->find(domain);
		if (!record)
			return MXD_NOT_FOUND;
		out.set(*record);
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
		for (std::size_t i = 0; i < map->size(); i++)
			if (each(ctx, map->key(i).data(), map->record(i).data()) != 0)
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
			problems = read_and_load(source_, read, fresh, log);
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
	static const plugin::ConfigRules rules{"", {{"path"}, {"cache"}}, /*writable=*/false,
	                                       /*list_known=*/false};
	const plugin::PluginConfig config(config_json, rules);
	const std::string *config_file = config.text("config_file"), *path = config.text("path"),
	                  *cache = config.text("cache");
	if (!config_file || config_file->empty())
		throw plugin::StatusError(MXD_ERROR, "no config_file in the backend configuration");
	if (path && path->empty())
		throw plugin::StatusError(MXD_ERROR, "[backend] path: must not be empty");
	if (cache && cache->empty())
		throw plugin::StatusError(MXD_ERROR, "[backend] cache: must not be empty");
	Source source{path ? config.resolve(*path) : *config_file, false,
	              cache ? config.resolve(*cache) : std::string()};
	// "path" may name the configuration file itself, which then keeps its
	// other tables.
	std::error_code ec;
	source.separate = path && !(std::filesystem::equivalent(source.file, *config_file, ec) && !ec);
	// It is written over: never a file the operator wrote.
	const std::string *const own_files[] = {&source.file, config_file};
	for (const std::string *own : own_files)
		if (cache && std::filesystem::equivalent(source.cache, *own, ec) && !ec)
			throw plugin::StatusError(MXD_ERROR, "[backend] cache: " + source.cache + " is " +
			                                         (own == config_file ? "the configuration file"
			                                                             : "the domains file"));
	return source;
}

std::unique_ptr<Handle> Handle::open(const char *config_json, const mxd_host *host)
{
	Source source = configure(config_json);
	FileState state;
	Map map;
	const auto problems = read_and_load(source, state, map, plugin::Log(host));
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
