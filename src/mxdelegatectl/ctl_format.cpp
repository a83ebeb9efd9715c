#include "mxdelegatectl/ctl_format.hpp"

#include "mxdelegatectl/ctl_fields.hpp"
#include "core/domains_toml.hpp"
#include "core/log.hpp"
#include "core/record.hpp"
#include "core/record_fields.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <unordered_map>

namespace mxd::ctl {

using json = nlohmann::json;

// The TOML backend's own reader, with the configuration's [defaults] on top.
Read read_toml(std::string_view text, const std::string &file, const json &defaults)
{
	domains_toml::Check with_defaults;
	if (defaults.is_object() && !defaults.empty())
		with_defaults = [&defaults](const json &record, const std::string &key) {
			return ctl::problems(record, key, defaults);
		};
	return domains_toml::read(text, file, domains_toml::Beside::configuration, with_defaults);
}

Read read_jsonl(std::string_view text, const std::string &file, const json &defaults)
{
	Read out;
	std::unordered_map<std::string, std::size_t> first; // domain -> line
	std::size_t line_no = 0;
	std::size_t start = 0;
	while (start < text.size()) {
		std::size_t end = text.find('\n', start);
		if (end == std::string_view::npos)
			end = text.size();
		std::string_view line = text.substr(start, end - start);
		start = end + 1;
		line_no++;
		if (!line.empty() && line.back() == '\r')
			line.remove_suffix(1);
		if (line.find_first_not_of(" \t") == std::string_view::npos)
			continue;
		const std::string where = file + ":" + std::to_string(line_no);
		json value;
		try {
			value = json::parse(line);
		} catch (const json::parse_error &e) {
			// nlohmann counts bytes from 1; the column is that byte.
			out.problems.push_back(where + ":" + std::to_string(e.byte) + ": not JSON: " +
			                       log::one_line(e.what()));
			continue;
		}
		if (!value.is_object()) {
			out.problems.push_back(where + ": not a JSON object");
			continue;
		}
		auto d = value.find("domain");
		if (d == value.end() || !d->is_string()) {
			out.problems.push_back(where + ": domain: missing; each line is "
			                               "{\"domain\": \"example.org\", ...}");
			continue;
		}
		std::string name;
		try {
			name = domain_key(d->get_ref<const std::string &>());
		} catch (const DataError &e) {
			out.problems.push_back(where + ": " + log::one_line(e.what()));
			continue;
		}
		if (auto [it, fresh] = first.emplace(name, line_no); !fresh) {
			out.problems.push_back(where + ": " + name + ": domain: also on line " +
			                       std::to_string(it->second));
			continue;
		}
		value.erase(d);
		const auto found = ctl::problems(value, name, defaults);
		for (const auto &p : found)
			out.problems.push_back(where + ": " + log::one_line(p));
		if (found.empty())
			out.entries.push_back({std::move(name), value.dump(), where});
	}
	if (!out.problems.empty())
		out.entries.clear();
	return out;
}

Read read_import(std::string_view text, const std::string &file, const json &defaults)
{
	const std::size_t first = text.find_first_not_of(" \t\r\n");
	if (first != std::string_view::npos && text[first] == '{')
		return read_jsonl(text, file, defaults);
	return read_toml(text, file, defaults);
}

std::string json_line(std::string_view domain, const json &record)
{
	std::string out = "{\"domain\":" + json(std::string(domain)).dump();
	const std::string rest = record.dump();
	// rest is "{}" or "{...}": splice its members after the domain.
	if (rest.size() > 2)
		out += "," + rest.substr(1);
	else
		out += "}";
	return out;
}

namespace {

bool bare_key(std::string_view k)
{
	if (k.empty())
		return false;
	for (char c : k)
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-'))
			return false;
	return true;
}

// A TOML basic string: JSON's escapes are TOML's, except that TOML wants
// DEL escaped too and knows no "\/".
void toml_string(std::string &out, std::string_view s)
{
	static constexpr char hex[] = "0123456789ABCDEF";
	out += '"';
	for (unsigned char c : s) {
		switch (c) {
		case '"': out += "\\\""; break;
		case '\\': out += "\\\\"; break;
		case '\b': out += "\\b"; break;
		case '\t': out += "\\t"; break;
		case '\n': out += "\\n"; break;
		case '\f': out += "\\f"; break;
		case '\r': out += "\\r"; break;
		default:
			if (c < 0x20 || c == 0x7f) {
				out += "\\u00";
				out += hex[c >> 4];
				out += hex[c & 0xf];
			} else {
				out += static_cast<char>(c);
			}
		}
	}
	out += '"';
}

void toml_key(std::string &out, std::string_view k)
{
	if (bare_key(k))
		out += k;
	else
		toml_string(out, k);
}

void toml_value(std::string &out, const json &v, record::Path &path, std::string_view domain)
{
	auto refuse = [&](const std::string &why) {
		throw DataError(std::string(domain) + ": " + record::format_path(path) + ": " + why +
		                "; export it with --format jsonl");
	};
	switch (v.type()) {
	case json::value_t::string:
		toml_string(out, v.get_ref<const std::string &>());
		break;
	case json::value_t::boolean:
		out += v.get<bool>() ? "true" : "false";
		break;
	case json::value_t::number_integer:
		out += std::to_string(v.get<std::int64_t>());
		break;
	case json::value_t::number_unsigned:
		if (v.get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
			refuse("an integer beyond 64 bits has no TOML form");
		out += std::to_string(v.get<std::uint64_t>());
		break;
	case json::value_t::number_float: {
		// JSON's shortest round-trip form ("1.5", "1e+100", "2.0") is also
		// a TOML float; JSON has no inf or nan.
		out += v.dump();
		break;
	}
	case json::value_t::array: {
		out += '[';
		for (std::size_t i = 0; i < v.size(); i++) {
			out += i ? ", " : " ";
			path.emplace_back(i);
			toml_value(out, v[i], path, domain);
			path.pop_back();
		}
		out += v.empty() ? "]" : " ]";
		break;
	}
	case json::value_t::object: {
		out += '{';
		bool firstm = true;
		for (const auto &[k, m] : v.items()) {
			out += firstm ? " " : ", ";
			firstm = false;
			toml_key(out, k);
			out += " = ";
			path.emplace_back(k);
			toml_value(out, m, path, domain);
			path.pop_back();
		}
		out += v.empty() ? "}" : " }";
		break;
	}
	default:
		refuse("null has no TOML form");
	}
}

} // namespace

std::string toml_table(std::string_view domain, const json &record)
{
	std::string out = "[domains.";
	toml_string(out, domain);
	out += "]\n";
	auto field = [&](const std::string &k, const json &v) {
		toml_key(out, k);
		out += " = ";
		record::Path path{k};
		toml_value(out, v, path, domain);
		out += '\n';
	};
	for (const record::FieldInfo &f : record::stored_fields)
		if (auto it = record.find(f.name); it != record.end())
			field(std::string(f.name), *it);
	// Anything else a record may hold ("domain" is the key already).
	for (const auto &[k, v] : record.items())
		if (!record::find_field(k))
			field(k, v);
	out += '\n';
	return out;
}

} // namespace mxd::ctl
