"""mxdelegatectl probe against a world of its own on loopback: nginx with
TLS on a certificate of a test CA (made here with openssl), mxdelegate
behind it over FastCGI for the domains that are right, and nginx itself
playing each failure for the others; the probe pointed at it with
--resolve and --cacert.  Then 10,000 domains against the same kind of
server, timed, with the probe's memory for 1,000 and 10,000 printed."""

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time

from harness import BUILD, PLUGINS, Skip, Test, free_port, wait_for
import harness

CTL = os.path.join(BUILD, "mxdelegatectl")
PROBE = os.path.join(BUILD, "mxdelegate-probe")

CONFIG = """\
[backend]
name = "sqlite"
plugin_dir = "%(plugins)s"
path = "%(db)s"

[server]
threads = 4
"""

CHALLENGE = ("<!DOCTYPE html><html><head><title>Just a moment...</title></head>"
             "<body><div id=\"cf-chl-widget\">Checking your browser</div>"
             "<script src=\"/cdn-cgi/challenge-platform/h/b/orchestrate/chl_page/v1\"></script></body></html>")


def run(argv, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=kw.pop("timeout", 120), **kw)


def must(argv, **kw):
    p = run(argv, **kw)
    if p.returncode != 0:
        raise AssertionError("%s: exit %d: %s" % (" ".join(argv), p.returncode, p.stderr))
    return p.stdout


class Pki:
    """A test CA, a certificate of it for *.probe.test and one for a name no
    probed domain has (the wrong certificate)."""

    def __init__(self, tmp, names=("*.probe.test",)):
        self.dir = tmp.file("pki")
        os.makedirs(self.dir)
        self.ca = self.path("ca.pem")
        ca_key = self.path("ca.key")
        must(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
              "-keyout", ca_key, "-out", self.ca, "-days", "2", "-subj", "/CN=mxdelegate probe test CA"])
        self.server = self.issue("server", names, ca_key)
        self.wrong = self.issue("wrong", ["other.invalid"], ca_key)

    def path(self, name):
        return os.path.join(self.dir, name)

    def issue(self, name, names, ca_key):
        key, csr, pem = self.path(name + ".key"), self.path(name + ".csr"), self.path(name + ".pem")
        ext = self.path(name + ".ext")
        with open(ext, "w") as f:
            f.write("subjectAltName=%s\nextendedKeyUsage=serverAuth\n" % ",".join("DNS:" + n for n in names))
        must(["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
              "-keyout", key, "-out", csr, "-subj", "/CN=" + names[0]])
        must(["openssl", "x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey", ca_key, "-CAcreateserial",
              "-out", pem, "-days", "2", "-extfile", ext])
        return pem, key


