// toml++'s definitions, compiled once for every program and plugin (see
// toml_library.hpp).
#define TOML_IMPLEMENTATION
#include "core/toml_library.hpp"
