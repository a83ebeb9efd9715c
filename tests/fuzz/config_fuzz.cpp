// load_config on the input as the configuration file.  It reads a path, so
// the input is written to one memfd (reused for every input) and read back
// through /proc/self/fd.  Either ConfigError with "file:line:column:" on every
// line, or a Config whose values are within their documented ranges.  And
// for text toml++ parses, the loader's text without [domains]
// (core/toml_tables) parses to the same tables less "domains".
#include "fuzz.hpp"

#include "service/config.hpp"
#include "core/record.hpp"
#include "core/toml_library.hpp"
#include "core/toml_tables.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>

using namespace mxd;

namespace {

const std::string &file()
{
	static const std::string path = [] {
		const int fd = memfd_create("mxdelegate.toml", MFD_CLOEXEC);
		if (fd < 0)
			std::abort();
		return "/proc/self/fd/" + std::to_string(fd);
	}();
	return path;
}

void write_input(const std::uint8_t *data, std::size_t size)
{
	const int fd = std::stoi(file().substr(file().rfind('/') + 1));
	if (ftruncate(fd, 0) != 0)
		std::abort();
	for (std::size_t done = 0; done < size;) {
		const ssize_t n = pwrite(fd, data + done, size - done, static_cast<off_t>(done));
		if (n <= 0)
			std::abort();
		done += static_cast<std::size_t>(n);
	}
}

// toml_tables::without may cut only what toml++ would read as [domains].
void check_cut(std::string_view text)
{
	toml::table whole;
	try {
		whole = toml::parse(text);
	} catch (const toml::parse_error &) {
		return;
	}
	toml::table cut;
	try {
		cut = toml::parse(toml_tables::without(text, "domains").text);
	} catch (const toml::parse_error &e) {
		std::fprintf(stderr, "the cut text does not parse: %s\n", std::string(e.description()).c_str());
		FUZZ_CHECK(false);
	}
	whole.erase("domains");
	cut.erase("domains");
	FUZZ_CHECK(whole == cut);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
	check_cut(std::string_view(reinterpret_cast<const char *>(data), size));
	write_input(data, size);
	Config c;
	try {
		c = load_config(file());
	} catch (const ConfigError &e) {
		// One problem a line, each naming where it is, so that an operator
		// (and a log reader) can never be misled by a line the file wrote
		// (regressions/config/ has a key and a parse error with newlines).
		const std::string what = e.what();
		FUZZ_CHECK(!what.empty());
		for (std::size_t at = 0; at <= what.size();) {
			std::size_t nl = what.find('\n', at);
			if (nl == std::string::npos)
				nl = what.size();
			if (what.compare(at, file().size() + 1, file() + ":") != 0)
				std::fprintf(stderr, "message:\n%s\n", what.c_str());
			FUZZ_CHECK(what.compare(at, file().size() + 1, file() + ":") == 0);
			at = nl + 1;
		}
		return 0;
	}
	FUZZ_CHECK(c.file == file());
	FUZZ_CHECK(!c.backend_name.empty());
	FUZZ_CHECK(c.backend.is_object() && c.backend.value("config_file", "") == file());
	FUZZ_CHECK(!c.backend.contains("access"));
	FUZZ_CHECK(c.defaults.is_object() && record::validate(c.defaults, "").empty());
	FUZZ_CHECK(c.threads >= 1 && c.threads <= 1024);
	FUZZ_CHECK(c.check_interval_ms >= 10 && c.check_interval_ms <= 3600 * 1000);
	FUZZ_CHECK(c.read_timeout_s <= 3600);
	return 0;
}
