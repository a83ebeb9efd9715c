#include "mxdelegate/gate.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace mxd {

namespace {

// epoll's tags for the two descriptors that are no connection.
constexpr std::uint64_t listen_tag = ~std::uint64_t{0};
constexpr std::uint64_t wake_tag = ~std::uint64_t{0} - 1;

// After its answer a connection closed by the peer leaves at once; one
// that goes on sending is read and dropped for this long at most, and this
// much: enough for a web server to see the answer before any reset.
constexpr std::chrono::milliseconds linger_time{2000};
constexpr std::size_t linger_bytes = 1 << 20;
// At shutdown, how long a request already arriving has to be whole: within
// the 2 s the server gives requests in flight, with time to answer it.
constexpr std::chrono::milliseconds drain_time{1500};
// What close_conn reads and drops first, so that a peer whose last bytes
// were never read gets the end of the connection, not a reset.
constexpr std::size_t close_drain_bytes = 256 * 1024;

std::runtime_error sys_error(const std::string &what)
{
	return std::runtime_error(what + ": " + std::strerror(errno));
}

in6_addr v4_mapped(in_addr a)
{
	in6_addr m{};
	m.s6_addr[10] = 0xff;
	m.s6_addr[11] = 0xff;
	std::memcpy(&m.s6_addr[12], &a, 4);
	return m;
}

} // namespace

// ---- FCGI_WEB_SERVER_ADDRS ----

PeerList PeerList::parse(std::string_view list, std::vector<std::string> &bad)
{
	PeerList p;
	while (!list.empty()) {
		const std::size_t comma = list.find(',');
		std::string one(list.substr(0, comma));
		list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
		one.erase(0, one.find_first_not_of(" \t"));
		one.erase(one.find_last_not_of(" \t") + 1);
		if (one.empty())
			continue;
		in_addr v4;
		in6_addr v6;
		if (inet_pton(AF_INET, one.c_str(), &v4) == 1)
			p.addrs_.push_back(v4_mapped(v4));
		else if (inet_pton(AF_INET6, one.c_str(), &v6) == 1)
			p.addrs_.push_back(v6);
		else
			bad.push_back(one);
	}
	return p;
}

bool PeerList::allows(const sockaddr_storage &peer) const
{
	if (addrs_.empty())
		return true;
	in6_addr a;
	if (peer.ss_family == AF_INET) {
		sockaddr_in in;
		std::memcpy(&in, &peer, sizeof in);
		a = v4_mapped(in.sin_addr);
	} else if (peer.ss_family == AF_INET6) {
		sockaddr_in6 in6;
		std::memcpy(&in6, &peer, sizeof in6);
		a = in6.sin6_addr;
	} else {
		return true;
	}
	return std::any_of(addrs_.begin(), addrs_.end(),
	                   [&a](const in6_addr &b) { return std::memcmp(&a, &b, sizeof a) == 0; });
}

// ---- connections ----

struct Gate::Conn {
	enum class State { reading, idle, busy, lingering };
	int fd;
	State state = State::reading;
	bool watched = false; // registered with epoll
	Clock::time_point since; // entered its list
	Conn *prev = nullptr, *next = nullptr;
	fcgi_frame::Progress progress;
	std::size_t need = fcgi_frame::header_size;
	std::size_t lingered = 0;

	List *list(Gate &g)
	{
		switch (state) {
		case State::reading:
			return &g.reading_;
		case State::idle:
			return &g.idle_;
		case State::lingering:
			return &g.lingering_;
		case State::busy:
			break;
		}
		return nullptr;
	}
};

void Gate::List::push_back(Conn *c)
{
	c->prev = tail;
	c->next = nullptr;
	(tail ? tail->next : head) = c;
	tail = c;
}

void Gate::List::remove(Conn *c)
{
	(c->prev ? c->prev->next : head) = c->next;
	(c->next ? c->next->prev : tail) = c->prev;
	c->prev = c->next = nullptr;
}

