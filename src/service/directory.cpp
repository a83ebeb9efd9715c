#include "service/directory.hpp"

#include "core/bounded_json.hpp"
#include "core/host.hpp"
#include "core/log.hpp"
#include "core/record.hpp"
#include "service/metrics.hpp"

#include <chrono>
#include <mutex>
#include <type_traits>
#include <unordered_set>

namespace mxd {

namespace {

std::shared_ptr<const Answer> shared(const Response &r)
{
	return std::make_shared<const Answer>(make_answer(r));
}

// What an entry costs besides its bytes of text: the hash node and its
// bucket, the order's list node, the allocator's headers.  An estimate on
// the high side, so that the budget bounds the resident memory.
constexpr std::size_t entry_overhead = 160;
// An answer: the Answer and its shared_ptr control block, in one allocation.
constexpr std::size_t answer_overhead = sizeof(Answer) + 32;

// The lead is static (lead_of): not the answer's to count.
std::size_t answer_cost(const Answer &a)
{
	return answer_overhead + a.rest.capacity();
}

using Docs = std::array<std::shared_ptr<const Answer>, document_count>;

// `shared`, the directory's own answers (a document's 404), are held by the
// directory whatever the entries do: an entry costs its pointer to them.
std::size_t cost(const std::string &host, const Docs &docs, const Docs &shared)
{
	std::size_t n = entry_overhead + host.capacity();
	for (std::size_t i = 0; i < docs.size(); i++) {
		if (!docs[i] || docs[i] == shared[i])
			continue;
		bool seen = false; // a 500 is one answer for every document
		for (std::size_t j = 0; j < i; j++)
			seen = seen || docs[j] == docs[i];
		if (!seen)
			n += answer_cost(*docs[i]);
	}
	return n;
}

} // namespace

template <typename Value>
typename Directory::Shelf<Value>::Map::iterator
Directory::Shelf<Value>::insert(const std::string &host)
{
	auto it = map.try_emplace(host).first;
	it->second.place = order.insert(order.end(), &it->first);
	resize(it->second, entry_overhead + it->first.capacity());
	return it;
}

template <typename Value>
void Directory::Shelf<Value>::resize(Slot &slot, std::size_t now)
{
	bytes = bytes - slot.bytes + now;
	slot.bytes = now;
}

template <typename Value>
void Directory::Shelf<Value>::erase(typename Map::iterator it, std::vector<Value> &dropped)
{
	bytes -= it->second.bytes;
	order.erase(it->second.place);
	dropped.push_back(std::move(it->second.value));
	map.erase(it);
}

template <typename Value>
void Directory::Shelf<Value>::shrink(const Slot *keep, std::vector<Value> &dropped)
{
	while (bytes > budget || map.size() > most) {
		auto victim = order.begin();
		if (keep && victim == keep->place)
			++victim;
		if (victim == order.end())
			return;
		erase(map.find(**victim), dropped);
		metrics::local().evictions[std::is_same_v<Value, Nothing> ? 1 : 0].add();
	}
}

Directory::Directory(std::shared_ptr<Backend> backend, nlohmann::json defaults,
                     render::Policy policy, Limits limits)
	: backend_(std::move(backend)), defaults_(std::move(defaults)), policy_(policy),
	  limits_(limits),
	  unknown_(shared(render::error(404, "M_NOT_FOUND",
	                                "No Matrix delegation is configured for this host",
	                                policy_))),
	  generation_(limits.watch ? backend_->generation() : 0)
{
	for (Document doc : all_documents)
		missing_[static_cast<std::size_t>(doc)] = shared(render::missing(doc, policy_));
	known_.budget = limits_.bytes;
	known_.most = limits_.hosts;
	unknown_hosts_.budget = limits_.bytes / 16;
	unknown_hosts_.most = std::numeric_limits<std::size_t>::max();
	// generation_ was read above, before the records are listed: should the
	// store reload while they are, its generation moves past generation_,
	// refresh() sees that, and renew() renders the table again.
	if (preloads())
		preloaded_ = preload(epoch_);
}

bool Directory::preloads() const
{
	return limits_.preload && (backend_->plugin().table().flags & MXD_IN_MEMORY) &&
	       backend_->can_list();
}

std::shared_ptr<const Directory::Preloaded> Directory::preload(std::uint64_t epoch) const
{
	const auto start = std::chrono::steady_clock::now();
	auto table = std::make_shared<Preloaded>();
	table->epoch = epoch;
	std::shared_ptr<const Answer> broken; // one 500 for every misconfigured name
	std::unordered_set<const Answer *> counted; // an answer shared is counted once
	std::size_t misconfigured = 0;
	constexpr std::size_t logged_most = 5; // then a count: a bad edit must not flood the log
	const auto refuse = [&](const std::string &host, const std::string &why) {
		if (++misconfigured <= logged_most)
			log::error("directory", log::escape(host, 64) + ": " + why + "; answering 500",
			           {{"domain", host}, {"status", 500}});
		if (!broken)
			broken = shared(render::error(500, "M_UNKNOWN",
			                              "The delegation of this host is misconfigured", policy_));
		Docs docs;
		docs.fill(broken);
		return docs;
	};
	try {
		backend_->list([&](std::string_view key, std::string_view text) {
			// A wildcard serves other names, through the walk in find().
			if (key.starts_with("*."))
				return true;
			const std::string host(key);
			// What a miss of the exact name makes (resolve() and build()).
			rendering::Made made = rendering::make(host, text, defaults_, policy_);
			Docs docs;
			switch (made.outcome) {
			case rendering::Made::Outcome::not_object:
				return true; // a 503 on the lookup path, never cached: left to it
			case rendering::Made::Outcome::over_limit:
			case rendering::Made::Outcome::invalid:
				docs = refuse(host, made.problem);
				break;
			case rendering::Made::Outcome::documents:
				for (std::size_t i = 0; i < document_count; i++) {
					auto &answer = made.docs[i];
					docs[i] = answer.status == 404 && answer.rest == missing_[i]->rest
					              ? missing_[i]
					              : std::make_shared<const Answer>(std::move(answer));
				}
				break;
			}
			std::size_t bytes = entry_overhead + host.capacity() + sizeof(Docs);
			for (const auto &answer : docs)
				if (counted.insert(answer.get()).second)
					bytes += answer_cost(*answer);
			table->bytes += bytes;
			table->hosts.insert_or_assign(host, std::move(docs));
			return true;
		});
	} catch (const std::exception &e) {
		// An empty table for this epoch: every name takes the lookup path,
		// and renew() tries again when the generation moves.
		log::error("directory", backend_->plugin().path() + ": preloading the records failed (" +
		                            e.what() + "); answering through lookups");
		auto none = std::make_shared<Preloaded>();
		none->epoch = epoch;
		return none;
	}
	const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
		std::chrono::steady_clock::now() - start);
	log::info("directory", backend_->plugin().path() + ": preloaded " +
	                           std::to_string(table->hosts.size()) + " names (" +
	                           std::to_string(misconfigured) + " misconfigured), " +
	                           std::to_string(table->bytes) + " bytes, " +
	                           std::to_string(ms.count()) + " ms");
	return table;
}

