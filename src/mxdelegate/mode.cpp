#include "mxdelegate/mode.hpp"

namespace mxd::mode {

Mode detect(const Facts &f)
{
	if (f.listen_option)
		return Mode::listen_option;
	if (f.systemd)
		return Mode::systemd;
	if (f.fd0_listening)
		return Mode::inherited;
	if (f.request_method)
		return Mode::cgi;
	if (f.config_loaded && f.config_listen)
		return Mode::listen_config;
	return Mode::none;
}

} // namespace mxd::mode
