#include "mxdelegate/server.hpp"

#include "core/log.hpp"
#include "core/settle.hpp"
#include "mxdelegate/access_log.hpp"
#include "mxdelegate/listen.hpp"
#include "service/metrics.hpp"

#include <fcgiapp.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace mxd {

namespace {
// How long requests in flight have to finish after SIGTERM.
constexpr std::chrono::seconds shutdown_grace{2};
// How often systemd's STATUS= line is renewed, and the interval its
// requests/s is taken over.
constexpr std::chrono::seconds status_interval{5};
} // namespace

// The gate hands a worker only whole requests, so libfcgi never waits for
// a peer's bytes; what can still block is writing the answer to a peer that
// does not read.  The worker lends the watchdog its connection while it
// answers; one not answered within read_timeout is shut down, which ends the
// write.  The slot's lock keeps the watchdog from shutting down a
// connection the worker has given back.
struct Server::Slot {
	std::mutex mutex;
	int fd = -1; // the connection being answered, or -1
	bool armed = false;
	std::chrono::steady_clock::time_point deadline;
	// Written by its worker alone, read by the main thread: the metrics'
	// hook as much as STATUS='s.
	std::atomic<std::uint64_t> answered{0};

	void lend(int conn, std::chrono::seconds timeout)
	{
		std::lock_guard lock(mutex);
		fd = conn;
		armed = timeout.count() > 0;
		if (armed)
			deadline = std::chrono::steady_clock::now() + timeout;
	}

	void take_back()
	{
		std::lock_guard lock(mutex);
		fd = -1;
		armed = false;
	}

	// At shutdown, past the grace period: whatever the worker writes fails.
	void cut()
	{
		std::lock_guard lock(mutex);
		if (fd >= 0)
			shutdown(fd, SHUT_RDWR);
	}
};

namespace {

GateSettings gate_settings(const Config &config)
{
	GateSettings g;
	g.limits.params_bytes = config.params_bytes;
	g.max_connections = config.max_connections;
	g.read_timeout = std::chrono::seconds(config.read_timeout_s);
	if (const char *list = std::getenv("FCGI_WEB_SERVER_ADDRS")) {
		std::vector<std::string> bad;
		g.peers = PeerList::parse(list, bad);
		for (const std::string &b : bad)
			log::warning("main", "FCGI_WEB_SERVER_ADDRS: \"" + log::escape(b) +
			                         "\" is no IPv4 or IPv6 address; ignored");
		if (g.peers.empty() && !bad.empty())
			throw std::runtime_error("FCGI_WEB_SERVER_ADDRS names no address: every peer would "
			                         "be allowed; refusing to start");
	}
	return g;
}

} // namespace

settle::Stamp config_stamp(const std::string &path)
{
	struct stat st;
	if (stat(path.c_str(), &st) != 0) {
		settle::Stamp s;
		s.error = errno;
		return s;
	}
	return settle::stamp_of(st);
}

Server::Server(std::string config_path, const Config &config, const settle::Stamp &read_as,
               int listen_fd, std::shared_ptr<Responder> first)
	: config_path_(std::move(config_path)), config_read_as_(read_as), listen_fd_(listen_fd),
	  gate_settings_(gate_settings(config)), request_timeout_(config.read_timeout_s)
{
	install(first ? std::move(first)
	              : std::make_shared<Responder>(config, Responder::Preload::yes));
	no_listen_fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (no_listen_fd_ < 0)
		throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
	// A port already taken is logged, not fatal: where a web server starts
	// several processes of one configuration (mod_fcgid), the first holds
	// it, and the others must still serve the documents.
	if (!config.status_listen.empty()) {
		try {
			status_fd_ = listen::open(config.status_listen, {}, 64);
		} catch (const listen::Error &e) {
			log::error("status", std::string("[status] listen: ") + e.what() +
			                         "; serving without it");
		}
	}
}

// Only after run() returned, or when the constructor threw: no thread uses
// the descriptors any more.
Server::~Server()
{
	if (no_listen_fd_ >= 0)
		close(no_listen_fd_);
	if (status_fd_ >= 0)
		close(status_fd_);
}