void Directory::renew()
{
	if (!preloads())
		return;
	std::uint64_t epoch;
	{
		std::shared_lock lock(mutex_);
		if (preloaded_ && preloaded_->epoch == epoch_)
			return;
		epoch = epoch_;
	}
	// Built without the lock: the old table is already unread (its epoch
	// passed), and requests take the lookup path meanwhile.
	std::shared_ptr<const Preloaded> fresh = preload(epoch);
	std::unique_lock lock(mutex_);
	// Only refresh() moves the epoch, and it runs on this thread; checked
	// all the same, since a table of a past epoch must never be read.
	if (epoch == epoch_)
		preloaded_.swap(fresh);
	lock.unlock(); // the old table is freed after the lock
}

Directory::Usage Directory::usage() const
{
	std::shared_lock lock(mutex_);
	return {known_.map.size(), known_.bytes, unknown_hosts_.map.size(), unknown_hosts_.bytes,
	        preloaded_ ? preloaded_->hosts.size() : 0, preloaded_ ? preloaded_->bytes : 0};
}

nlohmann::json Directory::resolve(const std::string &host, std::string *matched) const
{
	return resolve_from(host, matched, nullptr);
}

nlohmann::json Directory::resolve_from(const std::string &host, std::string *matched,
                                       std::optional<std::string> *exact) const
{
	bool first = true;
	for (const std::string &key : host::lookup_keys(host, limits_.wildcard_depth)) {
		// lookup_keys() puts the exact name first.
		std::optional<std::string> text =
			first && exact ? std::move(*exact) : backend_->lookup(key);
		first = false;
		if (!text)
			continue;
		if (matched)
			*matched = key;
		bounded_json::Parsed stored = bounded_json::parse(*text);
		if (stored.outcome == bounded_json::Outcome::too_big ||
		    stored.outcome == bounded_json::Outcome::too_deep)
			throw OverLimit("record " + stored.problem);
		if (!stored.value.is_object())
			throw BackendError(backend_->plugin().path() + ": record of " + key +
			                   " is not a JSON object");
		return record::effective(stored.value, defaults_, host);
	}
	return nullptr;
}

