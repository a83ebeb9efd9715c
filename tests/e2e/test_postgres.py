"""The PostgreSQL store end to end, on a real server of the tests' own
(pgserver.py): the SQLite store's backend-independent suites (test_sqlite's
Live, Invalid, RoundTrip and Scale) run again on it, and then what only a
networked store has: several responders on one database, the server going
away under load and coming back, two hosts, passwords."""

import json
import os
import re
import subprocess
import threading
import time

import harness
import pgserver
import test_faults as tf
import test_sqlite as sq
from harness import PLUGINS, Test, wait_for

CONFIG = """\
[backend]
name = "postgres"
plugin_dir = "%(plugins)s"
conninfo = %(conninfo)s

[server]
%(interval)sthreads = 4
"""

CLIENT, SERVER = sq.CLIENT, sq.SERVER


def max_age(r):
    """The max-age of an answer's Cache-Control, or None."""
    for part in (r.header("Cache-Control") or "").split(","):
        part = part.strip()
        if part.startswith("max-age="):
            return int(part[len("max-age="):])
    return None


class PgStore(sq.Store):
    """sq.Store's helpers on a database of its own on the shared server.
    Listed after the suite class (class X(sq.Suite, PgStore)), so that the
    suite's own setup runs and reaches this one through super()."""

    def setup(self):
        self.pg = pgserver.Server.shared()
        self.dbname = self.pg.new_database()
        self.cfg = self.config("mxdelegate.toml", self.pg.conninfo(self.dbname))
        self.mx = None

    def config(self, name, conninfo, interval="0.05"):
        """interval=None: the default check_interval."""
        return self.tmp.write(name, CONFIG % {
            "plugins": PLUGINS, "conninfo": json.dumps(conninfo),
            "interval": "" if interval is None else "check_interval = %s\n" % interval})

    def fresh_config(self):
        return self.config("fresh.toml", self.pg.conninfo(self.pg.new_database()))

    def sql(self, text):
        return self.pg.psql(text, self.dbname)


class PgLive(sq.Live, PgStore):
    pass


class PgRoundTrip(sq.RoundTrip, PgStore):
    pass


class PgRedirects(sq.Redirects, PgStore):
    pass


class PgScale(sq.Scale, PgStore):
    pass


