"""Render on write, end to end (HACKING.md, "Render on write: the trust
boundary"): mxdelegatectl keeps each record's rendering in the SQLite file,
the responder serves it (mxdelegate_store_renderings_total says so), and
nothing written around the tool is ever served from a stale or unchecked
rendering: a row changed with SQL (valid, then invalid), [defaults]
changed and reloaded, a rendering garbled in place, one row's rendering
copied onto another."""

import json
import os
import signal
import sqlite3

import pgserver
from harness import PLUGINS, wait_for
from test_metrics import parse
from test_sqlite import CLIENT, SERVER, RoundTrip, Store

SUPPORT = "/.well-known/matrix/support"
METRICS = "/metrics"
RENDERINGS = "mxdelegate_store_renderings_total"

# What a rendering is made under, and the metrics page that counts its use;
# test_follow.py gives its node the same.
RENDER_TABLES = """
[defaults]
support = { support_page = "%(support)s" }

[server]
check_interval = 0.05
threads = 4

[status]
path = "%(metrics)s"
"""

CONFIG = """\
[backend]
name = "sqlite"
plugin_dir = "%(plugins)s"
path = "%(db)s"
""" + RENDER_TABLES


class Rendered(Store):
    """What both stores' suites share: the metrics of renderings, requests."""

    def config_text(self, support):
        return CONFIG % {"plugins": PLUGINS, "db": self.db, "support": support, "metrics": METRICS}

    def write_config(self, support):
        # Written aside and renamed over, as the man pages advise: the
        # responder never reads half a file.
        aside = self.cfg + ".new"
        with open(aside, "w") as f:
            f.write(self.config_text(support))
        os.rename(aside, self.cfg)

    def counts(self):
        r = self.mx.get(METRICS, host=None)
        self.eq(r.status, 200, r.raw)
        m = parse(r.body.decode())
        return {o: m.get((RENDERINGS, (("outcome", o),)), 0.0)
                for o in ("used", "absent", "undecodable")}

    def moved(self, before, **by):
        after = self.counts()
        for outcome, n in by.items():
            self.eq(after[outcome] - before[outcome], n, "%s: %r -> %r" % (outcome, before, after))
        return after

    def body(self, host, uri):
        r = self.mx.get(uri, host=host)
        self.true(r is not None, "no answer")
        return r.status, (json.loads(r.body) if r.body else None)

    def answers(self, host, uri, status, body=None, timeout=5):
        """Waits until host's uri answers status (and body): the generation
        moves within check_interval of a commit."""
        return wait_for(lambda: self.body(host, uri)[0] == status and
                        (body is None or self.body(host, uri)[1] == body), timeout)


