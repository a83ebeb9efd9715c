#include "service/directory.hpp"

#include "support.hpp"

#include <catch2/catch.hpp>

#include "service/metrics.hpp"

#include <chrono>
#include <fstream>
#include <map>
#include <random>
#include <thread>

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

// The answer for one document, kept alive by the cache or by `keep`.
const Answer &doc(Directory &dir, const std::string &host, Document d)
{
	static std::vector<std::shared_ptr<const Answer>> keep;
	keep.push_back(dir.find(host, d).answer);
	return *keep.back();
}

Directory::Limits hosts(std::size_t n)
{
	Directory::Limits l;
	l.hosts = n;
	return l;
}

// The real TOML plugin (MXD_IN_MEMORY, list()) over `domains`, a file of
// its own beside the configuration.
std::shared_ptr<Backend> toml_store(const test::TempDir &d)
{
	d.write("mxdelegate.toml", "[backend]\nname = \"toml\"\npath = \"domains.toml\"\n");
	return Backend::open(Plugin::load(test::plugin_dir() + "/toml.so"),
	                     {{"config_file", d.file("mxdelegate.toml")},
	                      {"config_dir", d.path()},
	                      {"path", "domains.toml"}});
}

Directory::Limits preloading()
{
	Directory::Limits l;
	l.preload = true;
	return l;
}

std::uint64_t lookups() { return metrics::sum().lookups; }

json body_of(const Answer &a)
{
	const std::string full = a.wire();
	auto split = full.find("\r\n\r\n");
	REQUIRE(split != std::string::npos);
	return json::parse(full.substr(split + 4));
}

} // namespace

TEST_CASE("a listed domain gets its documents; an unlisted one 404", "[directory]")
{
	Directory dir(memory({{"example.org", {{"server", "matrix.example.org:443"},
	                                       {"client", "https://matrix.example.org"}}}}),
	              json::object(), {}, hosts(100));
	CHECK(doc(dir, "example.org", Document::server).status == 200);
	CHECK(body_of(doc(dir, "example.org", Document::server)) ==
	      json{{"m.server", "matrix.example.org:443"}});
	CHECK(body_of(doc(dir, "example.org", Document::client)) ==
	      json{{"m.homeserver", {{"base_url", "https://matrix.example.org"}}}});
	CHECK(doc(dir, "example.org", Document::support).status == 404);
	CHECK(doc(dir, "example.org", Document::policy_server).status == 404);
	CHECK(doc(dir, "example.org", Document::server).etag().size() > 2);
	const Answer &s = doc(dir, "example.org", Document::server);
	CHECK(s.wire(true) == serialize(render::document(dir.resolve("example.org"), Document::server,
	                                                  "example.org", {}),
	                                 false));
	CHECK(s.bytes(false) == s.rest);

	for (Document d : all_documents) {
		CHECK(doc(dir, "other.example", d).status == 404);
		CHECK(body_of(doc(dir, "other.example", d))["errcode"] == "M_NOT_FOUND");
	}
	// Never another tenant's document.
	CHECK(doc(dir, "other.example", Document::server).wire().find("matrix.example.org") ==
	      std::string::npos);
}

TEST_CASE("the most specific wildcard wins and {domain} expands to the host", "[directory]")
{
	Directory dir(memory({{"*.example.net", {{"server", "matrix.{domain}:443"}}},
	                      {"*.eu.example.net", {{"server", "eu.example.net:8448"}}},
	                      {"own.example.net", {{"client", "https://own.example.net"}}}}),
	              json::object(), {}, hosts(100));
	CHECK(body_of(doc(dir, "a.example.net", Document::server)) ==
	      json{{"m.server", "matrix.a.example.net:443"}});
	CHECK(body_of(doc(dir, "x.y.example.net", Document::server)) ==
	      json{{"m.server", "matrix.x.y.example.net:443"}});
	CHECK(body_of(doc(dir, "b.eu.example.net", Document::server)) ==
	      json{{"m.server", "eu.example.net:8448"}});
	// An entry of its own shadows every wildcard, parts and all.
	CHECK(doc(dir, "own.example.net", Document::server).status == 404);
	// The wildcard covers names below, not the name itself.
	CHECK(doc(dir, "example.net", Document::server).status == 404);
	std::string key;
	CHECK(dir.resolve("q.eu.example.net", &key)["server"] == "eu.example.net:8448");
	CHECK(key == "*.eu.example.net");
}

