#include "service/metrics.hpp"

#include "core/prom_text.hpp"
#include "service/follow_status.hpp"

#include <mxdelegate/backend.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <mutex>
#include <vector>

namespace mxd::metrics {

thread_local constinit Block *current = nullptr;

namespace {

double unix_now()
{
	return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
		.count();
}

// Taken when the program is loaded, before main.
const double started_at = unix_now();

void fold(Totals &t, const Block &b)
{
	for (std::size_t d = 0; d < document_slots; ++d)
		for (std::size_t s = 0; s < status_slots; ++s)
			t.requests[d][s] += b.requests[d][s].get();
	for (std::size_t i = 0; i < source_slots; ++i)
		t.sources[i] += b.sources[i].get();
	t.lookups += b.lookups.get();
	for (std::size_t i = 0; i < failure_slots; ++i)
		t.failures[i] += b.failures[i].get();
	for (std::size_t i = 0; i < latency_slots; ++i)
		t.latency[i] += b.latency[i].get();
	t.latency_ns += b.latency_ns.get();
	for (std::size_t i = 0; i < 2; ++i)
		t.evictions[i] += b.evictions[i].get();
	for (std::size_t i = 0; i < rendering_slots; ++i)
		t.renderings[i] += b.renderings[i].get();
}

// Every live thread's block, and what the ended ones counted.  The mutex
// is taken when a thread counts for the first time, when it ends, and by a
// scrape: never on the request path.
struct Registry {
	std::mutex mutex;
	std::vector<Block *> blocks;
	Totals retired;
	std::function<Runtime()> runtime;
	std::string version = "unknown";
	std::uint64_t reloads_ok = 0, reloads_refused = 0;
	double last_reload = 0;
	bool last_reload_ok = true;
};

Registry &registry()
{
	// Never destroyed: threads may end (and fold their block) during exit.
	static Registry *r = new Registry;
	return *r;
}

// Owns this thread's block: folds it into the totals when the thread ends.
struct Owner {
	Block *block = nullptr;
	~Owner()
	{
		if (!block)
			return;
		Registry &r = registry();
		std::lock_guard lock(r.mutex);
		fold(r.retired, *block);
		std::erase(r.blocks, block);
		current = nullptr;
		delete block;
	}
};
thread_local Owner owner;

std::time_t now_s()
{
	return std::time(nullptr);
}

} // namespace

Block &attach()
{
	auto b = std::make_unique<Block>();
	Registry &r = registry();
	{
		std::lock_guard lock(r.mutex);
		r.blocks.push_back(b.get());
	}
	owner.block = b.get();
	current = b.release();
	return *current;
}

void Block::looked_up(std::uint64_t ns, int failure)
{
	lookups.add();
	if (failure >= 0 && static_cast<std::size_t>(failure) < failure_slots)
		failures[failure].add();
	const double s = static_cast<double>(ns) / 1e9;
	const auto at = std::lower_bound(latency_bounds.begin(), latency_bounds.end(), s);
	latency[static_cast<std::size_t>(at - latency_bounds.begin())].add();
	latency_ns.add(ns);
}

Totals sum()
{
	Registry &r = registry();
	std::lock_guard lock(r.mutex);
	Totals t = r.retired;
	for (const Block *b : r.blocks)
		fold(t, *b);
	return t;
}

void set_runtime(std::function<Runtime()> source)
{
	Registry &r = registry();
	std::lock_guard lock(r.mutex);
	r.runtime = std::move(source);
}

void reloaded(bool ok)
{
	Registry &r = registry();
	std::lock_guard lock(r.mutex);
	++(ok ? r.reloads_ok : r.reloads_refused);
	r.last_reload = unix_now();
	r.last_reload_ok = ok;
}

void set_version(std::string_view version)
{
	Registry &r = registry();
	std::lock_guard lock(r.mutex);
	r.version = version;
}

double start_time()
{
	return started_at;
}

namespace {

constexpr std::array<std::string_view, failure_slots> failure_names{
	"failed", "busy", "invalid", "no_store", "unsupported"};
constexpr std::array<std::string_view, source_slots> source_names{"none", "cache", "store",
                                                                  "stale"};

std::string_view document_label(std::size_t d)
{
	return d < document_count ? document_name(static_cast<Document>(d)) : "none";
}

std::string status_label(std::size_t s)
{
	return s < statuses.size() ? std::to_string(statuses[s]) : "other";
}

void follow(prom::Text &t, const std::string &copy)
{
	std::optional<follow_status::Status> st;
	bool running = false;
	bool readable = true;
	try {
		st = follow_status::read(copy);
		running = follow_status::running(copy);
	} catch (const std::exception &) {
		readable = false;
	}
	t.family("mxdelegate_follow_running", "Whether a follower holds the lock of the local copy.",
	         prom::Type::gauge);
	t.sample("mxdelegate_follow_running", {}, std::uint64_t{running});
	t.family("mxdelegate_follow_status_readable",
	         "Whether the follower's status file could be read (0: exists but unreadable or "
	         "broken).",
	         prom::Type::gauge);
	t.sample("mxdelegate_follow_status_readable", {}, std::uint64_t{readable});
	if (!st)
		return;
	if (const auto lag = follow_status::lag(*st, running, now_s())) {
		t.family("mxdelegate_follow_lag_seconds",
		         "How far the local copy is behind its primary: 0 while following, else the "
		         "time since it was last in step.",
		         prom::Type::gauge);
		t.sample("mxdelegate_follow_lag_seconds", {}, static_cast<double>(*lag));
	}
	t.family("mxdelegate_follow_seq", "The last change of the primary applied to the copy.",
	         prom::Type::gauge);
	t.sample("mxdelegate_follow_seq", {}, static_cast<double>(st->seq));
}

} // namespace

std::string render(const View &v)
{
	const Totals s = sum();
	Runtime rt;
	bool have_runtime = false;
	std::string version;
	std::uint64_t reloads_ok, reloads_refused;
	double last_reload;
	bool last_reload_ok;
	{
		Registry &r = registry();
		std::function<Runtime()> source;
		{
			std::lock_guard lock(r.mutex);
			source = r.runtime;
			version = r.version;
			reloads_ok = r.reloads_ok;
			reloads_refused = r.reloads_refused;
			last_reload = r.last_reload;
			last_reload_ok = r.last_reload_ok;
		}
		if (source) {
			rt = source();
			have_runtime = true;
		}
	}

	prom::Text t;
	using prom::Type;
	t.family("mxdelegate_requests_total",
	         "Requests answered by this process, by document (none: a path naming no document) "
	         "and status.",
	         Type::counter);
	for (std::size_t d = 0; d < document_slots; ++d)
		for (std::size_t st = 0; st < status_slots; ++st)
			if (s.requests[d][st] != 0)
				t.sample("mxdelegate_requests_total",
				         {{"document", document_label(d)}, {"status", status_label(st)}},
				         s.requests[d][st]);
	t.family("mxdelegate_answers_total",
	         "Answers by where they came from: cache, store (a miss looked up), stale (the "
	         "cached answer while the store fails), none (made from the request alone, or a "
	         "503).",
	         Type::counter);
	for (std::size_t i = 0; i < source_slots; ++i)
		t.sample("mxdelegate_answers_total", {{"source", source_names[i]}}, s.sources[i]);
	std::uint64_t not_modified = 0;
	for (std::size_t d = 0; d < document_slots; ++d)
		not_modified += s.requests[d][status_index(304)];
	t.family("mxdelegate_not_modified_total", "304 answers to If-None-Match.", Type::counter);
	t.sample("mxdelegate_not_modified_total", {}, not_modified);

	t.family("mxdelegate_store_lookups_total", "Lookups asked of the store (cache misses, "
	                                           "wildcard keys, health probes).",
	         Type::counter);
	t.sample("mxdelegate_store_lookups_total", {}, s.lookups);
	t.family("mxdelegate_store_failures_total", "Store lookups that failed, by kind.",
	         Type::counter);
	for (std::size_t i = 0; i < failure_slots; ++i)
		t.sample("mxdelegate_store_failures_total", {{"kind", failure_names[i]}}, s.failures[i]);
	t.family("mxdelegate_store_lookup_seconds", "Time a store lookup took.", Type::histogram);
	t.histogram("mxdelegate_store_lookup_seconds", {}, latency_bounds, s.latency,
	            static_cast<double>(s.latency_ns) / 1e9);
	t.family("mxdelegate_store_generation", "The store's generation as last seen.",
	         Type::gauge);
	t.sample("mxdelegate_store_generation", {}, static_cast<double>(v.generation));
	t.family("mxdelegate_store_generation_change_timestamp_seconds",
	         "When this process saw the store's generation move last (or first read it).",
	         Type::gauge);
	t.sample("mxdelegate_store_generation_change_timestamp_seconds", {},
	         static_cast<double>(v.generation_changed));

	t.family("mxdelegate_cache_hosts", "Hosts in the answer cache, by whether they have a record; "
	                                   "preloaded: an in-memory store's names rendered at load.",
	         Type::gauge);
	t.sample("mxdelegate_cache_hosts", {{"record", "yes"}}, v.hosts);
	t.sample("mxdelegate_cache_hosts", {{"record", "no"}}, v.unknown);
	t.sample("mxdelegate_cache_hosts", {{"record", "preloaded"}}, v.preloaded);
	t.family("mxdelegate_cache_bytes", "Bytes the answer cache counts, by whether hosts have a "
	                                   "record; preloaded: outside cache_bytes.",
	         Type::gauge);
	t.sample("mxdelegate_cache_bytes", {{"record", "yes"}}, v.bytes);
	t.sample("mxdelegate_cache_bytes", {{"record", "no"}}, v.unknown_bytes);
	t.sample("mxdelegate_cache_bytes", {{"record", "preloaded"}}, v.preloaded_bytes);
	t.family("mxdelegate_cache_evictions_total", "Hosts pushed out of the answer cache by newer "
	                                             "ones.",
	         Type::counter);
	t.sample("mxdelegate_cache_evictions_total", {{"record", "yes"}}, s.evictions[0]);
	t.sample("mxdelegate_cache_evictions_total", {{"record", "no"}}, s.evictions[1]);
	t.family("mxdelegate_store_renderings_total",
	         "Misses of an exact name in a store that keeps renderings, by what its rendering did: "
	         "used, absent (none for the record as it is and this configuration), undecodable.",
	         Type::counter);
	for (const auto &[name, r] : {std::pair{"used", Rendering::used},
	                              std::pair{"absent", Rendering::absent},
	                              std::pair{"undecodable", Rendering::undecodable}})
		t.sample("mxdelegate_store_renderings_total", {{"outcome", name}},
		         s.renderings[static_cast<std::size_t>(r)]);

	t.family("mxdelegate_reloads_total", "Reloads (SIGHUP or the file changed), by outcome.",
	         Type::counter);
	t.sample("mxdelegate_reloads_total", {{"result", "ok"}}, reloads_ok);
	t.sample("mxdelegate_reloads_total", {{"result", "refused"}}, reloads_refused);
	t.family("mxdelegate_config_last_reload_successful",
	         "Whether the last reload was put in service (1 before any).", Type::gauge);
	t.sample("mxdelegate_config_last_reload_successful", {}, std::uint64_t{last_reload_ok});
	if (last_reload > 0) {
		t.family("mxdelegate_config_last_reload_timestamp_seconds",
		         "When the last reload was tried.", Type::gauge);
		t.sample("mxdelegate_config_last_reload_timestamp_seconds", {}, last_reload);
	}
	t.family("mxdelegate_config_load_timestamp_seconds",
	         "When the configuration in service was loaded.", Type::gauge);
	t.sample("mxdelegate_config_load_timestamp_seconds", {},
	         static_cast<double>(v.config_loaded));

	if (!v.follow_copy.empty())
		follow(t, v.follow_copy);

	if (have_runtime) {
		t.family("mxdelegate_connections", "FastCGI connections held, by where they are: gate "
		                                   "(reading, idle, lingering), queued (whole, waiting "
		                                   "for a worker), worker.",
		         Type::gauge);
		t.sample("mxdelegate_connections", {{"state", "gate"}}, rt.in_gate);
		t.sample("mxdelegate_connections", {{"state", "queued"}}, rt.queued);
		t.sample("mxdelegate_connections", {{"state", "worker"}}, rt.in_workers);
		t.family("mxdelegate_connections_open", "FastCGI connections open.", Type::gauge);
		t.sample("mxdelegate_connections_open", {}, rt.open);
		t.family("mxdelegate_connections_closed_total",
		         "FastCGI connections the gate closed or refused, by rule: peer (not in "
		         "FCGI_WEB_SERVER_ADDRS), protocol (a FastCGI rule broken), timeout (no whole "
		         "request within read_timeout), evicted (the oldest waiting one at "
		         "max_connections), full (every connection with a worker).",
		         Type::counter);
		t.sample("mxdelegate_connections_closed_total", {{"rule", "peer"}}, rt.refused_peer);
		t.sample("mxdelegate_connections_closed_total", {{"rule", "protocol"}}, rt.refused_rule);
		t.sample("mxdelegate_connections_closed_total", {{"rule", "timeout"}}, rt.timed_out);
		t.sample("mxdelegate_connections_closed_total", {{"rule", "evicted"}}, rt.evicted);
		t.sample("mxdelegate_connections_closed_total", {{"rule", "full"}}, rt.over_capacity);
		t.family("mxdelegate_threads", "Worker threads.", Type::gauge);
		t.sample("mxdelegate_threads", {}, rt.threads);
		t.family("mxdelegate_threads_busy", "Worker threads answering a request now.",
		         Type::gauge);
		t.sample("mxdelegate_threads_busy", {}, rt.busy);
	}

	t.family("process_start_time_seconds", "Start time of the process since the Unix epoch.",
	         Type::gauge);
	t.sample("process_start_time_seconds", {}, started_at);
	const std::string abi =
		std::to_string(MXD_BACKEND_ABI_MAJOR) + "." + std::to_string(MXD_BACKEND_ABI_MINOR);
	t.family("mxdelegate_build_info", "The program's version, plugin ABI and the backend in "
	                                  "service; always 1.",
	         Type::gauge);
	t.sample("mxdelegate_build_info",
	         {{"version", version}, {"abi", abi}, {"backend", v.backend}}, std::uint64_t{1});
	return t.str();
}

} // namespace mxd::metrics
