#include "probe/probe_engine.hpp"

#include "core/version.hpp"
#include "probe/probe_discovery.hpp"

#include <arpa/nameser.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <resolv.h>
#include <sys/poll.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <unordered_map>
#include <vector>

namespace mxd::probe {

namespace {

using Clock = std::chrono::steady_clock;

// The SRV records of a name, through glibc's resolver; empty for none or a
// failure (a homeserver then goes to the name itself on 8448 too).
std::vector<Srv> srv_lookup(const std::string &name)
{
	std::vector<Srv> out;
	unsigned char answer[4096];
	const int n = ::res_query(name.c_str(), ns_c_in, ns_t_srv, answer, sizeof answer);
	if (n <= 0)
		return out;
	ns_msg msg;
	if (::ns_initparse(answer, n, &msg) != 0)
		return out;
	for (int i = 0; i < ns_msg_count(msg, ns_s_an); i++) {
		ns_rr rr;
		if (::ns_parserr(&msg, ns_s_an, i, &rr) != 0 || ns_rr_type(rr) != ns_t_srv || ns_rr_rdlen(rr) < 7)
			continue;
		const unsigned char *d = ns_rr_rdata(rr);
		Srv s;
		s.priority = static_cast<std::uint16_t>(ns_get16(d));
		s.weight = static_cast<std::uint16_t>(ns_get16(d + 2));
		s.port = static_cast<std::uint16_t>(ns_get16(d + 4));
		char target[NS_MAXDNAME];
		if (::ns_name_uncompress(ns_msg_base(msg), ns_msg_end(msg), d + 6, target, sizeof target) < 0)
			continue;
		s.target = target;
		if (s.target.ends_with('.') && s.target.size() > 1)
			s.target.pop_back();
		out.push_back(s);
	}
	return out;
}

std::string host_of(const std::string &url)
{
	const std::size_t start = url.find("://");
	if (start == std::string::npos)
		return url;
	const std::size_t end = url.find('/', start + 3);
	return url.substr(start + 3, end == std::string::npos ? std::string::npos : end - start - 3);
}

Transport transport_of(CURLcode c)
{
	switch (c) {
	case CURLE_COULDNT_RESOLVE_HOST: return Transport::dns;
	case CURLE_COULDNT_CONNECT: return Transport::connect;
	case CURLE_OPERATION_TIMEDOUT: return Transport::timeout;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_ENGINE_INITFAILED:
	case CURLE_SSL_SHUTDOWN_FAILED:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_USE_SSL_FAILED: return Transport::tls;
	default: return Transport::other;
	}
}

std::string trim(std::string_view s)
{
	while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
		s.remove_prefix(1);
	while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
		s.remove_suffix(1);
	return std::string(s);
}

bool header_is(std::string_view line, std::string_view name)
{
	if (line.size() <= name.size() || line[name.size()] != ':')
		return false;
	for (std::size_t i = 0; i < name.size(); i++)
		if (std::tolower(static_cast<unsigned char>(line[i])) != name[i])
			return false;
	return true;
}

struct SList {
	curl_slist *list = nullptr;
	SList() = default;
	SList(const SList &) = delete;
	SList &operator=(const SList &) = delete;
	~SList() { curl_slist_free_all(list); }
	void add(const std::string &s)
	{
		curl_slist *n = curl_slist_append(list, s.c_str());
		if (!n)
			throw std::bad_alloc();
		list = n;
	}
};

} // namespace

struct Engine::Impl {
	enum class Stage { wellknown, srv, federation, client };

	struct Job {
		Task task;
		Stage stage = Stage::wellknown;
		std::vector<Hop> hops;   // the chain being fetched
		Outcome outcome;
		std::string conclusion, conclusion_why;
		FedTarget fed;
		std::string target_why;  // how the federation target was found
		std::string connect_to;  // an SRV target, for its requests
	};

	// One request: a hop of a job's chain.
	struct Request {
		Job *job = nullptr;
		CURL *easy = nullptr;
		Hop hop;
		bool capped = false;
		char error[CURL_ERROR_SIZE] = {};
		SList headers, connect;
		std::string host;
	};