TEST_CASE("defaults fill the parts a listed domain lacks, and only for listed ones", "[directory]")
{
	json defaults = {{"server", "matrix.{domain}:443"}, {"client", "https://matrix.{domain}"}};
	Directory dir(memory({{"example.org", {{"client", "https://chat.example.org"}}}}), defaults,
	              {}, hosts(100));
	CHECK(body_of(doc(dir, "example.org", Document::server)) ==
	      json{{"m.server", "matrix.example.org:443"}});
	CHECK(body_of(doc(dir, "example.org", Document::client))["m.homeserver"]["base_url"] ==
	      "https://chat.example.org");
	CHECK(doc(dir, "unlisted.org", Document::server).status == 404);
}

TEST_CASE("a template that breaks a rule once expanded answers 500", "[directory]")
{
	const std::string label(63, 'a');
	const std::string host = label + "." + label + "." + label + "." + std::string(56, 'b') + ".net";
	REQUIRE(host.size() == 252);
	Directory dir(memory({{"*." + label + "." + label + "." + std::string(56, 'b') + ".net",
	                       {{"server", "matrix.{domain}:443"}}}}),
	              json::object(), {}, hosts(100));
	CHECK(doc(dir, host, Document::server).status == 500);
}

TEST_CASE("cached answers are dropped when the generation moves", "[directory]")
{
	test::TempDir d;
	const std::string gen = d.write("gen", "1");
	Directory dir(memory({{"example.org", {{"server", "a.example.org:1"}}}}, gen), json::object(),
	              {}, hosts(100));
	const auto find = [&] { return dir.find("example.org", Document::server).answer; };
	auto first = find();
	CHECK(find() == first); // served from the cache
	dir.refresh();
	CHECK(find() == first); // generation unchanged
	d.write("gen", "2");
	dir.refresh();
	CHECK(find() != first);
}

TEST_CASE("backend failures propagate and are not cached", "[directory]")
{
	Directory dir(memory(json::object()), json::object(), {}, hosts(100));
	CHECK(doc(dir, "a.org", Document::client).status == 404);

	auto failing = Plugin::load(test::test_plugin("failing"));
	Directory down(Backend::open(failing, json::object()), json::object(), {}, hosts(100));
	CHECK_THROWS_WITH(down.find("example.org", Document::server), "failing: the store is down");
	CHECK_THROWS_WITH(down.find("example.org", Document::server), "failing: the store is down");
	CHECK(doc(down, "missing.example", Document::server).status == 404);
	CHECK_THROWS_AS(Directory(Backend::open(failing, {{"fail_generation", true}}), json::object(),
	                          {}, hosts(1)),
	                BackendError);
}

TEST_CASE("a directory that does not watch never asks the store's generation", "[directory]")
{
	// A CGI request's: the store answers, its generation check would fail.
	auto failing = Plugin::load(test::test_plugin("failing"));
	Directory::Limits once = hosts(1);
	once.watch = false;
	Directory dir(Backend::open(failing, {{"fail_generation", true}}), json::object(), {}, once);
	CHECK(dir.generation() == 0);
	CHECK(doc(dir, "missing.example", Document::server).status == 404);
	// refresh() is the server's, and asks.
	CHECK_THROWS_AS(dir.refresh(), BackendError);
}

TEST_CASE("a full cache makes room by dropping its oldest host, one at a time", "[directory]")
{
	Directory dir(memory({{"*.org", {{"server", "m.{domain}:1"}}}}), json::object(), {}, hosts(2));
	const auto find = [&](const char *h) { return dir.find(h, Document::server).answer; };
	auto a = find("a.org");
	auto b = find("b.org");
	CHECK(find("a.org") == a);
	auto c = find("c.org"); // over capacity: a.org, the oldest, goes
	CHECK(find("b.org") == b);
	CHECK(find("c.org") == c);
	auto a2 = find("a.org"); // b.org goes now
	CHECK(a2 != a);
	CHECK(find("c.org") == c);
	CHECK(find("b.org") != b);
}

