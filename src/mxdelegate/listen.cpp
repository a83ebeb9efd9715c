#include "mxdelegate/listen.hpp"

#include "service/listen_spec.hpp"

#include <grp.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

namespace mxd::listen {

namespace {

std::string why(const std::string &what)
{
	return what + ": " + std::strerror(errno);
}

// Closes the fd on every exit path until it is released.
struct Fd {
	int fd;
	~Fd()
	{
		if (fd >= 0)
			::close(fd);
	}
	int release()
	{
		int f = fd;
		fd = -1;
		return f;
	}
};

// The group by name, or by number when written in digits.
gid_t group_id(const std::string &path, const std::string &group)
{
	errno = 0;
	if (const struct group *g = getgrnam(group.c_str()))
		return g->gr_gid;
	if (!group.empty() && group.find_first_not_of("0123456789") == std::string::npos &&
	    group.size() < 10)
		return static_cast<gid_t>(std::stoul(group));
	throw Error("unix:" + path + ": socket_group \"" + group + "\": no such group" +
	            (errno ? std::string(" (") + std::strerror(errno) + ")" : std::string()));
}

int open_unix(const std::string &path, const Access &access, int backlog)
{
	sockaddr_un sa{};
	sa.sun_family = AF_UNIX;
	std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);

	struct stat st;
	if (lstat(path.c_str(), &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			throw Error("unix:" + path + ": exists and is not a socket; not replacing it");
		// spawn-fcgi's rule: a socket someone still accepts on is in use.
		Fd probe{socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)};
		if (probe.fd < 0)
			throw Error(why("socket"));
		if (connect(probe.fd, reinterpret_cast<sockaddr *>(&sa), sizeof sa) == 0)
			throw Error("unix:" + path + ": in use by a running process; stop it first");
		if (unlink(path.c_str()) != 0)
			throw Error(why("unix:" + path + ": cannot remove the stale socket"));
	}

	Fd fd{socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)};
	if (fd.fd < 0)
		throw Error(why("socket"));
	const mode_t mode = access.mode & 0777;
	const gid_t gid = access.group.empty() ? gid_t(-1) : group_id(path, access.group);
	// The socket is created with the umask applied: with its mode from the
	// start, so that no other user can connect in the moment before chmod.
	mode_t old = umask(~mode & 0777);
	int rc = bind(fd.fd, reinterpret_cast<sockaddr *>(&sa), sizeof sa);
	umask(old);
	if (rc != 0)
		throw Error(why("unix:" + path + ": bind"));
	const auto fail = [&](const std::string &what) {
		Error e(why("unix:" + path + what));
		unlink(path.c_str());
		throw e;
	};
	// Only root or a member of the group may hand the socket to it.
	if (gid != gid_t(-1) && chown(path.c_str(), uid_t(-1), gid) != 0)
		fail(": cannot give the socket to group \"" + access.group +
		     "\" (run as root, or as a member of that group)");
	if (chmod(path.c_str(), mode) != 0 || ::listen(fd.fd, backlog) != 0)
		fail("");
	return fd.release();
}

int open_tcp(const std::string &s, const std::string &host, const std::string &port, int backlog)
{
	addrinfo hints{};
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
	addrinfo *res = nullptr;
	const char *node = host == "*" ? nullptr : host.c_str();
	if (int rc = getaddrinfo(node, port.c_str(), &hints, &res); rc != 0)
		throw Error(s + ": " + gai_strerror(rc));
	std::string last = "no address";
	for (addrinfo *ai = res; ai; ai = ai->ai_next) {
		// With "*", prefer the IPv6 wildcard, which also takes IPv4.
		if (!node && ai->ai_family != AF_INET6 && ai->ai_next)
			continue;
		Fd fd{socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol)};
		if (fd.fd < 0) {
			last = std::strerror(errno);
			continue;
		}
		int one = 1, zero = 0;
		setsockopt(fd.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		if (ai->ai_family == AF_INET6 && !node)
			setsockopt(fd.fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
		if (bind(fd.fd, ai->ai_addr, ai->ai_addrlen) != 0 || ::listen(fd.fd, backlog) != 0) {
			last = std::strerror(errno);
			continue;
		}
		freeaddrinfo(res);
		return fd.release();
	}
	freeaddrinfo(res);
	throw Error(s + ": " + last);
}

} // namespace

int open(std::string_view spec, const Access &access, int backlog)
{
	listen_spec::Spec s;
	try {
		s = listen_spec::parse(spec);
	} catch (const listen_spec::Error &e) {
		throw Error(std::string(spec) + ": " + e.what());
	}
	if (s.unix_socket)
		return open_unix(s.path, access, backlog);
	return open_tcp(std::string(spec), s.host, s.port, backlog);
}

int systemd_fd()
{
	const char *pid = std::getenv("LISTEN_PID");
	const char *fds = std::getenv("LISTEN_FDS");
	if (!pid || !fds)
		return -1;
	const bool ours = std::strtol(pid, nullptr, 10) == static_cast<long>(getpid());
	const long n = std::strtol(fds, nullptr, 10);
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	if (!ours)
		return -1;
	if (n != 1)
		throw Error("systemd passed " + std::to_string(n) +
		            " sockets (LISTEN_FDS); mxdelegate takes exactly one");
	return 3; // SD_LISTEN_FDS_START
}

bool fd0_listening()
{
	sockaddr_storage peer;
	socklen_t len = sizeof peer;
	errno = 0;
	return getpeername(0, reinterpret_cast<sockaddr *>(&peer), &len) != 0 && errno == ENOTCONN;
}

} // namespace mxd::listen
