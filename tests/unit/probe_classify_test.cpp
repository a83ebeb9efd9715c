// A fetched document judged against mxdelegate's answer
// (src/probe/probe_classify.cpp): each stable code from the hops alone.
#include "probe/probe_classify.hpp"

#include <catch2/catch.hpp>

using namespace mxd::probe;

namespace {

const std::string origin = "https://app.example";
const std::string url = "https://example.org/.well-known/matrix/server";

Hop answer(long status, std::string body, std::optional<std::string> acao = "*",
           std::string type = "application/json", std::string at = url)
{
	Hop h;
	h.url = std::move(at);
	h.status = status;
	h.body = std::move(body);
	h.allow_origin = std::move(acao);
	h.content_type = std::move(type);
	return h;
}

Hop redirect(long status, std::string from, std::string to, std::optional<std::string> acao = "*")
{
	Hop h = answer(status, "", std::move(acao), "text/html", std::move(from));
	h.location = std::move(to);
	return h;
}

Hop failed(Transport t, std::string text)
{
	Hop h;
	h.url = url;
	h.error = t;
	h.error_text = std::move(text);
	return h;
}

Expected want(std::string body) { return {200, std::move(body), ""}; }

const std::string doc = R"({"m.server":"matrix.example.org:443"})";

} // namespace

TEST_CASE("probe: the same JSON in another layout is ok", "[probe_classify]")
{
	const Outcome o = classify(want(doc), {answer(200, "{ \"m.server\" : \"matrix.example.org:443\" }\n")}, origin);
	CHECK(o.code == "ok");
	CHECK(o.detail.empty());
	CHECK(o.ok());
}

TEST_CASE("probe: another answer is a mismatch with a short diff", "[probe_classify]")
{
	const Outcome o = classify(want(doc), {answer(200, R"({"m.server":"old.example.org:443"})")}, origin);
	CHECK(o.code == "mismatch");
	CHECK(o.detail == R"(m.server: want "matrix.example.org:443", got "old.example.org:443")");
}

TEST_CASE("probe: json_diff names missing, unexpected and changed keys, at most max", "[probe_classify]")
{
	const auto w = nlohmann::json::parse(R"({"a":1,"b":{"c":[1,2]},"d":"x"})");
	const auto g = nlohmann::json::parse(R"({"b":{"c":[1,3]},"d":"x","e":true})");
	CHECK(json_diff(w, g) == "a: missing (want 1); b.c[1]: want 2, got 3; e: unexpected true");
	CHECK(json_diff(w, g, 1) == "a: missing (want 1)");
	CHECK(json_diff(w, w).empty());
	CHECK(json_diff(w, nlohmann::json::array()) == R"((document): want {"a":1,"b":{"c":[1,2]},"d":"x"}, got [])");
}

TEST_CASE("probe: a 404 is not-routed, and says when a browser cannot even see it", "[probe_classify]")
{
	Outcome o = classify(want(doc), {answer(404, "<html><body>404 Not Found</body></html>", std::nullopt, "text/html")},
	                     origin);
	CHECK(o.code == "not-routed");
	CHECK(o.detail == "404 HTML page; without CORS, so a browser sees a network error, not a 404");
	o = classify(want(doc), {answer(404, R"({"errcode":"M_NOT_FOUND"})")}, origin);
	CHECK(o.code == "not-routed");
	CHECK(o.detail == "404");
}

TEST_CASE("probe: CORS on the answer and on every redirect", "[probe_classify]")
{
	Outcome o = classify(want(doc), {answer(200, doc, std::nullopt)}, origin);
	CHECK(o.code == "no-cors");
	CHECK(o.detail == "no Access-Control-Allow-Origin");
	o = classify(want(doc), {answer(200, doc, "https://other.example")}, origin);
	CHECK(o.code == "no-cors");
	CHECK(o.detail == "Access-Control-Allow-Origin: https://other.example");
	CHECK(classify(want(doc), {answer(200, doc, origin)}, origin).ok());

	const std::string to = "https://www.example.org/.well-known/matrix/server";
	o = classify(want(doc), {redirect(301, url, to, std::nullopt), answer(200, doc, "*", "application/json", to)},
	             origin);
	CHECK(o.code == "redirect-without-cors");
	CHECK(o.detail == "301 " + url + " -> " + to);
	CHECK(classify(want(doc), {redirect(301, url, to), answer(200, doc, "*", "application/json", to)}, origin).ok());
}

