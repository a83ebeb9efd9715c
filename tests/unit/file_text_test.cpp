#include "service/file_text.hpp"

#include "support.hpp"

#include <catch2/catch.hpp>

using mxd::FileError;
using mxd::read_file;

namespace {

std::string failure(const std::string &path)
{
	try {
		read_file(path);
	} catch (const FileError &e) {
		return e.what();
	}
	return "(read)";
}

} // namespace

TEST_CASE("read_file: every byte, NUL and past one buffer included", "[file_text]")
{
	mxd::test::TempDir dir;
	std::string text(200000, 'x');
	text[7] = '\0';
	text.back() = '\n';
	CHECK(read_file(dir.write("big", text)) == text);
	CHECK(read_file(dir.write("empty", "")).empty());
}

TEST_CASE("read_file: the path and the system's reason", "[file_text]")
{
	mxd::test::TempDir dir;
	CHECK(failure(dir.file("gone")) == dir.file("gone") + ": No such file or directory");
	// A folder opens; its read fails.
	CHECK(failure(dir.path()) == dir.path() + ": Is a directory");
	dir.write("plain", "x");
	CHECK(failure(dir.file("plain") + "/below") == dir.file("plain") + "/below: Not a directory");
}
