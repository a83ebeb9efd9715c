"""mxdelegate-follow end to end, on a real PostgreSQL server of the tests'
own (pgserver.py): nodes made of a follower and the unchanged SQLite
responder on its copy, through an outage of the primary, SIGKILL mid-copy
and mid-apply, pruned change records, writes made with plain SQL, and the
follower's refusals (a second follower, an old schema, a write into the
copy) and its word to systemd, and the renderings it keeps in the copy
(render on write), which the responder serves.

Sizes and the outage are variables: FOLLOW_DOMAINS (10000), FOLLOW_OUTAGE
(seconds, 30), FOLLOW_BIG (the store killed mid-copy, 150000), and
FOLLOW_MILLION=1 times a full copy of 1,000,000 domains."""

import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import time

import harness
import pgserver
import test_sqlite as sq
from harness import BUILD, PLUGINS, Test, wait_for
from test_rendering import METRICS, RENDER_TABLES, RENDERINGS, SUPPORT
from test_metrics import parse

FOLLOW = os.path.join(BUILD, "mxdelegate-follow")
CTL = sq.CTL
SERVER = sq.SERVER
CLIENT = sq.CLIENT

DOMAINS = int(os.environ.get("FOLLOW_DOMAINS", "10000"))
OUTAGE = float(os.environ.get("FOLLOW_OUTAGE", "30"))
BIG = int(os.environ.get("FOLLOW_BIG", "150000"))

PG_CONFIG = """\
[backend]
name = "postgres"
plugin_dir = "%(plugins)s"
conninfo = %(conninfo)s
"""

# A SQLite store alone: the copy as a responder or a plain tool sees it.
SQLITE_CONFIG = """\
[backend]
name = "sqlite"
plugin_dir = "%(plugins)s"
path = "%(db)s"
"""

# The node's configuration: the copy as [backend], the primary as [follow].
FOLLOW_CONFIG = SQLITE_CONFIG + """
[follow]
conninfo = %(conninfo)s
"""

# The responder's: the copy alone, looked at often.
NODE_CONFIG = SQLITE_CONFIG + """
[server]
check_interval = 0.05
threads = 4
"""


def fill(pg, db, first, last, prefix="m"):
    """Domains dFIRST.example .. dLAST.example, server PREFIX<i>.example.org:443,
    written with plain SQL."""
    pg.psql("INSERT INTO domains (domain, server) SELECT 'd' || i || '.example', "
            "'%s' || i || '.example.org:443' FROM generate_series(%d, %d) i" % (prefix, first, last), db)


class Node:
    """A follower and a responder on a copy of their own."""

    def __init__(self, test, name):
        self.test = test
        self.tmp = harness.TempDir()
        self.db = self.tmp.file("copy.db")
        self.cfg = self.tmp.write("follow.toml", FOLLOW_CONFIG % {
            "plugins": PLUGINS, "db": self.db, "conninfo": json.dumps(test.conninfo)})
        self.node_cfg = self.tmp.write("node.toml", NODE_CONFIG % {"plugins": PLUGINS, "db": self.db})
        self.name = name
        self.follower = None
        self.mx = None
        self.logs = []

    def start(self, env=None, wait=True):
        log = self.tmp.file("follow-%d.log" % len(self.logs))
        self.logs.append(log)
        with open(log, "wb") as err:
            self.follower = subprocess.Popen([FOLLOW, "-c", self.cfg], stdin=subprocess.DEVNULL,
                                             stdout=subprocess.DEVNULL, stderr=err,
                                             env=dict(os.environ, **(env or {})))
        if wait:
            self.test.true(wait_for(lambda: self.state() == "following" or self.follower.poll() is not None,
                                    120, 0.05),
                           "%s: the follower is not following: %s" % (self.name, self.log()))
            self.test.eq(self.follower.poll(), None, self.log())
        return self.follower

    def log(self):
        out = ""
        for path in self.logs:
            with open(path, errors="replace") as f:
                out += f.read()
        return out

    def status(self):
        try:
            with open(self.db + ".follow") as f:
                return json.load(f)
        except (OSError, ValueError):
            return {}

    def state(self):
        return self.status().get("state")

    def stop(self, sig=signal.SIGTERM):
        if self.follower and self.follower.poll() is None:
            self.follower.send_signal(sig)
            self.follower.wait(20)
        return self.follower.returncode if self.follower else None

    def serve(self):
        self.mx = sq.Served(self.node_cfg, self.tmp)
        return self.mx

    def sql(self, text):
        db = sqlite3.connect(self.db, isolation_level=None)
        try:
            return db.execute(text).fetchall()
        finally:
            db.close()

    def seq(self):
        return int(self.sql("SELECT value FROM mxdelegate_follow WHERE name = 'seq'")[0][0])

    def close(self):
        self.stop(signal.SIGKILL)
        if self.mx:
            self.mx.stop()
        self.tmp.cleanup()


