#include "mxdelegatectl/ctl_args.hpp"

#include "core/record_fields.hpp"

#include <catch2/catch.hpp>

#include <initializer_list>
#include <vector>

using namespace mxd::ctl;

namespace {

Options parse(std::initializer_list<const char *> args)
{
	std::vector<const char *> argv{"mxdelegatectl"};
	argv.insert(argv.end(), args.begin(), args.end());
	return parse_args(static_cast<int>(argv.size()), argv.data());
}

std::string usage_error(std::initializer_list<const char *> args)
{
	try {
		parse(args);
	} catch (const UsageError &e) {
		return e.what();
	}
	return "(parsed)";
}

} // namespace

TEST_CASE("global options come before the command", "[ctl_args]")
{
	auto o = parse({"--db", "/var/lib/x.db", "add", "example.org", "--server", "m.example.org"});
	CHECK(o.db == "/var/lib/x.db");
	CHECK(o.command == Command::add);
	CHECK(o.operands == std::vector<std::string>{"example.org"});
	REQUIRE(o.fields.size() == 1);
	CHECK(o.fields[0].option == "server");
	CHECK(o.fields[0].value == "m.example.org");

	o = parse({"-c", "/etc/m.toml", "--plugin-dir=/p", "check"});
	CHECK(o.config == "/etc/m.toml");
	CHECK(o.plugin_dir == "/p");
	CHECK(o.command == Command::check);
	CHECK(parse({"--help"}).command == Command::help);
	CHECK(parse({"-V"}).command == Command::version);
}

TEST_CASE("field options keep their order; --opt=value and --opt value", "[ctl_args]")
{
	auto o = parse({"set", "example.org", "--unset", "note", "--extra=a.b=1", "--contact",
	                "role=admin,email=a@example.org", "--note", "--not-an-option"});
	REQUIRE(o.fields.size() == 4);
	CHECK(o.fields[0].option == "unset");
	CHECK(o.fields[1].option == "extra");
	CHECK(o.fields[1].value == "a.b=1");
	CHECK(o.fields[2].option == "contact");
	CHECK(o.fields[3].value == "--not-an-option");
}

TEST_CASE("list, import and export options", "[ctl_args]")
{
	auto o = parse({"list", "--json", "--match", "*.example.org"});
	CHECK(o.json);
	CHECK(o.match == "*.example.org");
	o = parse({"import", "--dry-run", "--replace", "domains.toml"});
	CHECK(o.dry_run);
	CHECK(o.replace);
	CHECK(o.operands == std::vector<std::string>{"domains.toml"});
	CHECK(parse({"import", "-"}).operands == std::vector<std::string>{"-"});
	CHECK(parse({"export"}).format == "toml");
	CHECK(parse({"export", "--format", "jsonl"}).format == "jsonl");
	CHECK(parse({"remove", "a.example", "b.example"}).operands.size() == 2);
	CHECK(parse({"query", "example.org", "client"}).operands.size() == 2);
	CHECK(parse({"remove", "--", "-odd-"}).operands == std::vector<std::string>{"-odd-"});
}

TEST_CASE("--primary, status, and follow's arguments handed on untouched", "[ctl_args][follow]")
{
	auto o = parse({"-c", "m.toml", "--primary", "show", "example.org"});
	CHECK(o.primary);
	CHECK(o.command == Command::show);
	CHECK_FALSE(parse({"show", "example.org"}).primary);
	CHECK(parse({"status"}).command == Command::status);
	o = parse({"-c", "m.toml", "follow", "--verbose", "-c", "x", "--", "y"});
	CHECK(o.command == Command::follow);
	CHECK(o.config == "m.toml");
	CHECK(o.operands == std::vector<std::string>{"--verbose", "-c", "x", "--", "y"});
	CHECK(parse({"follow"}).operands.empty());

	CHECK(usage_error({"--db", "x.db", "--primary", "list"}) ==
	      "--primary reads the primary named in a configuration's [follow]; --db PATH has none");
	CHECK(usage_error({"--primary", "status"}) == "status: --primary is for reads; status is about the "
	                                             "local copy");
	CHECK(usage_error({"--db", "x.db", "follow"}) ==
	      "follow: needs a configuration with [follow]; --db PATH has none");
	CHECK(usage_error({"status", "x"}) == "status: takes no arguments, got 1");
	CHECK(usage_error({"show", "--primary", "a.example"}) ==
	      "show: unknown option --primary");
}

