#include "core/record.hpp"

#include "core/ascii.hpp"
#include "core/host.hpp"
#include "core/hostport.hpp"
#include "core/log.hpp"
#include "core/record_fields.hpp"
#include "core/render.hpp"
#include "core/route.hpp"
#include "core/utf8.hpp"

#include <algorithm>
#include <cstdint>
#include <utility>

namespace mxd::record {

namespace {

using json = nlohmann::json;

constexpr std::string_view placeholder = "{domain}";
constexpr std::int64_t max_age_limit = 604800; // 7 days: beyond it, a fix never arrives

bool is_identifier(std::string_view s)
{
	if (s.empty())
		return false;
	for (std::size_t i = 0; i < s.size(); i++) {
		const char c = s[i];
		const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
		if (!alpha && !(i > 0 && c >= '0' && c <= '9'))
			return false;
	}
	return true;
}

bool is_space_or_control(char ch)
{
	const auto c = static_cast<unsigned char>(ch);
	return c <= 0x20 || c == 0x7f;
}

bool has_space_or_control(std::string_view s)
{
	for (char c : s)
		if (is_space_or_control(c))
			return true;
	return false;
}


// A value shown inside a message: quoted, escaped so that a log line stays
// one line, and cut so that a 10 KiB value does not drown the message.
// Valid UTF-8 is shown as it is, since the value is a person's text.
std::string quote(std::string_view s)
{
	constexpr std::size_t max = 96;
	std::string out = "\"" + log::one_line(s, {.quotes = true, .non_ascii = true, .keep_utf8 = true,
	                                            .max = max});
	if (s.size() > max) {
		out.resize(out.size() - 3); // the cut's "...", put after the quote
		return out + "\"...";
	}
	return out + '"';
}

std::string_view type_name(const json &v)
{
	switch (v.type()) {
	case json::value_t::null: return "null";
	case json::value_t::object: return "an object";
	case json::value_t::array: return "an array";
	case json::value_t::string: return "a string";
	case json::value_t::boolean: return "a boolean";
	case json::value_t::number_integer:
	case json::value_t::number_unsigned: return "an integer";
	case json::value_t::number_float: return "a number";
	default: return "a binary value";
	}
}

// Java-package style (client spec, "Well-known URIs"): a dotted name with no
// space, such as org.matrix.msc4143.rtc_foci or m.identity_server.
bool is_namespaced(std::string_view s)
{
	return s.find('.') != std::string_view::npos && !has_space_or_control(s);
}

// The sample host name that templates are expanded with, so that a template
// is checked as it will be served.
std::string sample_name(std::string_view key)
{
	if (key.empty())
		return "example.org";
	if (key.starts_with("*."))
		return "a." + std::string(key.substr(2));
	return std::string(key);
}

// Empty when `url` is an absolute http(s) URL with a host, else the reason.
// A base URL gets "/_matrix/..." appended by clients, so it may carry
// neither a query nor a fragment; a web page may.
std::string check_url(std::string_view url, bool base)
{
	if (url.empty())
		return "is empty";
	if (has_space_or_control(url))
		return "contains a space or a control character";
	const std::size_t sep = url.find("://");
	if (sep == std::string_view::npos)
		return "has no http:// or https:// scheme";
	const std::string_view scheme = url.substr(0, sep);
	if (!ascii::iequal(scheme, "http") && !ascii::iequal(scheme, "https"))
		return "is not an http or https URL";
	const std::string_view rest = url.substr(sep + 3);
	const std::size_t auth_end = std::min(rest.find_first_of("/?#"), rest.size());
	std::string_view authority = rest.substr(0, auth_end);
	const std::string_view tail = rest.substr(auth_end);
	if (authority.find('@') != std::string_view::npos)
		return "has user information (user@); a public document must not carry credentials";

	const hostport::Split split = hostport::split(authority);
	if (split.fault == hostport::Split::Fault::unclosed)
		return "has an unterminated [IPv6] literal";
	if (split.fault == hostport::Split::Fault::after_bracket)
		return "has characters after the ] of its [IPv6] literal";
	if (split.several_colons())
		return "has more than one ':'; write an IPv6 address in brackets: [2001:db8::1]:8448";
	if (split.host.empty())
		return "has no host";
	if (split.has_port) {
		const hostport::Port port = hostport::read_port(split.port);
		if (port.empty() || port.size > 5 || !port.all_digits())
			return "has an invalid port";
		if (!port.usable())
			return "has a port outside 1..65535";
	}
	if (base && tail.find('#') != std::string_view::npos)
		return "has a fragment (#...)";
	if (base && tail.find('?') != std::string_view::npos)
		return "has a query (?...)";
	return {};
}

// The longest redirect target: the Location header's value, and a URL every
// browser and HTTP library takes (RFC 9110 4.1 recommends at least 8000;
// the URLs here are a host and a short path).
constexpr std::size_t max_redirect_size = 2048;

// The parts of a URL that check_url accepted.
struct UrlParts {
	std::string_view scheme, host, port, tail; // tail: path, query, fragment
};

UrlParts split_url(std::string_view url)
{
	UrlParts p;
	const std::size_t sep = url.find("://");
	p.scheme = url.substr(0, sep);
	const std::string_view rest = url.substr(sep + 3);
	const std::size_t auth_end = std::min(rest.find_first_of("/?#"), rest.size());
	const hostport::Split split = hostport::split(rest.substr(0, auth_end));
	p.host = split.host;
	if (split.has_port)
		p.port = split.port;
	p.tail = rest.substr(auth_end);
	return p;
}

// The hosts a browser takes as potentially trustworthy over http (W3C
// Secure Contexts 3.2): a redirect to them is for tests on one machine, and
// reaches no one else.
bool is_loopback(std::string_view host)
{
	if (host.size() > 1 && host.back() == '.')
		host.remove_suffix(1);
	if (ascii::iequal(host, "localhost") ||
	    (host.size() > 10 && ascii::iequal(host.substr(host.size() - 10), ".localhost")))
		return true;
	if (host == "[::1]" || host == "::1")
		return true;
	if (!host.starts_with("127."))
		return false;
	for (char c : host)
		if (c != '.' && !(c >= '0' && c <= '9'))
			return false;
	return true;
}

// Empty when `url` may be a redirect's target, else the reason.  A base
// (the string form) gets the document's path appended, so it may carry
// neither a query nor a fragment; a whole URL (the table form) may carry a
// query.  https only: the spec fetches well-known documents over https, and
// a browser refuses an https page's fetch redirected to http.
std::string check_redirect_url(std::string_view url, bool base)
{
	std::string reason = check_url(url, base);
	if (!reason.empty())
		return reason;
	for (char c : url)
		if (static_cast<unsigned char>(c) >= 0x80)
			return "contains a character outside ASCII; a Location header carries a host "
			       "in its A-label form (xn--) and a path with %-escapes";
	if (url.size() > max_redirect_size)
		return "is " + std::to_string(url.size()) + " bytes long; the limit is " +
		       std::to_string(max_redirect_size);
	const UrlParts p = split_url(url);
	if (p.tail.find('#') != std::string_view::npos)
		return "has a fragment (#...)";
	if (!ascii::iequal(p.scheme, "https") && !is_loopback(p.host))
		return "is not an https URL (http only to localhost or 127.0.0.1, for tests)";
	return {};
}

// Whether `url` (checked) names `path` on `host` itself: the request would
// come back to the same answer.  The path is compared as route compares a
// request's (query cut, unreserved escapes decoded); the port only when it
// is not the scheme's own.
bool is_loop(std::string_view url, std::string_view host, std::string_view path)
{
	const UrlParts p = split_url(url);
	std::string_view h = p.host;
	if (h.size() > 1 && h.back() == '.')
		h.remove_suffix(1);
	if (!ascii::iequal(h, host))
		return false;
	const bool https = ascii::iequal(p.scheme, "https");
	if (!p.port.empty() && p.port != (https ? "443" : "80"))
		return false;
	const std::optional<std::string> target =
		route::canonical_path(p.tail.empty() ? std::string_view("/") : p.tail);
	return target && *target == path;
}

// Unpadded base64 of exactly 32 bytes: 43 characters, the last of which
// carries 2 unused bits that must be zero, as strict decoders (Ruma's)
// require.  Either alphabet, since the spec's own example key for
// /policy_server is URL-safe and its appendix asks decoders to be lenient;
// but one alphabet a key, since a decoder picks one and fails on the other.
std::string check_ed25519(std::string_view s)
{
	if (s.find('=') != std::string_view::npos)
		return "has padding (=); the key is unpadded base64";
	const bool standard = s.find_first_of("+/") != std::string_view::npos;
	const bool url_safe = s.find_first_of("-_") != std::string_view::npos;
	if (standard && url_safe)
		return "mixes the standard (+ /) and URL-safe (- _) base64 alphabets; write the key in "
		       "one of them";
	for (char c : s) {
		const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		                (c >= '0' && c <= '9') || c == '+' || c == '/' || c == '-' || c == '_';
		if (!ok)
			return "contains a character outside base64";
	}
	if (s.size() != 43)
		return "is " + std::to_string(s.size()) +
		       " characters long; an ed25519 key (32 bytes) is 43 in unpadded base64";
	static constexpr std::string_view alphabet =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	static constexpr std::string_view url_alphabet =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	if ((url_safe ? url_alphabet : alphabet).find(s.back()) % 4 != 0)
		return "is not canonical base64: the unused bits of its last character are not zero";
	return {};
}

// An upper bound on the bytes any document rendered from v can take: every
// string byte escaped as \u00XX (6), quotes, separators and numbers at their
// longest.  Documents are made of parts of the record plus a short wrapper.
std::size_t worst_size(const json &v)
{
	constexpr std::size_t wrapper = 64; // {"m.homeserver":{"base_url":...}} and the like
	std::size_t n = wrapper;
	const auto walk = [&](const auto &self, const json &x) -> void {
		switch (x.type()) {
		case json::value_t::string:
			n += 6 * x.get_ref<const std::string &>().size() + 3;
			break;
		case json::value_t::object:
			n += 2;
			for (auto it = x.begin(); it != x.end(); ++it) {
				n += 6 * it.key().size() + 4;
				self(self, it.value());
			}
			break;
		case json::value_t::array:
			n += 2;
			for (const json &e : x)
				self(self, e);
			break;
		default:
			n += 32; // a number, true, false or null, and its comma
		}
	};
	walk(walk, v);
	return n;
}

class Checker {
public:
	std::vector<Problem> problems;

