// A shared library opened the first time one of its functions is wanted,
// not when the program starts.  A CGI request is a process of its own, and
// the dynamic loader's relocation of every library linked in was most of
// its cost (bench/RESULTS.md): libidn2 with libunistring is needed only for
// a name that is not plain ASCII, libsystemd with the six libraries it
// pulls in only under a unit that set NOTIFY_SOCKET.
#pragma once

#include <mutex>
#include <string>

namespace mxd {

class LazyLibrary {
public:
	// soname: the library's versioned name ("libidn2.so.0"), as the
	// package that provides it installs it.
	explicit LazyLibrary(const char *soname) : soname_(soname) {}

	// The function or object called name, opening the library on the first
	// call from any thread.  Throws std::runtime_error naming the library
	// and what dlopen or dlsym said.
	void *symbol(const char *name);

	template <class F> F function(const char *name)
	{
		return reinterpret_cast<F>(symbol(name));
	}

private:
	const char *soname_;
	std::once_flag once_;
	void *handle_ = nullptr;
	std::string error_;
};

} // namespace mxd