std::string Server::status_answer(status_http::Page page, bool head)
{
	Reply reply;
	const std::shared_ptr<Responder> r = in_service();
	if (page == status_http::Page::metrics)
		r->metrics(reply, head);
	else
		r->health(reply, head);
	return reply.wire();
}

std::shared_ptr<Responder> Server::in_service()
{
	std::lock_guard lock(current_mutex_);
	return current_;
}

void Server::install(std::shared_ptr<Responder> r)
{
	{
		std::lock_guard lock(current_mutex_);
		current_ = std::move(r);
	}
	version_.fetch_add(1, std::memory_order_release);
}

// Builds the new configuration completely and swaps it in only when it is
// valid; otherwise the old one goes on serving.
void Server::reload(const char *why)
{
	try {
		Config c = load_config(config_path_);
		// Preloaded before it is installed: the old one serves meanwhile,
		// and keeps serving if this throws.
		auto r = Responder::checked(c, in_service().get(), Responder::Preload::yes);
		const Config &old = in_service()->config();
		if (c.threads != old.threads || c.listen != old.listen || c.socket_group != old.socket_group ||
		    c.socket_mode != old.socket_mode || c.read_timeout_s != old.read_timeout_s ||
		    c.params_bytes != old.params_bytes || c.max_connections != old.max_connections ||
		    c.status_listen != old.status_listen)
			log::warning("main", "threads, listen, socket_group, socket_mode, read_timeout, "
			                     "params_bytes, max_connections and [status] listen change at "
			                     "the next restart");
		install(std::move(r));
		log::set_format(c.log_format);
		log::info("main", std::string("configuration reloaded (") + why + ")");
		metrics::reloaded(true);
	} catch (const std::exception &e) {
		metrics::reloaded(false);
		log::lines(log::Level::error, "main", std::string("reload (") + why +
		           ") refused, the previous configuration stays in service: ", e.what());
	}
}

std::uint64_t Server::answered() const
{
	std::uint64_t n = 0;
	for (unsigned i = 0; i < threads_; ++i)
		n += slots_[i].answered.load(std::memory_order_relaxed);
	return n;
}

metrics::Runtime Server::runtime() const
{
	const Gate::Stats g = gate_->stats();
	metrics::Runtime r;
	r.open = g.open;
	r.in_workers = g.in_workers;
	r.queued = g.queued;
	r.in_gate = g.open - std::min(g.open, g.in_workers + g.queued);
	r.refused_peer = g.refused_peer;
	r.refused_rule = g.refused_rule;
	r.timed_out = g.timed_out;
	r.evicted = g.evicted;
	r.over_capacity = g.over_capacity;
	r.threads = threads_;
	for (unsigned i = 0; i < threads_; ++i) {
		std::lock_guard lock(slots_[i].mutex);
		r.busy += slots_[i].fd >= 0;
	}
	return r;
}

notify::Summary Server::summary(double requests_per_s)
{
	notify::Summary s;
	// The preloaded names too: answered from memory as cached ones are.
	const Directory::Usage u = in_service()->directory().usage();
	s.hosts = u.hosts + u.preloaded;
	s.requests_per_s = requests_per_s;
	s.last_error = log::last_error();
	return s;
}

