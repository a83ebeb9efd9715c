#include "mxdelegatectl/ctl_fields.hpp"

#include "core/host.hpp"
#include "core/record.hpp"

#include <algorithm>

namespace mxd::ctl {

using json = nlohmann::json;

namespace {

json &object_at(json &record, const char *key)
{
	json &v = record[key];
	// A stored non-object (refused by validation anyway) is replaced, not
	// merged into.
	if (!v.is_object())
		v = json::object();
	return v;
}

void drop_if_empty(json &record, const char *key)
{
	if (auto it = record.find(key); it != record.end() && it->is_object() && it->empty())
		record.erase(it);
}

// "admin" for "m.role.admin": the two roles the spec defines.
std::string role(std::string_view r)
{
	if (r == "admin" || r == "security")
		return "m.role." + std::string(r);
	return std::string(r);
}

json contact(std::string_view spec)
{
	json c = json::object();
	std::size_t start = 0;
	while (start <= spec.size()) {
		const std::size_t comma = std::min(spec.find(',', start), spec.size());
		const std::string_view part = spec.substr(start, comma - start);
		start = comma + 1;
		if (part.empty())
			continue;
		const std::size_t eq = part.find('=');
		if (eq == std::string_view::npos)
			throw UsageError("--contact: \"" + std::string(part) +
			                 "\" is not KEY=VALUE (keys: role, matrix_id, email)");
		const std::string_view key = part.substr(0, eq), value = part.substr(eq + 1);
		const char *field = key == "role"                              ? "role"
		                  : key == "matrix_id"                         ? "matrix_id"
		                  : key == "email" || key == "email_address" ? "email_address"
		                                                               : nullptr;
		if (!field)
			throw UsageError("--contact: unknown key \"" + std::string(key) +
			                 "\" (keys: role, matrix_id, email)");
		if (c.contains(field))
			throw UsageError("--contact: " + std::string(key) + " given twice");
		c[field] = field == std::string_view("role") ? role(value) : std::string(value);
		if (comma == spec.size())
			break;
	}
	if (c.empty())
		throw UsageError("--contact: empty; give role=ROLE,matrix_id=MXID,email=ADDRESS");
	return c;
}

void unset(json &record, const std::string &name)
{
	static constexpr std::string_view top[] = {"server", "client", "client_extra", "support",
	                                           "policy_server", "max_age", "note"};
	if (std::find(std::begin(top), std::end(top), name) != std::end(top)) {
		record.erase(name);
	} else if (name == "identity-server") {
		if (auto it = record.find("client_extra"); it != record.end() && it->is_object())
			it->erase("m.identity_server");
		drop_if_empty(record, "client_extra");
	} else if (name.starts_with("client_extra.") && name.size() > 13) {
		if (auto it = record.find("client_extra"); it != record.end() && it->is_object())
			it->erase(name.substr(13));
		drop_if_empty(record, "client_extra");
	} else if (name == "support-page" || name == "contacts") {
		if (auto it = record.find("support"); it != record.end() && it->is_object())
			it->erase(name == "contacts" ? "contacts" : "support_page");
		drop_if_empty(record, "support");
	} else {
		throw UsageError("--unset: unknown field \"" + name +
		                 "\" (server, client, client_extra, client_extra.KEY, identity-server, "
		                 "support, support-page, contacts, policy_server, max_age, note)");
	}
}

} // namespace

std::string domain_key(std::string_view given)
{
	try {
		return host::canonical_domain(given, /*allow_wildcard=*/true);
	} catch (const std::invalid_argument &e) {
		throw DataError(std::string(given) + ": domain: " + e.what());
	}
}

json apply(json record, const std::vector<Field> &fields)
{
	if (!record.is_object())
		record = json::object();
	// In set, the first --contact starts a new list: contacts are replaced
	// as a whole, never merged with the stored ones.
	bool contacts_started = false;
	for (const Field &f : fields) {
		const std::string &v = f.value;
		if (f.option == "server") {
			record["server"] = v;
		} else if (f.option == "client") {
			record["client"] = v;
		} else if (f.option == "identity-server") {
			object_at(record, "client_extra")["m.identity_server"] = {{"base_url", v}};
		} else if (f.option == "extra") {
			const std::size_t eq = v.find('=');
			if (eq == std::string::npos || eq == 0)
				throw UsageError("--extra: \"" + v + "\" is not KEY=JSON, such as "
				                 "org.example.key='{\"url\": \"https://example.org\"}'");
			const std::string key = v.substr(0, eq);
			json value;
			try {
				value = json::parse(v.substr(eq + 1));
			} catch (const json::parse_error &e) {
				throw DataError("--extra " + key + ": the value is not JSON (" + e.what() +
				                "); a string is written with its quotes: '\"text\"'");
			}
			object_at(record, "client_extra")[key] = std::move(value);
		} else if (f.option == "support-page") {
			object_at(record, "support")["support_page"] = v;
		} else if (f.option == "contact") {
			json &support = object_at(record, "support");
			if (!contacts_started || !support["contacts"].is_array())
				support["contacts"] = json::array();
			contacts_started = true;
			support["contacts"].push_back(contact(v));
		} else if (f.option == "note") {
			record["note"] = v;
		} else if (f.option == "unset") {
			unset(record, v);
		} else {
			throw UsageError("unknown field option --" + f.option);
		}
	}
	return record;
}

std::vector<std::string> problems(const json &record, const std::string &key, const json &defaults)
{
	std::vector<std::string> out;
	auto report = [&](const std::vector<record::Problem> &found, const char *context) {
		for (const auto &p : found) {
			std::string line = key + ": ";
			if (!p.path.empty())
				line += record::format_path(p.path) + ": ";
			line += p.message + context;
			if (std::find(out.begin(), out.end(), line) == out.end())
				out.push_back(std::move(line));
		}
	};
	if (!record.is_object()) {
		out.push_back(key + ": the record is not a JSON object");
		return out;
	}
	report(record::validate(record, key), "");
	if (out.empty() && defaults.is_object() && !defaults.empty()) {
		// As the responder serves it: defaults merged, templates expanded
		// for a name the key covers.
		const std::string sample = key.starts_with("*.") ? "a." + key.substr(2) : key;
		report(record::validate(record::effective(record, defaults, sample), sample),
		       " (with the configuration's [defaults])");
	}
	return out;
}

} // namespace mxd::ctl
