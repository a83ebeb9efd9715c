"""The metrics ([status] path): the counters move as requests of each kind
are made (a cache hit, a miss, a 404, a 304, a stale answer while the
store is gone, a refused reload), and promtool check metrics, from the
prometheus package, accepts the page.  A missing promtool fails the test
(tools/deps.sh check installs it)."""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time

from harness import free_port, wait_for
from test_modes import cgi
from test_sqlite import CLIENT, SERVER, Store

METRICS = "/metrics"
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text):
    """{(name, ((label, value), ...)): value} of a page, every line checked."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        if not m:
            raise AssertionError("not a sample line: %r" % line)
        labels = tuple(sorted(LABEL.findall(m.group(2) or "")))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def promtool_check(test, text):
    tool = shutil.which("promtool")
    test.true(tool is not None, "promtool not found: install the prometheus package "
              "(sh tools/deps.sh check)")
    r = subprocess.run([tool, "check", "metrics"], input=text, capture_output=True, text=True,
                       timeout=60)
    test.eq(r.returncode, 0, r.stdout + r.stderr)


class Metrics(Store):
    extra = '[status]\npath = "%s"\nhealth = "/health"\n' % METRICS

    def setup(self):
        Store.setup(self)
        self.ok("init")
        self.ok("add", "a.example", "--client", "https://m.a.example")
        self.ok("add", "b.example", "--server", "m.b.example:443")

    def page(self):
        r = self.mx.get(METRICS, host=None)
        self.true(r is not None, "no answer")
        self.eq(r.status, 200, r.raw)
        self.eq(r.header("Content-Type"), "text/plain; version=0.0.4; charset=utf-8")
        self.eq(r.header("Cache-Control"), "no-store")
        return r.body.decode()

    def scrape(self):
        return parse(self.page())

    def value(self, m, name, **labels):
        return m.get((name, tuple(sorted(labels.items()))), 0.0)

    def moved(self, before, after, name, by=None, **labels):
        d = self.value(after, name, **labels) - self.value(before, name, **labels)
        if by is None:
            self.true(d > 0, "%s%r did not move" % (name, labels))
        else:
            self.eq(d, by, "%s%r" % (name, labels))

    def test_counters_move_with_each_kind_of_request(self):
        self.serve()
        m0 = self.scrape()
        self.eq(self.value(m0, "mxdelegate_threads"), 4)
        self.eq(self.value(m0, "mxdelegate_build_info", version=self.value_of_label(m0),
                           abi=self.abi_of(m0), backend="sqlite"), 1)
        self.true(abs(self.value(m0, "process_start_time_seconds") - time.time()) < 60, m0)

        # A miss (looked up in the store), then a hit.
        r = self.mx.get(CLIENT, host="a.example")
        self.eq(r.status, 200)
        m1 = self.scrape()
        self.moved(m0, m1, "mxdelegate_requests_total", 1, document="client", status="200")
        self.moved(m0, m1, "mxdelegate_answers_total", 1, source="store")
        self.moved(m0, m1, "mxdelegate_answers_total", 0, source="cache")
        self.moved(m0, m1, "mxdelegate_store_lookups_total")
        self.moved(m0, m1, "mxdelegate_store_lookup_seconds_count")
        self.eq(self.value(m1, "mxdelegate_cache_hosts", record="yes"), 1)
        self.true(self.value(m1, "mxdelegate_cache_bytes", record="yes") > 0, m1)
        self.eq(self.mx.get(CLIENT, host="a.example").status, 200)
        m2 = self.scrape()
        self.moved(m1, m2, "mxdelegate_answers_total", 1, source="cache")
        self.moved(m1, m2, "mxdelegate_answers_total", 0, source="store")
        self.moved(m1, m2, "mxdelegate_store_lookups_total", 0)

        # A 404 (a host without a record), and a 304.
        self.eq(self.mx.get(SERVER, host="nobody.example").status, 404)
        etag = r.header("ETag")
        self.true(etag, r.raw)
        self.eq(self.mx.get(CLIENT, host="a.example", HTTP_IF_NONE_MATCH=etag).status, 304)
        m3 = self.scrape()
        self.moved(m2, m3, "mxdelegate_requests_total", 1, document="server", status="404")
        self.moved(m2, m3, "mxdelegate_requests_total", 1, document="client", status="304")
        self.moved(m2, m3, "mxdelegate_not_modified_total", 1)
        self.eq(self.value(m3, "mxdelegate_cache_hosts", record="no"), 1)
        # The scrapes count themselves, as requests naming no document.
        self.moved(m2, m3, "mxdelegate_requests_total", 1, document="none", status="200")

        # The store gone: the cached answer is served stale; a host never
        # answered is a 503, and the lookup's failure is counted.
        keep = self.tmp.file("keep.db")
        shutil.copy(self.db, keep)
        os.unlink(self.db)
        # Each poll a host never asked: one the store still answered (a
        # reader open on the unlinked file) would be cached.
        fresh = iter(range(1000000))
        self.true(wait_for(lambda: self.status("n%d.example" % next(fresh), SERVER) == 503, 5),
                  self.mx.stderr())
        r = self.mx.get(CLIENT, host="a.example")
        self.eq(r.status, 200)
        self.contains(r.header("Cache-Control"), "max-age=")
        m4 = self.scrape()
        self.moved(m3, m4, "mxdelegate_answers_total", source="stale")
        self.moved(m3, m4, "mxdelegate_requests_total", document="server", status="503")
        failures = sum(v for (n, _), v in m4.items() if n == "mxdelegate_store_failures_total")
        failures0 = sum(v for (n, _), v in m3.items() if n == "mxdelegate_store_failures_total")
        self.true(failures > failures0, m4)
        shutil.copy(keep, self.db + ".new")
        os.rename(self.db + ".new", self.db)
        self.true(wait_for(lambda: self.status("b.example", SERVER) == 200, 5), self.mx.stderr())
        m5 = self.scrape()
        self.true(self.value(m5, "mxdelegate_store_generation_change_timestamp_seconds") >=
                  self.value(m0, "mxdelegate_store_generation_change_timestamp_seconds"), m5)

        # A reload refused (a broken configuration), then one taken.
        good = open(self.cfg).read()
        with open(self.cfg, "w") as f:
            f.write(good + "\n[nonsense\n")
        self.mx.proc.send_signal(signal.SIGHUP)
        self.true(wait_for(lambda: self.value(self.scrape(), "mxdelegate_reloads_total",
                                              result="refused") >= 1, 5), self.mx.stderr())
        self.eq(self.value(self.scrape(), "mxdelegate_config_last_reload_successful"), 0)
        with open(self.cfg, "w") as f:
            f.write(good)
        self.mx.proc.send_signal(signal.SIGHUP)
        self.true(wait_for(lambda: self.value(self.scrape(), "mxdelegate_reloads_total",
                                              result="ok") >= 1, 5), self.mx.stderr())
        self.eq(self.value(self.scrape(), "mxdelegate_config_last_reload_successful"), 1)

        promtool_check(self, self.page())

    def value_of_label(self, m):
        for (name, labels) in m:
            if name == "mxdelegate_build_info":
                return dict(labels)["version"]
        raise AssertionError("no mxdelegate_build_info")

    def abi_of(self, m):
        for (name, labels) in m:
            if name == "mxdelegate_build_info":
                abi = dict(labels)["abi"]
                self.true(re.fullmatch(r"\d+\.\d+", abi), abi)
                return abi
        raise AssertionError("no mxdelegate_build_info")

    def test_head_post_and_health_beside(self):
        self.serve()
        head = self.mx.get(METRICS, host=None, method="HEAD")
        self.eq(head.status, 200, head.raw)
        self.eq(head.body, b"")
        self.eq(self.mx.get(METRICS, host=None, method="POST").status, 405)
        self.eq(self.mx.get("/health", host=None).status, 200)
        self.eq(self.mx.get(METRICS + "/", host=None).status, 404)
        m = self.scrape()
        self.eq(self.value(m, "mxdelegate_requests_total", document="none", status="405"), 1)
        # Whoever scrapes is answered; the connections' own figures.
        self.true(self.value(m, "mxdelegate_connections_open") >= 1, m)
        # At least the worker answering this; one that just answered may
        # not have given its connection back yet.
        self.true(1 <= self.value(m, "mxdelegate_threads_busy") <= 4, m)

    def test_promtool_on_a_fresh_page(self):
        self.serve()
        promtool_check(self, self.page())


class MetricsOff(Store):
    def test_no_path_no_metrics(self):
        self.ok("init")
        self.serve()
        self.eq(self.mx.get(METRICS, host=None).status, 404)


def http(port, raw, timeout=5):
    """Sends raw bytes to the status listener; returns everything it sent
    back before closing."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(raw)
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return out
            out += chunk


