// toml++'s parser, compiled once into the core instead of linked from
// libtomlplusplus.so.3: that library is built with BIND_NOW against the
// shared libstdc++, and loading the two was most of what a CGI request
// cost before main (HACKING.md, "Libraries, and why each").  Every other
// file includes <toml++/toml.h> with TOML_HEADER_ONLY=0 (the Makefile), so
// only this one holds the definitions.
#define TOML_IMPLEMENTATION
#include <toml++/toml.h>
