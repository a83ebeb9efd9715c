"""Hostile input and hostile FastCGI peers (issue 7): what a client can put
in a Host or a path, what a store can hold, and what a peer on the socket
can send that no web server would.  Each case asserts the documented
answer exactly; SECURITY.md lists them."""

import json
import os
import sqlite3
import stat
import struct
import subprocess
import threading
import time
import urllib.parse

import fcgi
import rawfcgi
from harness import BIN, BUILD, PLUGINS, Responder, Test, check_common_headers, free_port, wait_for

CTL = os.path.join(BUILD, "mxdelegatectl")
SERVER = "/.well-known/matrix/server"
CLIENT = "/.well-known/matrix/client"

# One data set, served by either backend: the TOML backend reads it from
# the configuration, the SQLite one gets it through "mxdelegatectl import".
DOMAINS = """\
[domains."example.org"]
server = "matrix.example.org:443"
client = "https://matrix.example.org"

[domains."example.net"]
server = "matrix.example.net:8448"
client = "https://chat.example.net"

[domains."*.wild.example"]
server = "{domain}.{domain}:443"
"""

ORG = {"m.server": "matrix.example.org:443"}
NET = {"m.server": "matrix.example.net:8448"}

# Host values and the status that mxdelegate(8) documents for each: 400
# for what is not a host name, 404 for an IP literal or a name with no
# entry, the document for the served name however it is written.
SERVED = ["example.org", "Example.ORG", "example.org.", "example.org:443", "EXAMPLE.ORG.:8448",
          "example.org:1", "example.org:65535"]
BAD_HOSTS = [
    # SQL- and wildcard-like
    "example.org' OR '1'='1", "x' OR 1=1 --", "example.org;--", "%", "%.org", "exampl%",
    "exampl_.org", "_.example.org", "*", "*.example.org", "*.wild.example", "example.?rg",
    "[a-z]*.org",
    # control bytes, CR/LF, spaces, separators
    "example.org\r\nX-Injected: 1", "example.org\n", "\rexample.org", "\texample.org",
    "example.org\x01", "\x1b[31mexample.org", "example.org\x7f", "exa mple.org",
    " example.org", "example.org ", "a.org, b.org", "a.org,b.org", "example.org/",
    "a/b", "example.org\\", "a\\b", "example.org#", "example.org?", "user@example.org",
    # non-ASCII: UTF-8, a Cyrillic look-alike, Latin-1 and stray bytes
    "ex\u00e4mple.org", "\u0435xample.org", "example.org\u2028", b"ex\xe4mple.org",
    b"example.org\xff", b"example.org:\xb9",
    # lengths: 254 characters, a 64-character label, 60 KiB (the PARAMS
    # records may hold 64 KiB: a Host past that is the gate's, below)
    ("a" * 62 + ".") * 4 + "ab", "a" * 64 + ".org", "x" * 61440, ("a." * 30720),
    # labels
    ".example.org", "example..org", "-example.org", "example-.org", "example.org..",
    # ports and literals
    "example.org:", ":443", "example.org:abc", "example.org:99999", "example.org:65536",
    "example.org:-1", "example.org:+1", "example.org:443:443", "a:1:2", "example.org: 443",
    "[::1", "[::1]x", "[::1]:", "[::1]:abc", "[::1]:99999", "[example.org]", "[]", "::1",
    "1.2.3.4.5", "256.1.1.1", "1.2.3", "01.2.3.4",
]
NOT_FOUND_HOSTS = [
    "127.0.0.1", "127.0.0.1:80", "0.0.0.0", "[::1]", "[::1]:8448", "[2001:db8::1]",
    "[::ffff:127.0.0.1]:443", "other.example", "www.example.org", "org", "example.org.evil",
    "evil-example.org", "xn--exmple-cua.org", "a" * 63 + ".org",
    ("a" * 62 + ".") * 4 + "a",  # 253 characters: valid, unknown
    "wild.example",              # a wildcard never answers for its parent
]
# Parameters are C strings, as libfcgi kept them: a value ends at its first NUL.
NUL_HOSTS = [("example.org\0", 200), ("example.org\0.evil", 200), ("\0example.org", 400),
             ("exa\0mple.org", 404)]