TEST_CASE("usage errors name the argument", "[ctl_args]")
{
	CHECK(usage_error({}) == "no command given");
	CHECK(usage_error({"frobnicate"}) == "unknown command \"frobnicate\"");
	CHECK(usage_error({"--bogus", "list"}) == "unknown option --bogus");
	CHECK(usage_error({"add", "example.org", "--bogus", "1"}) == "add: unknown option --bogus");
	CHECK(usage_error({"add", "example.org", "-s", "x"}) == "add: unknown option -s");
	CHECK(usage_error({"add", "example.org", "--server"}) == "add: --server needs a value");
	CHECK(usage_error({"add", "example.org"}) ==
	      "add: no field given (--server, --client, --identity-server, --extra, --support-page, "
	      "--contact, --policy-server-key, --max-age, --redirect, --redirect-server, "
	      "--redirect-client, --redirect-support, --redirect-policy-server, --redirect-status, --note)");
	CHECK(usage_error({"set", "example.org"}) ==
	      "set: no field given (--server, --client, --identity-server, --extra, --support-page, "
	      "--contact, --policy-server-key, --max-age, --redirect, --redirect-server, "
	      "--redirect-client, --redirect-support, --redirect-policy-server, --redirect-status, "
	      "--note, --unset)");
	CHECK(usage_error({"add", "example.org", "--unset", "note"}) == "add: unknown option --unset");
	CHECK(usage_error({"add"}) == "add: takes arguments DOMAIN, got 0");
	CHECK(usage_error({"show", "a.example", "b.example"}) == "show: takes arguments DOMAIN, got 2");
	CHECK(usage_error({"list", "x"}) == "list: takes no arguments, got 1");
	CHECK(usage_error({"list", "--json=yes"}) == "list: --json takes no value");
	CHECK(usage_error({"export", "--format", "xml"}) == "export: --format xml: use toml or jsonl");
	CHECK(usage_error({"-c", "a.toml", "--db", "b.db", "list"}) ==
	      "-c and --db exclude each other: --db PATH is the sqlite backend without a configuration");
	CHECK(usage_error({"list", "--db", "x.db"}) ==
	      "list: unknown option --db (global options go before the command)");
	CHECK(usage_error({"--db"}) == "--db needs a value");
	CHECK(usage_error({"--db", "", "list"}) == "--db needs a file name");
}

TEST_CASE("every field option of record_fields.hpp is parsed and in the usage", "[ctl_args]")
{
	auto o = parse({"add", "example.org", "--max-age", "3600", "--policy-server-key=k"});
	REQUIRE(o.fields.size() == 2);
	CHECK(o.fields[0].option == "max-age");
	CHECK(o.fields[0].value == "3600");
	CHECK(o.fields[1].option == "policy-server-key");
	CHECK(o.fields[1].value == "k");
	CHECK(usage_error({"add", "example.org", "--max-age"}) == "add: --max-age needs a value");

	const std::string usage = usage_text();
	for (const auto &opt : mxd::record::options) {
		const std::string item = "--" + std::string(opt.option) + " " + std::string(opt.metavar);
		CHECK_THAT(usage, Catch::Contains(item));
	}
	CHECK_THAT(usage, Catch::Contains("\nFIELD: --server HOST[:PORT] --client URL"));
	std::size_t start = 0;
	while (start < usage.size()) {
		const std::size_t end = usage.find('\n', start);
		CHECK(end - start < 80);
		start = end + 1;
	}
}

TEST_CASE("probe: its options passed on as --name=value, domains and --wildcard-sample kept", "[ctl_args]")
{
	const Options o = parse({"-c", "/etc/m.toml", "probe", "--concurrency", "8", "a.example", "--federation",
	                         "--resolve=a.example:443:127.0.0.1", "--wildcard-sample", "3", "b.example"});
	CHECK(o.command == Command::probe);
	CHECK(o.operands == std::vector<std::string>{"a.example", "b.example"});
	CHECK(o.probe_args ==
	      std::vector<std::string>{"--concurrency=8", "--federation", "--resolve=a.example:443:127.0.0.1"});
	CHECK(o.wildcard_sample == 3);
	CHECK(parse({"probe"}).operands.empty());
	CHECK(usage_error({"probe", "--wildcard-sample", "x"}) ==
	      "probe: --wildcard-sample x: want a whole number from 0 to 1000");
	CHECK(usage_error({"probe", "--bogus"}) == "probe: unknown option --bogus");
	CHECK(usage_error({"probe", "--insecure=1"}) == "probe: --insecure takes no value");
	CHECK(usage_error({"probe", "--timeout"}) == "probe: --timeout needs a value");
}
