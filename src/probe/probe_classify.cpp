#include "probe/probe_classify.hpp"

#include "core/ascii.hpp"
#include "core/log.hpp"

#include <algorithm>
#include <array>
#include <set>
#include <utility>

namespace mxd::probe {

namespace {

using json = nlohmann::json;

std::string lower(std::string_view s)
{
	std::string out(s);
	for (char &c : out)
		c = ascii::to_lower(c);
	return out;
}

bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

// A value as a diff shows it: compact JSON, cut, on one line.
std::string shown(const json &v)
{
	return clean(v.dump(-1, ' ', false, json::error_handler_t::replace), 60);
}

void diff(const json &want, const json &got, const std::string &path, std::vector<std::string> &out,
          std::size_t max)
{
	if (out.size() >= max || want == got)
		return;
	const std::string where = path.empty() ? "(document)" : path;
	if (want.is_object() && got.is_object()) {
		for (const auto &[k, v] : want.items()) {
			const std::string sub = path.empty() ? k : path + "." + k;
			if (!got.contains(k)) {
				if (out.size() < max)
					out.push_back(clean(sub, 80) + ": missing (want " + shown(v) + ")");
			} else {
				diff(v, got.at(k), sub, out, max);
			}
		}
		for (const auto &[k, v] : got.items())
			if (!want.contains(k) && out.size() < max)
				out.push_back(clean(path.empty() ? k : path + "." + k, 80) + ": unexpected " +
				              shown(v));
		return;
	}
	if (want.is_array() && got.is_array() && want.size() == got.size()) {
		for (std::size_t i = 0; i < want.size(); i++)
			diff(want[i], got[i], path + "[" + std::to_string(i) + "]", out, max);
		return;
	}
	out.push_back(clean(where, 80) + ": want " + shown(want) + ", got " + shown(got));
}

std::string transport_code(Transport t)
{
	switch (t) {
	case Transport::dns: return "dns";
	case Transport::connect: return "connect";
	case Transport::tls: return "tls";
	case Transport::timeout: return "timeout";
	case Transport::too_large: return "too-large";
	case Transport::other:
	case Transport::none: break;
	}
	return "network";
}

// The start of a body, for a detail: what a person recognises a page by.
std::string glimpse(std::string_view body)
{
	std::size_t i = 0;
	while (i < body.size() && is_space(body[i]))
		i++;
	return clean(body.substr(i), 40);
}

} // namespace

std::string clean(std::string_view text, std::size_t max)
{
	return log::one_line(text, {.non_ascii = true, .keep_utf8 = true, .max = max});
}

bool is_redirect(long status)
{
	return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

bool cors_allows(const Hop &hop, std::string_view origin)
{
	if (!hop.allow_origin)
		return false;
	const std::string_view v = *hop.allow_origin;
	return v == "*" || v == origin;
}

std::optional<std::string> next_hop(const std::vector<Hop> &hops)
{
	if (hops.empty())
		return std::nullopt;
	const Hop &last = hops.back();
	if (last.error != Transport::none || !is_redirect(last.status) || last.location.empty())
		return std::nullopt;
	if (hops.size() > static_cast<std::size_t>(max_redirects))
		return std::nullopt;
	for (const Hop &h : hops)
		if (h.url == last.location)
			return std::nullopt;
	return last.location;
}

std::optional<std::string> html_kind(std::string_view content_type, std::string_view body)
{
	const std::string type = lower(content_type);
	std::size_t i = 0;
	while (i < body.size() && is_space(body[i]))
		i++;
	const std::string head = lower(body.substr(i, 16));
	const bool html = type.starts_with("text/html") || type.starts_with("application/xhtml") ||
	                  head.starts_with("<!doctype html") || head.starts_with("<html");
	if (!html)
		return std::nullopt;
	const std::string text = lower(body);
	// The marks the common CDNs and WAFs put in their interstitial pages;
	// a page with one of them is a challenge whatever its status says.
	static constexpr std::array<std::pair<std::string_view, std::string_view>, 11> marks{{
		{"cf-chl", "Cloudflare challenge"},
		{"challenge-platform", "Cloudflare challenge"},
		{"cf-browser-verification", "Cloudflare challenge"},
		{"attention required! | cloudflare", "Cloudflare block page"},
		{"_incapsula_resource", "Imperva challenge"},
		{"ddos-guard", "DDoS-Guard challenge"},
		{"sgcaptcha", "SiteGround challenge"},
		{"px-captcha", "PerimeterX challenge"},
		{"awswaf", "AWS WAF challenge"},
		{"just a moment...", "bot challenge"},
		{"captcha", "captcha page"},
	}};
	for (const auto &[mark, name] : marks)
		if (text.find(mark) != std::string::npos)
			return std::string(name);
	return std::string("HTML page");
}

std::string json_diff(const json &want, const json &got, std::size_t max)
{
	std::vector<std::string> out;
	diff(want, got, "", out, max);
	std::string s;
	for (const std::string &d : out)
		s += (s.empty() ? "" : "; ") + d;
	return s;
}

std::optional<json> json_object(std::string_view body)
{
	json v = json::parse(body, nullptr, /*allow_exceptions=*/false);
	if (v.is_discarded() || !v.is_object())
		return std::nullopt;
	return v;
}

Outcome classify(const Expected &want, const std::vector<Hop> &hops, std::string_view origin)
{
	if (hops.empty())
		return {"network", "nothing fetched"};
	const Hop &last = hops.back();
	const std::string where = hops.size() > 1 ? " at " + clean(last.url, 200) : "";
	if (last.error != Transport::none)
		return {transport_code(last.error), clean(last.error_text, 200) + where};
	if (is_redirect(last.status) && !last.location.empty()) {
		bool seen = false;
		for (std::size_t i = 0; i + 1 < hops.size(); i++)
			seen = seen || hops[i].url == last.location;
		return {"redirect-loop", seen ? "back to " + clean(last.location, 200)
		                              : "more than " + std::to_string(max_redirects) + " redirects"};
	}
	// A browser follows a redirect only when the redirect itself lets the
	// page's origin read it.
	for (std::size_t i = 0; i + 1 < hops.size(); i++)
		if (!cors_allows(hops[i], origin))
			return {"redirect-without-cors", std::to_string(hops[i].status) + " " +
			                                     clean(hops[i].url, 200) + " -> " +
			                                     clean(hops[i].location, 200)};
	const bool want_redirect = is_redirect(want.status);
	if (want_redirect) {
		const Hop &first = hops.front();
		if (first.status == 404 || first.status == 410)
			return {"not-routed", std::to_string(first.status) + " for a redirect of mxdelegate's"};
		if (first.status != want.status || first.location != want.location)
			return {"mismatch", "want " + std::to_string(want.status) + " to " +
			                        clean(want.location, 200) + ", got " +
			                        std::to_string(first.status) +
			                        (first.location.empty() ? "" : " to " + clean(first.location, 200))};
	}
	const std::optional<std::string> page = html_kind(last.content_type, last.body);
	if (page && *page != "HTML page")
		return {"not-json", *page + " (status " + std::to_string(last.status) + ")" + where};
	if (last.status == 404 || last.status == 410) {
		std::string d = std::to_string(last.status) + (page ? " " + *page : "") + where;
		if (!cors_allows(last, origin))
			d += "; without CORS, so a browser sees a network error, not a 404";
		return {"not-routed", d};
	}
	if (last.status != 200)
		return {"http-" + std::to_string(last.status), (page ? *page : glimpse(last.body)) + where};
	const std::optional<json> got = json_object(last.body);
	if (!got)
		return {"not-json", (page ? *page : "not a JSON object: " + glimpse(last.body)) +
		                        (last.content_type.empty() ? "" : " (" + clean(last.content_type, 60) + ")") +
		                        where};
	if (!want_redirect) {
		const std::optional<json> expected = json_object(want.body);
		const json w = expected ? *expected : json();
		if (w != *got)
			return {"mismatch", json_diff(w, *got)};
	}
	if (!cors_allows(last, origin))
		return {"no-cors", last.allow_origin ? "Access-Control-Allow-Origin: " + clean(*last.allow_origin, 80)
		                                     : "no Access-Control-Allow-Origin"};
	return {"ok", ""};
}

} // namespace mxd::probe