def sqlite_config(tmp, extra=""):
    """A store made with mxdelegatectl from DOMAINS; returns the config."""
    db = tmp.file("domains.db")
    cfg = tmp.write("mxdelegate.toml", """[backend]
name = "sqlite"
plugin_dir = "%s"
path = "%s"
[server]
check_interval = 0.05
%s""" % (PLUGINS, db, extra))
    src = tmp.write("domains.toml", DOMAINS)
    for args in (["init"], ["import", src]):
        r = subprocess.run([CTL, "-c", cfg, *args], capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise AssertionError("mxdelegatectl %s: %s" % (args, r.stderr))
    return cfg


def toml_config(tmp, extra=""):
    return tmp.write("mxdelegate.toml", """[backend]
name = "toml"
plugin_dir = "%s"
[server]
check_interval = 0.05
%s
%s""" % (PLUGINS, extra, DOMAINS))


def _tcp_accepts(port):
    try:
        fcgi.connect(("127.0.0.1", port), 1).close()
        return True
    except OSError:
        return False


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


class HostCases:
    """The Host cases, run against one backend (the subclasses)."""

    def teardown(self):
        log = self.mx.stderr()
        self.eq(self.mx.stop(), 0, log)

    def check_error(self, r, status, what):
        self.true(r is not None, "no answer for %r" % what)
        self.eq(r.status, status, repr(what[:80]))
        check_common_headers(self, r)
        self.eq(int(r.header("Content-Length")), len(r.body), repr(what[:80]))
        body = r.json()
        self.eq(body["errcode"], "M_BAD_REQUEST" if status == 400 else "M_NOT_FOUND", repr(what[:80]))
        self.eq(r.header("Cache-Control"), "no-store" if status == 400 else "public, max-age=300")
        for tenant in (b"matrix.example", b"chat.example", b"wild.example"):
            self.true(tenant not in r.body, "tenant data in the answer to %r" % what[:80])

    def test_hosts_served_however_written(self):
        for host in SERVED:
            r = self.mx.get(SERVER, host=host)
            self.eq(r.status, 200, host)
            self.eq(r.json(), ORG, host)
        self.eq(self.mx.get(SERVER, host="EXAMPLE.NET.:443").json(), NET)

    def test_hostile_hosts_are_400_and_unknown_ones_404(self):
        for host in BAD_HOSTS:
            self.check_error(self.mx.get(SERVER, host=host), 400, host)
        for host in NOT_FOUND_HOSTS:
            self.check_error(self.mx.get(SERVER, host=host), 404, host)
        for host, status in NUL_HOSTS:
            r = self.mx.get(SERVER, host=host)
            self.eq(r.status, status, repr(host))
            if status == 200:
                self.eq(r.json(), ORG)
        # Nothing is logged per request (mxdelegate(8), Logging): no line a
        # client could forge or grow.
        self.eq(self.mx.stderr(), "")

    def test_forwarding_headers_never_pick_the_tenant(self):
        forged = dict(HTTP_X_FORWARDED_HOST="example.org", HTTP_FORWARDED="for=1.2.3.4;host=example.org",
                      HTTP_X_HOST="example.org", HTTP_X_FORWARDED_SERVER="example.org",
                      HTTP_X_ORIGINAL_HOST="example.org", SERVER_NAME="example.org")
        self.check_error(self.mx.get(SERVER, host="other.example", **forged), 404, "other.example")
        r = self.mx.get(SERVER, host="example.net", **forged)
        self.eq(r.status, 200)
        self.eq(r.json(), NET)
        self.check_error(self.mx.get(SERVER, host="exa mple.org", **forged), 400, "exa mple.org")
        self.check_error(self.mx.get(SERVER, host=None, **forged), 400, "no Host")

    def test_a_logged_host_is_escaped_and_cut(self):
        # The one place a Host reaches the log: a wildcard's template grown
        # past the limits for this host (500).  The host there is already
        # normalised; the line is still one line, printable, cut at 64.
        host = ("h" * 60 + ".") * 3 + "wild.example"
        r = self.mx.get(SERVER, host=host.upper())
        self.eq(r.status, 500)
        check_common_headers(self, r)
        self.eq(r.json()["errcode"], "M_UNKNOWN")
        self.true(wait_for(lambda: self.mx.stderr() != "", 2), "nothing logged")
        lines = self.mx.stderr().splitlines()
        self.eq(len(lines), 1, lines)
        line = lines[0]
        self.true(line.startswith("mxdelegate: directory: error: "), line)
        # The host cut at 64 bytes; the record's expanded value, which holds
        # it too, cut by the record's own quoting.
        self.true(line.startswith("mxdelegate: directory: error: " + host[:64] + "... (entry "), line)
        self.true(host not in line, "host not cut: " + line)
        self.true(len(line) <= 512 and all(0x20 <= ord(c) < 0x7f for c in line), line)
        self.eq(self.mx.get(SERVER).json(), ORG)


class HostsToml(HostCases, Test):
    def setup(self):
        self.mx = Responder(toml_config(self.tmp), self.tmp)


class HostsSqlite(HostCases, Test):
    def setup(self):
        self.mx = Responder(sqlite_config(self.tmp), self.tmp)


# Path forms as a client sends them (REQUEST_URI), and the one routing
# mxdelegate(8) documents for them.
PATHS = [
    ("/.well-known/matrix/server", 200),
    ("/.well-known/matrix/server?x=1&y", 200),
    ("/.well-known/matrix/server?", 200),
    ("/.well-known/matrix/server#frag", 200),
    ("/.well-known/matrix/%73erver", 200),
    ("/.well-known/matrix/%73%65%72%76%65%72", 200),
    ("/%2Ewell-known/matrix/server", 200),
    ("http://example.org/.well-known/matrix/server", 200),
    ("HTTPS://example.org:443/.well-known/matrix/server?x", 200),
    ("/.well-known/matrix/server/", 404),
    ("/.well-known/matrix/Server", 404),
    ("/.WELL-KNOWN/matrix/server", 404),
    ("/.well-known/matrix/server.json", 404),
    ("/.well-known/matrix/", 404),
    ("/.well-known/matrix", 404),
    ("/.well-known/matrix/foo", 404),
    ("/.well-known/matrix/%2e%2e/matrix/server", 404),
    ("/.well-known/matrix/../matrix/server", 404),
    ("/.well-known/matrix%2Fserver", 404),
    ("/.well-known/matrix%2fserver", 404),
    ("/.well-known/matrix/server%00", 404),
    ("/.well-known/matrix/server%", 404),
    ("/.well-known/matrix/server%zz", 404),
    ("/.well-known/matrix/%2573erver", 404),
    ("//.well-known/matrix/server", 404),
    ("/.well-known//matrix/server", 404),
    ("/./.well-known/matrix/server", 404),
    ("/.well-known/./matrix/server", 404),
    ("/.well-known/matrix/server;x", 404),
    ("/.well-known/matrix/server\x01", 404),
    ("/.well-known/matrix/server\r\n", 404),
    (".well-known/matrix/server", 404),
    ("*", 404),
    ("http://example.org", 404),
    ("http://example.org?/.well-known/matrix/server", 404),
]


def decoded(target):
    """The path a web server derives from the target for SCRIPT_NAME and
    PATH_INFO: authority and query gone, every escape decoded, dot-segments
    and doubled slashes resolved (as nginx and lighttpd do)."""
    t = target
    low = t.lower()
    for scheme in ("http://", "https://"):
        if low.startswith(scheme):
            rest = t[len(scheme):]
            t = rest[rest.find("/"):] if "/" in rest else "/"
    t = t.split("?")[0].split("#")[0]
    t = urllib.parse.unquote(t)
    out = []
    for seg in t.split("/"):
        if seg in ("", "."):
            continue
        if seg == "..":
            if out:
                out.pop()
            continue
        out.append(seg)
    return "/" + "/".join(out)


def split_after(path, prefix):
    return (prefix, path[len(prefix):]) if path.startswith(prefix + "/") else (path, "")


# What each web server passes for a request (reference §2.2): REQUEST_URI
# raw, SCRIPT_NAME and PATH_INFO decoded and split its own way.
PARAMETER_SETS = {
    "nginx": lambda t, d: dict(REQUEST_URI=t, SCRIPT_NAME=d, DOCUMENT_URI=d),
    "lighttpd prefix /.well-known/matrix/": lambda t, d: dict(REQUEST_URI=t, SCRIPT_NAME=d),
    "lighttpd prefix /": lambda t, d: dict(
        REQUEST_URI=t, SCRIPT_NAME=split_after(d, "/.well-known")[0],
        PATH_INFO=split_after(d, "/.well-known")[1]),
    "apache mod_fcgid alias": lambda t, d: dict(
        REQUEST_URI=t, SCRIPT_NAME=split_after(d, "/.well-known/matrix")[0],
        PATH_INFO=split_after(d, "/.well-known/matrix")[1]),
    "apache mod_proxy_fcgi": lambda t, d: dict(
        REQUEST_URI=t if "://" in t else "http://example.org" + t,
        SCRIPT_NAME=d, SCRIPT_FILENAME="proxy:fcgi://localhost" + d),
    "caddy": lambda t, d: dict(REQUEST_URI=t, SCRIPT_NAME="", PATH_INFO=d),
}


class Paths(Test):
    def setup(self):
        self.mx = Responder(toml_config(self.tmp), self.tmp)

    def teardown(self):
        log = self.mx.stderr()
        self.eq(self.mx.stop(), 0, log)

    def request(self, params):
        base = {"REQUEST_METHOD": "GET", "HTTP_HOST": "example.org", "SERVER_PROTOCOL": "HTTP/1.1",
                "GATEWAY_INTERFACE": "CGI/1.1", "QUERY_STRING": ""}
        base.update(params)
        return fcgi.request(self.mx.socket, base)

    def test_every_path_form_routes_alike_under_every_web_server(self):
        for target, want in PATHS:
            d = decoded(target)
            for server, make in PARAMETER_SETS.items():
                r = self.request(make(target, d))
                self.eq(r.status, want, "%r under %s" % (target, server))
                check_common_headers(self, r)
                if want == 200:
                    self.eq(r.json(), ORG, target)
                else:
                    self.eq(r.json()["errcode"], "M_NOT_FOUND", target)
            # None of the three path parameters: no target at all.
            r = self.request({})
            self.eq(r.status, 400, "no path parameters")
            self.eq(r.json()["error"], "No request path (REQUEST_URI or SCRIPT_NAME)")

    def test_path_parameters_without_request_uri(self):
        # RFC 3875 alone: SCRIPT_NAME and PATH_INFO, already decoded by the
        # server, compared as they are.
        for script, info, want in [(SERVER, None, 200), ("", SERVER, 200),
                                   ("/.well-known", "/matrix/server", 200),
                                   ("/.well-known/matrix", "/server", 200),
                                   ("/.well-known/matrix", "/server/", 404),
                                   ("/.well-known/matrix/%73erver", None, 404),
                                   (None, SERVER, 400)]:
            p = {}
            if script is not None:
                p["SCRIPT_NAME"] = script
            if info is not None:
                p["PATH_INFO"] = info
            self.eq(self.request(p).status, want, (script, info))
        # An empty REQUEST_URI counts as none.
        self.eq(self.request(dict(REQUEST_URI="", SCRIPT_NAME=SERVER)).status, 200)
        # A NUL ends a parameter (C strings, as libfcgi kept them).
        self.eq(self.request(dict(REQUEST_URI=SERVER + "\0/x")).status, 200)
        self.eq(self.request(dict(REQUEST_URI="/.well-known/\0matrix/server")).status, 404)


# Values a record can hold that are hard on a JSON writer.
NASTY = ('quote " apostrophe \' backslash \\ slash / </script><script>alert(1)</script> '
         'line\u2028para\u2029 nl\n cr\r tab\t nul\0 bell\x07 esc\x1b del\x7f '
         'c1\u0085 bom\ufeff 4-byte \U0001F600\U0001D11E \u00e9\u4e2d')


def toml_string(s):
    return json.dumps(s, ensure_ascii=False).replace("\x7f", "\\u007f").replace("\u0085", "\\u0085")


class Data(Test):
    """What a store holds comes back as JSON that a second parser reads as
    the same values; bytes that are not UTF-8 cost their domain only."""

    EXTRA = """
[domains."data.example"]
client = "https://matrix.data.example"
[domains."data.example".client_extra]
"org.example.nasty" = %(s)s
"org.example.list" = [ %(s)s, { %(k)s = %(s)s } ]
[domains."bad.example"]
server = "matrix.bad.example:443"
client = "https://matrix.bad.example"
[domains."worse.example"]
client = "https://matrix.worse.example"
""" % {"s": toml_string(NASTY), "k": toml_string("key " + NASTY)}

    def setup(self):
        self.mx = None

    def teardown(self):
        if self.mx:
            log = self.mx.stderr()
            self.eq(self.mx.stop(), 0, log)

    def check_nasty(self):
        r = self.mx.get(CLIENT, host="data.example")
        self.eq(r.status, 200, r.body)
        self.eq(int(r.header("Content-Length")), len(r.body))
        doc = json.loads(r.body.decode("utf-8", "strict"))
        self.eq(doc["org.example.nasty"], NASTY)
        self.eq(doc["org.example.list"], [NASTY, {"key " + NASTY: NASTY}])
        # No raw control byte, so no line break or terminal escape.
        self.true(all(b >= 0x20 for b in r.body), r.body)

    def test_hard_values_round_trip_toml(self):
        cfg = self.tmp.write("mxdelegate.toml", """[backend]
name = "toml"
plugin_dir = "%s"
%s%s""" % (PLUGINS, DOMAINS, self.EXTRA))
        self.mx = Responder(cfg, self.tmp)
        self.check_nasty()

    def test_hard_values_round_trip_sqlite_and_bad_bytes_cost_one_domain(self):
        cfg = sqlite_config(self.tmp)
        src = self.tmp.write("extra.toml", self.EXTRA)
        r = subprocess.run([CTL, "-c", cfg, "import", src], capture_output=True, text=True, timeout=60)
        self.eq(r.returncode, 0, r.stderr)
        # Behind the admin tool's back: bytes that are not UTF-8 (with a
        # newline and a terminal escape after them) in a text column, and a
        # surrogate and a 5-byte form inside the JSON column.
        db = sqlite3.connect(self.tmp.file("domains.db"), isolation_level=None)
        db.execute("UPDATE domains SET client = CAST(? AS TEXT) WHERE domain = 'bad.example'",
                   (b"https://matrix.bad.example/\xff\xfe\xc0\xaf\n\x1b[31m",))
        db.execute("UPDATE domains SET client_extra = CAST(? AS TEXT) WHERE domain = 'worse.example'",
                   (b'{"org.example.x":"\xed\xa0\x80 \xf8\x88\x80\x80\x80"}',))
        db.close()
        self.mx = Responder(cfg, self.tmp)
        for host in ("bad.example", "worse.example"):
            for uri in (CLIENT, SERVER):
                r = self.mx.get(uri, host=host)
                self.eq(r.status, 503, "%s %s" % (host, uri))
                check_common_headers(self, r)
                self.eq(r.header("Cache-Control"), "no-store")
                self.eq(r.json()["errcode"], "M_UNAVAILABLE")
            time.sleep(1.05)  # the failure log is limited to a line a second
        # The other domains are served, the process lives, and the log
        # lines carry none of the stored bytes raw.
        self.eq(self.mx.get(SERVER).json(), ORG)
        self.eq(self.mx.get(SERVER, host="example.net").json(), NET)
        self.check_nasty()
        self.eq(self.mx.proc.poll(), None)
        log = self.mx.stderr()
        lines = log.splitlines()
        self.eq(len(lines), 2, log)
        for line in lines:
            self.true(line.startswith("mxdelegate: backend: error: ") and line.endswith("; answering 503"), line)
            self.true(all(0x20 <= ord(c) < 0x7f for c in line), line)


def end_request_ok(test, ex, request_id=1):
    test.eq(ex.end_request(request_id), (0, rawfcgi.REQUEST_COMPLETE))


class Peers(Test):
    """A FastCGI peer that is not a web server."""

    def setup(self):
        self.cfg = toml_config(self.tmp, "threads = 4\nread_timeout = 1\n")
        self.mx = Responder(self.cfg, self.tmp)

    def teardown(self):
        if self.mx.proc.poll() is None:
            log = self.mx.stderr()
            self.eq(self.mx.stop(), 0, log)

    def ex(self, data, shut=True, timeout=10):
        return rawfcgi.exchange(self.mx.socket, data, shut, timeout)

    def alive(self):
        self.eq(self.mx.proc.poll(), None, self.mx.stderr())
        r = self.mx.get(SERVER)
        self.eq(r.status, 200)
        self.eq(r.json(), ORG)

    def dropped(self, data, what):
        ex = self.ex(data)
        self.true(ex.closed, "%s: connection left open" % what)
        self.eq(ex.records, [], what)
        self.alive()

    def test_truncated_streams_get_no_answer(self):
        full = rawfcgi.request(fcgi.cgi_params(uri=SERVER))
        params_at = len(fcgi.begin())
        cuts = [1, 7, 8, 12, params_at + 3, params_at + 8, params_at + 9, params_at + 20,
                len(full) - len(fcgi.record(fcgi.STDIN, 1)) - 9]
        for cut in cuts:
            self.dropped(full[:cut], "cut at %d" % cut)
        # The parameters complete, then the peer ends without a STDIN
        # record: a request is whole only with its first STDIN record, so
        # the gate never hands it to a worker.
        self.dropped(fcgi.begin() + fcgi.params_records(1, fcgi.cgi_params(uri=SERVER)),
                     "no STDIN record")

    def test_lying_lengths_are_dropped(self):
        body = fcgi.encode_params(fcgi.cgi_params(uri=SERVER))
        b = fcgi.begin()
        cases = {
            "content longer than sent": b + rawfcgi.header(fcgi.PARAMS, 1, len(body) + 100) + body,
            "padding that eats the next record": b + rawfcgi.header(fcgi.PARAMS, 1, 8, 255)
                + fcgi.encode_params({"A": "BCDEF"}) + fcgi.params_records(1, fcgi.cgi_params())
                + fcgi.record(fcgi.STDIN, 1),
            "pair longer than its record": b + fcgi.record(fcgi.PARAMS, 1, rawfcgi.pair(100, 5, b"HTTP_HOST"))
                + fcgi.record(fcgi.PARAMS, 1) + fcgi.record(fcgi.STDIN, 1),
            "pair longer than the stream": b + fcgi.record(fcgi.PARAMS, 1, rawfcgi.pair(60000, 60000, b"x" * 100))
                + fcgi.record(fcgi.PARAMS, 1),
            "256 MiB name, then the peer goes": b + fcgi.record(
                fcgi.PARAMS, 1, rawfcgi.pair(0x10000000, 5, b"x" * 64)),
            "name length 0x7fffffff": b + fcgi.record(fcgi.PARAMS, 1, rawfcgi.pair(0x7fffffff, 1, b"abc")),
            "value length 0x7fffffff": b + fcgi.record(fcgi.PARAMS, 1, rawfcgi.pair(1, 0x7fffffff, b"abc")),
            "version 2": b"\x02" + b[1:] + fcgi.params_records(1, fcgi.cgi_params()) + fcgi.record(fcgi.STDIN, 1),
            "version 0": rawfcgi.header(fcgi.BEGIN_REQUEST, 1, 8, 0, version=0) + b[8:],
            "BEGIN_REQUEST body short": fcgi.record(fcgi.BEGIN_REQUEST, 1, b"\0\1")
                + fcgi.params_records(1, fcgi.cgi_params()),
            "BEGIN_REQUEST with id 0": fcgi.begin(0) + fcgi.params_records(0, fcgi.cgi_params()),
            "PARAMS before BEGIN_REQUEST": fcgi.params_records(1, fcgi.cgi_params())
                + rawfcgi.request(fcgi.cgi_params()),
            "STDOUT from the peer": b + fcgi.record(fcgi.STDOUT, 1, b"Status: 200\r\n\r\n")
                + fcgi.params_records(1, fcgi.cgi_params()),
            "ABORT_REQUEST inside PARAMS": b + fcgi.record(fcgi.PARAMS, 1, body)
                + fcgi.record(fcgi.ABORT_REQUEST, 1) + fcgi.record(fcgi.PARAMS, 1),
            "unknown stream type": b + fcgi.record(42, 1, b"abc") + fcgi.params_records(1, fcgi.cgi_params()),
            "role 0": fcgi.begin(1, 0) + fcgi.params_records(1, fcgi.cgi_params()),
            "role 99": fcgi.begin(1, 99) + fcgi.params_records(1, fcgi.cgi_params()),
            "garbage": b"GET / HTTP/1.1\r\nHost: example.org\r\n\r\n",
        }
        t0 = time.monotonic()
        for what, data in cases.items():
            self.dropped(data, what)
        # The gate names the peer and the rule, one line a second at most.
        lines = self.mx.stderr().splitlines()
        self.true(1 <= len(lines) <= time.monotonic() - t0 + 1, lines)
        for line in lines:
            self.true(line.startswith("mxdelegate: gate: warning: closed a connection from the unix socket: "),
                      line)

    def test_overflowing_lengths_never_reach_libfcgi(self):
        # CVE-2025-23016's shape: Debian 12's libfcgi adds the two lengths in
        # 32 bits, malloc gets an impossible size and libfcgi asserts, which
        # killed the process.  The gate checks every pair's lengths against
        # the stream first and closes the connection; libfcgi never sees it.
        mode = stat.S_IMODE(os.stat(self.mx.socket).st_mode)
        self.eq(oct(mode), oct(0o660))
        for name, value in ((0x7ffffffe, 0x7ffffffe), (0x7fffffff, 1), (1, 0x7fffffff)):
            ex = self.ex(fcgi.begin() + fcgi.record(fcgi.PARAMS, 1, rawfcgi.pair(name, value, b"abc"))
                         + fcgi.record(fcgi.PARAMS, 1) + fcgi.record(fcgi.STDIN, 1))
            self.eq(ex.records, [])
            self.true(ex.closed)
        self.alive()
        self.true(wait_for(lambda: "malformed name-value pair in PARAMS" in self.mx.stderr(), 5),
                  self.mx.stderr())

    def test_management_records(self):
        def values(records):
            self.eq(len(records), 1, records)
            rtype, rid, content = records[0]
            self.eq((rtype, rid), (fcgi.GET_VALUES_RESULT, 0))
            out, at = [], 0
            while at < len(content):
                n, v = content[at], content[at + 1]
                out.append((content[at + 2:at + 2 + n].decode(), content[at + 2 + n:at + 2 + n + v].decode()))
                at += 2 + n + v
            return out

        # FCGI_GET_VALUES is answered by the gate, never by libfcgi (whose
        # answer overflowed a 64-byte stack buffer when a name came four
        # times): each known name once, with what the gate really takes;
        # the unknown name left out.  Alone, or before a request, which is
        # then served.
        names = ["FCGI_MAX_CONNS", "FCGI_MAX_REQS", "FCGI_MPXS_CONNS", "X_UNKNOWN"]
        for times in (1, 2, 3, 4, 5, 17, 100):
            query = b"".join(fcgi.encode_params({n: ""}) for n in names * times)
            ex = self.ex(fcgi.record(fcgi.GET_VALUES, 0, query))
            self.true(ex.closed)
            got = values(ex.records)
            self.eq([n for n, _ in got], names[:3], times)
            self.eq(got[0][1], got[1][1])
            self.true(int(got[0][1]) >= 16, got)
            self.eq(got[2][1], "0")
        self.alive()
        query = fcgi.encode_params({"FCGI_MPXS_CONNS": ""})
        ex = self.ex(fcgi.record(fcgi.GET_VALUES, 0, query) + rawfcgi.request(fcgi.cgi_params(uri=SERVER)))
        self.eq(values(ex.records[:1]), [("FCGI_MPXS_CONNS", "0")])
        self.eq(ex.response().json(), ORG)
        end_request_ok(self, ex)
        # A malformed pair: closed.
        ex = self.ex(fcgi.record(fcgi.GET_VALUES, 0, b"\x0e\x00FCGI"))
        self.eq(ex.records, [])
        self.true(ex.closed)
        # An unknown management type, empty or with a body: FCGI_UNKNOWN_TYPE
        # naming it, and the request after it is served.
        unknown = struct.pack(">B7x", 42)
        for body in (b"", b"abc"):
            ex = self.ex(fcgi.record(42, 0, body) + rawfcgi.request(fcgi.cgi_params(uri=SERVER)))
            self.eq(ex.records[0], (fcgi.UNKNOWN_TYPE, 0, unknown))
            self.eq(ex.response().json(), ORG)
        # Inside a request: closed.
        ex = self.ex(fcgi.begin() + fcgi.record(fcgi.GET_VALUES, 0, query))
        self.eq(ex.records, [])
        self.alive()

    def test_authorizer_and_filter_never_get_200(self):
        for role in (fcgi.AUTHORIZER, fcgi.FILTER):
            for method in ("GET", "HEAD", "OPTIONS", "POST"):
                for uri in (SERVER, CLIENT, "/", "/.well-known/matrix/nope"):
                    ex = self.ex(rawfcgi.request(fcgi.cgi_params(method, uri), role=role))
                    r = ex.response()
                    self.eq(r.status, 403, (role, method, uri))
                    self.eq(r.json()["errcode"], "M_FORBIDDEN")
                    self.true(b"matrix.example" not in r.body)
                    end_request_ok(self, ex)

    def test_multiplexing_never_mixes_answers(self):
        org = fcgi.cgi_params(uri=SERVER)
        net = fcgi.cgi_params(uri=SERVER, host="example.net")
        b1, b2 = fcgi.begin(1), fcgi.begin(2)
        p1, p2 = fcgi.params_records(1, org), fcgi.params_records(2, net)
        s1, s2 = fcgi.record(fcgi.STDIN, 1), fcgi.record(fcgi.STDIN, 2)
        # A record of a second request before the first is whole breaks a
        # rule (FCGI_MPXS_CONNS is 0): closed, nothing answered.
        cases = [
            ("second BEGIN before any PARAMS", b1 + b2 + fcgi.record(fcgi.PARAMS, 2, fcgi.encode_params(net)) + p1 + s1),
            ("second BEGIN between the two PARAMS", b1 + p1[:-8] + b2 + p2 + p1[-8:] + s1 + s2),
            ("same id twice", b1 + b1 + p1 + s1),
            ("second request's PARAMS first", b1 + b2 + p2 + p1 + s1 + s2),
        ]
        for what, data in cases:
            ex = self.ex(data)
            self.eq(ex.records, [], what)
            self.true(ex.closed, what)
        # After the first's STDIN end the first is whole: it is answered,
        # and what follows (read by no one) ends the connection.
        for what, data in (("second BEGIN after the first's STDIN", b1 + p1 + s1 + b2 + p2 + s2),
                           ("two kept-alive requests in one write",
                            rawfcgi.request(org, keep=True) + rawfcgi.request(net, keep=True))):
            ex = self.ex(data)
            self.eq(ex.request_ids(fcgi.STDOUT), [1], what)
            self.eq(ex.response(1).json(), ORG, what)
            self.true(b"example.net" not in ex.data, what)
            end_request_ok(self, ex, 1)
            self.true(ex.closed, what)
        self.alive()

    def test_slow_peers_hold_a_worker_for_read_timeout_at_most(self):
        # 4 threads, read_timeout = 1: every kind of stalling peer takes a
        # worker, and a good request still gets its answer within
        # read_timeout (plus the watchdog's 0.1 s tick and a margin).
        req = rawfcgi.request(fcgi.cgi_params(uri=SERVER))
        peers, threads = [], []

        def silent():
            peers.append(rawfcgi.Peer(self.mx.socket))

        def half_header():
            peers.append(rawfcgi.Peer(self.mx.socket).send(req[:5]))

        def trickle_params():
            p = rawfcgi.Peer(self.mx.socket)
            peers.append(p)
            p.trickle(req, 0.2)

        def trickle_after_answer():
            p = rawfcgi.Peer(self.mx.socket).send(req)
            peers.append(p)
            p.trickle(b"x" * 100, 0.2)

        def good():
            t0 = time.monotonic()
            r = self.mx.get(SERVER)
            return r, time.monotonic() - t0

        for rounds in (1, 2):
            for kind in [silent, half_header, trickle_params, trickle_after_answer] * rounds:
                t = threading.Thread(target=kind)
                t.start()
                threads.append(t)
            time.sleep(0.3)  # every worker holds a slow peer
            r, took = good()
            self.eq(r.json(), ORG)
            # Each round of 4 slow peers ahead of it costs up to 1 s.
            self.true(took < rounds * 1.0 + 0.8, "answered after %.2fs" % took)
            for t in threads:
                t.join(10)
            for p in peers:
                p.close()
            del peers[:], threads[:]
        # The trickling peers were cut off by the responder, not by us.
        self.alive()

    def test_trickled_request_is_cut_at_read_timeout(self):
        req = rawfcgi.request(fcgi.cgi_params(uri=SERVER))
        p = rawfcgi.Peer(self.mx.socket)
        sent = p.trickle(req, 0.1)
        ex = p.read_all(5)
        p.close()
        self.true(ex.closed)
        self.eq(ex.records, [])
        # Cut after read_timeout (1 s) and the watchdog's tick, far from
        # the whole request.
        self.true(sent < len(req) // 4, "sent %d of %d bytes" % (sent, len(req)))
        self.true(0.9 <= ex.seconds <= 2.0, "cut after %.2fs" % ex.seconds)
        self.alive()

    def test_tcp_peers_outside_fcgi_web_server_addrs_are_refused(self):
        # libfcgi's own rule, kept now that mxdelegate accepts connections
        # itself: with FCGI_WEB_SERVER_ADDRS set, an IPv4 peer not listed is
        # closed before a byte is read.
        for allowed, served in (("10.9.9.9", False), ("10.9.9.9,127.0.0.1", True)):
            port = free_port()
            env = dict(os.environ, FCGI_WEB_SERVER_ADDRS=allowed)
            proc = subprocess.Popen([BIN, "-c", self.cfg, "--listen", "127.0.0.1:%d" % port],
                                    stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
            try:
                self.true(wait_for(lambda: proc.poll() is not None or _tcp_accepts(port), 10))
                ex = rawfcgi.exchange(("127.0.0.1", port), rawfcgi.request(fcgi.cgi_params(uri=SERVER)))
                self.true(ex.closed, allowed)
                if served:
                    self.eq(ex.response().json(), ORG)
                else:
                    self.eq(ex.records, [], allowed)
            finally:
                proc.terminate()
                self.eq(proc.wait(10), 0)

    def test_hundreds_of_abandoned_connections_leak_no_descriptor(self):
        self.alive()
        pid = self.mx.proc.pid
        time.sleep(0.3)  # the last connection's close has finished
        before = fd_count(pid)
        req = rawfcgi.request(fcgi.cgi_params(uri=SERVER))
        open_ones = []
        for i in range(300):
            p = rawfcgi.Peer(self.mx.socket)
            kind = i % 5
            if kind == 1:
                p.send(req[:i % len(req)])
            elif kind == 2:
                p.send(req[:len(req) // 2]).shut_write()
            elif kind == 3:
                p.send(req)
            if kind == 4 and len(open_ones) < 16:
                open_ones.append(p)   # left open and silent for now
            else:
                p.close()
        time.sleep(0.2)
        for p in open_ones:
            p.close()
        self.true(wait_for(lambda: fd_count(pid) == before, 10),
                  "descriptors: %d before, %d after" % (before, fd_count(pid)))
        self.alive()
