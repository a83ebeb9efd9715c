// The directory: rendered answers per host name, looked up in the backend on
// a miss and kept until the backend's generation changes.  A request that
// hits costs one hash lookup under a shared lock and no allocation.
#pragma once

#include "backend.hpp"
#include "render.hpp"
#include "route.hpp"

#include <nlohmann/json.hpp>

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace mxd {

// One document's answer, serialised once in each form a request may need.
struct Answer {
	int status = 0;
	std::string etag;         // empty unless status is 200
	std::string full;         // status line, headers, body
	std::size_t head_size = 0;// bytes of `full` before the body (HEAD)
	std::string not_modified; // the 304 form, when etag is set

	std::string_view bytes(bool head) const
	{
		return head ? std::string_view(full).substr(0, head_size) : std::string_view(full);
	}
};

// Everything served for one host name.
// The answers for one host.  A record's documents are each rendered and
// serialised the first time one is asked for, then kept: a host is mostly
// asked for one or two of them, so a cache miss renders one, not all.
class Answers {
public:
	// The same answer for every document (404, 500).
	explicit Answers(const Answer &every);
	// The documents of an effective, validated record served for host.
	Answers(nlohmann::json record, std::string host, render::Policy policy);

	const Answer &operator[](Document d) const;

private:
	nlohmann::json record_;
	std::string host_;
	render::Policy policy_{};
	mutable std::array<std::once_flag, document_count> once_;
	mutable std::array<Answer, document_count> doc_;
};

// Serialises a rendered response into an Answer.
Answer make_answer(const Response &response);

class Directory {
public:
	Directory(std::shared_ptr<Backend> backend, nlohmann::json defaults, render::Policy policy,
	          std::size_t capacity);

	// The answers for a normalised host name.  Throws BackendError when the
	// backend cannot answer; such failures are never cached.
	std::shared_ptr<const Answers> find(const std::string &host);

	// Asks the backend for its generation and drops every cached answer when
	// it moved.  Throws BackendError.
	void refresh();

	// Resolves without caching: the record served for host (wildcards and
	// defaults applied), or null JSON when no entry matches.  The key that
	// matched is stored in *matched when given.
	nlohmann::json resolve(const std::string &host, std::string *matched = nullptr) const;

	const Backend &backend() const { return *backend_; }

private:
	std::shared_ptr<const Answers> build(const std::string &host) const;

	std::shared_ptr<Backend> backend_;
	nlohmann::json defaults_;
	render::Policy policy_;
	std::size_t capacity_;
	std::shared_ptr<const Answers> unknown_; // shared by every unlisted host

	mutable std::shared_mutex mutex_;
	std::unordered_map<std::string, std::shared_ptr<const Answers>> cache_;
	std::uint64_t epoch_ = 0;           // bumped on every drop, under mutex_
	std::atomic<std::uint64_t> generation_;
};

} // namespace mxd
