#!/usr/bin/env python3
"""make bench: mxdelegate side by side with its alternatives, in one run.

Every scenario is started at once (each server on a loopback port of its
own); then the rounds run the scenarios in turn, A B C ... A B C, so that
drift on a shared machine shows as spread.  Each run is preceded by a
warm-up.  Medians are printed with min and max, and ratios against the
floor of the same front end.  Generated data lives in build/bench/; the
PostgreSQL server of mx-postgres-1m (Debian's postgresql, run as the
"postgres" user) keeps its data in build/bench/pg/ and runs only during
the bench.

  QUICK=1          a reduced set (nginx, lighttpd, nginx-close; few scenarios,
                   short runs)
  ONLY=callgrind   only the callgrind instructions per request (floor,
                   mx-toml-10 cached, mx-sqlite-1m spread): the figures to
                   compare before and after a change, whatever the noise
  ONLY=cgi         only CGI start-up: each request a fresh process (the
                   floor, mx-toml-10, mx-sqlite-1m, mx-toml-10k, and
                   mx-toml-10k-cache with [backend] cache), wall time
                   alternated and the exact instructions of one request
  ONLY=follow      only the fleet figures, behind nginx: the floor,
                   mx-sqlite-1m, mx-postgres-1m and mx-follow-1m (a node
                   answering from the copy that mxdelegate-follow keeps of
                   the PostgreSQL store), the follower's full copy of
                   1,000,000 domains, and change-to-live from a write on the
                   primary to the answer on the node
  ONLY=sqlite      only the SQLite store's figures, behind nginx and
                   lighttpd: the floor, mx-sqlite-10 and mx-sqlite-1m (run
                   once for each of two builds, BUILDDIR, to compare a
                   change to the store's reads)
"""

import os
import random
import re
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
import urllib.request

# The end-to-end suite's FastCGI client and wait_for, shared rather than copied.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
import fcgi  # noqa: E402
from harness import wait_for  # noqa: E402
import pgserver  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
BUILD = os.path.abspath(os.environ.get("BUILDDIR", os.path.join(REPO, "build")))
OUT = os.path.join(BUILD, "bench")
QUICK = os.environ.get("QUICK", "") not in ("", "0")
ONLY = os.environ.get("ONLY", "")
THREADS = 4
ROUNDS = 2
WARM = 1
DUR = 2 if QUICK else 5
DUR1 = 1 if QUICK else 3
CONNS = 32
MX = os.path.join(BUILD, "mxdelegate")
CTL = os.path.join(BUILD, "mxdelegatectl")
FOLLOW = os.path.join(BUILD, "mxdelegate-follow")
PLUGINS = os.path.join(BUILD, "backends")
FLOOR = os.path.join(OUT, "floor")
PATH = "/.well-known/matrix/client"
ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C"}
CLIENT_HEADERS = [
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE, OPTIONS"),
    ("Access-Control-Allow-Headers", "X-Requested-With, Content-Type, Authorization"),
    ("Cache-Control", "public, max-age=14400"),
]


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def host(i):
    return "d%07d.bench" % i  # same length for every i: same body size


def body(h):
    return '{"m.homeserver":{"base_url":"https://matrix.%s"}}' % h


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p




def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


# --- data --------------------------------------------------------------------

def hosts_file(n, sample=None):
    """The hosts wrk picks from: all n, or a random sample spread over them."""
    path = os.path.join(OUT, "hosts-%d.txt" % n)
    if not os.path.exists(path):
        idx = range(1, n + 1) if not sample or sample >= n else sorted(random.sample(range(1, n + 1), sample))
        write(path + ".tmp", "".join(host(i) + "\n" for i in idx))
        os.rename(path + ".tmp", path)
    return path


def toml_config(n, check_interval=None):
    path = os.path.join(OUT, "toml-%d.toml" % n)
    head = ('[backend]\nname = "toml"\nplugin_dir = "%s"\n\n[server]\nthreads = %d\n\n'
            '[defaults]\nserver = "matrix.{domain}:443"\n\n' % (PLUGINS, THREADS))
    # Kept while it names this build's plugins: another tree's build
    # (BUILDDIR) writes its own.
    if os.path.exists(path):
        with open(path) as f:
            if f.read(len(head)) == head:
                return path
    parts = [head]
    for i in range(1, n + 1):
        parts.append('[domains."%s"]\nclient = "https://matrix.%s"\n' % (host(i), host(i)))
    write(path + ".tmp", "".join(parts))
    os.rename(path + ".tmp", path)
    return path


def toml_cache_config(n):
    """toml_config(n) with [backend] cache, the cache made by one request
    first: what a CGI request with n TOML domains costs when it reads back
    the checked records of the file's text instead of parsing it."""
    with open(toml_config(n)) as f:
        text = f.read()
    path = os.path.join(OUT, "toml-%d-cache.toml" % n)
    cache = os.path.join(OUT, "toml-%d.cache" % n)
    write(path, text.replace('name = "toml"\n', 'name = "toml"\ncache = "%s"\n' % cache, 1))
    cgi_once([MX, "-c", path], host(1))
    if not os.path.exists(cache):
        raise SystemExit("bench: %s made no cache %s" % (path, cache))
    return path


