// route: the path policy of reference §2.2 and tests 9-13, the same for
// every web server's parameter set.
#include "core/route.hpp"

#include <catch2/catch.hpp>

#include <optional>
#include <string>
#include <string_view>

using mxd::Document;
using mxd::route::canonical_path;
using mxd::route::match;
using mxd::route::match_path;
using mxd::route::path;

namespace {

void require_path(std::string_view target, std::string_view want)
{
	INFO("target: " << std::string(target));
	const auto p = canonical_path(target);
	REQUIRE(p.has_value());
	REQUIRE(*p == want);
}

void require_not_path(std::string_view target)
{
	INFO("target: " << std::string(target));
	REQUIRE_FALSE(canonical_path(target).has_value());
}

// The document a REQUEST_URI routes to, as -1 for none, so that failures
// print something readable.
int via_uri(const char *uri)
{
	const auto doc = match(uri, nullptr, nullptr);
	return doc ? static_cast<int>(*doc) : -1;
}

int via_params(const char *uri, const char *script, const char *info)
{
	const auto doc = match(uri, script, info);
	return doc ? static_cast<int>(*doc) : -1;
}

constexpr int none = -1;
constexpr int server = static_cast<int>(Document::server);
constexpr int client = static_cast<int>(Document::client);

} // namespace

TEST_CASE("document paths and names", "[route]")
{
	CHECK(mxd::document_path(Document::server) == "/.well-known/matrix/server");
	CHECK(mxd::document_path(Document::client) == "/.well-known/matrix/client");
	CHECK(mxd::document_path(Document::support) == "/.well-known/matrix/support");
	CHECK(mxd::document_path(Document::policy_server) == "/.well-known/matrix/policy_server");
	CHECK(mxd::document_name(Document::server) == "server");
	CHECK(mxd::document_name(Document::client) == "client");
	CHECK(mxd::document_name(Document::support) == "support");
	CHECK(mxd::document_name(Document::policy_server) == "policy_server");
	for (Document doc : mxd::all_documents) {
		CHECK(match_path(mxd::document_path(doc)) == doc);
		CHECK(match(std::string(mxd::document_path(doc)).c_str(), nullptr, nullptr) == doc);
	}
}

TEST_CASE("match_path: exact, nothing else (test 10)", "[route]")
{
	for (std::string_view p : {"/.well-known/matrix/server/", "/.well-known/matrix/Server",
	                           "/.well-known/matrix/SERVER", "/.well-known/Matrix/server",
	                           "/.well-known/matrix/server.json", "/.well-known/matrix/",
	                           "/.well-known/matrix", "/.well-known/matrix/foo", "",
	                           "/", ".well-known/matrix/server", "/.well-known/matrix/serverx",
	                           "/.well-known/matrix/policy-server", "/.well-known/matrix/serve",
	                           " /.well-known/matrix/server", "/.well-known/matrix/server "}) {
		INFO(std::string(p));
		CHECK_FALSE(match_path(p).has_value());
	}
}

TEST_CASE("canonical_path: absolute form (test 9)", "[route]")
{
	require_path("https://b.example/.well-known/matrix/server", "/.well-known/matrix/server");
	require_path("http://b.example/.well-known/matrix/server", "/.well-known/matrix/server");
	require_path("HTTPS://B.EXAMPLE/.well-known/matrix/server", "/.well-known/matrix/server");
	require_path("hTtP://b.example:8080/x", "/x");
	require_path("http://user@b.example/x?y", "/x");
	require_path("http://[::1]:80/x", "/x");
	require_path("http://b.example", "/");
	require_path("https://b.example?x=1", "/");
	require_path("https://b.example#f", "/");
	require_path("http://", "/");
	// Only http(s) is reduced; anything else is not a path.
	require_not_path("ftp://b.example/.well-known/matrix/server");
	require_not_path("http:/b.example/x");
	require_not_path("httpx://b.example/x");
	require_not_path("b.example/.well-known/matrix/server");
	// "//authority/p" is a path (network-path reference), kept as it is.
	require_path("//b.example/.well-known/matrix/server", "//b.example/.well-known/matrix/server");
}

