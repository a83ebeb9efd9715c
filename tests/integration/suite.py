"""What every server row must do: the shared behaviour suite over real HTTP,
FastCGI connections closed after each answer, cross-origin reads in a real
browser, and the responder coming back after SIGKILL.  Each check states the
exact status and headers; where a server rewrites a reply (a chunked body
instead of Content-Length, no Content-Type on a 304), the one rewrite it may
make is named."""

import html
import http.server
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import client
import servers  # also puts tests/e2e on the path

import fcgi  # noqa: E402  (the e2e suite's FastCGI client)

DOC = "/.well-known/matrix/"
CORS = [
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE, OPTIONS"),
    ("Access-Control-Allow-Headers", "X-Requested-With, Content-Type, Authorization"),
]
KEY = servers.Tree.KEY
ORG_SERVER = {"m.server": "matrix.example.org:443"}
ORG_CLIENT = {"m.homeserver": {"base_url": "https://matrix.example.org"},
              "m.identity_server": {"base_url": "https://vector.im"}}
ORG_SUPPORT = {"contacts": [{"matrix_id": "@admin:example.org", "role": "m.role.admin"}],
               "support_page": "https://example.org/help"}
ORG_POLICY = {"public_keys": {"ed25519": KEY}}
NET_SERVER = {"m.server": "matrix.example.net:443"}
NET_CLIENT = {"m.homeserver": {"base_url": "https://chat.example.net"}}
COM_CLIENT = {"m.homeserver": {"base_url": "https://matrix.chat.example.com"}}
REDIRECTS = (301, 302, 307, 308)
# What the page server answers at the browser's redirect target.
ELSEWHERE_CLIENT = {"m.homeserver": {"base_url": "https://matrix.elsewhere.example"}}
# The matrix-js-sdk release AutoDiscovery is run from: a recent one, pinned
# so that a new release changes nothing unannounced.
SDK_VERSION = "43.0.0"
# What a homeserver answers at /_matrix/client/versions: every version the
# SDK may require.
VERSIONS = {"versions": ["v1.%d" % i for i in range(1, 17)]}
LONG_LABEL = "a" * 64 + ".example"


def eq(a, b, what=""):
    if a != b:
        raise AssertionError("%s: %r != %r" % (what, a, b) if what else "%r != %r" % (a, b))


class Case:
    """One request and the answer every server must pass on.  `host=None`
    sends no Host header (HTTP/1.0)."""

    def __init__(self, label, status, method="GET", path=DOC + "client", host="example.org",
                 headers=(), body=b"", version="HTTP/1.1", json=None, errcode=None):
        self.label, self.status, self.method, self.path = label, status, method, path
        self.host, self.headers, self.body, self.version = host, list(headers), body, version
        self.json, self.errcode = json, errcode

    def params(self):
        """The FastCGI parameters a web server makes of the request, for the
        reference answer from mxdelegate without a web server."""
        extra = {}
        for name, value in self.headers:
            extra["HTTP_" + name.upper().replace("-", "_")] = value
        if self.body:
            extra["CONTENT_LENGTH"] = str(len(self.body))
        return fcgi.cgi_params(self.method, self.path, self.host, **extra)


def redirect_cases(etags):
    """Each redirect status with GET, HEAD, OPTIONS and If-None-Match; the
    etags are the reference's, by status."""
    out = []
    for status in REDIRECTS:
        host = "r%d.example" % status
        where = "https://matrix.other.example" + DOC + "client"
        out += [
            Case("%d redirect" % status, status, host=host, json={"location": where}),
            Case("%d redirect of /server" % status, status, host=host, path=DOC + "server",
                 json={"location": "https://matrix.other.example" + DOC + "server"}),
            Case("HEAD of a %d redirect" % status, status, method="HEAD", host=host),
            Case("OPTIONS of a %d redirect" % status, 204, method="OPTIONS", host=host),
            Case("If-None-Match of a %d redirect" % status, 304, host=host,
                 headers=[("If-None-Match", etags[status])]),
            Case("If-None-Match of another %d redirect" % status, status, host=host,
                 headers=[("If-None-Match", '"0123456789abcdef"')]),
        ]
    out += [
        Case("one document redirected", 302, host="half.example",
             json={"location": "https://other.example/client.json?v=1"}),
        Case("the other documents not", 200, host="half.example", path=DOC + "server",
             json={"m.server": "matrix.half.example:443"}),
    ]
    return out


