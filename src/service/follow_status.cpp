#include "service/follow_status.hpp"

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace mxd::follow_status {
namespace {

using json = nlohmann::json;

constexpr State states[] = {State::following, State::connecting, State::copying, State::stopped};

std::string reason(int err)
{
	return std::strerror(err);
}

// A held lock is told apart from a free one with fcntl(F_GETLK), which tests
// without taking: a reader that took even a shared lock for a moment would
// make a follower starting at that instant believe another one runs.
struct flock whole_file(short type)
{
	struct flock l{};
	l.l_type = type;
	l.l_whence = SEEK_SET;
	return l;
}

// Ages for people: "42 s", "3 min", "5 h", "2 days".
std::string age(std::int64_t s)
{
	if (s < 120)
		return std::to_string(s) + " s";
	if (s < 2 * 3600)
		return std::to_string(s / 60) + " min";
	if (s < 2 * 86400)
		return std::to_string(s / 3600) + " h";
	return std::to_string(s / 86400) + " days";
}

} // namespace

std::string_view name(State s)
{
	switch (s) {
	case State::following: return "following";
	case State::connecting: return "connecting";
	case State::copying: return "copying";
	case State::stopped: return "stopped";
	}
	return "stopped";
}

std::string status_path(const std::string &copy)
{
	return copy + ".follow";
}

std::string lock_path(const std::string &copy)
{
	return copy + ".follow.lock";
}

std::string format_time(std::time_t t)
{
	struct tm tm{};
	gmtime_r(&t, &tm);
	char buf[32];
	std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return buf;
}

std::optional<std::time_t> parse_time(std::string_view text)
{
	if (text.size() != 20)
		return std::nullopt;
	const std::string s(text);
	struct tm tm{};
	const char *end = strptime(s.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (!end || *end)
		return std::nullopt;
	return timegm(&tm);
}

std::string format(const Status &s)
{
	json j = {
		{"primary", s.primary},
		{"store_id", s.store_id},
		{"seq", s.seq},
		{"state", name(s.state)},
		{"since", format_time(s.since)},
		{"in_step_at", s.in_step ? json(format_time(*s.in_step)) : json(nullptr)},
		{"error", s.error},
		{"pid", s.pid},
		{"renderings_taken", s.renderings_taken},
		{"renderings_made", s.renderings_made},
	};
	return j.dump() + "\n";
}

Status parse(std::string_view text, const std::string &where)
{
	const json j = json::parse(text, nullptr, false);
	if (!j.is_object())
		throw Error(where + ": not a JSON object");
	auto field = [&](const char *key, json::value_t kind, const char *what) -> const json & {
		const auto it = j.find(key);
		if (it == j.end())
			throw Error(where + ": \"" + key + "\" is missing");
		const bool ok = kind == json::value_t::number_integer ? it->is_number_integer() : it->type() == kind;
		if (!ok)
			throw Error(where + ": \"" + key + "\" is not " + what);
		return *it;
	};
	auto time_field = [&](const char *key) {
		const auto t = parse_time(field(key, json::value_t::string, "a string").get<std::string>());
		if (!t)
			throw Error(where + ": \"" + key + "\" is not a UTC time like 2026-12-02T06:00:00Z");
		return *t;
	};
	Status s;
	s.primary = field("primary", json::value_t::string, "a string").get<std::string>();
	s.store_id = field("store_id", json::value_t::string, "a string").get<std::string>();
	s.seq = field("seq", json::value_t::number_integer, "an integer").get<std::int64_t>();
	const auto state = field("state", json::value_t::string, "a string").get<std::string>();
	bool known = false;
	for (State st : states)
		if (name(st) == state) {
			s.state = st;
			known = true;
		}
	if (!known)
		throw Error(where + ": \"state\" is \"" + state + "\", not one of following, connecting, copying, stopped");
	s.since = time_field("since");
	const auto in_step = j.find("in_step_at");
	if (in_step == j.end())
		throw Error(where + ": \"in_step_at\" is missing");
	if (!in_step->is_null())
		s.in_step = time_field("in_step_at");
	s.error = field("error", json::value_t::string, "a string").get<std::string>();
	s.pid = static_cast<pid_t>(field("pid", json::value_t::number_integer, "an integer").get<std::int64_t>());
	for (auto [key, out] : {std::pair{"renderings_taken", &s.renderings_taken},
	                        std::pair{"renderings_made", &s.renderings_made}})
		if (j.contains(key))
			*out = field(key, json::value_t::number_integer, "an integer").get<std::int64_t>();
	return s;
}

std::optional<std::int64_t> lag(const Status &s, bool running, std::time_t now)
{
	if (running && s.state == State::following)
		return 0;
	if (!s.in_step)
		return std::nullopt;
	return now > *s.in_step ? now - *s.in_step : 0;
}

std::string describe(const Status &s, bool running, std::time_t now)
{
	const auto behind = lag(s, running, now);
	if (!running) {
		std::string out = "no follower running; ";
		if (!behind)
			return out + "the copy was never in step";
		return out + "last in step " + format_time(*s.in_step) + ", " + age(*behind) + " ago";
	}
	if (behind && *behind == 0)
		return "in step (change " + std::to_string(s.seq) + ")";
	std::string out = behind ? age(*behind) + " behind" : std::string("never in step yet");
	out += " (" + std::string(name(s.state)) + " since " + format_time(s.since);
	if (!s.error.empty())
		out += ": " + s.error;
	return out + ")";
}

std::optional<Status> read(const std::string &copy)
{
	const std::string path = status_path(copy);
	const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return std::nullopt;
		throw Error(path + ": " + reason(errno));
	}
	std::string text;
	char buf[4096];
	for (;;) {
		const ssize_t n = ::read(fd, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			const int err = errno;
			::close(fd);
			throw Error(path + ": " + reason(err));
		}
		if (n == 0)
			break;
		text.append(buf, static_cast<std::size_t>(n));
		// The follower writes well under a kilobyte; more is no status file.
		if (text.size() > 65536) {
			::close(fd);
			throw Error(path + ": larger than 64 KiB, not a status file");
		}
	}
	::close(fd);
	return parse(text, path);
}

void write(const std::string &copy, const Status &s)
{
	const std::string path = status_path(copy);
	const std::string tmp = path + ".tmp";
	const std::string text = format(s);
	const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		throw Error(tmp + ": " + reason(errno));
	// The umask must not hide the file from the responder's user.
	::fchmod(fd, 0644);
	std::size_t done = 0;
	while (done < text.size()) {
		const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			const int err = errno;
			::close(fd);
			::unlink(tmp.c_str());
			throw Error(tmp + ": " + reason(err));
		}
		done += static_cast<std::size_t>(n);
	}
	// No fsync: after a crash a stale or missing status file only makes the
	// lag look older, and the copy's own sequence number is what counts.
	if (::close(fd) != 0 || ::rename(tmp.c_str(), path.c_str()) != 0) {
		const int err = errno;
		::unlink(tmp.c_str());
		throw Error(path + ": " + reason(err));
	}
}

