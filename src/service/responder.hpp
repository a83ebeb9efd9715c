// The responder: one configuration in service (its backend and directory),
// and the answer to a request.  Everything between the parameters a web
// server passes and the bytes written back, without the I/O.
#pragma once

#include "service/config.hpp"
#include "service/directory.hpp"
#include "core/log.hpp"
#include "core/request.hpp"

#include <atomic>
#include <cstdint>
#include <ctime>
#include <memory>
#include <string>
#include <string_view>

namespace mxd {

// The bytes to write for one request: `lead`, then `bytes`.  `lead` is an
// Answer's shared head (static storage) or empty; `bytes` points into
// `hold` or `buffer`, which the Reply keeps alive until it is written.
struct Reply {
	std::shared_ptr<const Answer> hold;
	std::string buffer;
	std::string_view lead;
	std::string_view bytes;

	std::size_t size() const { return lead.size() + bytes.size(); }
	// The two pieces in one string, for those that write once or read it.
	std::string wire() const
	{
		std::string out;
		out.reserve(size());
		out.append(lead).append(bytes);
		return out;
	}

	int status = 0;
	// Where the answer came from, for the access line: none (made from the
	// request alone, or a 503), the cache, the store, or the cache while
	// the store fails.
	enum class Cache { none, hit, miss, stale } cache = Cache::none;
};

// The answer on the [status] health path: 200 {"status":"ok",...} when
// the store answered the probe, else 503 {"status":"unavailable","reason"}.
// JSON, no-store, the CORS headers of every answer.  Also for CGI when the
// backend cannot even be opened, so that the reason reaches the monitor.
Response health_response(std::string_view backend_name, const std::string *failure,
                         std::uint64_t generation = 0);

// Whether the request names the [status] health path.
inline bool is_health(const Config &config, const Request &req)
{
	return !req.document && !config.health_path.empty() && req.path == config.health_path;
}

// Whether the request names the [status] path, the metrics.
inline bool is_metrics(const Config &config, const Request &req)
{
	return !req.document && !config.metrics_path.empty() && req.path == config.metrics_path;
}

class Responder {
public:
	// Whether the responder serves for long, as the FastCGI server does:
	// its directory renders an in-memory store's every record when it is
	// made, and reads the store's generation then as the baseline of
	// refresh() (Directory::Limits::preload and watch).
	enum class Preload { no, yes };

	// Loads the backend plugin and opens it; throws BackendError.  A store
	// that cannot be read yet is no failure here: at start, the responder
	// answers 503 until it can.
	explicit Responder(const Config &config, Preload preload = Preload::no);

	// What --check and a reload put in service: the backend opened as
	// above, then asked for one key, so that a store that cannot be opened
	// or read fails here (BackendError, the plugin's message) instead of
	// turning every answer into a 503 after the swap.  With the previous
	// responder of the same store (backend name, plugin_dir and [backend]
	// table alike), its answers are taken over (Directory::adopt).
	static std::shared_ptr<Responder> checked(const Config &config,
	                                          const Responder *previous = nullptr,
	                                          Preload preload = Preload::no);

	void answer(const Request &request, Reply &reply);

	// Drops cached answers when the backend's data changed, and renders a
	// preloaded store again (Directory::renew).  Logs a failure (once until
	// it recovers) instead of throwing.
	void refresh();

	Directory &directory() { return directory_; }
	const Config &config() const { return config_; }

	// The health answer and this process's counters (service/metrics): on
	// the [status] health and path paths through answer(), and as they are
	// for the status listener ([status] listen), which has paths of its own.
	void health(Reply &reply, bool head);
	void metrics(Reply &reply, bool head);

private:
	void fixed(Reply &reply, const Answer &answer, bool head) const;
	void unavailable(Reply &reply, std::string_view why, bool head);

	Config config_;
	Directory directory_;
	// Answers that depend on nothing but the configuration, made once.
	Answer preflight_, no_path_, bad_method_, bad_host_, ip_host_, bad_role_, no_target_;
	log::OncePerSecond backend_log_; // 503s and stale answers
	std::time_t loaded_ = std::time(nullptr); // for the metrics
	bool refresh_failing_ = false;
};

} // namespace mxd
