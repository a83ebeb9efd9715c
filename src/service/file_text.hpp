// A whole file read into memory, for the configuration and its checks: the
// failure says the path and the system's reason ("Permission denied"),
// which toml++'s own reading does not.
#pragma once

#include <stdexcept>
#include <string>

namespace mxd {

class FileError : public std::runtime_error {
public:
	using std::runtime_error::runtime_error;
};

// The file's bytes.  Throws FileError "PATH: reason" when it cannot be
// opened or read, and for a folder, which opens but does not read.
std::string read_file(const std::string &path);

} // namespace mxd