	void add(Path path, std::string message)
	{
		problems.push_back({std::move(path), std::move(message)});
	}

	// Defined below the table of each field's check.
	void check(const json &record, const json &stored);

	// The host the record is checked for (its key, a wildcard's sample name,
	// the requested host when served), and whether it is [defaults].
	std::string host;
	bool defaults = false;
	const json *record_ = nullptr;

	void string_field(const json &v, std::string_view name)
	{
		if (!v.is_string())
			add({std::string(name)}, std::string("must be a string, not ").append(type_name(v)));
	}

private:
	bool bad_utf8_ = false;

	// A position in the walk below, kept on the stack: the Path is only
	// built when a problem is found, so a clean record costs no allocation.
	struct Step {
		const Step *up;
		std::string_view key; // or, when empty and is_index, an index
		std::size_t index;
		bool is_index;
	};

	static Path path_of(const Step *s)
	{
		Path p;
		for (; s; s = s->up)
			p.insert(p.begin(), s->is_index ? PathElement(s->index) : PathElement(std::string(s->key)));
		return p;
	}

	// Every string and key, wherever it is: a path to the very value beats
	// "the client document is not valid UTF-8".
	void utf8(const json &v, const Step *at)
	{
		if (v.is_string()) {
			if (!utf8::valid(v.get_ref<const std::string &>())) {
				add(path_of(at), "not valid UTF-8");
				bad_utf8_ = true;
			}
		} else if (v.is_object()) {
			for (auto it = v.begin(); it != v.end(); ++it) {
				const Step here{at, it.key(), 0, false};
				if (!utf8::valid(it.key())) {
					add(path_of(&here), "key is not valid UTF-8");
					bad_utf8_ = true;
				}
				utf8(it.value(), &here);
			}
		} else if (v.is_array()) {
			for (std::size_t i = 0; i < v.size(); i++) {
				const Step here{at, {}, i, true};
				utf8(v[i], &here);
			}
		}
	}

public:
	// The check of each field, called from field_checks below.
	void server(const json &v)
	{
		if (!v.is_string()) {
			add({"server"}, std::string("must be a string such as \"matrix.example.org:443\", not ")
			                    .append(type_name(v)));
			return;
		}
		const std::string &s = v.get_ref<const std::string &>();
		const std::string reason = host::check_server_name(s);
		if (reason.empty())
			return;
		std::string message = quote(s) + " " + reason;
		// host's reasons sometimes teach the grammar already.
		if (reason.find("host[:port]") == std::string::npos)
			message.append("; a server name is host[:port], such as matrix.example.org:443");
		add({"server"}, std::move(message));
	}