void Server::worker(Slot &slot)
{
	FCGX_Request req;
	if (FCGX_InitRequest(&req, no_listen_fd_, 0) != 0) {
		log::error("worker", "FCGX_InitRequest failed");
		return;
	}
	std::shared_ptr<Responder> responder;
	std::uint64_t seen = ~std::uint64_t{0};
	Reply reply;
	char drain[512];
	metrics::Block &counted = metrics::local();
	while (const std::optional<Gate::Ready> ready = gate_->take()) {
		// libfcgi gets a duplicate: should it drop the connection itself, it
		// closes its own number, never one the gate still holds.
		const int fd = ready->fd;
		const int dup = fcntl(fd, F_DUPFD_CLOEXEC, 0);
		if (dup < 0) {
			log::error("worker", std::string("dup failed: ") + std::strerror(errno));
			gate_->done(*ready, false);
			continue;
		}
		slot.lend(fd, request_timeout_);
		req.ipcFd = dup;
		// FCGX_Accept_r first finishes "the previous request", closing its
		// connection unless that one was kept alive: this one, here.
		req.keepConnection = 1;
		if (FCGX_Accept_r(&req) < 0) {
			slot.take_back();
			gate_->done(*ready, false);
			continue;
		}
		bool keep = ready->reusable && req.keepConnection;
		// A request kept alive must leave nothing of itself unread: its
		// STDIN end is in the socket (the gate waited for it).
		if (keep)
			while (FCGX_GetStr(drain, sizeof drain, req.in) > 0) {
			}
		if (FCGX_GetError(req.in) == 0) {
			if (std::uint64_t v = version_.load(std::memory_order_acquire); v != seen) {
				responder = in_service();
				seen = v;
			}
			const bool access = responder->config().log_access;
			const auto start = access ? std::chrono::steady_clock::now()
			                          : std::chrono::steady_clock::time_point();
			Request request = parse_request(req.envp);
			responder->answer(request, reply);
			// Two copies into libfcgi's buffer, one write to the socket: the
			// lead is shared by every answer, so the cache need not hold it.
			if (!reply.lead.empty())
				FCGX_PutStr(reply.lead.data(), static_cast<int>(reply.lead.size()), req.out);
			FCGX_PutStr(reply.bytes.data(), static_cast<int>(reply.bytes.size()), req.out);
			slot.answered.store(slot.answered.load(std::memory_order_relaxed) + 1,
			                    std::memory_order_relaxed);
			counted.answered(request.document, reply.status, static_cast<unsigned>(reply.cache));
			if (access) {
				const char *peer = FCGX_GetParam("REMOTE_ADDR", req.envp);
				access_log::write(request, reply, peer ? peer : "", start);
			}
		} else {
			keep = false; // cut short by the watchdog: nothing to answer
		}
		// The end records are written here; then libfcgi lets go of the
		// connection without its 2-second linger or its drain of a body:
		// the gate does both, without a worker.
		FCGX_FClose(req.err);
		FCGX_FClose(req.out);
		keep = keep && FCGX_GetError(req.out) == 0;
		req.ipcFd = -1;
		FCGX_Finish_r(&req);
		close(dup);
		reply.hold.reset();
		slot.take_back();
		gate_->done(*ready, keep);
	}
	FCGX_Free(&req, 1);
}

void Server::watchdog(unsigned n)
{
	for (;;) {
		{
			// Woken at shutdown, so that the process does not linger for
			// its next tick (a web server that stops its children may look
			// at once).
			std::unique_lock lock(watchdog_mutex_);
			if (watchdog_wake_.wait_for(lock, std::chrono::milliseconds(100), [this] {
				    return stopping_.load(std::memory_order_acquire);
			    }))
				return;
		}
		const auto now = std::chrono::steady_clock::now();
		for (unsigned i = 0; i < n; ++i) {
			Slot &s = slots_[i];
			std::lock_guard lock(s.mutex);
			if (s.fd >= 0 && s.armed && now >= s.deadline) {
				shutdown(s.fd, SHUT_RDWR);
				s.armed = false;
			}
		}
	}
}

