// What --listen and [server] listen say, read without opening anything: the
// configuration check refuses a value that could never be bound (a port of
// 99999, an IPv6 address without brackets) with its position in the file,
// and the socket is opened from the same reading.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace mxd::listen_spec {

// what() is the problem after the value: "port must be a number from 1 to
// 65535"; the caller says where the value came from.
class Error : public std::invalid_argument {
public:
	using std::invalid_argument::invalid_argument;
};

struct Spec {
	bool unix_socket = false;
	std::string path;       // unix_socket: the socket's path
	std::string host, port; // otherwise: "*" is every address
};

// "unix:/path", "/path", "127.0.0.1:9000", "[::1]:9000", "localhost:9000"
// or "*:9000".  Throws Error.
Spec parse(std::string_view spec);

} // namespace mxd::listen_spec
