// The probe's output: one row a document, as a table line or a JSON line,
// and the summary by code at the end.  Pure: main writes the strings.
#pragma once

#include <cstddef>
#include <map>
#include <string>

namespace mxd::probe {

struct Row {
	std::string domain, document, url;
	std::string code, detail;
	// With --federation: what a client (/client) or a homeserver (/server)
	// concludes, "ok", "IGNORE", "FAIL_PROMPT", "FAIL_ERROR" or "FAIL";
	// empty otherwise.
	std::string conclusion, conclusion_why;
	bool ok() const { return code == "ok" && (conclusion.empty() || conclusion == "ok"); }
};

std::string table_header();
std::string table_row(const Row &r);
std::string json_row(const Row &r);

class Tally {
public:
	void add(const Row &r);
	void domain() { domains_++; }
	bool all_ok() const { return not_ok_ == 0; }
	std::size_t done() const { return documents_; }
	std::size_t not_ok() const { return not_ok_; }
	// "summary: 5 documents of 3 domains: 3 ok, 1 mismatch, 1 tls", then
	// the conclusions' line with --federation.
	std::string table() const;
	std::string json() const;

private:
	std::size_t documents_ = 0, domains_ = 0, not_ok_ = 0;
	std::map<std::string, std::size_t> codes_, client_, federation_;
};

} // namespace mxd::probe
