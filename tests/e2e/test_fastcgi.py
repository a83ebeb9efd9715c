"""The responder over FastCGI, on its own socket: what it answers."""

import json

import fcgi
from harness import Test, Responder, example_config, check_common_headers


class Documents(Test):
    def setup(self):
        self.mx = Responder(example_config(self.tmp), self.tmp)

    def teardown(self):
        self.eq(self.mx.stop(), 0)

    def test_client_document(self):
        r = self.mx.get()
        self.eq(r.status, 200)
        self.eq([n for n, _ in r.headers],
                ["Content-Type", "Access-Control-Allow-Origin", "Access-Control-Allow-Methods",
                 "Access-Control-Allow-Headers", "Cache-Control", "ETag", "Content-Length"])
        check_common_headers(self, r)
        self.eq(r.header("Cache-Control"), "public, max-age=3600")
        self.eq(int(r.header("Content-Length")), len(r.body))
        self.eq(r.json(), {
            "m.homeserver": {"base_url": "https://matrix.example.org"},
            "m.identity_server": {"base_url": "https://vector.im"},
            "org.matrix.msc4143.rtc_foci": [{"type": "livekit",
                                             "livekit_service_url": "https://rtc.example.org"}],
        })

    def test_server_and_support_documents(self):
        r = self.mx.get("/.well-known/matrix/server")
        self.eq(r.status, 200)
        self.eq(r.json(), {"m.server": "matrix.example.org:443"})
        r = self.mx.get("/.well-known/matrix/support")
        self.eq(r.status, 200)
        self.eq(r.json(), {"support_page": "https://example.org/help",
                           "contacts": [{"matrix_id": "@admin:example.org",
                                         "email_address": "admin@example.org",
                                         "role": "m.role.admin"}]})

    def test_document_absent_for_domain_is_404(self):
        r = self.mx.get("/.well-known/matrix/server", host="example.net")
        self.eq(r.status, 404)
        check_common_headers(self, r)
        self.eq(r.header("Cache-Control"), "public, max-age=120")
        self.eq(r.json()["errcode"], "M_NOT_FOUND")
        self.eq(self.mx.get(host="example.net").json(),
                {"m.homeserver": {"base_url": "https://chat.example.net"}})

    def test_host_normalisation(self):
        want = self.mx.get().body
        for host in ["Example.ORG", "example.org.", "example.org:443", "EXAMPLE.org.:8448"]:
            r = self.mx.get(host=host)
            self.eq(r.status, 200, host)
            self.eq(r.body, want, host)

    def test_bad_hosts_are_400(self):
        for host in ["", "exa mple.org", "a.org, b.org", "example.org:abc", "example.org:99999",
                     "a:1:2", "[::1", "ex\u00e4mple.org", "a/b", "%65xample.org", "_x.org",
                     "a" * 64 + ".org", ("a" * 60 + ".") * 5 + "org", "x" * 60000]:
            r = self.mx.get(host=host)
            self.eq(r.status, 400, repr(host[:80]))
            check_common_headers(self, r)
            self.eq(r.header("Cache-Control"), "no-store")
            self.eq(r.json()["errcode"], "M_BAD_REQUEST")

    def test_a_host_past_the_parameter_limit_is_closed_unanswered(self):
        # [server] params_bytes (64 KiB) counts the PARAMS records: the gate
        # closes the connection before any worker reads the request.
        with fcgi.connect(self.mx.socket) as s:
            s.sendall(fcgi.begin() + fcgi.params_records(1, fcgi.cgi_params(host="x" * 65536))
                      + fcgi.record(fcgi.STDIN, 1))
            got = b"".join(iter(lambda: s.recv(4096), b""))
        self.eq(got, b"")
        self.eq(self.mx.get().status, 200)

    def test_missing_host_is_400(self):
        self.eq(self.mx.get(host=None).status, 400)

    def test_ip_literals_and_unknown_hosts_are_404(self):
        for host in ["[::1]", "[::1]:8448", "127.0.0.1", "127.0.0.1:80", "other.example",
                     "www.example.org"]:
            r = self.mx.get(host=host)
            self.eq(r.status, 404, host)
            self.true(b"matrix.example.org" not in r.body, "another tenant's data leaked")

    def test_override_headers_are_ignored(self):
        r = self.mx.get(host="other.example", HTTP_X_FORWARDED_HOST="example.org",
                        HTTP_FORWARDED="host=example.org", SERVER_NAME="example.org")
        self.eq(r.status, 404)

    def test_head(self):
        g = self.mx.get()
        h = self.mx.get(method="HEAD")
        self.eq(h.status, 200)
        self.eq(h.headers, g.headers)
        self.eq(h.body, b"")

    def test_options_preflight(self):
        for uri in ["/.well-known/matrix/client", "/anything"]:
            r = self.mx.get(uri, method="OPTIONS", host=None)
            self.eq(r.status, 204)
            check_common_headers(self, r)
            self.eq(r.body, b"")
            self.eq(r.header("Content-Length"), None)

    def test_other_methods_are_405(self):
        for m in ["POST", "PUT", "DELETE", "PATCH", "FOO", "get"]:
            r = self.mx.get(method=m)
            self.eq(r.status, 405, m)
            check_common_headers(self, r)
            self.eq(r.header("Allow"), "GET, HEAD, OPTIONS")
            self.eq(r.json()["errcode"], "M_UNRECOGNIZED")

    def test_if_none_match(self):
        g = self.mx.get()
        tag = g.header("ETag")
        self.true(tag and tag.startswith('"') and tag.endswith('"'), tag)
        for inm in [tag, "W/" + tag, '"x", ' + tag, "*"]:
            r = self.mx.get(HTTP_IF_NONE_MATCH=inm)
            self.eq(r.status, 304, inm)
            self.eq(r.body, b"")
            self.eq(r.header("ETag"), tag)
            self.eq(r.header("Cache-Control"), "public, max-age=3600")
            check_common_headers(self, r)
        self.eq(self.mx.get(HTTP_IF_NONE_MATCH='"nope"').status, 200)
        # Another document has another tag.
        self.true(self.mx.get("/.well-known/matrix/server").header("ETag") != tag)

    def test_paths(self):
        ok = ["/.well-known/matrix/client", "/.well-known/matrix/client?x=1&y",
              "/.well-known/matrix/%63lient", "https://example.org/.well-known/matrix/client",
              "/.well-known/matrix/client#frag"]
        for uri in ok:
            self.eq(self.mx.get(uri).status, 200, uri)
        for uri in ["/.well-known/matrix/client/", "/.well-known/matrix/Client",
                    "/.well-known/matrix/client.json", "/.well-known/matrix/",
                    "/.well-known/matrix/foo", "/.well-known/matrix%2Fclient",
                    "/.well-known/matrix/%2e%2e/matrix/client", "//.well-known//matrix/client",
                    "/./.well-known/matrix/client", "/.well-known/matrix/client%00", "/"]:
            r = self.mx.get(uri)
            self.eq(r.status, 404, uri)
            check_common_headers(self, r)

    def test_parameter_sets_of_each_web_server(self):
        p = "/.well-known/matrix/server"
        sets = {
            "nginx": dict(SCRIPT_NAME=p, REQUEST_URI=p),
            "lighttpd prefix": dict(SCRIPT_NAME=p, REQUEST_URI=p),
            "lighttpd root": dict(SCRIPT_NAME="/.well-known", PATH_INFO="/matrix/server", REQUEST_URI=p),
            "mod_fcgid alias": dict(SCRIPT_NAME="/.well-known/matrix", PATH_INFO="/server", REQUEST_URI=p),
            "mod_proxy_fcgi": dict(SCRIPT_NAME=p, REQUEST_URI="http://example.org" + p),
            "caddy": dict(SCRIPT_NAME="", PATH_INFO=p, REQUEST_URI=p),
            "no REQUEST_URI, split": dict(SCRIPT_NAME="/.well-known/matrix", PATH_INFO="/server"),
            "no REQUEST_URI, caddy": dict(SCRIPT_NAME="", PATH_INFO=p),
        }
        for name, params in sets.items():
            base = {"REQUEST_METHOD": "GET", "HTTP_HOST": "example.org"}
            base.update(params)
            r = fcgi.request(self.mx.socket, base)
            self.eq(r.status, 200, name)
            self.eq(r.json(), {"m.server": "matrix.example.org:443"}, name)
        r = fcgi.request(self.mx.socket, {"REQUEST_METHOD": "GET", "HTTP_HOST": "example.org"})
        self.eq(r.status, 400)

    def test_authorizer_role_is_refused(self):
        r = fcgi.request(self.mx.socket, fcgi.cgi_params(), role=fcgi.AUTHORIZER)
        self.eq(r.status, 403)
        r = fcgi.request(self.mx.socket, fcgi.cgi_params(), role=fcgi.FILTER)
        self.eq(r.status, 403)

    def test_the_role_is_begin_requests_never_a_parameter(self):
        # A pair named FCGI_ROLE says nothing: BEGIN_REQUEST's role decides.
        r = fcgi.request(self.mx.socket, fcgi.cgi_params(FCGI_ROLE="RESPONDER"), role=fcgi.AUTHORIZER)
        self.eq(r.status, 403)
        r = fcgi.request(self.mx.socket, fcgi.cgi_params(FCGI_ROLE="AUTHORIZER"))
        self.eq(r.status, 200)

    def test_truncated_parameters_get_no_answer(self):
        s = fcgi.connect(self.mx.socket)
        body = fcgi.encode_params(fcgi.cgi_params())
        # A PARAMS record that promises more than is sent, then the peer goes.
        s.sendall(fcgi.begin() + fcgi.record(fcgi.PARAMS, 1, body)[:8 + len(body) // 2])
        s.shutdown(1)
        got = b"".join(iter(lambda: s.recv(4096), b""))
        s.close()
        self.true(fcgi.STDOUT not in [t for t, _, _ in fcgi.read_records_from(got)], got)
        self.eq(self.mx.get().status, 200)

    def test_many_requests_on_one_kept_connection(self):
        s = fcgi.connect(self.mx.socket)
        for i in range(1, 4):
            s.sendall(fcgi.begin(1, keep=True) + fcgi.params_records(1, fcgi.cgi_params())
                      + fcgi.record(fcgi.STDIN, 1))
            out = b""
            for rtype, _, content in fcgi.read_records(s):
                if rtype == fcgi.STDOUT:
                    out += content
                if rtype == fcgi.END_REQUEST:
                    break
            self.eq(fcgi.Response(out).status, 200, "request %d" % i)
        s.close()


class Templates(Test):
    """Defaults, wildcards, per-domain max_age and the policy server document,
    through the TOML backend and the whole request path."""

    KEY = "l8Hft5qXKn1vfHrg3p4+W8gELQVo8N13JkluMfmn2sQ"

    def setup(self):
        from harness import PLUGINS
        cfg = self.tmp.write("t.toml", """[backend]
name = "toml"
plugin_dir = "%s"
[defaults]
server = "matrix.{domain}:443"
[domains."example.org"]
client = "https://matrix.example.org"
max_age = 60
policy_server = { ed25519 = "%s" }
[domains."*.example.net"]
client = "https://{domain}/chat"
[domains."deep.eu.example.net"]
server = "eu.example.net:8448"
[domains."*.eu.example.net"]
server = "eu-wild.example.net:8448"
""" % (PLUGINS, self.KEY))
        self.mx = Responder(cfg, self.tmp)

    def teardown(self):
        self.eq(self.mx.stop(), 0)

    def test_defaults_fill_listed_domains_only(self):
        r = self.mx.get("/.well-known/matrix/server")
        self.eq(r.json(), {"m.server": "matrix.example.org:443"})
        self.eq(r.header("Cache-Control"), "public, max-age=60")
        self.eq(self.mx.get("/.well-known/matrix/server", host="unlisted.org").status, 404)

    def test_wildcards_most_specific_wins(self):
        get = lambda h: self.mx.get("/.well-known/matrix/server", host=h)
        self.eq(get("a.example.net").json(), {"m.server": "matrix.a.example.net:443"})
        self.eq(get("x.eu.example.net").json(), {"m.server": "eu-wild.example.net:8448"})
        self.eq(get("deep.eu.example.net").json(), {"m.server": "eu.example.net:8448"})
        self.eq(get("example.net").status, 404)
        self.eq(self.mx.get(host="B.Example.NET.").json(),
                {"m.homeserver": {"base_url": "https://b.example.net/chat"}})

    def test_policy_server(self):
        r = self.mx.get("/.well-known/matrix/policy_server")
        self.eq(r.status, 200)
        self.eq(r.json(), {"public_keys": {"ed25519": self.KEY}})
        self.eq(self.mx.get("/.well-known/matrix/policy_server", host="a.example.net").status, 404)