class StatusListener(Store):
    """[status] listen: GET /metrics and /health over HTTP/1.1 of its own."""

    def setup(self):
        self.port = free_port()
        self.extra = '[status]\nlisten = "127.0.0.1:%d"\n' % self.port
        Store.setup(self)
        self.ok("init")
        self.ok("add", "a.example", "--client", "https://m.a.example")

    def get(self, path, method="GET"):
        return http(self.port, ("%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % (method, path)).encode())

    def test_pages_and_refusals(self):
        self.serve()
        self.eq(self.mx.get(CLIENT, host="a.example").status, 200)
        r = self.get("/metrics")
        head, _, body = r.partition(b"\r\n\r\n")
        self.true(head.startswith(b"HTTP/1.1 200 OK\r\n"), r[:200])
        self.contains(head.decode(), "\r\nConnection: close\r\n")
        self.contains(head.decode(), "\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n")
        m = parse(body.decode())
        self.eq(m[("mxdelegate_requests_total", (("document", "client"), ("status", "200")))], 1)
        promtool_check(self, body.decode())
        r = self.get("/health")
        self.true(r.startswith(b"HTTP/1.1 200 OK\r\n"), r[:200])
        self.eq(json.loads(r.partition(b"\r\n\r\n")[2])["status"], "ok")
        head = self.get("/metrics", "HEAD")
        self.true(head.startswith(b"HTTP/1.1 200 OK\r\n") and head.endswith(b"\r\n\r\n"), head[-200:])
        self.true(self.get("/metrics", "POST").startswith(b"HTTP/1.1 405 "))
        self.true(self.get("/").startswith(b"HTTP/1.1 404 "))
        self.true(self.get("/.well-known/matrix/client").startswith(b"HTTP/1.1 404 "))
        self.true(http(self.port, b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 9000 + b"\r\n\r\n")
                  .startswith(b"HTTP/1.1 431 "))
        self.true(http(self.port, b"garbage\r\n\r\n").startswith(b"HTTP/1.1 400 "))
        # The FastCGI socket knows nothing of these paths.
        self.eq(self.mx.get("/metrics", host=None).status, 404)

    def test_hostile_clients_do_not_keep_a_scrape_out(self):
        self.serve()
        held = []
        try:
            # More silent and trickling clients than the listener has places,
            # and one sending an endless header.
            for i in range(40):
                s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
                if i % 2:
                    s.sendall(b"GET /metrics HTTP/1.1\r\nX-Slow: ")
                held.append(s)
            big = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            held.append(big)
            try:
                for _ in range(4):
                    big.sendall(b"X-Big: " + b"b" * 4000 + b"\r\n")
            except OSError:
                pass  # refused (431) and closed: what it deserved
            for i in range(5):
                t = time.monotonic()
                r = self.get("/metrics")
                took = time.monotonic() - t
                self.true(r.startswith(b"HTTP/1.1 200 OK\r\n"), r[:200])
                self.true(took < 1.0, "a scrape took %.2f s beside hostile clients" % took)
                for s in held[1::2]:
                    try:
                        s.sendall(b"a")
                    except OSError:
                        pass
        finally:
            for s in held:
                s.close()
        # Each silent client is closed at the deadline (2 s), not kept.
        lone = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        t = time.monotonic()
        self.eq(lone.recv(100), b"")
        self.true(1.5 < time.monotonic() - t < 4, time.monotonic() - t)
        lone.close()
        self.eq(self.mx.proc.poll(), None)

    def test_port_taken_is_logged_and_the_documents_served(self):
        # A second process of one configuration (mod_fcgid starts several)
        # finds the port taken by the first: it serves without a listener.
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", self.port))
            s.listen(1)
            self.serve()
            self.eq(self.mx.get(CLIENT, host="a.example").status, 200)
        self.contains(self.mx.stderr(), "mxdelegate: status: error: [status] listen: ")
        self.contains(self.mx.stderr(), "127.0.0.1:%d" % self.port)
        self.contains(self.mx.stderr(), "; serving without it")

    def test_cgi_warns_and_answers(self):
        p = cgi(self.cfg, {"REQUEST_METHOD": "GET", "REQUEST_URI": CLIENT, "HTTP_HOST": "a.example"})
        self.eq(p.returncode, 0, p.stderr)
        self.true(p.stdout.startswith(b"Status: 200 OK\r\n"), p.stdout)
        self.contains(p.stderr.decode(), "[status] listen is for the long-running modes; ignored in "
                      "CGI mode")

    def test_mxdelegatectl_status(self):
        self.serve()
        self.eq(self.mx.get(CLIENT, host="a.example").status, 200)
        self.eq(self.mx.get(CLIENT, host="a.example").status, 200)
        self.eq(self.mx.get(SERVER, host="nobody.example").status, 404)
        r = self.ctl("status")
        self.eq(r.returncode, 0, r.stdout + r.stderr)
        lines = dict(l.split(":", 1) for l in r.stdout.splitlines())
        self.eq(list(lines), ["responder", "version", "up", "requests", "answers", "store", "cache",
                              "reloads", "connections"], r.stdout)
        self.eq(lines["responder"].strip(), "http://127.0.0.1:%d/metrics" % self.port)
        self.contains(lines["version"], "backend sqlite")
        self.eq(lines["requests"].strip(), "3: 200 2, 404 1")
        self.eq(lines["answers"].strip(), "cache 33.3 %, store 66.7 %, stale 0")
        self.contains(lines["cache"], "1 hosts, ")
        self.eq(lines["reloads"].strip(), "0 ok, 0 refused")
        self.contains(lines["connections"], "threads ")
        # The responder gone: said, and exit 1.
        self.mx.stop()
        self.mx = None
        r = self.ctl("status")
        self.eq(r.returncode, 1, r.stdout + r.stderr)
        self.contains(r.stdout, "state:     unreachable: http://127.0.0.1:%d/metrics: cannot connect: "
                      "Connection refused" % self.port)