def sqlite_config(n, check_interval=None, stale_max_age=None):
    """A SQLite store of n domains, bulk-loaded with SQL, then migrated and
    rendered with this configuration by "mxdelegatectl init" (render on
    write: a record loaded with SQL has no rendering until then).  With
    stale_max_age, the same store under a configuration of another
    fingerprint, whose answers are the same: its renderings are never
    used, so each miss takes the full path (read, validate, render)."""
    db = os.path.join(OUT, "sqlite-%d.db" % n)
    if not os.path.exists(db):
        log("bench: generating %s (%d domains)" % (db, n))
        tmp = db + ".tmp"
        for p in (tmp, tmp + "-journal"):
            if os.path.exists(p):
                os.unlink(p)
        subprocess.run([CTL, "--db", tmp, "--plugin-dir", PLUGINS, "init"], check=True,
                       stdout=subprocess.DEVNULL)
        con = sqlite3.connect(tmp)
        now = "2026-01-01T00:00:00Z"
        with con:
            con.executemany(
                "INSERT INTO domains (domain, client, created, updated) VALUES (?, ?, ?, ?)",
                ((host(i), "https://matrix." + host(i), now, now) for i in range(1, n + 1)))
        con.close()
        os.rename(tmp, db)
    suffix = ("" if check_interval is None else "-ci") + ("" if stale_max_age is None else "-full")
    path = os.path.join(OUT, "sqlite-%d%s.toml" % (n, suffix))
    extra = "" if check_interval is None else "check_interval = %s\n" % check_interval
    http = "" if stale_max_age is None else "\n[http]\nstale_max_age = %d\n" % stale_max_age
    write(path, '[backend]\nname = "sqlite"\npath = "%s"\nplugin_dir = "%s"\n\n[server]\nthreads = %d\n%s\n'
          '[defaults]\nserver = "matrix.{domain}:443"\n%s' % (db, PLUGINS, THREADS, extra, http))
    if stale_max_age is None:
        # Migrates a store of an older schema, and renders every record
        # that has no rendering for this configuration (all of them after a
        # bulk load; none the next time).
        t = time.perf_counter()
        out = subprocess.run([CTL, "-c", path, "init"], check=True, capture_output=True, text=True)
        if out.stdout:
            log("bench: %s (%.1f s)" % (out.stdout.strip(), time.perf_counter() - t))
    return path


PG = []


def postgres_config(n):
    """A PostgreSQL server kept in OUT/pg (started for this run, stopped at
    its end) with a database of n domains, imported once through
    mxdelegatectl: the 1,000,000-domain import is timed then."""
    if not PG:
        PG.append(pgserver.Server(root=os.path.join(OUT, "pg")))
    pg = PG[0]
    db = "mx%d" % n
    path = os.path.join(OUT, "postgres-%d.toml" % n)
    write(path, '[backend]\nname = "postgres"\nconninfo = "%s"\nplugin_dir = "%s"\n\n'
          '[server]\nthreads = %d\n\n[defaults]\nserver = "matrix.{domain}:443"\n'
          % (pg.conninfo(db), PLUGINS, THREADS))
    have = pg.psql("SELECT 1 FROM pg_database WHERE datname = '%s'" % db).strip() == "1"
    if have and pg.psql("SELECT to_regclass('domains') IS NOT NULL", db).strip() == "t":
        # The import is one transaction: all of it is there, or none.
        have = int(pg.psql("SELECT count(*) FROM domains", db)) == n
    if not have:
        log("bench: generating PostgreSQL database %s (%d domains)" % (db, n))
        pg.psql("DROP DATABASE IF EXISTS %s" % db)
        pg.psql("CREATE DATABASE %s" % db)
        subprocess.run([CTL, "-c", path, "init"], check=True, stdout=subprocess.DEVNULL)
        src = os.path.join(OUT, "postgres-%d.jsonl" % n)
        write(src, "".join('{"domain":"%s","client":"https://matrix.%s"}\n' % (host(i), host(i))
                           for i in range(1, n + 1)))
        t0 = time.monotonic()
        subprocess.run([CTL, "-c", path, "import", src], check=True, stdout=subprocess.DEVNULL)
        log("bench: mxdelegatectl import of %d domains into PostgreSQL: %.1f s"
            % (n, time.monotonic() - t0))
        os.unlink(src)
    # A database kept from a run before schema version 2 gets the change
    # records a follower needs; on a current one init does nothing.
    subprocess.run([CTL, "-c", path, "init"], check=True, stdout=subprocess.DEVNULL)
    return path


def follow_config(n):
    """A node of a fleet: the responder on a local SQLite copy that
    mxdelegate-follow keeps of the n-domain PostgreSQL database."""
    postgres_config(n)
    copy = os.path.join(OUT, "follow-%d.db" % n)
    path = os.path.join(OUT, "follow-%d.toml" % n)
    write(path, '[backend]\nname = "sqlite"\npath = "%s"\nplugin_dir = "%s"\n\n'
          '[follow]\nconninfo = "%s"\n\n[server]\nthreads = %d\n\n'
          '[defaults]\nserver = "matrix.{domain}:443"\n'
          % (copy, PLUGINS, PG[0].conninfo("mx%d" % n), THREADS))
    return path, copy


def start_follower(config, copy):
    """The follower on an empty node: the seconds its full copy takes, from
    start to "following" in its status file (the copy renamed into place
    and in step)."""
    for p in (copy, copy + ".new", copy + "-journal", copy + ".follow"):
        if os.path.exists(p):
            os.unlink(p)
    t0 = time.monotonic()
    spawn([FOLLOW, "-c", config], "follower.log")

    def following():
        try:
            with open(copy + ".follow") as f:
                return '"state":"following"' in f.read().replace(" ", "")
        except OSError:
            return False
    if not wait_for(following, 300, 0.05):
        raise SystemExit("bench: the follower did not reach \"following\" in 300 s; see run/follower.log")
    return time.monotonic() - t0


