"""Faults in the responder's surroundings while it serves: a configuration or
a plugin broken under it, the SQLite store deleted, replaced, truncated,
locked, made unreadable, a disk that fills up under the admin tool, the admin
tool killed in the middle of an import; and signals under load.

What every store fault case asserts: a host never asked
for before the fault gets 503 with Cache-Control: no-store; a host whose
answer is cached gets that answer again with max-age lowered to 30 s
(stale-if-error); service resumes by itself once the fault is gone, without
a restart; the process stays up throughout."""

import hashlib
import multiprocessing
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time

import fcgi
import harness
from harness import PLUGINS, Responder, Test, example_config, wait_for
from test_sqlite import CTL, NOBODY, Store

CLIENT = "/.well-known/matrix/client"
SERVER = "/.well-known/matrix/server"
EX_IOERR = 74


# A writer that stops, killed, with its changes half in the database file.
HOT_WRITER = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("PRAGMA cache_size = 10")
db.execute("BEGIN IMMEDIATE")
for i in range(3000):
    db.execute("INSERT INTO domains (domain, server, created, updated) VALUES (?, 'm.example', 'x', 'x')",
               ("h%05d.example" % i,))
print("spilled", flush=True)
time.sleep(60)
"""


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def stale_ok(test, r, good):
    """r is the answer for a host cached before the fault: its last good
    answer, Cache-Control lowered to [http] stale_max_age (30 by default;
    the records here say more), never a 503 (stale-if-error)."""
    test.true(r is not None, "no answer")
    test.eq(r.status, good.status, r.raw)
    test.eq(r.body, good.body)
    test.eq(r.header("ETag"), good.header("ETag"))
    test.eq(r.header("Cache-Control"), "public, max-age=30")
    test.true(good.header("Cache-Control") != "public, max-age=30", good.header("Cache-Control"))


class StoreBase(Store):
    """The sqlite store broken under a running responder."""

    def setup(self):
        Store.setup(self)
        self.ok("init")
        self.ok("add", "cached.example", "--client", "https://m.cached.example")
        self.ok("add", "fresh.example", "--client", "https://m.fresh.example")

    def start(self, uid=None):
        self.serve(uid)
        # cached.example is asked for before every fault, fresh.example never.
        self.good = self.mx.get(CLIENT, host="cached.example")
        self.eq(self.good.status, 200, self.good.raw)

    def unavailable(self, host="fresh.example"):
        r = self.mx.get(CLIENT, host=host)
        self.true(r is not None, "no answer")
        self.eq(r.status, 503, r.raw)
        self.eq(r.header("Cache-Control"), "no-store")
        self.eq(r.json()["errcode"], "M_UNAVAILABLE")

    def broken_meanwhile(self, rounds=5):
        """Waits until the fault is seen (the backend's check logs it and
        moves its generation), then asks for both hosts a few times: the
        uncached one 503 no-store, the cached one its stale answer."""
        self.true(wait_for(lambda: "lookups answer 503 until it is fixed" in self.mx.stderr(), 5),
                  self.mx.stderr())
        self.true(self.becomes("fresh.example", 503), self.mx.stderr())
        for _ in range(rounds):
            self.unavailable()
            stale_ok(self, self.mx.get(CLIENT, host="cached.example"), self.good)
        self.eq(self.mx.proc.poll(), None)

    def serving_again(self, hosts=("cached.example", "fresh.example")):
        for h in hosts:
            self.true(self.becomes(h, 200), "%s: %s" % (h, self.mx.stderr()))
        self.eq(self.mx.get(CLIENT, host="fresh.example").json(),
                {"m.homeserver": {"base_url": "https://m.fresh.example"}})

    def put_in_place(self, src):
        """Atomically replaces the database with a copy of src (new inode)."""
        tmp = self.db + ".new"
        shutil.copy(src, tmp)
        os.rename(tmp, self.db)


class StoreFaults(StoreBase):
    def test_deleted_then_put_back(self):
        keep = self.tmp.file("keep.db")
        shutil.copy(self.db, keep)
        self.start()
        os.unlink(self.db)
        self.broken_meanwhile()
        self.contains(self.mx.stderr(), self.db + ": No such file or directory")
        self.put_in_place(keep)
        self.serving_again()
        self.contains(self.mx.stderr(), self.db + ": readable again")

    def test_replaced_by_another_database_serves_its_data(self):
        other_cfg = self.tmp.write("other.toml", open(self.cfg).read().replace(self.db, self.tmp.file("other.db")))
        self.ok("init", cfg=other_cfg)
        self.ok("add", "other.example", "--client", "https://m.other.example", cfg=other_cfg)
        self.ok("add", "cached.example", "--client", "https://new.cached.example", cfg=other_cfg)
        self.start()
        self.eq(self.status("other.example"), 404)
        self.put_in_place(self.tmp.file("other.db"))
        self.true(self.becomes("other.example", 200), self.mx.stderr())
        # The cached answer is dropped with the old file, not served on.
        self.eq(self.mx.get(CLIENT, host="cached.example").json(),
                {"m.homeserver": {"base_url": "https://new.cached.example"}})
        self.eq(self.status("fresh.example"), 404)
        self.true("error" not in self.mx.stderr(), self.mx.stderr())

    def test_truncated_in_place_then_restored(self):
        # Enough rows for several pages, so that half the file is a torn one.
        rows = "".join('{"domain":"d%04d.example","server":"m.d%04d.example","note":"%s"}\n'
                       % (i, i, "x" * 100) for i in range(400))
        self.ok("import", "-", stdin=rows)
        with open(self.db, "rb") as f:
            good = f.read()
        self.true(len(good) >= 16 * 4096, "only %d bytes" % len(good))
        self.start()
        os.truncate(self.db, len(good) // 2)
        self.broken_meanwhile()
        self.contains(self.mx.stderr(), "lookups answer 503 until it is fixed")
        with open(self.db, "r+b") as f:
            f.write(good)
        self.serving_again()
        self.eq(self.mx.get(SERVER, host="d0399.example").json(), {"m.server": "m.d0399.example"})

    def test_truncated_to_nothing_then_restored(self):
        with open(self.db, "rb") as f:
            good = f.read()
        self.start()
        os.truncate(self.db, 0)
        self.broken_meanwhile()
        # An empty file is an empty SQLite database: no schema yet.
        self.contains(self.mx.stderr(), "not an mxdelegate database yet")
        with open(self.db, "r+b") as f:
            f.write(good)
        self.serving_again()

    def test_locked_for_10_seconds(self):
        self.start()
        db = sqlite3.connect(self.db, isolation_level=None, check_same_thread=False)
        db.execute("BEGIN EXCLUSIVE")
        t0 = time.monotonic()
        try:
            answers = 0
            # Every lookup meanwhile waits busy_timeout (2 s), cut to
            # [backend] timeout (1 s), and gives up.
            while time.monotonic() - t0 < 10:
                self.unavailable()
                # A lock is no news of a change: the cached answer stands.
                self.eq(self.mx.get(CLIENT, host="cached.example").raw, self.good.raw)
                answers += 1
            self.true(answers >= 3, "%d rounds in 10 s" % answers)
            self.eq(self.mx.proc.poll(), None)
        finally:
            db.execute("ROLLBACK")
            db.close()
        self.serving_again()
        self.contains(self.mx.stderr(), "stayed locked by a writer for more than 1000 ms")

    def test_locked_by_the_sqlite3_shell(self):
        # The same with the sqlite3 program holding the lock, released by
        # ending the shell: a lock that goes away with its process.
        self.start()
        shell = subprocess.Popen(["sqlite3", self.db], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
        try:
            shell.stdin.write("BEGIN EXCLUSIVE;\nSELECT 'locked';\n")
            shell.stdin.flush()
            self.eq(shell.stdout.readline(), "locked\n")
            self.unavailable()
            self.eq(self.mx.get(CLIENT, host="cached.example").raw, self.good.raw)
        finally:
            shell.kill()
            shell.wait()
        self.serving_again()


# [backend] timeout's default, and what a request may take on top of it here:
# the FastCGI round trip, a worker's turn on a loaded 2-core machine (more
# under the sanitizers), and for PostgreSQL a new connection's set-up before
# the statement that waits (1.38 s was the longest of 179,000 requests in a
# 30 s lock).  Without a deadline these requests took as
# long as the store's stall: forever for the view, the whole lock for
# PostgreSQL.
DEADLINE = 1.0
SLACK = 1.25 if os.environ.get("SANITIZE") == "1" else 0.75

# An endless query where domains should be, for every key: the recursive r
# never ends, CROSS JOIN keeps it the outer loop, and no row of it passes.
ENDLESS_VIEW = """BEGIN;
ALTER TABLE domains RENAME TO kept;
CREATE VIEW domains AS WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r)
  SELECT kept.* FROM r CROSS JOIN kept WHERE r.n < 0;
