"""The TOML store preloaded: in FastCGI mode the responder renders every
exact name's documents when it loads the store, so that no TOML request
misses.  Checked through the metrics page (every answer counted as a cache
hit, no store lookup), through a reload after an edit of the configuration
file and an edit of a separate domains file (the new data, never the old),
and CGI mode, which must not render 10,000 domains for one request: its log
has no preload line."""

import os
import re
import signal

from harness import PLUGINS, Responder, Test, wait_for
from test_metrics import parse
from test_modes import cgi

METRICS = "/metrics"
SERVER = "/.well-known/matrix/server"
CLIENT = "/.well-known/matrix/client"
SUPPORT = "/.well-known/matrix/support"
LINE = re.compile(r"^mxdelegate: directory: .*toml\.so: preloaded (\d+) names \((\d+) misconfigured\), "
                  r"(\d+) bytes, (\d+) ms$", re.M)

HEAD = """\
[backend]
name = "toml"
plugin_dir = "%(plugins)s"
%(path)s
[defaults]
support = { support_page = "https://help.{domain}/" }

[status]
path = "%(metrics)s"
"""


def domains(n, server="matrix"):
    out = []
    for i in range(n):
        out.append('[domains."d%d.example"]\nserver = "%s.d%d.example:443"\n' % (i, server, i))
    out.append('[domains."*.wild.example"]\nserver = "m.{domain}:443"\n')
    return "".join(out)


def replace(path, text):
    """Written aside and renamed into place, as the man pages advise: the
    responder never reads half a file."""
    with open(path + ".new", "w") as f:
        f.write(text)
    os.replace(path + ".new", path)