def cases(etag):
    return [
        Case("server document", 200, path=DOC + "server", json=ORG_SERVER),
        Case("client document", 200, json=ORG_CLIENT),
        Case("support document", 200, path=DOC + "support", json=ORG_SUPPORT),
        Case("policy_server document", 200, path=DOC + "policy_server", json=ORG_POLICY),
        Case("Host with upper case and port", 200, host="Example.ORG:443", json=ORG_CLIENT),
        Case("Host with a trailing dot", 200, host="example.org.", json=ORG_CLIENT),
        Case("query string ignored", 200, path=DOC + "client?from=test", json=ORG_CLIENT),
        Case("second domain, server from [defaults]", 200, path=DOC + "server",
             host="example.net", json=NET_SERVER),
        Case("second domain, client", 200, host="example.net", json=NET_CLIENT),
        Case("second domain, no support document", 404, path=DOC + "support",
             host="example.net", errcode="M_NOT_FOUND"),
        Case("wildcard domain", 200, host="chat.example.com", json=COM_CLIENT),
        Case("HEAD of a document", 200, method="HEAD", path=DOC + "server"),
        Case("HEAD for an unknown host", 404, method="HEAD", host="unknown.example"),
        Case("OPTIONS preflight", 204, method="OPTIONS", headers=[
            ("Origin", "https://app.example"), ("Access-Control-Request-Method", "GET"),
            ("Access-Control-Request-Headers", "authorization")]),
        Case("OPTIONS for an unknown host", 204, method="OPTIONS", host="unknown.example"),
        Case("If-None-Match with the ETag", 304, headers=[("If-None-Match", etag)]),
        Case("If-None-Match with another ETag", 200, headers=[("If-None-Match", '"0123456789abcdef"')],
             json=ORG_CLIENT),
        Case("unknown host", 404, host="unknown.example", errcode="M_NOT_FOUND"),
        Case("unknown path", 404, path=DOC + "nope", errcode="M_NOT_FOUND"),
        Case("IP literal Host", 404, host="127.0.0.1", errcode="M_NOT_FOUND"),
        Case("Host with a label ending in '-'", 400, host="x-.example", errcode="M_BAD_REQUEST"),
        Case("Host with a 64-character label", 400, host=LONG_LABEL, errcode="M_BAD_REQUEST"),
        Case("HTTP/1.0 without Host", 400, host=None, version="HTTP/1.0", errcode="M_BAD_REQUEST"),
        Case("POST with a body", 405, method="POST", body=b"a=b", errcode="M_UNRECOGNIZED"),
        Case("DELETE", 405, method="DELETE", errcode="M_UNRECOGNIZED"),
    ]


CACHE_CONTROL = {200: "public, max-age=3600", 304: "public, max-age=3600",
                 404: "public, max-age=120", 400: "no-store", 405: "no-store", 204: None}
CACHE_CONTROL.update({status: "public, max-age=3600" for status in REDIRECTS})


class Reference:
    """mxdelegate on a socket of its own, asked directly over FastCGI: the
    answer a web server must pass on unchanged."""

    def __init__(self, tree):
        self.socket = os.path.join(tree.root, "reference.sock")
        config = servers.write(os.path.join(tree.root, "reference.toml"), tree.config_text())
        self.log = open(os.path.join(tree.root, "reference.log"), "wb")
        self.proc = subprocess.Popen([tree.bin, "-c", config, "--listen", "unix:" + self.socket],
                                     stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log,
                                     env=servers.CLEAN_ENV)
        if not servers.wait_for(lambda: os.path.exists(self.socket) or self.proc.poll() is not None, 10):
            raise servers.StartError("the reference responder made no socket")
        self.cache = {}

    def answer(self, case):
        key = (case.method, case.path, case.host, tuple(case.headers), case.body)
        if key not in self.cache:
            r = fcgi.request(self.socket, case.params(), stdin=case.body)
            if r is None:
                raise AssertionError("the reference responder gave no answer to %s" % case.label)
            self.cache[key] = r
        return self.cache[key]

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)
        self.log.close()