COMMIT;"""
TABLE_BACK = "BEGIN; DROP VIEW domains; ALTER TABLE kept RENAME TO domains; COMMIT;"


def timed(mx, hosts, seconds, clients=4):
    """`clients` threads (no more than the responder's workers, so that each
    request has a worker at once) ask in turn for the client document of
    `hosts` for `seconds`; (host, answer, seconds it took) of every request."""
    results, lock = [], threading.Lock()

    def client(k):
        end, i = time.monotonic() + seconds, k
        while time.monotonic() < end:
            h = hosts[i % len(hosts)]
            i += 1
            t0 = time.monotonic()
            r = mx.get(CLIENT, host=h)
            with lock:
                results.append((h, r, time.monotonic() - t0))

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def within_deadline(test, results, cached):
    """Every request answered within the deadline: `cached` (host → its good
    answer) with that answer, any other host 503 no-store.  Returns the
    longest time a request took."""
    test.true(results, "no request was made")
    for h, r, took in results:
        test.true(r is not None, "%s: no answer" % h)
        test.true(took <= DEADLINE + SLACK, "%s took %.2f s" % (h, took))
        if h in cached:
            test.eq((r.status, r.body), (cached[h].status, cached[h].body))
        else:
            test.eq((r.status, r.header("Cache-Control")), (503, "no-store"))
    return max(took for _, _, took in results)


class SlowStore(StoreBase):
    """Issue 14: a store that answers slowly, or never, costs each request
    [backend] timeout at most; other tenants keep their answers."""

    HOSTS = ["cached.example", "fresh.example"] + ["u%d.example" % i for i in range(6)]

    def sql(self, script):
        db = self.raw()
        try:
            db.executescript(script)
        finally:
            db.close()

    def test_an_endless_view_in_place_of_domains_is_refused_at_start_and_reload(self):
        self.sql(ENDLESS_VIEW)
        self.serve()
        # Refused when the connection opens: no lookup runs the view.
        longest = within_deadline(self, timed(self.mx, self.HOSTS, 1.5), {})
        self.true(longest < 0.5, "a refused store took %.2f s" % longest)
        self.contains(self.mx.stderr(), "sqlite: %s: \"domains\" is a view, not the table the "
                                        "schema makes; refusing to read it" % self.db)
        # A reload probes the store anew (issue 15), meets the view, and is
        # refused: the configuration in service answers on, as fast.
        self.mx.proc.send_signal(signal.SIGHUP)
        self.true(wait_for(lambda: "reload (SIGHUP) refused" in self.mx.stderr(), 5), self.mx.stderr())
        self.contains(self.mx.stderr(), "refused, the previous configuration stays in service: "
                                        "sqlite: %s: \"domains\" is a view" % self.db)
        longest = within_deadline(self, timed(self.mx, self.HOSTS, 0.5), {})
        self.true(longest < 0.5, "a refused store took %.2f s after a reload" % longest)
        self.eq(self.mx.proc.poll(), None)
        self.sql(TABLE_BACK)
        self.serving_again()

    def test_an_endless_view_swapped_in_under_a_running_responder(self):
        # The watcher would see the change within check_interval and refuse
        # the view before any lookup ran it: make it slow, so that lookups
        # run the view on the connections they had, and the deadline ends
        # them.
        with open(self.cfg) as f:
            text = f.read()
        with open(self.cfg, "w") as f:
            f.write(text.replace("check_interval = 0.05", "check_interval = 60"))
        self.start()
        # Four workers at once: up to four connections in the pool, and
        # every host of HOSTS cached (200 or 404), current until the next
        # check.
        cached = {h: r for h, r, _ in timed(self.mx, self.HOSTS, 0.5)}
        self.eq({r.status for r in cached.values()}, {200, 404})
        self.sql(ENDLESS_VIEW)
        # One request alone first, so that its message is the one the log
        # lets through that second.
        results = timed(self.mx, ["never.example"], 0.01, clients=1)
        self.true(results[0][2] >= DEADLINE * 0.9, "%.2f s: the view did not run" % results[0][2])
        self.contains(self.mx.stderr(), "sqlite: %s: the lookup of never.example ran past "
                                        "[backend] timeout (1000 ms) and was interrupted" % self.db)
        results += timed(self.mx, self.HOSTS + ["new%d.example" % i for i in range(8)], 4)
        longest = within_deadline(self, results, cached)
        self.eq(self.mx.proc.poll(), None)
        print("    %d requests under an endless view, the longest %.2f s" % (len(results), longest))
        self.sql(TABLE_BACK)
        self.serving_again()


class UnreadableStore(StoreBase):
    """The responder as nobody, the database root's: chmod takes its read
    access away.  (Root reads whatever the mode says.)"""

    def setup(self):
        StoreBase.setup(self)
        os.chmod(self.tmp.path, 0o755)
        os.chmod(self.cfg, 0o644)

    def test_made_unreadable_in_place_keeps_the_open_file(self):
        # Permissions are checked when a file is opened: the connections the
        # responder holds go on reading it, commits included, as any Unix
        # program would.  Only a new file (or a restart) meets the new mode,
        # as the next test shows.
        self.start(uid=NOBODY)
        self.eq(self.status("fresh.example"), 200)
        os.chmod(self.db, 0)
        self.eq(self.status("fresh.example"), 200)
        self.ok("add", "third.example", "--client", "https://m.third.example")
        self.true(self.becomes("third.example", 200), self.mx.stderr())
        for host in ("cached.example", "fresh.example", "third.example"):
            self.eq(self.status(host), 200)
        self.true("error" not in self.mx.stderr(), self.mx.stderr())

    def test_replaced_by_an_unreadable_file(self):
        self.start(uid=NOBODY)
        tmp = self.db + ".new"
        shutil.copy(self.db, tmp)
        os.chmod(tmp, 0o600)
        os.rename(tmp, self.db)
        self.broken_meanwhile()
        self.contains(self.mx.stderr(), self.db + ": Permission denied")
        os.chmod(self.db, 0o644)
        self.serving_again()


class AdminToolFaults(Store):
    def setup(self):
        Store.setup(self)
        self.ok("init")
        for d in ("a.example", "b.example", "c.example"):
            self.ok("add", d, "--server", "m." + d)
        self.before_export = self.ok("export")

    def big_import(self, n):
        path = self.tmp.file("big.jsonl")
        with open(path, "w") as f:
            for i in range(n):
                f.write('{"domain":"d%06d.example.net","server":"matrix.d%06d.example.net:443",'
                        '"note":"customer %d"}\n' % (i, i, i))
        return path

    def kill_import_in_its_transaction(self):
        """mxdelegatectl import of 200000 domains, killed once its
        transaction has begun: the journal holds a header."""
        src = self.big_import(200000)
        journal = self.db + "-journal"
        p = subprocess.Popen([CTL, "-c", self.cfg, "import", src], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        try:
            self.true(wait_for(lambda: os.path.exists(journal) and os.path.getsize(journal) >= 512
                               or p.poll() is not None, 60, step=0.002), "no journal")
            p.kill()
        finally:
            p.wait()
        self.eq(p.returncode, -signal.SIGKILL, "the import ended before it was killed")
        self.true(os.path.exists(journal), "no journal left behind")
        return journal

    def test_sigkill_in_the_middle_of_an_import(self):
        self.serve()
        self.eq(self.status("a.example", SERVER), 200)
        before = digest(self.db)
        journal = self.kill_import_in_its_transaction()
        # The import keeps its changes in memory until the commit, and
        # SQLite writes the journal's header for real only when it syncs it
        # at the commit: killed before, the file is as it was and the
        # journal it leaves is not hot.  Service goes on, uncached hosts too.
        self.eq(digest(self.db), before)
        for d in ("b.example", "c.example", "a.example"):
            self.eq(self.status(d, SERVER), 200)
        self.eq(self.status("d000001.example.net", SERVER), 404)
        self.eq(self.ok("export"), self.before_export)
        # The next write transaction reuses and removes the journal.
        self.ok("add", "new.example", "--server", "m.new.example")
        self.true(not os.path.exists(journal), "the journal stayed")
        self.true(self.becomes("new.example", 200, SERVER), self.mx.stderr())
        self.true("error" not in self.mx.stderr(), self.mx.stderr())

    def leave_a_hot_journal(self):
        """A writer killed while it writes the database file, its journal
        synced: the journal is hot.  mxdelegatectl gets there only inside
        COMMIT; a writer whose cache spills gets there early, which makes
        the moment certain: python's sqlite3 with a 10-page cache."""
        before = digest(self.db)
        writer = subprocess.Popen([sys.executable, "-c", HOT_WRITER, self.db], stdout=subprocess.PIPE,
                                  text=True)
        try:
            self.eq(writer.stdout.readline(), "spilled\n")
            self.true(digest(self.db) != before, "the spill did not write the database")
            writer.kill()
        finally:
            writer.wait()
        journal = self.db + "-journal"
        self.true(os.path.exists(journal))
        return before, journal

    def test_a_writer_killed_in_its_commit_leaves_a_hot_journal(self):
        self.serve()
        good = self.mx.get(SERVER, host="a.example")
        self.eq(good.status, 200)
        before, journal = self.leave_a_hot_journal()
        # A read-only reader cannot roll it back: 503 no-store, and the log
        # says what to do (mxdelegatectl(8), CAVEATS).
        self.true(wait_for(lambda: "run \"mxdelegatectl init\" as the database's owner" in self.mx.stderr(),
                           5), self.mx.stderr())
        self.true(self.becomes("b.example", 503, SERVER), self.mx.stderr())
        r = self.mx.get(SERVER, host="c.example")
        self.eq((r.status, r.header("Cache-Control")), (503, "no-store"))
        stale_ok(self, self.mx.get(SERVER, host="a.example"), good)
        # As mxdelegatectl(8) says: init rolls it back.
        self.ok("init")
        self.true(not os.path.exists(journal), "init left the journal")
        self.eq(digest(self.db), before)
        self.eq(self.ok("export"), self.before_export)
        for d in ("a.example", "b.example", "c.example"):
            self.true(self.becomes(d, 200, SERVER), self.mx.stderr())
        self.contains(self.mx.stderr(), "readable again")

    def test_the_next_write_rolls_a_hot_journal_back(self):
        self.serve()
        _, journal = self.leave_a_hot_journal()
        self.true(self.becomes("b.example", 503, SERVER), self.mx.stderr())
        self.ok("add", "new.example", "--server", "m.new.example")
        self.true(not os.path.exists(journal), "the journal stayed")
        self.eq(self.ok("list"), "a.example\nb.example\nc.example\nnew.example\n")
        for d in ("b.example", "new.example"):
            self.true(self.becomes(d, 200, SERVER), self.mx.stderr())

    def test_the_next_writer_takes_over_after_a_killed_import(self):
        journal = self.kill_import_in_its_transaction()
        self.ok("add", "new.example", "--server", "m.new.example")
        self.true(not os.path.exists(journal))
        self.eq(self.ok("list"), "a.example\nb.example\nc.example\nnew.example\n")

    def import_into_a_full_store(self, where, limit=None):
        """An import into a copy of the store in `where` that fails part way
        for lack of room: a clean failure, nothing changed, and the store
        writable again once there is room."""
        db = os.path.join(where, "domains.db")
        cfg = self.tmp.write("small.toml", open(self.cfg).read().replace(self.db, db))
        shutil.copy(self.db, db)
        before = digest(db)
        src = self.big_import(20000)

        def small_files():
            import resource
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

        r = subprocess.run([CTL, "-c", cfg, "import", src], capture_output=True, text=True,
                           timeout=120, preexec_fn=small_files if limit else None)
        self.eq(r.returncode, EX_IOERR, r.stderr)
        self.eq(r.stdout, "")
        self.true(not os.path.exists(db + "-journal"), "journal left: %r" % os.listdir(where))
        self.eq(digest(db), before)
        self.eq(self.ok("export", cfg=cfg), self.before_export)
        self.ok("add", "after.example", "--server", "m.after.example", cfg=cfg)
        return r.stderr

    def test_disk_full_during_an_import(self):
        # A 1 MiB tmpfs holds the store.  Where mounting is not allowed (an
        # unprivileged container), a file size limit stands in for it.
        mnt = self.tmp.file("small")
        os.mkdir(mnt)
        if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", mnt],
                          capture_output=True).returncode == 0:
            print("     disk full: a 1 MiB tmpfs")
            try:
                err = self.import_into_a_full_store(mnt)
            finally:
                subprocess.run(["umount", mnt], check=True)
            self.eq(err, "mxdelegatectl: import: sqlite: %s/domains.db: database or disk is full\n" % mnt)
        else:
            print("     disk full: mount refused, RLIMIT_FSIZE instead")
            self.test_file_size_limit_during_an_import()

    def test_file_size_limit_during_an_import(self):
        # RLIMIT_FSIZE, SIGXFSZ ignored: writes past 64 KiB fail with EFBIG.
        where = self.tmp.file("limited")
        os.mkdir(where)
        err = self.import_into_a_full_store(where, limit=64 * 1024)
        self.eq(err, "mxdelegatectl: import: sqlite: %s/domains.db: disk I/O error (File too large)\n"
                % where)


