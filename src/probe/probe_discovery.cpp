#include "probe/probe_discovery.hpp"

#include "core/hostport.hpp"
#include "core/log.hpp"

#include <arpa/inet.h>

#include <algorithm>

namespace mxd::probe {

namespace {

using json = nlohmann::json;

// What a failed fetch looks like in a verdict's reason.
std::string fetch_failure(const std::vector<Hop> &hops)
{
	if (hops.empty())
		return "nothing fetched";
	const Hop &last = hops.back();
	if (last.error != Transport::none)
		return clean(last.error_text, 160);
	if (is_redirect(last.status))
		return "redirects without end";
	return "status " + std::to_string(last.status);
}

bool valid_hostname(std::string_view h)
{
	if (h.empty() || h.size() > 255)
		return false;
	for (char c : h)
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
		      c == '.'))
			return false;
	return true;
}

} // namespace

std::string verdict_name(Verdict v, bool federation)
{
	switch (v) {
	case Verdict::ok: return "ok";
	case Verdict::ignore: return "IGNORE";
	case Verdict::fail_prompt: return "FAIL_PROMPT";
	case Verdict::fail_error: return federation ? "FAIL" : "FAIL_ERROR";
	}
	return "FAIL";
}

Conclusion client_wellknown(const std::vector<Hop> &hops, std::string_view origin)
{
	if (hops.empty())
		return {Verdict::fail_prompt, "nothing fetched", ""};
	// A browser reads nothing of an answer its origin may not read, a 404
	// included: that is a network error to the client, not a 404.
	for (const Hop &h : hops)
		if (h.error == Transport::none && !cors_allows(h, origin))
			return {Verdict::fail_prompt, "no CORS on " + clean(h.url, 160), ""};
	const Hop &last = hops.back();
	if (last.error == Transport::none && last.status == 404)
		return {Verdict::ignore, "404", ""};
	if (last.error != Transport::none || last.status != 200)
		return {Verdict::fail_prompt, fetch_failure(hops), ""};
	const std::optional<json> doc = json_object(last.body);
	if (!doc)
		return {Verdict::fail_prompt, "not a JSON object", ""};
	const auto hs = doc->find("m.homeserver");
	if (hs == doc->end() || !hs->is_object() || !hs->contains("base_url") || !(*hs)["base_url"].is_string())
		return {Verdict::fail_prompt, "no m.homeserver.base_url", ""};
	std::string base = (*hs)["base_url"].get<std::string>();
	const bool https = base.starts_with("https://"), http = base.starts_with("http://");
	const std::string_view rest = std::string_view(base).substr(https ? 8 : http ? 7 : 0);
	if (!(https || http) || rest.empty() || rest.front() == '/')
		return {Verdict::fail_error, "base_url " + clean(base, 160) + " is not an http(s) URL", ""};
	while (base.ends_with('/'))
		base.pop_back();
	return {Verdict::ok, "", base + "/_matrix/client/versions"};
}

Conclusion client_versions(const std::vector<Hop> &hops, std::string_view origin)
{
	const std::string url = hops.empty() ? "" : clean(hops.front().url, 160);
	if (hops.empty() || hops.back().error != Transport::none || hops.back().status != 200)
		return {Verdict::fail_error, url + ": " + fetch_failure(hops), ""};
	for (const Hop &h : hops)
		if (!cors_allows(h, origin))
			return {Verdict::fail_error, url + ": no CORS on " + clean(h.url, 160), ""};
	const std::optional<json> doc = json_object(hops.back().body);
	const auto v = doc ? doc->find("versions") : json::const_iterator();
	if (!doc || v == doc->end() || !v->is_array() ||
	    !std::all_of(v->begin(), v->end(), [](const json &x) { return x.is_string(); }))
		return {Verdict::fail_error, url + ": not a versions answer", ""};
	return {Verdict::ok, "", ""};
}

std::string FedTarget::version_url() const
{
	const bool v6 = host.find(':') != std::string::npos;
	return "https://" + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port) +
	       "/_matrix/federation/v1/version";
}

std::optional<FedTarget> server_name(std::string_view name)
{
	const hostport::Split s = hostport::split(name);
	if (s.fault != hostport::Split::Fault::none || s.several_colons() || s.host.empty())
		return std::nullopt;
	FedTarget t;
	t.host = std::string(s.host);
	if (s.has_port) {
		const hostport::Port p = hostport::read_port(s.port);
		if (!p.usable())
			return std::nullopt;
		t.port = static_cast<std::uint16_t>(p.value);
		t.port_given = true;
	}
	unsigned char buf[16];
	if (s.bracketed) {
		if (::inet_pton(AF_INET6, t.host.c_str(), buf) != 1)
			return std::nullopt;
		t.ip_literal = true;
	} else if (::inet_pton(AF_INET, t.host.c_str(), buf) == 1) {
		t.ip_literal = true;
	} else if (!valid_hostname(t.host)) {
		return std::nullopt;
	}
	return t;
}

FedTarget federation_target(std::string_view domain, const std::vector<Hop> &wellknown, std::string &why)
{
	if (!wellknown.empty() && wellknown.back().error == Transport::none && wellknown.back().status == 200) {
		if (const auto doc = json_object(wellknown.back().body)) {
			const auto s = doc->find("m.server");
			if (s != doc->end() && s->is_string())
				if (auto t = server_name(s->get<std::string>())) {
					why = "m.server " + clean(s->get<std::string>(), 160);
					return *t;
				}
		}
	}
	why = "no usable /server, so the domain itself";
	FedTarget t;
	t.host = std::string(domain);
	return t;
}

std::optional<Srv> pick_srv(const std::vector<Srv> &records)
{
	const Srv *best = nullptr;
	for (const Srv &r : records)
		if (!best || r.priority < best->priority || (r.priority == best->priority && r.weight > best->weight))
			best = &r;
	if (!best || best->target.empty() || best->target == ".")
		return std::nullopt;
	return *best;
}

Conclusion federation_version(const std::vector<Hop> &hops)
{
	const std::string url = hops.empty() ? "" : clean(hops.front().url, 160);
	if (hops.empty() || hops.back().error != Transport::none || hops.back().status != 200)
		return {Verdict::fail_error, url + ": " + fetch_failure(hops), ""};
	const std::optional<json> doc = json_object(hops.back().body);
	if (!doc || !doc->contains("server") || !(*doc)["server"].is_object())
		return {Verdict::fail_error, url + ": not a version answer", ""};
	return {Verdict::ok, "", ""};
}

} // namespace mxd::probe
