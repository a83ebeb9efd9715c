#include "mxdelegatectl/ctl_probe.hpp"

#include "core/ascii.hpp"

#include <nlohmann/json.hpp>

#include <charconv>

namespace mxd::ctl::probe {

Answer parse_wire(std::string_view bytes)
{
	Answer a;
	const std::size_t end = bytes.find("\r\n\r\n");
	std::string_view head = bytes.substr(0, end);
	a.body = end == std::string_view::npos ? "" : std::string(bytes.substr(end + 4));
	while (!head.empty()) {
		const std::size_t nl = head.find("\r\n");
		const std::string_view line = head.substr(0, nl);
		head = nl == std::string_view::npos ? std::string_view() : head.substr(nl + 2);
		const std::size_t colon = line.find(':');
		if (colon == std::string_view::npos)
			continue;
		const std::string_view name = line.substr(0, colon);
		std::string_view value = line.substr(colon + 1);
		while (!value.empty() && value.front() == ' ')
			value.remove_prefix(1);
		if (ascii::iequal(name, "Status"))
			std::from_chars(value.data(), value.data() + value.size(), a.status);
		else if (ascii::iequal(name, "Location"))
			a.location = std::string(value);
	}
	return a;
}

bool served(int status)
{
	return status == 200 || status == 301 || status == 302 || status == 307 || status == 308;
}

std::string expectation(std::string_view domain, std::string_view document, const Answer &a)
{
	nlohmann::json j = {{"domain", domain}, {"document", document}, {"status", a.status}, {"body", a.body}};
	if (!a.location.empty())
		j["location"] = a.location;
	return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

std::vector<std::string> sample_names(std::string_view wildcard_key, std::size_t n)
{
	std::vector<std::string> out;
	if (!wildcard_key.starts_with("*."))
		return out;
	const std::string_view parent = wildcard_key.substr(2);
	for (std::size_t i = 1; i <= n; i++)
		out.push_back("probe-" + std::to_string(i) + "." + std::string(parent));
	return out;
}

} // namespace mxd::ctl::probe
