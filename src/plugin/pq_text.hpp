// libpq's text as it may be shown in a log line, a status file or an error:
// its messages on one line, and of a connection string which server and
// database, never the password that may sit in it.  Shared by the
// PostgreSQL plugin and mxdelegate-follow, the two that link libpq; header
// only, so that libmxdplugin.a does not need libpq.
#pragma once

#include "core/log.hpp"

#include <libpq-fe.h>

#include <cstring>
#include <string>
#include <string_view>

namespace mxd::plugin {

// libpq's messages end in a newline and may hold several lines ("connection
// to server ... failed: ...\n\tIs the server running ..."): one line here.
inline std::string pq_message(const char *message)
{
	std::string out;
	for (const char *p = message ? message : ""; *p; ++p) {
		if (*p != '\n' && *p != '\t' && *p != '\r')
			out += *p;
		else if (!out.empty() && p[1] && !std::strchr("\n\t\r", p[1]))
			out += ' ';
	}
	return out.empty() ? "unknown error" : log::one_line(out);
}

// "host=db1 port=5432 dbname=mx user=mx", from what PQconninfoParse made of
// the string: the keys that say which server and database, in that order,
// and nothing else.  libpq's defaults stay out ("host=(libpq default)" when
// no host is given).
inline std::string shown_conninfo(const PQconninfoOption *opts)
{
	auto value = [&](std::string_view keyword) -> std::string {
		for (const PQconninfoOption *o = opts; o->keyword; ++o)
			if (o->keyword == keyword && o->val && *o->val)
				return log::one_line(o->val);
		return "";
	};
	std::string out;
	if (const auto host = value("host"); !host.empty())
		out = "host=" + host;
	else if (const auto addr = value("hostaddr"); !addr.empty())
		out = "hostaddr=" + addr;
	else
		out = "host=(libpq default)";
	for (const char *k : {"port", "dbname", "user", "service"})
		if (const auto v = value(k); !v.empty())
			out += std::string(" ") + k + "=" + v;
	return out;
}

} // namespace mxd::plugin