class FollowTest(Test):
    def setup(self):
        self.pg = pgserver.Server.shared()
        self.dbname = self.pg.new_database()
        self.conninfo = self.pg.conninfo(self.dbname)
        self.pgcfg = self.tmp.write("pg.toml", PG_CONFIG % {
            "plugins": PLUGINS, "conninfo": json.dumps(self.conninfo)})
        self.ctl_ok("init")
        self.nodes = []

    def teardown(self):
        for n in self.nodes:
            n.close()
        if not self.pg.running:
            self.pg.start()

    def node(self, name="node"):
        n = Node(self, name)
        self.nodes.append(n)
        return n

    def ctl(self, *args, cfg=None):
        return subprocess.run([CTL, "-c", cfg or self.pgcfg, *args], capture_output=True, text=True,
                              timeout=120)

    def ctl_ok(self, *args, cfg=None):
        r = self.ctl(*args, cfg=cfg)
        self.eq(r.returncode, 0, r.stderr)
        return r.stdout

    def sql(self, text):
        return self.pg.psql(text, self.dbname)

    def max_seq(self):
        return int(self.sql("SELECT coalesce(max(seq), 0) FROM mxdelegate_changes").strip() or 0)

    def in_step(self, node, timeout=10):
        """Waits until the node applied everything the primary has."""
        want = self.max_seq()
        self.true(wait_for(lambda: node.status().get("seq", -1) >= want and node.state() == "following",
                           timeout, 0.02), "%s: not in step with seq %d: %r\n%s"
                  % (node.name, want, node.status(), node.log()))

    def served(self, node, i, prefix="m"):
        r = node.mx.get(SERVER, host="d%d.example" % i)
        return r is not None and r.status == 200 and r.json() == {"m.server": "%s%d.example.org:443" % (prefix, i)}


class FollowOutage(FollowTest):
    def test_two_nodes_serve_every_domain_through_an_outage(self):
        fill(self.pg, self.dbname, 1, DOMAINS)
        a, b = self.node("a"), self.node("b")
        for n in (a, b):
            n.start()
            n.serve()
        self.eq(a.sql("SELECT count(*) FROM domains")[0][0], DOMAINS)
        self.pg.stop("immediate")
        down_at = time.monotonic()
        requests, bad, write = 0, [], None
        while time.monotonic() - down_at < OUTAGE:
            node = random.choice((a, b))
            i = random.randint(1, DOMAINS)
            r = node.mx.get(SERVER, host="d%d.example" % i)
            requests += 1
            if r is None or r.status != 200 or r.json() != {"m.server": "m%d.example.org:443" % i}:
                bad.append((node.name, i, r and r.status))
            if write is None and time.monotonic() - down_at > OUTAGE / 2:
                # A node's own configuration: its writes go to the primary.
                write = self.ctl("add", "new.example", "--server", "new.example.org", cfg=a.cfg)
        self.eq(bad[:10], [], "of %d requests during the outage" % requests)
        self.true(requests > 100, "only %d requests in %ss" % (requests, OUTAGE))
        for n in (a, b):
            self.eq(n.state(), "connecting")
            self.true(n.status().get("in_step_at"), n.status())
            self.eq(n.follower.poll(), None, n.log())
            self.contains(n.log(), "keeps serving as it is")
        self.pg.start()
        for n in (a, b):
            self.true(wait_for(lambda: n.state() == "following", 30, 0.05), n.log())
        self.ctl_ok("add", "d0.example", "--server", "m0.example.org:443")
        written = time.monotonic()
        self.true(wait_for(lambda: self.served(a, 0) and self.served(b, 0), 1.0, 0.01),
                  "the write was not served by both nodes within 1 s")
        print("  %d requests during a %ss outage, all 200; write served by both nodes in %.3f s"
              % (requests, OUTAGE, time.monotonic() - written))
        self.eq(write.returncode, sq.EX_TEMPFAIL, write.stderr)
        self.contains(write.stderr, "host=127.0.0.1 port=%d" % self.pg.port)


