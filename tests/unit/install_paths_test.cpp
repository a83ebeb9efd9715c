// src/core/install_paths.cpp: the paths the Makefile compiles in.  Their
// values are the build's (the install tests run programs built for a
// prefix of their own); this checks their shape.
#include "core/install_paths.hpp"

#include <catch2/catch.hpp>

#include <string_view>

using namespace mxd;

TEST_CASE("install paths: absolute, the configuration under SYSCONFDIR/mxdelegate", "[install_paths]")
{
	const std::string_view plugins = install_paths::plugin_dir, libexec = install_paths::libexec_dir,
	                       config = install_paths::config_file;
	CHECK(plugins.starts_with('/'));
	CHECK(libexec.starts_with('/'));
	CHECK(config.starts_with('/'));
	CHECK(config.ends_with("/mxdelegate/mxdelegate.toml"));
	CHECK(plugins.ends_with("/mxdelegate/backends"));
}
