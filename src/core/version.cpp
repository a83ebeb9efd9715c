#include "core/version.hpp"

// The Makefile defines it for this file alone; a build without it (a
// compiler run by hand) has no version to claim.
#ifndef MXD_VERSION
#define MXD_VERSION "unknown"
#endif

namespace mxd {

const char *const version = MXD_VERSION;

} // namespace mxd
