#include "mxdelegate/server.hpp"

#include "core/fcgi_frame.hpp"
#include "core/log.hpp"
#include "core/request.hpp"
#include "core/settle.hpp"
#include "mxdelegate/access_log.hpp"
#include "mxdelegate/listen.hpp"
#include "service/metrics.hpp"

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
#include <span>
#include <stdexcept>

namespace mxd {

namespace {
// How long requests in flight have to finish after SIGTERM.
constexpr std::chrono::seconds shutdown_grace{2};
// How often systemd's STATUS= line is renewed, and the interval its
// requests/s is taken over.
constexpr std::chrono::seconds status_interval{5};
} // namespace

// The gate hands a worker only whole requests, so a worker never waits for
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

namespace {

// A request's parameters as the worker keeps them: the seven that
// core/request reads, and REMOTE_ADDR for the access line.
struct Collected {
	Gathered seven;
	bool want_peer = false;
	bool has_peer = false;
	std::string_view peer;

	static void add(std::string_view name, std::string_view value, void *ctx)
	{
		auto &c = *static_cast<Collected *>(ctx);
		c.seven.add(name, value);
		if (c.want_peer && !c.has_peer && name == "REMOTE_ADDR") {
			c.peer = value;
			c.has_peer = true;
		}
	}
};

const char *role_name(std::uint16_t role)
{
	return role == 1 ? "RESPONDER" : role == 2 ? "AUTHORIZER" : "FILTER";
}

// Room read beyond a request on a connection that serves no other: what a
// peer sent after it (a second empty STDIN record, the start of a body) is
// taken with it, as libfcgi's buffered reads took it, so that the worker
// can close at once instead of leaving the gate to linger on the bytes.
constexpr std::size_t after_room = 4096;

// The request's `bytes`, which the gate saw whole in the socket, at the
// front of `in`; with `room`, what else is there up to that many more.
// `in` only grows, so that it is not filled with zeros again each request.
bool read_request_bytes(int fd, std::vector<std::uint8_t> &in, std::size_t bytes, std::size_t room)
{
	if (in.size() < bytes + room)
		in.resize(bytes + room);
	const std::size_t most = bytes + room;
	std::size_t got = 0;
	while (got < bytes) {
		const ssize_t n = read(fd, in.data() + got, most - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		got += static_cast<std::size_t>(n);
	}
	return true;
}

bool write_all(int fd, std::string_view out)
{
	while (!out.empty()) {
		const ssize_t n = send(fd, out.data(), out.size(), MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		out.remove_prefix(static_cast<std::size_t>(n));
	}
	return true;
}

} // namespace

// The gate has checked every record of the request and seen all of them in
// the socket (core/fcgi_frame), so the worker reads exactly those bytes,
// checks them again as it walks them, and writes the answer's records
// with one send: libfcgi's reading, its streams and their 34 calls to
// malloc and free a request were the floor's whole cost, done a second
// time over bytes already checked (bench/RESULTS.md, "The cached answer's
// instructions").
void Server::worker(Slot &slot)
{
	std::shared_ptr<Responder> responder;
	std::uint64_t seen = ~std::uint64_t{0};
	Reply reply;
	std::vector<std::uint8_t> in;
	std::string scratch, text, out;
	metrics::Block &counted = metrics::local();
	while (const std::optional<Gate::Ready> ready = gate_->take()) {
		const int fd = ready->fd;
		slot.lend(fd, request_timeout_);
		bool keep = false;
		// A read cut short is the watchdog's shutdown: nothing to answer.
		// A connection kept for another request gives up its bytes exactly.
		if (read_request_bytes(fd, in, ready->bytes, ready->reusable ? 0 : after_room)) {
			if (std::uint64_t v = version_.load(std::memory_order_acquire); v != seen) {
				responder = in_service();
				seen = v;
			}
			const bool access = responder->config().log_access;
			Collected got;
			got.want_peer = access;
			const std::span<const std::uint8_t> bytes(in.data(), ready->bytes);
			if (const auto begin = fcgi_frame::read_request(bytes, scratch, &Collected::add, &got)) {
				const auto start = access ? std::chrono::steady_clock::now()
				                          : std::chrono::steady_clock::time_point();
				Request request = parse_request(got.seven.params(text, role_name(begin->role)));
				responder->answer(request, reply);
				// The shared lead, then the answer's own bytes, in one send.
				const std::string_view parts[] = {reply.lead, reply.bytes};
				out.clear();
				fcgi_frame::append_reply(out, begin->id, parts);
				// Counted and logged before the answer leaves: a client that
				// asks again, or scrapes the metrics, once it has its answer
				// finds this request's line and counts there before its
				// next one's (another worker may answer that first).
				slot.answered.store(slot.answered.load(std::memory_order_relaxed) + 1,
				                    std::memory_order_relaxed);
				counted.answered(request.document, reply.status, static_cast<unsigned>(reply.cache));
				if (access)
					access_log::write(request, reply, got.peer, start);
				keep = write_all(fd, out) && ready->reusable && begin->keep;
			} else {
				// Never, unless the gate's scan and this reading disagree.
				log::error("worker", "a request the gate passed does not read as one; closed "
				                     "unanswered");
			}
		}
		reply.hold.reset();
		slot.take_back();
		gate_->done(*ready, keep);
	}
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
