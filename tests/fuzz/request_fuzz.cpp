// The whole answer path without the I/O: a parameter set from the input
// (NUL-separated NAME, VALUE, NAME, VALUE, ...) -> parse_request (route,
// host) -> Responder::answer on a fixed TOML configuration loaded through the
// plugin loader -> the bytes that would be written.  Every answer, whatever
// the parameters, must be a well-formed CGI response with the CORS headers.
#include "fuzz.hpp"

#include "service/config.hpp"
#include "core/host.hpp"
#include "core/request.hpp"
#include "service/responder.hpp"
#include "core/route.hpp"

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <set>

using namespace mxd;

namespace {

struct FuzzParams {
	std::map<std::string, std::string> values;
	std::set<std::string> asked;
};

const char *param(const char *name, void *ctx)
{
	auto *p = static_cast<FuzzParams *>(ctx);
	p->asked.insert(name);
	auto it = p->values.find(name);
	return it == p->values.end() ? nullptr : it->second.c_str();
}

Responder &responder()
{
	static std::unique_ptr<Responder> r = [] {
		char tmpl[] = "/tmp/mxd-fuzz-request-XXXXXX";
		if (!mkdtemp(tmpl))
			std::abort();
		const std::string file = std::string(tmpl) + "/mxdelegate.toml";
		std::ofstream(file) << "[backend]\nname = \"toml\"\nplugin_dir = \"" << fuzz::plugin_dir()
		                    << "\"\n"
		                       "[server]\ncache_size = 16\n"
		                       "[defaults]\nserver = \"matrix.{domain}:443\"\n"
		                       "[domains.\"example.org\"]\n"
		                       "client = \"https://matrix.example.org\"\n"
		                       "support = { support_page = \"https://example.org/help\" }\n"
		                       "policy_server = { ed25519 = "
		                       "\"l8Hft5qXKn1vfHrg3p4+W8gELQVo8N13JkluMfmn2sQ\" }\n"
		                       "[domains.\"*.example.net\"]\n"
		                       "client = \"https://{domain}/chat\"\nmax_age = 60\n"
		                       "[domains.\"xn--bcher-kva.example\"]\n"
		                       "server = \"matrix.example.org:8448\"\n";
		auto resp = std::make_unique<Responder>(load_config(file));
		std::remove(file.c_str());
		rmdir(tmpl);
		return resp;
	}();
	return *r;
}

// Splits the reply as a web server reads it (headers by lower-cased name,
// then the body) and checks what every answer must have.
void check_reply(const Reply &reply, const Request &req)
{
	const std::string whole = reply.wire();
	const std::string_view bytes = whole;
	const std::size_t end = bytes.find("\r\n\r\n");
	FUZZ_CHECK(end != std::string_view::npos);
	const std::string_view head = bytes.substr(0, end + 2);
	const std::string_view body = bytes.substr(end + 4);
	FUZZ_CHECK(head.compare(0, 8, "Status: ") == 0);
	FUZZ_CHECK(std::to_string(reply.status) == head.substr(8, 3));

	std::map<std::string, std::string> h;
	for (std::size_t at = head.find("\r\n") + 2; at < head.size();) {
		const std::size_t eol = head.find("\r\n", at);
		const std::string_view line = head.substr(at, eol - at);
		const std::size_t colon = line.find(": ");
		FUZZ_CHECK(colon != std::string_view::npos && colon > 0);
		std::string name(line.substr(0, colon));
		for (char &c : name)
			c = static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
		// No header twice, and no CR or LF inside a value (response splitting).
		FUZZ_CHECK(h.emplace(name, std::string(line.substr(colon + 2))).second);
		FUZZ_CHECK(line.find_first_of("\r\n") == std::string_view::npos);
		at = eol + 2;
	}
	FUZZ_CHECK(h["access-control-allow-origin"] == "*");
	FUZZ_CHECK(h["access-control-allow-methods"] == "GET, POST, PUT, DELETE, OPTIONS");
	FUZZ_CHECK(h["access-control-allow-headers"] ==
	           "X-Requested-With, Content-Type, Authorization");

	const int s = reply.status;
	// 500: a record that turns invalid for this host, such as a template
	// "matrix.{domain}:443" under a wildcard asked for with a 250-character
	// name (the server name passes 255).  The TOML store never gives 503.
	FUZZ_CHECK(s == 200 || s == 204 || s == 304 || s == 400 || s == 403 || s == 404 ||
	           s == 405 || s == 500);
	if (s == 204 || s == 304) {
		FUZZ_CHECK(body.empty() && !h.count("content-length"));
	} else {
		FUZZ_CHECK(h["content-type"] == "application/json");
		FUZZ_CHECK(!h["content-length"].empty());
		// The 403 to an authorizer or filter is for the web server, body included.
		const bool head_only = req.method == Method::head && req.role == Role::responder;
		FUZZ_CHECK(head_only ? body.empty() : h["content-length"] == std::to_string(body.size()));
		if (!head_only) {
			const nlohmann::json j = fuzz::parse_json(body);
			FUZZ_CHECK(j.is_object());
			FUZZ_CHECK(s == 200 || j.contains("errcode"));
		}
	}
	// A document is only ever served for a GET or HEAD of a known path and a
	// Host that is a name; and an OPTIONS never looks at anything else.
	if (s == 200 || s == 304) {
		FUZZ_CHECK(req.role == Role::responder && req.document.has_value());
		FUZZ_CHECK(req.method == Method::get || req.method == Method::head);
		FUZZ_CHECK(req.has_host && host::normalise(req.host).kind == host::Kind::name);
		FUZZ_CHECK(!h["etag"].empty() && !h["cache-control"].empty());
	}
	if (req.method == Method::options && req.role == Role::responder)
		FUZZ_CHECK(s == 204);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
	const std::string_view in(reinterpret_cast<const char *>(data), size);
	FuzzParams p;
	std::size_t at = 0;
	while (at < in.size()) {
		std::size_t nul = in.find('\0', at);
		const std::string_view name = in.substr(at, nul - at);
		if (nul == std::string_view::npos)
			break;
		at = nul + 1;
		nul = in.find('\0', at);
		const std::string_view value = in.substr(at, nul - at);
		p.values.emplace(name, value); // the first of two same names wins
		at = nul == std::string_view::npos ? in.size() : nul + 1;
	}

	const Request req = parse_request(param, &p);

	// A FastCGI worker gathers the same parameters from the request's
	// name-value pairs in one pass instead (Gathered), its role from
	// BEGIN_REQUEST: given here as the FCGI_ROLE the lookup form read, the
	// same parameters must make the same Request.
	Gathered gathered;
	for (const auto &[name, value] : p.values)
		gathered.add(name, value);
	const auto role = p.values.find("FCGI_ROLE");
	std::string text;
	const Request r2 = parse_request(
		gathered.params(text, role == p.values.end() ? nullptr : role->second.c_str()));
	FUZZ_CHECK(r2.method == req.method && r2.method_name == req.method_name);
	FUZZ_CHECK(r2.role == req.role && r2.has_target == req.has_target);
	FUZZ_CHECK(r2.document == req.document && r2.path == req.path);
	FUZZ_CHECK(r2.has_host == req.has_host && r2.host == req.host);
	FUZZ_CHECK(r2.if_none_match == req.if_none_match);
	// Only the documented parameters choose anything: a tenant picked by
	// X-Forwarded-Host or SERVER_NAME would be another tenant's answer.
	static const std::set<std::string> allowed{
		"REQUEST_METHOD", "FCGI_ROLE",  "REQUEST_URI",       "SCRIPT_NAME",
		"PATH_INFO",      "HTTP_HOST", "HTTP_IF_NONE_MATCH"};
	for (const std::string &name : p.asked)
		FUZZ_CHECK(allowed.count(name));
	// REQUEST_URI wins over SCRIPT_NAME + PATH_INFO, and a matched document's
	// own path routes back to it.
	if (req.document) {
		FUZZ_CHECK(req.has_target);
		FUZZ_CHECK(route::match_path(document_path(*req.document)) == req.document);
		// (An empty REQUEST_URI counts as absent.)
		if (auto uri = p.values.find("REQUEST_URI"); uri != p.values.end() && !uri->second.empty())
			FUZZ_CHECK(route::canonical_path(uri->second).has_value());
	}

	Reply reply;
	responder().answer(req, reply);
	check_reply(reply, req);
	return 0;
}