def check_reply(case, r, ref):
    where = case.label
    eq(ref.status, case.status, where + ": the reference answer's status")
    eq(r.status, case.status, where + ": status")
    if r.elapsed > 3:
        raise AssertionError("%s: took %.1f s" % (where, r.elapsed))
    # Every header mxdelegate sent arrives once, with its value.
    for name, value in ref.headers:
        if name.lower() == "content-length":
            continue
        got = r.all(name)
        if name.lower() == "content-type" and case.status in (204, 304) and not got:
            continue  # Apache drops it from a 204 and a 304, Caddy from a 304
        eq(got, [value], "%s: header %s" % (where, name))
    # And the fixed ones, spelled out, so that the reference is checked too.
    for name, value in CORS:
        eq(r.all(name), [value], "%s: %s" % (where, name))
    if case.status not in (204, 304) or r.all("Content-Type"):
        eq(r.all("Content-Type"), ["application/json"], where + ": Content-Type")
    cc = CACHE_CONTROL[case.status]
    eq(r.all("Cache-Control"), [cc] if cc else [], where + ": Cache-Control")
    eq(r.all("Allow"), ["GET, HEAD, OPTIONS"] if case.status == 405 else [], where + ": Allow")
    if case.status in REDIRECTS and case.method != "OPTIONS":
        # Absolute, so no web server may make it its own.
        if not (r.header("Location") or "").startswith("https://"):
            raise AssertionError("%s: Location %r" % (where, r.header("Location")))
    if case.status in (200, 304) + REDIRECTS:
        etag = r.header("ETag")
        if not etag or not re.fullmatch(r'"[0-9a-f]{16}"', etag):
            raise AssertionError("%s: ETag %r" % (where, etag))
    # A CGI "Status:" line is for the web server, not for the client.
    eq(r.all("Status"), [], where + ": a Status header reached the client")
    # The body, and its length where the server kept it.
    bodiless = case.method == "HEAD" or case.status in (204, 304)
    eq(r.body, b"" if bodiless else ref.body, where + ": body")
    ref_length = ref.header("Content-Length")
    length = r.header("Content-Length")
    if length is not None:
        eq(length, ref_length, where + ": Content-Length")
    elif not (bodiless or (r.header("Transfer-Encoding") or "").lower() == "chunked"
              or case.version == "HTTP/1.0"):
        # Without a length, HTTP/1.1 needs chunks; HTTP/1.0 ends at the close.
        raise AssertionError("%s: neither Content-Length nor a chunked body" % where)
    if not bodiless:
        doc = json.loads(r.body)
        if case.json is not None:
            eq(doc, case.json, where + ": document")
        if case.errcode is not None:
            eq(doc.get("errcode"), case.errcode, where + ": errcode")


def behaviour(row, ref):
    etag = ref.answer(Case("", 200)).header("ETag")
    etags = {s: ref.answer(Case("", s, host="r%d.example" % s)).header("ETag") for s in REDIRECTS}
    failures = []
    n = 0
    for case in cases(etag) + redirect_cases(etags):
        n += 1
        try:
            r = client.request(row.port, case.method, case.path, case.host, case.headers,
                               case.body, case.version)
            check_reply(case, r, ref.answer(case))
        except Exception as e:  # noqa: BLE001 - collected, all cases run
            failures.append("%s: %s" % (case.label, e))
    # The rest of the site is the server's own.
    n += 2
    try:
        r = client.request(row.port, path="/index.html")
        eq((r.status, r.body), (200, servers.Tree.STATIC), "static file")
        eq(r.all("Access-Control-Allow-Origin"), [], "static file: CORS header")
        # nginx redirects to the prefix with its "/" (301), the others answer
        # 404; neither is mxdelegate's.
        r = client.request(row.port, path="/.well-known/matrix")
        if r.status not in (301, 404):
            raise AssertionError("/.well-known/matrix without '/': %d" % r.status)
        eq(r.all("Access-Control-Allow-Origin"), [], "/.well-known/matrix: CORS header")
    except Exception as e:  # noqa: BLE001
        failures.append("rest of the site: %s" % e)
    if failures:
        raise AssertionError("%d of %d cases failed:\n  %s" % (len(failures), n, "\n  ".join(failures)))
    return "%d cases" % n


