#include "core/lint.hpp"

#include "core/ascii.hpp"
#include "core/hostport.hpp"
#include "core/log.hpp"
#include "core/render.hpp"
#include "core/route.hpp"

#include <array>
#include <cstdint>
#include <utility>

namespace mxd::lint {

namespace {

using json = nlohmann::json;

// The spec's sections, as the warnings cite them.
constexpr std::string_view well_known_uris = "spec: client-server API, Server Discovery, Well-known URIs";
constexpr std::string_view namespaced_grammar =
	"spec: appendices, Common Namespaced Identifier Grammar";

// Sliding sync proxies that are known to be gone: a client that still
// takes the key fails its sync.  matrix.org's own proxy was turned off once
// Synapse served simplified sliding sync (MSC4186) itself.
constexpr std::array<std::string_view, 1> dead_proxies = {"slidingsync.lab.matrix.org"};

std::string quote(std::string_view s)
{
	return "\"" + log::one_line(s, {.quotes = true, .non_ascii = true, .keep_utf8 = true, .max = 96}) +
	       "\"";
}

const std::string *string_at(const json &object, std::string_view key)
{
	if (!object.is_object())
		return nullptr;
	const auto it = object.find(key);
	if (it == object.end() || !it->is_string())
		return nullptr;
	return &it->get_ref<const std::string &>();
}

// The host of an absolute URL, lower case, or empty.
std::string url_host(std::string_view url)
{
	const std::size_t sep = url.find("://");
	if (sep == std::string_view::npos)
		return {};
	std::string_view rest = url.substr(sep + 3);
	rest = rest.substr(0, rest.find_first_of("/?#"));
	std::string host(hostport::split(rest).host);
	for (char &c : host)
		c = ascii::to_lower(c);
	return host;
}

// The path of an absolute URL, without query or fragment: "" for none.
std::string_view url_path(std::string_view url)
{
	const std::size_t sep = url.find("://");
	if (sep == std::string_view::npos)
		return {};
	std::string_view rest = url.substr(sep + 3);
	const std::size_t slash = rest.find_first_of("/?#");
	if (slash == std::string_view::npos || rest[slash] != '/')
		return {};
	rest = rest.substr(slash);
	return rest.substr(0, rest.find_first_of("?#"));
}

class Linter {
public:
	std::vector<Warning> warnings;

	void add(Code code, record::Path path, std::string message)
	{
		warnings.push_back({code, std::move(path), std::move(message)});
	}

	void server(const json &v)
	{
		if (!v.is_string())
			return;
		const std::string &s = v.get_ref<const std::string &>();
		const hostport::Split split = hostport::split(s);
		if (!split.has_port || split.port != "8448")
			return;
		std::string host(s.substr(0, s.size() - 5));
		add(Code::server_port_8448, {"server"},
		    quote(s) + " states port 8448, which a homeserver uses anyway for a name without a "
		    "port; write " + quote(host) + ", which also lets an SRV record (_matrix-fed._tcp) "
		    "move the port later, unless skipping SRV is what you want "
		    "(spec: server-server API, Resolving server names, step 3)");
	}

	// A permanent redirect is a promise a client may keep past any
	// Cache-Control: one that re-links (RFC 9110 15.4.2) never asks this
	// domain again, so a redirect changed later does not reach it.
	void redirect_status(const json &v)
	{
		if (!v.is_number_integer() || (v.get<std::int64_t>() != 301 && v.get<std::int64_t>() != 308))
			return;
		add(Code::permanent_redirect, {"redirect_status"},
		    std::to_string(v.get<std::int64_t>()) +
		        " is a permanent redirect: a client may remember the new place and never ask this "
		        "domain again, so a later change of the redirect would not reach it; use 302 (the "
		        "default) or 307 unless the move is final (RFC 9110 15.4.2 and 15.4.9; spec: "
		        "client-server API, Server Discovery, Well-known URIs, v1.20)");
	}