TEST_CASE("only the document asked for is rendered; the others follow on demand", "[directory]")
{
	Directory dir(memory({{"example.org", {{"server", "m.example.org:1"},
	                                       {"client", "https://m.example.org"}}}}),
	              json::object(), {}, hosts(100));
	const auto server = dir.find("example.org", Document::server).answer;
	const auto client = dir.find("example.org", Document::client).answer;
	CHECK(body_of(*client)["m.homeserver"]["base_url"] == "https://m.example.org");
	// Adding the second document kept the first.
	CHECK(dir.find("example.org", Document::server).answer == server);
	CHECK(dir.find("example.org", Document::client).answer == client);
}

TEST_CASE("stale-if-error: a cached answer outlives a failing backend", "[directory]")
{
	test::TempDir d;
	const std::string gen = d.write("gen", "1");
	Directory dir(memory({{"example.org", {{"server", "a.example.org:1"}}}}, gen), json::object(),
	              {}, hosts(100));
	const auto first = dir.find("example.org", Document::server);
	CHECK_FALSE(first.stale);

	SECTION("the generation check fails: cached answers are served stale, without asking")
	{
		d.write("gen", "down");
		CHECK_THROWS_WITH(dir.refresh(), "memory: the store is down");
		const auto again = dir.find("example.org", Document::server);
		CHECK(again.answer == first.answer);
		CHECK(again.stale);
		// Nothing cached for this document or host: the failure shows.
		CHECK_THROWS_WITH(dir.find("example.org", Document::client), "memory: the store is down");
		CHECK_THROWS_WITH(dir.find("other.org", Document::server), "memory: the store is down");
		d.write("gen", "1");
		dir.refresh();
		CHECK_FALSE(dir.find("example.org", Document::server).stale);
	}
	SECTION("the generation moved, then lookups fail: the stale answer, marked so")
	{
		d.write("gen", "2");
		dir.refresh();
		d.write("gen", "down");
		const auto again = dir.find("example.org", Document::server);
		CHECK(again.answer == first.answer);
		CHECK(again.stale);
		d.write("gen", "2");
		const auto fresh = dir.find("example.org", Document::server);
		CHECK_FALSE(fresh.stale);
		CHECK(fresh.answer != first.answer); // asked again, and kept
		CHECK(dir.find("example.org", Document::server).answer == fresh.answer);
	}
	SECTION("stale_max_age = 0 turns it off")
	{
		render::Policy off;
		off.stale_max_age = 0;
		Directory strict(memory({{"example.org", {{"server", "a.example.org:1"}}}}, gen),
		                 json::object(), off, hosts(100));
		strict.find("example.org", Document::server);
		d.write("gen", "3");
		strict.refresh();
		d.write("gen", "down");
		CHECK_THROWS_WITH(strict.find("example.org", Document::server), "memory: the store is down");
	}
}

TEST_CASE("a flood of unknown hosts never pushes out a tenant's last good answer", "[directory]")
{
	test::TempDir d;
	const std::string gen = d.write("gen", "1");
	json records = json::object();
	for (int i = 0; i < 50; i++)
		records["tenant" + std::to_string(i) + ".example"] = {
		        {"server", "matrix.tenant" + std::to_string(i) + ".example:443"}};
	Directory::Limits limits;
	limits.bytes = 1024 * 1024;
	Directory dir(memory(records, gen), json::object(), {}, limits);
	std::vector<std::shared_ptr<const Answer>> first;
	for (int i = 0; i < 50; i++)
		first.push_back(dir.find("tenant" + std::to_string(i) + ".example", Document::server).answer);
	const auto tenants = dir.usage();
	CHECK(tenants.hosts == 50);
	CHECK(tenants.bytes > 50 * 300);

	std::mt19937_64 random(14);
	for (int i = 0; i < 100000; i++) {
		const std::string host = std::to_string(random()) + ".flood.example";
		REQUIRE(dir.find(host, Document::server).answer->status == 404);
	}
	const auto flooded = dir.usage();
	CHECK(flooded.hosts == 50);
	CHECK(flooded.bytes == tenants.bytes);
	// Negative entries live in their own budget, a sixteenth of the
	// positive one, and fill it.
	CHECK(flooded.unknown_bytes <= limits.bytes / 16);
	CHECK(flooded.unknown_bytes > limits.bytes / 16 - 1024);
	CHECK(flooded.unknown < 100000);
	CHECK(flooded.unknown > 100);

	SECTION("the generation check fails: every tenant is served its last answer")
	{
		d.write("gen", "down");
		CHECK_THROWS(dir.refresh());
	}
	SECTION("the generation moved, then every lookup fails: the same")
	{
		d.write("gen", "2");
		dir.refresh();
		d.write("gen", "down");
	}
	for (int i = 0; i < 50; i++) {
		const auto found = dir.find("tenant" + std::to_string(i) + ".example", Document::server);
		CHECK(found.answer == first[i]);
		CHECK(found.stale);
		CHECK(found.answer->status == 200);
	}
}