	void base_url(const json &v, Path path, std::string_view example)
	{
		if (!v.is_string()) {
			add(std::move(path), std::string("must be a string: a base URL such as ")
			                         .append(example).append(", not ").append(type_name(v)));
			return;
		}
		const std::string &s = v.get_ref<const std::string &>();
		const std::string reason = check_url(s, true);
		if (!reason.empty())
			add(std::move(path), quote(s) + " " + reason +
			                         "; expected an absolute http or https URL such as " +
			                         std::string(example));
	}

	void client_extra(const json &v)
	{
		if (!v.is_object()) {
			add({"client_extra"},
			    std::string("must be an object of namespaced keys such as "
			                "{\"m.identity_server\": {\"base_url\": \"https://id.example.org\"}}, not ")
			        .append(type_name(v)));
			return;
		}
		for (const auto &[key, value] : v.items()) {
			if (key == "m.homeserver") {
				add({"client_extra", key},
				    "m.homeserver is built from \"client\"; set client instead");
				continue;
			}
			if (!is_namespaced(key)) {
				add({"client_extra", key},
				    "not a namespaced key; extra client keys follow the Java package "
				    "convention, such as org.example.key or m.identity_server");
				continue;
			}
			if (key == "m.identity_server") {
				if (!value.is_object()) {
					add({"client_extra", key},
					    std::string("must be an object such as "
					                "{\"base_url\": \"https://id.example.org\"}, not ")
					        .append(type_name(value)));
					continue;
				}
				const auto b = value.find("base_url");
				if (b == value.end())
					add({"client_extra", key, "base_url"},
					    "missing; m.identity_server needs a base_url such as "
					    "https://id.example.org");
				else
					base_url(*b, {"client_extra", key, "base_url"}, "https://id.example.org");
			}
		}
	}

