#include "core/domains_toml.hpp"

#include "core/host.hpp"
#include "core/log.hpp"
#include "core/record.hpp"
#include "core/toml_json.hpp"
#include "core/toml_library.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <unordered_map>
#include <utility>

namespace mxd::domains_toml {

namespace {

// Keys and values may hold any byte: a message stays one line.
std::string quoted(std::string_view s)
{
	return '"' + log::one_line(s) + '"';
}

bool configuration_table(std::string_view key)
{
	return key == "backend" || key == "defaults" || key == "http" || key == "server" || key == "log" ||
	       key == "status" || key == "follow";
}

// The values to_json() refuses, found here so that each one is reported with
// its domain and field, and all of them at once.
void find_unconvertible(const toml::node &node, record::Path &path,
                        std::vector<std::pair<const toml::node *, record::Path>> &out)
{
	if (const auto *table = node.as_table()) {
		for (const auto &[key, child] : *table) {
			path.emplace_back(std::string(key.str()));
			find_unconvertible(child, path, out);
			path.pop_back();
		}
	} else if (const auto *array = node.as_array()) {
		for (std::size_t i = 0; i < array->size(); i++) {
			path.emplace_back(i);
			find_unconvertible(*array->get(i), path, out);
			path.pop_back();
		}
	} else if (node.is_date() || node.is_time() || node.is_date_time()) {
		out.emplace_back(&node, path);
	} else if (const auto *f = node.as_floating_point(); f && !std::isfinite(f->get())) {
		out.emplace_back(&node, path);
	}
}

// One problem, kept with its position so that the report follows the file
// from top to bottom whatever order toml++ iterates tables in.
struct Problem {
	toml::source_position at;
	std::string text;
};

class Reader {
public:
	explicit Reader(const Check &check) : check_(check) {}

	void top(const toml::table &root, Beside beside)
	{
		for (const auto &[key, value] : root) {
			const std::string pos = toml_json::where(key.source());
			if (key.str() == "domains") {
				domains_ = value.as_table();
				if (!domains_)
					report(key.source().begin, pos + ": domains: must be a table ([domains.\"example.org\"])");
			} else if (beside == Beside::nothing) {
				report(key.source().begin,
				       pos + ": " + quoted(key.str()) + ": only [domains] belongs in a separate domains file");
			} else if (!configuration_table(key.str())) {
				report(key.source().begin, pos + ": " + quoted(key.str()) + ": not [domains] (nor a table "
				       "of the configuration: backend, defaults, http, server, log, status, follow)");
			}
		}
	}

	Read records()
	{
		// toml++ iterates keys in sorted order; file order makes the later of
		// two keys for one domain the one reported as the duplicate.
		std::vector<std::pair<const toml::key *, const toml::node *>> entries;
		if (domains_) {
			entries.reserve(domains_->size());
			for (const auto &[key, value] : *domains_)
				entries.emplace_back(&key, &value);
			std::stable_sort(entries.begin(), entries.end(), [](const auto &a, const auto &b) {
				return a.first->source().begin < b.first->source().begin;
			});
		}
		Read out;
		out.entries.reserve(entries.size());
		for (const auto &[key, value] : entries)
			one(*key, *value, out.entries);
		std::stable_sort(problems_.begin(), problems_.end(),
		                 [](const Problem &a, const Problem &b) { return a.at < b.at; });
		for (auto &p : problems_)
			out.problems.push_back(std::move(p.text));
		if (!out.problems.empty())
			out.entries.clear();
		return out;
	}

private:
	void report(toml::source_position at, std::string text) { problems_.push_back({at, std::move(text)}); }

	void field(const toml::node &at, const std::string &domain, const record::Path &path,
	           std::string_view message)
	{
		std::string s = toml_json::where(at) + ": " + domain + ": ";
		if (!path.empty())
			s += record::format_path(path) + ": ";
		report(at.source().begin, s + log::one_line(message));
	}

	void one(const toml::key &key, const toml::node &value, std::vector<Entry> &out)
	{
		const auto at = key.source().begin;
		std::string pos = toml_json::where(key.source());
		std::string name;
		try {
			name = host::canonical_domain(key.str(), /*allow_wildcard=*/true);
		} catch (const std::invalid_argument &e) {
			report(at, pos + ": " + log::one_line(key.str()) + ": domain: " + log::one_line(e.what()));
			return;
		}
		if (auto [it, fresh] = first_.emplace(name, &key); !fresh) {
			report(at, pos + ": " + name + ": domain: " + quoted(key.str()) + " is the same domain as " +
			           quoted(it->second->str()) + " at " + toml_json::where(it->second->source()));
			return;
		}
		const toml::table *table = value.as_table();
		if (!table) {
			report(value.source().begin, toml_json::where(value) + ": " + name +
			                                 ": must be a table of record fields");
			return;
		}
		std::vector<std::pair<const toml::node *, record::Path>> bad;
		record::Path path;
		find_unconvertible(*table, path, bad);
		for (const auto &[node, p] : bad)
			field(*node, name, p, node->is_floating_point() ? "inf and nan have no JSON form"
			                                                : "a date or time has no JSON form");
		if (!bad.empty())
			return;

		nlohmann::json record = toml_json::to_json(*table);
		if (auto it = record.find("domain"); it != record.end()) {
			if (!it->is_string() || *it != name) {
				const auto &node = toml_json::locate(*table, {std::string("domain")});
				report(node.source().begin, toml_json::where(node) + ": " + name +
				                                ": domain: names another domain than its table");
				return;
			}
			record.erase(it);
		}
		const auto invalid = record::validate(record, name);
		for (const auto &p : invalid)
			field(toml_json::locate(*table, p.path), name, p.path, p.message);
		if (!invalid.empty())
			return;
		if (check_) {
			const auto more = check_(record, name);
			for (const auto &p : more)
				report(at, pos + ": " + log::one_line(p));
			if (!more.empty())
				return;
		}
		out.push_back({std::move(name), record.dump(), std::move(pos)});
	}

	const Check &check_;
	const toml::table *domains_ = nullptr;
	std::unordered_map<std::string, const toml::key *> first_;
	std::vector<Problem> problems_;
};

} // namespace

Read read(std::string_view text, const std::string &file, Beside beside, const Check &check)
{
	toml::table root;
	try {
		root = toml::parse(text, file);
	} catch (const toml::parse_error &e) {
		return {{}, {toml_json::where(e.source()) + ": " + std::string(e.description())}};
	}
	Reader reader(check);
	reader.top(root, beside);
	return reader.records();
}

} // namespace mxd::domains_toml