TEST_CASE("canonical_path: query and fragment (test 12)", "[route]")
{
	require_path("/.well-known/matrix/client?x=1&y", "/.well-known/matrix/client");
	require_path("/.well-known/matrix/client#frag", "/.well-known/matrix/client");
	require_path("/.well-known/matrix/client?", "/.well-known/matrix/client");
	require_path("/.well-known/matrix/client?a#b", "/.well-known/matrix/client");
	require_path("/.well-known/matrix/client#a?b", "/.well-known/matrix/client");
	// The query is dropped before decoding: its escapes do not matter.
	require_path("/p?x=%zz", "/p");
	require_path("/p?x=%", "/p");
	require_not_path("?x=1");
	require_not_path("#x");
}

TEST_CASE("canonical_path: escapes (test 11)", "[route]")
{
	require_path("/.well-known/matrix/%73erver", "/.well-known/matrix/server");
	require_path("/.well-known/matrix/%73%65%72%76%65%72", "/.well-known/matrix/server");
	require_path("/%2e%2E/", "/../");
	require_path("/%41%5a%61%7A%30%39", "/AZaz09");
	require_path("/%2D%2e%5F%7e", "/-._~");
	// Any other escape stays, in upper case, so it can never form a separator.
	require_path("/.well-known%2Fmatrix%2fserver", "/.well-known%2Fmatrix%2Fserver");
	require_path("/..%2F", "/..%2F");
	require_path("/a%00b", "/a%00b");
	require_path("/%25", "/%25");
	require_path("/%2573erver", "/%2573erver");
	require_path("/%3f%23", "/%3F%23");
	require_path("/%20", "/%20");
	require_path("/%c3%a9", "/%C3%A9");
	require_path("/%7f%ff", "/%7F%FF");
	// Malformed escapes.
	require_not_path("/%");
	require_not_path("/%4");
	require_not_path("/%zz");
	require_not_path("/%g0");
	require_not_path("/%0g");
	require_not_path("/a%2");
	require_not_path("/%%41");
}

TEST_CASE("canonical_path: not a path", "[route]")
{
	using namespace std::string_view_literals;
	require_not_path("");
	require_not_path("*");
	require_not_path("server");
	require_not_path(".well-known/matrix/server");
	require_not_path("/a\0b"sv);
	require_not_path("\0"sv);
	require_not_path("/a\rb");
	require_not_path("/a\nb");
	require_not_path("/a\tb");
	require_not_path("/a\x1b");
	require_not_path("/a\x7f");
	require_not_path("/p?x=\x01");
	require_not_path("http://b.ex\x01mple/p");
	// Raw non-ASCII is no control byte: it stays, and matches nothing.
	require_path("/\xc3\xa9", "/\xc3\xa9");
	require_path("/", "/");
	require_path("//", "//");
	require_path("/./.well-known/matrix/server", "/./.well-known/matrix/server");
}

