// The probe's I/O: libcurl's multi interface on one thread, many documents
// in flight, politely (a limit per host name and on requests a second);
// SRV lookups on a few threads of their own, since res_query blocks.
// Everything judged here is judged by probe_classify and probe_discovery.
#pragma once

#include "probe/probe_classify.hpp"
#include "probe/probe_options.hpp"
#include "probe/probe_report.hpp"

#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace mxd::probe {

// One document to fetch and what mxdelegate answers for it.
struct Task {
	std::string domain, document;
	Expected want;
};

class Engine {
public:
	explicit Engine(const Options &o);
	~Engine();
	Engine(const Engine &) = delete;
	Engine &operator=(const Engine &) = delete;

	// Runs until `next` has nothing more and every task is done.  `next` is
	// called only while fewer than --concurrency tasks are in flight; it
	// returns nothing when none is ready yet (`input_fd` is then watched,
	// -1 for none) and sets `end` at the end of the input.
	using Next = std::function<std::optional<Task>(bool &end)>;
	using Done = std::function<void(const Row &)>;
	using Progress = std::function<void(std::size_t in_flight)>;
	void run(const Next &next, int input_fd, const Done &done, const Progress &progress);

private:
	struct Impl;
	std::unique_ptr<Impl> impl_;
};

} // namespace mxd::probe
