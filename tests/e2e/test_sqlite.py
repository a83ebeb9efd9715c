"""The SQLite store end to end: mxdelegatectl writes, the responder serves,
both built binaries, against real database files."""

import json
import os
import shutil
import sqlite3
import subprocess
import threading
import time

import fcgi
import harness
from harness import BUILD, PLUGINS, Test, wait_for

CTL = os.path.join(BUILD, "mxdelegatectl")
NOBODY = 65534

CONFIG = """\
[backend]
name = "sqlite"
plugin_dir = "%(plugins)s"
path = "%(db)s"
%(extra)s
[server]
check_interval = 0.05
threads = 4
"""

# Exit codes, as mxdelegatectl(8) documents them.
EX_USAGE, EX_DATAERR, EX_NOINPUT, EX_UNAVAILABLE, EX_TEMPFAIL = 64, 65, 66, 69, 75

CLIENT = "/.well-known/matrix/client"
SERVER = "/.well-known/matrix/server"


class Served(harness.Responder):
    """The responder on a socket of its own, optionally as another user."""

    def __init__(self, config, tmp, uid=None):
        sockdir = tmp.file("run")
        os.makedirs(sockdir, exist_ok=True)
        if uid is not None:
            os.chown(sockdir, uid, uid)
        self.socket = os.path.join(sockdir, "mx.sock")
        self.errlog = tmp.file("stderr.log")
        self.err = open(self.errlog, "wb")

        def drop():
            if uid is not None:
                os.setgroups([])
                os.setgid(uid)
                os.setuid(uid)

        self.proc = subprocess.Popen([harness.BIN, "-c", config, "--listen", "unix:" + self.socket],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=self.err, preexec_fn=drop)
        wait_for(lambda: harness._accepts(self.socket) or self.proc.poll() is not None, 10)
        if self.proc.poll() is not None:
            raise AssertionError("mxdelegate exited %s: %s" % (self.proc.returncode, self.stderr()))


class Store(Test):
    """A configuration of the sqlite backend and the tool to manage it."""

    db_name = "domains.db"
    extra = ""

    def setup(self):
        self.db = self.tmp.file(self.db_name)
        self.cfg = self.tmp.write("mxdelegate.toml", CONFIG % {
            "plugins": PLUGINS, "db": self.db, "extra": self.extra})
        self.mx = None

    def teardown(self):
        if self.mx:
            log = self.mx.stderr()
            self.eq(self.mx.stop(), 0, log)

    def ctl(self, *args, cfg=None, stdin=None):
        return subprocess.run([CTL, "-c", cfg or self.cfg, *args], input=stdin,
                              capture_output=True, text=True, timeout=120)

    def ok(self, *args, **kw):
        r = self.ctl(*args, **kw)
        if r.returncode != 0:
            raise AssertionError("mxdelegatectl %s: exit %d: %s" % (" ".join(args), r.returncode, r.stderr))
        return r.stdout

    def serve(self, uid=None):
        self.mx = Served(self.cfg, self.tmp, uid)
        return self.mx

    def status(self, host, uri=CLIENT):
        r = self.mx.get(uri, host=host)
        return r.status if r else None

    def becomes(self, host, status, uri=CLIENT, timeout=5):
        return wait_for(lambda: self.status(host, uri) == status, timeout)

    def raw(self):
        return sqlite3.connect(self.db, isolation_level=None, check_same_thread=False)

    def fresh_config(self):
        """A configuration of a second, empty store of the same backend."""
        return self.tmp.write("fresh.toml", CONFIG % {
            "plugins": PLUGINS, "db": self.tmp.file("fresh.db"), "extra": ""})