	const Options &o;
	CURLM *multi = nullptr;
	CURLSH *share = nullptr;
	SList resolve, connect_to;
	std::string user_agent;
	std::deque<std::pair<Job *, std::string>> waiting; // requests not yet started
	std::unordered_map<std::string, int> per_host;
	std::size_t in_flight = 0; // jobs
	Clock::time_point next_start = Clock::now();
	Done done;

	// SRV lookups: res_query blocks, so a few threads do them.
	std::mutex m;
	std::condition_variable cv;
	std::deque<Job *> srv_asked;
	std::deque<std::pair<Job *, std::vector<Srv>>> srv_answered;
	bool stopping = false;
	std::vector<std::thread> resolvers;

	explicit Impl(const Options &opts) : o(opts)
	{
		multi = curl_multi_init();
		share = curl_share_init();
		if (!multi || !share)
			throw std::runtime_error("libcurl: cannot make a multi handle");
		// One thread: the share needs no locks.  DNS answers and TLS
		// sessions kept across the documents of a domain.
		curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
		curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
		curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, static_cast<long>(o.concurrency));
		for (const std::string &r : o.resolve)
			resolve.add(r);
		for (const std::string &c : o.connect_to)
			connect_to.add(c);
		user_agent = o.user_agent.empty() ? std::string("mxdelegate-probe/") + version : o.user_agent;
	}

	~Impl()
	{
		{
			std::lock_guard lock(m);
			stopping = true;
		}
		cv.notify_all();
		for (std::thread &t : resolvers)
			t.join();
		if (multi)
			curl_multi_cleanup(multi);
		if (share)
			curl_share_cleanup(share);
	}

	void resolver_loop()
	{
		for (;;) {
			Job *job;
			{
				std::unique_lock lock(m);
				cv.wait(lock, [&] { return stopping || !srv_asked.empty(); });
				if (stopping)
					return;
				job = srv_asked.front();
				srv_asked.pop_front();
			}
			std::vector<Srv> r = srv_lookup("_matrix-fed._tcp." + job->fed.host);
			{
				std::lock_guard lock(m);
				srv_answered.emplace_back(job, std::move(r));
			}
			curl_multi_wakeup(multi);
		}
	}

	static std::size_t on_body(char *data, std::size_t size, std::size_t n, void *p)
	{
		auto *r = static_cast<Request *>(p);
		const std::size_t len = size * n;
		if (r->hop.body.size() + len > body_cap) {
			r->capped = true;
			return 0; // ends the transfer: CURLE_WRITE_ERROR
		}
		r->hop.body.append(data, len);
		return len;
	}

	static std::size_t on_header(char *data, std::size_t size, std::size_t n, void *p)
	{
		auto *r = static_cast<Request *>(p);
		const std::string_view line(data, size * n);
		if (line.starts_with("HTTP/")) {
			// A new answer (after a 100 Continue): its headers alone count.
			r->hop.allow_origin.reset();
			r->hop.content_type.clear();
		} else if (header_is(line, "access-control-allow-origin")) {
			r->hop.allow_origin = trim(line.substr(line.find(':') + 1));
		} else if (header_is(line, "content-type")) {
			r->hop.content_type = trim(line.substr(line.find(':') + 1));
		}
		return size * n;
	}