class ConfigurationFaults(Test):
    """The responder's own files broken under it, then SIGHUP."""

    def setup(self):
        # A plugin folder of our own, so that its files can be broken.
        self.plugins = self.tmp.file("plugins")
        os.mkdir(self.plugins)
        shutil.copy(os.path.join(PLUGINS, "toml.so"), self.plugins)
        self.text = harness.EXAMPLE_CONFIG % {"plugins": self.plugins}
        # A long check_interval: the reloads here come from SIGHUP only.
        self.cfg = self.tmp.write("mxdelegate.toml", self.text.replace(
            "[http]", "[server]\ncheck_interval = 600\n\n[http]"))
        self.mx = Responder(self.cfg, self.tmp)
        self.good = self.mx.get()
        self.eq(self.good.status, 200)

    def teardown(self):
        log = self.mx.stderr()
        self.eq(self.mx.stop(), 0, log)

    def hup_refused(self, *messages):
        n = self.mx.stderr().count("reload (SIGHUP) refused")
        self.mx.proc.send_signal(signal.SIGHUP)
        self.true(wait_for(lambda: self.mx.stderr().count("reload (SIGHUP) refused") == n + 1, 5),
                  self.mx.stderr())
        for m in messages:
            self.contains(self.mx.stderr(), m)
        r = self.mx.get()
        self.eq((r.status, r.body), (200, self.good.body))
        self.eq(self.mx.proc.poll(), None)

    def hup_reloaded(self):
        n = self.mx.stderr().count("configuration reloaded (SIGHUP)")
        self.mx.proc.send_signal(signal.SIGHUP)
        self.true(wait_for(lambda: self.mx.stderr().count("configuration reloaded (SIGHUP)") == n + 1, 5),
                  self.mx.stderr())

    def test_invalid_configuration_keeps_the_old_one(self):
        with open(self.cfg, "a") as f:
            f.write('\n[domains."new.example"]\nclient = "https://m.new.example"\n[http\n')
        last = len(open(self.cfg).read().splitlines())
        self.hup_refused("%s:%d:6: " % (self.cfg, last))
        self.eq(self.mx.get(host="new.example").status, 404)
        # Valid TOML, a bad value: file:line:column too.
        with open(self.cfg, "w") as f:
            f.write(self.text + '\n[domains."new.example"]\nclient = 17\n')
        last = len(open(self.cfg).read().splitlines())
        self.hup_refused("%s:%d:10: new.example: client: " % (self.cfg, last))
        self.eq(self.mx.get(host="new.example").status, 404)
        # Gone as a whole.
        os.rename(self.cfg, self.cfg + ".away")
        self.hup_refused(self.cfg + ": No such file or directory")
        with open(self.cfg, "w") as f:
            f.write(self.text + '\n[domains."new.example"]\nclient = "https://m.new.example"\n')
        self.hup_reloaded()
        self.eq(self.mx.get(host="new.example").json(), {"m.homeserver": {"base_url": "https://m.new.example"}})

    def test_plugin_removed_or_broken(self):
        so = os.path.join(self.plugins, "toml.so")
        os.rename(so, so + ".away")
        self.hup_refused("cannot load backend plugin %s: No such file or directory" % so)
        # The one in memory is in use: another file at its path, broken or
        # not, is refused until a restart (dlopen would hand back the old).
        replaced = "cannot load backend plugin %s: the file was replaced since it was loaded" % so
        with open(so, "wb") as f:
            f.write(b"\x7fELF" + os.urandom(4000))
        self.hup_refused(replaced)
        shutil.copy(os.path.join(PLUGINS, "../tests/plugins/no_symbol.so"), so)
        self.hup_refused(replaced)
        shutil.copy(os.path.join(PLUGINS, "toml.so"), so)
        self.hup_refused(replaced, "restart mxdelegate to load the new one")
        # The file it loaded, back in its place: reloads again.
        os.rename(so + ".away", so)
        self.hup_reloaded()
        self.eq(self.mx.get().body, self.good.body)

    def test_a_broken_plugin_at_start_is_refused_with_its_reason(self):
        self.eq(self.mx.stop(), 0)
        so = os.path.join(self.plugins, "toml.so")
        for content, message in [(b"\x7fELF" + b"\0" * 100, "cannot load backend plugin %s: " % so),
                                 (None, '%s: not an mxdelegate backend: no symbol "mxd_backend"' % so)]:
            os.unlink(so)
            if content is None:
                shutil.copy(os.path.join(PLUGINS, "../tests/plugins/no_symbol.so"), so)
            else:
                with open(so, "wb") as f:
                    f.write(content)
            p = subprocess.run([harness.BIN, "-c", self.cfg, "--listen", "unix:" + self.tmp.file("x.sock")],
                               capture_output=True, text=True, timeout=10)
            self.eq(p.returncode, 78, p.stderr)
            self.contains(p.stderr, message)
        self.mx = Responder(harness.example_config(self.tmp, name="ok.toml"), self.tmp)


