// mxdelegate-probe: fetches each document named on standard input (JSON
// lines from "mxdelegatectl probe": the domain, the document and what
// mxdelegate answers for it) as the world's consumers do, and writes a row
// a document and a summary.  A program of its own so that mxdelegatectl
// never links libcurl: a host that never probes needs none.
#include "core/log.hpp"
#include "probe/probe_engine.hpp"
#include "probe/probe_options.hpp"
#include "probe/probe_report.hpp"

#include <curl/curl.h>
#include <fcntl.h>
#include <signal.h>
#include <sysexits.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <string>

namespace {

using namespace mxd;
using namespace mxd::probe;
using json = nlohmann::json;

void out(const std::string &s)
{
	std::fwrite(s.data(), 1, s.size(), stdout);
}

// The expectations on standard input, read without blocking so that the
// transfers go on while mxdelegatectl looks the next domains up.
class Input {
public:
	explicit Input(Tally &tally) : tally_(tally)
	{
		const int flags = ::fcntl(0, F_GETFL);
		if (flags >= 0)
			::fcntl(0, F_SETFL, flags | O_NONBLOCK);
	}

	std::optional<Task> next(bool &end)
	{
		for (;;) {
			const std::size_t nl = buf_.find('\n', scanned_);
			if (nl != std::string::npos) {
				std::string line = buf_.substr(0, nl);
				buf_.erase(0, nl + 1);
				scanned_ = 0;
				line_no_++;
				return task(line);
			}
			scanned_ = buf_.size();
			if (eof_) {
				if (!buf_.empty())
					throw std::runtime_error("standard input: line " + std::to_string(line_no_ + 1) +
					                         ": no newline at the end");
				end = true;
				return std::nullopt;
			}
			char chunk[65536];
			const ssize_t n = ::read(0, chunk, sizeof chunk);
			if (n > 0) {
				buf_.append(chunk, static_cast<std::size_t>(n));
			} else if (n == 0) {
				eof_ = true;
			} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
				return std::nullopt;
			} else if (errno != EINTR) {
				throw std::runtime_error(std::string("standard input: ") + std::strerror(errno));
			}
		}
	}

private:
	Task task(const std::string &line)
	{
		const std::string where = "standard input: line " + std::to_string(line_no_);
		const json j = json::parse(line, nullptr, false);
		if (!j.is_object() || !j.contains("domain") || !j["domain"].is_string() || !j.contains("document") ||
		    !j["document"].is_string() || !j.contains("status") || !j["status"].is_number_integer())
			throw std::runtime_error(where + ": not an expectation of mxdelegatectl probe");
		Task t;
		t.domain = j["domain"].get<std::string>();
		t.document = j["document"].get<std::string>();
		t.want.status = j["status"].get<int>();
		t.want.body = j.value("body", "");
		t.want.location = j.value("location", "");
		// mxdelegatectl sends a domain's documents together.
		if (t.domain != last_domain_) {
			last_domain_ = t.domain;
			tally_.domain();
		}
		return t;
	}

	Tally &tally_;
	std::string buf_, last_domain_;
	std::size_t scanned_ = 0, line_no_ = 0;
	bool eof_ = false;
};

} // namespace

int main(int argc, char **argv)
{
	log::set_program("mxdelegate-probe");
	Options o;
	try {
		o = parse_options(argc, argv);
	} catch (const UsageError &e) {
		std::fprintf(stderr, "mxdelegatectl: probe: %s\n%s", e.what(), usage_text());
		return EX_USAGE;
	}
	if (o.check_only)
		return 0;
	::signal(SIGPIPE, SIG_IGN);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		std::fprintf(stderr, "mxdelegatectl: probe: libcurl would not start\n");
		return EX_SOFTWARE;
	}
	static char buffer[1 << 16];
	std::setvbuf(stdout, buffer, _IOFBF, sizeof buffer);
	const bool tty = ::isatty(2) == 1;
	const auto started = std::chrono::steady_clock::now();
	Tally tally;
	int code = 0;
	try {
		Input input(tally);
		Engine engine(o);
		if (!o.json)
			out(table_header());
		engine.run([&](bool &end) { return input.next(end); }, 0,
		           [&](const Row &r) {
			           tally.add(r);
			           out(o.json ? json_row(r) : table_row(r));
			           if (tty)
				           std::fflush(stdout);
		           },
		           tty ? Engine::Progress([&](std::size_t in_flight) {
			           const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
			           if (in_flight == 0)
				           std::fprintf(stderr, "\r\033[K");
			           else
				           std::fprintf(stderr, "\r\033[Kprobe: %zu done, %zu in flight, %zu not ok, %.0f/s",
				                        tally.done(), in_flight, tally.not_ok(), s > 0 ? tally.done() / s : 0.0);
		           })
		               : Engine::Progress());
		out(o.json ? tally.json() : tally.table());
		code = tally.all_ok() ? 0 : 1;
	} catch (const std::exception &e) {
		std::fflush(stdout);
		std::fprintf(stderr, "mxdelegatectl: probe: %s\n", e.what());
		code = EX_SOFTWARE;
	}
	if (std::fflush(stdout) != 0 || std::ferror(stdout)) {
		std::fprintf(stderr, "mxdelegatectl: probe: standard output: %s\n", std::strerror(errno));
		code = EX_IOERR;
	}
	curl_global_cleanup();
	return code;
}
