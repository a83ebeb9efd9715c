#include "probe/probe_report.hpp"

#include <nlohmann/json.hpp>

#include <vector>

namespace mxd::probe {

namespace {

using json = nlohmann::json;

// Columns wide enough for the longest document name (policy_server) and
// code (redirect-without-cors); a longer domain pushes its row along
// rather than being cut, since rows are written as they come.
constexpr std::size_t domain_width = 28, document_width = 13, code_width = 21;

std::string pad(const std::string &s, std::size_t width)
{
	return s.size() >= width ? s + " " : s + std::string(width - s.size() + 1, ' ');
}

std::string counts(const std::map<std::string, std::size_t> &m)
{
	// ok first: the figure a person looks for; the rest by name.
	std::string out;
	const auto one = [&](const std::string &k, std::size_t n) {
		out += (out.empty() ? "" : ", ") + std::to_string(n) + " " + k;
	};
	if (const auto it = m.find("ok"); it != m.end())
		one(it->first, it->second);
	for (const auto &[k, n] : m)
		if (k != "ok")
			one(k, n);
	return out;
}

std::string plural(std::size_t n, const char *one, const char *many)
{
	return std::to_string(n) + " " + (n == 1 ? one : many);
}

} // namespace

std::string table_header()
{
	return pad("DOMAIN", domain_width) + pad("DOCUMENT", document_width) + pad("CODE", code_width) + "DETAIL\n";
}

std::string table_row(const Row &r)
{
	std::string detail = r.detail;
	if (!r.conclusion.empty()) {
		const std::string who = r.document == "server" ? "federation: " : "client: ";
		detail += (detail.empty() ? "" : "; ") + who + r.conclusion +
		          (r.conclusion_why.empty() ? "" : " (" + r.conclusion_why + ")");
	}
	std::string line = pad(r.domain, domain_width) + pad(r.document, document_width);
	line += detail.empty() ? r.code : pad(r.code, code_width) + detail;
	return line + "\n";
}

std::string json_row(const Row &r)
{
	json j = {{"domain", r.domain}, {"document", r.document}, {"url", r.url}, {"code", r.code}};
	if (!r.detail.empty())
		j["detail"] = r.detail;
	if (!r.conclusion.empty()) {
		j["conclusion"] = r.conclusion;
		if (!r.conclusion_why.empty())
			j["conclusion_detail"] = r.conclusion_why;
	}
	return j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

void Tally::add(const Row &r)
{
	documents_++;
	codes_[r.code]++;
	if (!r.conclusion.empty())
		(r.document == "server" ? federation_ : client_)[r.conclusion]++;
	if (!r.ok())
		not_ok_++;
}

std::string Tally::table() const
{
	std::string s = "summary: " + plural(documents_, "document", "documents") + " of " +
	                plural(domains_, "domain", "domains") + (codes_.empty() ? "" : ": " + counts(codes_)) + "\n";
	if (!client_.empty())
		s += "summary: client: " + counts(client_) + "\n";
	if (!federation_.empty())
		s += "summary: federation: " + counts(federation_) + "\n";
	return s;
}

std::string Tally::json() const
{
	nlohmann::json j = {{"documents", documents_}, {"domains", domains_}, {"not_ok", not_ok_},
	                    {"codes", codes_}};
	if (!client_.empty())
		j["client"] = client_;
	if (!federation_.empty())
		j["federation"] = federation_;
	return nlohmann::json{{"summary", j}}.dump() + "\n";
}

} // namespace mxd::probe
