#include "service/file_text.hpp"

#include <cerrno>
#include <cstdio>
#include <system_error>

namespace mxd {

namespace {

[[noreturn]] void fail(const std::string &path, int error)
{
	throw FileError(path + ": " + std::generic_category().message(error));
}

} // namespace

std::string read_file(const std::string &path)
{
	std::FILE *f = std::fopen(path.c_str(), "rb");
	if (!f)
		fail(path, errno);
	std::string text;
	char buf[65536];
	std::size_t n;
	while ((n = std::fread(buf, 1, sizeof buf, f)) > 0)
		text.append(buf, n);
	// A folder opens for reading on Linux; its first read says EISDIR.
	const int error = std::ferror(f) ? errno : 0;
	std::fclose(f);
	if (error)
		fail(path, error);
	return text;
}

} // namespace mxd
