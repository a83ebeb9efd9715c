#include "mxdelegate/server.hpp"

#include "core/log.hpp"
#include "mxdelegate/listen.hpp"

#include <fcgiapp.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace mxd {

// SO_RCVTIMEO bounds one read, not a request: a peer that sends a byte
// within each timeout, or goes on sending after its answer (libfcgi drains a
// connection before it closes it, waiting 2 s after each chunk), would hold
// a worker for ever.  So each worker accepts its connections itself and
// lends the watchdog a duplicate of the socket; a request not read,
// answered and closed within read_timeout has its socket shut down, which
// ends whatever read, write or drain libfcgi is blocked in.  The duplicate
// is closed by the worker alone, under the slot's lock, so the watchdog
// never shuts down a descriptor number that was reused.
struct Server::Slot {
	std::mutex mutex;
	int fd = -1; // the worker's duplicate of its connection, or -1
	bool armed = false;
	std::chrono::steady_clock::time_point deadline;

	void lend(int dup)
	{
		std::lock_guard lock(mutex);
		fd = dup;
		armed = false;
	}

	void take_back()
	{
		std::lock_guard lock(mutex);
		if (fd >= 0)
			close(fd);
		fd = -1;
		armed = false;
	}

	void arm(std::chrono::seconds timeout)
	{
		if (timeout.count() == 0)
			return;
		std::lock_guard lock(mutex);
		armed = true;
		deadline = std::chrono::steady_clock::now() + timeout;
	}
};

namespace {

std::vector<std::uint32_t> read_web_server_addrs()
{
	std::vector<std::uint32_t> addrs;
	const char *list = std::getenv("FCGI_WEB_SERVER_ADDRS");
	if (list == nullptr)
		return addrs;
	std::string all(list);
	for (std::size_t start = 0; start <= all.size();) {
		std::size_t comma = all.find(',', start);
		if (comma == std::string::npos)
			comma = all.size();
		const std::string one = all.substr(start, comma - start);
		if (const in_addr_t a = inet_addr(one.c_str()); a != INADDR_NONE)
			addrs.push_back(a);
		start = comma + 1;
	}
	return addrs;
}

// What libfcgi's own accept did to a connection: TCP_NODELAY on TCP, so
// that the answer's records are not held back by Nagle, and the
// FCGI_WEB_SERVER_ADDRS check of IPv4 peers.  False: close it.
bool from_web_server(int fd, const sockaddr_storage &peer, const std::vector<std::uint32_t> &addrs)
{
	if (peer.ss_family != AF_INET && peer.ss_family != AF_INET6)
		return true;
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (peer.ss_family != AF_INET || addrs.empty())
		return true;
	sockaddr_in in;
	std::memcpy(&in, &peer, sizeof in);
	return std::find(addrs.begin(), addrs.end(), in.sin_addr.s_addr) != addrs.end();
}

struct FileStamp {
	dev_t dev = 0;
	ino_t ino = 0;
	off_t size = -1;
	timespec mtime{};
	bool operator==(const FileStamp &o) const
	{
		return dev == o.dev && ino == o.ino && size == o.size && mtime.tv_sec == o.mtime.tv_sec &&
		       mtime.tv_nsec == o.mtime.tv_nsec;
	}
};

FileStamp stamp(const std::string &path)
{
	FileStamp s;
	struct stat st;
	if (stat(path.c_str(), &st) == 0) {
		s.dev = st.st_dev;
		s.ino = st.st_ino;
		s.size = st.st_size;
		s.mtime = st.st_mtim;
	}
	return s;
}

} // namespace

Server::Server(std::string config_path, const Config &config, int listen_fd,
               std::shared_ptr<Responder> first)
	: config_path_(std::move(config_path)), listen_fd_(listen_fd),
	  request_timeout_(config.read_timeout_s)
{
	install(first ? std::move(first) : std::make_shared<Responder>(config));
	if (config.read_timeout_s > 0)
		listen::set_read_timeout(listen_fd_, config.read_timeout_s);
	// Every worker polls the socket; those that lose the race for a
	// connection must get EAGAIN from accept(), not block in it.
	int fl = fcntl(listen_fd_, F_GETFL);
	if (fl < 0 || fcntl(listen_fd_, F_SETFL, fl | O_NONBLOCK) < 0)
		throw std::runtime_error(std::string("listening socket: ") + std::strerror(errno));
	if (pipe2(wake_pipe_, O_CLOEXEC) != 0)
		throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
	web_server_addrs_ = read_web_server_addrs();
	no_listen_fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (no_listen_fd_ < 0)
		throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
}