	void support(const json &v)
	{
		if (!v.is_object()) {
			add({"support"}, std::string("must be an object with contacts and/or support_page, not ")
			                     .append(type_name(v)));
			return;
		}
		const auto contacts = v.find("contacts");
		const auto page = v.find("support_page");
		if (contacts == v.end() && page == v.end())
			add({"support"}, "needs contacts, support_page or both");
		if (contacts != v.end()) {
			if (!contacts->is_array())
				add({"support", "contacts"},
				    std::string("must be an array of contacts, not ").append(type_name(*contacts)));
			else if (contacts->empty())
				add({"support", "contacts"},
				    "must not be empty; add a contact such as "
				    "{\"role\": \"m.role.admin\", \"matrix_id\": \"@admin:example.org\"} "
				    "or remove contacts");
			else
				for (std::size_t i = 0; i < contacts->size(); i++)
					contact((*contacts)[i], i);
		}
		if (page != v.end()) {
			if (!page->is_string()) {
				add({"support", "support_page"},
				    std::string("must be a string such as \"https://example.org/help\", not ")
				        .append(type_name(*page)));
			} else {
				const std::string &s = page->get_ref<const std::string &>();
				const std::string reason = check_url(s, false);
				if (!reason.empty())
					add({"support", "support_page"},
					    quote(s) + " " + reason +
					        "; expected an absolute http or https URL such as "
					        "https://example.org/help");
			}
		}
		for (const auto &[key, value] : v.items())
			if (key != "contacts" && key != "support_page" && !is_namespaced(key))
				add({"support", key},
				    "unknown field; support has contacts and support_page, and namespaced "
				    "extensions such as org.example.key");
	}

