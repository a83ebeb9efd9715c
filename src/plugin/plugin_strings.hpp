// What a plugin hands across the C boundary (backend.h): strings allocated
// with malloc() here and released by the plugin's own free_string(), so the
// core never frees memory of another heap, and the failures that become a
// result code there.  For plugins only.
#pragma once

#include <mxdelegate/backend.h>

#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>

namespace mxd::plugin {

// A NUL-terminated copy, or NULL when memory is short (the core then reports
// an unknown error rather than crash).
inline char *c_string(std::string_view s) noexcept
{
	auto *p = static_cast<char *>(std::malloc(s.size() + 1));
	if (p) {
		std::memcpy(p, s.data(), s.size());
		p[s.size()] = '\0';
	}
	return p;
}

// A failure thrown inside a plugin with the result the core acts on
// (MXD_ERROR, MXD_BUSY for a lock, MXD_NO_STORE for a store that is not
// there) and a message the core shows as it is.
class StatusError : public std::runtime_error {
public:
	StatusError(int status, const std::string &what) : std::runtime_error(what), status_(status) {}
	int status() const { return status_; }

private:
	int status_;
};

// Stores a message in *error when the caller gave a place for it.
inline int fail(char **error, int status, std::string_view message) noexcept
{
	if (error)
		*error = c_string(message);
	return status;
}

} // namespace mxd::plugin