TEST_CASE("positive entries are bounded in bytes, oldest out first", "[directory]")
{
	json records = json::object();
	for (int i = 0; i < 200; i++)
		records["t" + std::to_string(i) + ".example"] = {
		        {"client", "https://matrix.t" + std::to_string(i) + ".example"},
		        {"server", "matrix.t" + std::to_string(i) + ".example:443"}};
	Directory::Limits limits;
	limits.bytes = 16 * 1024;
	Directory dir(memory(records), json::object(), {}, limits);
	std::size_t most = 0;
	for (int i = 0; i < 200; i++) {
		for (Document doc : {Document::server, Document::client, Document::support}) {
			dir.find("t" + std::to_string(i) + ".example", doc);
			const auto u = dir.usage();
			CHECK(u.bytes <= limits.bytes);
			most = std::max(most, u.hosts);
		}
	}
	// Two answers of about 140 bytes of their own (the lead and the 404 are
	// shared), each with its Answer, and the bookkeeping: some 24 hosts.
	CHECK(most > 15);
	CHECK(most < 35);
	// The newest stayed, the oldest went.
	const auto last = dir.find("t199.example", Document::server).answer;
	CHECK(dir.find("t199.example", Document::server).answer == last);
	const auto hosts_before = dir.usage().hosts;
	const auto oldest = dir.find("t0.example", Document::server).answer;
	CHECK(dir.usage().hosts <= hosts_before);
	CHECK(dir.find("t0.example", Document::server).answer == oldest); // kept again now

	SECTION("an entry larger than the whole budget is served, not kept")
	{
		Directory::Limits tiny;
		tiny.bytes = 200;
		Directory small(memory(records), json::object(), {}, tiny);
		const auto a = small.find("t1.example", Document::server).answer;
		CHECK(a->status == 200);
		CHECK(small.usage().hosts == 0);
		CHECK(small.usage().bytes == 0);
	}
}

TEST_CASE("unknown hosts are cached apart, and answered 404 without asking again",
          "[directory]")
{
	test::TempDir d;
	const std::string gen = d.write("gen", "1");
	Directory dir(memory({{"example.org", {{"server", "a.example.org:1"}}}}, gen), json::object(),
	              {}, {});
	CHECK(dir.find("example.org", Document::server).answer->status == 200);
	CHECK(dir.find("gone.example", Document::server).answer->status == 404);
	CHECK(dir.usage().hosts == 1);
	CHECK(dir.usage().unknown == 1);
	d.write("gen", "down"); // lookups fail from now on
	const auto again = dir.find("gone.example", Document::client);
	CHECK(again.answer->status == 404);
	CHECK_FALSE(again.stale);
	CHECK_THROWS_WITH(dir.find("other.example", Document::server), "memory: the store is down");
}

