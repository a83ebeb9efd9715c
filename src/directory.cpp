#include "directory.hpp"

#include "host.hpp"
#include "log.hpp"
#include "record.hpp"

#include <mutex>

namespace mxd {

Answer make_answer(const Response &response)
{
	Answer a;
	a.status = response.status;
	a.full = serialize(response, true);
	// HEAD's answer is GET's without the body: kept as a prefix, not a copy.
	a.head_size = serialize(response, false).size();
	if (response.status == 200) {
		if (const std::string *tag = response.header("ETag")) {
			a.etag = *tag;
			a.not_modified = serialize(render::not_modified(response), false);
		}
	}
	return a;
}

Answers::Answers(const Answer &every)
{
	for (std::size_t i = 0; i < document_count; ++i)
		std::call_once(once_[i], [&] { doc_[i] = every; });
}

Answers::Answers(nlohmann::json record, std::string host, render::Policy policy)
	: record_(std::move(record)), host_(std::move(host)), policy_(policy)
{
}

const Answer &Answers::operator[](Document d) const
{
	const auto i = static_cast<std::size_t>(d);
	std::call_once(once_[i],
	               [&] { doc_[i] = make_answer(render::document(record_, d, host_, policy_)); });
	return doc_[i];
}

namespace {

std::shared_ptr<const Answers> all_docs(const Response &r)
{
	return std::make_shared<Answers>(make_answer(r));
}

} // namespace

Directory::Directory(std::shared_ptr<Backend> backend, nlohmann::json defaults,
                     render::Policy policy, std::size_t capacity)
	: backend_(std::move(backend)), defaults_(std::move(defaults)), policy_(policy),
	  capacity_(capacity),
	  unknown_(all_docs(render::error(404, "M_NOT_FOUND",
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

std::shared_ptr<const Answers> Directory::build(const std::string &host) const
{
	std::string key;
	nlohmann::json record = resolve(host, &key);
	if (record.is_null())
		return unknown_;

	// Stored records were validated when loaded, but a template expanded for
	// this host can still break a rule (a name grown past 255 characters).
	const auto problems = record::validate(record, host);
	if (!problems.empty()) {
		log::error("directory", log::escape(host, 64) + " (entry " + log::escape(key, 64) +
		                            "): " + record::format_path(problems.front().path) + ": " +
		                            problems.front().message +
		                            "; answering 500");
		return all_docs(render::error(500, "M_UNKNOWN",
		                              "The delegation of this host is misconfigured",
		                              policy_));
	}
	return std::make_shared<Answers>(std::move(record), host, policy_);
}

std::shared_ptr<const Answers> Directory::find(const std::string &host)
{
	std::uint64_t epoch;
	{
		std::shared_lock lock(mutex_);
		if (auto it = cache_.find(host); it != cache_.end())
			return it->second;
		epoch = epoch_;
	}
	auto answers = build(host);
	if (capacity_ == 0)
		return answers;
	// Declared before the lock, so destroyed after it is released: freeing
	// a full cache's answers must not stall the other workers.
	std::unordered_map<std::string, std::shared_ptr<const Answers>> dropped;
	std::unique_lock lock(mutex_);
	// A drop while this was built means it may hold old data: serve it
	// once, but do not keep it.
	if (epoch != epoch_)
		return answers;
	if (cache_.size() >= capacity_) {
		// A full cache is emptied rather than aged: simple, and a flood of
		// random hosts costs lookups, never memory.
		dropped.swap(cache_);
	}
	cache_.emplace(host, answers);
	return answers;
}

void Directory::refresh()
{
	const std::uint64_t now = backend_->generation();
	if (now == generation_.load(std::memory_order_relaxed))
		return;
	std::unordered_map<std::string, std::shared_ptr<const Answers>> old;
	{
		std::unique_lock lock(mutex_);
		old.swap(cache_);
		++epoch_;
		generation_.store(now, std::memory_order_relaxed);
	}
	// The old answers are freed here, outside the lock.
}

} // namespace mxd
