#include "core/install_paths.hpp"

// The Makefile defines them for this file alone; a compiler run by hand
// gets the Makefile's defaults for PREFIX=/usr/local.
#ifndef MXD_PLUGINDIR
#define MXD_PLUGINDIR "/usr/local/lib/mxdelegate/backends"
#endif
#ifndef MXD_LIBEXECDIR
#define MXD_LIBEXECDIR "/usr/local/libexec"
#endif
#ifndef MXD_SYSCONFDIR
#define MXD_SYSCONFDIR "/usr/local/etc"
#endif

namespace mxd::install_paths {

const char *const plugin_dir = MXD_PLUGINDIR;
const char *const libexec_dir = MXD_LIBEXECDIR;
const char *const config_file = MXD_SYSCONFDIR "/mxdelegate/mxdelegate.toml";

} // namespace mxd::install_paths