class Live(Store):
    def test_add_set_remove_are_served_without_restart(self):
        self.ok("init")
        self.serve()
        self.eq(self.status("example.org"), 404)
        self.ok("add", "example.org", "--client", "https://matrix.example.org",
                "--server", "matrix.example.org:443")
        # The responder checks every 0.05 s here: the next request after
        # that sees the new domain.
        time.sleep(0.3)
        r = self.mx.get(CLIENT, host="example.org")
        self.eq(r.status, 200)
        self.eq(r.json(), {"m.homeserver": {"base_url": "https://matrix.example.org"}})
        self.eq(self.mx.get(SERVER, host="Example.ORG:443").json(), {"m.server": "matrix.example.org:443"})

        self.ok("set", "example.org", "--client", "https://new.example.org")
        time.sleep(0.3)
        self.eq(self.mx.get(CLIENT, host="example.org").json(),
                {"m.homeserver": {"base_url": "https://new.example.org"}})

        self.ok("remove", "example.org")
        time.sleep(0.3)
        r = self.mx.get(CLIENT, host="example.org")
        self.eq(r.status, 404)
        self.eq(r.json()["errcode"], "M_NOT_FOUND")

    def test_max_age_and_policy_server_key_are_served(self):
        key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"
        policy = "/.well-known/matrix/policy_server"
        self.ok("init")
        self.ok("add", "example.org", "--server", "matrix.example.org", "--max-age", "3600",
                "--policy-server-key", key)
        self.eq(json.loads(self.ok("show", "example.org")),
                {"domain": "example.org", "server": "matrix.example.org", "max_age": 3600,
                 "policy_server": {"ed25519": key}})
        self.serve()
        r = self.mx.get(policy, host="example.org")
        self.eq(r.status, 200)
        self.eq(r.json(), {"public_keys": {"ed25519": key}})
        self.eq(r.header("Cache-Control"), "public, max-age=3600")
        self.eq(self.mx.get(SERVER, host="example.org").header("Cache-Control"), "public, max-age=3600")

        self.ok("set", "example.org", "--max-age", "60")
        self.true(wait_for(lambda: self.mx.get(SERVER, host="example.org").header("Cache-Control")
                           == "public, max-age=60", 5), "--max-age 60 is not served")
        self.ok("set", "example.org", "--unset", "max_age", "--unset", "policy-server-key")
        self.true(wait_for(lambda: self.status("example.org", policy) == 404, 5),
                  "--unset policy-server-key still serves a key")
        # Each document is cached apart: /server's answer of max-age 60 is
        # dropped when the responder notices the change, which a lookup of
        # the policy document may have read from the store first.
        self.true(wait_for(lambda: self.mx.get(SERVER, host="example.org").header("Cache-Control")
                           == "public, max-age=14400", 5), "--unset max_age is not served")
        self.eq(self.ok("show", "example.org"), '{"domain":"example.org","server":"matrix.example.org"}\n')

    def test_unicode_and_wildcard_domains(self):
        self.ok("init")
        self.ok("add", "Bücher.Example", "--server", "matrix.example.org")
        self.ok("add", "*.hosted.example", "--server", "matrix.hosted.example")
        self.eq(self.ok("list"), "*.hosted.example\nxn--bcher-kva.example\n")
        self.serve()
        self.eq(self.mx.get(SERVER, host="xn--bcher-kva.example").json(), {"m.server": "matrix.example.org"})
        self.eq(self.mx.get(SERVER, host="a.hosted.example").json(), {"m.server": "matrix.hosted.example"})

    def test_query_prints_the_responders_answer_byte_for_byte(self):
        self.ok("init")
        self.ok("add", "example.org", "--client", "https://matrix.example.org",
                "--support-page", "https://example.org/help", "--contact", "role=admin,email=a@example.org")
        self.serve()
        for doc in ("client", "support", "server"):
            r = subprocess.run([CTL, "-c", self.cfg, "query", "example.org", doc], capture_output=True)
            self.eq(r.stdout, self.mx.get("/.well-known/matrix/" + doc, host="example.org").raw)
            self.eq(r.returncode, 0 if doc != "server" else 1)
        r = subprocess.run([CTL, "-c", self.cfg, "query", "nowhere.example", "client"], capture_output=True)
        self.eq(r.returncode, 1)
        self.eq(r.stdout, self.mx.get(CLIENT, host="nowhere.example").raw)

    def test_writes_while_hammered_give_no_error_answers(self):
        self.ok("init")
        self.ok("add", "stable.example", "--server", "m.stable.example")
        self.serve()
        stop = threading.Event()
        seen = {}
        lock = threading.Lock()

        def hammer(host):
            while not stop.is_set():
                r = self.mx.get(SERVER, host=host)
                code = r.status if r else None
                with lock:
                    seen[code] = seen.get(code, 0) + 1

        threads = [threading.Thread(target=hammer, args=(h,))
                   for h in ("stable.example", "flip.example", "bulk1.example", "none.example")]
        for t in threads:
            t.start()
        try:
            for i in range(15):
                self.ok("add", "flip.example", "--server", "m%d.flip.example" % i)
                self.ok("set", "stable.example", "--note", "round %d" % i)
                self.ok("remove", "flip.example")
            bulk = "".join(json.dumps({"domain": "bulk%d.example" % i, "server": "m.bulk.example"}) + "\n"
                           for i in range(5000))
            for _ in range(3):
                self.ok("import", "-", stdin=bulk)
                self.ok("import", "--replace", "-",
                        stdin=json.dumps({"domain": "stable.example", "server": "m.stable.example"}) + "\n")
        finally:
            stop.set()
            for t in threads:
                t.join()
        self.true(set(seen) <= {200, 404}, "answers: %r\n%s" % (seen, self.mx.stderr()))
        self.true(seen.get(200, 0) > 50, "too few answers: %r" % seen)