def docroot():
    d = os.path.join(OUT, "htdocs")
    p = os.path.join(d, ".well-known", "matrix")
    os.makedirs(p, exist_ok=True)
    write(os.path.join(p, "client"), body(host(1)))
    return d


# --- processes ---------------------------------------------------------------

PROCS = []


def spawn(argv, logname, **kw):
    out = open(os.path.join(OUT, "run", logname), "ab")
    p = subprocess.Popen(argv, stdin=kw.pop("stdin", subprocess.DEVNULL), stdout=out, stderr=out,
                         env=kw.pop("env", ENV), start_new_session=True, **kw)
    out.close()
    PROCS.append(p)
    return p


def stop_all():
    for p in reversed(PROCS):
        if p.poll() is None:
            p.terminate()
    for p in reversed(PROCS):
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    # lighttpd's bin-path children are in lighttpd's session and leave with it.


def start_on_socket(config, name, threads=1, wrap=()):
    """One responder on a unix socket of its own (build/bench/run/NAME.sock),
    driven by the caller with fcgi.request rather than a web server; `wrap`
    runs it under another program (strace).  Its standard error goes to
    build/bench/run/NAME.log."""
    sock = os.path.join(OUT, "run", name + ".sock")
    if os.path.exists(sock):
        os.unlink(sock)
    argv = [*wrap, MX, "-c", config, "--listen", "unix:" + sock, "--threads", str(threads)]
    err = open(os.path.join(OUT, "run", name + ".log"), "wb")
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                         env=ENV)
    if not wait_for(lambda: os.path.exists(sock) or p.poll() is not None, 120) or p.poll() is not None:
        raise SystemExit("bench: %s did not start (%s)" % (config, err.name))
    return p, sock


def children(pid):
    out = []
    for e in os.listdir("/proc"):
        if e.isdigit():
            try:
                with open("/proc/%s/stat" % e) as f:
                    s = f.read()
            except OSError:
                continue
            if int(s[s.rindex(")") + 2:].split()[1]) == pid:
                out.append(int(e))
    return out


def cpu_ns(pid):
    """Run time of every thread of pid, in ns (schedstat: ns precision)."""
    total = 0
    try:
        for t in os.listdir("/proc/%d/task" % pid):
            try:
                with open("/proc/%d/task/%s/schedstat" % (pid, t)) as f:
                    total += int(f.read().split()[0])
            except OSError:
                pass
    except OSError:
        return 0
    return total


def rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def substitute(template, values):
    with open(os.path.join(REPO, "etc", template)) as f:
        text = f.read()
    for k, v in values.items():
        text = text.replace("@%s@" % k, str(v))
    left = re.findall(r"@[A-Z_]+@", text)
    if left:
        raise SystemExit("bench: %s: placeholders left: %s" % (template, left))
    return text


def get(port, h, timeout=5):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, PATH), headers={"Host": h})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status, r.read()


# --- scenarios -----------------------------------------------------------------

class Scenario:
    def __init__(self, front, name, hosts):
        self.front, self.name, self.hosts = front, name, hosts
        self.id = "%s/%s" % (front, name)
        self.dir = os.path.join(OUT, "run", self.id.replace("/", "-"))
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port()
        self.responder = None  # pid of the FastCGI process, when there is one
        self.runs = []

    def nginx(self, conf_text):
        rundir = os.path.join(self.dir, "nginx")
        os.makedirs(rundir, exist_ok=True)
        conf = write(os.path.join(self.dir, "nginx.conf"), conf_text)
        err = os.path.join(self.dir, "error.log")
        self.server = spawn(["nginx", "-c", conf, "-e", err, "-g", "daemon off; worker_processes 1;"],
                            self.id.replace("/", "-") + ".out")

    def lighttpd(self, conf_text):
        conf = write(os.path.join(self.dir, "lighttpd.conf"), conf_text)
        self.server = spawn(["lighttpd", "-D", "-f", conf], self.id.replace("/", "-") + ".out")

    def ready(self, timeout=60):
        if not wait_for(lambda: self.server.poll() is not None or self._answers(), timeout):
            raise SystemExit("bench: %s does not answer; see %s" % (self.id, self.dir))
        if self.server.poll() is not None:
            raise SystemExit("bench: %s: server exited; see %s" % (self.id, self.dir))
        if self.front == "lighttpd" and self.name not in ("static",):
            kids = children(self.server.pid)
            self.responder = kids[0] if kids else None

    def _answers(self):
        try:
            status, b = get(self.port, host(1), 2)
        except OSError:
            return False
        self.sample = b
        return status == 200


def nginx_shipped(sc, socket_path, close):
    """The shipped nginx file (an upstream with keepalive, fastcgi_keep_conn
    on); with close, the same file made to close each FastCGI connection
    after its answer, as it shipped before the gate."""
    text = substitute("nginx/mxdelegate.conf", {
        "PORT": sc.port, "DOCROOT": docroot(), "ERRORLOG": os.path.join(sc.dir, "error.log"),
        "RUNDIR": os.path.join(sc.dir, "nginx"), "SOCKET": socket_path})
    # The bench runs as root with files under the checkout.
    text = text.replace("user www-data;", "user root;")
    if close:
        edits = [(r"\n\tupstream mxdelegate \{[^}]*\}\n", "\n"),
                 (r"fastcgi_pass mxdelegate;", "fastcgi_pass unix:%s;" % socket_path),
                 (r"fastcgi_keep_conn on;", "fastcgi_keep_conn off;")]
        # The upstream once; every location that passes to it (the
        # documents', and /metrics since issue 18) closes its connections.
        counts = []
        for pattern, repl in edits:
            text, n = re.subn(pattern, lambda _m, r=repl: r, text)
            counts.append(n)
        if counts[0] != 1 or counts[1] < 1 or counts[1] != counts[2]:
            raise SystemExit("bench: etc/nginx/mxdelegate.conf: expected one upstream and as many "
                             "fastcgi_keep_conn on as fastcgi_pass mxdelegate, found %d, %d, %d"
                             % tuple(counts))
    return text