TEST_CASE("the wildcard walk stops at wildcard_depth labels of parent", "[directory]")
{
	const std::string deep = "a.b.c.d.e.f.g.h.i.example.net"; // parent of 10 labels
	Directory::Limits limits;
	limits.wildcard_depth = 3;
	Directory dir(memory({{"*.example.net", {{"server", "m.example.net:1"}}},
	                      {"*.b.c.d.e.f.g.h.i.example.net", {{"server", "deep.example.net:1"}}},
	                      {deep, {{"server", "exact.example.net:1"}}}}),
	              json::object(), {}, limits);
	// The exact name is always asked for, whatever its depth.
	CHECK(body_of(doc(dir, deep, Document::server))["m.server"] == "exact.example.net:1");
	// A wildcard whose parent is deeper than the bound is never asked for;
	// one within it still answers.
	CHECK(body_of(doc(dir, "x." + deep.substr(2), Document::server))["m.server"] ==
	      "m.example.net:1");
	std::string labels;
	for (int i = 0; i < 125; i++)
		labels += "a.";
	CHECK(body_of(doc(dir, labels + "example.net", Document::server))["m.server"] ==
	      "m.example.net:1");
}

TEST_CASE("a record too deep or too large is a 500 for its hosts alone", "[directory]")
{
	std::string deep = "{\"server\":\"m.deep.example:1\",\"client_extra\":{\"x\":";
	// 30,000 levels: within the size limit, so that depth is what refuses it.
	for (int i = 0; i < 30000; i++)
		deep += "[";
	for (int i = 0; i < 30000; i++)
		deep += "]";
	deep += "}}";
	const std::string big = "{\"server\":\"m.big.example:1\",\"note\":\"" +
	                        std::string(100000, 'n') + "\"}";
	json config = {{"records",
	                {{"deep.example", deep},
	                 {"*.big.example", big},
	                 {"ok.example", json{{"server", "m.ok.example:1"}}.dump()}}}};
	Directory dir(Backend::open(Plugin::load(test::test_plugin("memory")), config), json::object(),
	              {}, {});
	for (Document d : all_documents) {
		CHECK(doc(dir, "deep.example", d).status == 500);
		CHECK(doc(dir, "a.big.example", d).status == 500);
	}
	CHECK(doc(dir, "ok.example", Document::server).status == 200);
	CHECK_THROWS_AS(dir.resolve("deep.example"), Directory::OverLimit);
	CHECK_THROWS_WITH(dir.resolve("deep.example"),
	                  "record nests arrays and objects deeper than the limit of 64 levels");
	CHECK_THROWS_WITH(dir.resolve("x.big.example"),
	                  "record is 100038 bytes, over the limit of 65536");
}

TEST_CASE("adopt: a reload's directory keeps the last good answers, each asked again", "[directory]")
{
	test::TempDir d;
	const std::string gen = d.write("gen", "1");
	const json records = {{"example.org", {{"server", "a.example.org:1"}}}};
	Directory old(memory(records, gen), json::object(), {}, hosts(100));
	const auto first = old.find("example.org", Document::server);
	old.find("unknown.org", Document::server);

	Directory next(memory(records, gen), json::object(), {}, hosts(100));
	next.adopt(old);
	CHECK(next.usage().hosts == 1);
	CHECK(next.usage().unknown == 1);
	SECTION("the store fails: the adopted answer, stale, not the failure")
	{
		d.write("gen", "down");
		const auto again = next.find("example.org", Document::server);
		CHECK(again.answer == first.answer);
		CHECK(again.stale);
	}
	SECTION("the store answers: asked again, since the new handle's generation says nothing")
	{
		const auto fresh = next.find("example.org", Document::server);
		CHECK_FALSE(fresh.stale);
		CHECK(fresh.answer != first.answer);
	}
	SECTION("within the new directory's budget, oldest out first")
	{
		Directory none(memory(records, gen), json::object(), {}, hosts(0));
		none.adopt(old);
		CHECK(none.usage().hosts == 0);
	}
}

