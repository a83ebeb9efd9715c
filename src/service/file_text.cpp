#include "service/file_text.hpp"

#include <sys/stat.h>

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
	// Room for the whole file at once: a 680 KB configuration grown by
	// appends was copied twice over in a CGI request.
	struct stat st;
	if (::fstat(::fileno(f), &st) == 0 && st.st_size > 0)
		text.reserve(static_cast<std::size_t>(st.st_size));
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
