#include "plugin/plugin_config.hpp"

#include "core/log.hpp"
#include "plugin/plugin_strings.hpp"

#include <filesystem>

namespace mxd::plugin {

namespace {

const Key *known(const ConfigRules &rules, std::string_view name)
{
	static const Key core_keys[] = {{"config_file"}, {"config_dir"}};
	static const Key access_key{"access"};
	for (const Key &k : rules.keys)
		if (k.name == name)
			return &k;
	for (const Key &k : core_keys)
		if (k.name == name)
			return &k;
	return rules.writable && name == access_key.name ? &access_key : nullptr;
}

bool fits(const Key &k, const nlohmann::json &value)
{
	if (k.type == Key::text)
		return value.is_string();
	if (!value.is_number_integer())
		return false;
	// Above INT64_MAX an unsigned value cannot be in any range we offer.
	if (value.is_number_unsigned() && value.get<std::uint64_t>() > INT64_MAX)
		return false;
	const auto n = value.get<std::int64_t>();
	return n >= k.min && n <= k.max;
}

} // namespace

PluginConfig::PluginConfig(const char *config_json, const ConfigRules &rules)
{
	const std::string prefix(rules.prefix);
	if (!config_json)
		throw StatusError(MXD_ERROR, prefix + "no configuration");
	config_ = nlohmann::json::parse(config_json);
	if (!config_.is_object())
		throw StatusError(MXD_ERROR, prefix + "configuration is not a JSON object");
	for (const auto &[name, value] : config_.items()) {
		const Key *k = known(rules, name);
		if (!k) {
			std::string message = prefix + "unknown key in [backend]: " + log::one_line(name);
			if (rules.list_known) {
				message += " (known:";
				for (const Key &o : rules.keys)
					message += std::string(&o == &rules.keys.front() ? " " : ", ") + std::string(o.name);
				message += ")";
			}
			throw StatusError(MXD_ERROR, message);
		}
		if (!fits(*k, value))
			throw StatusError(MXD_ERROR, prefix + "[backend] " + name + ": " + std::string(k->must));
		if (name != "access")
			continue;
		const auto &v = value.get_ref<const std::string &>();
		if (v == "read")
			access_ = Access::read;
		else if (v == "write")
			access_ = Access::write;
		else if (v == "create")
			access_ = Access::create;
		else
			throw StatusError(MXD_ERROR, prefix + "access: \"" + log::one_line(v) +
			                                 "\" is not read, write or create");
	}
}

const nlohmann::json *PluginConfig::find(std::string_view key) const
{
	const auto it = config_.find(std::string(key));
	return it == config_.end() ? nullptr : &*it;
}

const std::string *PluginConfig::text(std::string_view key) const
{
	const auto *v = find(key);
	return v ? v->get_ptr<const std::string *>() : nullptr;
}

std::optional<std::int64_t> PluginConfig::integer(std::string_view key) const
{
	if (const auto *v = find(key); v && v->is_number_integer())
		return v->get<std::int64_t>();
	return std::nullopt;
}

std::string PluginConfig::resolve(const std::string &path) const
{
	namespace fs = std::filesystem;
	fs::path p(path);
	if (p.is_relative()) {
		const std::string *dir = text("config_dir");
		const std::string *file = text("config_file");
		if (dir && !dir->empty())
			p = fs::path(*dir) / p;
		else if (file && !file->empty())
			p = fs::path(*file).parent_path() / p;
	}
	return p.lexically_normal().string();
}

} // namespace mxd::plugin
