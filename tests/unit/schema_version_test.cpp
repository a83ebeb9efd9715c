// The refusals of a store of another schema version
// (src/plugin/schema_version.hpp), in the same words for every plugin.
#include "plugin/schema_version.hpp"

#include <catch2/catch.hpp>

namespace {

constexpr mxd::plugin::SchemaVersion schema{2};

template <typename F>
std::pair<int, std::string> refusal(F &&f)
{
	try {
		f();
	} catch (const mxd::plugin::StatusError &e) {
		return {e.status(), e.what()};
	}
	return {MXD_OK, ""};
}

} // namespace

TEST_CASE("schema version: what the responder refuses", "[schema_version]")
{
	const mxd::plugin::StatusError none(MXD_NO_STORE, "db: no schema");
	CHECK(refusal([&] { schema.require("db: ", 2, none); }).first == MXD_OK);
	CHECK(refusal([&] { schema.require("db: ", 0, none); }) ==
	      std::pair<int, std::string>{MXD_NO_STORE, "db: no schema"});
	CHECK(refusal([&] { schema.require("db: ", 1, none); }).second ==
	      "db: schema version 1, expected 2; run \"mxdelegatectl init\" to migrate it");
	CHECK(refusal([&] { schema.require("db: ", 3, none, ", or restore"); }).second ==
	      "db: schema version 3 is newer than this mxdelegate knows (2); upgrade mxdelegate, or restore");
}

TEST_CASE("schema version: what init refuses", "[schema_version]")
{
	CHECK(refusal([] { schema.migratable("db: ", 1); }).first == MXD_OK);
	CHECK(refusal([] { schema.migratable("db: ", 3); }).second ==
	      "db: schema version 3 is newer than this mxdelegatectl knows (2); use a newer mxdelegatectl");
	CHECK(refusal([] { schema.created("db: ", "user_version", 2); }).first == MXD_OK);
	CHECK(refusal([] { schema.created("db: ", "user_version", 1); }).second ==
	      "db: the embedded schema.sql set user_version 1, expected 2");
}