	void contact(const json &c, std::size_t i)
	{
		const Path at{"support", "contacts", i};
		const auto sub = [&](std::string_view k) {
			Path p = at;
			p.emplace_back(std::string(k));
			return p;
		};
		if (!c.is_object()) {
			add(at, std::string("must be an object with a role and a matrix_id or "
			                    "email_address, not ")
			            .append(type_name(c)));
			return;
		}
		const auto role = c.find("role");
		if (role == c.end())
			add(sub("role"), "missing; each contact needs a role such as m.role.admin");
		else if (!role->is_string())
			add(sub("role"), std::string("must be a string such as \"m.role.admin\", not ")
			                     .append(type_name(*role)));
		else {
			const std::string &r = role->get_ref<const std::string &>();
			if (r != "m.role.admin" && r != "m.role.security" && !is_namespaced(r))
				add(sub("role"), quote(r) + " is not a role; use m.role.admin, "
				                            "m.role.security or a namespaced role such as "
				                            "org.example.role");
		}

		const auto mxid = c.find("matrix_id");
		const auto email = c.find("email_address");
		if (mxid == c.end() && email == c.end())
			add(at, "needs a matrix_id, an email_address or both");
		if (mxid != c.end()) {
			if (!mxid->is_string())
				add(sub("matrix_id"),
				    std::string("must be a string such as \"@admin:example.org\", not ")
				        .append(type_name(*mxid)));
			else if (const std::string &s = mxid->get_ref<const std::string &>(); !is_user_id(s))
				add(sub("matrix_id"),
				    quote(s) + " is not a Matrix user ID such as @admin:example.org");
		}
		if (email != c.end()) {
			if (!email->is_string())
				add(sub("email_address"),
				    std::string("must be a string such as \"admin@example.org\", not ")
				        .append(type_name(*email)));
			else if (const std::string &s = email->get_ref<const std::string &>(); !is_email(s))
				add(sub("email_address"),
				    quote(s) + " is not an email address such as admin@example.org");
		}
		for (const auto &[key, value] : c.items())
			if (key != "role" && key != "matrix_id" && key != "email_address" &&
			    !is_namespaced(key))
				add(sub(key),
				    "unknown field; a contact has role, matrix_id and email_address, and "
				    "namespaced extensions such as org.example.key");
	}

	static bool is_user_id(std::string_view s)
	{
		if (s.size() < 4 || s[0] != '@' || has_space_or_control(s))
			return false;
		const std::size_t colon = s.find(':');
		return colon != std::string_view::npos && colon > 1 && colon + 1 < s.size();
	}

	static bool is_email(std::string_view s)
	{
		const std::size_t at = s.find('@');
		return at != std::string_view::npos && at > 0 && at + 1 < s.size() &&
		       s.find('@', at + 1) == std::string_view::npos && !has_space_or_control(s);
	}

