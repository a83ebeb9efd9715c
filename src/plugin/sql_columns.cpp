#include "plugin/sql_columns.hpp"

#include "core/log.hpp"
#include "plugin/plugin_strings.hpp"

#include <nlohmann/json.hpp>

namespace mxd::plugin {

std::string record_of(const Row &row, std::string_view plugin, std::string_view store,
                      std::string_view domain)
{
	nlohmann::json r = nlohmann::json::object();
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
		} else if (auto v = nlohmann::json::parse(cell.chars, nullptr, false); v.is_object()) {
			r[col.name] = std::move(v);
		} else {
			why = "is not a JSON object";
		}
		if (why)
			throw StatusError(MXD_ERROR, std::string(plugin) + ": " + std::string(store) + ": " +
			                                 log::one_line(domain) + ": " + col.name + ": " + why);
	}
	return r.dump();
}

} // namespace mxd::plugin
