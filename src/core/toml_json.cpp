#include "core/toml_json.hpp"

#include <cmath>
#include <stdexcept>
#include <type_traits>
#include <variant>

namespace mxd::toml_json {

nlohmann::json to_json(const toml::node &node)
{
	return node.visit([&node](const auto &v) -> nlohmann::json {
		using T = std::remove_cvref_t<decltype(v)>;
		if constexpr (std::is_same_v<T, toml::table>) {
			auto out = nlohmann::json::object();
			for (const auto &[key, child] : v)
				out[std::string(key.str())] = to_json(child);
			return out;
		} else if constexpr (std::is_same_v<T, toml::array>) {
			auto out = nlohmann::json::array();
			for (const auto &child : v)
				out.push_back(to_json(child));
			return out;
		} else if constexpr (std::is_same_v<T, toml::value<double>>) {
			// nlohmann would write inf and nan as null: a silent change
			// of the operator's value.
			if (!std::isfinite(*v))
				throw std::invalid_argument(where(node) +
				    ": inf and nan have no JSON form");
			return *v;
		} else if constexpr (std::is_same_v<T, toml::value<std::string>> ||
		                     std::is_same_v<T, toml::value<std::int64_t>> ||
		                     std::is_same_v<T, toml::value<bool>>) {
			return *v;
		} else {
			throw std::invalid_argument(where(node) +
			    ": a date or time has no JSON form");
		}
	});
}

const toml::node &locate(const toml::node &root, const record::Path &path)
{
	const toml::node *at = &root;
	for (const auto &element : path) {
		const toml::node *next = nullptr;
		if (const auto *key = std::get_if<std::string>(&element)) {
			if (const auto *table = at->as_table())
				next = table->get(*key);
		} else if (const auto *array = at->as_array()) {
			next = array->get(std::get<std::size_t>(element));
		}
		if (!next)
			break;
		at = next;
	}
	return *at;
}

std::string where(const toml::source_region &region)
{
	std::string out = region.path ? *region.path : std::string("-");
	out += ':';
	out += std::to_string(region.begin.line);
	out += ':';
	out += std::to_string(region.begin.column);
	return out;
}

std::string where(const toml::node &node)
{
	return where(node.source());
}

} // namespace mxd::toml_json