	// The short form {"ed25519": ...}, served inside public_keys, or the
	// document form {"public_keys": {"ed25519": ...}} as the spec's JSON
	// shows it, served as it is.  Both render the same document.
	void policy_server(const json &v)
	{
		if (!v.is_object()) {
			add({"policy_server"},
			    std::string("must be an object such as {\"ed25519\": \"<unpadded base64>\"}, not ")
			        .append(type_name(v)));
			return;
		}
		const auto doc = v.find("public_keys");
		if (doc == v.end()) {
			public_keys(v, {"policy_server"});
			return;
		}
		if (!doc->is_object()) {
			add({"policy_server", "public_keys"},
			    std::string("must be an object such as {\"ed25519\": \"<unpadded base64>\"}, not ")
			        .append(type_name(*doc)));
			return;
		}
		for (const auto &[k, value] : v.items())
			if (k != "public_keys")
				add({"policy_server", k},
				    "beside public_keys; write either the short form {ed25519 = \"...\"} or the "
				    "document form {public_keys = {ed25519 = \"...\"}}, with nothing beside it");
		public_keys(*doc, {"policy_server", "public_keys"});
	}

	void public_keys(const json &v, const Path &at)
	{
		const auto sub = [&](std::string_view k) {
			Path p = at;
			p.emplace_back(std::string(k));
			return p;
		};
		const auto key = v.find("ed25519");
		if (key == v.end())
			add(sub("ed25519"),
			    "missing; the policy server's ed25519 public key in unpadded base64 (43 characters)");
		else if (!key->is_string())
			add(sub("ed25519"),
			    std::string("must be a string of unpadded base64, not ").append(type_name(*key)));
		else if (const std::string &s = key->get_ref<const std::string &>();
		         !check_ed25519(s).empty())
			add(sub("ed25519"), quote(s) + " " + check_ed25519(s));
		for (const auto &[k, value] : v.items())
			if (k != "ed25519" && !is_namespaced(k))
				add(sub(k), "unknown field; policy_server has ed25519 and namespaced key algorithms");
	}

	void max_age(const json &v)
	{
		bool ok = false;
		if (v.is_number_unsigned())
			ok = v.get<std::uint64_t>() <= static_cast<std::uint64_t>(max_age_limit);
		else if (v.is_number_integer())
			ok = v.get<std::int64_t>() >= 0 && v.get<std::int64_t>() <= max_age_limit;
		if (!ok)
			add({"max_age"}, "must be a whole number of seconds from 0 to 604800 (7 days)");
	}

	void redirect(const json &v)
	{
		if (defaults) {
			add({"redirect"}, "is not allowed in [defaults]: it would take every domain's "
			                  "documents elsewhere; give it in the records it is for");
			return;
		}
		std::vector<Document> moved;
		if (v.is_string()) {
			const std::string &s = v.get_ref<const std::string &>();
			if (const std::string reason = check_redirect_url(s, true); !reason.empty()) {
				add({"redirect"}, quote(s) + " " + reason +
				                      "; expected a base such as https://matrix.example.net, "
				                      "to which the document's path is appended");
				return;
			}
			for (Document d : all_documents) {
				if (is_loop(render::redirect(*record_, d)->location, host, document_path(d)))
					add({"redirect"}, quote(s) + " redirects " + std::string(document_path(d)) +
					                      " of " + host + " to itself, a loop");
				moved.push_back(d);
			}
		} else if (v.is_object()) {
			if (v.empty())
				add({"redirect"}, "is empty; name the documents it moves, such as "
				                  "{client = \"https://example.net/.well-known/matrix/client\"}");
			for (const auto &[key, value] : v.items()) {
				// clang 14 captures no structured binding.
				const std::string &name = key;
				const auto d = std::find_if(all_documents.begin(), all_documents.end(),
				                            [&](Document x) { return document_name(x) == name; });
				if (d == all_documents.end()) {
					add({"redirect", key}, "not a document; redirect's table has server, client, "
					                       "support and policy_server");
					continue;
				}
				if (!value.is_string()) {
					add({"redirect", key}, std::string("must be a string: a URL such as "
					                                   "https://example.net/.well-known/matrix/")
					                           .append(key).append(", not ").append(type_name(value)));
					continue;
				}
				const std::string &s = value.get_ref<const std::string &>();
				if (const std::string reason = check_redirect_url(s, false); !reason.empty()) {
					add({"redirect", key}, quote(s) + " " + reason +
					                           "; expected an absolute https URL such as "
					                           "https://example.net/.well-known/matrix/" + key);
					continue;
				}
				if (is_loop(s, host, document_path(*d)))
					add({"redirect", key}, quote(s) + " is " + std::string(document_path(*d)) +
					                           " of " + host + " itself, a loop");
				moved.push_back(*d);
			}
		} else {
			add({"redirect"}, std::string("must be a string (a base for every document) or a table "
			                              "of documents, not ")
			                      .append(type_name(v)));
			return;
		}
		// Which of the two would be served is no question a reader of the
		// record should have to answer.
		for (const FieldInfo &f : fields)
			for (Document d : moved)
				if (f.documents == feeds(d) && record_->contains(f.name))
					add({std::string(f.name)},
					    "feeds " + std::string(document_path(d)) +
					        ", which redirect sends elsewhere; remove one of them");
	}

