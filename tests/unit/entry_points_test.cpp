// The entry points made from a handle class (src/plugin/entry_points.hpp):
// every kind of exception a handle throws comes out of the C table as its
// result code and message, and nothing escapes.
#include "plugin/entry_points.hpp"

#include <catch2/catch.hpp>

#include <cstring>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

namespace {

using mxd::plugin::InvalidRecord;
using mxd::plugin::StatusError;

// An exception of a plugin's own library, as SQLite::Exception is.
struct NativeError : std::runtime_error {
	using std::runtime_error::runtime_error;
};

// What the next call throws, by the domain it is given.
void throw_for(const std::string &what)
{
	if (what == "busy")
		throw StatusError(MXD_BUSY, "fake: the store is locked");
	if (what == "no-store")
		throw StatusError(MXD_NO_STORE, "fake: no store");
	if (what == "error")
		throw StatusError(MXD_ERROR, "fake: it broke");
	if (what == "invalid")
		throw InvalidRecord("invalid: server: not a server name");
	if (what == "native")
		throw NativeError("disk I/O error");
	if (what == "std")
		throw std::logic_error("a plain std::exception");
	if (what == "int")
		throw 42;
}

struct Fake {
	static constexpr const char *name = "fake";
	static inline int open_count = 0;

	static std::unique_ptr<Fake> open(const char *config_json, const mxd_host *)
	{
		throw_for(config_json);
		open_count++;
		return std::make_unique<Fake>(std::string(config_json) == "write");
	}
	static std::optional<StatusError> translate(const Fake *h, const std::exception &e)
	{
		if (!h || !dynamic_cast<const NativeError *>(&e))
			return std::nullopt;
		return StatusError(MXD_BUSY, std::string("fake: translated: ") + e.what());
	}

	explicit Fake(bool w) : write(w) {}

	int lookup(const char *domain, mxd::plugin::Found &out)
	{
		throw_for(domain);
		if (std::strcmp(domain, "example.org") != 0)
			return MXD_NOT_FOUND;
		out.set(R"({"server":"matrix.example.org"})");
		return MXD_OK;
	}
	std::uint64_t generation() { return 7; }
	void list(mxd::plugin::Each each, void *ctx) { each(ctx, "example.org", "{}"); }
	bool writable() const { return write; }
	void put(std::string key, const nlohmann::json &record)
	{
		stored = key + " " + record.dump();
	}
	bool remove(const char *domain)
	{
		throw_for(domain);
		return std::strcmp(domain, "example.org") == 0;
	}
	void begin() { began = true; }
	void commit() {}
	void rollback() {}

	bool write;
	bool began = false;
	std::string stored;
};

struct ReadOnly {
	static constexpr const char *name = "ro";
	static std::unique_ptr<ReadOnly> open(const char *, const mxd_host *) { return nullptr; }
	int lookup(const char *, mxd::plugin::Found &) { return MXD_NOT_FOUND; }
	std::uint64_t generation() { return 1; }
};

constexpr mxd_backend table = mxd::plugin::backend_table<Fake>();

// The result of a call and its message, which is released as the core does.
struct Outcome {
	int rc;
	std::string error;
};

template <typename F>
Outcome call(F &&f)
{
	char *error = nullptr;
	const int rc = f(&error);
	Outcome o{rc, error ? error : ""};
	table.free_string(error);
	return o;
}

void *open_fake(const char *config)
{
	void *h = nullptr;
	char *error = nullptr;
	REQUIRE(table.open(config, nullptr, &h, &error) == MXD_OK);
	return h;
}

} // namespace

TEST_CASE("entry points: the table says what the handle offers", "[entry_points]")
{
	CHECK(table.abi_major == MXD_BACKEND_ABI_MAJOR);
	CHECK(table.abi_minor == MXD_BACKEND_ABI_MINOR);
	CHECK(std::string(table.name) == "fake");
	CHECK(table.put != nullptr);
	CHECK(table.rollback != nullptr);
	constexpr mxd_backend ro = mxd::plugin::backend_table<ReadOnly>();
	CHECK(ro.lookup != nullptr);
	CHECK(ro.list == nullptr);
	CHECK(ro.put == nullptr);
	CHECK(ro.begin == nullptr);
}

