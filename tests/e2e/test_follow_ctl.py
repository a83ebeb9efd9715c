"""mxdelegatectl on a node that keeps a local copy of a PostgreSQL store
([follow]), without the follower: the copy is made by hand as the follower
leaves it (its mxdelegate_follow table and triggers), the status file is
written by the test in the follower's format, and a child process holds the
follower's lock.  The primary is a real PostgreSQL (pgserver.py): writes
reach it and never the copy, reads say which copy they read and how far
behind it is, status reports the copy, a write into the copy by another
path is refused naming the primary, and follow runs the follower program or
says why it cannot."""

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time

import pgserver
import test_follow
import test_sqlite as sq
from harness import BIN, BUILD, PLUGINS, Test

CTL = os.path.join(BUILD, "mxdelegatectl")
EX_CANTCREAT, EX_IOERR, EX_CONFIG = 73, 74, 78

# The copy alone, the node's configuration, the primary alone.
PLAIN, FOLLOW, PG = test_follow.SQLITE_CONFIG, test_follow.FOLLOW_CONFIG, test_follow.PG_CONFIG

# What the follower puts into its copy (issue 16's design).
COPY_SQL = """
CREATE TABLE mxdelegate_follow (name TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL) WITHOUT ROWID;
INSERT INTO mxdelegate_follow VALUES ('primary', '%(primary)s'), ('store_id', 'test-store'),
    ('seq', '1234'), ('copied_at', '2026-12-02T06:00:00Z'), ('applied_at', '2026-12-02T06:00:00Z'),
    ('writer', '');
""" + "".join("""
CREATE TRIGGER mxdelegate_follow_%(op)s BEFORE %(OP)s ON domains
  WHEN (SELECT value FROM mxdelegate_follow WHERE name = 'writer') IS NOT 'follower'
  BEGIN SELECT RAISE(ABORT, 'this store is a copy of PostgreSQL %%(primary)s kept by "mxdelegatectl follow"; write to the primary'); END;
""" % {"op": op.lower(), "OP": op} for op in ("INSERT", "UPDATE", "DELETE"))

PRIMARY = "host=db1 dbname=mx"


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


