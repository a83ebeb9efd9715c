#pragma once
// The version both programs print (--version), the first entry of
// debian/changelog unless the build is given another (make VERSION=...).
// One translation unit carries it, so that a new version recompiles that
// file alone (debian/rules builds twice in one tree for the upgrade test).

namespace mxd {

extern const char *const version;

} // namespace mxd
