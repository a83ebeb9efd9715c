// The listening socket: one of our own (--listen), one handed over by
// systemd (LISTEN_FDS), or the one a web server put on fd 0.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace mxd::listen {

class Error : public std::runtime_error {
public:
	using std::runtime_error::runtime_error;
};

// What a unix socket of ours is given ([server] socket_mode, socket_group):
// the web server must be able to connect, and no one else.
struct Access {
	unsigned mode = 0660;
	std::string group; // a name or a number; "" keeps the process's own
};

// Opens and listens on "unix:/path", "/path", "127.0.0.1:9000",
// "[::1]:9000", "localhost:9000", or "*:9000" (all interfaces: only when
// written so).  A unix socket gets access's mode and group; an existing one
// is replaced only when no process accepts on it any more.  Throws Error
// naming the address.
int open(std::string_view spec, const Access &access = {}, int backlog = 1024);

// The fd systemd passed (LISTEN_PID is us, LISTEN_FDS is 1): 3; -1 when
// not socket-activated.  Throws Error for several sockets.  Unsets the
// variables so that no child inherits them.
int systemd_fd();

// Whether fd 0 is a socket with no peer: the listening socket a web server
// (mod_fcgid, lighttpd's bin-path, spawn-fcgi) hands a FastCGI program, where
// CGI has a pipe, a file or nothing.  The test libfcgi's FCGX_IsCGI makes
// (os_unix.c's OS_IsFcgi), without loading libfcgi to make it.
bool fd0_listening();

} // namespace mxd::listen
