#include "plugin/sql_columns.hpp"

#include "core/bounded_json.hpp"
#include "core/log.hpp"
#include "plugin/plugin_strings.hpp"

#include <nlohmann/json.hpp>
#include <xxhash.h>

#include <cstring>

namespace mxd::plugin {

std::string record_of(const Row &row, std::string_view plugin, std::string_view store,
                      std::string_view domain)
{
	nlohmann::json r = nlohmann::json::object();
	// A JSON cell past the core's bounds (a row written around the admin
	// tool) is handed on as it is, never built here: building, dumping or
	// destroying a value recurses once per level, and 100,000 levels take
	// the process down.  The core's bounded parse then refuses the record
	// by name, a 500 for this domain alone.
	std::string_view oversized_name, oversized_text;
	const bounded_json::Limits limits;
	for (std::size_t i = 0; i < row.size(); i++) {
		const Cell &cell = row[i];
		const Column &col = record_columns[i];
		if (cell.kind == Cell::null)
			continue;
		const char *why = nullptr;
		if (col.type == Column::integer) {
			if (cell.kind == Cell::integer)
				r[col.name] = cell.number;
			else
				why = "is not an integer";
		} else if (cell.kind != Cell::text) {
			why = col.type == Column::text ? "is not text" : "is not JSON text";
		} else if (col.type == Column::text) {
			r[col.name] = cell.chars;
		} else if (cell.chars.size() > limits.bytes ||
		           bounded_json::depth(cell.chars, limits.depth + 1) > limits.depth) {
			oversized_name = col.name;
			oversized_text = cell.chars;
		} else if (auto v = nlohmann::json::parse(cell.chars, nullptr, false);
		           v.is_object() || (col.type == Column::value && v.is_string())) {
			r[col.name] = std::move(v);
		} else {
			why = col.type == Column::value ? "is not a JSON string or object" : "is not a JSON object";
		}
		if (why)
			throw StatusError(MXD_ERROR, std::string(plugin) + ": " + std::string(store) + ": " +
			                                 log::one_line(domain) + ": " + col.name + ": " + why);
	}
	std::string text = r.dump();
	if (!oversized_name.empty()) {
		text.pop_back(); // the closing brace, put back after the cell
		// One such cell is enough for the core to refuse the record; should
		// a row have two, the last one stands for both.
		if (text.size() > 1)
			text += ',';
		((text += '"').append(oversized_name) += "\":").append(oversized_text) += '}';
	}
	return text;
}

std::string row_digest(std::string_view domain, const Row &row)
{
	// One buffer, hashed at once: XXH3's streaming state is a type of
	// xxhash's static-linking-only API, whose layout may change between
	// versions of the shared library.  Not a thread_local kept between
	// calls: this runs inside dlopen()ed plugins, whose dynamic TLS
	// LeakSanitizer scans at exit, after the plugin was dlclose()d, and its
	// tracer then crashed now and then (exit 99 in the sanitizer stage).
	// Its size is known before anything is written, so that a row of a
	// usual record (a few hundred bytes) is laid out on the stack, once,
	// with no allocation and no check of room byte by byte: this is on
	// every rendered miss's path.
	std::size_t size = 8 + domain.size();
	for (const Cell &cell : row)
		size += 1 + (cell.kind == Cell::text      ? 8 + cell.chars.size()
		             : cell.kind == Cell::integer ? 8
		                                          : 0);
	char small[1024];
	std::string large;
	char *const in = size <= sizeof small ? small : (large.resize(size), large.data());
	char *at = in;
	const auto add_size = [&](std::uint64_t n) {
		for (int i = 0; i < 8; i++)
			*at++ = static_cast<char>(n >> (8 * i));
	};
	const auto add = [&](std::string_view text) {
		if (!text.empty())
			std::memcpy(at, text.data(), text.size());
		at += text.size();
	};
	add_size(domain.size());
	add(domain);
	for (const Cell &cell : row) {
		*at++ = static_cast<char>(cell.kind);
		if (cell.kind == Cell::text) {
			add_size(cell.chars.size());
			add(cell.chars);
		} else if (cell.kind == Cell::integer) {
			add_size(static_cast<std::uint64_t>(cell.number));
		}
	}
	XXH128_canonical_t out;
	XXH128_canonicalFromHash(&out, XXH3_128bits(in, static_cast<std::size_t>(at - in)));
	return std::string(reinterpret_cast<const char *>(out.digest), sizeof out.digest);
}

std::int64_t domain_id(std::string_view domain)
{
	return static_cast<std::int64_t>(XXH3_64bits(domain.data(), domain.size()));
}

} // namespace mxd::plugin
