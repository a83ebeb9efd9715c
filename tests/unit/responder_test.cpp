#include "service/responder.hpp"

#include "support.hpp"

#include <catch2/catch.hpp>

using namespace mxd;
using nlohmann::json;

namespace {

Config memory_config(const json &records)
{
	Config c;
	c.file = "memory.toml";
	c.plugin_dir = test::build_dir() + "/tests/plugins";
	c.backend_name = "memory";
	c.backend = {{"records", json::object()}};
	for (auto &[k, v] : records.items())
		c.backend["records"][k] = v.dump();
	c.defaults = json::object();
	return c;
}

Request get(const char *host, Document doc = Document::client)
{
	Request r;
	r.method = Method::get;
	r.method_name = "GET";
	r.has_target = true;
	r.document = doc;
	r.has_host = host != nullptr;
	r.host = host ? host : "";
	return r;
}

struct Parsed {
	int status;
	std::string head;
	std::string body;
};

Parsed answer(Responder &r, const Request &req)
{
	Reply reply;
	r.answer(req, reply);
	std::string s = reply.wire();
	auto split = s.find("\r\n\r\n");
	REQUIRE(split != std::string::npos);
	return {reply.status, s.substr(0, split + 2), s.substr(split + 4)};
}

const json example = {{"example.org", {{"server", "matrix.example.org:443"},
                                       {"client", "https://matrix.example.org"}}}};

} // namespace

TEST_CASE("GET serves the document of the normalised host", "[responder]")
{
	Responder r(memory_config(example));
	for (const char *h : {"example.org", "Example.ORG", "example.org.", "example.org:443",
	                      "EXAMPLE.org.:8448"}) {
		INFO(h);
		auto a = answer(r, get(h));
		CHECK(a.status == 200);
		CHECK(a.head.rfind("Status: 200 OK\r\n", 0) == 0);
		CHECK(json::parse(a.body)["m.homeserver"]["base_url"] == "https://matrix.example.org");
	}
}

TEST_CASE("HEAD has the headers of GET and no body", "[responder]")
{
	Responder r(memory_config(example));
	Request h = get("example.org");
	h.method = Method::head;
	auto g = answer(r, get("example.org"));
	auto a = answer(r, h);
	CHECK(a.status == 200);
	CHECK(a.head == g.head);
	CHECK(a.body.empty());
}

TEST_CASE("a matching If-None-Match gets 304", "[responder]")
{
	Responder r(memory_config(example));
	auto g = answer(r, get("example.org"));
	auto at = g.head.find("ETag: ");
	REQUIRE(at != std::string::npos);
	std::string tag = g.head.substr(at + 6, g.head.find("\r\n", at) - at - 6);
	Request c = get("example.org");
	c.if_none_match = "\"other\", " + tag;
	auto a = answer(r, c);
	CHECK(a.status == 304);
	CHECK(a.body.empty());
	CHECK_THAT(a.head, Catch::Contains("ETag: " + tag));
	c.if_none_match = "\"other\"";
	CHECK(answer(r, c).status == 200);
}

// "*" matches any current representation, and only a 200 has one: an answer
// that says a host, document or record is wrong keeps its status and body,
// or a client would cache "not modified" for an error.
TEST_CASE("If-None-Match: * makes a 304 of a 200 and of nothing else", "[responder]")
{
	json records = example;
	records["broken.example"] = {{"client", "ftp://matrix.broken.example"}};
	Responder r(memory_config(records));
	const std::pair<const char *, Document> cases[] = {
		{"other.example", Document::client}, // unknown host
		{"127.0.0.1", Document::client},     // IP literal
		{"[::1]", Document::server},         // IP literal
		{"example.org", Document::support},  // document the record lacks
		{"broken.example", Document::client}, // record that does not validate
		{"exa mple.org", Document::client},  // malformed Host
	};
	for (const auto &[host, doc] : cases) {
		INFO(host);
		const Parsed plain = answer(r, get(host, doc));
		REQUIRE(plain.status != 200);
		for (const char *inm : {"*", " * ", "\"x\", *", "W/\"x\", *"}) {
			INFO(inm);
			Request c = get(host, doc);
			c.if_none_match = inm;
			const Parsed a = answer(r, c);
			CHECK(a.status == plain.status);
			CHECK(a.head == plain.head);
			CHECK(a.body == plain.body);
		}
	}
	Request ok = get("example.org");
	ok.if_none_match = "*";
	CHECK(answer(r, ok).status == 304);
}

TEST_CASE("OPTIONS is answered without looking at anything", "[responder]")
{
	Responder r(memory_config(example));
	Request o;
	o.method = Method::options;
	auto a = answer(r, o); // no path, no host
	CHECK(a.status == 204);
	CHECK_THAT(a.head, Catch::Contains("Access-Control-Allow-Origin: *\r\n"));
	CHECK_THAT(a.head, Catch::Contains(
		"Access-Control-Allow-Methods: GET, POST, PUT, DELETE, OPTIONS\r\n"));
	CHECK_THAT(a.head, Catch::Contains(
		"Access-Control-Allow-Headers: X-Requested-With, Content-Type, Authorization\r\n"));
	CHECK(a.body.empty());
}