TEST_CASE("preload: an in-memory store's exact names answer without a lookup", "[directory]")
{
	test::TempDir d;
	d.write("domains.toml", "[domains.\"example.org\"]\nserver = \"matrix.example.org:443\"\n"
	                        "[domains.\"bare.example\"]\nclient = \"https://chat.bare.example\"\n"
	                        "[domains.\"*.example.net\"]\nserver = \"m.{domain}:443\"\n");
	const json defaults = {{"support", {{"support_page", "https://help.{domain}/"}}}};
	Directory dir(toml_store(d), defaults, {}, preloading());
	// The same answers a miss would give, which a directory without the
	// preload gives.
	Directory plain(toml_store(d), defaults, {}, hosts(100));
	CHECK(dir.usage().preloaded == 2);
	CHECK(dir.usage().preloaded_bytes > 0);
	CHECK(plain.usage().preloaded == 0);

	std::map<std::pair<std::string, Document>, std::string> expected;
	for (const char *host : {"example.org", "bare.example"})
		for (Document doc : all_documents)
			expected[{host, doc}] = plain.find(host, doc).answer->wire();
	const auto before = lookups();
	for (const auto &[which, full] : expected) {
		const auto found = dir.find(which.first, which.second);
		CHECK(found.hit);
		CHECK_FALSE(found.stale);
		CHECK(found.answer->wire() == full);
	}
	CHECK(lookups() == before);
	CHECK(dir.find("example.org", Document::support).answer->status == 200);
	CHECK(body_of(*dir.find("bare.example", Document::support).answer)["support_page"] ==
	      "https://help.bare.example/");
	// Nothing of it went into the cache, nor counts against cache_bytes.
	CHECK(dir.usage().hosts == 0);
	CHECK(dir.usage().bytes == 0);

	// A name under the wildcard and an unknown name take the lookup path,
	// and the cache after it.
	for (const char *host : {"a.example.net", "unknown.example"}) {
		const auto first = dir.find(host, Document::server);
		CHECK_FALSE(first.hit);
		CHECK(lookups() > before);
		CHECK(dir.find(host, Document::server).hit);
	}
	CHECK(body_of(*dir.find("a.example.net", Document::server).answer) ==
	      json{{"m.server", "m.a.example.net:443"}});
	CHECK(dir.usage().hosts == 1);
	CHECK(dir.usage().unknown == 1);
}

TEST_CASE("preload: a record invalid with the defaults is a 500 for each document", "[directory]")
{
	test::TempDir d;
	// Valid alone; with the defaults' server template, a name past 255
	// characters.
	const std::string label(63, 'a');
	const std::string host = label + "." + label + "." + label + "." + std::string(56, 'b') + ".net";
	REQUIRE(host.size() == 252);
	d.write("domains.toml", "[domains.\"" + host + "\"]\nclient = \"https://chat.example.org\"\n"
	                        "[domains.\"fine.example\"]\nclient = \"https://chat.fine.example\"\n");
	const json defaults = {{"server", "matrix.{domain}:443"}};
	Directory plain(toml_store(d), defaults, {}, hosts(100));
	Directory dir(toml_store(d), defaults, {}, preloading());
	REQUIRE(dir.usage().preloaded == 2);
	const std::string expected = plain.find(host, Document::client).answer->wire();
	REQUIRE(plain.find(host, Document::client).answer->status == 500);
	const auto before = lookups();
	for (Document doc : all_documents) {
		const auto found = dir.find(host, doc);
		CHECK(found.hit);
		CHECK(found.answer->status == 500);
		CHECK(found.answer->wire() == expected);
	}
	CHECK(lookups() == before);
	CHECK(dir.find("fine.example", Document::client).answer->status == 200);
}

TEST_CASE("preload: an edited file never leaves old answers in the table", "[directory]")
{
	test::TempDir d;
	d.write("domains.toml", "[domains.\"example.org\"]\nserver = \"old.example.org:443\"\n"
	                        "[domains.\"gone.example\"]\nserver = \"gone.example:443\"\n");
	Directory dir(toml_store(d), json::object(), {}, preloading());
	REQUIRE(body_of(*dir.find("example.org", Document::server).answer) ==
	        json{{"m.server", "old.example.org:443"}});
	// Replaced by rename, as the man pages advise: a new inode is read at
	// the plugin's next check (within a second).
	d.write("domains.new", "[domains.\"example.org\"]\nserver = \"new.example.org:443\"\n"
	                       "[domains.\"added.example\"]\nserver = \"added.example:443\"\n");
	std::filesystem::rename(d.file("domains.new"), d.file("domains.toml"));
	const auto generation = dir.generation();
	const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
	while (dir.generation() == generation && std::chrono::steady_clock::now() < deadline) {
		std::this_thread::sleep_for(std::chrono::milliseconds(20));
		dir.refresh();
	}
	REQUIRE(dir.generation() != generation);
	// Between refresh() and renew(), the table is not read: the lookup
	// path answers, with the new data.
	CHECK(body_of(*dir.find("example.org", Document::server).answer) ==
	      json{{"m.server", "new.example.org:443"}});
	CHECK(dir.find("gone.example", Document::server).answer->status == 404);
	dir.renew();
	CHECK(dir.usage().preloaded == 2);
	const auto before = lookups();
	const auto found = dir.find("added.example", Document::server);
	CHECK(found.hit);
	CHECK(body_of(*found.answer) == json{{"m.server", "added.example:443"}});
	CHECK(body_of(*dir.find("example.org", Document::server).answer) ==
	      json{{"m.server", "new.example.org:443"}});
	CHECK(lookups() == before);
	CHECK(dir.find("gone.example", Document::server).answer->status == 404);
}

