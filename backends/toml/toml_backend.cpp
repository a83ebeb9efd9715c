// The TOML backend: records in a TOML file, either the configuration file
// itself ([domains."example.org"] next to [backend]) or a separate file that
// holds nothing but [domains].  The whole file is validated before any of it
// is served, and a changed file is reloaded the same way: a broken edit is
// refused and the previous data keeps serving.
#include <mxdelegate/backend.h>

#include "core/host.hpp"
#include "core/log.hpp"
#include "plugin/plugin_strings.hpp"
#include "core/record.hpp"
#include "core/toml_json.hpp"

#include <nlohmann/json.hpp>
#include <toml++/toml.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
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

// One problem of a file, kept with its position so that the report follows
// the file from top to bottom whatever order toml++ iterates tables in.
struct Problem {
	toml::source_position at;
	std::string text;
};

// What stat() said about the file; a vanished or unreadable file is a state
// too, so that it is logged once and not on every check.
struct FileState {
	int error = 0; // an errno value, or not_regular
	dev_t dev = 0;
	ino_t ino = 0;
	off_t size = 0;
	timespec mtim{};
	timespec ctim{};

	bool operator==(const FileState &o) const
	{
		if (error || o.error)
			return error == o.error;
		return dev == o.dev && ino == o.ino && size == o.size &&
		       mtim.tv_sec == o.mtim.tv_sec && mtim.tv_nsec == o.mtim.tv_nsec &&
		       ctim.tv_sec == o.ctim.tv_sec && ctim.tv_nsec == o.ctim.tv_nsec;
	}
};

// A directory reads as an empty document, which would serve nothing, and a
// FIFO would block the reload forever.
constexpr int not_regular = -1;