class RenderOnWrite(Rendered):
    def setup(self):
        Store.setup(self)
        self.write_config("https://old.example/help")
        self.ok("init")

    def sql(self, statement, *args):
        db = sqlite3.connect(self.db, isolation_level=None)
        try:
            return db.execute(statement, args).fetchall()
        finally:
            db.close()

    # What the two stores' suites do differently, for the tests they share.
    # A rendering overwritten in place, its byte 61 made '~':
    GARBLE = ("UPDATE renderings SET rendered = substr(rendered, 1, 60) || X'7e' || "
              "substr(rendered, 62) WHERE domain = 'a.example'")

    def scalar(self, statement):
        return str(self.sql(statement)[0][0])

    def renderings_written(self):
        """After a write to renderings alone: SQLite's generation moves with
        any commit, so nothing is needed to make the responder ask again."""

    def test_writes_keep_renderings_that_the_responder_serves(self):
        self.ok("add", "a.example", "--server", "m.a.example:443", "--client", "https://m.a.example")
        self.ok("add", "b.example", "--server", "m.b.example:443")
        self.ok("add", "*.w.example", "--server", "matrix.{domain}:443")
        rows = dict((d, (r, f)) for d, r, f in self.sql(
            "SELECT d.domain, r.rendered IS NOT NULL, r.rendered_for FROM domains AS d "
            "LEFT JOIN renderings AS r ON r.domain = d.domain"))
        self.eq(rows["a.example"][0], 1, rows)
        self.eq(rows["b.example"][0], 1, rows)
        self.true(rows["a.example"][1].startswith("f2-"), rows)
        # A wildcard's documents name the host asked for: none kept.
        self.eq(rows["*.w.example"], (0, None), rows)
        # set keeps a fresh one in the same transaction as its put.
        self.ok("set", "b.example", "--server", "m2.b.example:443")
        self.eq(self.sql("SELECT rendered IS NOT NULL FROM renderings WHERE domain = 'b.example'"),
                [(1,)])

        self.serve_the_kept_renderings()

    def serve_the_kept_renderings(self):
        """What test_writes_keep_renderings_that_the_responder_serves wrote
        (a.example with a client, b.example set again, *.w.example), served:
        from the renderings, each counted once."""
        self.serve()
        c0 = self.counts()
        self.eq(self.body("a.example", CLIENT), (200, {"m.homeserver": {"base_url": "https://m.a.example"}}))
        c1 = self.moved(c0, used=1, absent=0, undecodable=0)
        # The other three documents came with it: no second lookup.
        self.eq(self.body("a.example", SERVER), (200, {"m.server": "m.a.example:443"}))
        self.eq(self.body("a.example", SUPPORT), (200, {"support_page": "https://old.example/help"}))
        c2 = self.moved(c1, used=0, absent=0)
        self.eq(self.body("b.example", SERVER), (200, {"m.server": "m2.b.example:443"}))
        c3 = self.moved(c2, used=1)
        # A wildcard's host takes the full path, as before, and counts nothing.
        self.eq(self.body("x.w.example", SERVER), (200, {"m.server": "matrix.x.w.example:443"}))
        self.moved(c3, used=0, absent=0, undecodable=0)

    def test_sql_around_the_tool_is_served_at_once_never_the_old_rendering(self):
        self.ok("add", "a.example", "--server", "m.a.example:443")
        self.ok("add", "b.example", "--server", "m.b.example:443")
        self.serve()
        c0 = self.counts()
        self.eq(self.body("a.example", SERVER), (200, {"m.server": "m.a.example:443"}))
        c1 = self.moved(c0, used=1)

        # A valid change with SQL: its rendering still says m.a.example, and
        # must never be served once the generation has moved.
        self.sql("UPDATE domains SET server = 'changed.a.example:443' WHERE domain = 'a.example'")
        self.true(self.answers("a.example", SERVER, 200, {"m.server": "changed.a.example:443"}),
                  self.body("a.example", SERVER))
        c2 = self.moved(c1, used=0, undecodable=0)
        self.true(c2["absent"] > c1["absent"], (c1, c2))

        # An invalid change with SQL: the 500 of the full path, not the
        # rendering.
        self.sql("UPDATE domains SET server = 'not a server name!' WHERE domain = 'a.example'")
        self.true(self.answers("a.example", SERVER, 500), self.body("a.example", SERVER))
        self.eq(self.body("a.example", SUPPORT)[0], 500)
        self.moved(c2, used=0)

        # The tool writes it again: rendered, and served from the rendering.
        self.ok("set", "a.example", "--server", "m3.a.example:443")
        self.true(self.answers("a.example", SERVER, 200, {"m.server": "m3.a.example:443"}))
        c3 = self.counts()
        self.true(c3["used"] > c2["used"], (c2, c3))

        # The rendering garbled in place (the row's digest still holds): the
        # right answer from the full path, and the bytes counted undecodable.
        self.sql(self.GARBLE)
        self.renderings_written()
        # Each request after the commit is a miss until the generation has
        # moved; ask until the garbled bytes were read, always rightly answered.
        self.true(wait_for(lambda: self.body("a.example", SERVER) ==
                           (200, {"m.server": "m3.a.example:443"}) and
                           self.counts()["undecodable"] > c3["undecodable"], 5), self.counts())
        self.eq(self.body("a.example", SERVER), (200, {"m.server": "m3.a.example:443"}))
        self.contains(self.mx.stderr(), "a.example: the store's rendering")

        # b's rendering, fingerprint and digest copied onto a's row: never
        # served for a.
        self.ok("set", "a.example", "--server", "m4.a.example:443")
        self.true(self.answers("a.example", SERVER, 200, {"m.server": "m4.a.example:443"}))
        self.sql("UPDATE renderings SET (rendered_for, rendered_of, rendered) = "
                 "(SELECT rendered_for, rendered_of, rendered FROM renderings "
                 "WHERE domain = 'b.example') WHERE domain = 'a.example'")
        self.eq(self.scalar("SELECT count(DISTINCT rendered) FROM renderings"), "1")
        c4 = self.counts()
        self.renderings_written()
        # The request first: each is a miss until the generation has moved.
        self.true(wait_for(lambda: self.body("a.example", SERVER) ==
                           (200, {"m.server": "m4.a.example:443"}) and
                           self.counts()["absent"] > c4["absent"], 5), self.counts())
        c5 = self.counts()
        for _ in range(20):
            self.eq(self.body("a.example", SERVER), (200, {"m.server": "m4.a.example:443"}))
        self.eq(self.body("b.example", SERVER), (200, {"m.server": "m.b.example:443"}))
        self.moved(c5, used=1)  # b's own, once

    def test_changed_defaults_are_served_then_render_brings_the_fast_path_back(self):
        self.ok("add", "a.example", "--server", "m.a.example:443")
        self.ok("add", "b.example", "--server", "m.b.example:443", "--support-page",
                "https://b.example/help")
        self.ok("add", "*.w.example", "--server", "matrix.{domain}:443")
        self.serve()
        c0 = self.counts()
        self.eq(self.body("a.example", SUPPORT), (200, {"support_page": "https://old.example/help"}))
        c1 = self.moved(c0, used=1)

        # New [defaults], reloaded: every kept rendering has the old
        # fingerprint, so the new defaults are served from the full path.
        self.write_config("https://new.example/help")
        self.mx.proc.send_signal(signal.SIGHUP)
        self.true(self.answers("a.example", SUPPORT, 200, {"support_page": "https://new.example/help"}),
                  self.body("a.example", SUPPORT))
        self.eq(self.body("b.example", SUPPORT), (200, {"support_page": "https://b.example/help"}))
        c2 = self.moved(c1, used=0)
        self.true(c2["absent"] >= c1["absent"] + 2, (c1, c2))

        # render: every exact key again, under the new fingerprint.  What
        # is cached stays (it was right); the next miss takes the new one.
        out = self.ok("render")
        self.eq(out, "render: 2 rendered, 1 wildcard keys (rendered per host when asked), 0 refused\n")
        self.renderings_written()
        self.true(wait_for(lambda: self.body("a.example", SUPPORT) ==
                           (200, {"support_page": "https://new.example/help"}) and
                           self.counts()["used"] >= c2["used"] + 1, 5), self.counts())
        self.eq(self.body("b.example", SERVER), (200, {"m.server": "m.b.example:443"}))
        c3 = self.counts()
        self.true(c3["used"] >= c2["used"] + 2, (c2, c3))
        self.eq(c3["absent"], c2["absent"], (c2, c3))

    def test_render_names_what_it_refuses_and_init_renders_a_migrated_store(self):
        self.ok("add", "a.example", "--server", "m.a.example:443")
        # A record validation refuses, written around the tool: named with
        # its field, exit 1, and served 500 as before.
        self.sql("INSERT INTO domains (domain, client, created, updated) VALUES "
                 "('bad.example', 'ftp://nowhere', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')")
        r = self.ctl("render")
        self.eq(r.returncode, 1, r.stderr)
        lines = r.stdout.splitlines()
        self.eq(lines[0], "render: 1 rendered, 0 wildcard keys (rendered per host when asked), 1 refused")
        self.true(lines[1].startswith("render: refused: bad.example: client: "), lines)
        self.serve()
        self.eq(self.body("bad.example", CLIENT)[0], 500)
        self.mx.stop()
        self.mx = None

        # A schema 2 store (an older mxdelegatectl): init migrates it and
        # renders what it holds.
        self.sql("DELETE FROM domains WHERE domain = 'bad.example'")
        self.sql("DROP TABLE renderings")
        self.sql("PRAGMA user_version = 2")
        self.serve()
        c0 = self.counts()
        self.eq(self.body("a.example", SERVER), (200, {"m.server": "m.a.example:443"}))
        self.moved(c0, used=0) # a schema 2 row has no rendering: absent
        out = self.ok("init")
        self.eq(out, "init: 1 records rendered, 0 refused with [defaults] "
                     "(\"mxdelegatectl render\" names them)\n")
        self.eq(self.sql("PRAGMA user_version"), [(3,)])
        self.true(wait_for(lambda: self.body("a.example", CLIENT)[0] == 404 and
                           self.counts()["used"] > c0["used"], 5), self.counts())