def nginx_keepalive():
    """The keepalive of the shipped nginx upstream: how many idle FastCGI
    connections nginx's worker may hold open."""
    with open(os.path.join(REPO, "etc", "nginx", "mxdelegate.conf")) as f:
        m = re.search(r"^\s*keepalive (\d+);", f.read(), re.M)
    if not m:
        raise SystemExit("bench: etc/nginx/mxdelegate.conf: no keepalive in its upstream")
    return int(m.group(1))


def start_fcgi(front, name, hosts, argv_for_socket, lighttpd_bin, lighttpd_conf):
    """A FastCGI responder (mxdelegate or the floor) behind front."""
    sc = Scenario(front, name, hosts)
    if front.startswith("nginx"):
        close = front == "nginx-close"
        # mxdelegate has THREADS workers behind both nginx fronts: its kept
        # connections idle in the gate.  The floor is bare libfcgi, where a
        # kept connection holds a thread: with fewer threads than nginx's
        # pool plus the active requests, nginx's requests on connections
        # the floor never accepts wait for fastcgi_read_timeout.
        threads = THREADS
        if name == "floor" and not close:
            threads = nginx_keepalive() + THREADS
        sock = os.path.join(sc.dir, "fcgi.sock")
        p = spawn(argv_for_socket(sock, threads), sc.id.replace("/", "-") + ".responder")
        if not wait_for(lambda: os.path.exists(sock) or p.poll() is not None, 120):
            raise SystemExit("bench: %s: no socket" % sc.id)
        os.chmod(sock, 0o666)
        sc.responder = p.pid
        sc.nginx(nginx_shipped(sc, sock, close))
    else:
        text = substitute("lighttpd/mxdelegate.conf", {
            "PORT": sc.port, "DOCROOT": docroot(), "ERRORLOG": os.path.join(sc.dir, "error.log"),
            "SOCKET": os.path.join(sc.dir, "fcgi.sock"), "MXDELEGATE": lighttpd_bin,
            "CONFIG": lighttpd_conf,
            "ERROR_JSON": os.path.join(REPO, "etc", "lighttpd", "mxdelegate-error.json")})
        # As for nginx: root, on files under the checkout.
        sc.lighttpd(re.sub(r'(?m)^server\.(user|group)name .*\n', "", text))
    return sc


def start_floor(front, hosts):
    return start_fcgi(front, "floor", hosts,
                      lambda sock, t: [FLOOR, "-t", str(t), "-s", sock], FLOOR, "none")


def start_mx(front, name, config, hosts):
    return start_fcgi(front, name, hosts,
                      lambda sock, t: [MX, "-c", config, "--listen", "unix:" + sock, "--threads", str(t)],
                      MX, config)


STATIC_NGINX = """user root;
pid %(dir)s/nginx/nginx.pid;
error_log %(dir)s/error.log;
events {
}
http {
	access_log off;
	client_body_temp_path %(dir)s/nginx/body;
	proxy_temp_path %(dir)s/nginx/proxy;
	fastcgi_temp_path %(dir)s/nginx/fastcgi;
	uwsgi_temp_path %(dir)s/nginx/uwsgi;
	scgi_temp_path %(dir)s/nginx/scgi;
	%(http)s
	server {
		listen 127.0.0.1:%(port)d;
		root %(root)s;
		location = /.well-known/matrix/client {
			default_type application/json;
%(headers)s
			%(action)s
		}
	}
}
"""


def nginx_headers():
    return "".join('\t\t\tadd_header %s "%s" always;\n' % (k, v) for k, v in CLIENT_HEADERS)


def start_static_nginx(hosts):
    sc = Scenario("nginx", "static", hosts)
    sc.nginx(STATIC_NGINX % {"dir": sc.dir, "port": sc.port, "root": docroot(), "http": "",
                             "headers": nginx_headers(), "action": ""})
    return sc


def map_file(n):
    path = os.path.join(OUT, "map-%d.conf" % n)
    if not os.path.exists(path):
        write(path + ".tmp", "".join("%s '%s';\n" % (host(i), body(host(i))) for i in range(1, n + 1)))
        os.rename(path + ".tmp", path)
    return path


def map_http(n):
    return ("map_hash_max_size %d;\n\tmap_hash_bucket_size 128;\n"
            "\tmap $host $mxd_client {\n\t\tdefault \"\";\n\t\tinclude %s;\n\t}\n"
            % (max(2048, 2 * n), map_file(n)))


def start_map_nginx(n, hosts, name="map"):
    sc = Scenario("nginx", name, hosts)
    sc.nginx(STATIC_NGINX % {"dir": sc.dir, "port": sc.port, "root": docroot(), "http": map_http(n),
                             "headers": nginx_headers(),
                             "action": 'if ($mxd_client = "") { return 404; }\n\t\t\treturn 200 $mxd_client;'})
    return sc


def start_static_lighttpd(hosts):
    sc = Scenario("lighttpd", "static", hosts)
    hdrs = ", ".join('"%s" => "%s"' % kv for kv in CLIENT_HEADERS)
    sc.lighttpd('server.port = %d\nserver.bind = "127.0.0.1"\nserver.document-root = "%s"\n'
                'server.errorlog = "%s"\nserver.modules += ( "mod_setenv" )\n'
                'mimetype.assign = ( "" => "application/json" )\n'
                'setenv.add-response-header = ( %s )\n'
                % (sc.port, docroot(), os.path.join(sc.dir, "error.log"), hdrs))
    return sc