class Preload(Test):
    N = 2000

    def setup(self):
        self.mx = None

    def teardown(self):
        if self.mx:
            self.mx.stop()

    def config(self, body, path=""):
        return self.tmp.write("mxdelegate.toml", HEAD % {"plugins": PLUGINS, "metrics": METRICS,
                                                         "path": path} + body)

    def scrape(self):
        r = self.mx.get(METRICS, host=None)
        self.eq(r.status, 200, r.raw)
        return parse(r.body.decode())

    @staticmethod
    def value(m, name, **labels):
        return m.get((name, tuple(sorted(labels.items()))), 0.0)

    def preload_lines(self):
        return LINE.findall(self.mx.raw_stderr())

    def test_every_exact_name_is_a_hit(self):
        self.config(domains(self.N))
        self.mx = Responder(self.tmp.file("mxdelegate.toml"), self.tmp)
        lines = self.preload_lines()
        self.eq(len(lines), 1, self.mx.raw_stderr())
        self.eq((int(lines[0][0]), int(lines[0][1])), (self.N, 0))
        m0 = self.scrape()
        self.eq(self.value(m0, "mxdelegate_cache_hosts", record="preloaded"), self.N)
        self.eq(self.value(m0, "mxdelegate_cache_bytes", record="preloaded"), int(lines[0][2]))
        self.eq(self.value(m0, "mxdelegate_cache_hosts", record="yes"), 0)

        asked = 0
        for i in range(0, self.N, 7):
            host = "d%d.example" % i
            r = self.mx.get(SERVER, host=host)
            self.eq(r.status, 200, r.raw)
            self.eq(r.json(), {"m.server": "matrix.%s:443" % host})
            r = self.mx.get(SUPPORT, host=host.upper())
            self.eq(r.json(), {"support_page": "https://help.%s/" % host})
            # A document the record lacks: the 404, from the table too.
            self.eq(self.mx.get(CLIENT, host=host).status, 404)
            asked += 3
        m1 = self.scrape()
        got = self.value(m1, "mxdelegate_answers_total", source="cache") - \
            self.value(m0, "mxdelegate_answers_total", source="cache")
        self.eq(got, asked)
        self.eq(self.value(m1, "mxdelegate_store_lookups_total"),
                self.value(m0, "mxdelegate_store_lookups_total"))
        self.eq(self.value(m1, "mxdelegate_answers_total", source="store"), 0)

        # A name under the wildcard and an unknown name: looked up, then cached.
        for host in ("a.wild.example", "nowhere.example"):
            self.mx.get(SERVER, host=host)
            self.mx.get(SERVER, host=host)
        m2 = self.scrape()
        self.true(self.value(m2, "mxdelegate_store_lookups_total") >
                  self.value(m1, "mxdelegate_store_lookups_total"), m2)
        self.eq(self.value(m2, "mxdelegate_answers_total", source="store") -
                self.value(m1, "mxdelegate_answers_total", source="store"), 2)
        self.eq(self.value(m2, "mxdelegate_cache_hosts", record="yes"), 1)
        self.eq(self.value(m2, "mxdelegate_cache_hosts", record="no"), 1)
        self.eq(self.mx.stderr(), "")

    def test_a_reload_serves_the_edited_file_never_the_old(self):
        cfg = self.config(domains(200))
        self.mx = Responder(cfg, self.tmp)
        self.eq(self.mx.get(SERVER, host="d5.example").json(), {"m.server": "matrix.d5.example:443"})
        # d199 goes, d200 comes, every other server changes.
        replace(cfg, HEAD % {"plugins": PLUGINS, "metrics": METRICS, "path": ""} +
                domains(199, server="new") + '[domains."d200.example"]\nserver = "x.d200.example:443"\n')
        self.mx.proc.send_signal(signal.SIGHUP)
        self.true(wait_for(lambda: "configuration reloaded" in self.mx.stderr(), 10),
                  self.mx.raw_stderr())
        self.eq(len(self.preload_lines()), 2, self.mx.raw_stderr())
        m = self.scrape()
        for i in range(199):
            host = "d%d.example" % i
            self.eq(self.mx.get(SERVER, host=host).json(), {"m.server": "new.%s:443" % host})
        self.eq(self.mx.get(SERVER, host="d199.example").status, 404)
        self.eq(self.mx.get(SERVER, host="d200.example").json(), {"m.server": "x.d200.example:443"})
        self.eq(self.value(m, "mxdelegate_cache_hosts", record="preloaded"), 200)
        self.eq(self.value(self.scrape(), "mxdelegate_answers_total", source="cache"),
                self.value(m, "mxdelegate_answers_total", source="cache") + 200)

    def test_a_separate_domains_file_edited_is_served_new_at_once(self):
        # The plugin reloads this file itself and moves its generation; the
        # responder renders the table again, and never answers from the old
        # one meanwhile.
        domains_file = self.tmp.write("domains.toml", domains(300))
        cfg = self.config("", path='path = "domains.toml"\n')
        self.mx = Responder(cfg, self.tmp)
        self.eq(self.mx.get(SERVER, host="d7.example").json(), {"m.server": "matrix.d7.example:443"})
        replace(domains_file, domains(300, server="new"))
        self.true(wait_for(lambda: self.mx.get(SERVER, host="d7.example").json() ==
                           {"m.server": "new.d7.example:443"}, 10), self.mx.raw_stderr())
        for i in range(300):
            host = "d%d.example" % i
            self.eq(self.mx.get(SERVER, host=host).json(), {"m.server": "new.%s:443" % host})
        # Rendered again: every name a hit once more, no lookup.
        self.true(wait_for(lambda: len(self.preload_lines()) == 2, 5), self.mx.raw_stderr())
        m0 = self.scrape()
        for i in range(0, 300, 3):
            self.eq(self.mx.get(SERVER, host="d%d.example" % i).json()["m.server"],
                    "new.d%d.example:443" % i)
        m1 = self.scrape()
        self.eq(self.value(m1, "mxdelegate_store_lookups_total"),
                self.value(m0, "mxdelegate_store_lookups_total"))
        self.eq(self.value(m1, "mxdelegate_cache_hosts", record="preloaded"), 300)

    def test_cgi_does_not_preload(self):
        cfg = self.config(domains(self.N))
        p = cgi(cfg, {"REQUEST_METHOD": "GET", "REQUEST_URI": SERVER, "HTTP_HOST": "d9.example"})
        self.eq(p.returncode, 0, p.stderr)
        self.true(p.stdout.startswith(b"Status: 200 OK\r\n"), p.stdout)
        self.eq(p.stderr, b"")