Gate::Gate(int listen_fd, GateSettings settings, std::size_t reserve)
	: listen_fd_(listen_fd), settings_(std::move(settings)),
	  window_(fcgi_frame::window(settings_.limits)),
	  linger_(settings_.read_timeout.count() > 0 ? std::min(linger_time, settings_.read_timeout)
	                                             : linger_time),
	  buffer_(window_)
{
	spare_.reserve(spare_limit);
	// Every connection held is a descriptor: take what the hard limit
	// allows (systemd gives services 1024 soft, 512K hard) and fit the
	// connections into it.
	rlimit nofile{};
	if (getrlimit(RLIMIT_NOFILE, &nofile) == 0) {
		if (nofile.rlim_cur < nofile.rlim_max) {
			rlimit raised = nofile;
			raised.rlim_cur = nofile.rlim_max;
			if (setrlimit(RLIMIT_NOFILE, &raised) == 0)
				nofile = raised;
		}
	}
	capacity_ = settings_.max_connections;
	if (nofile.rlim_cur != RLIM_INFINITY && nofile.rlim_cur < capacity_ + reserve + 16) {
		const std::size_t fit = nofile.rlim_cur > reserve + 32 ? nofile.rlim_cur - reserve - 16 : 16;
		capacity_ = std::min(capacity_, fit);
		log::warning("gate", "[server] max_connections lowered to " + std::to_string(capacity_) +
		                         " by the descriptor limit (" + std::to_string(nofile.rlim_cur) + ")");
	}

	const int fl = fcntl(listen_fd_, F_GETFL);
	if (fl < 0 || fcntl(listen_fd_, F_SETFL, fl | O_NONBLOCK) < 0)
		throw sys_error("listening socket");
	epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
	if (epoll_fd_ < 0)
		throw sys_error("epoll_create1");
	wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (wake_fd_ < 0) {
		close(epoll_fd_);
		throw sys_error("eventfd");
	}
	epoll_event ev{};
	ev.events = EPOLLIN;
	ev.data.u64 = wake_tag;
	epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev);
	ev.data.u64 = listen_tag;
	if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listen_fd_, &ev) != 0) {
		close(wake_fd_);
		close(epoll_fd_);
		throw sys_error("listening socket: epoll");
	}
}

// After run() returned and the workers left: what is still held is closed.
// A busy connection was closed by its worker.
Gate::~Gate()
{
	for (auto &c : table_)
		if (c && c->state != Conn::State::busy)
			close(c->fd);
	close(wake_fd_);
	close(epoll_fd_);
}

std::string Gate::peer_name(int fd) const
{
	sockaddr_storage ss{};
	socklen_t len = sizeof ss;
	if (getpeername(fd, reinterpret_cast<sockaddr *>(&ss), &len) != 0)
		return "a peer that left";
	char host[INET6_ADDRSTRLEN] = "?";
	if (ss.ss_family == AF_INET) {
		sockaddr_in in;
		std::memcpy(&in, &ss, sizeof in);
		inet_ntop(AF_INET, &in.sin_addr, host, sizeof host);
		return std::string(host) + ":" + std::to_string(ntohs(in.sin_port));
	}
	if (ss.ss_family == AF_INET6) {
		sockaddr_in6 in6;
		std::memcpy(&in6, &ss, sizeof in6);
		inet_ntop(AF_INET6, &in6.sin6_addr, host, sizeof host);
		return "[" + std::string(host) + "]:" + std::to_string(ntohs(in6.sin6_port));
	}
	return "the unix socket";
}

void Gate::watch(Conn &c)
{
	if (c.watched)
		return;
	// Edge-triggered: the gate peeks and leaves the bytes where they are, so
	// a level-triggered socket would stay readable and spin the loop while
	// a request is incomplete.  Each new segment, and the peer's end, wakes
	// it; registering reports what is there already.
	epoll_event ev{};
	ev.events = EPOLLIN | EPOLLRDHUP | EPOLLET;
	ev.data.u64 = static_cast<std::uint64_t>(c.fd);
	if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, c.fd, &ev) == 0)
		c.watched = true;
}

void Gate::unwatch(Conn &c)
{
	if (c.watched)
		epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, c.fd, nullptr);
	c.watched = false;
}