class TomlDataFaults(Test):
    """The toml backend's own data file (path = "domains.toml") broken under
    the responder: the backend watches it once a second and keeps the data
    it has; a SIGHUP meanwhile is refused."""

    DOMAINS = '[domains."example.org"]\nserver = "m.example.org:443"\n'

    def setup(self):
        self.data = self.tmp.write("domains.toml", self.DOMAINS)
        self.cfg = self.tmp.write("mxdelegate.toml", '[backend]\nname = "toml"\nplugin_dir = "%s"\n'
                                  'path = "domains.toml"\n' % PLUGINS)
        self.mx = Responder(self.cfg, self.tmp)
        self.good = self.mx.get(SERVER)
        self.eq(self.good.status, 200)

    def teardown(self):
        log = self.mx.stderr()
        self.eq(self.mx.stop(), 0, log)

    def logged(self, text, n=1):
        self.true(wait_for(lambda: self.mx.stderr().count(text) >= n, 5), self.mx.stderr())

    def kept(self):
        self.eq(self.mx.get(SERVER).raw, self.good.raw)
        self.eq(self.mx.get(SERVER, host="new.example").status, 404)

    def test_broken_removed_then_fixed(self):
        with open(self.data, "a") as f:
            f.write('[domains."new.example"]\nserver = "m.new.example"\n[oops\n')
        harness.touch_later(self.data)
        self.logged("toml: %s: reload refused, keeping the previous data:" % self.data)
        self.contains(self.mx.stderr(), "%s:5:6: " % self.data)
        self.kept()
        n = self.mx.stderr().count("reload (SIGHUP) refused")
        self.mx.proc.send_signal(signal.SIGHUP)
        self.logged("reload (SIGHUP) refused", n + 1)
        self.kept()
        os.rename(self.data, self.data + ".away")
        self.logged("toml: %s: No such file or directory; keeping the previous data" % self.data)
        self.kept()
        with open(self.data, "w") as f:
            f.write(self.DOMAINS + '[domains."new.example"]\nserver = "m.new.example"\n')
        self.true(wait_for(lambda: self.mx.get(SERVER, host="new.example").status == 200, 5), self.mx.stderr())
        self.eq(self.mx.get(SERVER).raw, self.good.raw)
        self.eq(self.mx.proc.poll(), None)


