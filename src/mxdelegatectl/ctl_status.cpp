#include "mxdelegatectl/ctl_status.hpp"

#include "service/follow_status.hpp"
#include "service/listen_spec.hpp"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>

namespace mxd::ctl_status {

namespace {

bool name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
	       c == ':';
}

double number(std::string_view s, std::size_t line)
{
	if (s == "+Inf")
		return INFINITY;
	if (s == "-Inf")
		return -INFINITY;
	if (s == "NaN")
		return NAN;
	double v = 0;
	const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
	if (r.ec != std::errc() || r.ptr != s.data() + s.size())
		throw Error("line " + std::to_string(line) + ": \"" + std::string(s) + "\" is no number");
	return v;
}

} // namespace

std::vector<Sample> parse(std::string_view text)
{
	std::vector<Sample> out;
	std::size_t line_no = 0;
	while (!text.empty()) {
		++line_no;
		const std::size_t nl = text.find('\n');
		std::string_view line = text.substr(0, nl);
		text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
		if (line.empty() || line.starts_with('#'))
			continue;
		Sample s;
		std::size_t i = 0;
		while (i < line.size() && name_char(line[i]))
			++i;
		s.name = line.substr(0, i);
		auto bad = [&](const char *why) {
			return Error("line " + std::to_string(line_no) + ": " + why);
		};
		if (s.name.empty())
			throw bad("no metric name");
		if (i < line.size() && line[i] == '{') {
			++i;
			while (i < line.size() && line[i] != '}') {
				const std::size_t eq = line.find('=', i);
				if (eq == std::string_view::npos || eq + 1 >= line.size() || line[eq + 1] != '"')
					throw bad("a label without =\"value\"");
				std::string name(line.substr(i, eq - i));
				std::string value;
				std::size_t j = eq + 2;
				for (; j < line.size() && line[j] != '"'; ++j) {
					if (line[j] == '\\' && j + 1 < line.size()) {
						++j;
						value += line[j] == 'n' ? '\n' : line[j];
					} else {
						value += line[j];
					}
				}
				if (j >= line.size())
					throw bad("a label value without its closing quote");
				s.labels.emplace_back(std::move(name), std::move(value));
				i = j + 1;
				if (i < line.size() && line[i] == ',')
					++i;
			}
			if (i >= line.size())
				throw bad("labels without their closing brace");
			++i;
		}
		if (i >= line.size() || line[i] != ' ')
			throw bad("no value");
		std::string_view value = line.substr(i + 1);
		if (const std::size_t sp = value.find(' '); sp != std::string_view::npos)
			value = value.substr(0, sp); // a timestamp follows
		s.value = number(value, line_no);
		out.push_back(std::move(s));
	}
	return out;
}

namespace {

struct Page {
	const std::vector<Sample> &samples;

	// The sum over every sample of `name` whose labels include `want`.
	double sum(std::string_view name, std::initializer_list<std::pair<std::string_view, std::string_view>> want = {}) const
	{
		double total = 0;
		for (const Sample &s : samples) {
			if (s.name != name)
				continue;
			bool ok = true;
			for (const auto &[k, v] : want) {
				bool found = false;
				for (const auto &[lk, lv] : s.labels)
					found = found || (lk == k && lv == v);
				ok = ok && found;
			}
			if (ok)
				total += s.value;
		}
		return total;
	}
	bool has(std::string_view name) const
	{
		for (const Sample &s : samples)
			if (s.name == name)
				return true;
		return false;
	}
	const Sample *first(std::string_view name) const
	{
		for (const Sample &s : samples)
			if (s.name == name)
				return &s;
		return nullptr;
	}
};

std::string label(const Sample &s, std::string_view k)
{
	for (const auto &[lk, lv] : s.labels)
		if (lk == k)
			return lv;
	return "";
}

std::string count(double v)
{
	return std::to_string(static_cast<unsigned long long>(std::llround(v)));
}

std::string percent(double part, double whole)
{
	char buf[32];
	std::snprintf(buf, sizeof buf, "%.1f %%", whole > 0 ? 100.0 * part / whole : 0.0);
	return buf;
}

std::string duration(std::int64_t s)
{
	if (s < 0)
		s = 0;
	if (s < 60)
		return std::to_string(s) + " s";
	if (s < 3600)
		return std::to_string(s / 60) + " min " + std::to_string(s % 60) + " s";
	if (s < 86400)
		return std::to_string(s / 3600) + " h " + std::to_string(s % 3600 / 60) + " min";
	return std::to_string(s / 86400) + " d " + std::to_string(s % 86400 / 3600) + " h";
}

std::string bytes(double b)
{
	char buf[32];
	if (b < 1024)
		std::snprintf(buf, sizeof buf, "%.0f B", b);
	else if (b < 1024 * 1024)
		std::snprintf(buf, sizeof buf, "%.1f KiB", b / 1024);
	else
		std::snprintf(buf, sizeof buf, "%.1f MiB", b / (1024 * 1024));
	return buf;
}

} // namespace