TEST_CASE("entry points: every exception kind is a result code and a message", "[entry_points]")
{
	void *h = open_fake("read");
	auto lookup = [&](const char *domain) {
		return call([&](char **error) {
			char *record = nullptr;
			const int rc = table.lookup(h, domain, &record, error);
			CHECK(record == nullptr);
			return rc;
		});
	};
	const Outcome busy = lookup("busy");
	CHECK(busy.rc == MXD_BUSY);
	CHECK(busy.error == "fake: the store is locked");
	CHECK(lookup("no-store").rc == MXD_NO_STORE);
	CHECK(lookup("error").error == "fake: it broke");
	const Outcome invalid = lookup("invalid");
	CHECK(invalid.rc == MXD_INVALID);
	CHECK(invalid.error == "invalid: server: not a server name");
	const Outcome native = lookup("native");
	CHECK(native.rc == MXD_BUSY);
	CHECK(native.error == "fake: translated: disk I/O error");
	const Outcome plain = lookup("std");
	CHECK(plain.rc == MXD_ERROR);
	CHECK(plain.error == "fake: lookup: a plain std::exception");
	const Outcome other = lookup("int");
	CHECK(other.rc == MXD_ERROR);
	CHECK(other.error == "fake: lookup: unknown error");
	table.close(h);
}

TEST_CASE("entry points: open() failures, and no handle without MXD_OK", "[entry_points]")
{
	for (const auto &[config, rc, message] :
	     {std::tuple<const char *, int, const char *>{"no-store", MXD_NO_STORE, "fake: no store"},
	      {"native", MXD_ERROR, "fake: open: disk I/O error"}, // no handle to translate with
	      {"int", MXD_ERROR, "fake: open: unknown error"}}) {
		void *h = nullptr;
		const Outcome o = call([&](char **error) { return table.open(config, nullptr, &h, error); });
		CHECK(o.rc == rc);
		CHECK(o.error == message);
		CHECK(h == nullptr);
	}
	CHECK(call([](char **error) { return table.open("read", nullptr, nullptr, error); }).error ==
	      "fake: open: null argument");
}

TEST_CASE("entry points: lookup hands out a string the core frees", "[entry_points]")
{
	void *h = open_fake("read");
	char *record = nullptr;
	char *error = nullptr;
	REQUIRE(table.lookup(h, "example.org", &record, &error) == MXD_OK);
	CHECK(std::string(record) == R"({"server":"matrix.example.org"})");
	table.free_string(record);
	record = nullptr;
	CHECK(table.lookup(h, "example.net", &record, &error) == MXD_NOT_FOUND);
	CHECK(record == nullptr);
	CHECK(error == nullptr);
	std::uint64_t g = 0;
	CHECK(table.generation(h, &g, &error) == MXD_OK);
	CHECK(g == 7);
	for (const auto &o : {call([&](char **e) { return table.lookup(h, nullptr, &record, e); }),
	                      call([&](char **e) { return table.lookup(nullptr, "x", &record, e); }),
	                      call([&](char **e) { return table.generation(h, nullptr, e); })})
		CHECK(o.error.ends_with(": null argument"));
	// No place for the message: the result alone.
	CHECK(table.lookup(h, "busy", &record, nullptr) == MXD_BUSY);
	table.close(h);
	table.close(nullptr);
}

TEST_CASE("entry points: the write side", "[entry_points]")
{
	void *h = open_fake("write");
	auto *fake = static_cast<Fake *>(h);
	CHECK(call([&](char **e) { return table.put(h, "example.org", R"({"server":"m.example.org"})", e); })
	          .rc == MXD_OK);
	CHECK(fake->stored == R"(example.org {"server":"m.example.org"})");
	// put() checks key and record before the handle sees them.
	const Outcome bad = call([&](char **e) { return table.put(h, "Example.org", "{}", e); });
	CHECK(bad.rc == MXD_INVALID);
	CHECK(bad.error == "Example.org: domain: not in canonical form; store it as example.org");
	CHECK(call([&](char **e) { return table.remove(h, "example.org", e); }).rc == MXD_OK);
	CHECK(call([&](char **e) { return table.remove(h, "example.net", e); }).rc == MXD_NOT_FOUND);
	CHECK(call([&](char **e) { return table.remove(h, "busy", e); }).rc == MXD_BUSY);
	CHECK(call([&](char **e) { return table.begin(h, e); }).rc == MXD_OK);
	CHECK(fake->began);
	CHECK(call([&](char **e) { return table.commit(nullptr, e); }).error == "fake: commit: null argument");
	int seen = 0;
	CHECK(table.list(h, [](void *ctx, const char *, const char *) { return ++*static_cast<int *>(ctx), 0; },
	                 &seen, nullptr) == MXD_OK);
	CHECK(seen == 1);
	table.close(h);

	void *r = open_fake("read");
	for (const auto &o : {call([&](char **e) { return table.put(r, "example.org", "{}", e); }),
	                      call([&](char **e) { return table.begin(r, e); }),
	                      call([&](char **e) { return table.rollback(r, e); })}) {
		CHECK(o.rc == MXD_ERROR);
		CHECK(o.error.ends_with(": the store was opened read-only (no \"access\")"));
	}
	CHECK(call([&](char **e) { return table.remove(r, "example.org", e); }).error ==
	      "fake: remove: the store was opened read-only (no \"access\")");
	table.close(r);
}
