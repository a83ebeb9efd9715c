// The responder's counters, per process.  Each thread counts into a block
// of its own (relaxed loads and stores by that thread alone: no lock, no
// read-modify-write, no cache line shared with another worker), and a
// scrape sums every block.  A block of a thread that ends is folded into
// the process's totals first, so nothing counted is lost.  The text
// itself is core/prom_text's.
#pragma once

#include "core/route.hpp"

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace mxd::metrics {

// The statuses the responder gives, each a series; anything else is
// counted as "other".
inline constexpr std::array<int, 13> statuses{200, 204, 301, 302, 304, 307, 308,
                                              400, 403, 404, 405, 500, 503};
inline constexpr std::size_t status_slots = statuses.size() + 1;
// The documents, then requests that name none (health, metrics, other
// paths).
inline constexpr std::size_t document_slots = document_count + 1;
// Where an answer came from: Reply::Cache's order (none, hit, miss, stale).
inline constexpr std::size_t source_slots = 4;
// BackendError::Kind's order (failed, busy, invalid, no_store,
// unsupported).
inline constexpr std::size_t failure_slots = 5;
// Lookup latency buckets, in seconds: a cached SQLite row is tens of
// microseconds, PostgreSQL over a network milliseconds, [backend] timeout
// 1 s by default.
inline constexpr std::array<double, 14> latency_bounds{
	0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
	0.01,    0.025,  0.05,    0.1,    0.25,  0.5,    1.0};
inline constexpr std::size_t latency_slots = latency_bounds.size() + 1;
// What a store's rendering of an exact name did for a miss (render on
// write): used; absent (the store handed the record instead: none kept, or
// none for the record as it is now and this fingerprint, which the plugin
// does not tell apart); undecodable (bytes that did not decode for this
// name: the full path answered).
enum class Rendering : unsigned char { used, absent, undecodable };
inline constexpr std::size_t rendering_slots = 3;

constexpr std::size_t status_index(int status)
{
	for (std::size_t i = 0; i < statuses.size(); ++i)
		if (statuses[i] == status)
			return i;
	return statuses.size();
}

// Written by one thread only: a relaxed load and store, which compile to a
// plain add on x86 and arm64.
struct Counter {
	std::atomic<std::uint64_t> n{0};
	void add(std::uint64_t k = 1) { n.store(n.load(std::memory_order_relaxed) + k, std::memory_order_relaxed); }
	std::uint64_t get() const { return n.load(std::memory_order_relaxed); }
};

struct alignas(64) Block {
	Counter requests[document_slots][status_slots];
	Counter sources[source_slots];
	Counter lookups;
	Counter failures[failure_slots];
	Counter latency[latency_slots];
	Counter latency_ns;
	Counter evictions[2]; // hosts with a record, hosts without
	Counter renderings[rendering_slots]; // by Rendering

	// One answer: its document (none: health, metrics, no document), its
	// status and where it came from (Reply::Cache as a number).
	void answered(const std::optional<Document> &doc, int status, unsigned source)
	{
		const std::size_t d = doc ? static_cast<std::size_t>(*doc) : document_count;
		requests[d][status_index(status)].add();
		sources[source < source_slots ? source : 0].add();
	}
	// One store lookup: how long it took, and how it failed (-1: it did not).
	void looked_up(std::uint64_t ns, int failure);
};

// Plain sums of every block.
struct Totals {
	std::uint64_t requests[document_slots][status_slots]{};
	std::uint64_t sources[source_slots]{};
	std::uint64_t lookups = 0;
	std::uint64_t failures[failure_slots]{};
	std::uint64_t latency[latency_slots]{};
	std::uint64_t latency_ns = 0;
	std::uint64_t evictions[2]{};
	std::uint64_t renderings[rendering_slots]{};
};

// This thread's block, made and registered at its first use.
extern thread_local constinit Block *current;
Block &attach();
inline Block &local()
{
	Block *b = current;
	return b ? *b : attach();
}

Totals sum();

// What the FastCGI server knows of its connections and threads (the gate,
// the workers); set while it runs, absent in CGI.
struct Runtime {
	std::uint64_t open = 0, in_gate = 0, in_workers = 0, queued = 0;
	std::uint64_t refused_peer = 0, refused_rule = 0, timed_out = 0, evicted = 0, over_capacity = 0;
	std::uint64_t threads = 0, busy = 0;
};
// Called by a scrape, from a worker: must be safe from any thread.
void set_runtime(std::function<Runtime()> source);

// Reloads, counted by the main thread.
void reloaded(bool ok);

// The version the program was built as, for mxdelegate_build_info.
void set_version(std::string_view version);

// What the configuration in service knows, given by the responder.
struct View {
	std::string_view backend;
	std::uint64_t generation = 0;
	std::time_t generation_changed = 0; // when this process saw it move last (or first)
	std::time_t config_loaded = 0;
	std::uint64_t hosts = 0, bytes = 0, unknown = 0, unknown_bytes = 0;
	std::uint64_t preloaded = 0, preloaded_bytes = 0; // outside the cache's budget
	std::string follow_copy; // with [follow]: the copy whose status file to read
};

// The page: every family, HELP and TYPE included.
std::string render(const View &view);

// When the process started (Unix time with fractions), for
// process_start_time_seconds.
double start_time();

} // namespace mxd::metrics
