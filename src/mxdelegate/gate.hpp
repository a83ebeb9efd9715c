// The gate: one thread that owns every FastCGI connection in an epoll loop
// and lends a connection to a worker only when its whole request is there,
// checked by core/fcgi_frame.  Idle, trickling and oversized peers cost a
// descriptor here, never a worker; management records are answered here,
// never by a worker; after the answer a connection comes back to be kept
// alive, lingered on (without a worker) or closed.
#pragma once

#include "core/fcgi_frame.hpp"
#include "core/log.hpp"
#include "service/metrics.hpp"

#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mxd {

// FCGI_WEB_SERVER_ADDRS: the TCP peers allowed, IPv4 and IPv6 alike.  An
// IPv4 peer of a dual-stack socket arrives as ::ffff:a.b.c.d and is
// checked as a.b.c.d.  UNIX-socket peers have no address and always pass.
class PeerList {
public:
	// The comma-separated list as libfcgi reads it (spaces allowed);
	// entries that are no address are added to `bad`.
	static PeerList parse(std::string_view list, std::vector<std::string> &bad);
	bool allows(const sockaddr_storage &peer) const;
	bool empty() const { return addrs_.empty(); }

private:
	std::vector<in6_addr> addrs_; // IPv4 as v4-mapped
};

struct GateSettings {
	fcgi_frame::Limits limits;
	std::size_t max_connections = 4096;
	std::chrono::milliseconds read_timeout{5000}; // 0: no deadline
	PeerList peers;
	// Called from the gate's loop every pulse_every (0: never) while the
	// process is alive: the loop goes round, and no request has waited for
	// a worker longer than that.  systemd's watchdog (mxdelegate/notify).
	std::function<void()> pulse;
	std::chrono::milliseconds pulse_every{0};
};

class Gate {
public:
	struct Ready {
		int fd;
		std::size_t bytes; // the request's, all in the socket: BEGIN_REQUEST to PARAMS' end or STDIN's
		bool reusable; // whole with its STDIN end, kept alive, nothing after it
		// The STDIN end was there: the peer has nothing more to send.  Else
		// a body is still coming, and the connection is lingered on.
		bool complete;
		std::chrono::steady_clock::time_point queued; // when it was whole
	};

	// Makes listen_fd non-blocking and raises the descriptor limit to its
	// hard limit; `reserve` descriptors are left to the rest of the process.
	// Throws std::runtime_error naming what failed.
	Gate(int listen_fd, GateSettings settings, std::size_t reserve);
	~Gate();
	Gate(const Gate &) = delete;
	Gate &operator=(const Gate &) = delete;

	// The gate's thread: returns after stop(), or when the listening socket
	// fails (failed() then says so).
	void run();
	void stop();
	bool failed() const;
	std::size_t capacity() const { return capacity_; }

	// Workers.  take() blocks until a request is whole; empty once stopped
	// with nothing left to serve.  done() gives the connection back after
	// the answer; keep: it may serve another request.
	std::optional<Ready> take();
	void done(const Ready &ready, bool keep);

	// For the metrics, from any thread: connections open, lent to workers,
	// whole and waiting for one, and those closed by a rule.
	struct Stats {
		std::uint64_t open = 0, in_workers = 0, queued = 0;
		std::uint64_t refused_peer = 0, refused_rule = 0, timed_out = 0, evicted = 0,
		              over_capacity = 0;
	};
	Stats stats() const;

private:
	struct Conn;
	struct List {
		Conn *head = nullptr, *tail = nullptr;
		void push_back(Conn *c);
		void remove(Conn *c);
	};
	enum class Back { forget, idle, linger };
	struct Returned {
		int fd;
		Back how;
	};
	using Clock = std::chrono::steady_clock;

	void accept_all();
	void start_draining();
	Conn *add(int fd);
	void forget(std::size_t fd);
	bool advance(Conn &c, bool ended);
	void hand_over(Conn &c, std::size_t bytes, bool reusable, bool complete);
	void on_lingering(Conn &c);
	void refuse(Conn &c, const char *why);
	void close_conn(Conn &c);
	bool evict_one();
	void take_returns();
	void expire();
	int next_timeout_ms() const;
	void watch(Conn &c);
	void unwatch(Conn &c);
	std::string peer_name(int fd) const;

	const int listen_fd_;
	const GateSettings settings_;
	const std::size_t window_;
	const std::chrono::milliseconds linger_;
	std::size_t capacity_ = 0;
	int epoll_fd_ = -1;
	int wake_fd_ = -1; // an eventfd: returns and stop
	std::vector<unsigned char> buffer_; // peeks, the gate thread's alone

	// The gate thread's alone.
	std::vector<std::unique_ptr<Conn>> table_; // by descriptor
	// Entries of closed connections kept for the next ones, up to
	// spare_limit: a connection a request (nginx-close, lighttpd, Caddy)
	// then costs no allocation and no free.
	std::vector<std::unique_ptr<Conn>> spare_;
	static constexpr std::size_t spare_limit = 64;
	std::atomic<std::size_t> count_{0}; // written here, read by stats()
	struct {
		metrics::Counter refused_peer, refused_rule, timed_out, evicted, over_capacity;
	} counted_; // written by the gate's thread alone
	List reading_, idle_, lingering_;
	Clock::time_point now_;
	Clock::time_point accept_paused_until_{};
	bool accept_paused_ = false;
	bool draining_ = false; // stopping: no new connection or request
	Clock::time_point drain_until_{};
	Clock::time_point next_pulse_{};
	void pulse();
	log::OncePerSecond refused_log_, limit_log_, accept_log_;

	// Shared with the workers.
	mutable std::mutex mutex_;
	std::condition_variable ready_cv_;
	std::vector<Ready> ready_; // a FIFO: served from ready_head_
	std::size_t ready_head_ = 0;
	std::size_t lent_ = 0; // taken by a worker, not yet done
	std::vector<Returned> returned_;
	std::vector<Returned> back_; // the gate thread's: returned_ taken in one swap
	bool stopping_ = false;
	bool stopped_ = false; // the gate thread has left: done() closes itself
	bool failed_ = false;
};

} // namespace mxd