TEST_CASE("match: the path variants through REQUEST_URI (tests 9-12)", "[route]")
{
	CHECK(via_uri("/.well-known/matrix/server") == server);
	CHECK(via_uri("https://b.example/.well-known/matrix/server") == server);
	CHECK(via_uri("HTTP://b.example/.well-known/matrix/server?x") == server);
	CHECK(via_uri("/.well-known/matrix/%73erver") == server);
	CHECK(via_uri("/.well-known/matrix/client?x=1&y") == client);
	CHECK(via_uri("/.well-known/matrix/client#x") == client);
	// A '%' counts only in the path: after the query or in the authority it
	// neither needs decoding nor changes the match; in the path it is decoded.
	CHECK(via_uri("/.well-known/matrix/client?x=%zz") == client);
	CHECK(via_uri("/.well-known/matrix/client#%") == client);
	CHECK(via_uri("https://b%2e.example/.well-known/matrix/client") == client);
	CHECK(via_uri("https://b%2e.example/.well-known/matrix/%63lient?%") == client);
	CHECK(via_uri("https://b.example/.well-known/matrix/client%") == -1);
	CHECK(via_uri("/.well-known/matrix/client%?x") == -1);
	CHECK(via_uri("/.well-known/matrix/client?x=\x7f") == -1);

	for (const char *uri : {"/.well-known/matrix/server/", "/.well-known/matrix/Server",
	                        "/.well-known/matrix/server.json", "/.well-known/matrix/",
	                        "/.well-known/matrix/foo", "/.well-known%2Fmatrix%2Fserver",
	                        "/.well-known/matrix%2Fserver", "/.well-known/matrix/server%00",
	                        "/.well-known/matrix/%00server", "/.well-known/matrix/server%2F",
	                        "/.well-known/matrix/%2e%2e/matrix/server",
	                        "/.well-known/%2e%2e/.well-known/matrix/server",
	                        "/.well-known/matrix/..%2Fmatrix/server",
	                        "//.well-known//matrix/server", "//.well-known/matrix/server",
	                        "/.well-known//matrix/server", "/./.well-known/matrix/server",
	                        "/.well-known/./matrix/server", "/.well-known/matrix/./server",
	                        "/.well-known/matrix/%2573erver", "/.well-known/matrix/server%3F",
	                        "/.well-known/matrix/server;x", "/.well-known/matrix/%",
	                        "/.well-known/matrix/server\r", "http://b.example",
	                        "ftp://b.example/.well-known/matrix/server",
	                        "//b.example/.well-known/matrix/server", "*"}) {
		INFO(uri);
		CHECK(via_uri(uri) == none);
	}
}

TEST_CASE("match: every server's parameter set routes the same (test 13)", "[route]")
{
	struct Set {
		const char *server;
		const char *script;
		const char *info;
	};
	for (Document doc : mxd::all_documents) {
		const std::string path(mxd::document_path(doc));
		const std::string last = path.substr(std::string_view("/.well-known/matrix").size());
		const std::string after_wk = path.substr(std::string_view("/.well-known").size());
		const std::string absolute = "http://b.example" + path;
		const Set sets[] = {
			{"nginx", path.c_str(), nullptr},
			{"lighttpd prefix /.well-known/matrix/", path.c_str(), nullptr},
			{"lighttpd prefix /", "/.well-known", after_wk.c_str()},
			{"lighttpd fix-root-scriptname", "", path.c_str()},
			{"mod_fcgid Alias", "/.well-known/matrix", last.c_str()},
			{"mod_proxy_fcgi", path.c_str(), nullptr},
			{"Caddy", "", path.c_str()},
			{"empty PATH_INFO", path.c_str(), ""},
		};
		const int want = static_cast<int>(doc);
		for (const Set &s : sets) {
			INFO(s.server << " for " << path);
			CHECK(via_params(path.c_str(), s.script, s.info) == want);
			CHECK(via_params((path + "?x=1").c_str(), s.script, s.info) == want);
			// Apache passes an absolute-form target as it came.
			CHECK(via_params(absolute.c_str(), s.script, s.info) == want);
			// Plain CGI: no REQUEST_URI at all, or an empty one.
			CHECK(via_params(nullptr, s.script, s.info) == want);
			CHECK(via_params("", s.script, s.info) == want);
		}
	}
}

TEST_CASE("match: a trailing slash fails for every parameter set (test 13)", "[route]")
{
	const char *uri = "/.well-known/matrix/server/";
	// nginx appends fastcgi_index to a URI that ends in "/".
	CHECK(via_params(uri, "/.well-known/matrix/server/index.php", nullptr) == none);
	CHECK(via_params(nullptr, "/.well-known/matrix/server/index.php", nullptr) == none);
	// lighttpd's prefix key leaves PATH_INFO=/ for the trailing slash.
	CHECK(via_params(uri, "/.well-known/matrix/server", "/") == none);
	CHECK(via_params(nullptr, "/.well-known/matrix/server", "/") == none);
	CHECK(via_params(uri, "/.well-known", "/matrix/server/") == none);
	CHECK(via_params(nullptr, "/.well-known", "/matrix/server/") == none);
	CHECK(via_params(uri, "/.well-known/matrix", "/server/") == none);
	CHECK(via_params(nullptr, "/.well-known/matrix", "/server/") == none);
	CHECK(via_params(uri, "", uri) == none);
	CHECK(via_params(nullptr, "", uri) == none);
}