TEST_CASE("preload: only when asked, and only over an in-memory store", "[directory]")
{
	// The memory test plugin cannot list and says nothing of memory.
	Directory dir(memory({{"example.org", {{"server", "a.example.org:1"}}}}), json::object(), {},
	              preloading());
	CHECK(dir.usage().preloaded == 0);
	CHECK_FALSE(dir.find("example.org", Document::server).hit);
	CHECK(dir.find("example.org", Document::server).hit);
	dir.renew(); // nothing to renew
	CHECK(dir.usage().preloaded == 0);
}

TEST_CASE("a document a record lacks is one 404 for every host, not counted per host",
          "[directory]")
{
	Directory dir(memory({{"a.example", {{"server", "m.a.example:443"}}},
	                      {"b.example", {{"server", "m.b.example:443"}}}}),
	              json::object(), {}, hosts(100));
	const auto a = dir.find("a.example", Document::support).answer;
	const auto b = dir.find("b.example", Document::support).answer;
	CHECK(a == b);
	CHECK(a->status == 404);
	CHECK(body_of(*a)["error"] == "no /.well-known/matrix/support for this host");
	// Another document's 404 is its own.
	CHECK(dir.find("a.example", Document::client).answer != a);
	const std::size_t only_404s = dir.usage().bytes;
	// The server documents are each host's own: they cost more than the
	// pointers to the shared 404s did.
	dir.find("a.example", Document::server);
	dir.find("b.example", Document::server);
	CHECK(dir.usage().bytes > only_404s + 2 * 100);
	CHECK(only_404s < 2 * 400); // names and bookkeeping, no answer text
}

namespace {

// A real SQLite store (build/backends/sqlite.so): the writer's handle, the
// responder's read handle, and the renderings the admin tool would keep.
struct RenderedStore {
	test::TempDir dir;
	std::string path = dir.file("domains.db");
	std::shared_ptr<const Plugin> plugin = Plugin::load(test::plugin_dir() + "/sqlite.so");
	std::shared_ptr<Backend> writer =
		Backend::open(plugin, {{"path", path}, {"access", "create"}});

	void put(const std::string &key, const json &record, const json &defaults = json::object(),
	         const render::Policy &policy = {})
	{
		writer->put(key, record.dump());
		const auto out = rendering::prepare(key, *writer->lookup(key), defaults, policy);
		if (out.bytes)
			REQUIRE(writer->store_rendered(key, rendering::fingerprint(defaults, policy), out.bytes));
	}
	std::shared_ptr<Backend> reader() { return Backend::open(plugin, {{"path", path}}); }
};

std::uint64_t renderings(metrics::Rendering r)
{
	return metrics::sum().renderings[static_cast<std::size_t>(r)];
}

} // namespace

