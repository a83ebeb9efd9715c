// The SQLite backend's lookup with hostile keys (see backend_fuzz.hpp), on a
// database written through the plugin's own write side.
#include "backend_fuzz.hpp"

using namespace mxd;

namespace {

const Backend &backend()
{
	static const std::shared_ptr<Backend> b = [] {
		const std::string file = fuzz::store_dir("sqlite") + "/domains.sqlite";
		auto plugin = Plugin::load(fuzz::plugin_dir() + "/sqlite.so");
		{
			auto w = Backend::open(plugin, {{"path", file}, {"access", "create"}});
			w->begin();
			for (const auto &[key, record] : fuzz::store())
				w->put(key, record.dump());
			w->commit();
		}
		// Read-only, as the responder opens it.
		auto opened = Backend::open(plugin, {{"path", file}});
		fuzz::self_test(*opened);
		return opened;
	}();
	return *b;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
	fuzz::check_lookup(backend(), data, size);
	return 0;
}