class FollowCtl(Test):
    def setup(self):
        self.holder = None
        self.pg = pgserver.Server.shared()
        self.dbname = self.pg.new_database()
        conninfo = json.dumps(self.pg.conninfo(self.dbname))
        self.copy = self.tmp.file("copy.db")
        self.plain = self.tmp.write("plain.toml", PLAIN % {"plugins": PLUGINS, "db": self.copy})
        self.cfg = self.tmp.write("follow.toml", FOLLOW % {"plugins": PLUGINS, "db": self.copy,
                                                           "conninfo": conninfo})
        self.pgcfg = self.tmp.write("pg.toml", PG % {"plugins": PLUGINS, "conninfo": conninfo})
        self.ok("init", cfg=self.pgcfg)
        self.ok("add", "both.example", "--server", "m.primary.example", cfg=self.pgcfg)
        self.ok("init", cfg=self.plain)
        self.ok("add", "both.example", "--server", "m.copy.example", cfg=self.plain)
        self.ok("add", "copy.example", "--server", "m.copy.example", cfg=self.plain)
        db = sqlite3.connect(self.copy, isolation_level=None)
        db.executescript(COPY_SQL % {"primary": PRIMARY})
        db.close()

    def teardown(self):
        self.release()

    def ctl(self, *args, cfg=None, program=CTL):
        return subprocess.run([program, "-c", cfg or self.cfg, *args], capture_output=True,
                              text=True, timeout=60, stdin=subprocess.DEVNULL)

    def ok(self, *args, cfg=None):
        r = self.ctl(*args, cfg=cfg)
        if r.returncode != 0:
            raise AssertionError("mxdelegatectl %s: exit %d: %s" % (" ".join(args), r.returncode, r.stderr))
        return r

    def fails(self, code, args, message, cfg=None):
        r = self.ctl(*args, cfg=cfg)
        self.eq(r.returncode, code, "%r: %s" % (args, r.stderr))
        self.contains(r.stderr, message)
        return r

    def primary_domains(self):
        return self.pg.psql("SELECT domain FROM domains ORDER BY domain", self.dbname).split()

    def copy_domains(self):
        db = sqlite3.connect(self.copy)
        try:
            return [d for (d,) in db.execute("SELECT domain FROM domains ORDER BY domain")]
        finally:
            db.close()

    def status_file(self, state="following", in_step=None, error="", seq=1234, since=None):
        now = time.time()
        with open(self.copy + ".follow.tmp", "w") as f:
            json.dump({"primary": PRIMARY, "store_id": "test-store", "seq": seq, "state": state,
                       "since": iso(since if since is not None else now - 60),
                       "in_step_at": None if in_step is None else iso(in_step),
                       "error": error, "pid": 4242}, f)
        os.rename(self.copy + ".follow.tmp", self.copy + ".follow")

    def hold(self):
        """A follower's lock, held by another process as the follower holds it."""
        self.holder = subprocess.Popen(
            [sys.executable, "-c", "import fcntl, sys\n"
             "f = open(sys.argv[1], 'a')\nfcntl.lockf(f, fcntl.LOCK_EX)\n"
             "print('locked', flush=True)\nsys.stdin.read()\n", self.copy + ".follow.lock"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.eq(self.holder.stdout.readline(), "locked\n")

    def release(self):
        if self.holder:
            self.holder.stdin.close()
            self.holder.wait(timeout=10)
            self.holder = None

    def test_writes_go_to_the_primary_and_never_to_the_copy(self):
        copy = self.copy_domains()
        r = self.ok("add", "new.example", "--server", "m.new.example")
        self.eq(r.stderr, "")
        self.ok("set", "both.example", "--server", "m1.primary.example")
        imported = self.tmp.write("in.toml", '[domains."imported.example"]\nserver = "m.i.example"\n')
        self.ok("import", imported)
        self.ok("remove", "imported.example")
        self.ok("init")
        # A move's steps are writes too (with max_age 2 and its lead too
        # short: lowered at once, switched a second later, restored at 2 s).
        self.ok("set", "both.example", "--max-age", "2")
        self.ok("move", "both.example", "--server", "m2.primary.example", "--at", "+1", "--low", "1")
        self.eq(self.primary_domains(), ["both.example", "new.example"])
        self.eq(self.pg.psql("SELECT server FROM domains WHERE domain = 'both.example'",
                             self.dbname).strip(), "m2.primary.example")
        self.eq(self.copy_domains(), copy)
        # The primary is read with --primary; the copy does not have it.
        r = self.ok("--primary", "show", "new.example")
        self.eq(json.loads(r.stdout)["server"], "m.new.example")
        self.contains(r.stderr, "mxdelegatectl: show: read from the primary, [follow] at %s:6:1"
                      % self.cfg)
        self.fails(sq.EX_DATAERR, ["show", "new.example"], "new.example: no such domain")

    def test_reads_say_which_copy_and_how_far_behind(self):
        copy = "mxdelegatectl: show: read from the local copy " + self.copy
        r = self.ok("show", "both.example")
        self.eq(json.loads(r.stdout)["server"], "m.copy.example")
        self.eq(r.stderr, "%s: no follower has kept it yet (no %s.follow)\n" % (copy, self.copy))

        now = time.time()
        self.status_file(in_step=now)
        self.hold()
        self.eq(self.ok("show", "both.example").stderr,
                "%s of %s: in step (change 1234)\n" % (copy, PRIMARY))
        for args, shows in ((["list"], "copy.example"), (["export"], "m.copy.example"),
                            (["check"], "2 domains"), (["query", "copy.example", "server"], "m.copy.example")):
            r = self.ok(*args)
            self.eq(r.stderr, "mxdelegatectl: %s: read from the local copy %s of %s: in step (change 1234)\n"
                    % (args[0], self.copy, PRIMARY))
            self.contains(r.stdout, shows)

        # Running, but the primary is away: behind since it was last in step.
        self.status_file(state="connecting", in_step=now - 12, since=now - 12,
                         error="PostgreSQL unreachable: connection refused")
        err = self.ok("show", "both.example").stderr
        self.contains(err, "%s of %s: 1" % (copy, PRIMARY))
        self.contains(err, " s behind (connecting since %s: PostgreSQL unreachable: connection refused)"
                      % iso(now - 12))

        # No follower: the lock is free, whatever the file says.
        self.release()
        self.status_file(in_step=now - 3 * 3600 - 30)
        self.eq(self.ok("show", "both.example").stderr,
                "%s of %s: no follower running; last in step %s, 3 h ago\n"
                % (copy, PRIMARY, iso(now - 3 * 3600 - 30)))

        # A status file that cannot be read does not stop the read.
        with open(self.copy + ".follow", "w") as f:
            f.write("{")
        r = self.ok("show", "both.example")
        self.contains(r.stderr, "%s: how far behind is unknown: %s.follow: not a JSON object"
                      % (copy, self.copy))

        # Without [follow], a read says nothing, and --primary is refused.
        self.eq(self.ok("show", "both.example", cfg=self.plain).stderr, "")
        self.fails(EX_CONFIG, ["--primary", "show", "both.example"],
                   "%s: --primary: no [follow] table" % self.plain, cfg=self.plain)

    def test_status_prints_the_copy_and_exits_0_only_in_step(self):
        r = self.ctl("status")
        self.eq(r.returncode, 1, r.stderr)
        self.eq(r.stdout, "copy:     %s\nprimary:  [follow] at %s:6:1\n"
                          "state:    none: no follower has kept this copy yet (no %s.follow)\n"
                          "follower: no follower running\n" % (self.copy, self.cfg, self.copy))
        now = time.time()
        self.status_file(in_step=now, since=now - 60)
        self.hold()
        r = self.ctl("status")
        self.eq(r.returncode, 0, r.stdout + r.stderr)
        self.eq(r.stdout, "copy:     %s\nprimary:  %s\nstate:    following since %s\n"
                          "change:   1234\nin step:  %s\nlag:      in step (change 1234)\n"
                          "follower: pid %d\n"
                % (self.copy, PRIMARY, iso(now - 60), iso(now), self.holder.pid))
        self.status_file(state="connecting", in_step=now - 30, since=now - 30, error="refused")
        r = self.ctl("status")
        self.eq(r.returncode, 1, r.stdout)
        self.contains(r.stdout, "state:    connecting since %s\n" % iso(now - 30))
        self.contains(r.stdout, "error:    refused\n")
        self.release()
        self.status_file(in_step=now)
        r = self.ctl("status")
        self.eq(r.returncode, 1, r.stdout)
        self.contains(r.stdout, "lag:      no follower running; last in step")
        self.contains(r.stdout, "follower: no follower running\n")
        with open(self.copy + ".follow", "w") as f:
            f.write("{")
        r = self.ctl("status")
        self.eq(r.returncode, 1, r.stdout)
        self.contains(r.stdout, "state:    unknown: %s.follow: not a JSON object\n" % self.copy)
        self.fails(EX_CONFIG, ["status"], "mxdelegatectl: status: %s: no [follow] table; status "
                   "reports on a local copy kept by \"mxdelegatectl follow\", and on the "
                   "responder through [status] listen" % self.plain, cfg=self.plain)

    def test_a_write_into_the_copy_is_refused_naming_the_primary(self):
        refused = ("sqlite: %s: a copy of PostgreSQL %s kept by \"mxdelegatectl follow\"; write to "
                   "the primary (a configuration with [follow] naming it)" % (self.copy, PRIMARY))
        before = self.copy_domains()
        self.fails(EX_IOERR, ["add", "x.example", "--server", "m.x.example"],
                   "mxdelegatectl: add: " + refused, cfg=self.plain)
        self.fails(EX_IOERR, ["remove", "copy.example"], refused, cfg=self.plain)
        self.fails(EX_CANTCREAT, ["init"], refused, cfg=self.plain)
        r = subprocess.run([CTL, "--plugin-dir", PLUGINS, "--db", self.copy, "set", "copy.example", "--server", "m.y.example"],
                           capture_output=True, text=True, timeout=60)
        self.eq(r.returncode, EX_IOERR, r.stderr)
        self.contains(r.stderr, refused)
        self.eq(self.copy_domains(), before)
        # Reading it is as for any store: the follower's table and triggers
        # do not upset the responder's checks, and [follow] is not its concern.
        self.eq(json.loads(self.ok("show", "copy.example", cfg=self.plain).stdout)["server"],
                "m.copy.example")
        for cfg in (self.plain, self.cfg):
            r = subprocess.run([BIN, "-c", cfg, "--check"], capture_output=True, text=True, timeout=60)
            self.eq((r.returncode, r.stderr), (0, ""), cfg)

    def test_follow_runs_the_follower_in_its_own_process_or_says_it_is_missing(self):
        bindir = self.tmp.file("bin")
        os.mkdir(bindir)
        ctl = os.path.join(bindir, "mxdelegatectl")
        shutil.copy(CTL, ctl)
        r = self.ctl("follow", program=ctl)
        self.eq(r.returncode, sq.EX_UNAVAILABLE, r.stderr)
        self.contains(r.stderr, "mxdelegatectl: follow: ")
        self.contains(r.stderr, "/libexec/mxdelegate-follow: not installed (nor %s/mxdelegate-follow); "
                      "the follower comes with mxdelegate's PostgreSQL support" % bindir)
        # Beside the program: run in the same process (exec), with -c and
        # the arguments as given.
        seen = self.tmp.file("seen")
        fake = os.path.join(bindir, "mxdelegate-follow")
        with open(fake, "w") as f:
            f.write("#!/bin/sh\necho \"$$ $*\" > %s\nexit 3\n" % seen)
        os.chmod(fake, 0o755)
        p = subprocess.Popen([ctl, "-c", self.cfg, "follow", "--once", "-x y"])
        self.eq(p.wait(timeout=30), 3)
        with open(seen) as f:
            self.eq(f.read(), "%d -c %s --once -x y\n" % (p.pid, self.cfg))
        self.fails(EX_CONFIG, ["follow"], "mxdelegatectl: follow: %s: no [follow] table" % self.plain,
                   cfg=self.plain)

    def test_primary_stopped_a_write_exits_75_naming_the_primary(self):
        # A server that answers and refuses is no outage: 74, not "try again".
        for name, conninfo, why in (
                ("nodb.toml", self.pg.conninfo("no_such_db"), "database \"no_such_db\" does not exist"),
                ("nopw.toml", self.pg.conninfo(self.dbname, user=pgserver.SECRET_ROLE,
                                               passfile="/dev/null"), "no password supplied")):
            cfg = self.tmp.write(name, FOLLOW % {"plugins": PLUGINS, "db": self.copy,
                                                 "conninfo": json.dumps(conninfo)})
            self.fails(EX_IOERR, ["add", "down.example", "--server", "m.down.example"], why, cfg=cfg)
        # A fast stop: the test server runs with synchronous_commit off, so an
        # immediate one may lose the last commits (both.example) with its WAL buffers.
        self.pg.stop()
        try:
            r = self.fails(sq.EX_TEMPFAIL, ["add", "down.example", "--server", "m.down.example"],
                           "mxdelegatectl: add: the primary, [follow] at %s:6:1: postgres: host=127.0.0.1 "
                           "port=%d dbname=%s" % (self.cfg, self.pg.port, self.dbname))
            self.contains(r.stderr, "Connection refused")
            # The copy still reads, and says how old it may be.
            r = self.ok("show", "copy.example")
            self.contains(r.stderr, "read from the local copy " + self.copy)
        finally:
            self.pg.start()
        self.eq(self.copy_domains(), ["both.example", "copy.example"])
        self.ok("add", "down.example", "--server", "m.down.example")
        self.eq(self.primary_domains(), ["both.example", "down.example"])