// Only after run() returned, or when the constructor threw: no thread uses
// the descriptors any more.
Server::~Server()
{
	for (int fd : {wake_pipe_[0], wake_pipe_[1], no_listen_fd_})
		if (fd >= 0)
			close(fd);
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
		auto r = Responder::checked(c, in_service().get());
		const Config &old = in_service()->config();
		if (c.threads != old.threads || c.listen != old.listen || c.read_timeout_s != old.read_timeout_s)
			log::warning("main", "threads, listen and read_timeout change at the next restart");
		install(std::move(r));
		log::info("main", std::string("configuration reloaded (") + why + ")");
	} catch (const std::exception &e) {
		log::lines(log::Level::error, "main", std::string("reload (") + why +
		           ") refused, the previous configuration stays in service: ", e.what());
	}
}

// False when the worker should leave.
bool Server::wait_for_connection()
{
	pollfd p[2] = {{listen_fd_, POLLIN, 0}, {wake_pipe_[0], POLLIN, 0}};
	for (;;) {
		if (stopping_.load(std::memory_order_acquire))
			return false;
		int n = poll(p, 2, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || p[1].revents)
			return false;
		if (p[0].revents & (POLLERR | POLLNVAL)) {
			log::error("worker", "the listening socket failed");
			stopping_ = true;
			return false;
		}
		return true;
	}
}

// A connection of our own for FCGX_Accept_r, or -1 (none ready, or an error
// that passes).  Clears `ok` when the listening socket is unusable.
int Server::accept_connection(bool &ok)
{
	sockaddr_storage peer{};
	socklen_t len = sizeof peer;
	int fd = accept4(listen_fd_, reinterpret_cast<sockaddr *>(&peer), &len, SOCK_CLOEXEC);
	if (fd >= 0) {
		if (from_web_server(fd, peer, web_server_addrs_))
			return fd;
		close(fd);
		return -1;
	}
	// EAGAIN: another worker took the connection (the listening socket is
	// non-blocking); the others: the peer left, or a stray signal.
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == ECONNABORTED)
		return -1;
	log::error("worker", std::string("accept failed: ") + std::strerror(errno));
	if (errno == EBADF || errno == ENOTSOCK || errno == EINVAL) {
		ok = false;
		return -1;
	}
	// EMFILE and the like pass; do not spin while they last.
	std::this_thread::sleep_for(std::chrono::milliseconds(100));
	return -1;
}