FileState state_of(const struct stat &st)
{
	FileState s;
	if (!S_ISREG(st.st_mode)) {
		s.error = not_regular;
		return s;
	}
	s.dev = st.st_dev;
	s.ino = st.st_ino;
	s.size = st.st_size;
	s.mtim = st.st_mtim;
	s.ctim = st.st_ctim;
	return s;
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
// that of the bytes read even when the file is replaced meanwhile.
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

// Keys and values may hold any byte: a message stays one line.
std::string printable(std::string_view s) { return log::one_line(s); }

std::string quoted(std::string_view s)
{
	return '"' + printable(s) + '"';
}

// The values to_json() refuses, found here so that each one is reported with
// its domain and field, and all of them at once.
void find_unconvertible(const toml::node &node, record::Path &path,
                        std::vector<std::pair<const toml::node *, record::Path>> &out)
{
	if (const auto *table = node.as_table()) {
		for (const auto &[key, child] : *table) {
			path.emplace_back(std::string(key.str()));
			find_unconvertible(child, path, out);
			path.pop_back();
		}
	} else if (const auto *array = node.as_array()) {
		for (std::size_t i = 0; i < array->size(); i++) {
			path.emplace_back(i);
			find_unconvertible(*array->get(i), path, out);
			path.pop_back();
		}
	} else if (node.is_date() || node.is_time() || node.is_date_time()) {
		out.emplace_back(&node, path);
	} else if (const auto *f = node.as_floating_point(); f && !std::isfinite(f->get())) {
		out.emplace_back(&node, path);
	}
}

std::string field_problem(const toml::node &at, std::string_view domain,
                          const record::Path &path, std::string_view message)
{
	std::string s = toml_json::where(at) + ": " + printable(domain) + ": ";
	if (!path.empty())
		s += record::format_path(path) + ": ";
	s += printable(message);
	return s;
}

struct Source {
	std::string file;
	bool separate; // a file of its own: nothing but [domains] belongs in it
};

// Parses and validates the whole file.  Fills `map` only when the returned
// list of problems is empty.
std::vector<std::string> load(const Source &source, std::string_view text, Map &map)
{
	std::vector<Problem> problems;
	auto report = [&problems](toml::source_position at, std::string text) {
		problems.push_back({at, std::move(text)});
	};

	toml::table root;
	try {
		root = toml::parse(text, source.file);
	} catch (const toml::parse_error &e) {
		return {toml_json::where(e.source()) + ": " + std::string(e.description())};
	}

	const toml::table *domains = nullptr;
	for (const auto &[key, value] : root) {
		if (key.str() == "domains") {
			domains = value.as_table();
			if (!domains)
				report(key.source().begin, toml_json::where(key.source()) +
				    ": domains: must be a table ([domains.\"example.org\"])");
		} else if (source.separate) {
			report(key.source().begin, toml_json::where(key.source()) + ": " +
			    quoted(key.str()) + ": only [domains] belongs in a separate domains file");
		}
	}

	// toml++ iterates keys in sorted order; file order makes the later of
	// two keys for one domain the one reported as the duplicate.
	std::vector<std::pair<const toml::key *, const toml::node *>> entries;
	if (domains) {
		entries.reserve(domains->size());
		for (const auto &[key, value] : *domains)
			entries.emplace_back(&key, &value);
		std::stable_sort(entries.begin(), entries.end(), [](const auto &a, const auto &b) {
			return a.first->source().begin < b.first->source().begin;
		});
	}
	std::unordered_map<std::string, const toml::key *> first;
	Map out;
	out.reserve(entries.size());
	for (const auto &[key, value] : entries) {
		const auto at = key->source().begin;
		const std::string pos = toml_json::where(key->source());
		std::string name;
		try {
			name = host::canonical_domain(key->str(), /*allow_wildcard=*/true);
		} catch (const std::invalid_argument &e) {
			report(at, pos + ": " + printable(key->str()) + ": domain: " + printable(e.what()));
			continue;
		}
		if (auto [it, fresh] = first.emplace(name, key); !fresh) {
			report(at, pos + ": " + name + ": domain: " + quoted(key->str()) +
			    " is the same domain as " + quoted(it->second->str()) + " at " +
			    toml_json::where(it->second->source()));
			continue;
		}
		const toml::table *table = value->as_table();
		if (!table) {
			report(value->source().begin, toml_json::where(*value) + ": " + name +
			    ": must be a table of record fields");
			continue;
		}

		std::vector<std::pair<const toml::node *, record::Path>> bad;
		record::Path path;
		find_unconvertible(*table, path, bad);
		for (const auto &[node, p] : bad)
			report(node->source().begin, field_problem(*node, name, p,
			    node->is_floating_point() ? "inf and nan have no JSON form"
			                              : "a date or time has no JSON form"));
		if (!bad.empty())
			continue;

		nlohmann::json record = toml_json::to_json(*table);
		auto invalid = record::validate(record, name);
		for (const auto &problem : invalid) {
			const toml::node &node = toml_json::locate(*table, problem.path);
			report(node.source().begin, field_problem(node, name, problem.path,
			    problem.message));
		}
		if (invalid.empty())
			out.emplace(std::move(name), record.dump());
	}

	if (problems.empty()) {
		map = std::move(out);
		return {};
	}
	std::stable_sort(problems.begin(), problems.end(), [](const Problem &a, const Problem &b) {
		return a.at < b.at;
	});
	std::vector<std::string> lines;
	lines.reserve(problems.size());
	for (auto &problem : problems)
		lines.push_back(std::move(problem.text));
	return lines;
}

// open() and every reload: the same reading, the same checks.
std::vector<std::string> read_and_load(const Source &source, FileState &state, Map &map)
{
	std::string text;
	state = read_file(source.file, text);
	if (state.error)
		return {source.file + ": " + reason(state.error)};
	return load(source, text, map);
}

std::string join(const std::vector<std::string> &lines)
{
	std::string s;
	for (std::size_t i = 0; i < lines.size(); i++) {
		if (i)
			s += '\n';
		s += lines[i];
	}
	return s;
}

// Thrown inside an entry point for a message that the caller should see as
// it is; everything else is wrapped at the boundary.
class Refused : public std::runtime_error {
public:
	using std::runtime_error::runtime_error;
};

using Clock = std::chrono::steady_clock;

// Checking the file costs a stat() and callers may ask on every request.
constexpr std::chrono::seconds check_interval{1};

class Handle {
public:
	Handle(Source source, const mxd_host *host, FileState seen, Map map)
	    : source_(std::move(source)), host_(host ? *host : mxd_host{nullptr, nullptr}),
	      map_(std::make_shared<const Map>(std::move(map))),
	      next_check_(tick(Clock::now() + check_interval)), seen_(seen)
	{
	}

	std::shared_ptr<const Map> map() const
	{
		std::lock_guard lock(map_mutex_);
		return map_;
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

		FileState state = stat_file(source_.file);
		if (state == seen_)
			return generation_.load();
		seen_ = state;
		if (state.error) {
			log(MXD_LOG_ERR, "toml: " + source_.file + ": " + reason(state.error) +
			    "; keeping the previous data");
			return generation_.load();
		}

		Map fresh;
		std::vector<std::string> problems;
		try {
			problems = read_and_load(source_, state, fresh);
			// The state of what was read: a file that changed since the
			// stat() above is read again at the next check.
			if (!state.error)
				seen_ = state;
		} catch (const std::exception &e) {
			// Like a refused edit, this waits for the next change
			// instead of failing every second.
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

	void log(int level, const std::string &message) const
	{
		if (host_.log)
			host_.log(host_.ctx, level, message.c_str());
	}

	const Source source_;
	const mxd_host host_;
	// A mutex, not std::atomic<std::shared_ptr>: the one in GCC 12's
	// libstdc++ unlocks load() with relaxed order, a race TSan reports.
	mutable std::mutex map_mutex_;
	std::shared_ptr<const Map> map_;
	std::atomic<std::uint64_t> generation_{1};
	std::atomic<std::int64_t> next_check_;
	std::mutex check_; // one checker at a time; guards seen_
	FileState seen_;
};

using plugin::c_string;

int fail(char **error, std::string_view message) noexcept
{
	return plugin::fail(error, MXD_ERROR, message);
}

Source configure(const char *config_json)
{
	if (!config_json)
		throw Refused("no configuration");
	const auto config = nlohmann::json::parse(config_json);
	if (!config.is_object())
		throw Refused("configuration is not a JSON object");

	const std::string *path = nullptr, *config_file = nullptr, *config_dir = nullptr;
	for (const auto &[key, value] : config.items()) {
		const std::string **slot = key == "path"        ? &path
		                           : key == "config_file" ? &config_file
		                           : key == "config_dir"  ? &config_dir
		                                                  : nullptr;
		if (!slot)
			throw Refused("unknown key in [backend]: " + printable(key));
		if (!value.is_string())
			throw Refused("[backend] " + key + ": must be a string");
		*slot = value.get_ptr<const std::string *>();
	}
	if (!config_file || config_file->empty())
		throw Refused("no config_file in the backend configuration");
	if (!path)
		return {*config_file, false};
	if (path->empty())
		throw Refused("[backend] path: must not be empty");

	namespace fs = std::filesystem;
	const fs::path dir = config_dir ? fs::path(*config_dir) : fs::path(*config_file).parent_path();
	std::string file = (dir / *path).string();
	// "path" may name the configuration file itself, which then keeps its
	// other tables.
	std::error_code ec;
	const bool same = fs::equivalent(file, *config_file, ec);
	return {std::move(file), !(same && !ec)};
}

int plugin_open(const char *config_json, const mxd_host *host, void **handle, char **error)
{
	try {
		if (!handle)
			return fail(error, "toml: open: null argument");
		Source source = configure(config_json);
		FileState state;
		Map map;
		auto problems = read_and_load(source, state, map);
		if (!problems.empty())
			throw Refused(join(problems));
		*handle = new Handle(std::move(source), host, state, std::move(map));
		return MXD_OK;
	} catch (const Refused &e) {
		return fail(error, e.what());
	} catch (const std::exception &e) {
		return fail(error, std::string("toml: open: ") + e.what());
	} catch (...) {
		return fail(error, "toml: open: unknown error");
	}
}

int plugin_lookup(void *handle, const char *domain, char **record_json, char **error)
{
	try {
		if (!handle || !domain || !record_json)
			return fail(error, "toml: lookup: null argument");
		const auto map = static_cast<const Handle *>(handle)->map();
		const auto it = map->find(std::string_view(domain));
		if (it == map->end())
			return MXD_NOT_FOUND;
		char *s = c_string(it->second);
		if (!s)
			return fail(error, "toml: lookup: out of memory");
		*record_json = s;
		return MXD_OK;
	} catch (const std::exception &e) {
		return fail(error, std::string("toml: lookup: ") + e.what());
	} catch (...) {
		return fail(error, "toml: lookup: unknown error");
	}
}

int plugin_generation(void *handle, std::uint64_t *generation, char **error)
{
	try {
		if (!handle || !generation)
			return fail(error, "toml: generation: null argument");
		*generation = static_cast<Handle *>(handle)->generation();
		return MXD_OK;
	} catch (const std::exception &e) {
		return fail(error, std::string("toml: generation: ") + e.what());
	} catch (...) {
		return fail(error, "toml: generation: unknown error");
	}
}

void plugin_close(void *handle)
{
	delete static_cast<Handle *>(handle);
}

void plugin_free_string(char *s)
{
	std::free(s);
}

} // namespace
} // namespace mxd

// Built against ABI 1.1 with the write side left NULL: the file is the
// operator's to edit, so the backend stays read-only and the admin tool says
// so.  (Declaring 1.0 would work as well; 1.1 with NULLs says that the write
// side was left out on purpose.)
extern "C" __attribute__((visibility("default"))) const struct mxd_backend mxd_backend = {
	MXD_BACKEND_ABI_MAJOR, MXD_BACKEND_ABI_MINOR, "toml",
	mxd::plugin_open, mxd::plugin_lookup, mxd::plugin_generation, mxd::plugin_close,
	mxd::plugin_free_string,
	nullptr, nullptr, nullptr, nullptr, nullptr, nullptr,
};
