#include "mxdelegate/status_http.hpp"

#include "core/log.hpp"
#include "core/response.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <vector>

namespace mxd::status_http {

Head parse_head(std::string_view bytes, std::size_t limit)
{
	Head h;
	std::size_t end = bytes.find("\r\n\r\n");
	std::size_t lf_end = bytes.find("\n\n");
	if (lf_end != std::string_view::npos && (end == std::string_view::npos || lf_end < end))
		end = lf_end;
	if (end == std::string_view::npos) {
		if (bytes.size() > limit) {
			h.kind = Head::Kind::refuse;
			h.status = 431;
		}
		return h;
	}
	if (end > limit) {
		h.kind = Head::Kind::refuse;
		h.status = 431;
		return h;
	}
	h.kind = Head::Kind::refuse;
	std::string_view line = bytes.substr(0, bytes.find('\n'));
	if (line.ends_with('\r'))
		line.remove_suffix(1);
	const std::size_t sp1 = line.find(' ');
	const std::size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
	if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
		h.status = 400;
		return h;
	}
	const std::string_view method = line.substr(0, sp1);
	std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
	const std::string_view version = line.substr(sp2 + 1);
	if (version != "HTTP/1.1" && version != "HTTP/1.0") {
		h.status = version.starts_with("HTTP/") ? 505 : 400;
		return h;
	}
	if (const std::size_t q = target.find('?'); q != std::string_view::npos)
		target = target.substr(0, q);
	if (target == "/metrics")
		h.page = Page::metrics;
	else if (target == "/health")
		h.page = Page::health;
	else {
		h.status = 404;
		return h;
	}
	if (method == "HEAD")
		h.head = true;
	else if (method != "GET") {
		h.status = 405;
		return h;
	}
	h.kind = Head::Kind::answer;
	return h;
}

std::string to_http(std::string_view cgi)
{
	constexpr std::string_view prefix = "Status: ";
	if (!cgi.starts_with(prefix))
		return refusal(500);
	const std::size_t eol = cgi.find("\r\n");
	if (eol == std::string_view::npos)
		return refusal(500);
	std::string out = "HTTP/1.1 ";
	out += cgi.substr(prefix.size(), eol + 2 - prefix.size());
	out += "Connection: close\r\n";
	out += cgi.substr(eol + 2);
	return out;
}

std::string refusal(int status)
{
	std::string body = std::to_string(status) + " " + std::string(reason_phrase(status)) + "\n";
	std::string out = "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason_phrase(status)) +
	                  "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: " +
	                  std::to_string(body.size()) + "\r\n";
	if (status == 405)
		out += "Allow: GET, HEAD\r\n";
	out += "Connection: close\r\n\r\n" + body;
	return out;
}

struct Listener::Client {
	int fd = -1;
	std::chrono::steady_clock::time_point deadline;
	std::string in, out;
	std::size_t sent = 0;
	bool answering = false;
};

namespace {

using Clock = std::chrono::steady_clock;

void set_nonblocking(int fd)
{
	const int flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		throw std::runtime_error(std::string("[status] listen: fcntl: ") + std::strerror(errno));
}

} // namespace

Listener::Listener(int listen_fd, Answer answer, Settings settings)
	: listen_fd_(listen_fd), answer_(std::move(answer)), settings_(settings)
{
	set_nonblocking(listen_fd_);
	wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (wake_fd_ < 0)
		throw std::runtime_error(std::string("[status] listen: eventfd: ") + std::strerror(errno));
}

Listener::~Listener()
{
	if (wake_fd_ >= 0)
		close(wake_fd_);
	close(listen_fd_);
}

void Listener::stop()
{
	const std::uint64_t one = 1;
	[[maybe_unused]] ssize_t r = write(wake_fd_, &one, sizeof one);
}

void Listener::serve(Client &c)
{
	// Read what is there, then answer once the head is whole.
	while (!c.answering) {
		char buf[2048];
		const ssize_t n = recv(c.fd, buf, sizeof buf, MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
			c.deadline = Clock::time_point::min(); // gone: closed by the loop
			return;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		c.in.append(buf, static_cast<std::size_t>(n));
		const Head h = parse_head(c.in);
		if (h.kind == Head::Kind::need)
			continue;
		c.answering = true;
		if (h.kind == Head::Kind::refuse) {
			c.out = refusal(h.status);
		} else {
			try {
				c.out = to_http(answer_(h.page, h.head));
			} catch (const std::exception &e) {
				log::error("status", std::string("[status] listen: ") + e.what());
				c.out = refusal(500);
			}
		}
		c.in.clear();
	}
	while (c.answering && c.sent < c.out.size()) {
		const ssize_t n = send(c.fd, c.out.data() + c.sent, c.out.size() - c.sent,
		                       MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				c.deadline = Clock::time_point::min();
			return;
		}
		c.sent += static_cast<std::size_t>(n);
	}
}

void Listener::run()
{
	std::vector<Client> clients;
	std::vector<pollfd> fds;
	for (;;) {
		const auto now = Clock::now();
		// Done, gone or past the deadline: closed.
		std::erase_if(clients, [&](Client &c) {
			const bool finished = c.answering && c.sent == c.out.size();
			if (finished || now >= c.deadline) {
				if (finished)
					shutdown(c.fd, SHUT_WR);
				close(c.fd);
				return true;
			}
			return false;
		});
		fds.clear();
		fds.push_back({wake_fd_, POLLIN, 0});
		fds.push_back({listen_fd_, POLLIN, 0});
		auto next = Clock::time_point::max();
		for (const Client &c : clients) {
			fds.push_back({c.fd, static_cast<short>(c.answering ? POLLOUT : POLLIN), 0});
			next = std::min(next, c.deadline);
		}
		int timeout = -1;
		if (next != Clock::time_point::max())
			timeout = static_cast<int>(std::clamp<std::int64_t>(
				std::chrono::ceil<std::chrono::milliseconds>(next - now).count(), 0, 60000));
		const int n = poll(fds.data(), fds.size(), timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			log::error("status", std::string("[status] listen: poll: ") + std::strerror(errno));
			break;
		}
		if (fds[0].revents)
			break;
		for (std::size_t i = 0; i < clients.size(); ++i)
			if (fds[i + 2].revents)
				serve(clients[i]);
		if (fds[1].revents & POLLIN) {
			for (;;) {
				const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
				if (fd < 0)
					break;
				// Every place taken: the oldest goes, which is the one
				// that has sent least usefully for longest.
				if (clients.size() >= settings_.max_clients) {
					close(clients.front().fd);
					clients.erase(clients.begin());
				}
				Client c;
				c.fd = fd;
				c.deadline = Clock::now() + settings_.deadline;
				clients.push_back(std::move(c));
				serve(clients.back());
			}
		}
	}
	for (Client &c : clients)
		close(c.fd);
}

} // namespace mxd::status_http