THREADS = 4  # the responder's workers: [server] threads, left at its default
CLIENTS = 24  # parallel clients, well above THREADS


def burst(row, clients=CLIENTS):
    """`clients` requests sent at once; the slowest one's seconds."""
    start, took, errors = threading.Barrier(clients), [], []

    def one():
        start.wait()
        try:
            r = client.request(row.port, timeout=10)
            eq(r.status, 200, "GET in a burst")
            took.append(r.elapsed)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)
    ts = [threading.Thread(target=one) for _ in range(clients)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        raise AssertionError("%d of %d parallel requests failed: %s" % (len(errors), clients, errors[0]))
    return max(took)


def keepalive(row):
    """Where the shipped file keeps FastCGI connections alive (nginx), the
    pool it keeps may outnumber the responder's threads, since an idle
    kept connection waits in the gate, not in a worker: bursts of parallel
    requests from more clients than threads are all answered quickly, the
    connections stay open afterwards, and the next request goes over one
    of them.  Where it does not (lighttpd, Apache, Caddy), no connection
    stays open after the answers."""
    prefix = row.fastcgi_socket_prefix()
    # With the old thread-per-connection responder, a request on a pooled
    # connection beyond the threads waited for read_timeout (5 s).  Where
    # no connection is kept, the bound is loose: mod_fcgid starts
    # processes for a burst, about a second.
    bound = 2 if row.keeps_alive else 8
    # Where nothing is kept, bursts as wide as the threads: wider ones make
    # mod_fcgid spawn a process each, and its spawn score then holds back
    # the restart after the kill of the next test for tens of seconds.
    clients = CLIENTS if row.keeps_alive else THREADS
    slowest, kept = 0.0, set()
    for _ in range(3):
        slowest = max(slowest, burst(row, clients))
        time.sleep(0.1)
        kept = servers.connected_unix_inodes(prefix)
        if not row.keeps_alive or len(kept) > THREADS:
            break
    if slowest > bound:
        raise AssertionError("a request of a burst of %d took %.2f s" % (CLIENTS, slowest))
    if not row.keeps_alive:
        if not servers.wait_for(lambda: servers.connected_unix_sockets(prefix) == 0, 3, 0.05):
            raise AssertionError("%d FastCGI connections still open 3 s after the answers"
                                 % servers.connected_unix_sockets(prefix))
        return "bursts of %d answered within %.3f s; no connection kept" % (clients, slowest)
    # How many nginx keeps depends on how fast the answers came (a fast
    # responder needs few); that a pool larger than the threads costs no
    # worker is test_gate's, with a thousand kept connections.
    if not kept:
        raise AssertionError("no FastCGI connection kept after 3 bursts of %d requests" % CLIENTS)
    # Reuse: a request now goes over a kept connection, not a new one.
    eq(client.request(row.port).status, 200, "GET after the bursts")
    new = servers.connected_unix_inodes(prefix) - kept
    if new:
        raise AssertionError("a request after the bursts opened a FastCGI connection of its own "
                             "instead of one of the %d kept" % len(kept))
    # Still served over the kept connections.
    slowest = max(slowest, burst(row))
    if slowest > bound:
        raise AssertionError("a request of a burst of %d took %.2f s" % (CLIENTS, slowest))
    return "%d FastCGI connections kept for %d threads, reused; bursts of %d answered within %.3f s" % (
        len(kept), THREADS, CLIENTS, slowest)


RESTARTS = []  # (row, who restarts, seconds to the first good answer, failed answers)


def restart(row):
    eq(client.request(row.port).status, 200, "GET before the kill")
    before = row.responder_pids()
    if not before:
        raise AssertionError("no responder process found")
    t0 = time.monotonic()
    for pid in before:
        os.kill(pid, signal.SIGKILL)
    failed = {}
    deadline = t0 + 15
    while True:
        try:
            r = client.request(row.port, timeout=5)
            status = r.status
        except (OSError, client.ProtocolError) as e:
            r, status = None, type(e).__name__
        if status == 200:
            eq(r.json(), ORG_CLIENT, "document after the restart")
            break
        failed[status] = failed.get(status, 0) + 1
        if time.monotonic() > deadline:
            raise AssertionError("no answer 15 s after SIGKILL; got %r" % failed)
        time.sleep(0.05)
    took = time.monotonic() - t0
    after = row.responder_pids()
    if not after or set(after) & set(before):
        raise AssertionError("responder processes before %r, after %r" % (before, after))
    if row.service is not None and row.service.failure:
        raise AssertionError(row.service.failure)
    if row.socket_persists and failed:
        raise AssertionError("the socket stays open while the service restarts, yet "
                             "requests failed: %r" % failed)
    RESTARTS.append((row.name, row.restarted_by, took, failed))
    lost = ", ".join("%s x%d" % kv for kv in sorted(failed.items(), key=str)) or "none failed"
    return "back after %.2f s (%s)" % (took, lost)


def retry(row):
    """mod_proxy_fcgi's retry=0: after a failed connect Apache must try the
    socket again at the next request, not refuse for 60 s."""
    service = row.service
    service.stop()  # systemctl stop mxdelegate.socket mxdelegate.service
    r = client.request(row.port)
    eq(r.status, 503, "with no socket")
    service.start()
    r = client.request(row.port)
    eq(r.status, 200, "at once after the socket is back")
    return "503 while down, 200 at once after"


def user(row):
    """The responder never runs as root, whoever started the web server."""
    eq(client.request(row.port).status, 200, "GET")  # mod_fcgid starts it on demand
    pids = row.responder_pids()
    if not pids:
        raise AssertionError("no responder process found")
    users = set()
    for pid in pids:
        with open("/proc/%d/status" % pid) as f:
            uids = [line.split()[1:] for line in f if line.startswith("Uid:")][0]
        if "0" in uids:
            raise AssertionError("responder %d runs as root (Uid: %s)" % (pid, " ".join(uids)))
        users.add(pwd.getpwuid(int(uids[1])).pw_name)
    return "runs as " + ", ".join(sorted(users))


def own_errors(row):
    """With the responder down, the web server answers for it: a browser
    must read that error too, so it is JSON with the CORS headers and
    no-store, with the server's own status (502 stays 502, 503 stays 503)."""
    row.take_responder_down()
    try:
        r = client.request(row.port, timeout=20)
        allowed = row.down_status if isinstance(row.down_status, tuple) else (row.down_status,)
        if r.status not in allowed:
            raise AssertionError("status with the responder down: %d, not %s"
                                 % (r.status, " or ".join(map(str, allowed))))
        for name, value in CORS:
            eq(r.all(name), [value], name)
        eq(r.all("Content-Type"), ["application/json"], "Content-Type")
        eq(r.all("Cache-Control"), ["no-store"], "Cache-Control")
        try:
            doc = json.loads(r.body)
        except ValueError:
            raise AssertionError("the body is not JSON: %r" % r.body[:200])
        eq(doc.get("errcode"), "M_UNKNOWN", "errcode")
        if not isinstance(doc.get("error"), str) or not doc["error"]:
            raise AssertionError("no error message in %r" % doc)
    finally:
        row.bring_responder_back()
    return "%d in JSON with CORS and no-store" % r.status


def metrics(row):
    """The shipped file routes /metrics to mxdelegate for the machine
    itself (the tests' client is on 127.0.0.1): the counters of the process
    that answered, in the text format, requests of this row's among them."""
    # The check before (own-errors) brings the responder back as a
    # supervisor would: started again, not yet listening when it returns.
    deadline = time.monotonic() + 15
    while True:
        try:
            status = client.request(row.port, timeout=5).status
        except (OSError, client.ProtocolError) as e:
            status = type(e).__name__
        if status == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    eq(status, 200, "GET of a document")
    r = client.request(row.port, path="/metrics", host="localhost")
    eq(r.status, 200, "GET /metrics")
    eq(r.all("Content-Type"), ["text/plain; version=0.0.4; charset=utf-8"], "Content-Type")
    eq(r.all("Cache-Control"), ["no-store"], "Cache-Control")
    text = r.body.decode("utf-8")
    if not re.search(r'^mxdelegate_requests_total\{document="client",status="200"\} [1-9]', text, re.M):
        raise AssertionError("no client request counted:\n" + text[:2000])
    # Beside /metrics, the path is the rest of the site's, not mxdelegate's.
    other = client.request(row.port, path="/metricsx", host="localhost")
    if b"mxdelegate_" in other.body:
        raise AssertionError("/metricsx reached the metrics: %r" % other.body[:200])
    return "%d families" % text.count("# TYPE ")


# --- the browser ----------------------------------------------------------------

class PageServer:
    """Serves cors.html from an origin of its own."""

    def __init__(self):
        page = os.path.join(servers.HERE, "cors.html")

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                # The page server is also the homeserver that AutoDiscovery
                # checks, at the base URL of the document it finds.
                if self.path in (DOC + "client", "/_matrix/client/versions"):
                    # Where moved.localhost's /client lives: another web
                    # server, with CORS headers of its own.
                    if self.path == DOC + "client" and self.headers.get("Host", "").startswith("127.0.0.1:"):
                        doc = {"m.homeserver": {"base_url": "http://127.0.0.1:%d" % self.server.server_port}}
                    else:
                        doc = ELSEWHERE_CLIENT if self.path == DOC + "client" else VERSIONS
                    data = json.dumps(doc).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Access-Control-Allow-Origin", "*")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                if self.path.split("?")[0] != "/cors.html":
                    self.send_error(404)
                    return
                with open(page, "rb") as f:
                    data = f.read()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def browser(row, page, ref):
    profile = tempfile.mkdtemp(prefix="chromium-", dir=row.dir)
    env = dict(servers.CLEAN_ENV, HOME=profile, XDG_CONFIG_HOME=profile, XDG_CACHE_HOME=profile)
    argv = ["chromium", "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-background-networking", "--no-first-run", "--disable-component-update",
            "--disable-sync", "--user-data-dir=" + profile, "--virtual-time-budget=10000",
            "--dump-dom", "http://127.0.0.1:%d/cors.html?port=%d" % (page.port, row.port)]
    errlog = os.path.join(row.dir, "chromium.log")
    with open(errlog, "wb") as err:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=err, env=env, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        raise AssertionError("chromium did not finish within 90 s")
    finally:
        # Its helpers (zygote, renderers) share its process group.
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        proc.wait()
        shutil.rmtree(profile, ignore_errors=True)
    m = re.search(r'<pre id="out">(.*?)</pre>', out.decode("utf-8", "replace"), re.S)
    if not m:
        raise AssertionError("no result in the page; chromium exited %s:\n%s" %
                             (proc.returncode, servers.tail(errlog, 15)))
    seen = json.loads(html.unescape(m.group(1))) if m.group(1) != "pending" else None
    if seen is None:
        raise AssertionError("the page's script did not finish")
    want_client = ref.answer(Case("", 200, host="example.localhost")).body.decode()
    want_unknown = ref.answer(Case("", 404, host="unknown.localhost")).body.decode()
    eq(seen.get("client"), {"status": 200, "type": "application/json", "body": want_client},
       "simple cross-origin GET")
    eq(seen.get("unknown"), {"status": 404, "type": "application/json", "body": want_unknown},
       "cross-origin 404")
    eq(seen.get("preflighted"), {"status": 200, "type": "application/json", "body": want_client},
       "GET with Authorization, after a preflight")
    # Followed only if the redirect itself carries the CORS headers.
    eq(seen.get("redirected"), {"status": 200, "type": "application/json",
                                "body": json.dumps(ELSEWHERE_CLIENT), "redirected": True,
                                "url": "http://elsewhere.localhost:%d%sclient" % (page.port, DOC)},
       "cross-origin GET through a 302 to another origin")
    return "GET, 404, a preflighted GET and a GET through a redirect read cross-origin"


# --- matrix-js-sdk ---------------------------------------------------------------

def sdk_dir():
    """matrix-js-sdk SDK_VERSION installed with npm into the build folder
    once, and kept there for later runs."""
    d = os.path.join(servers.BUILD, "integration", "matrix-js-sdk-" + SDK_VERSION)
    package = os.path.join(d, "node_modules", "matrix-js-sdk", "package.json")
    if not os.path.exists(package):
        os.makedirs(d, exist_ok=True)
        r = subprocess.run(["npm", "install", "--prefix", d, "--no-audit", "--no-fund",
                            "--loglevel=error", "matrix-js-sdk@" + SDK_VERSION],
                           capture_output=True, text=True, timeout=600)
        if r.returncode != 0 or not os.path.exists(package):
            raise AssertionError("npm could not install matrix-js-sdk %s: %s" %
                                 (SDK_VERSION, (r.stderr or r.stdout)[-2000:]))
    with open(package) as f:
        eq(json.load(f)["version"], SDK_VERSION, "matrix-js-sdk's version")
    return d


def autodiscovery(row, page):
    """matrix-js-sdk's AutoDiscovery finds the homeserver of "localhost",
    whose /client the row answers with a redirect to another origin (the
    page server): the SDK's fetch follows it, then checks /versions there."""
    script = os.path.join(servers.HERE, "autodiscovery.mjs")
    r = subprocess.run(["node", script, sdk_dir(), str(row.port), "localhost"],
                       capture_output=True, text=True, timeout=60, env=servers.CLEAN_ENV)
    if r.returncode != 0:
        raise AssertionError("node exited %d: %s" % (r.returncode, r.stderr[-2000:]))
    found = json.loads(r.stdout)
    base = "http://127.0.0.1:%d" % page.port
    eq(found.get("m.homeserver"), {"state": "SUCCESS", "error": None, "base_url": base},
       "AutoDiscovery's m.homeserver")
    return "matrix-js-sdk %s AutoDiscovery followed the redirect to %s" % (SDK_VERSION, base)


# --- tmpfiles.d ----------------------------------------------------------------

def tmpfiles(tree):
    """etc/tmpfiles.d/mxdelegate.conf makes the directory of the socket that
    the pages and the run script use, at boot, as the run script would."""
    d = tree.row_dir("tmpfiles")
    conf = os.path.join(servers.ETC, "tmpfiles.d", "mxdelegate.conf")
    if not os.path.exists(conf):
        raise AssertionError("etc/tmpfiles.d/mxdelegate.conf is not shipped")
    tool = shutil.which("systemd-tmpfiles")
    if not tool:
        raise AssertionError("systemd-tmpfiles is not installed")
    root = os.path.join(d, "root")
    os.makedirs(os.path.join(root, "run"))
    r = subprocess.run([tool, "--create", "--root=" + root, conf], capture_output=True, text=True,
                       env=servers.CLEAN_ENV)
    if r.returncode != 0 or r.stderr.strip():
        raise AssertionError("systemd-tmpfiles exited %d:\n%s%s" % (r.returncode, r.stdout, r.stderr))
    made = os.path.join(root, "run", "mxdelegate")
    if not os.path.isdir(made):
        raise AssertionError("systemd-tmpfiles made no /run/mxdelegate")
    st = os.stat(made)
    eq((st.st_uid, st.st_gid, st.st_mode & 0o7777), (0, 0, 0o755), "/run/mxdelegate owner and mode")
    return "/run/mxdelegate root:root 0755"


# --- the systemd units -------------------------------------------------------------

SOCKET_WANT = {"Accept": "no", "SocketMode": "0660", "SocketUser": "www-data",
               "SocketGroup": "www-data"}
SERVICE_WANT = {"Restart": "on-failure", "NoNewPrivileges": "yes", "ProtectSystem": "strict",
                "PrivateTmp": "yes", "ProtectHome": "yes", "PrivateDevices": "yes",
                "RestrictAddressFamilies": "AF_UNIX", "SystemCallFilter": "@system-service",
                "StandardOutput": "journal", "StandardError": "journal",
                "ExecReload": "/bin/kill -HUP $MAINPID", "Type": "notify", "NotifyAccess": "main",
                "WatchdogSec": "30s"}


def units(tree):
    d = tree.row_dir("systemd-units")
    values = {"SOCKET": "/run/mxdelegate/mxdelegate.sock", "MXDELEGATE": tree.bin,
              "CONFIG": os.path.join(d, "mxdelegate.toml")}
    servers.write(values["CONFIG"], tree.config_text())
    paths = []
    for unit in ("mxdelegate.socket", "mxdelegate.service"):
        paths.append(servers.write(os.path.join(d, unit), servers.substitute("systemd/" + unit, values)))
    sock = servers.parse_unit(open(paths[0]).read())["Socket"]
    unit_section = servers.parse_unit(open(paths[1]).read())
    svc = unit_section["Service"]
    eq(sock.get("ListenStream"), values["SOCKET"], "ListenStream")
    for k, v in SOCKET_WANT.items():
        eq(sock.get(k), v, "mxdelegate.socket " + k)
    for k, v in SERVICE_WANT.items():
        eq(svc.get(k), v, "mxdelegate.service " + k)
    if svc.get("User", "root") in ("root", "0") and svc.get("DynamicUser") != "yes":
        raise AssertionError("mxdelegate.service runs as root")
    eq(unit_section["Unit"].get("Requires"), "mxdelegate.socket", "Requires")
    if "Sockets" in svc or "StandardInput" in svc:
        raise AssertionError("mxdelegate takes its socket from LISTEN_FDS; no StandardInput=socket")
    # mxdelegate-follow.service: the follower reports to systemd (Type=notify)
    # from the process mxdelegatectl execs, and a configuration error is not
    # restarted.
    follow_values = {"MXDELEGATECTL": os.path.join(servers.BUILD, "mxdelegatectl"),
                     "CONFIG": values["CONFIG"]}
    follow = servers.write(os.path.join(d, "mxdelegate-follow.service"),
                           servers.substitute("systemd/mxdelegate-follow.service", follow_values))
    fsvc = servers.parse_unit(open(follow).read())["Service"]
    for k, v in {"Type": "notify", "NotifyAccess": "main", "User": "mxdelegate",
                 "Restart": "on-failure", "RestartPreventExitStatus": "78",
                 "WatchdogSec": "60s"}.items():
        eq(fsvc.get(k), v, "mxdelegate-follow.service " + k)
    analyze = shutil.which("systemd-analyze")
    if not analyze:
        return "settings checked; systemd-analyze is not installed, units NOT verified"
    # --man=no: mxdelegate(8) is not installed where the tests run.
    r = subprocess.run([analyze, "verify", "--man=no"] + paths + [follow], capture_output=True,
                       text=True, env=servers.CLEAN_ENV)
    if r.returncode != 0 or r.stdout.strip() or r.stderr.strip():
        raise AssertionError("systemd-analyze verify exited %d:\n%s%s" %
                             (r.returncode, r.stdout, r.stderr))
    r = subprocess.run([analyze, "security", "--offline=yes", paths[1]], capture_output=True,
                       text=True, env=servers.CLEAN_ENV)
    m = re.search(r"Overall exposure level for mxdelegate\.service: ([0-9.]+)", r.stdout)
    if not m:
        raise AssertionError("systemd-analyze security gave no exposure level:\n%s%s" %
                             (r.stdout[-2000:], r.stderr))
    if float(m.group(1)) > 2.0:
        raise AssertionError("exposure level %s, more than 2.0:\n%s" % (m.group(1), r.stdout))
    f = subprocess.run([analyze, "security", "--offline=yes", follow], capture_output=True,
                       text=True, env=servers.CLEAN_ENV)
    fm = re.search(r"Overall exposure level for mxdelegate-follow\.service: ([0-9.]+)", f.stdout)
    if not fm or float(fm.group(1)) > 2.0:
        raise AssertionError("mxdelegate-follow.service: exposure level not 2.0 or less:\n%s%s"
                             % (f.stdout[-2000:], f.stderr))
    return "systemd-analyze verify clean, exposure %s (mxdelegate-follow %s)" % (m.group(1), fm.group(1))