Rows summary(const std::vector<Sample> &samples, std::time_t now)
{
	const Page p{samples};
	Rows rows;
	if (const Sample *b = p.first("mxdelegate_build_info"))
		rows.emplace_back("version", label(*b, "version") + " (plugin ABI " + label(*b, "abi") +
		                                 "), backend " + label(*b, "backend"));
	if (const Sample *st = p.first("process_start_time_seconds"))
		rows.emplace_back("up", duration(now - static_cast<std::int64_t>(st->value)) + " (since " +
		                            follow_status::format_time(static_cast<std::time_t>(st->value)) +
		                            ")");
	// Requests by status, over every document.
	std::vector<std::pair<std::string, double>> by_status;
	double total = 0;
	for (const Sample &s : samples) {
		if (s.name != "mxdelegate_requests_total")
			continue;
		total += s.value;
		const std::string st = label(s, "status");
		auto it = std::find_if(by_status.begin(), by_status.end(),
		                       [&](const auto &e) { return e.first == st; });
		if (it == by_status.end())
			by_status.emplace_back(st, s.value);
		else
			it->second += s.value;
	}
	std::string req = count(total);
	if (!by_status.empty()) {
		std::sort(by_status.begin(), by_status.end());
		req += ":";
		for (std::size_t i = 0; i < by_status.size(); ++i)
			req += (i ? ", " : " ") + by_status[i].first + " " + count(by_status[i].second);
	}
	rows.emplace_back("requests", req);
	const double cache = p.sum("mxdelegate_answers_total", {{"source", "cache"}});
	const double store = p.sum("mxdelegate_answers_total", {{"source", "store"}});
	const double stale = p.sum("mxdelegate_answers_total", {{"source", "stale"}});
	const double looked = cache + store + stale;
	rows.emplace_back("answers", "cache " + percent(cache, looked) + ", store " +
	                                 percent(store, looked) + ", stale " + count(stale));
	std::string store_row = count(p.sum("mxdelegate_store_lookups_total")) + " lookups, " +
	                        count(p.sum("mxdelegate_store_failures_total")) + " failed";
	std::string kinds;
	for (const Sample &s : samples)
		if (s.name == "mxdelegate_store_failures_total" && s.value > 0)
			kinds += (kinds.empty() ? "" : ", ") + label(s, "kind") + " " + count(s.value);
	if (!kinds.empty())
		store_row += " (" + kinds + ")";
	store_row += "; generation " + count(p.sum("mxdelegate_store_generation"));
	if (const Sample *ch = p.first("mxdelegate_store_generation_change_timestamp_seconds"))
		store_row += " since " + follow_status::format_time(static_cast<std::time_t>(ch->value));
	rows.emplace_back("store", store_row);
	std::string cache_row = count(p.sum("mxdelegate_cache_hosts", {{"record", "yes"}})) + " hosts, " +
	                        bytes(p.sum("mxdelegate_cache_bytes", {{"record", "yes"}})) + "; " +
	                        count(p.sum("mxdelegate_cache_hosts", {{"record", "no"}})) +
	                        " without a record; " +
	                        count(p.sum("mxdelegate_cache_evictions_total")) + " evicted";
	// An in-memory store's names rendered at load, outside the budget: said
	// only where there are some, so other stores' line stays as it was.
	if (const double preloaded = p.sum("mxdelegate_cache_hosts", {{"record", "preloaded"}}); preloaded > 0)
		cache_row += "; " + count(preloaded) + " preloaded, " +
		             bytes(p.sum("mxdelegate_cache_bytes", {{"record", "preloaded"}}));
	rows.emplace_back("cache", std::move(cache_row));
	std::string reloads = count(p.sum("mxdelegate_reloads_total", {{"result", "ok"}})) + " ok, " +
	                      count(p.sum("mxdelegate_reloads_total", {{"result", "refused"}})) +
	                      " refused";
	if (p.has("mxdelegate_config_last_reload_successful") &&
	    p.sum("mxdelegate_config_last_reload_successful") == 0)
		reloads += "; the last one refused: the previous configuration serves";
	rows.emplace_back("reloads", reloads);
	if (p.has("mxdelegate_connections_open"))
		rows.emplace_back("connections",
		                  count(p.sum("mxdelegate_connections_open")) + " open, " +
		                      count(p.sum("mxdelegate_connections", {{"state", "worker"}})) +
		                      " with workers, " +
		                      count(p.sum("mxdelegate_connections", {{"state", "queued"}})) +
		                      " queued; threads " + count(p.sum("mxdelegate_threads_busy")) +
		                      " busy of " + count(p.sum("mxdelegate_threads")));
	if (p.has("mxdelegate_follow_lag_seconds"))
		rows.emplace_back("follower lag",
		                  duration(static_cast<std::int64_t>(p.sum("mxdelegate_follow_lag_seconds"))));
	return rows;
}

