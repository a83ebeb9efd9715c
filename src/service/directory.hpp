// The directory: rendered answers per host name and document, looked up in
// the backend on a miss and kept until the backend's generation moves.  A
// request that hits costs one hash lookup under a shared lock and no
// allocation.
//
// When the generation moves, entries are not dropped but marked stale: the
// next request for one asks the backend again, and if the backend fails the
// stale answer is served (stale-if-error) rather than a 503.  While the
// backend's generation check itself fails, every cached answer is served as
// stale without asking.
//
// Hosts with a record (positive entries) and hosts without one (negative
// entries) are kept apart, each first in, first out within its own budget:
// anyone can send a million random Host values, and those may only push
// each other out, never a tenant's last good answer.  Positive entries are
// bounded in bytes, since a record may render to 300 bytes or to 48 KiB.
//
// Over a store that holds every record in memory (MXD_IN_MEMORY, the TOML
// plugin), the FastCGI server's directory renders every exact name's four
// documents when it is made (Limits::preload): a table that find() reads
// before the cache, never evicted and outside the byte budget, made again
// by renew() when the store's generation moves.  Until then find() does not
// read it, so an edited file never serves old answers from it.
#pragma once

#include "core/answer.hpp"
#include "service/backend.hpp"
#include "core/log.hpp"
#include "core/render.hpp"
#include "core/rendering.hpp"
#include "core/route.hpp"

#include <nlohmann/json.hpp>

#include <array>
#include <atomic>
#include <cstdint>
#include <ctime>
#include <limits>
#include <list>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace mxd {

class Directory {
public:
	// A record over bounded_json's limits: a 500 for the hosts it serves.
	class OverLimit : public BackendError {
	public:
		explicit OverLimit(const std::string &what) : BackendError(what, Kind::invalid) {}
	};

	struct Found {
		std::shared_ptr<const Answer> answer;
		bool stale = false; // the backend could not confirm it: lower its max-age
		bool hit = false;   // from the cache, the store not asked
	};

	struct Limits {
		// Positive entries: their answers, names and bookkeeping, in bytes
		// ([server] cache_bytes); 0 keeps nothing.  Negative entries get a
		// sixteenth of it besides.
		std::size_t bytes = 6 * 1024 * 1024;
		// Positive entries, in hosts ([server] cache_size, deprecated).
		std::size_t hosts = std::numeric_limits<std::size_t>::max();
		// The most labels a wildcard's parent may have: "*.example.co.uk"
		// has 3.  Keys with deeper parents are never asked for.
		std::size_t wildcard_depth = 8;
		// Render every exact name of an in-memory store at once: for the
		// FastCGI server, never for a CGI request (one answer must not
		// render 10,000 domains) nor for the admin tool.
		bool preload = false;
		// Read the backend's generation when made, the baseline refresh()
		// compares with: for the FastCGI server, which refreshes.  A
		// process of one answer (a CGI request, the admin tool, --check)
		// never refreshes, and a store's first generation() can cost what
		// its answer does (the SQLite store opens a connection of its own
		// for it and reads the schema there).
		bool watch = true;
	};
	struct Usage {
		std::size_t hosts = 0, bytes = 0;           // positive entries
		std::size_t unknown = 0, unknown_bytes = 0; // negative entries
		std::size_t preloaded = 0, preloaded_bytes = 0; // the preloaded table
	};

	Directory(std::shared_ptr<Backend> backend, nlohmann::json defaults, render::Policy policy,
	          Limits limits);

	// The answer for a normalised host name and a document.  Throws
	// BackendError when the backend cannot answer and nothing usable is
	// cached (or stale answers are off); failures are never cached.
	Found find(const std::string &host, Document doc);

	// Asks the backend for its generation and marks every cached answer
	// stale when it moved.  Throws BackendError, and until a later call
	// succeeds, cached answers are served stale.
	void refresh();

	// Renders the preloaded table again when refresh() saw the generation
	// move since it was made; nothing without a preload.  Slow (every
	// record), so the caller is the thread that calls refresh(), never a
	// request's.  Logs a failure and leaves the names to the lookup path.
	void renew();

	// Resolves without caching: the record served for host (wildcards and
	// defaults applied), or null JSON when no entry matches.  The key that
	// matched is stored in *matched when given.  Throws OverLimit for a
	// record too large or too deep to parse safely.
	nlohmann::json resolve(const std::string &host, std::string *matched = nullptr) const;