void Server::run(unsigned threads)
{
	// Beside the connections: each worker's store connection and the
	// files a plugin opens, the configuration, the log.
	GateSettings settings = gate_settings_;
	if (notify_.watchdog_every().count() > 0) {
		settings.pulse = [this] { notify_.watchdog(); };
		settings.pulse_every = notify_.watchdog_every();
	}
	gate_ = std::make_unique<Gate>(listen_fd_, std::move(settings), 64 + 4 * std::size_t{threads});
	slots_ = std::make_unique<Slot[]>(threads);
	threads_ = threads;
	metrics::set_runtime([this] { return runtime(); });
	std::thread gate(&Gate::run, gate_.get());
	std::unique_ptr<status_http::Listener> status;
	std::thread status_thread;
	if (status_fd_ >= 0) {
		status = std::make_unique<status_http::Listener>(
			status_fd_, [this](status_http::Page p, bool head) { return status_answer(p, head); });
		status_fd_ = -1; // the listener's now
		status_thread = std::thread(&status_http::Listener::run, status.get());
	}
	std::vector<std::thread> workers;
	for (unsigned i = 0; i < threads; ++i)
		workers.emplace_back(&Server::worker, this, std::ref(slots_[i]));
	std::thread guard;
	if (request_timeout_.count() > 0)
		guard = std::thread(&Server::watchdog, this, threads);

	sigset_t wait;
	sigemptyset(&wait);
	sigaddset(&wait, SIGTERM);
	sigaddset(&wait, SIGINT);
	sigaddset(&wait, SIGHUP);
	// The configuration file, which may hold the domains: an edit in place
	// is taken once it has settled (core/settle), so that a half-written
	// file, valid TOML with fewer domains, is never put in service.
	settle::Watch watch(config_read_as_);
	// The socket is listening and the gate takes what arrives on it.
	notify_.ready();
	using Clock = std::chrono::steady_clock;
	Clock::time_point status_at = Clock::now();
	std::uint64_t status_count = 0;
	double rate = 0; // requests/s over the last whole interval
	if (notify_.enabled())
		notify_.status(summary(rate));
	// A reload, whatever its outcome: systemd shows "reloading" meanwhile,
	// and a refused one leaves the old configuration serving, ready.
	auto reload_told = [this, &rate](const char *why) {
		notify_.reloading();
		reload(why);
		notify_.ready();
		if (notify_.enabled())
			notify_.status(summary(rate));
	};
	while (!gate_->failed()) {
		if (notify_.enabled() && Clock::now() - status_at >= status_interval) {
			const auto now = Clock::now();
			const std::uint64_t count = answered();
			const double secs = std::chrono::duration<double>(now - status_at).count();
			rate = static_cast<double>(count - status_count) / secs;
			notify_.status(summary(rate));
			status_at = now;
			status_count = count;
		}
		// Read each time: a reload may have changed it.
		unsigned interval = in_service()->config().check_interval_ms;
		if (watch.pending()) {
			const auto left = std::chrono::ceil<std::chrono::milliseconds>(
				watch.due() - settle::Clock::now());
			interval = static_cast<unsigned>(std::clamp<std::int64_t>(left.count(), 1, interval));
		}
		timespec ts{static_cast<time_t>(interval / 1000),
		            static_cast<long>(interval % 1000) * 1000000L};
		int sig = sigtimedwait(&wait, nullptr, &ts);
		if (sig == SIGTERM || sig == SIGINT) {
			log::info("main", sig == SIGTERM ? "SIGTERM: finishing requests in flight"
			                                 : "SIGINT: finishing requests in flight");
			break;
		}
		if (sig == SIGHUP) {
			watch.taken(config_stamp(config_path_));
			reload_told("SIGHUP");
			continue;
		}
		const settle::Stamp now = config_stamp(config_path_);
		if (watch.see(now, settle::Clock::now()) == settle::Watch::Verdict::take) {
			watch.taken(now);
			reload_told("file changed");
			continue;
		}
		in_service()->refresh();
	}

	notify_.stopping();
	stop(workers, threads);
	gate.join();
	if (status) {
		status->stop();
		status_thread.join();
	}
	metrics::set_runtime(nullptr);
	if (guard.joinable()) {
		{
			std::lock_guard lock(watchdog_mutex_);
			watchdog_wake_.notify_all();
		}
		guard.join();
	}
}

// Requests in flight finish within the grace period; then the sockets of
// those still answering are shut down, which ends any write.  A worker
// still inside a store call a second later (a lookup that ignores its
// deadline) cannot be ended from outside: the process exits without it,
// since nothing it holds needs saving (the stores are read-only here).
void Server::stop(std::vector<std::thread> &workers, unsigned threads)
{
	stopping_ = true;
	gate_->stop();
	std::atomic<bool> joined{false};
	std::thread joiner([&] {
		for (auto &w : workers)
			w.join();
		joined = true;
	});
	using Clock = std::chrono::steady_clock;
	const auto grace = Clock::now() + shutdown_grace;
	bool cut = false;
	while (!joined.load()) {
		std::this_thread::sleep_for(std::chrono::milliseconds(20));
		const auto now = Clock::now();
		if (now >= grace && !cut) {
			for (unsigned i = 0; i < threads; ++i)
				slots_[i].cut();
			cut = true;
		}
		if (now >= grace + std::chrono::seconds(1)) {
			log::error("main", "a worker is still inside a store call after the shutdown grace "
			                   "period: exiting without it");
			std::_Exit(0);
		}
	}
	joiner.join();
}

} // namespace mxd
