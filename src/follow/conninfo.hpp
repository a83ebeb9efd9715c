// The primary's connection string as it may be shown: in the log, in the
// status file, and in the copy, whose write guard names it to anyone who
// tries to write there.  Never the password, which may sit in the string.
#pragma once

#include <stdexcept>
#include <string>

namespace mxd::follow {

// A [follow] conninfo libpq cannot parse; the message never quotes it.
class ConninfoError : public std::runtime_error {
public:
	using std::runtime_error::runtime_error;
};

// "host=db1 port=5432 dbname=mx user=mx": the keys that say which server
// and database, in that order, and nothing else.  libpq's defaults stay
// out ("host=(libpq default)" when no host is given).
std::string shown_conninfo(const std::string &conninfo);

} // namespace mxd::follow
