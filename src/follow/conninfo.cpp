#include "follow/conninfo.hpp"

#include "core/log.hpp"

#include <libpq-fe.h>

#include <cstring>
#include <memory>
#include <string_view>

namespace mxd::follow {

std::string one_line_pq(const char *message)
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

std::string shown_conninfo(const std::string &conninfo)
{
	char *err = nullptr;
	std::unique_ptr<PQconninfoOption, decltype(&PQconninfoFree)> opts(
		PQconninfoParse(conninfo.c_str(), &err), &PQconninfoFree);
	if (!opts) {
		// libpq's reason may quote the string, password and all.
		PQfreemem(err);
		throw ConninfoError("[follow] conninfo: not a libpq connection string");
	}
	auto value = [&](std::string_view keyword) -> std::string {
		for (const PQconninfoOption *o = opts.get(); o->keyword; ++o)
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

} // namespace mxd::follow
