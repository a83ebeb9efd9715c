// A store's schema version against the one a plugin knows, refused in the
// same words by every plugin: the responder's "run init" or "upgrade", and
// init's refusal of a store newer than itself.
#pragma once

#include "plugin/plugin_strings.hpp"

#include <string>
#include <string_view>

namespace mxd::plugin {

struct SchemaVersion {
	int expected;

	// For reading.  `where` starts every message ("sqlite: PATH: "); a store
	// without the schema (version 0) is refused with `none`, worded after
	// the plugin's store; `newer` follows the advice to upgrade.
	void require(const std::string &where, int found, const StatusError &none,
	             std::string_view newer = {}) const
	{
		if (found == expected)
			return;
		if (found == 0)
			throw none;
		const std::string versions = "schema version " + std::to_string(found);
		if (found < expected)
			throw StatusError(MXD_ERROR, where + versions + ", expected " + std::to_string(expected) +
			                                 "; run \"mxdelegatectl init\" to migrate it");
		throw StatusError(MXD_ERROR, where + versions + " is newer than this mxdelegate knows (" +
		                                 std::to_string(expected) + "); upgrade mxdelegate" +
		                                 std::string(newer));
	}

	// For init, before it creates or migrates: a newer store is not touched.
	void migratable(const std::string &where, int found) const
	{
		if (found > expected)
			throw StatusError(MXD_ERROR, where + "schema version " + std::to_string(found) +
			                                 " is newer than this mxdelegatectl knows (" +
			                                 std::to_string(expected) + "); use a newer mxdelegatectl");
	}

	// For init, after it ran the embedded schema.sql, which sets `name`.
	void created(const std::string &where, const char *name, int now) const
	{
		if (now != expected)
			throw StatusError(MXD_ERROR, where + "the embedded schema.sql set " + name + " " +
			                                 std::to_string(now) + ", expected " + std::to_string(expected));
	}
};

} // namespace mxd::plugin