void Server::worker(Slot &slot)
{
	FCGX_Request req;
	// FCGI_FAIL_ACCEPT_ON_INTR: past the shutdown grace period, SIGUSR1 gets
	// a worker out of a read on a kept-alive connection.
	if (FCGX_InitRequest(&req, no_listen_fd_, FCGI_FAIL_ACCEPT_ON_INTR) != 0) {
		log::error("worker", "FCGX_InitRequest failed");
		return;
	}
	sigset_t usr1;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);

	std::shared_ptr<Responder> responder;
	std::uint64_t seen = ~std::uint64_t{0};
	Reply reply;
	for (;;) {
		// A kept-alive connection (nginx fastcgi_keep_conn) is read again
		// by FCGX_Accept_r itself; only a new one is waited for here.
		if (req.ipcFd < 0) {
			slot.take_back();
			if (!wait_for_connection())
				break;
			bool ok = true;
			const int fd = accept_connection(ok);
			if (!ok) {
				stopping_ = true;
				break;
			}
			if (fd < 0)
				continue;
			const int dup = fcntl(fd, F_DUPFD_CLOEXEC, 0);
			if (dup < 0) {
				log::error("worker", std::string("dup failed: ") + std::strerror(errno));
				close(fd);
				std::this_thread::sleep_for(std::chrono::milliseconds(100));
				continue;
			}
			slot.lend(dup);
			req.ipcFd = fd;
			// FCGX_Accept_r first finishes "the previous request", and
			// closes its connection unless that one was kept alive.
			req.keepConnection = 1;
		}
		slot.arm(request_timeout_);
		pthread_sigmask(SIG_UNBLOCK, &usr1, nullptr);
		int rc = FCGX_Accept_r(&req);
		// While a request is served, SIGUSR1 stays blocked: libfcgi takes an
		// interrupted write for a failed one and would drop the answer.
		pthread_sigmask(SIG_BLOCK, &usr1, nullptr);
		if (rc < 0) {
			// libfcgi closed the connection (no BEGIN_REQUEST, an unknown
			// role, a read error, the deadline), then could not accept.
			if (stopping_.load(std::memory_order_acquire))
				break;
			continue;
		}
		if (FCGX_GetError(req.in) != 0) {
			// The parameters were cut short (peer gone, a read timeout, the
			// deadline): libfcgi still returns the request.  Answer nothing,
			// and close without libfcgi's drain, which a trickling peer
			// would prolong: there is no answer that a reset could lose.
			FCGX_Detach(&req);
			FCGX_Free(&req, 1);
			continue;
		}
		if (std::uint64_t v = version_.load(std::memory_order_acquire); v != seen) {
			responder = in_service();
			seen = v;
		}
		Request request = parse_request(req.envp);
		responder->answer(request, reply);
		FCGX_PutStr(reply.bytes.data(), static_cast<int>(reply.bytes.size()), req.out);
		FCGX_Finish_r(&req);
		reply.hold.reset();
		if (stopping_.load(std::memory_order_acquire))
			break;
	}
	FCGX_Free(&req, 1);
	slot.take_back();
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
	slots_ = std::make_unique<Slot[]>(threads);
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
	FileStamp seen = stamp(config_path_);
	while (!stopping_.load()) {
		// Read each time: a reload may have changed it.
		const unsigned interval = in_service()->config().check_interval_ms;
		timespec ts{static_cast<time_t>(interval / 1000),
		            static_cast<long>(interval % 1000) * 1000000L};
		int sig = sigtimedwait(&wait, nullptr, &ts);
		if (sig == SIGTERM || sig == SIGINT) {
			log::info("main", sig == SIGTERM ? "SIGTERM: finishing requests in flight"
			                                 : "SIGINT: finishing requests in flight");
			break;
		}
		if (sig == SIGHUP) {
			seen = stamp(config_path_);
			reload("SIGHUP");
			continue;
		}
		if (FileStamp now = stamp(config_path_); !(now == seen)) {
			seen = now;
			reload("file changed");
			continue;
		}
		in_service()->refresh();
	}

	stop(workers);
	if (guard.joinable()) {
		{
			std::lock_guard lock(watchdog_mutex_);
			watchdog_wake_.notify_all();
		}
		guard.join();
	}
}

// Requests in flight finish; a worker still waiting on a kept-alive
// connection after the grace period is interrupted.  A worker may block
// again just after a signal, so it is sent until all have left.
void Server::stop(std::vector<std::thread> &workers)
{
	stopping_ = true;
	close(wake_pipe_[1]);
	wake_pipe_[1] = -1;
	std::vector<pthread_t> ids;
	for (auto &w : workers)
		ids.push_back(w.native_handle());
	std::atomic<bool> joined{false};
	std::thread joiner([&] {
		for (auto &w : workers)
			w.join();
		joined = true;
	});
	const auto grace = std::chrono::steady_clock::now() + std::chrono::seconds(2);
	while (!joined.load()) {
		std::this_thread::sleep_for(std::chrono::milliseconds(20));
		if (std::chrono::steady_clock::now() < grace)
			continue;
		FCGX_ShutdownPending();
		for (pthread_t id : ids)
			pthread_kill(id, SIGUSR1);
	}
	joiner.join();
}

} // namespace mxd