TEST_CASE("match: REQUEST_URI wins over SCRIPT_NAME and PATH_INFO", "[route]")
{
	// lighttpd decodes %2F in SCRIPT_NAME; the raw target decides.
	CHECK(via_params("/.well-known%2Fmatrix%2Fserver", "/.well-known/matrix/server", nullptr) ==
	      none);
	CHECK(via_params("/.well-known/matrix/client", "/.well-known/matrix/server", nullptr) ==
	      client);
	CHECK(via_params("/elsewhere", "/.well-known/matrix/server", nullptr) == none);
	CHECK(via_params("not a path", "/.well-known/matrix/server", nullptr) == none);
}

TEST_CASE("match: SCRIPT_NAME and PATH_INFO are compared as decoded", "[route]")
{
	CHECK(via_params(nullptr, nullptr, nullptr) == none);
	CHECK(via_params("", nullptr, nullptr) == none);
	CHECK(via_params(nullptr, "", "") == none);
	CHECK(via_params(nullptr, nullptr, "/.well-known/matrix/server") == server);
	CHECK(via_params(nullptr, "/.well-known/matrix/server", nullptr) == server);
	// Already decoded once by the server: not decoded again, not cut at '?'.
	CHECK(via_params(nullptr, "/.well-known/matrix/%73erver", nullptr) == none);
	CHECK(via_params(nullptr, "/.well-known/matrix/server?x", nullptr) == none);
	CHECK(via_params(nullptr, "/.well-known/matrix/server#x", nullptr) == none);
	CHECK(via_params(nullptr, "http://b.example/.well-known/matrix/server", nullptr) == none);
	CHECK(via_params(nullptr, "/.well-known/matrix/ser", "ver") == server);
	CHECK(via_params(nullptr, "/.well-known/matrix/server", "x") == none);
	CHECK(via_params(nullptr, "/.well-known/matrix/serve", nullptr) == none);
	CHECK(via_params(nullptr, "/.well-known/matrix/Server", nullptr) == none);
	CHECK(via_params(nullptr, "/.well-known//matrix/server", nullptr) == none);
	CHECK(via_params(nullptr, "/./.well-known/matrix/server", nullptr) == none);
	CHECK(via_params(nullptr, "/.well-known/matrix/server/", nullptr) == none);
	CHECK(via_params(nullptr, "/.well-known/matrix/server.json", nullptr) == none);
}

TEST_CASE("path: what a request names when it is no document, as match reads it", "[route]")
{
	CHECK(path("/health", nullptr, nullptr) == "/health");
	CHECK(path("/health?probe=1#x", nullptr, nullptr) == "/health");
	CHECK(path("http://Mon.example/health", nullptr, nullptr) == "/health");
	CHECK(path("/h%65alth", nullptr, nullptr) == "/health");
	CHECK(path("/status%2Fhealth", nullptr, nullptr) == "/status%2Fhealth");
	CHECK_FALSE(path("not a path", "/health", nullptr).has_value());
	CHECK_FALSE(path("/bad%zz", nullptr, nullptr).has_value());
	// REQUEST_URI wins, as for documents.
	CHECK(path("/elsewhere", "/health", nullptr) == "/elsewhere");
	// SCRIPT_NAME and PATH_INFO: joined as they are, never decoded again.
	CHECK(path("", "/status", "/health") == "/status/health");
	CHECK(path(nullptr, "/health", nullptr) == "/health");
	CHECK(path(nullptr, nullptr, "/health") == "/health");
	CHECK(path(nullptr, "/h%65alth", nullptr) == "/h%65alth");
	CHECK(path(nullptr, "/health?x", nullptr) == "/health?x");
	CHECK(path(nullptr, nullptr, nullptr) == "");
}