void Gate::close_conn(Conn &c)
{
	if (List *l = c.list(*this))
		l->remove(&c);
	const int fd = c.fd;
	for (std::size_t dropped = 0; dropped < close_drain_bytes;) {
		const ssize_t n = recv(fd, buffer_.data(), buffer_.size(), MSG_DONTWAIT);
		if (n <= 0)
			break;
		dropped += static_cast<std::size_t>(n);
	}
	// close() also takes it out of epoll: no other descriptor refers to it.
	close(fd);
	forget(static_cast<std::size_t>(fd));
}

void Gate::forget(std::size_t fd)
{
	if (spare_.size() < spare_limit)
		spare_.push_back(std::move(table_[fd]));
	else
		table_[fd].reset();
	--count_;
}

void Gate::refuse(Conn &c, const char *why)
{
	if (refused_log_.allow()) {
		const std::string peer = peer_name(c.fd);
		log::warning("gate", "closed a connection from " + peer + ": " + why +
		                         " (one line a second at most)",
		             {{"peer", peer}});
	}
	close_conn(c);
}

// The oldest idle connection, else the one waiting longest for its request.
bool Gate::evict_one()
{
	Conn *c = idle_.head ? idle_.head : reading_.head;
	if (!c)
		return false;
	counted_.evicted.add();
	if (limit_log_.allow())
		log::warning("gate", std::to_string(capacity_) +
		                         " connections held ([server] max_connections): closed the oldest "
		                         "waiting one (one line a second at most)");
	close_conn(*c);
	return true;
}

Gate::Conn *Gate::add(int fd)
{
	const auto i = static_cast<std::size_t>(fd);
	if (i >= table_.size())
		table_.resize(std::max(i + 1, table_.size() * 2));
	if (table_[i]) {
		// A worker closed this descriptor and said so before closing it.
		take_returns();
		if (table_[i]) {
			log::error("gate", "descriptor " + std::to_string(fd) + " reused while held");
			table_[i].reset();
			--count_;
		}
	}
	if (spare_.empty()) {
		table_[i] = std::make_unique<Conn>();
	} else {
		table_[i] = std::move(spare_.back());
		spare_.pop_back();
		*table_[i] = Conn{};
	}
	Conn *c = table_[i].get();
	c->fd = fd;
	c->since = now_;
	++count_;
	reading_.push_back(c);
	return c;
}

void Gate::accept_all()
{
	for (;;) {
		sockaddr_storage peer{};
		socklen_t len = sizeof peer;
		// Blocking like every connection a worker gets: the worker reads and
		// writes as if so.  The gate itself never blocks on one (MSG_DONTWAIT).
		const int fd = accept4(listen_fd_, reinterpret_cast<sockaddr *>(&peer), &len, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
				continue;
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				if (accept_log_.allow())
					log::error("gate", std::string("accept: ") + std::strerror(errno) +
					                       " (one line a second at most)");
				if (evict_one())
					continue;
				// Nothing to give up: stop listening a moment instead of
				// spinning on a socket that stays readable.
				epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, listen_fd_, nullptr);
				accept_paused_ = true;
				accept_paused_until_ = now_ + std::chrono::milliseconds(100);
				return;
			}
			log::error("gate", std::string("the listening socket failed: ") + std::strerror(errno));
			std::lock_guard lock(mutex_);
			failed_ = true;
			stopping_ = true;
			return;
		}
		if (!settings_.peers.allows(peer)) {
			if (refused_log_.allow()) {
				const std::string name = peer_name(fd);
				log::warning("gate", "refused a connection from " + name +
				                         ": not in FCGI_WEB_SERVER_ADDRS (one line a second at most)",
				             {{"peer", name}});
			}
			counted_.refused_peer.add();
			close(fd);
			continue;
		}
		if (peer.ss_family == AF_INET || peer.ss_family == AF_INET6) {
			// The answer's records go out at once, not held back by Nagle.
			int one = 1;
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		}
		if (count_ >= capacity_ && !evict_one()) {
			if (limit_log_.allow())
				log::warning("gate", "every connection is with a worker: refused a new one "
				                     "(one line a second at most)");
			counted_.over_capacity.add();
			close(fd);
			continue;
		}
		Conn *c = add(fd);
		// A web server writes its request as soon as it is connected: it is
		// often whole already, and never needs epoll.
		if (advance(*c, false))
			watch(*c);
	}
}