	void base_url(const json &v, record::Path path)
	{
		if (!v.is_string())
			return;
		const std::string &s = v.get_ref<const std::string &>();
		const std::string_view p = url_path(s);
		if (p.empty() || p == "/")
			return;
		const std::string origin = s.substr(0, static_cast<std::size_t>(p.data() - s.data()));
		add(Code::base_url_path, std::move(path),
		    quote(s) + " has the path " + quote(p) + "; clients add /_matrix/client/... to the "
		    "base URL themselves, so it is normally the bare origin, " + quote(origin) +
		    "; keep a path only if the server is really served under it (" +
		    std::string(well_known_uris) + ")");
	}

	void client_extra(const json &v)
	{
		if (!v.is_object())
			return;
		for (const auto &[key, value] : v.items()) {
			const record::Path at{"client_extra", key};
			if (key == "org.matrix.msc2965.authentication")
				add(Code::auth_metadata, at,
				    "clients discover authentication through GET "
				    "/_matrix/client/v1/auth_metadata on the homeserver now; remove this key "
				    "(Synapse with MAS still writes it; current clients do not read it) "
				    "(spec: client-server API, OAuth 2.0 API, Server metadata discovery, v1.15)");
			else if (key == "org.matrix.msc4143.rtc_foci")
				add(Code::rtc_foci, at,
				    "MatrixRTC transports are found through GET /_matrix/client/v1/rtc/transports "
				    "on the homeserver now; configure them there, and keep this key only while "
				    "Element Call runs as a widget, which still reads it "
				    "(MSC4143; the spec has no section for it yet)");
			else if (key == "org.matrix.msc3575.proxy")
				proxy(value, at);
			else if (key == "m.identity_server" && value.is_object())
				if (const auto b = value.find("base_url"); b != value.end())
					base_url(*b, {"client_extra", key, "base_url"});
			extension_key(key, at, well_known_uris);
		}
	}

	void proxy(const json &value, const record::Path &at)
	{
		const std::string *url = string_at(value, "url");
		if (!url)
			return;
		const std::string host = url_host(*url);
		for (std::string_view dead : dead_proxies)
			if (host == dead)
				add(Code::dead_proxy, at,
				    quote(*url) + " is a sliding sync proxy that no longer runs; remove the key: "
				    "homeservers serve sliding sync themselves (simplified sliding sync, "
				    "MSC4186: Synapse 1.114 and later, conduwuit, tuwunel), and clients that "
				    "take the key fail to sync (MSC3575, superseded)");
	}

	void extension_key(const std::string &key, const record::Path &at, std::string_view section)
	{
		if (java_package_style(key))
			return;
		add(Code::extension_key, at,
		    quote(key) + " is not namespaced in Java package style; name an extension after a "
		    "domain you control, reversed and in lower case, such as com.example.myapp.setting (" +
		    std::string(section) + "; " + std::string(namespaced_grammar) + ")");
	}

	void support(const json &v)
	{
		if (!v.is_object())
			return;
		for (const auto &[key, value] : v.items())
			if (key != "contacts" && key != "support_page")
				extension_key(key, {"support", key}, support_section);
		const auto contacts = v.find("contacts");
		if (contacts == v.end() || !contacts->is_array())
			return;
		for (std::size_t i = 0; i < contacts->size(); i++) {
			const json &c = (*contacts)[i];
			if (!c.is_object())
				continue;
			for (const auto &[key, value] : c.items())
				if (key != "role" && key != "matrix_id" && key != "email_address")
					extension_key(key, {"support", "contacts", i, key}, support_section);
			if (const std::string *role = string_at(c, "role"))
				support_role(*role, {"support", "contacts", i, "role"});
		}
	}