TEST_CASE("a store's rendering answers a miss and fills the host's four documents", "[directory]")
{
	RenderedStore store;
	const json record = {{"server", "matrix.example.org:443"}, {"client", "https://m.{domain}"},
	                     {"max_age", 600}};
	store.put("example.org", record);
	store.put("*.example.net", {{"server", "matrix.{domain}:443"}});
	Directory dir(store.reader(), json::object(), {}, {});
	// The same store read the full way, renderings ignored, for the answers.
	Directory plain(memory({{"example.org", record}, {"*.example.net", {{"server", "matrix.{domain}:443"}}}}),
	                json::object(), {}, {});

	const auto used = renderings(metrics::Rendering::used);
	const auto lookups = metrics::sum().lookups;
	const Directory::Found first = dir.find("example.org", Document::client);
	CHECK_FALSE(first.hit);
	CHECK(renderings(metrics::Rendering::used) - used == 1);
	std::vector<Directory::Found> found;
	for (Document d : all_documents)
		found.push_back(dir.find("example.org", d));
	CHECK(metrics::sum().lookups - lookups == 1); // one lookup for four documents
	for (Document d : all_documents) {
		const Directory::Found &f = found[static_cast<std::size_t>(d)];
		CHECK((f.hit || d == Document::client));
		CHECK(f.answer->wire() == plain.find("example.org", d).answer->wire());
	}
	CHECK(body_of(doc(dir, "example.org", Document::client))["m.homeserver"]["base_url"] ==
	      "https://m.example.org");

	// A wildcard's host is rendered when asked, as before.
	const auto absent = renderings(metrics::Rendering::absent);
	CHECK(doc(dir, "a.example.net", Document::server).wire() ==
	      plain.find("a.example.net", Document::server).answer->wire());
	CHECK(renderings(metrics::Rendering::used) - used == 1);
	CHECK(renderings(metrics::Rendering::absent) - absent == 0);
}

TEST_CASE("a rendering that does not decode for the host is never served", "[directory]")
{
	RenderedStore store;
	store.put("example.org", {{"server", "matrix.example.org:443"}});
	store.put("example.com", {{"server", "matrix.example.com:443"}});
	const std::string fp = rendering::fingerprint(json::object(), {});
	SECTION("garbled bytes, kept through the tool so that the digest holds")
	{
		auto good = rendering::prepare("example.org", *store.writer->lookup("example.org"),
		                               json::object(), {});
		std::string garbled = *good.bytes;
		garbled[garbled.size() / 2] ^= 1;
		REQUIRE(store.writer->store_rendered("example.org", fp, garbled));
	}
	SECTION("another host's rendering")
	{
		auto other = rendering::prepare("example.com", *store.writer->lookup("example.com"),
		                                json::object(), {});
		REQUIRE(store.writer->store_rendered("example.org", fp, other.bytes));
	}
	Directory dir(store.reader(), json::object(), {}, {});
	const auto undecodable = renderings(metrics::Rendering::undecodable);
	json body;
	const std::string err = test::capture_stderr(
		[&] { body = body_of(doc(dir, "example.org", Document::server)); });
	CHECK(body == json{{"m.server", "matrix.example.org:443"}});
	CHECK(renderings(metrics::Rendering::undecodable) - undecodable == 1);
	CHECK_THAT(err, Catch::Contains("example.org: the store's rendering"));
}

TEST_CASE("a rendering made under other [defaults] or [http] is not used", "[directory]")
{
	RenderedStore store;
	const json defaults = {{"support", {{"support_page", "https://old.example/"}}}};
	store.put("example.org", {{"server", "matrix.example.org:443"}}, defaults);
	const json now = {{"support", {{"support_page", "https://new.example/"}}}};
	render::Policy policy;
	policy.max_age = 1234;
	for (const auto &[d, p] : {std::pair{now, render::Policy{}}, std::pair{defaults, policy}}) {
		Directory dir(store.reader(), d, p, {});
		const auto absent = renderings(metrics::Rendering::absent);
		const Answer &a = doc(dir, "example.org", Document::support);
		CHECK(body_of(a)["support_page"] == d["support"]["support_page"]);
		CHECK(std::string(a.cache_control()) ==
		      "public, max-age=" + std::to_string(p.max_age));
		CHECK(renderings(metrics::Rendering::absent) - absent == 1);
	}
	// Under the defaults it was made with, it is.
	Directory dir(store.reader(), defaults, {}, {});
	const auto used = renderings(metrics::Rendering::used);
	CHECK(body_of(doc(dir, "example.org", Document::support))["support_page"] ==
	      "https://old.example/");
	CHECK(renderings(metrics::Rendering::used) - used == 1);
}
