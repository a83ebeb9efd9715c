// Lints: what a valid record may still get wrong.  Validation (record.hpp)
// refuses what cannot be served; a lint is a warning about what is served
// but is likely a mistake, each saying what to write instead and citing the
// part of the spec (or the proposal, where the spec is silent) it rests on.
// --check and "mxdelegatectl check" print them; --strict makes them fail.
// Pure: a record in, warnings out.
#pragma once

#include "core/record.hpp"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace mxd::lint {

// One kind of warning a check, by a short stable name (the manual page
// lists them), so that a caller may tell them apart.
enum class Code {
	auth_metadata,      // client_extra."org.matrix.msc2965.authentication"
	rtc_foci,           // client_extra."org.matrix.msc4143.rtc_foci"
	dead_proxy,         // client_extra."org.matrix.msc3575.proxy" at a service that is gone
	base_url_path,      // a base_url with a path other than "/"
	server_port_8448,   // server = "host:8448"
	extension_key,      // a key not namespaced in Java package style
	support_role,       // a role neither the spec's nor namespaced in Java package style
	document_size,      // a document over advised_document_size
	client_without_homeserver, // client_extra without client: /client is not served
	permanent_redirect, // redirect_status 301 or 308
};

std::string_view code_name(Code code);

struct Warning {
	Code code;
	record::Path path;   // where in the record, as validation's problems say it
	std::string message; // what to do instead, ending with "(spec: ...)"
};

// Documents past this size draw a warning: homeservers cap them at 12 KiB
// (tuwunel) to 50 KiB (Synapse), and a document near a cap is one added key
// from being dropped.
inline constexpr std::size_t advised_document_size = 4096;

// The warnings for a valid record as it is served (the [defaults] merged
// and templates expanded by the caller), in the record's field order.  A
// record that validation refuses may draw any warnings or none.
std::vector<Warning> check(const nlohmann::json &record);

// Whether `name` follows the spec's Common Namespaced Identifier Grammar
// with Java package naming: lower-case [a-z0-9._-], starting with a
// letter, at most 255 bytes, and either the spec's own "m." or a reversed
// domain with at least one name under it (com.example.key).
bool java_package_style(std::string_view name);

} // namespace mxd::lint
