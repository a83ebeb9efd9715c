// Shared helpers for the unit tests: a temporary directory removed at the
// end of the test, files written into it, where the build put things, and
// what a call wrote to stderr.
#pragma once

#include "service/backend.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <unistd.h>

namespace mxd::test {

// A message of several lines, one problem each, as its lines.
inline std::vector<std::string> lines(const std::string &s)
{
	std::vector<std::string> out;
	for (std::size_t start = 0;;) {
		const auto nl = s.find('\n', start);
		out.push_back(s.substr(start, nl - start));
		if (nl == std::string::npos)
			return out;
		start = nl + 1;
	}
}

inline std::string build_dir()
{
	const char *b = std::getenv("MXD_BUILDDIR");
	return b && *b ? b : "build";
}

// The message of the BackendError that f throws (and its kind, when asked
// for), or "(no error)".
inline std::string error_of(const std::function<void()> &f, BackendError::Kind *kind = nullptr)
{
	try {
		f();
	} catch (const BackendError &e) {
		if (kind)
			*kind = e.kind();
		return e.what();
	}
	return "(no error)";
}

inline std::string plugin_dir() { return build_dir() + "/backends"; }
inline std::string test_plugin(const std::string &name)
{
	return build_dir() + "/tests/plugins/" + name + ".so";
}

class TempDir {
public:
	TempDir()
	{
		std::string tmpl = (std::filesystem::temp_directory_path() / "mxd-test-XXXXXX").string();
		if (!mkdtemp(tmpl.data()))
			throw std::runtime_error("mkdtemp failed");
		path_ = tmpl;
	}
	~TempDir()
	{
		std::error_code ec;
		std::filesystem::remove_all(path_, ec);
	}
	TempDir(const TempDir &) = delete;
	TempDir &operator=(const TempDir &) = delete;

	const std::string &path() const { return path_; }
	std::string file(const std::string &name) const { return path_ + "/" + name; }

	// Writes (replaces) a file and returns its path.
	std::string write(const std::string &name, const std::string &text) const
	{
		std::string p = file(name);
		std::ofstream out(p, std::ios::binary | std::ios::trunc);
		out << text;
		if (!out)
			throw std::runtime_error("cannot write " + p);
		return p;
	}

private:
	std::string path_;
};

// Runs f with fd 2 on a pipe and returns what it wrote there: the core's
// logger, which a plugin reaches through its host, writes to stderr.
template <typename F>
std::string capture_stderr(F f)
{
	int fds[2];
	REQUIRE(pipe(fds) == 0);
	const int saved = dup(STDERR_FILENO);
	REQUIRE(saved >= 0);
	REQUIRE(dup2(fds[1], STDERR_FILENO) == STDERR_FILENO);
	close(fds[1]);
	// fd 2 comes back even when f throws, or Catch2's report would go into
	// the pipe.
	struct Restore {
		int saved;
		~Restore()
		{
			dup2(saved, STDERR_FILENO);
			close(saved);
		}
	};
	{
		Restore restore{saved};
		f();
	}
	std::string out;
	char buf[4096];
	for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;)
		out.append(buf, static_cast<std::size_t>(n));
	close(fds[0]);
	return out;
}

} // namespace mxd::test
