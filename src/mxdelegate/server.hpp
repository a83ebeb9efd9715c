// The FastCGI server: the configuration in service, the worker threads, the
// watchdog over their connections, and the main thread's loop that reloads
// and shuts down.  main() has blocked SIGTERM, SIGINT, SIGHUP and SIGUSR1
// (and given SIGUSR1 a handler without SA_RESTART) before constructing it.
#pragma once

#include "service/config.hpp"
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

class Server {
public:
	// Takes `first` into service (made from `config` when null), makes
	// listen_fd non-blocking and sets its read timeout.  Throws
	// std::runtime_error naming what failed, or the Responder's errors.
	Server(std::string config_path, const Config &config, int listen_fd,
	       std::shared_ptr<Responder> first);
	~Server();
	Server(const Server &) = delete;
	Server &operator=(const Server &) = delete;

	// Serves with `threads` workers until SIGTERM or SIGINT, reloading on
	// SIGHUP or when the configuration file changes; returns once every
	// worker has left.
	void run(unsigned threads);

private:
	struct Slot;

	std::shared_ptr<Responder> in_service();
	void install(std::shared_ptr<Responder> r);
	void reload(const char *why);

	void worker(Slot &slot);
	bool wait_for_connection();
	int accept_connection(bool &ok);
	void watchdog(unsigned n);
	void stop(std::vector<std::thread> &workers);

	const std::string config_path_;
	const int listen_fd_;

	// The Responder in service.  Workers keep their own reference and look at
	// version_ once a request to learn that a reload swapped in a new one.
	std::mutex current_mutex_;
	std::shared_ptr<Responder> current_;
	std::atomic<std::uint64_t> version_{0};

	std::atomic<bool> stopping_{false};
	// Workers poll it beside the listening socket; closing the write end at
	// shutdown sends idle workers away at once.
	int wake_pipe_[2] = {-1, -1};
	// Given to libfcgi to accept from, never listened on: after dropping a
	// connection by itself (a bad BEGIN_REQUEST, an unknown role) it then
	// fails at once instead of taking the next connection unwatched.
	int no_listen_fd_ = -1;

	const std::chrono::seconds request_timeout_; // 0: no deadline, no watchdog
	std::unique_ptr<Slot[]> slots_;              // one a worker
	std::mutex watchdog_mutex_;
	std::condition_variable watchdog_wake_;

	// FCGI_WEB_SERVER_ADDRS, read once: the IPv4 peers libfcgi would accept
	// (none listed: all), checked here since libfcgi no longer accepts.
	std::vector<std::uint32_t> web_server_addrs_;
};

} // namespace mxd
