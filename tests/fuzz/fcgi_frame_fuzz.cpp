// fcgi_frame::scan, read_request and answer_management on arbitrary bytes:
// what any peer of the FastCGI socket sends, what decides whether a worker
// ever sees it, and the worker's own reading of it.
#include "fuzz.hpp"

#include "core/fcgi_frame.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

using namespace mxd;
using Kind = fcgi_frame::Verdict::Kind;

namespace {

void check_answer(std::span<const std::uint8_t> record)
{
	const auto answer = fcgi_frame::answer_management(record, fcgi_frame::Values{4096, 4096});
	if (!answer)
		return;
	const std::string &a = *answer;
	FUZZ_CHECK(a.size() >= fcgi_frame::header_size && a.size() % 8 == 0);
	FUZZ_CHECK(a[0] == 1 && a[2] == 0 && a[3] == 0);
	FUZZ_CHECK(a[1] == fcgi_frame::get_values_result || a[1] == fcgi_frame::unknown_type);
	const std::size_t content = static_cast<unsigned char>(a[4]) << 8 | static_cast<unsigned char>(a[5]);
	FUZZ_CHECK(fcgi_frame::header_size + content + static_cast<unsigned char>(a[6]) == a.size());
	if (a[1] == fcgi_frame::unknown_type) {
		FUZZ_CHECK(content == 8 && static_cast<unsigned char>(a[8]) == record[1]);
		return;
	}
	// Three names at most, each once: bounded whatever was asked.
	FUZZ_CHECK(record[1] == fcgi_frame::get_values);
	FUZZ_CHECK(content <= 3 * (2 + 15 + 20));
	FUZZ_CHECK(fcgi_frame::pairs_well_formed(
		{reinterpret_cast<const std::uint8_t *>(a.data()) + fcgi_frame::header_size, content}));
}

void count_pair(std::string_view, std::string_view, void *ctx)
{
	++*static_cast<std::size_t *>(ctx);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
	const fcgi_frame::Limits limits{4096};
	const std::size_t window = fcgi_frame::window(limits);
	const std::span<const std::uint8_t> all(data, size < window ? size : window);

	fcgi_frame::Progress fresh;
	const fcgi_frame::Verdict v = fcgi_frame::scan(all, fresh, limits);
	FUZZ_CHECK(fresh.offset <= all.size());
	FUZZ_CHECK(fresh.params <= limits.params_bytes);
	switch (v.kind) {
	case Kind::need:
		FUZZ_CHECK(v.bytes > all.size() && v.bytes <= window);
		break;
	case Kind::whole: {
		FUZZ_CHECK(v.bytes <= all.size() && v.bytes >= 2 * fcgi_frame::header_size + 8);
		FUZZ_CHECK(fresh.id != 0);
		// The worker reads what the gate called whole, and agrees with it.
		std::string scratch;
		std::size_t pairs = 0;
		const auto begin = fcgi_frame::read_request(all.first(v.bytes), scratch, count_pair, &pairs);
		FUZZ_CHECK(begin && begin->id == fresh.id && begin->keep == fresh.keep);
		break;
	}
	case Kind::management:
		FUZZ_CHECK(v.bytes <= all.size() && v.bytes >= fcgi_frame::header_size);
		check_answer(all.first(v.bytes));
		break;
	case Kind::broken:
		FUZZ_CHECK(fcgi_frame::describe(v.rule)[0] != '?');
		break;
	}

	// Whatever the bytes, the worker's reading refuses or reads within them.
	{
		std::string scratch;
		std::size_t pairs = 0;
		(void)fcgi_frame::read_request(all, scratch, count_pair, &pairs);
	}

	// The gate scans what has arrived so far and resumes: fed in two parts,
	// the verdict is the one of the whole.
	if (all.size() > 1) {
		const std::size_t cut = data[0] % all.size();
		fcgi_frame::Progress p;
		const fcgi_frame::Verdict first = fcgi_frame::scan(all.first(cut), p, limits);
		if (first.kind == Kind::need) {
			const fcgi_frame::Verdict again = fcgi_frame::scan(all, p, limits);
			FUZZ_CHECK(again.kind == v.kind && again.bytes == v.bytes && again.rule == v.rule);
			FUZZ_CHECK(p.offset == fresh.offset && p.params == fresh.params && p.keep == fresh.keep);
		} else {
			FUZZ_CHECK(first.kind == v.kind);
		}
	}
	return 0;
}