class FollowKill(FollowTest):
    def test_sigkill_mid_copy_leaves_the_old_copy_and_the_next_start_converges(self):
        fill(self.pg, self.dbname, 1, 1000)
        n = self.node()
        n.start()
        self.eq(n.stop(), 0, n.log())
        # More changes than are applied one by one: the next start copies whole.
        fill(self.pg, self.dbname, 1001, 1000 + BIG)
        n.start(wait=False)
        fresh = n.db + ".new"
        self.true(wait_for(lambda: os.path.exists(fresh) and os.path.getsize(fresh) > 1 << 20, 60, 0.005),
                  "no copy under way: " + n.log())
        n.stop(signal.SIGKILL)
        self.eq(n.sql("PRAGMA integrity_check"), [("ok",)])
        self.eq(n.sql("SELECT count(*) FROM domains")[0][0], 1000)
        n.serve()
        self.true(self.served(n, 1000))
        self.eq(n.mx.get(SERVER, host="d1001.example").status, 404)
        n.start()
        self.in_step(n)
        self.false_path(fresh)
        self.eq(n.sql("SELECT count(*) FROM domains")[0][0], 1000 + BIG)
        self.true(wait_for(lambda: self.served(n, 1000 + BIG), 2), "the new copy is not served")
        self.contains(n.log(), "full copy")

    def false_path(self, path):
        self.true(not os.path.exists(path), path + " is still there")

    def test_sigkill_mid_apply_rolls_back_whole_and_the_next_start_converges(self):
        count = 50000
        fill(self.pg, self.dbname, 1, count)
        n = self.node()
        n.start()
        n.serve()
        journal = n.db + "-journal"
        caught = False
        for attempt in range(4):
            before = n.seq()
            self.sql("UPDATE domains SET server = 'n%d-' || server" % attempt)
            if wait_for(lambda: os.path.exists(journal), 5, 0.0005):
                n.stop(signal.SIGKILL)
                caught = True
                break
            self.in_step(n)
        self.true(caught, "no apply was caught under way")
        # Opening the copy rolls the hot journal back: the copy is the one
        # before the transaction, whole.
        prefix = "n%d-" % attempt
        self.eq(n.sql("SELECT count(*), count(*) FILTER (WHERE server LIKE '%s%%') FROM domains"
                      % prefix)[0], (count, 0))
        self.eq(n.seq(), before)
        self.eq(n.sql("PRAGMA integrity_check"), [("ok",)])
        r = n.mx.get(SERVER, host="d7.example")
        self.eq(r.status, 200)
        n.start()
        self.in_step(n)
        self.eq(n.sql("SELECT count(*) FROM domains WHERE server LIKE '%s%%'" % prefix)[0][0], count)
        self.true(wait_for(lambda: n.mx.get(SERVER, host="d7.example").json()["m.server"].startswith(prefix),
                           2), "the applied change is not served")


