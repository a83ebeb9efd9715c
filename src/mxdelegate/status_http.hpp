// [status] listen: a small HTTP/1.1 listener of the responder's own, so that
// Prometheus or a load balancer reads /metrics and /health without the web
// server.  One thread, a handful of connections, each bounded: its request
// head (request line and headers) to head_limit bytes, the whole exchange
// to a deadline from its accept, one request and Connection: close.  When
// every place is taken, the oldest connection is dropped for the new one,
// so that clients that send slowly or nothing (slowloris) cannot keep a
// scrape out.  Long-running modes only: CGI has no process to ask.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace mxd::status_http {

enum class Page { metrics, health };

// What the bytes read so far say.
struct Head {
	enum class Kind { need, answer, refuse } kind = Kind::need;
	Page page = Page::metrics;
	bool head = false; // HEAD: headers only
	int status = 0;    // refuse: 400, 404, 405, 431 or 505
};

inline constexpr std::size_t head_limit = 8192;

// The request head in `bytes` (what has arrived), pure: need more until
// the blank line ends it, past `limit` bytes 431, then the request line
// read: GET or HEAD, /metrics or /health (a query is ignored), HTTP/1.0
// or 1.1.
Head parse_head(std::string_view bytes, std::size_t limit = head_limit);

// The responder's CGI-form answer ("Status: 200 OK\r\n...") as an
// HTTP/1.1 answer that closes the connection.
std::string to_http(std::string_view cgi);

// A refusal: the status, text/plain, Connection: close.
std::string refusal(int status);

struct Settings {
	std::size_t max_clients = 16;
	std::chrono::milliseconds deadline{2000}; // from accept to the last byte written
};

class Listener {
public:
	// Answers a page in CGI form; called on the listener's thread.
	using Answer = std::function<std::string(Page, bool head)>;

	// Takes a listening TCP socket (made non-blocking here).  Throws
	// std::runtime_error naming what failed.
	Listener(int listen_fd, Answer answer, Settings settings = {});
	~Listener();
	Listener(const Listener &) = delete;
	Listener &operator=(const Listener &) = delete;

	// The thread's loop; returns after stop().
	void run();
	void stop();

private:
	struct Client;
	void accept_all();
	void serve(Client &c);

	const int listen_fd_;
	const Answer answer_;
	const Settings settings_;
	int wake_fd_ = -1;
};

} // namespace mxd::status_http