	void start(Job *job, const std::string &url)
	{
		auto *r = new Request;
		r->job = job;
		r->hop.url = url;
		r->host = host_of(url);
		CURL *e = curl_easy_init();
		if (!e) {
			delete r;
			throw std::bad_alloc();
		}
		r->easy = e;
		per_host[r->host]++;
		const bool browser = job->stage != Stage::federation;
		if (browser)
			r->headers.add("Origin: " + o.origin);
		for (curl_slist *s = connect_to.list; s; s = s->next)
			r->connect.add(s->data);
		if (!job->connect_to.empty() && job->stage == Stage::federation)
			r->connect.add(job->connect_to);
		curl_easy_setopt(e, CURLOPT_URL, url.c_str());
		curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
		curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
		curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
		curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, o.timeout_ms);
		curl_easy_setopt(e, CURLOPT_USERAGENT, user_agent.c_str());
		curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers.list);
		curl_easy_setopt(e, CURLOPT_RESOLVE, resolve.list);
		curl_easy_setopt(e, CURLOPT_CONNECT_TO, r->connect.list);
		curl_easy_setopt(e, CURLOPT_SHARE, share);
		if (!o.cacert.empty())
			curl_easy_setopt(e, CURLOPT_CAINFO, o.cacert.c_str());
		if (o.insecure) {
			curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
			curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
		}
		curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(body_cap));
		curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &on_body);
		curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
		curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &on_header);
		curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
		curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->error);
		curl_easy_setopt(e, CURLOPT_PRIVATE, r);
		if (curl_multi_add_handle(multi, e) != CURLM_OK) {
			curl_easy_cleanup(e);
			per_host[r->host]--;
			delete r;
			throw std::runtime_error("libcurl: cannot add a transfer");
		}
	}

	// Starts the waiting requests that the rate and the per-host limit
	// allow, oldest first; says when the rate allows the next.
	void dispatch()
	{
		const auto gap = o.rate > 0 ? std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1.0 / o.rate))
		                            : Clock::duration::zero();
		for (auto it = waiting.begin(); it != waiting.end();) {
			if (o.rate > 0 && Clock::now() < next_start)
				return;
			const std::string host = host_of(it->second);
			const auto h = per_host.find(host);
			if (h != per_host.end() && h->second >= o.per_host) {
				++it;
				continue;
			}
			Job *job = it->first;
			const std::string url = it->second;
			it = waiting.erase(it);
			if (o.rate > 0)
				next_start = std::max(next_start, Clock::now() - gap) + gap;
			start(job, url);
		}
	}

	void request(Job *job, std::string url)
	{
		waiting.emplace_back(job, std::move(url));
	}

	void finish(Job *job)
	{
		Row row;
		row.domain = job->task.domain;
		row.document = job->task.document;
		row.url = "https://" + job->task.domain + "/.well-known/matrix/" + job->task.document;
		row.code = job->outcome.code;
		row.detail = job->outcome.detail;
		row.conclusion = job->conclusion;
		row.conclusion_why = job->conclusion_why;
		delete job;
		in_flight--;
		done(row);
	}

	void federation_request(Job *job)
	{
		job->stage = Stage::federation;
		job->hops.clear();
		request(job, job->fed.version_url());
	}

	// A chain is over: the next stage, or the row.
	void chain_done(Job *job)
	{
		switch (job->stage) {
		case Stage::wellknown:
			job->outcome = classify(job->task.want, job->hops, o.origin);
			if (o.federation && job->task.document == "client") {
				const Conclusion c = client_wellknown(job->hops, o.origin);
				if (!c.next.empty()) {
					job->stage = Stage::client;
					job->hops.clear();
					request(job, c.next);
					return;
				}
				job->conclusion = verdict_name(c.verdict);
				job->conclusion_why = c.why;
			} else if (o.federation && job->task.document == "server") {
				job->fed = federation_target(job->task.domain, job->hops, job->target_why);
				if (job->fed.ip_literal || job->fed.port_given) {
					federation_request(job);
				} else {
					job->stage = Stage::srv;
					{
						std::lock_guard lock(m);
						srv_asked.push_back(job);
					}
					if (resolvers.empty())
						for (int i = 0; i < 4; i++)
							resolvers.emplace_back([this] { resolver_loop(); });
					cv.notify_one();
				}
				return;
			}
			break;
		case Stage::client: {
			const Conclusion c = client_versions(job->hops, o.origin);
			job->conclusion = verdict_name(c.verdict);
			job->conclusion_why = c.why;
			break;
		}
		case Stage::federation: {
			const Conclusion c = federation_version(job->hops);
			job->conclusion = verdict_name(c.verdict, true);
			job->conclusion_why = job->target_why + (c.why.empty() ? "" : ": " + c.why);
			break;
		}
		case Stage::srv: break;
		}
		finish(job);
	}

	void srv_done(Job *job, const std::vector<Srv> &records)
	{
		if (const auto s = pick_srv(records)) {
			job->fed.port = s->port;
			job->connect_to = job->fed.host + ":" + std::to_string(s->port) + ":" + s->target + ":" +
			                  std::to_string(s->port);
			job->target_why += ", SRV " + s->target + ":" + std::to_string(s->port);
		}
		federation_request(job);
	}

	void transfer_done(CURL *e, CURLcode result)
	{
		Request *r = nullptr;
		curl_easy_getinfo(e, CURLINFO_PRIVATE, &r);
		curl_multi_remove_handle(multi, e);
		if (--per_host[r->host] == 0)
			per_host.erase(r->host);
		Hop hop = std::move(r->hop);
		if (result == CURLE_OK) {
			curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &hop.status);
			char *location = nullptr;
			if (is_redirect(hop.status) && curl_easy_getinfo(e, CURLINFO_REDIRECT_URL, &location) == CURLE_OK &&
			    location)
				hop.location = location;
		} else if (r->capped || result == CURLE_FILESIZE_EXCEEDED) {
			hop.error = Transport::too_large;
			hop.error_text = "the body is over " + std::to_string(body_cap) + " bytes";
		} else {
			hop.error = transport_of(result);
			hop.error_text = r->error[0] ? r->error : curl_easy_strerror(result);
		}
		Job *job = r->job;
		curl_easy_cleanup(e);
		delete r;
		job->hops.push_back(std::move(hop));
		if (const auto next = next_hop(job->hops))
			request(job, *next);
		else
			chain_done(job);
	}

	void run(const Next &next, int input_fd, const Done &on_done, const Progress &progress)
	{
		done = on_done;
		bool end = false;
		auto last_progress = Clock::now();
		for (;;) {
			bool starved = false;
			while (!end && in_flight < static_cast<std::size_t>(o.concurrency)) {
				std::optional<Task> t = next(end);
				if (!t) {
					starved = !end;
					break;
				}
				auto *job = new Job;
				job->task = std::move(*t);
				in_flight++;
				request(job, "https://" + job->task.domain + "/.well-known/matrix/" + job->task.document);
			}
			dispatch();
			if (end && in_flight == 0)
				break;
			int running = 0;
			curl_multi_perform(multi, &running);
			int left = 0;
			while (CURLMsg *msg = curl_multi_info_read(multi, &left))
				if (msg->msg == CURLMSG_DONE)
					transfer_done(msg->easy_handle, msg->data.result);
			std::deque<std::pair<Job *, std::vector<Srv>>> answered;
			{
				std::lock_guard lock(m);
				answered.swap(srv_answered);
			}
			for (auto &[job, records] : answered)
				srv_done(job, records);
			if (end && in_flight == 0)
				break;
			if (progress && Clock::now() - last_progress > std::chrono::milliseconds(250)) {
				last_progress = Clock::now();
				progress(in_flight);
			}
			int wait_ms = 200;
			if (o.rate > 0 && !waiting.empty()) {
				const auto until = std::chrono::duration_cast<std::chrono::milliseconds>(next_start - Clock::now()).count();
				wait_ms = static_cast<int>(std::clamp<long long>(until, 0, 200));
			}
			// Requests made above (a redirect, a next stage) start now: curl
			// then has a transfer due at once and the poll returns at once.
			dispatch();
			curl_waitfd fd{};
			fd.fd = input_fd;
			fd.events = CURL_WAIT_POLLIN;
			const bool watch = starved && input_fd >= 0;
			curl_multi_poll(multi, watch ? &fd : nullptr, watch ? 1 : 0, wait_ms, nullptr);
		}
		if (progress)
			progress(0);
	}
};

Engine::Engine(const Options &o) : impl_(std::make_unique<Impl>(o)) {}
Engine::~Engine() = default;

void Engine::run(const Next &next, int input_fd, const Done &done, const Progress &progress)
{
	impl_->run(next, input_fd, done, progress);
}

} // namespace mxd::probe