	void support_role(const std::string &role, record::Path at)
	{
		if (role == "m.role.admin" || role == "m.role.security")
			return;
		const std::string use = "; use m.role.admin (any query), m.role.security (sensitive "
		                        "requests) or a role of your own such as org.example.role.moderator (" +
		                        std::string(support_section) + "; " + std::string(namespaced_grammar) +
		                        ")";
		if (role.starts_with("m."))
			add(Code::support_role, std::move(at),
			    quote(role) + " is not a role of the spec, whose m. names are its own (a "
			    "moderator role is only proposed, MSC4121)" + use);
		else if (!java_package_style(role))
			add(Code::support_role, std::move(at),
			    quote(role) + " is not namespaced in Java package style" + use);
	}

	void sizes(const json &record)
	{
		for (Document d : all_documents) {
			std::optional<std::string> body;
			try {
				body = render::body(record, d);
			} catch (const json::exception &) {
				continue; // validation's to report
			}
			if (!body || body->size() <= advised_document_size)
				continue;
			const std::string part(d == Document::client && record.contains("client_extra")
			                           ? "client_extra"
			                           : document_name(d));
			add(Code::document_size, {part},
			    "makes " + std::string(document_path(d)) + " " + std::to_string(body->size()) +
			        " bytes long; keep a document under " + std::to_string(advised_document_size) +
			        " bytes: homeservers drop one past 12 KiB (tuwunel) to 50 KiB (Synapse), and "
			        "clients fetch it at every login; move large data to a URL the document "
			        "names (the spec sets no limit; " +
			        std::string(well_known_uris) + ")");
		}
	}

	void client_without_homeserver(const json &record)
	{
		if (record.contains("client") || !record.contains("client_extra"))
			return;
		add(Code::client_without_homeserver, {"client_extra"},
		    "is not served: /.well-known/matrix/client requires m.homeserver, which comes from "
		    "client; add client = \"https://matrix.example.org\" (the homeserver's base URL), or "
		    "remove client_extra (" + std::string(well_known_uris) + ")");
	}

private:
	static constexpr std::string_view support_section =
		"spec: client-server API, GET /.well-known/matrix/support";
};

} // namespace

std::string_view code_name(Code code)
{
	switch (code) {
	case Code::auth_metadata: return "auth-metadata";
	case Code::rtc_foci: return "rtc-foci";
	case Code::dead_proxy: return "dead-proxy";
	case Code::base_url_path: return "base-url-path";
	case Code::server_port_8448: return "server-port-8448";
	case Code::extension_key: return "extension-key";
	case Code::support_role: return "support-role";
	case Code::document_size: return "document-size";
	case Code::client_without_homeserver: return "client-without-homeserver";
	case Code::permanent_redirect: return "permanent-redirect";
	}
	return "unknown";
}

bool java_package_style(std::string_view name)
{
	if (name.empty() || name.size() > 255 || !(name[0] >= 'a' && name[0] <= 'z'))
		return false;
	std::size_t labels = 1;
	char previous = 0;
	for (char c : name) {
		const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		                c == '.';
		if (!ok || (c == '.' && previous == '.'))
			return false;
		labels += c == '.';
		previous = c;
	}
	if (previous == '.')
		return false;
	// The spec's own names (m.identity_server) need no domain.
	if (name.starts_with("m."))
		return true;
	return labels >= 3;
}

std::vector<Warning> check(const nlohmann::json &record)
{
	Linter l;
	if (!record.is_object())
		return {};
	if (const auto it = record.find("server"); it != record.end())
		l.server(*it);
	if (const auto it = record.find("client"); it != record.end())
		l.base_url(*it, {"client"});
	if (const auto it = record.find("client_extra"); it != record.end())
		l.client_extra(*it);
	l.client_without_homeserver(record);
	if (const auto it = record.find("support"); it != record.end())
		l.support(*it);
	if (const auto it = record.find("redirect_status"); it != record.end())
		l.redirect_status(*it);
	l.sizes(record);
	return std::move(l.warnings);
}

} // namespace mxd::lint
