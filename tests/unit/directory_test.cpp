#include "directory.hpp"

#include "support.hpp"

#include <catch2/catch.hpp>

#include <fstream>

using namespace mxd;
using nlohmann::json;

namespace {

std::shared_ptr<Backend> memory(const json &records, const std::string &gen_file = "")
{
	json config = {{"records", json::object()}};
	for (auto &[k, v] : records.items())
		config["records"][k] = v.dump();
	if (!gen_file.empty())
		config["generation_file"] = gen_file;
	return Backend::open(Plugin::load(test::test_plugin("memory")), config);
}

json body_of(const Answer &a)
{
	auto split = a.full.find("\r\n\r\n");
	REQUIRE(split != std::string::npos);
	return json::parse(a.full.substr(split + 4));
}

} // namespace

TEST_CASE("a listed domain gets its documents; an unlisted one 404", "[directory]")
{
	Directory dir(memory({{"example.org", {{"server", "matrix.example.org:443"},
	                                       {"client", "https://matrix.example.org"}}}}),
	              json::object(), {}, 100);
	auto a = dir.find("example.org");
	CHECK((*a)[Document::server].status == 200);
	CHECK(body_of((*a)[Document::server]) == json{{"m.server", "matrix.example.org:443"}});
	CHECK(body_of((*a)[Document::client]) ==
	      json{{"m.homeserver", {{"base_url", "https://matrix.example.org"}}}});
	CHECK((*a)[Document::support].status == 404);
	CHECK((*a)[Document::policy_server].status == 404);
	CHECK((*a)[Document::server].etag.size() > 2);
	CHECK((*a)[Document::server].not_modified.rfind("Status: 304", 0) == 0);
	const Answer &s = (*a)[Document::server];
	CHECK(s.bytes(true) == serialize(render::document(dir.resolve("example.org"), Document::server,
	                                                  "example.org", {}),
	                                 false));
	CHECK(s.bytes(false) == s.full);

	auto u = dir.find("other.example");
	for (Document d : all_documents) {
		CHECK((*u)[d].status == 404);
		CHECK(body_of((*u)[d])["errcode"] == "M_NOT_FOUND");
	}
	// Never another tenant's document.
	CHECK((*u)[Document::server].full.find("matrix.example.org") == std::string::npos);
}

TEST_CASE("the most specific wildcard wins and {domain} expands to the host", "[directory]")
{
	Directory dir(memory({{"*.example.net", {{"server", "matrix.{domain}:443"}}},
	                      {"*.eu.example.net", {{"server", "eu.example.net:8448"}}},
	                      {"own.example.net", {{"client", "https://own.example.net"}}}}),
	              json::object(), {}, 100);
	CHECK(body_of((*dir.find("a.example.net"))[Document::server]) ==
	      json{{"m.server", "matrix.a.example.net:443"}});
	CHECK(body_of((*dir.find("x.y.example.net"))[Document::server]) ==
	      json{{"m.server", "matrix.x.y.example.net:443"}});
	CHECK(body_of((*dir.find("b.eu.example.net"))[Document::server]) ==
	      json{{"m.server", "eu.example.net:8448"}});
	// An entry of its own shadows every wildcard, parts and all.
	CHECK((*dir.find("own.example.net"))[Document::server].status == 404);
	// The wildcard covers names below, not the name itself.
	CHECK((*dir.find("example.net"))[Document::server].status == 404);
	std::string key;
	CHECK(dir.resolve("q.eu.example.net", &key)["server"] == "eu.example.net:8448");
	CHECK(key == "*.eu.example.net");
}

TEST_CASE("defaults fill the parts a listed domain lacks, and only for listed ones", "[directory]")
{
	json defaults = {{"server", "matrix.{domain}:443"}, {"client", "https://matrix.{domain}"}};
	Directory dir(memory({{"example.org", {{"client", "https://chat.example.org"}}}}), defaults,
	              {}, 100);
	auto a = dir.find("example.org");
	CHECK(body_of((*a)[Document::server]) == json{{"m.server", "matrix.example.org:443"}});
	CHECK(body_of((*a)[Document::client])["m.homeserver"]["base_url"] == "https://chat.example.org");
	CHECK((*dir.find("unlisted.org"))[Document::server].status == 404);
}

TEST_CASE("a template that breaks a rule once expanded answers 500", "[directory]")
{
	const std::string label(63, 'a');
	const std::string host = label + "." + label + "." + label + "." + std::string(56, 'b') + ".net";
	REQUIRE(host.size() == 252);
	Directory dir(memory({{"*." + label + "." + label + "." + std::string(56, 'b') + ".net",
	                       {{"server", "matrix.{domain}:443"}}}}),
	              json::object(), {}, 100);
	CHECK((*dir.find(host))[Document::server].status == 500);
}

TEST_CASE("cached answers are dropped when the generation moves", "[directory]")
{
	test::TempDir d;
	const std::string gen = d.write("gen", "1");
	Directory dir(memory({{"example.org", {{"server", "a.example.org:1"}}}}, gen), json::object(),
	              {}, 100);
	auto first = dir.find("example.org");
	CHECK(dir.find("example.org") == first); // served from the cache
	dir.refresh();
	CHECK(dir.find("example.org") == first); // generation unchanged
	d.write("gen", "2");
	dir.refresh();
	CHECK(dir.find("example.org") != first);
}

TEST_CASE("backend failures propagate and are not cached", "[directory]")
{
	Directory dir(memory(json::object()), json::object(), {}, 100);
	CHECK((*dir.find("a.org"))[Document::client].status == 404);

	auto failing = Plugin::load(test::test_plugin("failing"));
	Directory down(Backend::open(failing, json::object()), json::object(), {}, 100);
	CHECK_THROWS_WITH(down.find("example.org"), "failing: the store is down");
	CHECK_THROWS_WITH(down.find("example.org"), "failing: the store is down");
	CHECK((*down.find("missing.example"))[Document::server].status == 404);
	CHECK_THROWS_AS(Directory(Backend::open(failing, {{"fail_generation", true}}), json::object(),
	                          {}, 1),
	                BackendError);
}

TEST_CASE("a full cache is emptied, never grown past its capacity", "[directory]")
{
	Directory dir(memory({{"*.org", {{"server", "m.{domain}:1"}}}}), json::object(), {}, 2);
	auto a = dir.find("a.org");
	dir.find("b.org");
	CHECK(dir.find("a.org") == a);
	dir.find("c.org"); // over capacity: everything goes
	CHECK(dir.find("a.org") != a);
}
