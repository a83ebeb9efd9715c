#include "core/hostport.hpp"

namespace mxd::hostport {

Split split(std::string_view text)
{
	Split s;
	if (!text.empty() && text.front() == '[') {
		s.bracketed = true;
		const std::size_t close = text.find(']');
		if (close == std::string_view::npos) {
			s.host = text.substr(1);
			s.fault = Split::Fault::unclosed;
			return s;
		}
		s.host = text.substr(1, close - 1);
		const std::string_view rest = text.substr(close + 1);
		if (rest.empty())
			return s;
		if (rest.front() != ':') {
			s.fault = Split::Fault::after_bracket;
			return s;
		}
		s.has_port = true;
		s.port = rest.substr(1);
		return s;
	}
	const std::size_t colon = text.find(':');
	s.host = text.substr(0, colon);
	if (colon != std::string_view::npos) {
		s.has_port = true;
		s.port = text.substr(colon + 1);
	}
	return s;
}

Port read_port(std::string_view port)
{
	Port p;
	p.size = port.size();
	for (std::size_t i = 0; i < port.size(); ++i) {
		const char c = port[i];
		if (c < '0' || c > '9') {
			p.non_digit = i;
			break;
		}
		if (p.overflow != Port::npos)
			continue;
		const unsigned long next = p.value * 10 + static_cast<unsigned long>(c - '0');
		if (next > 65535)
			p.overflow = i;
		else
			p.value = next;
	}
	return p;
}

} // namespace mxd::hostport