TEST_CASE("errors: 404 path, 405 method, 400 host, 404 IP literal, 403 role", "[responder]")
{
	Responder r(memory_config(example));
	Request p = get("example.org");
	p.document.reset();
	CHECK(answer(r, p).status == 404);

	Request m = get("example.org");
	m.method = Method::other;
	auto a = answer(r, m);
	CHECK(a.status == 405);
	CHECK_THAT(a.head, Catch::Contains("Allow: GET, HEAD, OPTIONS\r\n"));
	CHECK(json::parse(a.body)["errcode"] == "M_UNRECOGNIZED");

	CHECK(answer(r, get(nullptr)).status == 400);
	CHECK(answer(r, get("exa mple.org")).status == 400);
	CHECK(answer(r, get("a.org, b.org")).status == 400);
	CHECK(answer(r, get("[::1]:8448")).status == 404);
	CHECK(answer(r, get("127.0.0.1")).status == 404);
	CHECK(answer(r, get("other.example")).status == 404);
	CHECK(answer(r, get("example.org", Document::support)).status == 404);

	Request role = get("example.org");
	role.role = Role::other;
	CHECK(answer(r, role).status == 403);

	Request none = get("example.org");
	none.has_target = false;
	none.document.reset();
	CHECK(answer(r, none).status == 400);
}

TEST_CASE("every answer carries Content-Type and the CORS headers", "[responder]")
{
	Responder r(memory_config(example));
	Request m = get("example.org");
	m.method = Method::other;
	Request nopath = get("example.org");
	nopath.document.reset();
	for (const Request &q : {get("example.org"), get("nowhere.org"), get("bad host"), m, nopath}) {
		auto a = answer(r, q);
		INFO(a.head);
		CHECK_THAT(a.head, Catch::Contains("Content-Type: application/json\r\n"));
		CHECK_THAT(a.head, Catch::Contains("Access-Control-Allow-Origin: *\r\n"));
	}
}

TEST_CASE("a backend that cannot answer gives 503 no-store", "[responder]")
{
	Config c = memory_config(json::object());
	c.backend_name = "failing";
	c.backend = json::object();
	Responder r(c);
	auto a = answer(r, get("example.org"));
	CHECK(a.status == 503);
	CHECK_THAT(a.head, Catch::Contains("Cache-Control: no-store\r\n"));
	CHECK(json::parse(a.body)["errcode"] == "M_UNAVAILABLE");
	Request h = get("example.org");
	h.method = Method::head;
	CHECK(answer(r, h).body.empty());
}

TEST_CASE("a missing plugin is an error naming its path", "[responder]")
{
	Config c = memory_config(json::object());
	c.backend_name = "nonexistent";
	CHECK_THROWS_WITH(Responder(c), Catch::Contains(c.plugin_dir + "/nonexistent.so"));
}

TEST_CASE("a redirect: each status with GET, HEAD, If-None-Match and OPTIONS", "[responder]")
{
	for (int status : {301, 302, 307, 308}) {
		INFO(status);
		json records = example;
		records["moved.example"] = {{"redirect", "https://matrix.example.net"},
		                            {"redirect_status", status}};
		Responder r(memory_config(records));
		const auto g = answer(r, get("Moved.Example:443"));
		CHECK(g.status == status);
		CHECK_THAT(g.head, Catch::Contains("\r\nLocation: "
		                                   "https://matrix.example.net/.well-known/matrix/client\r\n"));
		CHECK_THAT(g.head, Catch::Contains("\r\nAccess-Control-Allow-Origin: *\r\n"));
		CHECK_THAT(g.head, Catch::Contains("\r\nCache-Control: public, max-age=14400\r\n"));
		CHECK(json::parse(g.body) ==
		      json{{"location", "https://matrix.example.net/.well-known/matrix/client"}});

		Request h = get("moved.example");
		h.method = Method::head;
		const auto hd = answer(r, h);
		CHECK(hd.status == status);
		CHECK(hd.head == g.head);
		CHECK(hd.body.empty());

		const auto at = g.head.find("ETag: ");
		REQUIRE(at != std::string::npos);
		Request c = get("moved.example");
		c.if_none_match = g.head.substr(at + 6, g.head.find("\r\n", at) - at - 6);
		const auto nm = answer(r, c);
		CHECK(nm.status == 304);
		CHECK(nm.body.empty());
		c.if_none_match = "\"other\"";
		CHECK(answer(r, c).status == status);

		Request o = get("moved.example");
		o.method = Method::options;
		o.method_name = "OPTIONS";
		CHECK(answer(r, o).status == 204);
	}
}

