#include "service/directory.hpp"

#include "core/host.hpp"
#include "core/log.hpp"
#include "core/record.hpp"

#include <mutex>

namespace mxd {

namespace {

std::shared_ptr<const Answer> shared(const Response &r)
{
	return std::make_shared<const Answer>(make_answer(r));
}

} // namespace

Directory::Directory(std::shared_ptr<Backend> backend, nlohmann::json defaults,
                     render::Policy policy, std::size_t capacity)
	: backend_(std::move(backend)), defaults_(std::move(defaults)), policy_(policy),
	  capacity_(capacity),
	  unknown_(shared(render::error(404, "M_NOT_FOUND",
	                                "No Matrix delegation is configured for this host",
	                                policy_))),
	  generation_(backend_->generation())
{
}

nlohmann::json Directory::resolve(const std::string &host, std::string *matched) const
{
	for (const std::string &key : host::lookup_keys(host)) {
		std::optional<std::string> text = backend_->lookup(key);
		if (!text)
			continue;
		nlohmann::json stored = nlohmann::json::parse(*text, nullptr, false);
		if (!stored.is_object())
			throw BackendError(backend_->plugin().path() + ": record of " + key +
			                   " is not a JSON object");
		if (matched)
			*matched = key;
		return record::effective(stored, defaults_, host);
	}
	return nullptr;
}

Directory::Built Directory::build(const std::string &host, Document doc) const
{
	std::string key;
	nlohmann::json record = resolve(host, &key);
	if (record.is_null())
		return {unknown_, true};

	// Stored records were checked when written, but not against the
	// defaults they are served with, nor with this host's name in their
	// templates (a name grown past 255 characters); and a database may have
	// been written behind the admin tool's back.
	const auto problems = record::validate(record, host);
	if (!problems.empty()) {
		// A client picks the host: one line a second at most, or a flood of
		// long names under a wildcard would flood the log.
		if (misconfigured_log_.allow())
			log::error("directory", log::escape(host, 64) + " (entry " + log::escape(key, 64) +
			                            "): " + record::format_path(problems.front().path) +
			                            ": " + problems.front().message + "; answering 500");
		return {shared(render::error(500, "M_UNKNOWN",
		                             "The delegation of this host is misconfigured", policy_)),
		        true};
	}
	return {shared(render::document(record, doc, host, policy_)), false};
}

Directory::Found Directory::find(const std::string &host, Document doc)
{
	const auto d = static_cast<std::size_t>(doc);
	std::shared_ptr<const Answer> cached;
	bool current = false;
	std::uint64_t epoch;
	{
		std::shared_lock lock(mutex_);
		if (auto it = cache_.find(host); it != cache_.end()) {
			cached = it->second.docs[d];
			current = it->second.epoch == epoch_;
		}
		epoch = epoch_;
	}
	const bool stale_ok = policy_.stale_max_age > 0;
	if (cached) {
		if (failing_.load(std::memory_order_relaxed) && stale_ok)
			return {std::move(cached), true};
		if (current)
			return {std::move(cached), false};
	}

	Built built;
	try {
		built = build(host, doc);
	} catch (const std::exception &) {
		if (cached && stale_ok)
			return {std::move(cached), true};
		throw;
	}
	if (capacity_ == 0)
		return {std::move(built.answer), false};

	// Declared before the lock, so destroyed after it is released: freeing
	// answers must not stall the other workers.
	Docs dropped;
	std::unique_lock lock(mutex_);
	// The generation moved while this was built: it may hold old data, so
	// serve it once but do not keep it.
	if (epoch != epoch_)
		return {std::move(built.answer), false};
	auto it = cache_.find(host);
	if (it == cache_.end()) {
		if (cache_.size() >= capacity_) {
			// First in, first out: a flood of random hosts costs lookups,
			// never memory, and no request pays for emptying the cache.
			std::string &slot = order_[oldest_];
			if (auto old = cache_.find(slot); old != cache_.end()) {
				dropped = std::move(old->second.docs);
				cache_.erase(old);
			}
			slot = host;
			oldest_ = (oldest_ + 1) % order_.size();
		} else {
			order_.push_back(host);
		}
		it = cache_.emplace(host, Entry{}).first;
	}
	Entry &e = it->second;
	if (e.epoch != epoch_) {
		e.docs = {}; // stale documents go with it: a newer one was just read
		e.epoch = epoch_;
	}
	if (built.every_document)
		e.docs.fill(built.answer);
	else
		e.docs[d] = built.answer;
	return {std::move(built.answer), false};
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
}

} // namespace mxd
