#include "core/bounded_json.hpp"

namespace mxd::bounded_json {

std::size_t depth(std::string_view text, std::size_t stop)
{
	std::size_t level = 0, deepest = 0;
	bool in_string = false;
	for (std::size_t i = 0; i < text.size(); i++) {
		const char c = text[i];
		if (in_string) {
			if (c == '\\')
				i++; // the escaped character, a quote included, ends nothing
			else if (c == '"')
				in_string = false;
			continue;
		}
		if (c == '"') {
			in_string = true;
		} else if (c == '[' || c == '{') {
			if (++level > deepest) {
				deepest = level;
				if (deepest > stop)
					return deepest;
			}
		} else if ((c == ']' || c == '}') && level > 0) {
			level--;
		}
	}
	return deepest;
}

Parsed parse(std::string_view text, const Limits &limits)
{
	Parsed p;
	if (text.size() > limits.bytes) {
		p.outcome = Outcome::too_big;
		p.problem = "is " + std::to_string(text.size()) + " bytes, over the limit of " +
		            std::to_string(limits.bytes);
		return p;
	}
	if (depth(text, limits.depth) > limits.depth) {
		p.outcome = Outcome::too_deep;
		p.problem = "nests arrays and objects deeper than the limit of " +
		            std::to_string(limits.depth) + " levels";
		return p;
	}
	nlohmann::json v = nlohmann::json::parse(text, nullptr, false);
	if (v.is_discarded())
		return p;
	p.outcome = Outcome::ok;
	p.value = std::move(v);
	return p;
}

} // namespace mxd::bounded_json