class SignalsUnderLoad(Test):
    def test_sighup_storm_under_load(self):
        cfg = example_config(self.tmp)
        mx = Responder(cfg, self.tmp, args=("--threads", "4"))
        stop = threading.Event()
        seen, errors = {}, []
        lock = threading.Lock()

        def client(host, uri):
            try:
                while not stop.is_set():
                    r = mx.get(uri, host=host)
                    with lock:
                        key = (host, r.status if r else None)
                        seen[key] = seen.get(key, 0) + 1
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(repr(e))

        threads = [threading.Thread(target=client, args=a) for a in
                   [("example.org", CLIENT), ("example.net", CLIENT), ("example.org", SERVER),
                    ("nowhere.example", CLIENT)]]
        for t in threads:
            t.start()
        try:
            for i in range(50):
                if i == 25:
                    # Half way, the file changes: the last reloads serve it.
                    with open(cfg, "a") as f:
                        f.write('\n[domains."storm.example"]\nclient = "https://m.storm.example"\n')
                mx.proc.send_signal(signal.SIGHUP)
                time.sleep(0.005)
        finally:
            time.sleep(0.2)
            stop.set()
            for t in threads:
                t.join()
        self.eq(errors, [])
        self.eq(mx.proc.poll(), None)
        self.eq(set(seen), {("example.org", 200), ("example.net", 200), ("nowhere.example", 404)},
                "%r" % seen)
        self.true(sum(seen.values()) > 100, "%r" % seen)
        self.true(wait_for(lambda: mx.get(host="storm.example").status == 200, 5), mx.stderr())
        self.true("refused" not in mx.stderr(), mx.stderr())
        self.eq(mx.stop(), 0)

    def test_sigterm_under_load_cuts_no_answer_short(self):
        # Every connection gets either its whole answer (END_REQUEST and a
        # 200) or nothing at all (refused, or closed unanswered in the
        # backlog): never half an answer.  Exit 0, promptly.
        mx = Responder(example_config(self.tmp), self.tmp, args=("--threads", "4"))
        outcomes, errors = {}, []
        lock = threading.Lock()
        stop = threading.Event()

        def one():
            try:
                s = fcgi.connect(mx.socket, 5)
            except OSError:
                return "refused"
            with s:
                try:
                    s.sendall(fcgi.begin() + fcgi.params_records(1, fcgi.cgi_params()) +
                              fcgi.record(fcgi.STDIN, 1))
                except OSError:
                    pass
                out, ended = b"", False
                try:
                    for rtype, _, content in fcgi.read_records(s):
                        if rtype == fcgi.STDOUT:
                            out += content
                        elif rtype == fcgi.END_REQUEST:
                            ended = True
                            break
                except OSError:
                    pass
            if ended and fcgi.Response(out).status == 200:
                return "answered"
            if not out and not ended:
                return "unanswered"
            errors.append((ended, out[:200]))
            return "cut short"

        def client():
            while not stop.is_set():
                o = one()
                with lock:
                    outcomes[o] = outcomes.get(o, 0) + 1
                if o == "refused":
                    return

        threads = [threading.Thread(target=client) for _ in range(6)]
        for t in threads:
            t.start()
        self.true(wait_for(lambda: outcomes.get("answered", 0) >= 200, 10), "%r" % outcomes)
        t0 = time.monotonic()
        mx.proc.send_signal(signal.SIGTERM)
        try:
            code = mx.proc.wait(10)
        finally:
            stop.set()
            for t in threads:
                t.join()
        took = time.monotonic() - t0
        log = mx.stderr()
        self.eq(mx.stop(), 0, log)
        self.eq(code, 0, log)
        self.eq(errors, [])
        self.true(took < 3, "took %.2f s to stop" % took)
        self.true(set(outcomes) <= {"answered", "unanswered", "refused"}, "%r" % outcomes)
        print("     %r" % outcomes)

    def test_a_peer_that_stopped_reading_costs_one_answer(self):
        # shutdown(SHUT_RD) before the request is sent: the responder's write
        # of the answer fails with EPIPE (and raises SIGPIPE) every time, not
        # only when it loses a race with close() as in test_lifecycle.
        mx = Responder(example_config(self.tmp), self.tmp, args=("--threads", "1"))
        for _ in range(20):
            s = fcgi.connect(mx.socket)
            s.shutdown(socket.SHUT_RD)
            s.sendall(fcgi.begin() + fcgi.params_records(1, fcgi.cgi_params()) + fcgi.record(fcgi.STDIN, 1))
            s.close()
        # One worker: it went through all twenty before this one.
        self.eq(mx.get().status, 200)
        self.eq(mx.proc.poll(), None)
        self.eq(mx.stderr(), "")
        self.eq(mx.stop(), 0)