class FollowChanges(FollowTest):
    def test_pruned_changes_make_a_full_copy(self):
        fill(self.pg, self.dbname, 1, 100)
        n = self.node()
        n.start()
        self.eq(n.stop(), 0, n.log())
        self.sql("UPDATE mxdelegate_meta SET value = '0 seconds' WHERE name = 'change_retention'")
        fill(self.pg, self.dbname, 101, 101)
        pruned = int(self.sql("SELECT value FROM mxdelegate_meta WHERE name = 'changes_pruned_through'"))
        self.true(pruned > n.seq(), "nothing pruned past the copy's seq")
        self.eq(self.sql("SELECT count(*) FROM mxdelegate_changes").strip(), "0")
        n.start()
        self.contains(n.log(), "full copy from host=127.0.0.1")
        self.contains(n.log(), "were pruned before this copy")
        self.eq(n.sql("SELECT count(*) FROM domains")[0][0], 101)
        self.eq(n.seq(), pruned)

    def test_a_primary_put_back_before_the_copy_makes_a_full_copy(self):
        fill(self.pg, self.dbname, 1, 20)
        n = self.node()
        n.start()
        self.eq(n.stop(), 0, n.log())
        # As if the primary were restored from a backup older than the copy.
        ahead = self.max_seq() + 100
        n.sql("UPDATE mxdelegate_follow SET value = '%d' WHERE name = 'seq'" % ahead)
        n.start()
        self.contains(n.log(), "before this copy's %d" % ahead)
        self.eq(n.seq(), self.max_seq())

    def test_writers_queue_before_they_lock_rows(self):
        # A holds the change log; B's UPDATE of y must wait before it locks
        # y, or A's own UPDATE of y would wait for B: a deadlock.
        fill(self.pg, self.dbname, 1, 2)

        def session():
            return subprocess.Popen([os.path.join(self.pg.bin, "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1",
                                     "-h", self.pg.root, "-p", str(self.pg.port), "-U", pgserver.SUPERUSER,
                                     "-d", self.dbname], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)

        a, b = session(), session()
        a.stdin.write("BEGIN; UPDATE domains SET note = 'a' WHERE domain = 'd1.example';\n")
        a.stdin.flush()
        self.true(wait_for(lambda: self.sql("SELECT count(*) FROM pg_locks WHERE mode = 'ExclusiveLock' "
                                            "AND relation = 'mxdelegate_changes'::regclass").strip() == "1", 10))
        b.stdin.write("UPDATE domains SET note = 'b' WHERE domain = 'd2.example';\n")
        b.stdin.flush()
        self.true(wait_for(lambda: self.sql("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = "
                                            "'Lock' AND datname = current_database()").strip() == "1", 10))
        a.stdin.write("UPDATE domains SET note = 'a' WHERE domain = 'd2.example'; COMMIT;\n")
        a_out, a_err = a.communicate(timeout=20)
        b_out, b_err = b.communicate(timeout=20)
        self.eq((a.returncode, b.returncode), (0, 0), a_err + b_err)
        self.eq(self.sql("SELECT note FROM domains ORDER BY domain").split(), ["a", "b"])

    def test_a_burst_of_commits_is_followed_to_the_last(self):
        # Commits one after another: their notifications come in while the
        # follower is applying the one before, and libpq reads them off the socket
        # during those queries.  The last must be applied at once, not at
        # the next 30 s poll (a follower that slept on the socket did so).
        fill(self.pg, self.dbname, 1, 10)
        n = self.node()
        n.start()
        for burst in range(3):
            self.sql("".join("UPDATE domains SET server = 'b%d-%d.example' WHERE domain = 'd1.example'; "
                             % (burst, i) for i in range(200)))
            last = "b%d-199.example" % burst
            self.true(wait_for(lambda: n.sql("SELECT server FROM domains WHERE domain = 'd1.example'")
                               == [(last,)], 5, 0.02),
                      "burst %d: the copy holds %r, not %r\n%s"
                      % (burst, n.sql("SELECT server FROM domains WHERE domain = 'd1.example'"), last, n.log()))

    def test_plain_sql_writes_reach_the_followers(self):
        fill(self.pg, self.dbname, 1, 10)
        a, b = self.node("a"), self.node("b")
        a.start()
        b.start()

        def both(query, want):
            for n in (a, b):
                self.true(wait_for(lambda: n.sql(query) == want, 5, 0.02),
                          "%s: %s gave %r, not %r" % (n.name, query, n.sql(query), want))

        self.sql("INSERT INTO domains (domain, client) VALUES ('sql.example', 'https://m.sql.example')")
        both("SELECT client FROM domains WHERE domain = 'sql.example'", [("https://m.sql.example",)])
        self.sql("UPDATE domains SET client = 'https://n.sql.example', max_age = 60 WHERE domain = 'sql.example'")
        both("SELECT client, max_age FROM domains WHERE domain = 'sql.example'", [("https://n.sql.example", 60)])
        self.sql("UPDATE domains SET domain = 'renamed.example' WHERE domain = 'd3.example'")
        both("SELECT domain FROM domains WHERE domain IN ('d3.example', 'renamed.example')",
             [("renamed.example",)])
        self.sql("DELETE FROM domains WHERE domain = 'd5.example'")
        both("SELECT count(*) FROM domains", [(10,)])
        self.sql("TRUNCATE domains")
        both("SELECT count(*) FROM domains", [(0,)])
        self.sql("INSERT INTO domains (domain, server) VALUES ('after.example', 'm.after.example')")
        both("SELECT domain FROM domains", [("after.example",)])
        self.contains(a.log(), "emptied with TRUNCATE")
        # The created and updated times are the primary's, in the store's form.
        row = a.sql("SELECT created, updated FROM domains")[0]
        self.true(all(len(t) == 20 and t.endswith("Z") and t[10] == "T" for t in row), row)


# One file for the node's follower and its responder, as the package runs
# them: the renderings are made under the [defaults] the responder asks for.
RENDER_CONFIG = FOLLOW_CONFIG + RENDER_TABLES


class FollowRenderings(FollowTest):
    def configure(self, node, support):
        text = RENDER_CONFIG % {"plugins": PLUGINS, "db": node.db, "conninfo": json.dumps(self.conninfo),
                                "support": support, "metrics": METRICS}
        aside = node.cfg + ".new"
        with open(aside, "w") as f:
            f.write(text)
        os.rename(aside, node.cfg)
        node.node_cfg = node.cfg

    def counts(self, node):
        r = node.mx.get(METRICS, host=None)
        self.eq(r.status, 200, r.raw)
        m = parse(r.body.decode())
        return {o: m.get((RENDERINGS, (("outcome", o),)), 0.0) for o in ("used", "absent", "undecodable")}

    def body(self, node, host, uri):
        r = node.mx.get(uri, host=host)
        self.true(r is not None, "no answer")
        return r.status, (json.loads(r.body) if r.body else None)

    def serves_rendered(self, node, host, uri, status, body):
        """Waits until host's uri answers status and body from a rendering
        (the used count moves with that very answer), and says it answers
        so every time after."""
        def fast():
            before = self.counts(node)["used"]
            return self.body(node, host, uri) == (status, body) and self.counts(node)["used"] > before
        self.true(wait_for(fast, 10, 0.05), "%s %s: %r, %r\n%s" % (
            host, uri, self.body(node, host, uri), self.counts(node), node.log()))
        for _ in range(5):
            self.eq(self.body(node, host, uri), (status, body))

    def renderings(self, node):
        return dict(node.sql("SELECT domain, rendered_for FROM renderings"))

    def test_the_copy_keeps_renderings_that_the_responder_serves(self):
        fill(self.pg, self.dbname, 1, 5)
        self.ctl_ok("add", "a.example", "--server", "m.a.example:443")
        self.ctl_ok("add", "*.w.example", "--server", "matrix.{domain}:443")
        # Refused with [defaults]? No: refused alone, written with SQL.
        self.sql("INSERT INTO domains (domain, client) VALUES ('bad.example', 'not a url')")
        n = self.node("r")
        self.configure(n, "https://old.example/help")
        n.start()
        n.serve()
        self.in_step(n)
        kept = self.renderings(n)
        # Every exact name but the refused one; no wildcard; one fingerprint.
        self.eq(sorted(kept), ["a.example"] + ["d%d.example" % i for i in range(1, 6)], kept)
        self.eq(len(set(kept.values())), 1, kept)
        old_fingerprint = kept["a.example"]
        self.true(old_fingerprint.startswith("f2-"), kept)

        c0 = self.counts(n)
        self.eq(self.body(n, "d1.example", SERVER), (200, {"m.server": "m1.example.org:443"}))
        self.eq(self.counts(n)["used"], c0["used"] + 1, (c0, self.counts(n)))
        self.eq(self.body(n, "d1.example", SUPPORT), (200, {"support_page": "https://old.example/help"}))
        self.eq(self.body(n, "bad.example", SERVER)[0], 500)
        self.eq(self.body(n, "x.w.example", SERVER), (200, {"m.server": "matrix.x.w.example:443"}))

        # Added on the primary with the tool: served from its rendering.
        self.ctl_ok("add", "b.example", "--server", "m.b.example:443")
        self.in_step(n)
        self.serves_rendered(n, "b.example", SERVER, 200, {"m.server": "m.b.example:443"})

        # An UPDATE on the primary: the new record, from a new rendering,
        # never the old one.
        self.sql("UPDATE domains SET server = 'n1.example.org:443' WHERE domain = 'd1.example'")
        self.in_step(n)
        self.serves_rendered(n, "d1.example", SERVER, 200, {"m.server": "n1.example.org:443"})
        # A record fixed on the primary is rendered when it arrives.
        self.sql("UPDATE domains SET client = 'https://m.bad.example' WHERE domain = 'bad.example'")
        self.in_step(n)
        self.serves_rendered(n, "bad.example", CLIENT, 200,
                             {"m.homeserver": {"base_url": "https://m.bad.example"}})

        # A removal: 404, and its rendering gone with the row.
        self.sql("DELETE FROM domains WHERE domain = 'd2.example'")
        self.in_step(n)
        self.true(wait_for(lambda: self.body(n, "d2.example", SERVER)[0] == 404, 5), self.body(n, "d2.example", SERVER))
        self.true("d2.example" not in self.renderings(n), self.renderings(n))

        # New [defaults]: the responder reloaded serves them from the full
        # path; the follower restarted renders every record again for them.
        self.eq(n.stop(), 0, n.log())
        self.configure(n, "https://new.example/help")
        n.mx.proc.send_signal(signal.SIGHUP)
        self.true(wait_for(lambda: self.body(n, "d3.example", SUPPORT) ==
                           (200, {"support_page": "https://new.example/help"}), 5),
                  self.body(n, "d3.example", SUPPORT))
        n.start()
        self.true(wait_for(lambda: "records rendered" in n.log(), 20, 0.05), n.log())
        self.contains(n.log(), ": 7 records rendered for this configuration's [defaults] and [http]")
        kept = self.renderings(n)
        self.eq(len(kept), 7, kept)
        self.eq(len(set(kept.values())), 1, kept)
        self.true(kept["a.example"] != old_fingerprint, kept)
        self.serves_rendered(n, "d3.example", SUPPORT, 200, {"support_page": "https://new.example/help"})
        self.serves_rendered(n, "a.example", SERVER, 200, {"m.server": "m.a.example:443"})
        # Started again with nothing to do, it says nothing of renderings.
        self.eq(n.stop(), 0, n.log())
        logged = len(n.log())
        n.start()
        self.in_step(n)
        self.true("records rendered" not in n.log()[logged:], n.log()[logged:])


    def primary_config(self, support):
        """The tool's configuration of the primary, with the node's [defaults]
        and [http] (support aside): the primary's renderings are made under
        the fingerprint the node asks for when `support` is the node's."""
        return self.tmp.write("pg-%d.toml" % abs(hash(support)), PG_CONFIG % {
            "plugins": PLUGINS, "conninfo": json.dumps(self.conninfo)} + RENDER_TABLES % {
            "support": support, "metrics": METRICS})

    def primary_rendering(self, domain):
        return self.sql("SELECT upper(encode(rendered, 'hex')) FROM renderings WHERE domain = '%s'"
                        % domain).strip()

    def copy_rendering(self, node, domain):
        return node.sql("SELECT hex(rendered) FROM renderings WHERE domain = '%s'" % domain)[0][0]

    def taken_made(self, node):
        st = node.status()
        return st.get("renderings_taken"), st.get("renderings_made")

    def test_the_copy_takes_the_primarys_renderings_when_its_fingerprint_matches(self):
        same = self.primary_config("https://old.example/help")
        other = self.primary_config("https://other.example/help")
        self.ctl_ok("add", "a.example", "--server", "m.a.example:443", cfg=same)
        self.ctl_ok("add", "b.example", "--server", "m.b.example:443", cfg=same)
        # Rendered on the primary under another fingerprint: not taken.
        self.ctl_ok("add", "o.example", "--server", "m.o.example:443", cfg=other)
        # Written with SQL: none on the primary.
        fill(self.pg, self.dbname, 1, 3)
        n = self.node("r")
        self.configure(n, "https://old.example/help")
        n.start()
        n.serve()
        self.in_step(n)
        self.eq(self.taken_made(n), (2, 4), n.status())
        self.contains(n.log(), "full copy of 6 domains (4 rendered here, 2 renderings taken from the primary)")
        # The primary's very bytes, served from the copy.
        self.eq(self.copy_rendering(n, "a.example"), self.primary_rendering("a.example"))
        self.serves_rendered(n, "a.example", SERVER, 200, {"m.server": "m.a.example:443"})
        self.serves_rendered(n, "o.example", SUPPORT, 200, {"support_page": "https://old.example/help"})

        # A change written with the tool under the node's fingerprint: its
        # rendering comes with the row.
        self.ctl_ok("add", "c.example", "--server", "m.c.example:443", cfg=same)
        self.in_step(n)
        self.eq(self.taken_made(n), (3, 4), n.status())
        self.eq(self.copy_rendering(n, "c.example"), self.primary_rendering("c.example"))
        self.serves_rendered(n, "c.example", SERVER, 200, {"m.server": "m.c.example:443"})

        # Changed with SQL on the primary: its rendering is of the old row
        # (the digest differs), so the follower renders the new one.
        self.sql("UPDATE domains SET server = 'n.a.example:443' WHERE domain = 'a.example'")
        self.in_step(n)
        self.eq(self.taken_made(n), (3, 5), n.status())
        self.true(self.copy_rendering(n, "a.example") != self.primary_rendering("a.example"))
        self.serves_rendered(n, "a.example", SERVER, 200, {"m.server": "n.a.example:443"})

        # Written under another fingerprint: rendered here as well.
        self.ctl_ok("set", "b.example", "--server", "n.b.example:443", cfg=other)
        self.in_step(n)
        self.eq(self.taken_made(n), (3, 6), n.status())
        self.serves_rendered(n, "b.example", SUPPORT, 200, {"support_page": "https://old.example/help"})

        # A garbled rendering on the primary (its digest still of the row)
        # is taken as it is, and the responder, which trusts it no more
        # than its own, answers from the record.  The follower is stopped
        # meanwhile, so that it reads the row with the garbled bytes.
        self.eq(n.stop(), 0, n.log())
        self.ctl_ok("set", "c.example", "--server", "g.c.example:443", cfg=same)
        self.sql("UPDATE renderings SET rendered = overlay(rendered PLACING '\\x7e'::bytea FROM 61 "
                 "FOR 1) WHERE domain = 'c.example'")
        n.start()
        self.in_step(n)
        self.eq(self.taken_made(n), (1, 0), n.status())
        self.eq(self.copy_rendering(n, "c.example"), self.primary_rendering("c.example"))
        before = self.counts(n)["undecodable"]
        self.true(wait_for(lambda: self.body(n, "c.example", SERVER) == (200, {"m.server": "g.c.example:443"})
                           and self.counts(n)["undecodable"] > before, 5), (self.counts(n), n.log()))

    def test_a_change_during_the_catch_up_is_applied_within_a_batch(self):
        fill(self.pg, self.dbname, 1, 50000)
        n = self.node("r")
        self.configure(n, "https://old.example/help")
        n.start()
        self.eq(n.stop(), 0, n.log())
        self.configure(n, "https://new.example/help")
        logged = len(n.log())
        n.start()
        # Following (READY) before the catch-up; a change now is applied
        # between two of its batches, not after the last.
        self.sql("UPDATE domains SET server = 'n7.example.org:443' WHERE domain = 'd7.example'")
        self.true(wait_for(lambda: n.sql("SELECT server FROM domains WHERE domain = 'd7.example'") ==
                           [("n7.example.org:443",)], 10, 0.01), n.log())
        self.true("records rendered" not in n.log()[logged:], "the catch-up was over first: " + n.log())
        self.true(wait_for(lambda: "records rendered" in n.log()[logged:], 120, 0.1), n.log())
        # d7 was rendered with its change: the walk finds it done.
        self.contains(n.log()[logged:], ": 49999 records rendered for this configuration's")
        self.eq(n.sql("SELECT count(DISTINCT rendered_for), count(*) FROM renderings"), [(1, 50000)])


class FollowRefusals(FollowTest):
    def test_a_second_follower_on_the_same_copy_exits_75(self):
        fill(self.pg, self.dbname, 1, 10)
        n = self.node()
        first = n.start()
        second = subprocess.run([FOLLOW, "-c", n.cfg], capture_output=True, text=True, timeout=20)
        self.eq(second.returncode, sq.EX_TEMPFAIL, second.stderr)
        self.contains(second.stderr, n.db + ".follow.lock: another follower (pid %d)" % first.pid)
        self.eq(first.poll(), None)

    def test_a_version_1_primary_is_refused_and_init_migrates_it(self):
        schema = open(os.path.join(harness.REPO, "backends/postgres/schema.sql")).read()
        v1 = schema[:schema.index("\n-- version 2:")]
        old = self.pg.new_database()
        self.pg.psql(v1, old)
        self.pg.psql("INSERT INTO domains (domain, server) VALUES ('old.example', 'm.old.example')", old)
        cfg = self.tmp.write("old.toml", FOLLOW_CONFIG % {
            "plugins": PLUGINS, "db": self.tmp.file("old.db"),
            "conninfo": json.dumps(self.pg.conninfo(old))})
        r = subprocess.run([FOLLOW, "-c", cfg], capture_output=True, text=True, timeout=20)
        self.eq(r.returncode, sq.EX_UNAVAILABLE, r.stderr)
        self.contains(r.stderr, "schema version 1, expected 2; run \"mxdelegatectl init\" to migrate it")
        # The responder still reads a version 1 store (a rolling upgrade).
        pgcfg = self.tmp.write("oldpg.toml", PG_CONFIG % {
            "plugins": PLUGINS, "conninfo": json.dumps(self.pg.conninfo(old))})
        mx = sq.Served(pgcfg, self.tmp)
        try:
            self.eq(mx.get(SERVER, host="old.example").json(), {"m.server": "m.old.example"})
        finally:
            log = mx.stderr()
            self.eq(mx.stop(), 0, log)
        self.ctl_ok("init", cfg=pgcfg)
        self.eq(self.pg.psql("SELECT value FROM mxdelegate_meta WHERE name = 'schema_version'", old).strip(), "4")
        self.eq(len(self.pg.psql("SELECT value FROM mxdelegate_meta WHERE name = 'store_id'", old).strip()), 36)
        self.pg.psql("INSERT INTO domains (domain, server) VALUES ('new.example', 'm.new.example')", old)
        self.eq(self.pg.psql("SELECT domain FROM mxdelegate_changes", old).split(), ["new.example"])
        r = subprocess.Popen([FOLLOW, "-c", cfg], stderr=subprocess.PIPE, text=True)
        try:
            self.true(wait_for(lambda: os.path.exists(self.tmp.file("old.db.follow")) and
                               json.load(open(self.tmp.file("old.db.follow")))["state"] == "following", 20),
                      "the migrated store is not followed")
        finally:
            r.send_signal(signal.SIGTERM)
            self.eq(r.wait(20), 0)

    def test_a_version_2_primary_is_followed_and_init_migrates_it_under_the_follower(self):
        schema = open(os.path.join(harness.REPO, "backends/postgres/schema.sql")).read()
        v2 = schema[:schema.index("\n-- version 3:")]
        old = self.pg.new_database()
        self.pg.psql(v2, old)
        self.pg.psql("INSERT INTO domains (domain, server) VALUES ('old.example', 'm.old.example')", old)
        self.conninfo = self.pg.conninfo(old)
        pgcfg = self.tmp.write("v2.toml", PG_CONFIG % {
            "plugins": PLUGINS, "conninfo": json.dumps(self.conninfo)})
        n = self.node()
        n.start()
        n.serve()
        self.eq(n.mx.get(SERVER, host="old.example").json(), {"m.server": "m.old.example"})
        # A responder on the primary itself, its readers prepared on version 2.
        direct = sq.Served(pgcfg, self.tmp)
        self.eq(direct.get(SERVER, host="old.example").json(), {"m.server": "m.old.example"})
        # The copy is of the current SQLite schema, whatever the primary's.
        self.eq(n.sql("PRAGMA user_version")[0][0], 3)
        # Writes need version 4; init migrates in one transaction, the
        # change log's triggers untouched.
        r = self.ctl("add", "moved.example", "--redirect", "https://matrix.other.example", cfg=pgcfg)
        self.true(r.returncode != 0, r.stderr)
        self.contains(r.stderr, "schema version 2, expected 4; run \"mxdelegatectl init\" to migrate it")
        self.eq(n.status()["renderings_taken"], 0)
        self.ctl_ok("init", cfg=pgcfg)
        self.eq(self.pg.psql("SELECT value FROM mxdelegate_meta WHERE name = 'schema_version'", old).strip(), "4")
        self.ctl_ok("add", "moved.example", "--redirect", "https://matrix.other.example",
                    "--redirect-status", "307", cfg=pgcfg)
        self.pg.psql("UPDATE domains SET redirect = '{\"server\": \"https://other.example/s\"}', "
                     "server = NULL WHERE domain = 'old.example'", old)
        self.eq(sorted(self.pg.psql("SELECT DISTINCT domain FROM mxdelegate_changes", old).split()),
                ["moved.example", "old.example"])
        self.true(wait_for(lambda: n.mx.get(CLIENT, host="moved.example").status == 307, 10),
                  "the redirect did not reach the copy: " + n.log())
        self.eq(n.mx.get(CLIENT, host="moved.example").header("Location"),
                "https://matrix.other.example/.well-known/matrix/client")
        self.true(wait_for(lambda: n.mx.get(SERVER, host="old.example").status == 302, 10), n.log())
        self.eq(n.mx.get(SERVER, host="old.example").header("Location"), "https://other.example/s")
        self.eq(n.state(), "following")
        # The follower read the migrated store's renderings with its rows:
        # the tool's, made under the same (empty) [defaults], were taken;
        # old.example, changed with SQL, was rendered on the node.
        self.eq(n.status()["renderings_taken"], 1, n.status())
        # init's notification retired the direct responder's readers: the
        # new columns are read without a restart.
        try:
            self.true(wait_for(lambda: direct.get(CLIENT, host="moved.example").status == 307, 10),
                      direct.stderr())
            self.eq(direct.get(SERVER, host="old.example").header("Location"), "https://other.example/s")
        finally:
            log = direct.stderr()
            self.eq(direct.stop(), 0, log)

    def test_a_copy_of_the_older_sqlite_schema_is_copied_whole_again(self):
        fill(self.pg, self.dbname, 1, 10)
        n = self.node()
        n.start()
        self.eq(n.stop(), 0, n.log())
        # As an older follower left it: SQLite schema 1, no redirect columns
        # and no renderings.
        n.sql("DROP TABLE renderings")
        for column in ("redirect", "redirect_status"):
            n.sql("ALTER TABLE domains DROP COLUMN " + column)
        n.sql("PRAGMA user_version = 1")
        self.ctl_ok("add", "moved.example", "--redirect", "https://matrix.other.example")
        n.start()
        self.in_step(n)
        self.eq(n.sql("PRAGMA user_version")[0][0], 3)
        # Copied whole, every row rendered with it, the redirect too.
        self.eq(n.sql("SELECT count(*) FROM renderings")[0][0], 11)
        self.eq(n.sql("SELECT redirect FROM domains WHERE domain = 'moved.example'"),
                [('"https://matrix.other.example"',)])
        self.eq(n.sql("SELECT count(*) FROM domains")[0][0], 11)

    def test_a_write_into_the_copy_is_refused_naming_the_primary(self):
        fill(self.pg, self.dbname, 1, 10)
        n = self.node()
        n.start()
        primary = "host=127.0.0.1 port=%d dbname=%s user=%s" % (self.pg.port, self.dbname, pgserver.SUPERUSER)
        for statement in ("INSERT INTO domains (domain, server, created, updated) "
                          "VALUES ('x.example', 'm.x.example', 'a', 'b')",
                          "UPDATE domains SET server = 'other.example' WHERE domain = 'd1.example'",
                          "DELETE FROM domains"):
            p = subprocess.run(["sqlite3", n.db, statement], capture_output=True, text=True)
            self.true(p.returncode != 0, statement)
            self.contains(p.stderr, "this store is a copy of PostgreSQL %s kept by "
                                    "\"mxdelegatectl follow\"; write to the primary" % primary)
        self.eq(n.sql("SELECT count(*) FROM domains")[0][0], 10)
        # The follower still writes.
        fill(self.pg, self.dbname, 11, 11)
        self.in_step(n)
        self.eq(n.sql("SELECT count(*) FROM domains")[0][0], 11)

    def test_ready_and_status_reach_the_notify_socket(self):
        fill(self.pg, self.dbname, 1, 10)
        n = self.node()
        path = n.tmp.file("notify.sock")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.bind(path)
        s.settimeout(20)
        try:
            n.start(env={"NOTIFY_SOCKET": path})
            got = []
            while not any("READY=1" in m for m in got):
                got.append(s.recv(4096).decode())
            self.true(any(m.startswith("STATUS=following, seq ") for m in got), got)
            self.eq(n.stop(), 0, n.log())
            rest = []
            s.settimeout(2)
            try:
                while True:
                    rest.append(s.recv(4096).decode())
            except socket.timeout:
                pass
            self.true("STOPPING=1" in rest, rest)
            self.true(any(m.startswith("STATUS=stopped") for m in rest), rest)
        finally:
            s.close()
        self.eq(n.state(), "stopped")

    def test_watchdog_pings_from_its_loop_at_half_watchdog_usec(self):
        fill(self.pg, self.dbname, 1, 10)
        n = self.node()
        path = n.tmp.file("notify.sock")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.bind(path)
        try:
            n.start(env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "400000"})
            # Following, waiting on the primary (a 30 s poll): the pings go on.
            got = []
            end = time.monotonic() + 2.0
            while time.monotonic() < end:
                s.settimeout(max(end - time.monotonic(), 0.01))
                try:
                    got.append(s.recv(4096).decode())
                except socket.timeout:
                    break
            # Sent within the window but read after it (a loaded machine).
            s.setblocking(False)
            try:
                while True:
                    got.append(s.recv(4096).decode())
            except BlockingIOError:
                pass
            pings = got.count("WATCHDOG=1")
            self.true(7 <= pings <= 13, "%d pings in 2 s: %r" % (pings, got))
            self.eq(n.stop(), 0, n.log())
        finally:
            s.close()

    def test_json_log_lines(self):
        fill(self.pg, self.dbname, 1, 10)
        n = self.node()
        with open(n.cfg, "a") as f:
            f.write('\n[log]\nformat = "json"\n')
        n.start()
        self.eq(n.stop(), 0, n.log())
        lines = n.log().splitlines()
        self.true(lines, "no line logged")
        for line in lines:
            r = json.loads(line)
            self.eq((r["program"], r["module"]), ("mxdelegate-follow", "follow"), line)
        self.true(any(json.loads(l)["message"].startswith("stopping on a signal") for l in lines), lines)


class FollowMillion(FollowTest):
    def test_a_full_copy_of_a_million_domains(self):
        if os.environ.get("FOLLOW_MILLION") != "1":
            return
        fill(self.pg, self.dbname, 1, 1000000)
        n = self.node()
        t0 = time.monotonic()
        n.start()
        took = time.monotonic() - t0
        print("  full copy of 1,000,000 domains: %.1f s" % took)
        self.true(took < 60, "%.1f s" % took)
