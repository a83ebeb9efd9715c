// The lints (core/lint) of every record a configuration serves, for
// mxdelegate --check and mxdelegatectl check: [defaults] first, then each
// domain, each with the record as it is served (the [defaults] merged in,
// templates expanded).  A domain's line is only about what the domain's own
// record holds; what comes from [defaults] is said once, at [defaults].
#pragma once

#include "service/backend.hpp"
#include "service/config.hpp"

#include <string>
#include <vector>

namespace mxd {

// One line a warning: "WHERE: KEY: PATH: message [code]", where WHERE is
// the record's file:line:column in a TOML store (the configuration file or
// [backend] path) and absent in a store of another kind, KEY the domain or
// "[defaults]".  A store whose records can be neither read as TOML nor
// listed yields the warnings of [defaults] only.  Throws what the backend
// throws.
std::vector<std::string> record_warnings(const Config &config, const Backend &backend);

} // namespace mxd