# --- measuring -------------------------------------------------------------------

def wrk(sc, conns, dur):
    threads = 1 if conns == 1 else 2
    r = subprocess.run(["wrk", "-t%d" % threads, "-c%d" % conns, "-d%ds" % dur, "--timeout", "5s",
                        "-s", os.path.join(HERE, "pick.lua"), "http://127.0.0.1:%d/" % sc.port],
                       env=dict(ENV, BENCH_HOSTS=sc.hosts), capture_output=True, text=True)
    m = re.search(r"^BENCH (.*)$", r.stdout, re.M)
    if not m:
        raise SystemExit("bench: wrk failed on %s:\n%s%s" % (sc.id, r.stdout, r.stderr))
    d = {k: int(v) for k, v in (kv.split("=") for kv in m.group(1).split())}
    d["rps"] = d["requests"] * 1e6 / d["duration_us"]
    return d


def run_once(sc, warm=True):
    if warm:
        wrk(sc, CONNS, WARM)
    c0 = cpu_ns(sc.responder) if sc.responder else 0
    a = wrk(sc, CONNS, DUR)
    c1 = cpu_ns(sc.responder) if sc.responder else 0
    b = wrk(sc, 1, DUR1)
    run = {"rps": a["rps"], "p50_32": a["p50_us"], "p99_32": a["p99_us"],
           "p50_1": b["p50_us"], "p99_1": b["p99_us"],
           "errors": a["errors"] + a["status_errors"] + b["errors"] + b["status_errors"]}
    if sc.responder:
        run["cpu_us"] = (c1 - c0) / 1000 / max(a["requests"], 1)
        run["rss_mib"] = rss_kib(sc.responder) / 1024
    sc.runs.append(run)
    log("  %-28s %8.0f req/s  p50/p99 @32 %5d/%6d us  @1 %4d/%5d us%s%s" % (
        sc.id, run["rps"], run["p50_32"], run["p99_32"], run["p50_1"], run["p99_1"],
        "  cpu %.1f us/req  rss %.1f MiB" % (run["cpu_us"], run["rss_mib"]) if sc.responder else "",
        "  ERRORS %d" % run["errors"] if run["errors"] else ""))


def med(sc, key):
    v = [r[key] for r in sc.runs if key in r]
    return (statistics.median(v), min(v), max(v)) if v else None


# --- one-off figures -------------------------------------------------------------

def cgi_env(h):
    """What a web server sets for a CGI GET of the client document on h."""
    return dict(ENV, GATEWAY_INTERFACE="CGI/1.1", REQUEST_METHOD="GET", REQUEST_URI=PATH,
                SCRIPT_NAME=PATH, HTTP_HOST=h, SERVER_PROTOCOL="HTTP/1.1")


def cgi_once(argv, h):
    t = time.perf_counter()
    r = subprocess.run(argv, env=cgi_env(h), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
    dt = time.perf_counter() - t
    if b"200 OK" not in r.stdout[:40]:
        raise SystemExit("bench: CGI %s answered %r" % (argv, r.stdout[:80]))
    return dt * 1e6


def cgi_cold(configs, n):
    """Wall time of one CGI request, each a fresh process, alternated."""
    times = {name: [] for name, _ in configs}
    for _ in range(n):
        for name, argv in configs:
            times[name].append(cgi_once(argv, host(1)))
    return {k: (statistics.median(v), min(v), max(v)) for k, v in times.items()}


def cgi_instructions(argv, h):
    """Callgrind's count of one CGI request, from exec to exit: the dynamic
    loader's work included, which is most of a C++ program's start."""
    outf = os.path.join(OUT, "run", "cgi.callgrind")
    r = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + outf] + argv,
                       env=cgi_env(h), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL)
    if b"200 OK" not in r.stdout[:40]:
        raise SystemExit("bench: CGI under callgrind %s answered %r" % (argv, r.stdout[:80]))
    return callgrind_totals(outf)


def cgi_figures(configs, n):
    """Each configuration's CGI request against the floor's: wall time of
    n fresh processes, alternated, and one request's instructions."""
    log("bench: CGI cold start")
    cold = cgi_cold(configs, n)
    out = {}
    for k, v in cold.items():
        out["CGI request, fresh process, %s, us" % k] = v
    for name, argv in configs:
        ir = cgi_instructions(argv, host(1))
        out["CGI request, callgrind Ir, %s" % name] = (ir,) * 3
    return out


def fcgi_get(path, h):
    """One FastCGI request over the unix socket at path (for callgrind)."""
    r = fcgi.request(path, fcgi.cgi_params("GET", PATH, h))
    return r.raw if r else b""


def under_callgrind(argv, sock, out, requests, threads=False):
    """Runs argv under callgrind, its counts in out (one file a thread,
    out-N, with threads), calls requests() once it listens on sock, then
    ends it, whatever requests() raised."""
    if os.path.exists(sock):
        os.unlink(sock)
    p = subprocess.Popen(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out] +
                         (["--separate-threads=yes"] if threads else []) + argv,
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         env=ENV, start_new_session=True)
    try:
        if not wait_for(lambda: os.path.exists(sock), 120):
            raise SystemExit("bench: callgrind: no socket for %s" % argv)
        time.sleep(0.5)
        requests()
    finally:
        p.terminate()
        p.wait(120)


def callgrind_totals(path):
    """The instructions a callgrind output file counts in all."""
    with open(path) as f:
        for line in f:
            if line.startswith("totals:") or line.startswith("summary:"):
                return int(line.split()[1])
    raise SystemExit("bench: callgrind: no totals in %s" % path)


