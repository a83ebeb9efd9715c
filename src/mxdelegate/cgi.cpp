#include "mxdelegate/cgi.hpp"

#include "core/log.hpp"
#include "mxdelegate/access_log.hpp"
#include "service/responder.hpp"

#include <poll.h>
#include <sysexits.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cerrno>
#include <cstdlib>
#include <memory>
#include <string_view>

namespace mxd::cgi {

namespace {

const char *env_param(const char *name, void *)
{
	return std::getenv(name);
}

bool write_all(int fd, std::string_view bytes)
{
	while (!bytes.empty()) {
		ssize_t n = write(fd, bytes.data(), bytes.size());
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		bytes.remove_prefix(static_cast<size_t>(n));
	}
	return true;
}

// mod_cgid hands the program its stdin and stdout as one unix socket, and
// closing a socket with unread data resets it: Apache then loses the end of
// the answer (a POST's 405 arrived only after its keep-alive timeout, the
// chunked body unterminated).  No answer needs the body, so up to 1 MiB of
// it is read and dropped before the answer is written, for read_timeout at
// most: a client that announces a body and sends it slowly (or never) must
// not hold the process.
void discard_body(unsigned timeout_s)
{
	const char *length = std::getenv("CONTENT_LENGTH");
	if (length == nullptr || *length < '0' || *length > '9')
		return;
	char *end = nullptr;
	unsigned long long left = std::strtoull(length, &end, 10);
	if (*end != '\0')
		return;
	left = std::min(left, 1ULL << 20);
	using Clock = std::chrono::steady_clock;
	const auto deadline = Clock::now() + std::chrono::seconds(timeout_s == 0 ? 5 : timeout_s);
	char buf[8192];
	while (left > 0) {
		const auto wait = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
		pollfd p{0, POLLIN, 0};
		if (wait <= 0 || poll(&p, 1, static_cast<int>(wait)) == 0)
			return;
		ssize_t n = read(0, buf, std::min<unsigned long long>(sizeof buf, left));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		left -= static_cast<unsigned long long>(n);
	}
}

} // namespace

int serve(const Config &config, const std::string &config_error)
{
	discard_body(config.read_timeout_s);
	if (!config_error.empty()) {
		log::lines(log::Level::error, "config", "", config_error);
		// A JSON answer that no remote server caches, rather than a bare
		// 500 for a script that printed nothing.
		Response resp = render::error(503, "M_UNAVAILABLE", "mxdelegate is misconfigured",
		                              render::Policy{});
		write_all(1, serialize(resp, true));
		return EX_CONFIG;
	}

	const auto start = std::chrono::steady_clock::now();
	Request req = parse_request(env_param, nullptr);
	Reply reply;
	// The reply may point into the responder's fixed answers: it lives
	// until the bytes are written.
	std::unique_ptr<Responder> responder;
	try {
		responder = std::make_unique<Responder>(config);
		responder->answer(req, reply);
	} catch (const std::exception &e) {
		// The backend cannot be opened: the web server still gets an answer
		// that no remote server caches.
		log::lines(log::Level::error, "backend", "", e.what());
		// The health path says why, as it does when a lookup fails.
		const std::string why = e.what();
		Response resp = is_health(config, req) ? health_response(config.backend_name, &why)
		                       : render::error(503, "M_UNAVAILABLE",
		                                       "The delegation store is unavailable; try again later",
		                                       config.http);
		reply.status = resp.status;
		reply.buffer = serialize(resp, req.method != Method::head);
		reply.bytes = reply.buffer;
	}
	// One write, as a web server reading a CGI program's output may take a
	// short first read for the whole head.
	const bool written = write_all(1, reply.wire());
	if (config.log_access) {
		const char *peer = std::getenv("REMOTE_ADDR");
		access_log::write(req, reply, peer ? peer : "", start);
	}
	return written ? 0 : EX_OSERR;
}

} // namespace mxd::cgi
