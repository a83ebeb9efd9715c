// Records from mxdelegatectl's field options (--server, --contact, --unset,
// ...), and the check that decides whether a record may be stored: the
// responder's own validation, with the configuration's [defaults] applied.
#pragma once

#include "mxdelegatectl/ctl_args.hpp"

#include <nlohmann/json.hpp>

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace mxd::ctl {

// Input that parses but is wrong (a bad domain, URL, JSON value or record):
// exit 65.  what() may hold several lines, one problem each.
class DataError : public std::runtime_error {
public:
	using std::runtime_error::runtime_error;
};

// The key a domain given on the command line is stored under: A-labels,
// lower case, no trailing dot; wildcards ("*.example.net") allowed.  Throws
// DataError "DOMAIN: domain: why".
std::string domain_key(std::string_view given);

// Applies the field options in order to `record` (an object: {} for add, the
// stored record for set) and returns the result.  The options and what
// they write are record::options (core/record_fields.hpp).  Objects left
// empty by --unset are removed.  Throws UsageError for an option's syntax
// (--extra without "=", --contact with an unknown key, --unset of an
// unknown name) and DataError for a value that is not what the option
// needs (--extra's JSON, --max-age's number).  Values are not validated
// here: see problems().
nlohmann::json apply(nlohmann::json record, const std::vector<Field> &fields);

// Every problem of `record` stored under `key`, as "key: field: message",
// judged as the responder judges it: the record itself, and the record
// with `defaults` merged in when there are defaults.  Empty when valid.
std::vector<std::string> problems(const nlohmann::json &record, const std::string &key,
                                  const nlohmann::json &defaults);

} // namespace mxd::ctl
