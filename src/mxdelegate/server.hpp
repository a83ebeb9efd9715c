// The FastCGI server: the configuration in service, the gate that owns the
// connections, the worker threads that read whole requests and write their
// answers' records, the watchdog over their answers, and the main thread's
// loop that reloads and shuts down.  main() has blocked SIGTERM, SIGINT and
// SIGHUP before constructing it.
#pragma once

#include "core/settle.hpp"
#include "mxdelegate/gate.hpp"
#include "mxdelegate/notify.hpp"
#include "mxdelegate/status_http.hpp"
#include "service/config.hpp"
#include "service/metrics.hpp"
#include "service/responder.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace mxd {

// What stat(2) says of the configuration file now (its errno if it cannot).
settle::Stamp config_stamp(const std::string &path);

class Server {
public:
	// Takes `first` into service (made from `config` when null).  Throws
	// std::runtime_error naming what failed, or the Responder's errors.
	// `read_as` is config_stamp() of the file taken before `config` was
	// read from it: an edit made since, even before run() watches, is seen.
	Server(std::string config_path, const Config &config, const settle::Stamp &read_as,
	       int listen_fd, std::shared_ptr<Responder> first);
	~Server();
	Server(const Server &) = delete;
	Server &operator=(const Server &) = delete;

	// Serves with `threads` workers until SIGTERM or SIGINT, reloading on
	// SIGHUP or when the configuration file changes; returns once every
	// worker has left.  A worker still inside a store call past the
	// shutdown grace period does not hold the process: it exits without it.
	void run(unsigned threads);

private:
	struct Slot;

	std::shared_ptr<Responder> in_service();
	void install(std::shared_ptr<Responder> r);
	void reload(const char *why);
	// Requests answered by every worker so far: each worker's own counter,
	// summed when read (no lock, no shared cache line on the request path).
	std::uint64_t answered() const;
	notify::Summary summary(double requests_per_s);
	// The gate's and the workers' state, for a scrape (any thread).
	metrics::Runtime runtime() const;

	void worker(Slot &slot);
	void watchdog(unsigned n);
	void stop(std::vector<std::thread> &workers, unsigned threads);

	const std::string config_path_;
	const settle::Stamp config_read_as_;
	const int listen_fd_;
	const GateSettings gate_settings_;
	std::unique_ptr<Gate> gate_;

	// The Responder in service.  Workers keep their own reference and look at
	// version_ once a request to learn that a reload swapped in a new one.
	std::mutex current_mutex_;
	std::shared_ptr<Responder> current_;
	std::atomic<std::uint64_t> version_{0};

	std::atomic<bool> stopping_{false};

	const std::chrono::seconds request_timeout_; // 0: no deadline, no watchdog
	unsigned threads_ = 0;
	std::unique_ptr<Slot[]> slots_;              // one a worker
	const notify::Notifier notify_;
	// [status] listen: opened by the constructor (a port taken is logged,
	// and the documents served without it), served by a thread of its own
	// from run().
	int status_fd_ = -1;
	std::string status_answer(status_http::Page page, bool head);
	std::mutex watchdog_mutex_;
	std::condition_variable watchdog_wake_;
};

} // namespace mxd