class Nginx:
    """nginx on ADDR:PORT with TLS, its own pid file, logs and temp paths;
    `servers` are server blocks besides the default one, which passes
    /.well-known/matrix/ to mxdelegate on `socket`."""

    def __init__(self, tmp, pki, addr, port, socket, servers="", workers=1):
        self.dir = tmp.file("nginx")
        os.makedirs(self.dir)
        cert, key = pki.server
        temps = "\n".join("  %s_temp_path %s/%s;" % (t, self.dir, t)
                          for t in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        self.conf = os.path.join(self.dir, "nginx.conf")
        self.errorlog = os.path.join(self.dir, "error.log")
        with open(self.conf, "w") as f:
            f.write("""
user root;
worker_processes %(workers)d;
pid %(dir)s/nginx.pid;
error_log %(errorlog)s;
events { worker_connections 4096; }
http {
  access_log off;
%(temps)s
  ssl_certificate %(cert)s;
  ssl_certificate_key %(key)s;
  upstream mxdelegate { server unix:%(socket)s; keepalive 16; }
  server {
    listen %(addr)s:%(port)d ssl default_server;
    location /.well-known/matrix/ {
      fastcgi_pass mxdelegate;
      fastcgi_keep_conn on;
      include /etc/nginx/fastcgi_params;
      fastcgi_param HTTP_HOST $host;
      fastcgi_param REQUEST_METHOD $request_method;
      fastcgi_param REQUEST_URI $request_uri;
    }
  }
%(servers)s
}
""" % {"workers": workers, "dir": self.dir, "errorlog": self.errorlog, "temps": temps, "cert": cert,
       "key": key, "socket": socket, "addr": addr, "port": port, "servers": servers})
        self.log = open(os.path.join(self.dir, "stderr.log"), "wb")
        self.proc = subprocess.Popen(["nginx", "-c", self.conf, "-e", self.errorlog, "-g", "daemon off;"],
                                     stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        if not wait_for(lambda: self.accepts(addr, port) or self.proc.poll() is not None, 10) \
                or self.proc.poll() is not None:
            raise AssertionError("nginx did not start: " + self.errors())

    @staticmethod
    def accepts(addr, port):
        import socket as s
        try:
            s.create_connection((addr, port), 0.5).close()
            return True
        except OSError:
            return False

    def errors(self):
        out = []
        for p in (self.errorlog, os.path.join(self.dir, "stderr.log")):
            if os.path.exists(p):
                with open(p, errors="replace") as f:
                    out.append(f.read()[-3000:])
        return "\n".join(out)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def loopback_address():
    """An address of 127/8 of this test's own, so that port 443 is free on
    it whatever else runs on the machine."""
    return "127.%d.%d.%d" % (random.randint(1, 254), random.randint(1, 254), random.randint(2, 254))


# Each failure the world can show, as nginx plays it: the server block(s),
# the record the store has, the code the probe must give and the start of
# its detail.
def cases():
    """(domain, mxdelegatectl add arguments, nginx server blocks, expected
    {document: (code, detail start)})"""
    cors = "add_header Access-Control-Allow-Origin * always;"
    json_type = "default_type application/json;"
    return [
        ("ok.probe.test", ["--server", "hs.probe.test:443", "--client", "https://hs.probe.test"],
         "", {"server": ("ok", ""), "client": ("ok", "")}),
        ("mismatch.probe.test", ["--server", "matrix.mismatch.probe.test:443"],
         """server { listen %%(listen)s; server_name mismatch.probe.test;
           location / { %s %s return 200 '{"m.server": "old.mismatch.probe.test:443"}'; } }""" % (cors, json_type),
         {"server": ("mismatch", 'm.server: want "matrix.mismatch.probe.test:443", got "old.mismatch.probe.test:443"')}),
        ("html404.probe.test", ["--client", "https://hs.probe.test"],
         """server { listen %(listen)s; server_name html404.probe.test; location / { return 404; } }""",
         {"client": ("not-routed", "404 HTML page; without CORS, so a browser sees a network error, not a 404")}),
        ("redirect.probe.test", ["--server", "matrix.redirect.probe.test:443"],
         """server { listen %%(listen)s; server_name redirect.probe.test;
           location / { return 301 https://target.probe.test$request_uri; } }
         server { listen %%(listen)s; server_name target.probe.test;
           location / { %s %s return 200 '%s'; } }""" % (cors, json_type, '{"m.server": "matrix.redirect.probe.test:443"}'),
         {"server": ("redirect-without-cors",
                     "301 https://redirect.probe.test/.well-known/matrix/server -> "
                     "https://target.probe.test/.well-known/matrix/server")}),
        ("loop.probe.test", ["--server", "matrix.loop.probe.test:443"],
         """server { listen %%(listen)s; server_name loop.probe.test; %s
           location = /.well-known/matrix/server { return 302 https://loop.probe.test/elsewhere; }
           location = /elsewhere { return 302 https://loop.probe.test/.well-known/matrix/server; } }""" % cors,
         {"server": ("redirect-loop", "back to https://loop.probe.test/.well-known/matrix/server")}),
        ("big.probe.test", ["--server", "matrix.big.probe.test:443"],
         """server { listen %%(listen)s; server_name big.probe.test; %s %s
           root %%(root)s; location / { try_files /big.json =404; } }""" % (cors, json_type),
         {"server": ("too-large", "the body is over 12288 bytes")}),
        ("challenge200.probe.test", ["--server", "matrix.challenge200.probe.test:443"],
         """server { listen %%(listen)s; server_name challenge200.probe.test; default_type text/html;
           location / { return 200 '%s'; } }""" % CHALLENGE,
         {"server": ("not-json", "Cloudflare challenge (status 200)")}),
        ("challenge403.probe.test", ["--server", "matrix.challenge403.probe.test:443"],
         """server { listen %%(listen)s; server_name challenge403.probe.test; default_type text/html;
           location / { return 403 '%s'; } }""" % CHALLENGE,
         {"server": ("not-json", "Cloudflare challenge (status 403)")}),
        ("slow.probe.test", ["--server", "matrix.slow.probe.test:443"],
         """server { listen %%(listen)s; server_name slow.probe.test; %s
           root %%(root)s; location / { limit_rate 200; try_files /slow.json =404; } }""" % json_type,
         {"server": ("timeout", "")}),
        ("wrongcert.probe.test", ["--server", "matrix.wrongcert.probe.test:443"],
         """server { listen %(listen)s; server_name wrongcert.probe.test;
           ssl_certificate %(wrong_cert)s; ssl_certificate_key %(wrong_key)s;
           location / { return 200 '{}'; } }""",
         {"server": ("tls", "")}),
        ("nocors.probe.test", ["--server", "matrix.nocors.probe.test:443"],
         """server { listen %%(listen)s; server_name nocors.probe.test; %s
           location / { return 200 '{"m.server": "matrix.nocors.probe.test:443"}'; } }""" % json_type,
         {"server": ("no-cors", "no Access-Control-Allow-Origin")}),
        ("text.probe.test", ["--server", "matrix.text.probe.test:443"],
         """server { listen %%(listen)s; server_name text.probe.test; %s default_type text/plain;
           location / { return 200 'hello'; } }""" % cors,
         {"server": ("not-json", "not a JSON object: hello (text/plain)")}),
        ("gateway.probe.test", ["--server", "matrix.gateway.probe.test:443"],
         """server { listen %%(listen)s; server_name gateway.probe.test; %s %s
           location / { return 502 '{"errcode": "M_UNKNOWN"}'; } }""" % (cors, json_type),
         {"server": ("http-502", "")}),
    ]


# The homeserver the ok domain delegates to: what a client and a homeserver
# ask next.
HOMESERVER = """server { listen %%(listen)s; server_name hs.probe.test; %s default_type application/json;
  location = /_matrix/client/versions { return 200 '{"versions": ["v1.11"]}'; }
  location = /_matrix/federation/v1/version { return 200 '{"server": {"name": "test", "version": "1"}}'; } }
""" % "add_header Access-Control-Allow-Origin * always;"


class World:
    """The store, the responder, nginx on ADDR:443 and the probe's options
    that reach it."""

    def __init__(self, tmp, extra_servers=""):
        if os.geteuid() != 0:
            raise Skip("nginx on port 443 of a loopback address needs root")
        self.tmp = tmp
        self.db = tmp.file("domains.db")
        self.cfg = tmp.write("mxdelegate.toml", CONFIG % {"plugins": PLUGINS, "db": self.db})
        must([CTL, "-c", self.cfg, "init"])
        self.pki = Pki(tmp)
        self.addr = loopback_address()
        self.big = tmp.write("big.json", '{"m.server": "%s"}' % ("x" * 50 * 1024))
        self.slow = tmp.write("slow.json", '{"m.server": "%s"}' % ("x" * 4 * 1024))
        self.cases = cases()
        for domain, fields, _, _ in self.cases:
            must([CTL, "-c", self.cfg, "add", domain, *fields])
        listen = "%s:443 ssl" % self.addr
        servers = "\n".join(c[2] for c in self.cases) + HOMESERVER + extra_servers
        servers = servers % {"listen": listen, "root": tmp.path, "wrong_cert": self.pki.wrong[0],
                             "wrong_key": self.pki.wrong[1]}
        self.mx = harness.Responder(self.cfg, tmp)
        self.nginx = Nginx(tmp, self.pki, self.addr, 443, self.mx.socket, servers)

    def options(self):
        names = [c[0] for c in self.cases] + ["hs.probe.test", "target.probe.test"]
        out = ["--cacert", self.pki.ca]
        for n in names:
            out += ["--resolve", "%s:443:%s" % (n, self.addr)]
        return out

    def probe(self, *args, timeout=120):
        return run([CTL, "-c", self.cfg, "probe", *args], timeout=timeout)

    def stop(self):
        self.nginx.stop()
        log = self.mx.stderr()
        self.mx.stop()
        return log


class ProbeFailures(Test):
    def setup(self):
        self.world = World(self.tmp)

    def teardown(self):
        self.world.stop()

    def rows(self, p):
        lines = [json.loads(l) for l in p.stdout.splitlines()]
        self.true(lines and "summary" in lines[-1], p.stdout + p.stderr)
        return {(r["domain"], r["document"]): r for r in lines[:-1]}, lines[-1]["summary"]

    def test_probe_classifies_each_failure(self):
        p = self.world.probe("--format", "json", "--timeout", "2", "--federation", *self.world.options())
        self.eq(p.returncode, 1, p.stderr)
        rows, summary = self.rows(p)
        want = {}
        for domain, _, _, docs in self.world.cases:
            for doc, (code, detail) in docs.items():
                want[(domain, doc)] = code
                r = rows.get((domain, doc))
                self.true(r is not None, "no row for %s %s: %s" % (domain, doc, p.stdout))
                self.eq(r["code"], code, r)
                self.true(r.get("detail", "").startswith(detail), "%r does not start with %r" % (r, detail))
                self.eq(r["url"], "https://%s/.well-known/matrix/%s" % (domain, doc))
        self.eq(sorted(rows), sorted(want), "one row a document the store has")
        # What the next consumer concludes, --federation.
        self.eq(rows[("ok.probe.test", "server")]["conclusion"], "ok", rows[("ok.probe.test", "server")])
        self.eq(rows[("ok.probe.test", "client")]["conclusion"], "ok", rows[("ok.probe.test", "client")])
        self.eq(rows[("html404.probe.test", "client")]["conclusion"], "FAIL_PROMPT")
        self.contains(rows[("mismatch.probe.test", "server")]["conclusion_detail"],
                      "m.server old.mismatch.probe.test:443: https://old.mismatch.probe.test:443/"
                      "_matrix/federation/v1/version: Could not resolve host")
        codes = {}
        for c in want.values():
            codes[c] = codes.get(c, 0) + 1
        self.eq(summary["codes"], codes)
        self.eq(summary["documents"], len(want))
        self.eq(summary["domains"], len(self.world.cases))

    def test_probe_table_and_exit_status(self):
        opts = self.world.options()
        p = self.world.probe("ok.probe.test", *opts)
        self.eq((p.returncode, p.stderr), (0, ""))
        lines = p.stdout.splitlines()
        self.eq(lines[0].split(), ["DOMAIN", "DOCUMENT", "CODE", "DETAIL"])
        self.eq(sorted(l.split() for l in lines[1:3]),
                [["ok.probe.test", "client", "ok"], ["ok.probe.test", "server", "ok"]])
        self.eq(lines[3:], ["summary: 2 documents of 1 domain: 2 ok"])
        p = self.world.probe("ok.probe.test", "nocors.probe.test", *opts)
        self.eq(p.returncode, 1, p.stderr)
        self.contains(p.stdout, "summary: 3 documents of 2 domains: 2 ok, 1 no-cors\n")
        # --rate spaces the requests out: 4 documents at 4 a second take at
        # least three gaps of a quarter of a second.
        t0 = time.monotonic()
        p = self.world.probe("ok.probe.test", "nocors.probe.test", "mismatch.probe.test", "--rate", "4",
                             "--per-host", "1", *opts)
        self.true(time.monotonic() - t0 >= 0.75, "--rate 4 took %.2f s" % (time.monotonic() - t0))
        self.contains(p.stdout, "summary: 4 documents of 3 domains: 2 ok, 1 mismatch, 1 no-cors\n")
        # Without the test CA, every certificate is a tls failure.
        p = self.world.probe("ok.probe.test", *opts[2:])
        self.eq(p.returncode, 1, p.stderr)
        self.contains(p.stdout, "summary: 2 documents of 1 domain: 2 tls\n")
        # --insecure takes that check away.
        p = self.world.probe("wrongcert.probe.test", "--insecure", *opts[2:])
        self.eq(p.returncode, 1, p.stderr)
        self.contains(p.stdout, "mismatch")

    def test_probe_usage_and_store_errors(self):
        opts = self.world.options()
        for bad in (["--concurrency", "0"], ["--format", "xml"], ["--resolve", "nonsense"],
                    ["--connect-to", "a:b"], ["--bogus"], ["--wildcard-sample", "x"], ["--timeout", "-1"]):
            p = self.world.probe(*bad)
            self.eq(p.returncode, 64, (bad, p.stderr))
            self.eq(p.stdout, "")
            self.true(p.stderr.startswith("mxdelegatectl: probe: ") and bad[0] in p.stderr.splitlines()[0],
                      p.stderr)
        p = self.world.probe("not a domain", *opts)
        self.eq((p.returncode, p.stdout), (65, ""), p.stderr)
        p = run([CTL, "--db", self.tmp.file("missing.db"), "--plugin-dir", PLUGINS, "probe", *opts])
        self.eq((p.returncode, p.stdout), (66, ""), p.stderr)
        # mxdelegatectl without mxdelegate-probe beside it or installed.
        alone = self.tmp.file("alone")
        os.mkdir(alone)
        shutil.copy(CTL, alone)
        p = run([os.path.join(alone, "mxdelegatectl"), "-c", self.world.cfg, "probe", *opts])
        self.eq((p.returncode, p.stdout), (69, ""), p.stderr)
        self.contains(p.stderr, "mxdelegatectl: probe: ")
        self.contains(p.stderr, "/libexec/mxdelegate-probe: not installed (nor %s/mxdelegate-probe); "
                      "the probe comes with mxdelegate's libcurl support" % alone)
        p = self.world.probe("unknown.probe.test", *opts)
        self.eq(p.returncode, 1, p.stderr)
        self.contains(p.stderr, "unknown.probe.test: mxdelegate serves no document for it")

    def test_probe_sends_only_get(self):
        """The probe's requests, as nginx logged them: GET only, the user
        agent given, an Origin on the browser's fetches."""
        log = self.tmp.file("access.log")
        conf = self.world.nginx.conf
        with open(conf) as f:
            text = f.read()
        text = text.replace("access_log off;", 'log_format probe "$request_method $host $http_origin $http_user_agent";\n'
                            '  access_log %s probe;' % log)
        with open(conf, "w") as f:
            f.write(text)
        self.world.nginx.proc.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        p = self.world.probe("--timeout", "2", "--federation", "--user-agent", "Probe/1 (test)",
                             *self.world.options())
        self.eq(p.returncode, 1, p.stderr)
        with open(log) as f:
            lines = f.read().splitlines()
        self.true(len(lines) > 10, lines)
        self.eq({l.split()[0] for l in lines}, {"GET"})
        self.true(all(l.endswith("Probe/1 (test)") for l in lines), lines)
        self.true(all("https://mxdelegate-probe.invalid" in l for l in lines if " hs.probe.test " not in l
                      or "versions" in l), lines)


class ProbeScale(Test):
    """10,000 domains (fewer under the sanitizers) against nginx and
    mxdelegate over FastCGI: in under a minute, all ok, and the memory of
    the probe the same for 1,000 and for 10,000."""

    def test_probe_ten_thousand_domains(self):
        if os.geteuid() != 0:
            raise Skip("nginx on port 443 of a loopback address needs root")
        sanitized = os.environ.get("SANITIZE") == "1"
        n = int(os.environ.get("PROBE_DOMAINS", "1000" if sanitized else "10000"))
        tmp = self.tmp
        db = tmp.file("domains.db")
        cfg = tmp.write("mxdelegate.toml", CONFIG % {"plugins": PLUGINS, "db": db})
        lines = ['{"domain": "d%d.scale.probe.test", "server": "matrix.d%d.scale.probe.test:443"}' % (i, i)
                 for i in range(n)]
        src = tmp.write("domains.jsonl", "\n".join(lines) + "\n")
        must([CTL, "-c", cfg, "init"])
        must([CTL, "-c", cfg, "import", src])
        pki = Pki(tmp)
        # A certificate for *.scale.probe.test.
        pki.server = pki.issue("scale", ["*.scale.probe.test"], pki.path("ca.key"))
        addr = loopback_address()
        mx = harness.Responder(cfg, tmp)
        nginx = Nginx(tmp, pki, addr, 443, mx.socket, workers=2)
        try:
            base = ["-c", cfg, "probe", "--cacert", pki.ca, "--connect-to", "::%s:443" % addr,
                    "--concurrency", "64", "--per-host", "2"]
            small = max(n // 10, 100)
            peak_small, _, _ = self.measured(base, small, cfg)
            peak, seconds, out = self.measured(base, None, cfg)
            self.contains(out, "summary: %d documents of %d domains: %d ok\n" % (n, n, n))
            print("     probe: %d domains in %.1f s (%.0f a second); peak RSS of mxdelegate-probe %d KiB "
                  "for %d domains, %d KiB for %d (mxdelegatectl: %d KiB, %d KiB)"
                  % (n, seconds, n / seconds, peak_small["probe"], small, peak["probe"], n,
                     peak_small["ctl"], peak["ctl"]), flush=True)
            if not sanitized:
                self.true(seconds < 60, "%d domains took %.1f s" % (n, seconds))
            # Flat: the fetching side holds --concurrency documents, however
            # many domains there are.  Not under ASan, whose quarantine keeps
            # freed memory (up to 256 MiB) and so grows with the work done.
            self.true(peak["probe"] > 0, "no figure read for mxdelegate-probe")
            self.true(sanitized or peak["probe"] < peak_small["probe"] + 4 * 1024,
                      "mxdelegate-probe's peak RSS %d KiB for %d domains, %d KiB for %d"
                      % (peak_small["probe"], small, peak["probe"], n))
        finally:
            nginx.stop()
            mx.stop()

    def measured(self, base, count, cfg):
        """(peak RSS in KiB of mxdelegatectl and of its mxdelegate-probe,
        seconds, stdout) of one run over the first `count` domains (all:
        None), the peaks read from /proc (VmHWM) while they run."""
        domains = []
        if count is not None:
            domains = must([CTL, "-c", cfg, "list"]).split()[:count]
        out = self.tmp.file("probe.out")
        t0 = time.monotonic()
        with open(out, "wb") as f:
            ctl = subprocess.Popen([CTL, *base, *domains], stdout=f, stderr=subprocess.PIPE)
        peak = {"ctl": 0, "probe": 0}

        def hwm(pid):
            try:
                with open("/proc/%d/status" % pid) as st:
                    for line in st:
                        if line.startswith("VmHWM:"):
                            return int(line.split()[1])
            except OSError:
                pass
            return 0

        while ctl.poll() is None:
            peak["ctl"] = max(peak["ctl"], hwm(ctl.pid))
            try:
                with open("/proc/%d/task/%d/children" % (ctl.pid, ctl.pid)) as c:
                    children = [int(x) for x in c.read().split()]
            except OSError:
                children = []
            for child in children:
                peak["probe"] = max(peak["probe"], hwm(child))
            time.sleep(0.02)
        seconds = time.monotonic() - t0
        err = ctl.stderr.read().decode(errors="replace")
        with open(out, errors="replace") as f:
            text = f.read()
        self.eq(ctl.returncode, 0, err[-2000:] + text[-2000:])
        return peak, seconds, text