PG_CONFIG = """\
[backend]
name = "postgres"
plugin_dir = "%(plugins)s"
conninfo = %(conninfo)s
""" + RENDER_TABLES


class PostgresRenderOnWrite(RenderOnWrite):
    """The same boundary on a PostgreSQL store (schema 4's renderings): the
    plugin's lookup_rendered hands back a rendering only for its
    fingerprint and the row as it was.  A write to renderings alone sends
    no notification (it is no change of a record), so a test that garbles
    or copies one notifies by hand to make the responder ask again.  The
    tests both stores pass alike are RenderOnWrite's, run here with this
    class's hooks."""

    def setup(self):
        self.pg = pgserver.Server.shared()
        self.dbname = self.pg.new_database()
        self.db = None
        self.cfg = self.tmp.file("mxdelegate.toml")
        self.mx = None
        self.write_config("https://old.example/help")
        self.ok("init")

    def config_text(self, support):
        return PG_CONFIG % {"plugins": PLUGINS, "conninfo": json.dumps(self.pg.conninfo(self.dbname)),
                            "support": support, "metrics": METRICS}

    def sql(self, text):
        return self.pg.psql(text, self.dbname).strip()

    GARBLE = ("UPDATE renderings SET rendered = overlay(rendered PLACING '\\x7e'::bytea FROM 61 "
              "FOR 1) WHERE domain = 'a.example'")

    def scalar(self, text):
        return self.sql(text)

    def notify(self):
        self.sql("SELECT pg_notify('mxdelegate', 'test')")

    def renderings_written(self):
        self.notify()

    def test_writes_keep_renderings_that_the_responder_serves(self):
        self.eq(self.sql("SELECT value FROM mxdelegate_meta WHERE name = 'schema_version'"), "4")
        self.ok("add", "a.example", "--server", "m.a.example:443", "--client", "https://m.a.example")
        self.ok("add", "b.example", "--server", "m.b.example:443")
        self.ok("add", "*.w.example", "--server", "matrix.{domain}:443")
        rows = self.sql("SELECT d.domain, r.rendered IS NOT NULL, left(r.rendered_for, 3), "
                        "length(r.rendered_of) FROM domains AS d LEFT JOIN renderings AS r "
                        "ON r.domain = d.domain ORDER BY 1")
        self.eq(rows.splitlines(), ["*.w.example|f||", "a.example|t|f2-|16", "b.example|t|f2-|16"])
        # A write of a rendering alone is no change: nothing for followers.
        changes = self.sql("SELECT count(*) FROM mxdelegate_changes")
        self.ok("render")
        self.eq(self.sql("SELECT count(*) FROM mxdelegate_changes"), changes)
        # set keeps a fresh one in the same transaction as its put; remove
        # takes it with the row.
        self.ok("set", "b.example", "--server", "m2.b.example:443")
        self.eq(self.sql("SELECT count(*) FROM renderings WHERE domain = 'b.example'"), "1")
        self.ok("add", "c.example", "--server", "m.c.example:443")
        self.ok("remove", "c.example")
        self.eq(self.sql("SELECT count(*) FROM renderings WHERE domain = 'c.example'"), "0")

        self.serve_the_kept_renderings()

    def test_every_column_edited_with_sql_passes_the_rendering_over(self):
        self.ok("add", "a.example", "--server", "m.a.example:443", "--client", "https://m.a.example",
                "--max-age", "600", "--note", "n")
        self.serve()
        self.eq(self.body("a.example", SERVER), (200, {"m.server": "m.a.example:443"}))
        self.eq(self.counts()["used"], 1)
        key = "A" * 43
        # Each edit leaves a valid record, so that render keeps one for it.
        edits = [("server", "'m2.a.example:443'"), ("client", "'https://m2.a.example'"),
                 ("client_extra", "'{\"org.example.x\": 1}'"),
                 ("support", "'{\"support_page\": \"https://a.example/help\"}'"),
                 ("policy_server", "'{\"ed25519\": \"%s\"}'" % key), ("max_age", "601"),
                 ("note", "'n2'"), ("note", "''"), ("note", "NULL"), ("server", "NULL"),
                 ("redirect", "'{\"server\": \"https://o.example/s\"}'"),
                 ("redirect_status", "307")]
        for column, value in edits:
            # Rendered again for the row as it is, then changed around the tool.
            r = self.ctl("render")
            self.eq(r.stdout, "render: 1 rendered, 0 wildcard keys (rendered per host "
                              "when asked), 0 refused\n", (column, r.stderr))
            before = self.counts()
            self.sql("UPDATE domains SET %s = %s WHERE domain = 'a.example'" % (column, value))
            self.true(wait_for(lambda: (self.body("a.example", SERVER) and
                                        self.counts()["absent"] > before["absent"]), 5),
                      (column, before, self.counts()))
            self.eq(self.counts()["used"], before["used"], column)
        # The last edit made it a redirect, served as one from the record.
        self.eq(self.body("a.example", SERVER)[0], 307)

    def test_render_names_what_it_refuses_and_init_renders_a_migrated_store(self):
        self.ok("add", "a.example", "--server", "m.a.example:443")
        self.sql("INSERT INTO domains (domain, client) VALUES ('bad.example', 'ftp://nowhere')")
        r = self.ctl("render")
        self.eq(r.returncode, 1, r.stderr)
        lines = r.stdout.splitlines()
        self.eq(lines[0], "render: 1 rendered, 0 wildcard keys (rendered per host when asked), 1 refused")
        self.true(lines[1].startswith("render: refused: bad.example: client: "), lines)
        self.sql("DELETE FROM domains WHERE domain = 'bad.example'")

        # A schema 3 store (an older mxdelegatectl): the responder reads it
        # as a store without renderings, and init migrates and renders it.
        self.sql("DROP TABLE renderings; "
                 "UPDATE mxdelegate_meta SET value = '3' WHERE name = 'schema_version'")
        self.serve()
        c0 = self.counts()
        self.eq(self.body("a.example", SERVER), (200, {"m.server": "m.a.example:443"}))
        self.moved(c0, used=0, absent=1)
        r = self.ctl("add", "c.example", "--server", "m.c.example:443")
        self.true(r.returncode != 0, "a write to a schema 3 store: %r" % r.stdout)
        self.contains(r.stderr, "mxdelegatectl init")
        out = self.ok("init")
        self.eq(out, "init: 1 records rendered, 0 refused with [defaults] "
                     "(\"mxdelegatectl render\" names them)\n")
        self.eq(self.sql("SELECT value FROM mxdelegate_meta WHERE name = 'schema_version'"), "4")
        # init's notification retires the responder's readers, prepared
        # for schema 3: the next miss reads the rendering.
        self.true(wait_for(lambda: self.body("a.example", CLIENT)[0] == 404 and
                           self.counts()["used"] > c0["used"], 5), (self.counts(), self.mx.stderr()))

    def test_each_step_of_move_keeps_a_rendering(self):
        self.ok("add", "a.example", "--server", "m.a.example:443", "--max-age", "2")
        self.serve()
        out = self.ok("move", "a.example", "--server", "n.a.example:443", "--at", "+3", "--low", "1")
        self.contains(out, "move: a.example: changed")
        # The last step's rendering, of the row as it is now: used.
        self.eq(self.sql("SELECT count(*) FROM renderings WHERE domain = 'a.example'"), "1")
        c0 = self.counts()
        self.true(wait_for(lambda: self.body("a.example", SERVER) == (200, {"m.server": "n.a.example:443"})
                           and self.counts()["used"] > c0["used"], 5), self.counts())

    def test_the_digest_and_rendering_are_the_sqlite_stores_byte_for_byte(self):
        # The same records through the tool into both stores: the same
        # fingerprint, digest and bytes, so that a rendering made by one
        # (the primary's) holds when checked by the other (a follower's
        # copy, read by the sqlite plugin).
        lite_db = self.tmp.file("lite.db")
        lite = self.tmp.write("lite.toml", CONFIG % {"plugins": PLUGINS, "db": lite_db,
                                                     "support": "https://old.example/help",
                                                     "metrics": METRICS})
        self.ok("init", cfg=lite)
        records = RoundTrip.RECORDS + [
            {"domain": "odd.example", "server": "m.odd.example",
             "note": "back\\slash \\. \\N new\nline cr\r tab\t \u00fcn\u00efc\u00f6d\u00e9 end\\"},
            {"domain": "s.example", "redirect_status": 301, "redirect": {"server": "https://o.example/s"},
             "client": "https://m.s.example", "max_age": 0}]
        src = self.tmp.write("src.jsonl", "".join(json.dumps(r) + "\n" for r in records))
        self.ok("import", src, cfg=lite)
        self.ok("import", src)
        db = sqlite3.connect(lite_db)
        try:
            want = sorted(db.execute("SELECT domain, rendered_for, hex(rendered_of), hex(rendered) "
                                     "FROM renderings").fetchall())
        finally:
            db.close()
        got = sorted(tuple(line.split("|")) for line in self.sql(
            "SELECT domain, rendered_for, upper(encode(rendered_of, 'hex')), "
            "upper(encode(rendered, 'hex')) FROM renderings").splitlines())
        self.eq(len(want), len(records) - 1)  # the wildcard key has none
        self.eq(got, want)
        # And add/set, one record at a time, agree as well.
        for cfg in (lite, self.cfg):
            self.ok("set", "odd.example", "--max-age", "77", "--note", "x\ty", cfg=cfg)
        db = sqlite3.connect(lite_db)
        try:
            one = db.execute("SELECT hex(rendered_of), hex(rendered) FROM renderings "
                             "WHERE domain = 'odd.example'").fetchall()
        finally:
            db.close()
        self.eq([tuple(self.sql("SELECT upper(encode(rendered_of, 'hex')), upper(encode(rendered, "
                                "'hex')) FROM renderings WHERE domain = 'odd.example'").split("|"))],
                one)