// Reads what the connection holds (without taking it) and acts on it.
// True while the connection waits for more; `ended`: the peer will send
// nothing more, so an incomplete request never will be.
bool Gate::advance(Conn &c, bool ended)
{
	for (;;) {
		int queued = 0;
		if (ioctl(c.fd, FIONREAD, &queued) != 0) {
			close_conn(c);
			return false;
		}
		if (queued == 0) {
			unsigned char byte;
			const ssize_t n = recv(c.fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
			if (n > 0)
				continue; // arrived since FIONREAD
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
				return true;
			close_conn(c); // the peer left (0) or the socket failed
			return false;
		}
		if (c.state == Conn::State::idle) {
			// The first byte of a kept-alive connection's next request: the
			// request has read_timeout from now to be whole.
			idle_.remove(&c);
			c.state = Conn::State::reading;
			c.since = now_;
			reading_.push_back(&c);
		}
		const auto held = static_cast<std::size_t>(queued);
		if (held < c.need) {
			if (!ended)
				return true;
			close_conn(c);
			return false;
		}
		const ssize_t n = recv(c.fd, buffer_.data(), std::min(held, window_), MSG_PEEK | MSG_DONTWAIT);
		if (n <= 0) {
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
				return true;
			close_conn(c);
			return false;
		}
		const std::span<const std::uint8_t> bytes(buffer_.data(), static_cast<std::size_t>(n));
		const fcgi_frame::Verdict v = fcgi_frame::scan(bytes, c.progress, settings_.limits);
		switch (v.kind) {
		case fcgi_frame::Verdict::Kind::need:
			c.need = v.bytes;
			if (!ended)
				return true;
			close_conn(c);
			return false;
		case fcgi_frame::Verdict::Kind::broken:
			counted_.refused_rule.add();
			refuse(c, fcgi_frame::describe(v.rule));
			return false;
		case fcgi_frame::Verdict::Kind::whole:
			hand_over(c, v.bytes, c.progress.keep && v.stdin_ended && held == v.bytes, v.stdin_ended);
			return false;
		case fcgi_frame::Verdict::Kind::management:
			break;
		}
		// Answered here, so a worker never sees one; taken off the socket.
		const fcgi_frame::Values values{capacity_, capacity_};
		const auto answer = fcgi_frame::answer_management(bytes.first(v.bytes), values);
		if (!answer) {
			counted_.refused_rule.add();
			refuse(c, fcgi_frame::describe(fcgi_frame::Rule::values_pairs));
			return false;
		}
		if (recv(c.fd, buffer_.data(), v.bytes, MSG_DONTWAIT) != static_cast<ssize_t>(v.bytes) ||
		    send(c.fd, answer->data(), answer->size(), MSG_DONTWAIT | MSG_NOSIGNAL) !=
		            static_cast<ssize_t>(answer->size())) {
			close_conn(c);
			return false;
		}
		c.progress = {};
		c.need = fcgi_frame::header_size;
	}
}

void Gate::hand_over(Conn &c, std::size_t bytes, bool reusable, bool complete)
{
	unwatch(c);
	if (List *l = c.list(*this))
		l->remove(&c);
	c.state = Conn::State::busy;
	c.progress = {};
	c.need = fcgi_frame::header_size;
	{
		std::lock_guard lock(mutex_);
		ready_.push_back(Ready{c.fd, bytes, reusable, complete, now_});
	}
	ready_cv_.notify_one();
}

void Gate::on_lingering(Conn &c)
{
	for (;;) {
		const ssize_t n = recv(c.fd, buffer_.data(), buffer_.size(), MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			return;
		if (n <= 0) {
			close_conn(c);
			return;
		}
		c.lingered += static_cast<std::size_t>(n);
		if (c.lingered > linger_bytes) {
			close_conn(c);
			return;
		}
	}
}

void Gate::take_returns()
{
	{
		// Swapped, so that both vectors keep their capacity: no allocation
		// a request.
		std::lock_guard lock(mutex_);
		back_.swap(returned_);
	}
	for (const Returned &r : back_) {
		const auto i = static_cast<std::size_t>(r.fd);
		if (i >= table_.size() || !table_[i] || table_[i]->state != Conn::State::busy)
			continue;
		Conn &c = *table_[i];
		switch (r.how) {
		case Back::forget: // closed by its worker
			forget(i);
			continue;
		case Back::idle:
			if (draining_) { // shutting down: no next request
				close_conn(c);
				continue;
			}
			c.state = Conn::State::idle;
			c.since = now_;
			idle_.push_back(&c);
			watch(c);
			continue;
		case Back::linger:
			// The answer is out; the peer may still be sending (a body no
			// answer needed): say so, and read until it closes.
			shutdown(c.fd, SHUT_WR);
			c.state = Conn::State::lingering;
			c.since = now_;
			c.lingered = 0;
			lingering_.push_back(&c);
			watch(c);
			continue;
		}
	}
	back_.clear();
}

void Gate::expire()
{
	if (settings_.read_timeout.count() > 0)
		while (reading_.head && now_ - reading_.head->since >= settings_.read_timeout) {
			counted_.timed_out.add();
			refuse(*reading_.head, "no whole request within [server] read_timeout");
		}
	while (lingering_.head && now_ - lingering_.head->since >= linger_)
		close_conn(*lingering_.head);
	if (accept_paused_ && now_ >= accept_paused_until_) {
		epoll_event ev{};
		ev.events = EPOLLIN;
		ev.data.u64 = listen_tag;
		epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listen_fd_, &ev);
		accept_paused_ = false;
	}
}

int Gate::next_timeout_ms() const
{
	Clock::time_point next = Clock::time_point::max();
	if (settings_.read_timeout.count() > 0 && reading_.head)
		next = std::min(next, reading_.head->since + settings_.read_timeout);
	if (lingering_.head)
		next = std::min(next, lingering_.head->since + linger_);
	if (accept_paused_)
		next = std::min(next, accept_paused_until_);
	if (draining_)
		next = std::min(next, drain_until_);
	if (settings_.pulse_every.count() > 0)
		next = std::min(next, next_pulse_);
	if (next == Clock::time_point::max())
		return -1;
	const auto left = std::chrono::ceil<std::chrono::milliseconds>(next - Clock::now()).count();
	return static_cast<int>(std::clamp<long long>(left, 0, 60000));
}

// The watchdog's ping comes from here, not from a timer thread of its own,
// which would go on pinging while the server is stuck: reaching this line
// shows that the loop turns (accepting, reading, taking back connections),
// and the oldest request waiting for a worker shows that the workers take
// requests.  All of them stuck in a store call that ignores its deadline,
// or a loop that no longer returns from a call, and the pings stop: systemd
// then kills and restarts the process (WatchdogSec=, Restart=).
void Gate::pulse()
{
	if (settings_.pulse_every.count() <= 0 || now_ < next_pulse_)
		return;
	bool waiting_long = false;
	{
		std::lock_guard lock(mutex_);
		waiting_long = ready_head_ < ready_.size() &&
		               now_ - ready_[ready_head_].queued > settings_.pulse_every;
	}
	if (!waiting_long)
		settings_.pulse();
	next_pulse_ = now_ + settings_.pulse_every;
}

void Gate::run()
{
	epoll_event events[64];
	for (;;) {
		const int n = epoll_wait(epoll_fd_, events, 64, next_timeout_ms());
		now_ = Clock::now();
		if (n < 0 && errno != EINTR) {
			log::error("gate", std::string("epoll_wait: ") + std::strerror(errno));
			std::lock_guard lock(mutex_);
			failed_ = stopping_ = true;
		}
		for (int i = 0; i < n; ++i) {
			const std::uint64_t tag = events[i].data.u64;
			if (tag == listen_tag) {
				accept_all();
			} else if (tag == wake_tag) {
				std::uint64_t count;
				[[maybe_unused]] ssize_t r = read(wake_fd_, &count, sizeof count);
			} else if (tag < table_.size() && table_[tag]) {
				Conn &c = *table_[tag];
				if (c.state == Conn::State::lingering)
					on_lingering(c);
				else if (c.state != Conn::State::busy)
					advance(c, (events[i].events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0);
			}
		}
		take_returns();
		bool stopping, failed;
		{
			std::lock_guard lock(mutex_);
			stopping = stopping_;
			failed = failed_;
		}
		if (stopping && !draining_) {
			if (failed)
				break;
			start_draining();
		}
		expire();
		pulse();
		if (draining_ && (!reading_.head || now_ >= drain_until_))
			break;
	}
	// Stopped: what is still held is closed; requests already handed over
	// are still served.  A connection given back from now on is closed by
	// its worker.
	{
		std::lock_guard lock(mutex_);
		stopped_ = true;
	}
	take_returns();
	for (auto &c : table_)
		if (c && c->state != Conn::State::busy)
			close_conn(*c);
	ready_cv_.notify_all();
}

// Shutdown: no new connection, no new request on a kept-alive one; a
// request already arriving gets drain_time to be whole and is served.
void Gate::start_draining()
{
	draining_ = true;
	drain_until_ = now_ + drain_time;
	if (!accept_paused_)
		epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, listen_fd_, nullptr);
	accept_paused_ = false;
	while (idle_.head)
		close_conn(*idle_.head);
	for (Conn *c = reading_.head; c;) {
		Conn *next = c->next;
		int queued = 0;
		if (ioctl(c->fd, FIONREAD, &queued) != 0 || queued == 0)
			close_conn(*c);
		c = next;
	}
}

void Gate::stop()
{
	{
		std::lock_guard lock(mutex_);
		stopping_ = true;
	}
	const std::uint64_t one = 1;
	[[maybe_unused]] ssize_t r = write(wake_fd_, &one, sizeof one);
	ready_cv_.notify_all();
}

bool Gate::failed() const
{
	std::lock_guard lock(mutex_);
	return failed_;
}

std::optional<Gate::Ready> Gate::take()
{
	std::unique_lock lock(mutex_);
	ready_cv_.wait(lock, [this] { return ready_head_ < ready_.size() || stopped_; });
	if (ready_head_ == ready_.size())
		return std::nullopt;
	const Ready r = ready_[ready_head_++];
	++lent_;
	if (ready_head_ == ready_.size()) {
		ready_.clear();
		ready_head_ = 0;
	}
	return r;
}

void Gate::done(const Ready &ready, bool keep)
{
	const int fd = ready.fd;
	Back how = Back::idle;
	if (!keep) {
		// A whole request with nothing unread: closing sends no reset
		// that could cost the web server the answer, so the worker closes
		// at once.  A body may still be on its way even when nothing is
		// unread now (a web server writes the empty STDIN record apart):
		// then, and whenever bytes are unread, the gate lingers, with no
		// worker waiting on it.
		int queued = 0;
		how = ready.complete && ioctl(fd, FIONREAD, &queued) == 0 && queued == 0 ? Back::forget
		                                                                         : Back::linger;
	}
	std::unique_lock lock(mutex_);
	--lent_;
	if (stopped_) {
		lock.unlock();
		close(fd);
		return;
	}
	returned_.push_back(Returned{fd, how});
	lock.unlock();
	if (how == Back::forget) {
		// Said before the close, so that the gate learns it before it can
		// accept a new connection on the same number.  No wake-up needed.
		close(fd);
		return;
	}
	const std::uint64_t one = 1;
	[[maybe_unused]] ssize_t r = write(wake_fd_, &one, sizeof one);
}

Gate::Stats Gate::stats() const
{
	Stats st;
	st.open = count_.load(std::memory_order_relaxed);
	{
		std::lock_guard lock(mutex_);
		st.in_workers = lent_;
		st.queued = ready_.size() - ready_head_;
	}
	st.refused_peer = counted_.refused_peer.get();
	st.refused_rule = counted_.refused_rule.get();
	st.timed_out = counted_.timed_out.get();
	st.evicted = counted_.evicted.get();
	st.over_capacity = counted_.over_capacity.get();
	return st;
}

} // namespace mxd