TEST_CASE("probe: next_hop follows redirects up to the bound, never a URL twice", "[probe_classify]")
{
	std::vector<Hop> hops = {redirect(302, url, "https://a.example/x")};
	CHECK(next_hop(hops) == "https://a.example/x");
	hops.push_back(redirect(302, "https://a.example/x", url));
	CHECK_FALSE(next_hop(hops));
	Outcome o = classify(want(doc), hops, origin);
	CHECK(o.code == "redirect-loop");
	CHECK(o.detail == "back to " + url);

	hops = {redirect(302, url, "https://a.example/1")};
	for (int i = 1; i <= max_redirects; i++)
		hops.push_back(redirect(302, "https://a.example/" + std::to_string(i),
		                        "https://a.example/" + std::to_string(i + 1)));
	CHECK(hops.size() == max_redirects + 1);
	CHECK_FALSE(next_hop(hops));
	o = classify(want(doc), hops, origin);
	CHECK(o.code == "redirect-loop");
	CHECK(o.detail == "more than 4 redirects");
	hops.pop_back();
	CHECK(next_hop(hops));
	CHECK_FALSE(next_hop({answer(200, doc)}));
	CHECK_FALSE(next_hop({failed(Transport::timeout, "x")}));
}

TEST_CASE("probe: HTML challenges are not-json whatever the status; other HTML is named so", "[probe_classify]")
{
	const std::string cf = "<!DOCTYPE html><html><head><title>Just a moment...</title></head>"
	                       "<body><script src=\"/cdn-cgi/challenge-platform/x\"></script></body></html>";
	Outcome o = classify(want(doc), {answer(200, cf, std::nullopt, "text/html; charset=UTF-8")}, origin);
	CHECK(o.code == "not-json");
	CHECK(o.detail == "Cloudflare challenge (status 200)");
	o = classify(want(doc), {answer(403, cf, std::nullopt, "text/html")}, origin);
	CHECK(o.code == "not-json");
	CHECK(o.detail == "Cloudflare challenge (status 403)");
	CHECK(html_kind("", "  <html><body>Please complete the captcha</body></html>") == "captcha page");
	CHECK(html_kind("text/html", "<p>hello</p>") == "HTML page");
	CHECK_FALSE(html_kind("application/json", doc));
	o = classify(want(doc), {answer(200, "<html><body>Welcome to nginx!</body></html>", "*", "text/html")}, origin);
	CHECK(o.code == "not-json");
	CHECK(o.detail == "HTML page (text/html)");
	o = classify(want(doc), {answer(200, "hello", "*", "text/plain")}, origin);
	CHECK(o.code == "not-json");
	CHECK(o.detail == "not a JSON object: hello (text/plain)");
	o = classify(want(doc), {answer(200, "[1]", "*")}, origin);
	CHECK(o.code == "not-json");
}

TEST_CASE("probe: transport failures keep the library's reason", "[probe_classify]")
{
	const std::pair<Transport, const char *> cases[] = {
		{Transport::dns, "dns"}, {Transport::connect, "connect"}, {Transport::tls, "tls"},
		{Transport::timeout, "timeout"}, {Transport::too_large, "too-large"}, {Transport::other, "network"},
	};
	for (const auto &[t, code] : cases) {
		const Outcome o = classify(want(doc), {failed(t, "SSL: no alternative certificate subject name\nmatches")},
		                           origin);
		CHECK(o.code == code);
		CHECK(o.detail == "SSL: no alternative certificate subject name\\x0amatches");
	}
	// After a redirect, the detail says which hop failed.
	Hop end = failed(Transport::dns, "Could not resolve host: www.example.org");
	end.url = "https://www.example.org/x";
	const Outcome o = classify(want(doc), {redirect(301, url, end.url), end}, origin);
	CHECK(o.code == "dns");
	CHECK(o.detail == "Could not resolve host: www.example.org at https://www.example.org/x");
}

TEST_CASE("probe: other statuses are http-STATUS", "[probe_classify]")
{
	Outcome o = classify(want(doc), {answer(502, R"({"errcode":"M_UNKNOWN"})")}, origin);
	CHECK(o.code == "http-502");
	o = classify(want(doc), {answer(304, "")}, origin);
	CHECK(o.code == "http-304");
	// A 3xx without a Location is no redirect to follow.
	o = classify(want(doc), {answer(302, "")}, origin);
	CHECK(o.code == "http-302");
}

TEST_CASE("probe: a redirect of mxdelegate's must be the same redirect", "[probe_classify]")
{
	const Expected moved{302, "", "https://new.example/.well-known/matrix/server"};
	const Hop target = answer(200, R"({"m.server":"x.example:443"})", "*", "application/json", moved.location);
	CHECK(classify(moved, {redirect(302, url, moved.location), target}, origin).ok());
	Outcome o = classify(moved, {redirect(301, url, moved.location), target}, origin);
	CHECK(o.code == "mismatch");
	CHECK(o.detail == "want 302 to " + moved.location + ", got 301 to " + moved.location);
	o = classify(moved, {answer(200, doc)}, origin);
	CHECK(o.code == "mismatch");
	CHECK(o.detail == "want 302 to " + moved.location + ", got 200");
	o = classify(moved, {answer(404, "")}, origin);
	CHECK(o.code == "not-routed");
}

TEST_CASE("probe: clean keeps a detail on one line", "[probe_classify]")
{
	CHECK(clean("a\r\nb", 100) == "a\\x0d\\x0ab");
	CHECK(clean("caf\xc3\xa9", 100) == "caf\xc3\xa9");
	CHECK(clean("\xff", 100) == "\\xff");
}
