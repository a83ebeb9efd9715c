#include "service/listen_spec.hpp"

#include "core/hostport.hpp"

#include <sys/un.h>

namespace mxd::listen_spec {

Spec parse(std::string_view spec)
{
	Spec s;
	if (spec.substr(0, 5) == "unix:" || (!spec.empty() && spec[0] == '/')) {
		s.unix_socket = true;
		s.path = spec.substr(spec[0] == '/' ? 0 : 5);
		constexpr std::size_t most = sizeof(sockaddr_un::sun_path) - 1;
		if (s.path.empty() || s.path.size() > most)
			throw Error("socket path empty or longer than " + std::to_string(most) + " bytes");
		return s;
	}
	const hostport::Split split = hostport::split(spec);
	if (split.bracketed && (split.fault != hostport::Split::Fault::none || !split.has_port))
		throw Error("expected [IPv6]:port");
	if (!split.has_port)
		throw Error("expected unix:/path, 127.0.0.1:port (this machine only) "
		            "or *:port (every interface)");
	if (split.several_colons())
		throw Error("write an IPv6 address in brackets: [::1]:port");
	s.host = split.host;
	s.port = split.port;
	if (s.host.empty())
		throw Error("no address; write 127.0.0.1:" + s.port + " for this machine only, or *:" +
		            s.port + " for every interface");
	if (!hostport::read_port(s.port).usable())
		throw Error("port must be a number from 1 to 65535");
	return s;
}

} // namespace mxd::listen_spec