std::optional<Lock> Lock::take(const std::string &copy, pid_t *holder)
{
	const std::string path = lock_path(copy);
	const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		throw Error(path + ": " + reason(errno));
	struct flock l = whole_file(F_WRLCK);
	if (::fcntl(fd, F_SETLK, &l) != 0) {
		const int err = errno;
		if (err == EACCES || err == EAGAIN) {
			if (holder) {
				struct flock q = whole_file(F_WRLCK);
				*holder = ::fcntl(fd, F_GETLK, &q) == 0 && q.l_type != F_UNLCK ? q.l_pid : 0;
			}
			::close(fd);
			return std::nullopt;
		}
		::close(fd);
		throw Error(path + ": " + reason(err));
	}
	return Lock(fd);
}

Lock::~Lock()
{
	// Closing drops the lock; a follower's lock file stays for the next one.
	if (fd_ >= 0)
		::close(fd_);
}

bool running(const std::string &copy, pid_t *holder)
{
	const std::string path = lock_path(copy);
	const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return false;
		throw Error(path + ": " + reason(errno));
	}
	struct flock q = whole_file(F_WRLCK);
	const int rc = ::fcntl(fd, F_GETLK, &q);
	const int err = errno;
	::close(fd);
	if (rc != 0)
		throw Error(path + ": " + reason(err));
	if (q.l_type == F_UNLCK)
		return false;
	if (holder)
		*holder = q.l_pid;
	return true;
}

} // namespace mxd::follow_status