class Locks(Store):
    """SQLite alone: the readers' shared locks and a writer's commit."""

    def test_readers_let_go_of_their_lock_for_a_writer(self):
        # Under load (lookups less than 1 ms apart) each reader keeps one
        # read transaction for 10 ms of lookups; a writer's commit waits
        # for them to end, and once the lookups stop, the sweeper ends the
        # idle readers' within 10 ms.
        self.ok("init")
        self.ok("add", "stable.example", "--server", "m.stable.example")
        self.serve()
        stop = threading.Event()
        answers = []

        def hammer(n):
            i = 0
            while not stop.is_set():
                # A new name each time: every request reads the store.
                r = self.mx.get(SERVER, host="h%d-%d.example" % (n, i))
                answers.append(r.status if r else None)
                i += 1

        threads = [threading.Thread(target=hammer, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        try:
            # The readers are busy before the first commit, and stay so
            # after the last.
            self.true(wait_for(lambda: len(answers) >= 50, 10), "no answers: %r" % answers[:5])
            for i in range(10):
                # Half a second to wait for the readers, where a held lock
                # nobody let go of would make it wait for ever.
                db = sqlite3.connect(self.db, timeout=0.5, isolation_level=None)
                try:
                    db.execute("BEGIN IMMEDIATE")
                    db.execute("UPDATE domains SET note = ? WHERE domain = 'stable.example'",
                               ("round %d" % i,))
                    db.execute("COMMIT")
                finally:
                    db.close()
            during = len(answers)
            self.true(wait_for(lambda: len(answers) >= during + 50, 10), "answers stopped")
        finally:
            stop.set()
            for t in threads:
                t.join()
        self.eq(set(answers), {404})
        # Idle now: 50 ms is five sweeps, and no lookup runs.
        time.sleep(0.2)
        db = sqlite3.connect(self.db, timeout=0.05, isolation_level=None)
        try:
            db.execute("BEGIN EXCLUSIVE")
            db.execute("ROLLBACK")
        finally:
            db.close()
        self.eq(self.ok("show", "stable.example"),
                '{"domain":"stable.example","note":"round 9","server":"m.stable.example"}\n')


class Redirects(Store):
    """Each redirect status through the responder, written with the tool:
    GET, HEAD, OPTIONS and If-None-Match, as a web server passes them."""

    def test_each_status_with_get_head_options_and_if_none_match(self):
        self.ok("init")
        self.ok("add", "moved.example", "--redirect", "https://matrix.other.example/", "--max-age", "120")
        self.ok("add", "half.example", "--server", "matrix.half.example",
                "--redirect-client", "https://other.example/c.json?v=1")
        self.serve()
        half = self.mx.get(CLIENT, host="half.example")
        self.eq(half.status, 302)
        self.eq(half.header("Location"), "https://other.example/c.json?v=1")
        self.eq(self.mx.get(SERVER, host="half.example").json(), {"m.server": "matrix.half.example"})
        for status in (None, "301", "302", "307", "308"):
            if status:
                self.ok("set", "moved.example", "--redirect-status", status)
            want = int(status or 302)
            self.true(wait_for(lambda: self.status("moved.example") == want, 5), "%s not served" % status)
            for doc in ("client", "server", "support", "policy_server"):
                uri = "/.well-known/matrix/" + doc
                where = "https://matrix.other.example" + uri
                g = self.mx.get(uri, host="Moved.Example:443")
                self.eq(g.status, want)
                self.eq(g.header("Location"), where)
                self.eq(g.header("Access-Control-Allow-Origin"), "*")
                self.eq(g.header("Access-Control-Allow-Headers"), "X-Requested-With, Content-Type, Authorization")
                self.eq(g.header("Cache-Control"), "public, max-age=120")
                self.eq(g.json(), {"location": where})
                h = self.mx.get(uri, host="moved.example", method="HEAD")
                self.eq(h.status, want)
                self.eq(h.header("Location"), where)
                self.eq(h.header("Content-Length"), str(len(g.body)))
                self.eq(h.body, b"")
                c = self.mx.get(uri, host="moved.example", HTTP_IF_NONE_MATCH=g.header("ETag"))
                self.eq(c.status, 304)
                self.eq(c.header("ETag"), g.header("ETag"))
                self.eq(c.header("Cache-Control"), "public, max-age=120")
                self.eq(c.body, b"")
                self.eq(self.mx.get(uri, host="moved.example", HTTP_IF_NONE_MATCH='"other"').status, want)
                o = self.mx.get(uri, host="moved.example", method="OPTIONS")
                self.eq(o.status, 204)
                self.eq(o.header("Access-Control-Allow-Methods"), "GET, POST, PUT, DELETE, OPTIONS")
        # query prints the redirect as the responder serves it.
        r = subprocess.run([CTL, "-c", self.cfg, "query", "moved.example", "client"], capture_output=True)
        self.eq(r.stdout, self.mx.get(CLIENT, host="moved.example").raw)
        self.eq(r.returncode, 0)
        self.eq(json.loads(self.ok("show", "moved.example")),
                {"domain": "moved.example", "redirect": "https://matrix.other.example/",
                 "redirect_status": 308, "max_age": 120})
        self.ok("set", "moved.example", "--unset", "redirect", "--unset", "redirect_status",
                "--client", "https://matrix.moved.example")
        self.true(self.becomes("moved.example", 200), "--unset redirect still redirects")
        self.ok("set", "half.example", "--unset", "redirect-client")
        self.eq(json.loads(self.ok("show", "half.example")),
                {"domain": "half.example", "server": "matrix.half.example"})

    def test_refusals_name_the_domain_and_field(self):
        self.ok("init")
        cases = [
            (["add", "a.example", "--redirect", "http://matrix.other.example"],
             "a.example: redirect: \"http://matrix.other.example\" is not an https URL"),
            (["add", "a.example", "--redirect", "https://a.example"],
             "a.example: redirect: \"https://a.example\" redirects /.well-known/matrix/server of "
             "a.example to itself, a loop"),
            (["add", "a.example", "--redirect", "https://b.example", "--server", "m.a.example"],
             "a.example: server: feeds /.well-known/matrix/server, which redirect sends elsewhere; "
             "remove one of them"),
            (["add", "a.example", "--redirect", "https://b.example", "--redirect-status", "303"],
             "a.example: redirect_status: must be 301, 302, 307 or 308 (default 302)"),
            (["add", "a.example", "--redirect-client", "https://b.example/c#x"],
             "a.example: redirect.client: \"https://b.example/c#x\" has a fragment (#...)"),
        ]
        for args, message in cases:
            r = self.ctl(*args)
            self.eq(r.returncode, EX_DATAERR, r.stderr)
            self.contains(r.stderr, message)
        self.eq(self.ok("list"), "")


class Unprivileged(Store):
    def setup(self):
        Store.setup(self)
        # A root-owned folder and database that nobody may only read.
        os.chmod(self.tmp.path, 0o755)
        os.chmod(self.cfg, 0o644)

    def test_nobody_serves_a_root_owned_database_and_sees_changes(self):
        old = os.umask(0o077)
        try:
            self.ok("init")
            self.ok("add", "example.org", "--server", "matrix.example.org")
        finally:
            os.umask(old)
        st = os.stat(self.db)
        self.eq((st.st_uid, st.st_mode & 0o777), (0, 0o644))
        self.serve(uid=NOBODY)
        self.eq(os.stat("/proc/%d" % self.mx.proc.pid).st_uid, NOBODY)
        self.eq(self.mx.get(SERVER, host="example.org").json(), {"m.server": "matrix.example.org"})
        self.ok("add", "new.example", "--server", "matrix.new.example")
        self.true(self.becomes("new.example", 200, SERVER), self.mx.stderr())
        self.ok("remove", "example.org")
        self.true(self.becomes("example.org", 404, SERVER), self.mx.stderr())
        # The reader left nothing behind: no journal, no -wal, no -shm.
        self.eq(sorted(os.listdir(self.tmp.path)),
                ["domains.db", "mxdelegate.toml", "run", "stderr.log"])
        self.true("error" not in self.mx.stderr(), self.mx.stderr())


class Broken(Store):
    def no_store_503(self, host):
        r = self.mx.get(CLIENT, host=host)
        self.eq(r.status, 503, r.raw)
        self.eq(r.header("Cache-Control"), "no-store")
        self.eq(r.json()["errcode"], "M_UNAVAILABLE")
        return r

    def noticed(self):
        """Waits until the responder's generation check has seen the fault:
        before that, a host asked for is looked up in what readers still
        see, and cached."""
        self.true(wait_for(lambda: "until it is fixed" in self.mx.stderr(), 5), self.mx.stderr())

    def stale_200(self, host, body):
        """A host answered before the fault: its cached answer, with the
        short lifetime of [http] stale_max_age (30 s by default)."""
        r = self.mx.get(CLIENT, host=host)
        self.eq(r.status, 200, r.raw)
        self.eq(r.header("Cache-Control"), "public, max-age=30")
        self.eq(r.body, body)
        return r

    def test_missing_database_is_503_until_created(self):
        self.serve()
        for _ in range(20):
            self.no_store_503("example.org")
        # One log line a second at most.
        lines = [l for l in self.mx.stderr().splitlines() if "answering 503" in l]
        self.true(1 <= len(lines) <= 2, self.mx.stderr())
        self.contains(lines[0], self.db + ": No such file or directory")
        self.ok("init")
        self.ok("add", "example.org", "--client", "https://matrix.example.org")
        self.true(self.becomes("example.org", 200), self.mx.stderr())

    def test_garbage_in_the_file_is_503_until_restored(self):
        self.ok("init")
        self.ok("add", "example.org", "--client", "https://matrix.example.org")
        self.ok("add", "uncached.example", "--client", "https://matrix.example.org")
        shutil.copy(self.db, self.tmp.file("good.db"))
        self.serve()
        good = self.mx.get(CLIENT, host="example.org").body
        with open(self.tmp.file("bad.db"), "wb") as f:
            f.write(os.urandom(3) + b"garbage" * 2000)
        os.rename(self.tmp.file("bad.db"), self.db)
        self.noticed()
        self.no_store_503("uncached.example")
        self.stale_200("example.org", good)
        self.contains(self.mx.stderr(), "not an SQLite database")
        shutil.copy(self.tmp.file("good.db"), self.tmp.file("again.db"))
        os.rename(self.tmp.file("again.db"), self.db)
        self.true(self.becomes("uncached.example", 200), self.mx.stderr())
        self.eq(self.mx.get(CLIENT, host="example.org").header("Cache-Control"),
                "public, max-age=14400")
        self.eq(self.mx.proc.poll(), None)

    def test_garbage_written_in_place(self):
        self.ok("init")
        self.ok("add", "example.org", "--client", "https://matrix.example.org")
        self.ok("add", "uncached.example", "--client", "https://matrix.example.org")
        with open(self.db, "rb") as f:
            good = f.read()
        self.serve()
        body = self.mx.get(CLIENT, host="example.org").body
        with open(self.db, "r+b") as f:
            f.write(b"\xff" * len(good))
        self.noticed()
        self.no_store_503("uncached.example")
        self.stale_200("example.org", body)
        with open(self.db, "r+b") as f:
            f.write(good)
        self.true(self.becomes("uncached.example", 200), self.mx.stderr())

    def test_wrong_schema_version_is_503_with_the_tool_named(self):
        self.ok("init")
        self.ok("add", "example.org", "--client", "https://matrix.example.org")
        self.ok("add", "uncached.example", "--client", "https://matrix.example.org")
        self.serve()
        body = self.mx.get(CLIENT, host="example.org").body
        with self.raw() as db:
            db.execute("PRAGMA user_version = 5")
        self.noticed()
        self.no_store_503("uncached.example")
        self.stale_200("example.org", body)
        self.contains(self.mx.stderr(), "schema version 5 is newer than this mxdelegate knows (3)")
        with self.raw() as db:
            db.execute("PRAGMA user_version = 0")
        self.true(wait_for(lambda: "run \"mxdelegatectl init\"" in self.mx.stderr(), 5), self.mx.stderr())
        self.no_store_503("uncached.example")
        with self.raw() as db:
            db.execute("PRAGMA user_version = 1")
        self.true(self.becomes("uncached.example", 200), self.mx.stderr())

    def test_a_lock_held_briefly_delays_held_long_is_503_then_passes(self):
        self.ok("init")
        for d in ("a.example", "b.example", "c.example"):
            self.ok("add", d, "--client", "https://m.example.org")
        self.serve()
        self.eq(self.status("a.example"), 200)
        db = self.raw()
        # Held for half a second: a delay, no error.
        db.execute("BEGIN EXCLUSIVE")
        threading.Timer(0.5, db.execute, ["ROLLBACK"]).start()
        t0 = time.monotonic()
        self.eq(self.status("b.example"), 200)
        self.true(time.monotonic() - t0 >= 0.3, "the lock did not delay the lookup")
        # Held past busy_timeout (2 s, cut to [backend] timeout, 1 s): 503,
        # no-store; then service again.
        time.sleep(0.2)
        db.execute("BEGIN EXCLUSIVE")
        try:
            self.no_store_503("c.example")
            self.eq(self.status("a.example"), 200)  # cached before the lock
        finally:
            db.execute("ROLLBACK")
            db.close()
        self.eq(self.status("c.example"), 200)
        self.contains(self.mx.stderr(), "stayed locked by a writer for more than 1000 ms")


class Invalid(Store):
    """Every command with bad input: the documented code, a message naming
    the domain and field, and nothing written."""

    def setup(self):
        super().setup()
        self.ok("init")
        self.ok("add", "example.org", "--client", "https://matrix.example.org", "--note", "n")
        self.before = self.snapshot()

    def snapshot(self):
        with open(self.db, "rb") as f:
            return f.read()

    def fails(self, code, args, message, stdin=None, cfg=None):
        r = self.ctl(*args, stdin=stdin, cfg=cfg)
        self.eq(r.returncode, code, "%r: %s" % (args, r.stderr))
        self.contains(r.stderr, message)
        self.eq(r.stdout, "")
        self.true(self.snapshot() == self.before, "%r wrote to the database" % (args,))

    def test_add(self):
        self.fails(EX_DATAERR, ["add", "bad..example", "--server", "m.example.org"],
                   "mxdelegatectl: add: bad..example: domain: ")
        self.fails(EX_DATAERR, ["add", "new.example", "--client", "htp://x"],
                   "mxdelegatectl: add: new.example: client: \"htp://x\" is not an http or https URL")
        self.fails(EX_DATAERR, ["add", "new.example", "--server", "m.example.org:70000"],
                   "mxdelegatectl: add: new.example: server: ")
        self.fails(EX_DATAERR, ["add", "new.example", "--extra", "org.example.x={nope"],
                   "mxdelegatectl: add: --extra org.example.x: the value is not JSON")
        self.fails(EX_DATAERR, ["add", "new.example", "--extra", "nodots={}"],
                   "new.example: client_extra.nodots: not a namespaced key")
        self.fails(EX_USAGE, ["add", "new.example", "--colour", "red"], "add: unknown option --colour")
        self.fails(EX_USAGE, ["add", "new.example"], "add: no field given")
        self.fails(EX_USAGE, ["add", "new.example", "--contact", "phone=1"], "--contact: unknown key \"phone\"")
        self.fails(EX_DATAERR, ["add", "example.org", "--server", "m.example.org"],
                   "add: example.org: already exists; \"set\" changes it")
        self.fails(EX_DATAERR, ["add", "Example.ORG", "--server", "m.example.org"], "example.org: already exists")

    def test_set(self):
        self.fails(EX_DATAERR, ["set", "nowhere.example", "--server", "m.example.org"],
                   "set: nowhere.example: no such domain")
        self.fails(EX_DATAERR, ["set", "example.org", "--client", "https://x.example/?q"],
                   "set: example.org: client: \"https://x.example/?q\" has a query")
        self.fails(EX_DATAERR, ["set", "example.org", "--contact", "role=nope"],
                   "set: example.org: support.contacts[0].role: \"nope\" is not a role")

    def test_set_unknown_field_and_bad_json(self):
        self.fails(EX_USAGE, ["set", "example.org", "--unset", "colour"], "--unset: unknown field \"colour\"")
        self.fails(EX_DATAERR, ["set", "example.org", "--extra", "org.example.x=[1,"],
                   "--extra org.example.x: the value is not JSON")
        self.fails(EX_USAGE, ["set", "example.org", "--bogus"], "set: unknown option --bogus")

    def test_max_age_and_policy_server_key_are_validated(self):
        self.fails(EX_DATAERR, ["set", "example.org", "--max-age", "604801"],
                   "mxdelegatectl: set: example.org: max_age: must be a whole number of seconds "
                   "from 0 to 604800 (7 days)")
        self.fails(EX_DATAERR, ["add", "new.example", "--max-age", "-1"],
                   "new.example: max_age: must be a whole number of seconds from 0 to 604800")
        self.fails(EX_DATAERR, ["set", "example.org", "--max-age", "1h"],
                   "mxdelegatectl: set: --max-age: \"1h\" is not a whole number")
        self.fails(EX_DATAERR, ["set", "example.org", "--policy-server-key", "AAAA="],
                   "set: example.org: policy_server.ed25519: \"AAAA=\" has padding (=); "
                   "the key is unpadded base64")
        self.fails(EX_USAGE, ["add", "new.example", "--max-age"], "add: --max-age needs a value")

    def test_remove_show_list_export_query(self):
        self.fails(EX_DATAERR, ["remove", "example.org", "nowhere.example"],
                   "remove: nowhere.example: no such domain; nothing was removed")
        self.fails(EX_DATAERR, ["remove", "bad..example"], "remove: bad..example: domain: ")
        self.fails(EX_USAGE, ["remove"], "remove: takes arguments DOMAIN..., got 0")
        self.fails(EX_DATAERR, ["show", "nowhere.example"], "show: nowhere.example: no such domain")
        self.fails(EX_DATAERR, ["show", "--", "-x-.example"], "show: -x-.example: domain: ")
        self.fails(EX_USAGE, ["list", "--long"], "list: unknown option --long")
        self.fails(EX_USAGE, ["export", "--format", "xml"], "export: --format xml: use toml or jsonl")
        self.fails(EX_USAGE, ["query", "example.org", "everything"], "unknown document \"everything\"")
        self.fails(EX_DATAERR, ["query", "*.example.org", "client"], "query: *.example.org: domain: ")
        self.fails(EX_USAGE, ["frobnicate"], "unknown command \"frobnicate\"")
        self.fails(EX_USAGE, [], "no command given")

    def test_import(self):
        self.fails(EX_NOINPUT, ["import", self.tmp.file("none.jsonl")], "none.jsonl: No such file or directory")
        bad = self.tmp.write("bad.jsonl",
                             '{"domain":"ok.example","server":"m.example.org"}\n'
                             '{"domain":"b.example","client":"nope"}\n'
                             '{"domain":"c.example",\n')
        self.fails(EX_DATAERR, ["import", bad], "bad.jsonl:2: b.example: client: \"nope\"")
        self.fails(EX_DATAERR, ["import", bad], "bad.jsonl:3:")
        self.fails(EX_DATAERR, ["import", "--dry-run", bad], "2 problems; nothing was imported")
        bad_toml = self.tmp.write("bad.toml", '[domains."ok.example"]\nserver = "m.example.org"\n'
                                              '[domains."b.example"]\nsupport = {}\n')
        self.fails(EX_DATAERR, ["import", bad_toml], "bad.toml:4:11: b.example: support: needs contacts")
        self.fails(EX_USAGE, ["import", "--merge", bad], "import: unknown option --merge")
        good = self.tmp.write("good.jsonl", '{"domain":"ok.example","server":"m.example.org"}\n')
        r = self.ctl("import", "--dry-run", good)
        self.eq((r.returncode, r.stdout), (0, "import: %s: 1 records, all valid; dry run, nothing written\n" % good))
        self.true(self.snapshot() == self.before)

    def test_missing_database_read_only_backend_and_lock(self):
        missing = self.tmp.write("missing.toml", CONFIG % {
            "plugins": PLUGINS, "db": self.tmp.file("none.db"), "extra": ""})
        self.fails(EX_NOINPUT, ["add", "a.example", "--server", "m.example.org"],
                   "none.db: No such file or directory; \"mxdelegatectl init\" creates it", cfg=missing)
        self.fails(EX_NOINPUT, ["list"], "none.db: No such file or directory", cfg=missing)
        self.false_file(self.tmp.file("none.db"))
        toml = harness.example_config(self.tmp, name="toml.toml")
        self.fails(EX_UNAVAILABLE, ["add", "a.example", "--server", "m.example.org"],
                   "backend \"toml\" (%s/toml.so) is read-only" % PLUGINS, cfg=toml)
        self.fails(EX_UNAVAILABLE, ["init"], "is read-only", cfg=toml)
        # Read-only, but it lists (ABI 1.3, its records all in memory).
        self.contains(self.ok("export", cfg=toml), '[domains."example.org"]\nserver = "matrix.example.org:443"\n')
        quick = self.tmp.write("quick.toml", CONFIG % {
            "plugins": PLUGINS, "db": self.db, "extra": "busy_timeout = 200"})
        db = self.raw()
        db.execute("BEGIN EXCLUSIVE")
        try:
            self.fails(EX_TEMPFAIL, ["add", "a.example", "--server", "m.example.org"],
                       "the database stayed locked by a writer for more than 200 ms", cfg=quick)
        finally:
            db.execute("ROLLBACK")
            db.close()

    def false_file(self, path):
        self.true(not os.path.exists(path), "%s was created" % path)

    def test_check_names_domain_and_field(self):
        r = self.ctl("check")
        self.eq((r.returncode, r.stdout), (0, "check: 1 domain, no problems\n"))
        # A row written behind the tool's back.
        with self.raw() as db:
            db.execute("INSERT INTO domains (domain, client, created, updated) "
                       "VALUES ('hand.example', 'ftp://x', 'x', 'x')")
        r = self.ctl("check")
        self.eq(r.returncode, 1)
        self.contains(r.stderr, "mxdelegatectl: check: hand.example: client: \"ftp://x\" is not an http")
        self.eq(r.stdout, "check: 2 domains, 1 with problems\n")
        bad = self.tmp.write("bad.toml", "[backend]\nname = \"sqlite\"\ncolour = 1\n")
        r = self.ctl("check", cfg=bad)
        self.eq(r.returncode, 1)


class RoundTrip(Store):
    RECORDS = [
        {"domain": "example.org", "server": "matrix.example.org:443", "client": "https://matrix.example.org",
         "client_extra": {"m.identity_server": {"base_url": "https://id.example.org"},
                          "org.matrix.msc4143.rtc_foci": [{"type": "livekit", "livekit_service_url": "https://rtc.example.org"}],
                          "org.example.numbers": {"float": 2.5, "int": -3, "big": 1e100, "yes": True}},
         "support": {"contacts": [{"role": "m.role.admin", "matrix_id": "@a:example.org", "email_address": "a@example.org"}],
                     "support_page": "https://example.org/help"},
         "policy_server": {"ed25519": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
         "max_age": 600, "note": "customer \"42\"\ttab, ünïcödé"},
        {"domain": "*.hosted.example", "server": "matrix.{domain}:443"},
        {"domain": "xn--bcher-kva.example", "client": "https://b.example"},
        {"domain": "empty.example"},
        {"domain": "moved.example", "redirect": "https://matrix.other.example", "redirect_status": 308,
         "max_age": 60},
        {"domain": "half.example", "server": "m.half.example",
         "redirect": {"client": "https://other.example/.well-known/matrix/client"}},
    ]

    def round_trip(self, fmt):
        self.ok("init")
        src = self.tmp.write("src.jsonl", "".join(json.dumps(r) + "\n" for r in self.RECORDS))
        self.ok("import", src)
        first = self.ok("export", "--format", fmt)
        out = self.tmp.write("out." + fmt, first)
        fresh = self.fresh_config()
        self.ok("init", cfg=fresh)
        self.eq(self.ok("import", out, cfg=fresh), "import: %s: 6 added, 0 replaced, 0 removed\n" % out)
        self.eq(self.ok("export", "--format", fmt, cfg=fresh), first)
        # And through the other format as well.
        other = "jsonl" if fmt == "toml" else "toml"
        self.eq(self.ok("export", "--format", other, cfg=fresh), self.ok("export", "--format", other))
        return first

    def test_toml(self):
        text = self.round_trip("toml")
        self.contains(text, '[domains."*.hosted.example"]\nserver = "matrix.{domain}:443"\n')
        self.contains(text, '[domains."moved.example"]\nmax_age = 60\nredirect = "https://matrix.other.example"\n'
                            'redirect_status = 308\n')

    def test_jsonl(self):
        text = self.round_trip("jsonl")
        self.eq([json.loads(l)["domain"] for l in text.splitlines()],
                ["*.hosted.example", "empty.example", "example.org", "half.example", "moved.example",
                 "xn--bcher-kva.example"])
        self.eq(self.ok("show", "example.org").strip(), text.splitlines()[2])
        self.eq(self.ok("list", "--json", "--match", "ex*"), text.splitlines()[2] + "\n")

    def test_a_toml_backend_configuration_imports_and_serves_the_same(self):
        toml_cfg = harness.example_config(self.tmp, name="toml.toml")
        self.ok("init")
        self.eq(self.ok("import", toml_cfg), "import: %s: 2 added, 0 replaced, 0 removed\n" % toml_cfg)
        for host in ("example.org", "example.net"):
            for doc in ("client", "support", "server"):
                a = subprocess.run([CTL, "-c", toml_cfg, "query", host, doc], capture_output=True).stdout
                b = subprocess.run([CTL, "-c", self.cfg, "query", host, doc], capture_output=True).stdout
                self.eq(a.replace(b"3600", b"14400").replace(b"120", b"300"), b)

    def test_replace_removes_the_rest(self):
        self.ok("init")
        self.ok("add", "old.example", "--server", "m.example.org")
        self.ok("add", "kept.example", "--server", "m.example.org")
        src = self.tmp.write("src.jsonl", '{"domain":"kept.example","server":"m2.example.org"}\n'
                                          '{"domain":"new.example","server":"m.example.org"}\n')
        self.eq(self.ok("import", "--replace", src), "import: %s: 1 added, 1 replaced, 1 removed\n" % src)
        self.eq(self.ok("list"), "kept.example\nnew.example\n")


class Scale(Store):
    def test_import_100k_domains_and_serve_one(self):
        n = 100000
        src = self.tmp.file("big.jsonl")
        with open(src, "w") as f:
            for i in range(n):
                f.write('{"domain":"d%06d.example.net","server":"matrix.d%06d.example.net:443",'
                        '"client":"https://matrix.d%06d.example.net","note":"customer %d"}\n' % (i, i, i, i))
        self.ok("init")
        self.serve()
        t0 = time.monotonic()
        out = self.ok("import", src)
        took = time.monotonic() - t0
        print("     import of %d domains: %.2f s" % (n, took))
        self.eq(out, "import: %s: %d added, 0 replaced, 0 removed\n" % (src, n))
        self.true(took < 20, "import took %.1f s" % took)
        self.true(self.becomes("d054321.example.net", 200, SERVER), self.mx.stderr())
        self.eq(self.mx.get(SERVER, host="d054321.example.net").json(),
                {"m.server": "matrix.d054321.example.net:443"})
        r = self.ctl("check")
        self.eq((r.returncode, r.stdout), (0, "check: %d domains, no problems\n" % n))
