#include "core/lazy_library.hpp"

#include <dlfcn.h>

#include <stdexcept>

namespace mxd {

void *LazyLibrary::symbol(const char *name)
{
	std::call_once(once_, [this] {
		// RTLD_LOCAL: its symbols stay its own and cannot stand in for a
		// plugin's.  Opened for the process's life: the pointers it hands
		// out are kept in function-local statics.
		handle_ = ::dlopen(soname_, RTLD_NOW | RTLD_LOCAL);
		if (!handle_) {
			const char *e = ::dlerror();
			error_ = e ? e : "dlopen failed";
		}
	});
	if (!handle_)
		throw std::runtime_error(std::string(soname_) + ": cannot be loaded: " + error_);
	::dlerror();
	void *p = ::dlsym(handle_, name);
	if (!p) {
		const char *e = ::dlerror();
		throw std::runtime_error(std::string(soname_) + ": no " + name + ": " +
		                         (e ? e : "symbol is null"));
	}
	return p;
}

} // namespace mxd