	// Takes over the entries of the directory that a reload replaces, the
	// same store behind both, each marked stale: asked again on its next
	// request (a new handle's generation says nothing of what the old one
	// saw), and served stale if the store then fails, instead of a 503 for
	// a host answered a moment before.  Oldest first, within this
	// directory's budgets.
	void adopt(const Directory &old);

	const Backend &backend() const { return *backend_; }
	Usage usage() const;
	// The store's generation as last seen, and when it last moved (or was
	// first read), for the metrics.
	std::uint64_t generation() const { return generation_.load(std::memory_order_relaxed); }
	std::time_t generation_changed() const { return changed_at_.load(std::memory_order_relaxed); }

private:
	using Docs = std::array<std::shared_ptr<const Answer>, document_count>;
	// One first-in-first-out shelf of entries within a budget of bytes and
	// of entries.  Only inserting touches the order, so a hit stays a
	// lookup under the shared lock.
	template <typename Value>
	struct Shelf {
		struct Slot {
			Value value{};
			std::uint64_t epoch = 0; // stale when it is not epoch_
			std::size_t bytes = 0;   // what this entry holds, counted once
			std::list<const std::string *>::iterator place;
		};
		using Map = std::unordered_map<std::string, Slot>;
		Map map;
		// Oldest first; the pointers are the map's own keys, stable until
		// their node is erased.
		std::list<const std::string *> order;
		std::size_t bytes = 0;
		std::size_t budget = 0, most = 0; // bytes and entries

		typename Map::iterator insert(const std::string &host);
		void resize(Slot &slot, std::size_t now);
		void erase(typename Map::iterator it, std::vector<Value> &dropped);
		// Drops the oldest entries other than `keep` until within budget.
		void shrink(const Slot *keep, std::vector<Value> &dropped);
	};
	struct Nothing {};
	// What a lookup found for one document: either the same answer for
	// every document of the host (unknown, misconfigured) or one document.
	struct Built {
		std::shared_ptr<const Answer> answer;
		bool every_document = false;
		// A store's rendering: every document of the host at once.
		std::optional<Docs> all;
	};

	Built build(const std::string &host, Document doc) const;
	// The rendering the store keeps for the exact name `host`, decoded into
	// every document; or, when it has none usable, what the full path
	// starts from: the exact key's record text (*exact), or none.
	std::optional<Built> rendered(const std::string &host, Document doc,
	                              std::optional<std::optional<std::string>> &exact) const;
	// resolve(), with the exact key's lookup already made when `exact` is
	// given (its record text, or nullopt: no record under the exact key).
	nlohmann::json resolve_from(const std::string &host, std::string *matched,
	                            std::optional<std::string> *exact) const;

	// Every exact name's documents, as a miss would render them, made
	// under one epoch and read by find() only while that epoch lasts.
	struct Preloaded {
		std::unordered_map<std::string, Docs> hosts;
		std::size_t bytes = 0;
		std::uint64_t epoch = 0;
	};
	bool preloads() const;
	std::shared_ptr<const Preloaded> preload(std::uint64_t epoch) const;

	std::shared_ptr<Backend> backend_;
	nlohmann::json defaults_;
	render::Policy policy_;
	Limits limits_;
	std::shared_ptr<const Answer> unknown_; // shared by every unlisted host
	// The 404 of each document a record lacks, shared by every such host.
	std::array<std::shared_ptr<const Answer>, document_count> missing_;

	mutable std::shared_mutex mutex_;
	Shelf<Docs> known_;      // hosts with a record, a 500's included
	Shelf<Nothing> unknown_hosts_; // hosts without one: the answer is unknown_
	std::shared_ptr<const Preloaded> preloaded_; // null without a preload
	std::uint64_t epoch_ = 0; // bumped when the generation moves, under mutex_
	std::atomic<std::uint64_t> generation_;
	std::atomic<bool> failing_{false}; // the last generation check failed
	std::atomic<std::time_t> changed_at_{std::time(nullptr)};
	mutable log::OncePerSecond misconfigured_log_; // the 500's log line
	// What the store's renderings must have been made under to be served
	// here; after defaults_ and policy_, from which it is made.
	const std::string fingerprint_ = rendering::fingerprint(defaults_, policy_);
	mutable log::OncePerSecond undecodable_log_; // a rendering that did not decode
};

} // namespace mxd