def callgrind_total(argv, sock, hosts, n, expect=b"200 OK"):
    outf = os.path.join(OUT, "run", "callgrind.out")

    def requests():
        for i in range(n):
            d = fcgi_get(sock, hosts[i % len(hosts)])
            if expect not in d[:60]:
                raise SystemExit("bench: callgrind: bad answer %r" % d[:80])
    under_callgrind(argv, sock, outf, requests)
    return callgrind_totals(outf)


def callgrind_per_request(argv_for_socket, hosts, n1=200, n2=2200, expect=b"200 OK"):
    sock = os.path.join(OUT, "run", "cg.sock")
    a = callgrind_total(argv_for_socket(sock), sock, hosts, n1, expect)
    b = callgrind_total(argv_for_socket(sock), sock, hosts, n2, expect)
    return (b - a) / (n2 - n1)


def change_to_live(sc, config, tries=5):
    """Time from `mxdelegatectl set` returning to the first answer carrying
    the change, through the web server, while wrk loads the same server."""
    load = subprocess.Popen(["wrk", "-t2", "-c%d" % CONNS, "-d%ds" % (tries * 3 + 5), "-s",
                             os.path.join(HERE, "pick.lua"), "http://127.0.0.1:%d/" % sc.port],
                            env=dict(ENV, BENCH_HOSTS=sc.hosts), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    time.sleep(1)
    out = []
    for i in range(tries):
        url = "https://changed-%d-%d.example" % (os.getpid(), i)
        subprocess.run([CTL, "-c", config, "set", host(2), "--client", url], check=True,
                       stdout=subprocess.DEVNULL)
        t = time.perf_counter()
        while url.encode() not in get(sc.port, host(2))[1]:
            if time.perf_counter() - t > 10:
                break
        out.append((time.perf_counter() - t) * 1000)
        time.sleep(0.5)
    load.terminate()
    load.wait()
    return (statistics.median(out), min(out), max(out))


def nginx_big_map(n):
    """Start-up, worker RSS and reload time of nginx with an n-host map."""
    sc = Scenario("nginx", "map-%d" % n, hosts_file(n, 100000))
    t = time.perf_counter()
    sc.nginx(STATIC_NGINX % {"dir": sc.dir, "port": sc.port, "root": docroot(), "http": map_http(n),
                             "headers": nginx_headers(),
                             "action": 'if ($mxd_client = "") { return 404; }\n\t\t\treturn 200 $mxd_client;'})
    sc.ready(600)
    start = time.perf_counter() - t
    workers = children(sc.server.pid)
    rss = max(rss_kib(w) for w in workers) / 1024
    master_rss = rss_kib(sc.server.pid) / 1024
    t = time.perf_counter()
    os.kill(sc.server.pid, 1)
    wait_for(lambda: any(w not in workers for w in children(sc.server.pid)), 300, 0.01)
    reload_s = time.perf_counter() - t
    return start, rss, master_rss, reload_s


def callgrind_figures(cfg):
    log("bench: callgrind")
    hs = [host(i) for i in range(1, 11)]
    cg_floor = callgrind_per_request(lambda s: [FLOOR, "-t", "1", "-s", s], hs)
    cg_t = callgrind_per_request(lambda s: [MX, "-c", cfg["mx-toml-10"][0], "--listen", "unix:" + s,
                                            "--threads", "1"], hs)
    rnd = random.Random(6)
    hs1m = [host(rnd.randint(1, 1000000)) for _ in range(3000)]
    cg_s = callgrind_per_request(lambda s: [MX, "-c", cfg["mx-sqlite-1m"][0], "--listen", "unix:" + s,
                                            "--threads", "1"], hs1m)
    # The same store and answers, its renderings not used (another
    # fingerprint): the full path, as every miss was before render on write.
    full = sqlite_config(1000000, stale_max_age=31)
    cg_f = callgrind_per_request(lambda s: [MX, "-c", full, "--listen", "unix:" + s,
                                            "--threads", "1"], hs1m)
    # Unknown Hosts, each asked once: a name of 2 labels (its exact key and
    # one wildcard), and one of 127 labels, the most a name has, whose walk
    # [server] wildcard_depth bounds (issue 14).
    def deep(i):
        digits = "0123456789abcdefghijklmnopqrstuvwxyz"
        return ".".join([digits[i // 1296], digits[i // 36 % 36], digits[i % 36]] + ["a"] * 123 + ["b"])
    miss = [("u%06d.bench" % i, deep(i)) for i in range(2200)]
    sq = lambda s: [MX, "-c", cfg["mx-sqlite-1m"][0], "--listen", "unix:" + s, "--threads", "1"]
    cg_u2 = callgrind_per_request(sq, [m[0] for m in miss], expect=b"404 Not Found")
    cg_u127 = callgrind_per_request(sq, [m[1] for m in miss], expect=b"404 Not Found")
    return {"callgrind Ir/request, floor": (cg_floor,) * 3,
            "callgrind Ir/request, mx-toml-10": (cg_t,) * 3,
            "callgrind Ir/request, mx-sqlite-1m (spread, cache misses)": (cg_s,) * 3,
            "callgrind Ir/request, mx-sqlite-1m (spread, cache misses), full path": (cg_f,) * 3,
            "callgrind Ir/request, mx-sqlite-1m unknown Host, 2 labels": (cg_u2,) * 3,
            "callgrind Ir/request, mx-sqlite-1m unknown Host, 127 labels": (cg_u127,) * 3}


# --- main ------------------------------------------------------------------------

def fmt(t, f="%.0f"):
    if t is None:
        return "-"
    return (f + " (" + f + "–" + f + ")") % t


def main():
    os.makedirs(os.path.join(OUT, "run"), exist_ok=True)
    shutil.rmtree(os.path.join(OUT, "run"))
    os.makedirs(os.path.join(OUT, "run"))
    subprocess.run(["cc", "-O2", "-Wall", "-Wextra", "-o", FLOOR, os.path.join(HERE, "floor.c"),
                    "-lfcgi", "-pthread"], check=True)
    h10 = hosts_file(10)
    if ONLY == "callgrind":
        figures = callgrind_figures({"mx-toml-10": (toml_config(10), h10),
                                     "mx-sqlite-1m": (sqlite_config(1000000), None)})
        floor = figures["callgrind Ir/request, floor"][0]
        for k, v in figures.items():
            print("%s: %.0f (%.2f × the floor)" % (k, v[0], v[0] / floor))
        return
    if ONLY == "cgi":
        figures = cgi_figures([("floor", [FLOOR]), ("mx-toml-10", [MX, "-c", toml_config(10)]),
                               ("mx-sqlite-1m", [MX, "-c", sqlite_config(1000000)]),
                               ("mx-toml-10k", [MX, "-c", toml_config(10000)]),
                               ("mx-toml-10k-cache", [MX, "-c", toml_cache_config(10000)])], 100)
        floor_us = figures["CGI request, fresh process, floor, us"][0]
        floor_ir = figures["CGI request, callgrind Ir, floor"][0]
        for k, v in figures.items():
            base = floor_us if k.endswith(", us") else floor_ir
            print("%s: %s (%.2f × the floor)" % (k, fmt(v, "%.1f"), v[0] / base))
        return
    if ONLY not in ("", "follow", "sqlite"):
        raise SystemExit("bench: ONLY=%s: only ONLY=callgrind, cgi, follow and sqlite are known"
                         % ONLY)
    fleet = ONLY == "follow"
    store = ONLY == "sqlite"
    cfg = {"mx-toml-10": (toml_config(10), h10), "mx-sqlite-10": (sqlite_config(10), h10)}
    if not QUICK:
        cfg["mx-toml-10k"] = (toml_config(10000), hosts_file(10000))
        cfg["mx-sqlite-1m"] = (sqlite_config(1000000), hosts_file(1000000, 100000))
    if not QUICK and not store:
        cfg["mx-postgres-1m"] = (postgres_config(1000000), hosts_file(1000000, 100000))
    extra = {}
    if not QUICK and not store:
        follow_cfg, copy = follow_config(1000000)
        log("bench: the follower's full copy of 1,000,000 domains")
        extra["follower: full copy of 1,000,000 domains, start to in step, s"] = \
            (start_follower(follow_cfg, copy),) * 3
        cfg["mx-follow-1m"] = (follow_cfg, hosts_file(1000000, 100000))
    if fleet:
        cfg = {k: cfg[k] for k in ("mx-sqlite-10", "mx-sqlite-1m", "mx-postgres-1m", "mx-follow-1m")}
    if store:
        cfg = {k: cfg[k] for k in ("mx-sqlite-10", "mx-sqlite-1m")}
    maphosts = cfg["mx-toml-10k"][1] if not QUICK and not fleet and not store else h10
    fronts = ["nginx"] if fleet else ["nginx", "lighttpd"] if store else ["nginx", "lighttpd", "nginx-close"]
    scen = []
    for front in fronts:
        scen.append(start_floor(front, h10))
        if store:
            pass
        elif front == "nginx" and not fleet:
            scen.append(start_static_nginx(h10))
            scen.append(start_map_nginx(10 if QUICK else 10000, maphosts))
        elif front == "lighttpd" and not QUICK:
            scen.append(start_static_lighttpd(h10))
        names = ["mx-toml-10", "mx-sqlite-10"] if QUICK else list(cfg)
        if QUICK and front == "lighttpd":
            names = ["mx-toml-10"]
        if front == "nginx-close":
            names = ["mx-toml-10"] if QUICK else ["mx-toml-10", "mx-sqlite-1m", "mx-postgres-1m"]
        for name in names:
            c, hs = cfg[name]
            scen.append(start_mx(front, name, c, hs))
    for sc in scen:
        sc.ready()
    # Same bytes as the floor, so that the comparison is fair.
    floor_len = len(body(host(1)))
    for sc in scen:
        if len(sc.sample) != floor_len:
            raise SystemExit("bench: %s answers %d bytes, the floor %d" % (sc.id, len(sc.sample), floor_len))

    log("bench: %d scenarios, %d rounds, %gs at %d connections and %gs at 1, warm-up %gs"
        % (len(scen), ROUNDS, DUR, CONNS, DUR1, WARM))
    for r in range(ROUNDS):
        log("round %d" % (r + 1))
        for sc in scen:
            # QUICK: a warm-up before the first run of each scenario only.
            run_once(sc, warm=not QUICK or r == 0)

    if not QUICK and not store:
        log("bench: change-to-live through the follower")
        nginx_follow = [s for s in scen if s.id == "nginx/mx-follow-1m"][0]
        extra["change-to-live, write on the primary to the answer on a follower node, ms"] = \
            change_to_live(nginx_follow, cfg["mx-postgres-1m"][0])
    if not QUICK and not fleet and not store:
        log("bench: change-to-live")
        ci = sqlite_config(10, check_interval="1")
        sc_ci = start_mx("nginx", "mx-sqlite-10-ci", ci, h10)
        sc_ci.ready()
        nginx_sqlite10 = [s for s in scen if s.id == "nginx/mx-sqlite-10"][0]
        extra["change-to-live, check_interval 0.02 s (default), ms"] = change_to_live(
            nginx_sqlite10, cfg["mx-sqlite-10"][0])
        extra["change-to-live, check_interval 1 s (before issue 6), ms"] = change_to_live(sc_ci, ci)
    stop_all()
    PROCS.clear()

    if not QUICK and not fleet and not store:
        extra.update(cgi_figures([("floor", [FLOOR]), ("mx-toml-10", [MX, "-c", cfg["mx-toml-10"][0]]),
                                  ("mx-sqlite-1m", [MX, "-c", cfg["mx-sqlite-1m"][0]]),
                                  ("mx-postgres-1m", [MX, "-c", cfg["mx-postgres-1m"][0]]),
                                  ("mx-toml-10k", [MX, "-c", cfg["mx-toml-10k"][0]]),
                                  ("mx-toml-10k-cache", [MX, "-c", toml_cache_config(10000)])], 100))
        extra.update(callgrind_figures(cfg))
        log("bench: nginx with a 1,000,000-host map")
        start, rss, mrss, rel = nginx_big_map(1000000)
        extra["nginx 1M map: start-up to first answer, s"] = (start,) * 3
        extra["nginx 1M map: worker RSS, MiB"] = (rss,) * 3
        extra["nginx 1M map: master RSS, MiB"] = (mrss,) * 3
        extra["nginx 1M map: reload (SIGHUP to new worker), s"] = (rel,) * 3
        stop_all()

    # --- report ---
    print("\n| scenario | req/s @32 | p50 @32 µs | p99 @32 µs | p50 @1 µs | p99 @1 µs | CPU µs/req | RSS MiB |")
    print("|---|---|---|---|---|---|---|---|")
    for sc in scen:
        print("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
            sc.id, fmt(med(sc, "rps")), fmt(med(sc, "p50_32")), fmt(med(sc, "p99_32")),
            fmt(med(sc, "p50_1")), fmt(med(sc, "p99_1")), fmt(med(sc, "cpu_us"), "%.1f"),
            fmt(med(sc, "rss_mib"), "%.1f")))
    print("\nRatios against the floor of the same front end (medians):\n")
    print("| scenario | req/s ÷ floor (≥ 0.97) | CPU ÷ floor (≤ 1.10) | p50 @1 − floor µs (≤ 10) | p99 @1 − floor µs (≤ 10) |")
    print("|---|---|---|---|---|")
    for sc in scen:
        if not sc.name.startswith("mx-"):
            continue
        fl = [s for s in scen if s.front == sc.front and s.name == "floor"][0]
        cpu = med(sc, "cpu_us"), med(fl, "cpu_us")
        print("| %s | %.3f | %s | %+d | %+d |" % (
            sc.id, med(sc, "rps")[0] / med(fl, "rps")[0],
            "%.2f" % (cpu[0][0] / cpu[1][0]) if cpu[0] and cpu[1] else "-",
            med(sc, "p50_1")[0] - med(fl, "p50_1")[0], med(sc, "p99_1")[0] - med(fl, "p99_1")[0]))
    for front in fronts:
        for big in ("mx-sqlite-1m", "mx-postgres-1m", "mx-follow-1m"):
            a = [s for s in scen if s.id == front + "/" + big]
            b = [s for s in scen if s.id == front + "/mx-sqlite-10"]
            if a and b:
                print("\n%s: %s p99 @32 ÷ mx-sqlite-10 p99 @32 = %.2f (≤ 1.10); @1: %.2f" % (
                    front, big, med(a[0], "p99_32")[0] / med(b[0], "p99_32")[0],
                    med(a[0], "p99_1")[0] / med(b[0], "p99_1")[0]))
    # The keep-alive gain: the same responder behind the shipped nginx file
    # and behind the same file closing each FastCGI connection.
    if any(sc.front == "nginx-close" for sc in scen):
        print("\nnginx (keep-alive) ÷ nginx-close, medians:\n")
        print("| scenario | req/s | CPU µs/req | p50 @1 | p99 @32 |\n|---|---|---|---|---|")
    for sc in scen:
        if sc.front != "nginx-close":
            continue
        k = [s for s in scen if s.id == "nginx/" + sc.name][0]
        ratio = lambda what: "%.2f" % (med(k, what)[0] / med(sc, what)[0]) if med(sc, what) else "-"
        print("| %s | %s | %s | %s | %s |" % (sc.name, ratio("rps"), ratio("cpu_us"), ratio("p50_1"),
                                              ratio("p99_32")))
    if extra:
        print("\n| figure | median (min–max) |\n|---|---|")
        for k, v in extra.items():
            print("| %s | %s |" % (k, fmt(v, "%.1f") if v[1] != v[2] else "%.1f" % v[0]))
    if "CGI request, fresh process, floor, us" in extra:
        f = extra["CGI request, fresh process, floor, us"][0]
        for k in ("mx-toml-10", "mx-sqlite-1m", "mx-postgres-1m", "mx-toml-10k", "mx-toml-10k-cache"):
            print("CGI cold start %s ÷ floor = %.2f (≤ 1.2)" % (
                k, extra["CGI request, fresh process, %s, us" % k][0] / f))
        cf = extra["callgrind Ir/request, floor"][0]
        for k in ("mx-toml-10", "mx-sqlite-1m (spread, cache misses)"):
            print("callgrind Ir/request %s ÷ floor = %.2f" % (k, extra["callgrind Ir/request, " + k][0] / cf))


if __name__ == "__main__":
    try:
        main()
    finally:
        stop_all()
