#include "mxdelegate/listen.hpp"

#include "core/hostport.hpp"

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

int open_unix(const std::string &path, int backlog)
{
	sockaddr_un sa{};
	sa.sun_family = AF_UNIX;
	if (path.empty() || path.size() >= sizeof sa.sun_path)
		throw Error("unix:" + path + ": socket path empty or longer than " +
		            std::to_string(sizeof sa.sun_path - 1) + " bytes");
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
	// The socket is created with the umask applied; 0660 from the start, so
	// no other user can connect in the moment before chmod.
	mode_t old = umask(0117);
	int rc = bind(fd.fd, reinterpret_cast<sockaddr *>(&sa), sizeof sa);
	umask(old);
	if (rc != 0)
		throw Error(why("unix:" + path + ": bind"));
	if (chmod(path.c_str(), 0660) != 0 || ::listen(fd.fd, backlog) != 0) {
		Error e(why("unix:" + path));
		unlink(path.c_str());
		throw e;
	}
	return fd.release();
}

int open_tcp(std::string_view spec, int backlog)
{
	const std::string s(spec);
	const hostport::Split split = hostport::split(spec);
	if (split.bracketed && (split.fault != hostport::Split::Fault::none || !split.has_port))
		throw Error(s + ": expected [IPv6]:port");
	if (!split.has_port)
		throw Error(s + ": expected unix:/path, 127.0.0.1:port (this machine only) "
		            "or *:port (every interface)");
	if (split.several_colons())
		throw Error(s + ": write an IPv6 address in brackets: [::1]:port");
	const std::string host(split.host), port(split.port);
	if (host.empty())
		throw Error(s + ": no address; write 127.0.0.1:" + port +
		            " for this machine only, or *:" + port + " for every interface");
	if (!hostport::read_port(port).usable())
		throw Error(s + ": port must be a number from 1 to 65535");

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

int open(std::string_view spec, int backlog)
{
	if (spec.substr(0, 5) == "unix:")
		return open_unix(std::string(spec.substr(5)), backlog);
	if (!spec.empty() && spec[0] == '/')
		return open_unix(std::string(spec), backlog);
	return open_tcp(spec, backlog);
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

void set_read_timeout(int fd, unsigned seconds)
{
	timeval tv{};
	tv.tv_sec = seconds;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

} // namespace mxd::listen
