#include "service/record_lints.hpp"

#include "core/domains_toml.hpp"
#include "core/lint.hpp"
#include "core/record.hpp"
#include "service/file_text.hpp"

#include <filesystem>

namespace mxd {

namespace {

using json = nlohmann::json;

std::string line(std::string_view where, std::string_view key, const lint::Warning &w)
{
	std::string out;
	if (!where.empty())
		out.append(where).append(": ");
	out.append(key).append(": ");
	if (!w.path.empty())
		out.append(record::format_path(w.path)).append(": ");
	out.append(w.message).append(" [").append(lint::code_name(w.code)).append("]");
	return out;
}

// A domain's warnings about what its own record holds: those at a field
// the stored record has.
void domain(std::vector<std::string> &out, std::string_view where, const std::string &key,
            const json &stored, const json &defaults)
{
	const std::string sample = key.starts_with("*.") ? "a." + key.substr(2) : key;
	for (const lint::Warning &w : lint::check(record::effective(stored, defaults, sample))) {
		const auto *field = w.path.empty() ? nullptr : std::get_if<std::string>(&w.path[0]);
		if (field && stored.contains(*field))
			out.push_back(line(where, key, w));
	}
}

} // namespace

std::vector<std::string> record_warnings(const Config &config, const Backend &backend)
{
	std::vector<std::string> out;
	const json &defaults = config.defaults;
	if (defaults.is_object() && !defaults.empty())
		for (const lint::Warning &w : lint::check(record::expand(defaults, "example.org")))
			if (w.code != lint::Code::client_without_homeserver)
				out.push_back(line("", "[defaults]", w));

	if (config.backend_name == "toml") {
		// The TOML store's own file, read as it reads it, for positions.
		std::string file = config.file;
		auto beside = domains_toml::Beside::configuration;
		if (const auto p = config.backend.find("path"); p != config.backend.end() && p->is_string()) {
			std::filesystem::path path(p->get<std::string>());
			if (path.is_relative())
				path = std::filesystem::path(config.file).parent_path() / path;
			std::error_code ec;
			if (!std::filesystem::equivalent(path, config.file, ec) || ec) {
				file = path.lexically_normal().string();
				beside = domains_toml::Beside::nothing;
			}
		}
		const domains_toml::Read read = domains_toml::read(read_file(file), file, beside);
		for (const domains_toml::Entry &e : read.entries)
			domain(out, e.where, e.domain, json::parse(e.record), defaults);
		return out;
	}
	if (!backend.can_list())
		return out;
	backend.list([&](std::string_view key, std::string_view text) {
		json stored = json::parse(text, nullptr, false);
		if (stored.is_object()) {
			stored.erase("domain");
			domain(out, "", std::string(key), stored, defaults);
		}
		return true;
	});
	return out;
}

} // namespace mxd
