#include "mxdelegatectl/ctl_fields.hpp"

#include "core/host.hpp"
#include "core/record.hpp"
#include "core/record_fields.hpp"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <system_error>
#include <utility>

namespace mxd::ctl {

using json = nlohmann::json;

namespace {

json &object_at(json &record, const std::string &key)
{
	json &v = record[key];
	// A stored non-object (refused by validation anyway) is replaced, not
	// merged into.
	if (!v.is_object())
		v = json::object();
	return v;
}

void drop_if_empty(json &record, const std::string &key)
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

// "--max-age", as messages name it.
std::string option_name(const record::OptionInfo &o)
{
	return "--" + std::string(o.option);
}

// Whether the number is in range is record::validate's to say, with the
// message it gives for an imported record.
json integer(const record::OptionInfo &o, const std::string &v)
{
	std::int64_t n = 0;
	const char *end = v.data() + v.size();
	const auto [ptr, ec] = std::from_chars(v.data(), end, n);
	if (v.empty() || ec != std::errc() || ptr != end)
		throw DataError(option_name(o) + ": \"" + v + "\" is not a whole number");
	return n;
}

// The value of an option with a path, wrapped in the path's other names.
json wrapped(const record::OptionInfo &o, json value)
{
	for (std::size_t i = o.path.size(); i-- > 1;)
		if (!o.path[i].empty())
			value = json{{std::string(o.path[i]), std::move(value)}};
	return value;
}

// KEY=JSON, for a member option such as --extra.
std::pair<std::string, json> member(const record::OptionInfo &o, const std::string &v)
{
	const std::size_t eq = v.find('=');
	if (eq == std::string::npos || eq == 0)
		throw UsageError(option_name(o) + ": \"" + v + "\" is not KEY=JSON, such as "
		                 "org.example.key='{\"url\": \"https://example.org\"}'");
	std::string key = v.substr(0, eq);
	try {
		return {std::move(key), json::parse(v.substr(eq + 1))};
	} catch (const json::parse_error &e) {
		throw DataError(option_name(o) + " " + key + ": the value is not JSON (" + e.what() +
		                "); a string is written with its quotes: '\"text\"'");
	}
}

// Where an option's part of `field` lives: the field itself, or, for a
// policy_server written in the spec's document form, its public_keys.
json *container(json &record, const std::string &field)
{
	const auto it = record.find(field);
	if (it == record.end() || !it->is_object())
		return nullptr;
	if (field == "policy_server")
		if (const auto doc = it->find("public_keys"); doc != it->end() && doc->is_object())
			return &*doc;
	return &*it;
}

void erase_member(json &record, const std::string &field, const std::string &key)
{
	if (json *c = container(record, field))
		c->erase(key);
	if (const auto it = record.find("policy_server"); field == "policy_server" && it != record.end())
		drop_if_empty(*it, "public_keys");
	drop_if_empty(record, field);
}

// "server, client, client_extra, identity-server, client_extra.KEY, ...":
// each stored field, then the names of the parts its options write.
std::string unset_names()
{
	std::string out;
	for (const record::FieldInfo &f : record::stored_fields) {
		out.append(out.empty() ? "" : ", ").append(f.name);
		for (const record::OptionInfo &o : record::options)
			if (o.field == f.name && !o.unset.empty())
				out.append(", ").append(o.unset);
	}
	return out;
}

void unset(json &record, const std::string &name)
{
	if (const record::FieldInfo *f = record::find_field(name); f && f->store != record::Store::none) {
		record.erase(name);
		return;
	}
	for (const record::OptionInfo &o : record::options) {
		const std::string field(o.field);
		if (o.input == record::Input::member) {
			if (name.size() > field.size() + 1 && name.starts_with(field + ".")) {
				erase_member(record, field, name.substr(field.size() + 1));
				return;
			}
		} else if (!o.unset.empty() && name == o.unset) {
			erase_member(record, field, std::string(o.path[0]));
			return;
		}
	}
	throw UsageError("--unset: unknown field \"" + name + "\" (" + unset_names() + ")");
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
		if (f.option == "unset") {
			unset(record, f.value);
			continue;
		}
		const record::OptionInfo *o = record::find_option(f.option);
		if (!o)
			throw UsageError("unknown field option --" + f.option);
		const std::string field(o->field);
		json value;
		switch (o->input) {
		case record::Input::text:
			value = f.value;
			break;
		case record::Input::integer:
			value = integer(*o, f.value);
			break;
		case record::Input::member: {
			auto [key, v] = member(*o, f.value);
			object_at(record, field)[key] = std::move(v);
			continue;
		}
		case record::Input::contact: {
			json &c = object_at(record, field)[std::string(o->path[0])];
			if (!contacts_started || !c.is_array())
				c = json::array();
			contacts_started = true;
			c.push_back(contact(f.value));
			continue;
		}
		}
		if (o->path[0].empty())
			record[field] = std::move(value);
		else if (json *c = container(record, field))
			(*c)[std::string(o->path[0])] = wrapped(*o, std::move(value));
		else
			object_at(record, field)[std::string(o->path[0])] = wrapped(*o, std::move(value));
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