bool troubled(const std::vector<Sample> &samples)
{
	const Page p{samples};
	return (p.has("mxdelegate_config_last_reload_successful") &&
	        p.sum("mxdelegate_config_last_reload_successful") == 0) ||
	       p.sum("mxdelegate_answers_total", {{"source", "stale"}}) > 0;
}

std::string url_of(const std::string &listen)
{
	const listen_spec::Spec s = listen_spec::parse(listen);
	std::string host = s.host == "*" ? "127.0.0.1" : s.host;
	if (host.find(':') != std::string::npos)
		host = "[" + host + "]";
	return "http://" + host + ":" + s.port + "/metrics";
}

std::string fetch(const std::string &listen, std::chrono::milliseconds timeout)
{
	const std::string url = url_of(listen);
	const listen_spec::Spec s = listen_spec::parse(listen);
	const std::string host = s.host == "*" ? "127.0.0.1" : s.host;
	auto fail = [&](const std::string &why) { return Error(url + ": " + why); };
	addrinfo hints{};
	hints.ai_socktype = SOCK_STREAM;
	addrinfo *res = nullptr;
	if (const int rc = getaddrinfo(host.c_str(), s.port.c_str(), &hints, &res); rc != 0)
		throw fail(gai_strerror(rc));
	const auto deadline = std::chrono::steady_clock::now() + timeout;
	int fd = -1;
	std::string why = "no address";
	for (addrinfo *a = res; a && fd < 0; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
		if (fd < 0)
			continue;
		if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
			break;
		if (errno == EINPROGRESS) {
			pollfd p{fd, POLLOUT, 0};
			int err = 0;
			socklen_t len = sizeof err;
			if (poll(&p, 1, static_cast<int>(timeout.count())) == 1 &&
			    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0)
				break;
			why = err ? std::strerror(err) : "connect timed out";
		} else {
			why = std::strerror(errno);
		}
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		throw fail("cannot connect: " + why);
	const std::string ask = "GET /metrics HTTP/1.1\r\nHost: " + host + ":" + s.port +
	                        "\r\nConnection: close\r\n\r\n";
	std::string got;
	std::size_t sent = 0;
	for (;;) {
		const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
			deadline - std::chrono::steady_clock::now());
		if (left.count() <= 0) {
			close(fd);
			throw fail("no whole answer within " + std::to_string(timeout.count()) + " ms");
		}
		pollfd p{fd, static_cast<short>(sent < ask.size() ? POLLOUT : POLLIN), 0};
		if (poll(&p, 1, static_cast<int>(left.count())) < 0 && errno != EINTR) {
			close(fd);
			throw fail(std::string("poll: ") + std::strerror(errno));
		}
		if (sent < ask.size()) {
			const ssize_t n = send(fd, ask.data() + sent, ask.size() - sent, MSG_NOSIGNAL);
			if (n > 0)
				sent += static_cast<std::size_t>(n);
			else if (n < 0 && errno != EAGAIN && errno != EINTR) {
				close(fd);
				throw fail(std::string("send: ") + std::strerror(errno));
			}
			continue;
		}
		char buf[16384];
		const ssize_t n = recv(fd, buf, sizeof buf, 0);
		if (n == 0)
			break;
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			close(fd);
			throw fail(std::string("recv: ") + std::strerror(errno));
		}
		got.append(buf, static_cast<std::size_t>(n));
		if (got.size() > 16 * 1024 * 1024) {
			close(fd);
			throw fail("answer larger than 16 MiB");
		}
	}
	close(fd);
	const std::size_t end = got.find("\r\n\r\n");
	if (end == std::string::npos)
		throw fail("no HTTP answer");
	const std::string status_line = got.substr(0, got.find("\r\n"));
	if (!status_line.starts_with("HTTP/1.1 200 ") && !status_line.starts_with("HTTP/1.0 200 "))
		throw fail("answered \"" + status_line.substr(0, 100) + "\"");
	return got.substr(end + 4);
}

} // namespace mxd::ctl_status
