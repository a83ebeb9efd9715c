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
#pragma once

#include "core/answer.hpp"
#include "service/backend.hpp"
#include "core/log.hpp"
#include "core/render.hpp"
#include "core/route.hpp"

#include <nlohmann/json.hpp>

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace mxd {

class Directory {
public:
	struct Found {
		std::shared_ptr<const Answer> answer;
		bool stale = false; // the backend could not confirm it: lower its max-age
	};

	Directory(std::shared_ptr<Backend> backend, nlohmann::json defaults, render::Policy policy,
	          std::size_t capacity);

	// The answer for a normalised host name and a document.  Throws
	// BackendError when the backend cannot answer and nothing usable is
	// cached (or stale answers are off); failures are never cached.
	Found find(const std::string &host, Document doc);

	// Asks the backend for its generation and marks every cached answer
	// stale when it moved.  Throws BackendError, and until a later call
	// succeeds, cached answers are served stale.
	void refresh();

	// Resolves without caching: the record served for host (wildcards and
	// defaults applied), or null JSON when no entry matches.  The key that
	// matched is stored in *matched when given.
	nlohmann::json resolve(const std::string &host, std::string *matched = nullptr) const;

	const Backend &backend() const { return *backend_; }

private:
	using Docs = std::array<std::shared_ptr<const Answer>, document_count>;
	struct Entry {
		Docs docs;
		std::uint64_t epoch = 0; // stale when it is not epoch_
	};
	// What a lookup found for one document: either the same answer for
	// every document of the host (unknown, misconfigured) or one document.
	struct Built {
		std::shared_ptr<const Answer> answer;
		bool every_document = false;
	};

	Built build(const std::string &host, Document doc) const;

	std::shared_ptr<Backend> backend_;
	nlohmann::json defaults_;
	render::Policy policy_;
	std::size_t capacity_;
	std::shared_ptr<const Answer> unknown_; // shared by every unlisted host

	mutable std::shared_mutex mutex_;
	std::unordered_map<std::string, Entry> cache_;
	// Hosts in the order they entered the cache; when it is full, the
	// oldest makes room for the newest, one at a time.
	std::vector<std::string> order_;
	std::size_t oldest_ = 0;
	std::uint64_t epoch_ = 0; // bumped when the generation moves, under mutex_
	std::atomic<std::uint64_t> generation_;
	std::atomic<bool> failing_{false}; // the last generation check failed
	mutable log::OncePerSecond misconfigured_log_; // the 500's log line
};

} // namespace mxd
