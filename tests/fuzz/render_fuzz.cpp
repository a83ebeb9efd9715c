// render and the CGI wire form: a valid record from the input (first line:
// the host, rest: the record's JSON), every document rendered, serialised
// with and without a body, and the result read back as a web server reads
// it.  Also the fixed answers and If-None-Match with hostile values.
#include "fuzz.hpp"

#include "core/host.hpp"
#include "core/record.hpp"
#include "core/render.hpp"
#include "core/response.hpp"

#include <cstddef>
#include <cstdint>

using namespace mxd;
using nlohmann::json;

namespace {

// What every answer carries (DESIGN.md), errors included.
void check_cors(const Response &r)
{
	const std::string *o = r.header("access-control-allow-origin");
	const std::string *m = r.header("Access-Control-Allow-Methods");
	const std::string *h = r.header("ACCESS-CONTROL-ALLOW-HEADERS");
	FUZZ_CHECK(o && *o == "*");
	FUZZ_CHECK(m && *m == "GET, POST, PUT, DELETE, OPTIONS");
	FUZZ_CHECK(h && *h == "X-Requested-With, Content-Type, Authorization");
}

// The wire form: status line, headers as given, Content-Length equal to the
// body's size (also for HEAD), the body only when asked for.
void check_wire(const Response &r)
{
	for (const bool with_body : {true, false}) {
		const std::string w = serialize(r, with_body);
		const std::size_t end = w.find("\r\n\r\n");
		FUZZ_CHECK(end != std::string::npos);
		FUZZ_CHECK(w.compare(0, 12, "Status: " + std::to_string(r.status) + " ") == 0);
		const std::string body = w.substr(end + 4);
		FUZZ_CHECK(body == (with_body ? r.body : std::string()));
		const std::string head = w.substr(0, end + 2);
		const bool no_body = r.status == 204 || r.status == 304;
		const std::string cl = "\r\nContent-Length: " + std::to_string(r.body.size()) + "\r\n";
		FUZZ_CHECK((head.find(cl) != std::string::npos) == !no_body);
		for (const auto &[name, value] : r.headers)
			FUZZ_CHECK(head.find("\r\n" + name + ": " + value + "\r\n") != std::string::npos);
	}
}

void check_document(const json &record, Document doc, const std::string &host)
{
	const render::Policy policy;
	const Response r = render::document(record, doc, host, policy);
	check_cors(r);
	check_wire(r);
	const json body = fuzz::parse_json(r.body);
	FUZZ_CHECK(body.is_object());
	// A redirected document: its status, Location, and where it went.
	if (const std::optional<render::Redirect> to = render::redirect(record, doc)) {
		FUZZ_CHECK(r.status == to->status);
		FUZZ_CHECK(r.status == 301 || r.status == 302 || r.status == 307 || r.status == 308);
		FUZZ_CHECK(r.header("Location") && *r.header("Location") == to->location);
		FUZZ_CHECK((body == json{{"location", to->location}}));
		const std::string *etag = r.header("ETag");
		FUZZ_CHECK(etag && render::etag_matches(*etag, *etag));
		FUZZ_CHECK(r.header("Cache-Control"));
		return;
	}
	FUZZ_CHECK(r.status == 200 || r.status == 404);
	const std::optional<std::string> b = render::body(record, doc);
	FUZZ_CHECK(b.has_value() == (r.status == 200));
	if (r.status != 200) {
		FUZZ_CHECK(body.value("errcode", "") == "M_NOT_FOUND");
		return;
	}
	FUZZ_CHECK(r.body == *b && r.body.size() <= record::max_document_size);
	const std::string *etag = r.header("ETag");
	FUZZ_CHECK(etag && *etag == render::etag(r.body));
	FUZZ_CHECK(r.header("Cache-Control") && r.header("Content-Type"));
	FUZZ_CHECK(render::etag_matches(*etag, *etag));
	FUZZ_CHECK(render::etag_matches("W/" + *etag, *etag));
	FUZZ_CHECK(render::etag_matches("\"x\", " + *etag, *etag));
	FUZZ_CHECK(render::etag_matches("*", *etag));
	const Response nm = render::not_modified(r);
	FUZZ_CHECK(nm.status == 304 && nm.body.empty());
	FUZZ_CHECK(nm.header("ETag") && *nm.header("ETag") == *etag);
	check_cors(nm);
	check_wire(nm);
	// What the document says, per the spec's shape.
	switch (doc) {
	case Document::server: FUZZ_CHECK(body.at("m.server").is_string()); break;
	case Document::client:
		FUZZ_CHECK(body.at("m.homeserver").at("base_url").is_string());
		break;
	case Document::support:
		FUZZ_CHECK(body.contains("contacts") || body.contains("support_page"));
		break;
	case Document::policy_server: FUZZ_CHECK(body.at("public_keys").is_object()); break;
	}
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
	const std::string_view in(reinterpret_cast<const char *>(data), size);
	const auto [host_in, text] = fuzz::split_line(in);

	// If-None-Match as a client sends it: never a crash, never a match of
	// an ETag the header does not hold.
	const std::string tag = render::etag(text);
	if (render::etag_matches(host_in, tag))
		FUZZ_CHECK(host_in.find('*') != std::string_view::npos ||
		           host_in.find(tag) != std::string_view::npos);

	const host::Normalised h = host::normalise(host_in);
	const std::string host = h.kind == host::Kind::name ? h.name : "example.org";
	const json stored = fuzz::parse_json(text);
	if (!stored.is_object())
		return 0;
	const json record = record::effective(stored, json::object(), host);
	// render is only ever given records that passed validation.
	if (!record::validate(record, host).empty())
		return 0;
	for (Document d : all_documents)
		check_document(record, d, host);

	const render::Policy policy;
	for (const int status : {400, 403, 404, 405, 500, 503}) {
		const Response e = render::error(status, "M_UNKNOWN", host, policy);
		check_cors(e);
		check_wire(e);
		FUZZ_CHECK(fuzz::parse_json(e.body).value("error", "") == host);
		FUZZ_CHECK((e.header("Allow") != nullptr) == (status == 405));
	}
	const Response p = render::preflight();
	check_cors(p);
	check_wire(p);
	FUZZ_CHECK(p.status == 204 && p.body.empty());
	return 0;
}
