// What every writable plugin checks in put() before it stores a record: the
// key is canonical and the record is one the responder will serve.  For
// plugins only (they link the core, which has host and record).
#pragma once

#include "core/host.hpp"
#include "core/log.hpp"
#include "core/record.hpp"

#include <nlohmann/json.hpp>

#include <stdexcept>
#include <string>

namespace mxd::plugin {

// A key or record that put() refuses: the plugin answers MXD_INVALID with
// this message, "domain: field: problem", one line a problem.
class InvalidRecord : public std::runtime_error {
public:
	using std::runtime_error::runtime_error;
};

// The key a record is stored under: canonical, as the responder looks up.
inline void check_key(const std::string &domain)
{
	std::string canonical;
	try {
		canonical = host::canonical_domain(domain, /*allow_wildcard=*/true);
	} catch (const std::invalid_argument &e) {
		throw InvalidRecord(log::one_line(domain) + ": domain: " + e.what());
	}
	if (canonical != domain)
		throw InvalidRecord(log::one_line(domain) + ": domain: not in canonical form; store it as " +
		              canonical);
}

// put()'s arguments as the record to store: the key checked, a "domain"
// member (the admin tool's own form) dropped when it names the key, and the
// rest validated as open() validates what it reads.
inline nlohmann::json record_to_store(const std::string &key, const char *record_json)
{
	check_key(key);
	nlohmann::json record = nlohmann::json::parse(record_json, nullptr, false);
	if (!record.is_object())
		throw InvalidRecord(key + ": the record is not a JSON object");
	if (auto it = record.find("domain"); it != record.end()) {
		if (!it->is_string() || *it != key)
			throw InvalidRecord(key + ": domain: the record names another domain");
		record.erase(it);
	}
	const auto problems = record::validate(record, key);
	if (!problems.empty()) {
		std::string text;
		for (const auto &p : problems) {
			if (!text.empty())
				text += '\n';
			text += key + ": " + record::format_path(p.path) + ": " + p.message;
		}
		throw InvalidRecord(text);
	}
	return record;
}

} // namespace mxd::plugin