	void redirect_status(const json &v)
	{
		if (defaults) {
			add({"redirect_status"}, "is not allowed in [defaults], as redirect is not");
			return;
		}
		const bool ok = v.is_number_integer() &&
		                (v.get<std::int64_t>() == 301 || v.get<std::int64_t>() == 302 ||
		                 v.get<std::int64_t>() == 307 || v.get<std::int64_t>() == 308);
		if (!ok)
			add({"redirect_status"}, "must be 301, 302, 307 or 308 (default 302)");
		else if (!record_->contains("redirect"))
			add({"redirect_status"}, "is given without a redirect");
	}

private:
	// Rendered as served, since the size a homeserver sees is what counts.
	// A record whose every byte, escaped at worst, fits is not rendered:
	// that is nearly every record, and rendering four documents was most of
	// the cost of checking one on a cache miss.
	void sizes(const json &record)
	{
		if (!bad_utf8_ && worst_size(record) <= max_document_size)
			return;
		for (Document d : all_documents) {
			const std::string_view part = d == Document::client && record.contains("client_extra")
			                                      ? "client_extra"
			                                      : document_name(d);
			try {
				const std::optional<std::string> b = render::body(record, d);
				if (b && b->size() > max_document_size)
					add({std::string(part)},
					    "makes " + std::string(document_path(d)) + " " +
					        std::to_string(b->size()) + " bytes long; the limit is " +
					        std::to_string(max_document_size) +
					        " bytes, the smallest a homeserver accepts");
			} catch (const json::exception &e) {
				// The walk above has named the value already when it can.
				if (!bad_utf8_)
					add({std::string(part)},
					    e.id == 316 ? "not valid UTF-8" : std::string("cannot be rendered: ") + e.what());
			}
		}
	}
};

// The check of each field of record_fields.hpp, in its order.
using FieldCheck = void (*)(Checker &, const json &value, std::string_view name);

struct NamedCheck {
	std::string_view name;
	FieldCheck check;
};

constexpr NamedCheck field_checks[] = {
	{"server", [](Checker &c, const json &v, std::string_view) { c.server(v); }},
	{"client",
	 [](Checker &c, const json &v, std::string_view) {
		 c.base_url(v, {"client"}, "https://matrix.example.org");
	 }},
	{"client_extra", [](Checker &c, const json &v, std::string_view) { c.client_extra(v); }},
	{"support", [](Checker &c, const json &v, std::string_view) { c.support(v); }},
	{"policy_server", [](Checker &c, const json &v, std::string_view) { c.policy_server(v); }},
	{"max_age", [](Checker &c, const json &v, std::string_view) { c.max_age(v); }},
	{"redirect", [](Checker &c, const json &v, std::string_view) { c.redirect(v); }},
	{"redirect_status", [](Checker &c, const json &v, std::string_view) { c.redirect_status(v); }},
	{"domain", [](Checker &c, const json &v, std::string_view n) { c.string_field(v, n); }},
	{"note", [](Checker &c, const json &v, std::string_view n) { c.string_field(v, n); }},
};

// A field added to the table without its check does not compile.
static_assert(
	[] {
		if (std::size(field_checks) != field_count)
			return false;
		for (std::size_t i = 0; i < field_count; i++)
			if (field_checks[i].name != fields[i].name)
				return false;
		return true;
	}(),
	"field_checks must name the fields of record_fields.hpp, in their order");

// "unknown field; a record has server, client, ... and note"
std::string unknown_field_message()
{
	std::string out = "unknown field; a record has ";
	for (std::size_t i = 0; i < field_count; i++) {
		if (i > 0)
			out.append(i + 1 == field_count ? " and " : ", ");
		out.append(fields[i].name);
	}
	return out;
}

void Checker::check(const json &record, const json &stored)
{
	for (const auto &[key, value] : stored.items())
		if (!find_field(key)) {
			static const std::string message = unknown_field_message();
			add({key}, message);
		}
	utf8(stored, nullptr);
	record_ = &record;
	for (std::size_t i = 0; i < field_count; i++)
		if (const auto it = record.find(fields[i].name); it != record.end())
			field_checks[i].check(*this, *it, fields[i].name);
	sizes(record);
}

bool has_template(const json &v)
{
	if (v.is_string())
		return v.get_ref<const std::string &>().find(placeholder) != std::string::npos;
	if (v.is_structured())
		for (const json &child : v)
			if (has_template(child))
				return true;
	return false;
}

void expand_in_place(json &v, std::string_view domain)
{
	if (v.is_string()) {
		std::string &s = v.get_ref<std::string &>();
		std::size_t at = s.find(placeholder);
		while (at != std::string::npos) {
			s.replace(at, placeholder.size(), domain);
			at = s.find(placeholder, at + domain.size());
		}
	} else if (v.is_structured()) {
		for (auto &child : v)
			expand_in_place(child, domain);
	}
}

} // namespace

std::string format_path(const Path &path)
{
	std::string out;
	for (const PathElement &e : path) {
		if (const std::size_t *index = std::get_if<std::size_t>(&e)) {
			out.append(1, '[').append(std::to_string(*index)).append(1, ']');
			continue;
		}
		const std::string &name = std::get<std::string>(e);
		if (!out.empty())
			out.append(1, '.');
		if (is_identifier(name))
			out.append(name);
		else
			out.append(quote(name));
	}
	return out;
}

std::vector<Problem> validate(const nlohmann::json &record, std::string_view key)
{
	if (!record.is_object())
		return {{{}, std::string("the record must be an object, not ").append(type_name(record))}};
	Checker c;
	c.defaults = key.empty();
	c.host = sample_name(key);
	// Expanding copies the record: only worth it when there is a template.
	if (has_template(record))
		c.check(expand(record, sample_name(key)), record);
	else
		c.check(record, record);
	return std::move(c.problems);
}

nlohmann::json expand(const nlohmann::json &value, std::string_view domain)
{
	nlohmann::json out = value;
	expand_in_place(out, domain);
	return out;
}

nlohmann::json effective(const nlohmann::json &stored, const nlohmann::json &defaults,
                         std::string_view domain)
{
	nlohmann::json out = stored;
	// A document the record redirects takes no content from [defaults]:
	// the redirect is the domain's own word for it.
	Documents moved = no_document;
	if (const auto r = out.is_object() ? out.find("redirect") : out.end(); r != out.end()) {
		if (r->is_object()) {
			for (Document d : all_documents)
				if (r->contains(std::string(document_name(d))))
					moved |= feeds(d);
		} else {
			moved = every_document;
		}
	}
	if (out.is_object() && defaults.is_object())
		for (const auto &[key, value] : defaults.items()) {
			const FieldInfo *f = find_field(key);
			if (f && f->documents != every_document && (f->documents & moved))
				continue;
			if (!out.contains(key))
				out[key] = value;
		}
	expand_in_place(out, domain);
	return out;
}

} // namespace mxd::record