Directory::Built Directory::build(const std::string &host, Document doc) const
{
	std::string key;
	// A client picks the host: one line a second at most, or a flood of
	// long names under a wildcard would flood the log.
	const auto misconfigured = [&](const std::string &why) -> Built {
		if (misconfigured_log_.allow())
			log::error("directory", log::escape(host, 64) + " (entry " + log::escape(key, 64) +
			                            "): " + why + "; answering 500",
			           {{"domain", host}, {"status", 500}});
		return {shared(render::error(500, "M_UNKNOWN",
		                             "The delegation of this host is misconfigured", policy_)),
		        true, std::nullopt};
	};
	std::optional<std::optional<std::string>> exact;
	if (std::optional<Built> fast = rendered(host, doc, exact))
		return std::move(*fast);
	nlohmann::json record;
	try {
		record = resolve_from(host, &key, exact ? &*exact : nullptr);
	} catch (const OverLimit &e) {
		return misconfigured(e.what());
	}
	if (record.is_null())
		return {unknown_, true, std::nullopt};

	// Stored records were checked when written, but not against the
	// defaults they are served with, nor with this host's name in their
	// templates (a name grown past 255 characters); and a database may have
	// been written behind the admin tool's back.
	const auto problems = record::validate(record, host);
	if (!problems.empty())
		return misconfigured(record::format_path(problems.front().path) + ": " +
		                     problems.front().message);
	return {shared(render::document(record, doc, host, policy_)), false, std::nullopt};
}

std::optional<Directory::Built>
Directory::rendered(const std::string &host, Document doc,
                    std::optional<std::optional<std::string>> &exact) const
{
	// Wildcard keys are rendered per host, when asked (their {domain} is
	// the host's).  A normalised host never starts with "*.", but a
	// wildcard's rendering must never be taken for a name's, so that is
	// not left to the normaliser.
	if (!backend_->keeps_renderings() || host.starts_with("*."))
		return std::nullopt;
	Backend::Stored stored = backend_->lookup_rendered(host, fingerprint_);
	auto &counts = metrics::local().renderings;
	switch (stored.kind) {
	case Backend::Stored::none:
		exact.emplace(std::nullopt);
		return std::nullopt;
	case Backend::Stored::record:
		counts[static_cast<std::size_t>(metrics::Rendering::absent)].add();
		exact.emplace(std::move(stored.text));
		return std::nullopt;
	case Backend::Stored::rendered:
		break;
	}
	std::optional<rendering::Documents> docs = rendering::decode(stored.text, host);
	if (!docs) {
		// Never served unchecked: the record is read, validated and
		// rendered as if the store kept nothing (exact stays unset, so
		// the full path looks it up again).
		counts[static_cast<std::size_t>(metrics::Rendering::undecodable)].add();
		if (undecodable_log_.allow())
			log::error("directory", log::escape(host, 64) + ": the store's rendering (" +
			                            std::to_string(stored.text.size()) +
			                            " bytes) does not decode for this name; answering from "
			                            "the record",
			           {{"domain", host}});
		return std::nullopt;
	}
	counts[static_cast<std::size_t>(metrics::Rendering::used)].add();
	Built built;
	built.all.emplace();
	for (std::size_t i = 0; i < document_count; i++)
		(*built.all)[i] = std::make_shared<const Answer>(std::move((*docs)[i]));
	built.answer = (*built.all)[static_cast<std::size_t>(doc)];
	return built;
}