TEST_CASE("a wildcard's redirect to one of its own names is a 500 for that name alone",
          "[responder]")
{
	json records = example;
	records["*.hosting.example"] = {{"redirect", "https://a.hosting.example"}};
	Responder r(memory_config(records));
	CHECK(answer(r, get("b.hosting.example")).status == 302);
	const auto loop = answer(r, get("a.hosting.example"));
	CHECK(loop.status == 500);
	CHECK_THAT(loop.head, Catch::Contains("Cache-Control: no-store"));
}

namespace {

Request health_get(const char *path = "/health")
{
	Request r;
	r.method = Method::get;
	r.method_name = "GET";
	r.has_target = true;
	r.path = path;
	return r;
}

} // namespace

TEST_CASE("the health path: 200 while the store answers, 503 with the reason while it does not",
          "[responder][health]")
{
	test::TempDir d;
	const std::string gen = d.write("gen", "7");
	Config c = memory_config(example);
	c.backend["generation_file"] = gen;
	c.health_path = "/health";
	Responder r(c);

	auto ok = answer(r, health_get());
	CHECK(ok.status == 200);
	CHECK(ok.head.rfind("Status: 200 OK\r\n", 0) == 0);
	CHECK_THAT(ok.head, Catch::Contains("Content-Type: application/json\r\n"));
	CHECK_THAT(ok.head, Catch::Contains("Cache-Control: no-store\r\n"));
	CHECK_THAT(ok.head, Catch::Contains("Access-Control-Allow-Origin: *\r\n"));
	CHECK(json::parse(ok.body) == json{{"status", "ok"}, {"backend", "memory"}, {"generation", 7}});
	CHECK(ok.body.rfind("{\"status\":\"ok\"", 0) == 0);

	d.write("gen", "down");
	auto down = answer(r, health_get());
	CHECK(down.status == 503);
	CHECK_THAT(down.head, Catch::Contains("Cache-Control: no-store\r\n"));
	CHECK(json::parse(down.body) == json{{"status", "unavailable"},
	                                     {"backend", "memory"},
	                                     {"reason", "memory: the store is down"}});

	// Never from a cache: the store's state now, each time.
	d.write("gen", "8");
	auto back = answer(r, health_get());
	CHECK(back.status == 200);
	CHECK(json::parse(back.body)["generation"] == 8);
}

TEST_CASE("the health path: any Host or none, HEAD, 405, OPTIONS, off by default",
          "[responder][health]")
{
	Config c = memory_config(example);
	c.health_path = "/health";
	Responder r(c);

	// The health path names no tenant: the Host is not read.
	for (const char *host : {static_cast<const char *>(nullptr), "", "bad host!", "127.0.0.1"}) {
		INFO((host ? host : "(none)"));
		Request req = health_get();
		req.has_host = host != nullptr;
		req.host = host ? host : "";
		CHECK(answer(r, req).status == 200);
	}

	Request head = health_get();
	head.method = Method::head;
	const auto g = answer(r, health_get());
	const auto h = answer(r, head);
	CHECK(h.status == 200);
	CHECK(h.head == g.head);
	CHECK(h.body.empty());

	Request post = health_get();
	post.method = Method::other;
	post.method_name = "POST";
	auto p = answer(r, post);
	CHECK(p.status == 405);
	CHECK_THAT(p.head, Catch::Contains("Allow: GET, HEAD, OPTIONS\r\n"));

	Request options = health_get();
	options.method = Method::options;
	CHECK(answer(r, options).status == 204);

	// Another path, and a POST to it, are the 404 of any unknown path.
	CHECK(answer(r, health_get("/health/")).status == 404);
	CHECK(answer(r, health_get("/Health")).status == 404);
	post.path = "/other";
	CHECK(answer(r, post).status == 404);

	Responder off(memory_config(example));
	CHECK(answer(off, health_get()).status == 404);
	CHECK(answer(off, health_get("")).status == 404);
}

TEST_CASE("the health path of a store that cannot answer: 503 naming the plugin",
          "[responder][health]")
{
	Config c = memory_config(json::object());
	c.backend_name = "failing";
	c.backend = json::object();
	c.health_path = "/status/health";
	Responder r(c);
	auto a = answer(r, health_get("/status/health"));
	CHECK(a.status == 503);
	CHECK(json::parse(a.body)["reason"] == "failing: the store is down");

	// A message without the plugin's name is given it.
	const std::string bare = "disk on fire";
	const Response named = health_response("sqlite", &bare);
	CHECK(named.status == 503);
	CHECK(json::parse(named.body)["reason"] == "sqlite: disk on fire");
	const std::string multi = "line one\nline two";
	CHECK(json::parse(health_response("x", &multi).body)["reason"] == "x: line one\\x0aline two");
}
