// The TOML backend's lookup with hostile keys (see backend_fuzz.hpp).
#include "backend_fuzz.hpp"

#include <cstdio>
#include <fstream>

using namespace mxd;

namespace {

const Backend &backend()
{
	static const std::shared_ptr<Backend> b = [] {
		const std::string file = fuzz::store_dir("toml") + "/mxdelegate.toml";
		{
			std::ofstream out(file);
			out << "[backend]\nname = \"toml\"\n";
			// JSON strings and integers are valid TOML values as written.
			for (const auto &[key, record] : fuzz::store()) {
				out << "[domains.\"" << key << "\"]\n";
				for (auto it = record.begin(); it != record.end(); ++it) {
					out << it.key() << " = ";
					if (it->is_object())
						out << "{ " << it->begin().key() << " = " << it->begin()->dump()
						    << " }\n";
					else
						out << it->dump() << "\n";
				}
			}
		}
		auto plugin = Plugin::load(fuzz::plugin_dir() + "/toml.so");
		auto opened = Backend::open(plugin, {{"config_file", file}});
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