def _flood_part(args):
    """One GET of the client document for each host, each on a connection
    of its own (the responder closes each after its answer); {status: n}."""
    sock, hosts = args
    statuses = {}
    for h in hosts:
        r = fcgi.request(sock, fcgi.cgi_params("GET", CLIENT, h), timeout=30)
        status = r.status if r else None
        statuses[status] = statuses.get(status, 0) + 1
    return statuses


def flood(sock, hosts, procs=4):
    """_flood_part over `procs` client processes, the counts summed."""
    with multiprocessing.Pool(procs) as pool:
        parts = pool.map(_flood_part, [(sock, hosts[i::procs]) for i in range(procs)])
    total = {}
    for p in parts:
        for k, v in p.items():
            total[k] = total.get(k, 0) + v
    return total


class TenantIsolation(Store):
    """Issue 14: one tenant, one record or a flood of junk never takes the
    others down, against the real SQLite store and the real responder."""

    TENANTS = ["tenant%02d.example" % i for i in range(50)]

    def setup(self):
        Store.setup(self)
        self.ok("init")
        lines = "".join('{"domain": "%s", "client": "https://m.%s", "server": "m.%s:443"}\n' % (h, h, h)
                        for h in self.TENANTS)
        self.ok("import", "-", stdin=lines)

    def test_a_flood_of_random_hosts_then_a_store_outage_keeps_every_tenant(self):
        self.serve()
        good = {}
        for h in self.TENANTS:
            good[h] = self.mx.get(CLIENT, host=h)
            self.eq(good[h].status, 200, good[h].raw)
        rnd = random.Random(14)
        junk = ["%016x.flood%d.example" % (rnd.getrandbits(64), i % 7) for i in range(100000)]
        self.eq(flood(self.mx.socket, junk), {404: 100000})
        self.eq(self.mx.proc.poll(), None)
        # The store goes away: every tenant asked for before the flood is
        # served its last good answer, a host never asked for gets 503.
        os.unlink(self.db)
        self.true(wait_for(lambda: "lookups answer 503 until it is fixed" in self.mx.stderr(), 5),
                  self.mx.stderr())
        self.true(self.becomes("never.example", 503), self.mx.stderr())
        for h in self.TENANTS:
            stale_ok(self, self.mx.get(CLIENT, host=h), good[h])
        self.eq(self.mx.proc.poll(), None)

    def deep_record(self, levels):
        """client_extra of deep.example nested `levels` deep, written with
        the sqlite3 program, around the admin tool and its checks."""
        self.ok("add", "deep.example", "--client", "https://m.deep.example")
        value = '{"x":' + "[" * (levels - 1) + "]" * (levels - 1) + "}"
        # The schema's CHECK (json_type) stops at SQLite's own depth limit
        # of 1,000: a writer around the admin tool can switch it off.
        # .timeout: the responder's readers hold the file's shared lock for
        # a moment at each look (longer under sanitizers); the sqlite3
        # program would give up at once instead of waiting its turn.
        sql = (".timeout 10000\n"
               "PRAGMA ignore_check_constraints = ON;\n"
               "UPDATE domains SET client_extra = '%s' WHERE domain = 'deep.example';\n" % value)
        r = subprocess.run(["sqlite3", self.db], input=sql, capture_output=True, text=True, timeout=120)
        self.eq(r.returncode, 0, r.stderr)

    def nested(self, levels, expect):
        self.serve()
        before = {h: self.mx.get(CLIENT, host=h) for h in self.TENANTS[:5]}
        self.deep_record(levels)
        self.true(self.becomes("deep.example", expect, timeout=10),
                  "%s: %s" % (self.status("deep.example"), self.mx.stderr()[-2000:]))
        for uri in (CLIENT, SERVER):
            self.eq(self.status("deep.example", uri), expect)
        for h in self.TENANTS:
            r = self.mx.get(CLIENT, host=h)
            self.eq(r.status, 200, r.raw)
            if h in before:
                self.eq(r.body, before[h].body)
        self.eq(self.mx.proc.poll(), None)
        return self.mx.stderr()

    def test_a_record_nested_1000_levels_is_a_500_for_its_domain_alone(self):
        log = self.nested(1000, 500)
        self.contains(log, "deep.example (entry deep.example): record nests arrays and objects "
                           "deeper than the limit of 64 levels; answering 500")

    def test_a_record_nested_10000_levels_is_a_500_for_its_domain_alone(self):
        self.nested(10000, 500)

    # The SQL plugins hand a cell past the core's bounds on unbuilt
    # (src/plugin/sql_columns.cpp): building or dumping it would recurse
    # once per level and, at 100,000, overflow the worker's stack.
    def test_a_record_nested_100000_levels_is_a_500_for_its_domain_alone(self):
        self.nested(100000, 500)

    def test_a_record_nested_1000000_levels_is_a_500_for_its_domain_alone(self):
        log = self.nested(1000000, 500)
        self.contains(log, "deep.example (entry deep.example): record")
