#pragma once
// Where "make install" puts what the programs look for at run time.  One
// translation unit carries the paths, as version.cpp the version, so that a
// build for another PREFIX recompiles that file alone and relinks (the
// install tests build for a prefix of their own from the tested build's
// objects).

namespace mxd::install_paths {

// PLUGINDIR: the backend plugins ([backend] plugin_dir's default).
extern const char *const plugin_dir;
// LIBEXECDIR: mxdelegate-follow and mxdelegate-probe, which mxdelegatectl
// runs.
extern const char *const libexec_dir;
// SYSCONFDIR/mxdelegate/mxdelegate.toml: the configuration every program
// reads unless given another.
extern const char *const config_file;

} // namespace mxd::install_paths