Directory::Found Directory::find(const std::string &host, Document doc)
{
	const auto d = static_cast<std::size_t>(doc);
	std::shared_ptr<const Answer> cached;
	bool current = false;
	std::uint64_t epoch;
	{
		std::shared_lock lock(mutex_);
		// The preloaded table first, while it is of this epoch.
		if (preloaded_ && preloaded_->epoch == epoch_)
			if (auto p = preloaded_->hosts.find(host); p != preloaded_->hosts.end())
				return {p->second[d],
				        failing_.load(std::memory_order_relaxed) && policy_.stale_max_age > 0,
				        true};
		if (auto it = known_.map.find(host); it != known_.map.end()) {
			cached = it->second.value[d];
			current = it->second.epoch == epoch_;
		} else if (auto u = unknown_hosts_.map.find(host); u != unknown_hosts_.map.end()) {
			cached = unknown_;
			current = u->second.epoch == epoch_;
		}
		epoch = epoch_;
	}
	const bool stale_ok = policy_.stale_max_age > 0;
	if (cached) {
		if (failing_.load(std::memory_order_relaxed) && stale_ok)
			return {std::move(cached), true, true};
		if (current)
			return {std::move(cached), false, true};
	}

	Built built;
	try {
		built = build(host, doc);
	} catch (const std::exception &) {
		if (cached && stale_ok)
			return {std::move(cached), true};
		throw;
	}
	// The document the record lacks: the one 404 every such host shares,
	// also among the four a store's rendering handed over.
	const auto share_missing = [&](std::shared_ptr<const Answer> &a, std::size_t i) {
		if (a->status == 404 && a->rest == missing_[i]->rest)
			a = missing_[i];
	};
	if (built.all) {
		for (std::size_t i = 0; i < document_count; i++)
			share_missing((*built.all)[i], i);
		built.answer = (*built.all)[d];
	} else if (!built.every_document) {
		share_missing(built.answer, d);
	}
	if (limits_.bytes == 0 || limits_.hosts == 0)
		return {std::move(built.answer), false};

	// Declared before the lock, so destroyed after it is released: freeing
	// answers must not stall the other workers.
	std::vector<Docs> dropped;
	std::vector<Nothing> forgotten;
	std::unique_lock lock(mutex_);
	// The generation moved while this was built: it may hold old data, so
	// serve it once but do not keep it.
	if (epoch != epoch_)
		return {std::move(built.answer), false};

	if (built.answer == unknown_) {
		// A host that lost its record leaves the positive shelf: only hosts
		// with a record may stay there.
		if (auto it = known_.map.find(host); it != known_.map.end())
			known_.erase(it, dropped);
		auto it = unknown_hosts_.map.find(host);
		if (it == unknown_hosts_.map.end()) {
			it = unknown_hosts_.insert(host);
			// First in, first out: a flood of random hosts costs lookups,
			// never memory, and no request pays for emptying the cache.
			unknown_hosts_.shrink(&it->second, forgotten);
			if (unknown_hosts_.bytes > unknown_hosts_.budget) {
				unknown_hosts_.erase(it, forgotten);
				return {std::move(built.answer), false};
			}
		}
		it->second.epoch = epoch_;
		return {std::move(built.answer), false};
	}

	if (auto it = unknown_hosts_.map.find(host); it != unknown_hosts_.map.end())
		unknown_hosts_.erase(it, forgotten);
	auto it = known_.map.find(host);
	if (it == known_.map.end())
		it = known_.insert(host);
	auto &e = it->second;
	if (e.epoch != epoch_) {
		// Stale documents go with it: a newer one was just read.
		dropped.push_back(std::move(e.value));
		e.value = {};
		e.epoch = epoch_;
	}
	if (built.all)
		e.value = std::move(*built.all);
	else if (built.every_document)
		e.value.fill(built.answer);
	else
		e.value[d] = built.answer;
	known_.resize(e, cost(it->first, e.value, missing_));
	known_.shrink(&e, dropped);
	// An entry larger than the whole budget is served, not kept.
	if (known_.bytes > known_.budget)
		known_.erase(it, dropped);
	return {std::move(built.answer), false};
}

void Directory::adopt(const Directory &old)
{
	if (&old == this)
		return;
	std::vector<Docs> dropped;
	std::vector<Nothing> forgotten;
	std::shared_lock from(old.mutex_);
	std::unique_lock lock(mutex_);
	// Epochs only grow: one below the current one is never current again.
	const std::uint64_t stale_epoch = epoch_ - 1;
	for (const std::string *host : old.known_.order) {
		const auto &slot = old.known_.map.find(*host)->second;
		auto it = known_.insert(*host);
		it->second.value = slot.value;
		it->second.epoch = stale_epoch;
		known_.resize(it->second, cost(it->first, it->second.value, missing_));
	}
	for (const std::string *host : old.unknown_hosts_.order)
		unknown_hosts_.insert(*host)->second.epoch = stale_epoch;
	known_.shrink(nullptr, dropped);
	unknown_hosts_.shrink(nullptr, forgotten);
}

void Directory::refresh()
{
	std::uint64_t now;
	try {
		now = backend_->generation();
	} catch (...) {
		failing_.store(true, std::memory_order_relaxed);
		throw;
	}
	failing_.store(false, std::memory_order_relaxed);
	if (now == generation_.load(std::memory_order_relaxed))
		return;
	std::unique_lock lock(mutex_);
	++epoch_;
	generation_.store(now, std::memory_order_relaxed);
	changed_at_.store(std::time(nullptr), std::memory_order_relaxed);
}

} // namespace mxd