class PgInvalid(sq.Invalid, PgStore):
    # The SQLite-only parts (a missing file, its lock) have their
    # PostgreSQL counterparts here, under the same names.
    def snapshot(self):
        """Every column of every row, times included: "nothing written"."""
        return self.sql("SELECT * FROM domains ORDER BY domain")

    def test_missing_database_read_only_backend_and_lock(self):
        bare = self.config("bare.toml", self.pg.conninfo(self.pg.new_database()))
        self.fails(sq.EX_NOINPUT, ["add", "a.example", "--server", "m.example.org"],
                   "no mxdelegate schema in this database yet; run \"mxdelegatectl init\"", cfg=bare)
        self.fails(sq.EX_NOINPUT, ["list"], "run \"mxdelegatectl init\"", cfg=bare)
        down = harness.free_port()
        gone = self.config("gone.toml", "host=127.0.0.1 port=%d dbname=nowhere" % down)
        # A server that cannot be reached is an outage to wait out: 75.
        r = self.ctl("add", "a.example", "--server", "m.example.org", cfg=gone)
        self.eq(r.returncode, sq.EX_TEMPFAIL, r.stderr)
        self.contains(r.stderr, "postgres: host=127.0.0.1 port=%d dbname=nowhere: " % down)
        self.contains(r.stderr, "Connection refused")
        toml = harness.example_config(self.tmp, name="toml.toml")
        self.fails(sq.EX_UNAVAILABLE, ["init"], "is read-only", cfg=toml)
        # Another writer holds the table: the tool waits lock_timeout, then 75.
        quick = self.config("quick.toml", self.pg.conninfo(self.dbname, options="'-c lock_timeout=200'"))
        holder = subprocess.Popen([os.path.join(self.pg.bin, "psql"), "-X", "-q", "-h", self.pg.root,
                                   "-p", str(self.pg.port), "-U", pgserver.SUPERUSER, "-d", self.dbname],
                                  stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
        try:
            holder.stdin.write("BEGIN; LOCK TABLE domains IN EXCLUSIVE MODE; SELECT 1;\n")
            holder.stdin.flush()
            self.true(wait_for(lambda: self.sql(
                "SELECT count(*) FROM pg_locks WHERE mode = 'ExclusiveLock' AND relation = "
                "'domains'::regclass").strip() == "1", 10), "the lock was not taken")
            self.fails(sq.EX_TEMPFAIL, ["add", "a.example", "--server", "m.example.org"],
                       "lock timeout", cfg=quick)
        finally:
            holder.stdin.close()
            holder.wait(10)

    def test_check_names_domain_and_field(self):
        r = self.ctl("check")
        self.eq((r.returncode, r.stdout), (0, "check: 1 domain, no problems\n"))
        self.sql("INSERT INTO domains (domain, client) VALUES ('hand.example', 'ftp://x')")
        r = self.ctl("check")
        self.eq(r.returncode, 1)
        self.contains(r.stderr, "mxdelegatectl: check: hand.example: client: \"ftp://x\" is not an http")
        self.eq(r.stdout, "check: 2 domains, 1 with problems\n")
        bad = self.tmp.write("bad.toml", "[backend]\nname = \"postgres\"\nplugin_dir = \"%s\"\n"
                                         "conninfo = \"\"\ncolour = 1\n" % PLUGINS)
        r = self.ctl("check", cfg=bad)
        self.eq(r.returncode, 1)
        self.contains(r.stderr, "unknown key in [backend]: colour")


class Fleet(PgStore):
    """What only a networked store has."""

    def setup(self):
        PgStore.setup(self)
        self.others = []

    def teardown(self):
        for mx, tmp in self.others:
            log = mx.stderr()
            self.eq(mx.stop(), 0, log)
            tmp.cleanup()
        PgStore.teardown(self)

    def second(self, cfg):
        """Another responder, in a folder of its own, on the same database."""
        tmp = harness.TempDir()
        mx = sq.Served(cfg, tmp)
        self.others.append((mx, tmp))
        return mx

    def test_two_responders_see_a_change_within_a_second(self):
        # A change is seen at the next generation check, with the default
        # check_interval that an operator gets.
        cfg = self.config("fleet.toml", self.pg.conninfo(self.dbname), interval=None)
        self.ok("init", cfg=cfg)
        self.ok("add", "example.org", "--client", "https://one.example.org", cfg=cfg)
        a = sq.Served(cfg, self.tmp)
        self.mx = a
        b = self.second(cfg)
        for mx in (a, b):
            self.eq(mx.get(CLIENT, host="example.org").json(),
                    {"m.homeserver": {"base_url": "https://one.example.org"}})
        t0 = time.monotonic()
        self.ok("set", "example.org", "--client", "https://two.example.org", cfg=cfg)
        want = {"m.homeserver": {"base_url": "https://two.example.org"}}
        for mx in (a, b):
            self.true(wait_for(lambda: mx.get(CLIENT, host="example.org").json() == want, 1.5),
                      mx.stderr())
        took = time.monotonic() - t0
        print("     change seen by both responders after %.2f s" % took)
        self.true(took <= 1.0, "the change took %.2f s" % took)
        self.ok("remove", "example.org", cfg=cfg)
        for mx in (a, b):
            self.true(wait_for(lambda: mx.get(CLIENT, host="example.org").status == 404, 1.5))

    def test_server_stopped_and_restarted_under_load(self):
        self.ok("init")
        for d in ("cached.example", "uncached.example"):
            self.ok("add", d, "--server", "m." + d)
        self.serve()
        self.eq(self.status("cached.example", SERVER), 200)
        stop = threading.Event()
        seen = {}
        lock = threading.Lock()

        def hammer():
            while not stop.is_set():
                r = self.mx.get(SERVER, host="cached.example")
                with lock:
                    key = r.status if r else None
                    seen[key] = seen.get(key, 0) + 1

        threads = [threading.Thread(target=hammer) for _ in range(3)]
        for t in threads:
            t.start()
        try:
            self.pg.stop()
            try:
                time.sleep(0.5)  # the responder notices (check_interval 0.05)
                for _ in range(5):
                    t0 = time.monotonic()
                    r = self.mx.get(SERVER, host="uncached.example")
                    self.eq(r.status, 503, r.raw)
                    self.eq(r.header("Cache-Control"), "no-store")
                    self.true(time.monotonic() - t0 < 1, "a 503 took %.2f s" % (time.monotonic() - t0))
                r = self.mx.get(SERVER, host="cached.example")
                self.eq(r.status, 200, self.mx.stderr())
                # Pending the core's stale-if-error: during an outage a
                # cached answer carries [http] stale_max_age (30 s).
                age = max_age(r)
                self.true(age is not None and age <= 30,
                          "a cached answer during the outage has %r" % r.header("Cache-Control"))
            finally:
                if not self.pg.running:
                    self.pg.start()
            self.true(self.becomes("uncached.example", 200, SERVER, timeout=10), self.mx.stderr())
            # Notifications work again: a change is seen without a restart,
            # with the usual max-age again.
            self.ok("set", "cached.example", "--server", "m2.cached.example")
            self.true(wait_for(lambda: self.mx.get(SERVER, host="cached.example").json() ==
                               {"m.server": "m2.cached.example"}, 2), self.mx.stderr())
            self.true(wait_for(lambda: (max_age(self.mx.get(SERVER, host="cached.example")) or 0) > 30, 2),
                      self.mx.get(SERVER, host="cached.example").header("Cache-Control"))
        finally:
            stop.set()
            for t in threads:
                t.join()
        self.true(set(seen) == {200}, "cached answers during the outage: %r" % seen)
        err = self.mx.stderr()
        self.contains(err, "serving cached answers, 503 for the rest")
        self.contains(err, "notifications work again")

    def test_two_hosts_the_first_down(self):
        down = harness.free_port()
        conninfo = "host=127.0.0.1,127.0.0.1 port=%d,%d dbname=%s user=%s" % (
            down, self.pg.port, self.dbname, pgserver.SUPERUSER)
        self.cfg = self.config("two.toml", conninfo)
        self.ok("init")
        self.ok("add", "example.org", "--server", "m.example.org")
        self.serve()
        self.eq(self.mx.get(SERVER, host="example.org").json(), {"m.server": "m.example.org"})
        self.ok("set", "example.org", "--server", "m2.example.org")
        self.true(wait_for(lambda: self.mx.get(SERVER, host="example.org").json() ==
                           {"m.server": "m2.example.org"}, 2), self.mx.stderr())

    def test_password_from_a_passfile_is_used_and_never_shown(self):
        pw = self.pg.secret_password
        db = self.pg.new_database()
        self.pg.psql("ALTER DATABASE %s OWNER TO %s" % (db, pgserver.SECRET_ROLE))
        passfile = self.tmp.write("pgpass", "127.0.0.1:%d:*:%s:%s\n" % (self.pg.port, pgserver.SECRET_ROLE, pw))
        os.chmod(passfile, 0o600)
        base = self.pg.conninfo(db, user=pgserver.SECRET_ROLE)
        self.cfg = self.config("pass.toml", base + " passfile=" + passfile)
        self.ok("init")
        self.ok("add", "example.org", "--server", "m.example.org")
        self.serve()
        self.eq(self.status("example.org", SERVER), 200)
        # Without it: refused, and the messages say who, not with what.
        wrong = self.tmp.write("wrong", "127.0.0.1:%d:*:%s:not-%s\n" % (self.pg.port, pgserver.SECRET_ROLE, pw))
        os.chmod(wrong, 0o600)
        r = self.ctl("list", cfg=self.config("wrong.toml", base + " passfile=" + wrong))
        self.eq(r.returncode, 74, r.stderr)
        self.contains(r.stderr, "password authentication failed for user \"secret\"")
        self.true(pw not in r.stderr, r.stderr)
        # A password in the conninfo itself (discouraged, but libpq's
        # right) is not shown either, even in a string libpq cannot parse.
        for conninfo in (base + " password=" + pw + " port=1",
                         base + " password=" + pw + " bogus",
                         "postgresql://secret:%s@127.0.0.1:1/%s" % (pw, db)):
            r = self.ctl("list", cfg=self.config("inline.toml", conninfo))
            self.true(r.returncode != 0, conninfo)
            self.true(pw not in r.stderr, r.stderr)
        self.true(pw not in self.mx.stderr(), self.mx.stderr())

    def test_sqlite_export_then_import_is_the_migration(self):
        lite = self.tmp.write("lite.toml", sq.CONFIG % {"plugins": PLUGINS, "db": self.tmp.file("lite.db"),
                                                         "extra": ""})
        self.ok("init", cfg=lite)
        src = self.tmp.write("src.jsonl", "".join(json.dumps(r) + "\n" for r in sq.RoundTrip.RECORDS))
        self.ok("import", src, cfg=lite)
        dump = self.tmp.write("dump.jsonl", self.ok("export", "--format", "jsonl", cfg=lite))
        self.ok("init")
        self.eq(self.ok("import", dump), "import: %s: %d added, 0 replaced, 0 removed\n" % (dump, len(sq.RoundTrip.RECORDS)))
        for fmt in ("jsonl", "toml"):
            self.eq(self.ok("export", "--format", fmt), self.ok("export", "--format", fmt, cfg=lite))
        for doc in ("client", "support", "server"):
            a = subprocess.run([sq.CTL, "-c", lite, "query", "example.org", doc], capture_output=True).stdout
            b = subprocess.run([sq.CTL, "-c", self.cfg, "query", "example.org", doc], capture_output=True).stdout
            self.eq(a, b)

    def test_what_copy_gives_a_meaning_to_is_stored_as_it_was(self):
        # Backslashes, "\\.", "\\N", tabs, newlines: COPY's text format
        # treats each specially; an import must store them as they were, in
        # both batches (the import sends 50,000 rows at a time).
        note = "back\\slash \\. \\N new\nline cr\r tab\t end\\"
        records = [{"domain": "d%05d.example" % i, "server": "m.example.org", "note": note + str(i)}
                   for i in range(60000)]
        src = self.tmp.write("odd.jsonl", "".join(json.dumps(r) + "\n" for r in records))
        self.ok("init")
        r = self.ctl("import", src)
        self.eq(r.returncode, 0, r.stderr)
        self.eq(json.loads(self.ok("show", "d12345.example")),
                {"domain": "d12345.example", "server": "m.example.org", "note": note + "12345"})
        self.eq(json.loads(self.ok("show", "d00007.example"))["note"], note + "7")
        self.eq(self.sql("SELECT count(*) FROM domains").strip(), "60000")
        self.serve()
        self.eq(self.mx.get(SERVER, host="d59999.example").json(), {"m.server": "m.example.org"})

    def test_responder_starts_while_the_server_is_away(self):
        self.ok("init")
        self.ok("add", "example.org", "--server", "m.example.org")
        down = harness.free_port()
        self.cfg = self.config("away.toml", self.pg.conninfo(self.dbname, port=str(down)))
        self.serve()
        r = self.mx.get(SERVER, host="example.org")
        self.eq((r.status, r.header("Cache-Control")), (503, "no-store"))
        self.true(wait_for(lambda: "Connection refused" in self.mx.stderr(), 5), self.mx.stderr())


class PgSlowStore(PgStore):
    """Issue 14 on PostgreSQL: an ACCESS EXCLUSIVE lock on domains (what
    VACUUM FULL, TRUNCATE and ALTER TABLE take) costs each request [backend]
    timeout at most, through statement_timeout and lock_timeout on the
    responder's connections.  Held PG_LOCK_SECONDS (default 8; the issue's
    figure is 30): the bound is the same at any length, since every lookup
    after the first fails at once while the pool's back-off runs."""

    HOLD = float(os.environ.get("PG_LOCK_SECONDS", "8"))

    def setup(self):
        PgStore.setup(self)
        self.ok("init")
        for h in ("cached.example", "fresh.example"):
            self.ok("add", h, "--client", "https://m." + h)

    def locks(self):
        return self.sql("SELECT count(*) FROM pg_locks WHERE mode = 'AccessExclusiveLock' "
                        "AND relation = 'domains'::regclass").strip()

    def test_an_access_exclusive_lock_costs_each_request_the_deadline_at_most(self):
        self.serve()
        good = self.mx.get(CLIENT, host="cached.example")
        self.eq(good.status, 200, good.raw)
        holder = subprocess.Popen([os.path.join(self.pg.bin, "psql"), "-X", "-q", "-h", self.pg.root,
                                   "-p", str(self.pg.port), "-U", pgserver.SUPERUSER, "-d", self.dbname],
                                  stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
        try:
            holder.stdin.write("BEGIN; LOCK TABLE domains IN ACCESS EXCLUSIVE MODE; SELECT 1;\n")
            holder.stdin.flush()
            self.true(wait_for(lambda: self.locks() == "1", 10), "the lock was not taken")
            t0 = time.monotonic()
            # One request alone first, so that its message is the one the
            # log lets through that second.
            results = tf.timed(self.mx, ["never.example"], 0.01, clients=1)
            self.true(results[0][2] >= tf.DEADLINE * 0.9, "%.2f s: no lock wait" % results[0][2])
            # On the reader that answered cached.example, the lookup runs
            # past it; on a new one (the first LISTEN retires the pooled
            # readers, and it may come after that request), the lookup's
            # preparation, which waits for the lock as well.
            self.true(re.search(r"postgres: %s: (preparing the )?lookup: ran past \[backend\] timeout "
                                r"\(1000 ms\): " % re.escape(self.pg.conninfo(self.dbname)),
                                self.mx.stderr()), self.mx.stderr())
            self.contains(self.mx.stderr(), "canceling statement due to")
            hosts = ["cached.example", "fresh.example"] + ["u%d.example" % i for i in range(6)]
            results += tf.timed(self.mx, hosts, max(1.0, self.HOLD - (time.monotonic() - t0) - 1))
            # Every request above was made while the lock was held.
            self.eq(self.locks(), "1")
        finally:
            holder.stdin.close()
            holder.wait(10)
        longest = tf.within_deadline(self, results, {"cached.example": good})
        print("    %d requests in %.0f s of an ACCESS EXCLUSIVE lock, the longest %.2f s"
              % (len(results), self.HOLD, longest))
        self.eq(self.mx.proc.poll(), None)
        self.true(self.becomes("fresh.example", 200), self.mx.stderr())


    def test_sigterm_ends_the_process_with_every_worker_inside_a_store_call(self):
        # A deadline of a minute: four lookups wait on the lock with all
        # four workers.  SIGTERM ends the process within the grace period
        # (2 s) and one second more, without waiting for them.
        with open(self.cfg) as f:
            text = f.read().replace("[backend]\n", "[backend]\ntimeout = 60000\n", 1)
        cfg = self.tmp.write("slow.toml", text)
        mx = harness.Responder(cfg, self.tmp)
        holder = subprocess.Popen([os.path.join(self.pg.bin, "psql"), "-X", "-q", "-h", self.pg.root,
                                   "-p", str(self.pg.port), "-U", pgserver.SUPERUSER, "-d", self.dbname],
                                  stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
        waiting = []
        try:
            self.eq(mx.get(CLIENT, host="cached.example").status, 200)
            holder.stdin.write("BEGIN; LOCK TABLE domains IN ACCESS EXCLUSIVE MODE; SELECT 1;\n")
            holder.stdin.flush()
            self.true(wait_for(lambda: self.locks() == "1", 10), "the lock was not taken")
            for i in range(6):
                t = threading.Thread(target=lambda i=i: _quiet_get(mx, "w%d.example" % i))
                t.start()
                waiting.append(t)
            time.sleep(1)
            self.eq(mx.proc.poll(), None)
            t0 = time.monotonic()
            mx.proc.terminate()
            code = mx.proc.wait(20)
            took = time.monotonic() - t0
            print("    SIGTERM with every worker waiting on a lock: exit %d after %.2f s" % (code, took))
            self.eq(code, 0)
            self.true(took < 3.5, "exit after %.2f s" % took)
            self.contains(mx.stderr(), "exiting without it")
        finally:
            if mx.proc.poll() is None:
                mx.proc.kill()
                mx.proc.wait()
            holder.stdin.close()
            holder.wait(10)
            for t in waiting:
                t.join(20)


def _quiet_get(mx, host):
    try:
        mx.get(CLIENT, host=host)
    except OSError:
        pass  # the responder went away: what SIGTERM does


class PgTenantIsolation(PgStore):
    """test_faults' TenantIsolation records on PostgreSQL: nested 1,000 to
    1,000,000 levels, written around the admin tool (its CHECK dropped, as
    a hand could), a 500 for that domain alone."""

    TENANTS = tf.TenantIsolation.TENANTS
    nested = tf.TenantIsolation.nested

    def setup(self):
        PgStore.setup(self)
        self.ok("init")
        lines = "".join('{"domain": "%s", "client": "https://m.%s", "server": "m.%s:443"}\n' % (h, h, h)
                        for h in self.TENANTS)
        self.ok("import", "-", stdin=lines)

    def deep_record(self, levels):
        self.ok("add", "deep.example", "--client", "https://m.deep.example")
        value = '{"x":' + "[" * (levels - 1) + "]" * (levels - 1) + "}"
        # PostgreSQL's json cast in the CHECK would refuse the deepest with
        # "stack depth limit exceeded"; a hand drops the check.  Through
        # stdin: 2 MB is more than one argument may be.
        sql = ("ALTER TABLE domains DROP CONSTRAINT IF EXISTS domains_client_extra_check;\n"
               "UPDATE domains SET client_extra = '%s' WHERE domain = 'deep.example';\n" % value)
        r = subprocess.run([os.path.join(self.pg.bin, "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1",
                            "-h", self.pg.root, "-p", str(self.pg.port), "-U", pgserver.SUPERUSER,
                            "-d", self.dbname], input=sql, capture_output=True, text=True, timeout=120)
        self.eq(r.returncode, 0, r.stderr)
        self.eq(self.sql("SELECT length(client_extra) FROM domains WHERE domain = 'deep.example'").strip(),
                str(len(value)))

    def test_a_record_nested_1000_levels_is_a_500_for_its_domain_alone(self):
        log = self.nested(1000, 500)
        self.contains(log, "deep.example (entry deep.example): record nests arrays and objects "
                           "deeper than the limit of 64 levels; answering 500")

    def test_a_record_nested_10000_levels_is_a_500_for_its_domain_alone(self):
        self.nested(10000, 500)

    def test_a_record_nested_100000_levels_is_a_500_for_its_domain_alone(self):
        self.nested(100000, 500)

    def test_a_record_nested_1000000_levels_is_a_500_for_its_domain_alone(self):
        log = self.nested(1000000, 500)
        self.contains(log, "deep.example (entry deep.example): record")
