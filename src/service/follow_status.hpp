// What a follower ("mxdelegatectl follow") tells the rest of the node about
// the local copy it keeps: a small JSON file beside the copy, PATH.follow,
// written whole at each change of state and each applied batch, and a lock
// file, PATH.follow.lock, that the running follower holds for its whole life.
//
// The state lives beside the copy, not inside it, on purpose: the responder
// takes every commit to its SQLite file as a change of data (PRAGMA
// data_version) and looks every cached host up again, so a heartbeat written
// into the copy would cost a miss per host each time.  The lock, not the
// file, says whether a follower runs: a follower killed with SIGKILL leaves
// its last file behind, and the kernel drops its lock.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <ctime>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace mxd::follow_status {

// A status file that cannot be read or written; what() names the path.
class Error : public std::runtime_error {
public:
	using std::runtime_error::runtime_error;
};

enum class State { following, connecting, copying, stopped };

struct Status {
	std::string primary;  // conninfo without its password: "host=db1 dbname=mx"
	std::string store_id; // the primary's mxdelegate_meta store_id
	std::int64_t seq = 0; // the last change applied to the copy
	State state = State::connecting;
	std::time_t since = 0;              // when the follower entered `state`
	std::optional<std::time_t> in_step; // last moment the copy held all the primary had
	std::string error;                  // why it is not following, or ""
	pid_t pid = 0;
	// Renderings of the rows this follower wrote since it started (full
	// copies and changes): the primary's taken as they were, or made here
	// (another fingerprint, or none kept for the row as it is).  Optional
	// in the file (0 when absent): a file of an older follower reads.
	std::int64_t renderings_taken = 0, renderings_made = 0;
};

std::string_view name(State s);

// "PATH.follow" and "PATH.follow.lock", for the copy at PATH.
std::string status_path(const std::string &copy);
std::string lock_path(const std::string &copy);

// The file's text, and back.  parse() throws Error naming `where` and the
// field that is missing or of the wrong kind.
std::string format(const Status &s);
Status parse(std::string_view text, const std::string &where);

// UTC ISO 8601, "2026-12-02T06:00:00Z"; parse_time gives nullopt for text
// of any other shape.
std::string format_time(std::time_t t);
std::optional<std::time_t> parse_time(std::string_view text);

// One line for people: "in step (change 1234)", "12 s behind: PostgreSQL
// unreachable: …", "no follower running; last in step
// 2026-12-02T06:00:00Z, 3 h ago".  `running`: a follower holds the lock.
std::string describe(const Status &s, bool running, std::time_t now);

// Seconds the copy is behind at `now`: 0 while following, else since it was
// last known in step; nullopt when it never was.
std::optional<std::int64_t> lag(const Status &s, bool running, std::time_t now);

// The file of the copy at `copy`: nullopt when there is none (no follower
// ever ran); throws Error when it exists and cannot be read or parsed.
std::optional<Status> read(const std::string &copy);

// Written to a temporary file in the same folder and renamed over, so that a
// reader sees the old text or the new, whole.  Mode 0644: the responder's
// user and the admin tool read it.  Throws Error.
void write(const std::string &copy, const Status &s);

// The follower's lock, a POSIX record lock on the whole lock file: take()
// gives nullopt when another process holds it and sets *holder to that
// process's pid (0 when the kernel cannot tell); throws Error when the file
// cannot be opened.  A record lock is the process's, so the follower must
// not open the lock file a second time (closing that would drop it).
class Lock {
public:
	static std::optional<Lock> take(const std::string &copy, pid_t *holder = nullptr);
	Lock(Lock &&other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
	Lock &operator=(Lock &&) = delete;
	Lock(const Lock &) = delete;
	~Lock();

private:
	explicit Lock(int fd) : fd_(fd) {}
	int fd_;
};

// Whether a follower holds the lock of the copy at `copy`, tested without
// taking it (F_GETLK); *holder as for take().
bool running(const std::string &copy, pid_t *holder = nullptr);

} // namespace mxd::follow_status
