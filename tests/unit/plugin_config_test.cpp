// A plugin's [backend] configuration (src/plugin/plugin_config.cpp): the
// keys it knows, their types, "access", and paths relative to the
// configuration.
#include "plugin/plugin_config.hpp"

#include "plugin/plugin_strings.hpp"

#include <catch2/catch.hpp>

using mxd::plugin::Access;
using mxd::plugin::ConfigRules;
using mxd::plugin::Key;
using mxd::plugin::PluginConfig;
using mxd::plugin::StatusError;

namespace {

const ConfigRules rules{"demo: ",
                        {{"path"}, {"timeout", Key::integer, 0, 100, "must be from 0 to 100"}},
                        /*writable=*/true};

std::string refusal(const char *json, const ConfigRules &r = rules)
{
	try {
		PluginConfig config(json, r);
	} catch (const StatusError &e) {
		CHECK(e.status() == MXD_ERROR);
		return e.what();
	}
	return "(accepted)";
}

} // namespace

TEST_CASE("plugin config: known keys with their types", "[plugin_config]")
{
	const PluginConfig c(R"({"path":"a.db","timeout":5,"config_dir":"/etc/mx","config_file":"/etc/mx/m.toml"})",
	                     rules);
	REQUIRE(c.text("path"));
	CHECK(*c.text("path") == "a.db");
	CHECK(c.integer("timeout") == 5);
	CHECK(c.access() == Access::read);
	CHECK(c.text("absent") == nullptr);
	CHECK_FALSE(c.integer("absent"));

	CHECK(refusal(R"({"path":1})") == "demo: [backend] path: must be a string");
	CHECK(refusal(R"({"timeout":"5"})") == "demo: [backend] timeout: must be from 0 to 100");
	CHECK(refusal(R"({"timeout":101})") == "demo: [backend] timeout: must be from 0 to 100");
	CHECK(refusal(R"({"timeout":-1})") == "demo: [backend] timeout: must be from 0 to 100");
	CHECK(refusal(R"({"timeout":18446744073709551615})") == "demo: [backend] timeout: must be from 0 to 100");
	CHECK(refusal(R"({"config_dir":false})") == "demo: [backend] config_dir: must be a string");
	CHECK(refusal(nullptr) == "demo: no configuration");
	CHECK(refusal("[]") == "demo: configuration is not a JSON object");
	CHECK_THROWS_AS(PluginConfig("{", rules), nlohmann::json::parse_error);
}

TEST_CASE("plugin config: an unknown key is refused, named on one line", "[plugin_config]")
{
	CHECK(refusal(R"({"colour":"red"})") == "demo: unknown key in [backend]: colour (known: path, timeout)");
	CHECK(refusal(R"({"co\nlour":"red"})") ==
	      "demo: unknown key in [backend]: co\\x0alour (known: path, timeout)");
	const ConfigRules quiet{"", {{"path"}}, /*writable=*/false, /*list_known=*/false};
	CHECK(refusal(R"({"colour":"red"})", quiet) == "unknown key in [backend]: colour");
	// A plugin without a write side does not know "access".
	CHECK(refusal(R"({"access":"write"})", quiet) == "unknown key in [backend]: access");
}

TEST_CASE("plugin config: access", "[plugin_config]")
{
	CHECK(PluginConfig(R"({"access":"read"})", rules).access() == Access::read);
	CHECK(PluginConfig(R"({"access":"write"})", rules).access() == Access::write);
	CHECK(PluginConfig(R"({"access":"create"})", rules).access() == Access::create);
	CHECK(refusal(R"({"access":"all"})") == "demo: access: \"all\" is not read, write or create");
	CHECK(refusal(R"({"access":true})") == "demo: [backend] access: must be a string");
}

TEST_CASE("plugin config: paths are relative to the configuration", "[plugin_config]")
{
	const PluginConfig both(R"({"config_dir":"/etc/mx","config_file":"/srv/m.toml"})", rules);
	CHECK(both.resolve("d/../a.db") == "/etc/mx/a.db");
	CHECK(both.resolve("/var/lib/a.db") == "/var/lib/a.db");
	const PluginConfig file(R"({"config_file":"/srv/m.toml"})", rules);
	CHECK(file.resolve("a.db") == "/srv/a.db");
	const PluginConfig none("{}", rules);
	CHECK(none.resolve("./a.db") == "a.db");
}
