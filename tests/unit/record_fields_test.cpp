#include "core/record_fields.hpp"
#include "core/record.hpp"

#include <catch2/catch.hpp>

#include <set>
#include <string>

using namespace mxd;
using namespace mxd::record;
using nlohmann::json;

TEST_CASE("fields: names are unique and each document is fed by its namesake", "[record_fields]")
{
	std::set<std::string_view> names;
	for (const FieldInfo &f : fields)
		CHECK(names.insert(f.name).second);
	for (Document d : all_documents) {
		const FieldInfo *f = find_field(document_name(d));
		REQUIRE(f);
		CHECK((f->documents & feeds(d)) != 0);
	}
	CHECK(find_field("max_age")->documents == every_document);
	CHECK(find_field("note")->documents == no_document);
	CHECK(find_field("colour") == nullptr);
}

TEST_CASE("fields: a store keeps every field but the key, by its kind", "[record_fields]")
{
	// What the SQL stores iterate for their columns: in table order, the
	// domain (the primary key) left out.
	std::size_t i = 0;
	for (const FieldInfo &f : fields) {
		if (f.name == "domain") {
			CHECK(f.store == Store::none);
			continue;
		}
		REQUIRE(i < stored_fields.size());
		CHECK(stored_fields[i++].name == f.name);
		const Store by_kind = f.kind == Kind::string             ? Store::text
		                    : f.kind == Kind::object             ? Store::json
		                    : f.kind == Kind::string_or_object ? Store::json_any
		                                                         : Store::integer;
		CHECK(f.store == by_kind);
	}
	CHECK(i == stored_fields.size());
	static_assert(stored_fields.front().name == "server" && stored_fields.back().name == "note");
}

TEST_CASE("fields: validation checks every field by its kind", "[record_fields]")
{
	// A value of the wrong JSON type in each field is refused at that
	// field: no field escapes validate's dispatch.
	for (const FieldInfo &f : fields) {
		const json wrong = f.kind == Kind::string ? json(1) : json("text");
		const auto problems = validate(json{{std::string(f.name), wrong}}, "example.org");
		INFO(f.name);
		REQUIRE(problems.size() == 1);
		CHECK(format_path(problems[0].path) == f.name);
	}
}

TEST_CASE("options: unique, each writing a stored field as its input says", "[record_fields]")
{
	std::set<std::string_view> names, unsets;
	for (const FieldInfo &f : stored_fields)
		unsets.insert(f.name);
	for (const OptionInfo &o : options) {
		INFO(o.option);
		CHECK(names.insert(o.option).second);
		CHECK(find_option(o.option) == &o);
		const FieldInfo *f = find_field(o.field);
		REQUIRE(f);
		CHECK(f->store != Store::none);
		CHECK_FALSE(o.metavar.empty());
		if (o.input == Input::member) {
			// Any member KEY of an object: FIELD.KEY unsets it.
			CHECK(f->kind == Kind::object);
			CHECK(o.path[0].empty());
			CHECK(o.unset == std::string(o.field) + ".KEY");
		} else if (o.path[0].empty()) {
			// The whole field: its own name unsets it.
			CHECK(o.unset.empty());
			if (o.input == Input::integer)
				CHECK(f->kind == Kind::integer);
			else
				CHECK((f->kind == Kind::string || f->kind == Kind::string_or_object));
		} else {
			CHECK((f->kind == Kind::object || f->kind == Kind::string_or_object));
			CHECK(unsets.insert(o.unset).second);
		}
	}
	CHECK(find_option("max-age")->field == "max_age");
	CHECK(find_option("policy-server-key")->path[0] == "ed25519");
	CHECK(find_option("unset") == nullptr);
}
