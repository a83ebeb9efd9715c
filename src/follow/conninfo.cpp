#include "follow/conninfo.hpp"

#include "plugin/pq_text.hpp"

#include <libpq-fe.h>

#include <memory>

namespace mxd::follow {

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
	return plugin::shown_conninfo(opts.get());
}

} // namespace mxd::follow
