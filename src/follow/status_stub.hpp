// TEMPORARY stand-in for service/follow_status.hpp (the lead's, on main
// around 06:50 UTC), with the API of the design, so that the follower builds
// before it lands.  Removed at the merge.
#pragma once

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>

namespace mxd {

struct FollowStatus {
	std::string primary;
	std::string store_id;
	long long seq = 0;
	std::string state = "stopped";
	std::string since;
	std::optional<std::string> in_step_at;
	std::string error;
	long long pid = 0;
};

inline std::string follow_status_path(const std::string &copy) { return copy + ".follow"; }

inline void write_follow_status(const std::string &copy, const FollowStatus &s)
{
	nlohmann::json j{{"primary", s.primary}, {"store_id", s.store_id}, {"seq", s.seq},
	                 {"state", s.state},     {"since", s.since},       {"error", s.error},
	                 {"pid", s.pid}};
	j["in_step_at"] = s.in_step_at ? nlohmann::json(*s.in_step_at) : nlohmann::json();
	const std::string path = follow_status_path(copy), tmp = path + ".tmp";
	{
		std::ofstream out(tmp, std::ios::trunc);
		out << j.dump() << '\n';
	}
	std::rename(tmp.c_str(), path.c_str());
}

class FollowLock {
public:
	static std::optional<FollowLock> take(const std::string &copy, pid_t *holder = nullptr)
	{
		const std::string path = copy + ".follow.lock";
		const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
		if (fd < 0)
			return std::nullopt;
		if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
			if (holder) {
				char buf[32] = {};
				*holder = ::pread(fd, buf, sizeof buf - 1, 0) > 0 ? std::atoi(buf) : 0;
			}
			::close(fd);
			return std::nullopt;
		}
		const std::string pid = std::to_string(::getpid()) + "\n";
		if (::ftruncate(fd, 0) == 0 && ::pwrite(fd, pid.data(), pid.size(), 0) < 0) {
		}
		return FollowLock(fd, path);
	}
	FollowLock(FollowLock &&o) noexcept : fd_(o.fd_), path_(std::move(o.path_)) { o.fd_ = -1; }
	~FollowLock()
	{
		if (fd_ >= 0)
			::close(fd_);
	}
	const std::string &path() const { return path_; }

private:
	FollowLock(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
	int fd_;
	std::string path_;
};

} // namespace mxd
