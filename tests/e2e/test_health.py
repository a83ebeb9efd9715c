"""The health answer ([status] health): 200 while the store answers a probe
lookup, 503 with the reason while it does not, back to 200 when it returns;
asked of the store on every request, never cached; in FastCGI and CGI."""

import os
import shutil
import sqlite3
import time

import fcgi
from harness import PLUGINS, check_common_headers, wait_for
from test_modes import cgi
from test_postgres import PgStore
from test_sqlite import CLIENT, Store

HEALTH = "/health"


class Health(Store):
    extra = '[status]\nhealth = "%s"\n' % HEALTH

    def setup(self):
        Store.setup(self)
        self.ok("init")
        self.ok("add", "a.example", "--client", "https://m.a.example")

    def health(self, method="GET", host=None):
        r = self.mx.get(HEALTH, host=host, method=method)
        self.true(r is not None, "no answer")
        return r

    def healthy(self, r):
        self.eq(r.status, 200, r.raw)
        check_common_headers(self, r)
        self.eq(r.header("Cache-Control"), "no-store")
        body = r.json()
        self.eq(body["status"], "ok", r.raw)
        self.eq(body["backend"], "sqlite")
        self.true(isinstance(body["generation"], int), r.raw)
        return body

    def unhealthy(self, r, reason):
        self.eq(r.status, 503, r.raw)
        check_common_headers(self, r)
        self.eq(r.header("Cache-Control"), "no-store")
        body = r.json()
        self.eq(body["status"], "unavailable", r.raw)
        self.eq(body["backend"], "sqlite")
        self.contains(body["reason"], reason)
        self.true(body["reason"].startswith("sqlite: "), body["reason"])

    def status_now(self):
        r = self.mx.get(HEALTH, host=None)
        return r.status if r else None

    def test_ok_any_host_head_and_never_cached(self):
        self.serve()
        first = self.healthy(self.health())
        # The Host of a health request names no tenant: none, one that
        # would be refused as a tenant, an IP literal, all the same.
        for host in ("a.example", "not a host!", "127.0.0.1"):
            self.healthy(self.health(host=host))
        head = self.health("HEAD")
        self.eq(head.status, 200, head.raw)
        self.eq(head.body, b"")
        self.eq(head.header("Content-Length"), self.health().header("Content-Length"))
        self.eq(self.health("POST").status, 405)
        self.eq(self.health("OPTIONS").status, 204)
        # Not the health path: the 404 of any other path.
        self.eq(self.mx.get(HEALTH + "/", host=None).status, 404)
        # A write between two requests: the second says the store's new
        # generation, not an answer kept from the first.
        self.ok("add", "b.example", "--client", "https://m.b.example")
        self.true(wait_for(lambda: self.health().json().get("generation") != first["generation"], 5),
                  self.health().raw)
        self.healthy(self.health())

    def test_store_removed_then_put_back(self):
        keep = self.tmp.file("keep.db")
        shutil.copy(self.db, keep)
        self.serve()
        self.healthy(self.health())
        os.unlink(self.db)
        self.true(wait_for(lambda: self.status_now() == 503, 5), self.mx.stderr())
        self.unhealthy(self.health(), self.db + ": No such file or directory")
        head = self.health("HEAD")
        self.eq(head.status, 503)
        self.eq(head.body, b"")
        # The documents are 503 too meanwhile, as they were before.
        self.eq(self.mx.get(CLIENT, host="a.example").status, 503)
        tmp = self.db + ".new"
        shutil.copy(keep, tmp)
        os.rename(tmp, self.db)
        self.true(wait_for(lambda: self.status_now() == 200, 5), self.mx.stderr())
        self.healthy(self.health())
        self.eq(self.mx.proc.poll(), None)

    def test_store_locked_past_its_deadline(self):
        self.serve()
        self.healthy(self.health())
        db = sqlite3.connect(self.db, isolation_level=None, check_same_thread=False)
        db.execute("BEGIN EXCLUSIVE")
        try:
            # The probe waits [backend] timeout (1 s) for the lock, then
            # gives up: 503, naming the lock and the deadline.
            self.unhealthy(self.health(), "stayed locked by a writer for more than 1000 ms")
        finally:
            db.execute("ROLLBACK")
            db.close()
        self.healthy(self.health())

    def test_overwritten_with_garbage_then_restored(self):
        self.serve()
        self.healthy(self.health())
        keep = self.tmp.file("keep.db")
        shutil.copy(self.db, keep)
        with open(self.db, "r+b") as f:
            f.truncate(0)
            f.write(b"not a database, " * 512)
        self.true(wait_for(lambda: self.status_now() == 503, 5), self.mx.stderr())
        self.unhealthy(self.health(), self.db)
        shutil.copy(keep, self.db + ".new")
        os.rename(self.db + ".new", self.db)
        self.true(wait_for(lambda: self.status_now() == 200, 5), self.mx.stderr())
        self.healthy(self.health())


class HealthCgi(Store):
    extra = '[status]\nhealth = "/status/health"\n'

    def ask(self, cfg=None, **env):
        base = {"REQUEST_METHOD": "GET", "SCRIPT_NAME": "/status", "PATH_INFO": "/health"}
        base.update(env)
        p = cgi(cfg or self.cfg, base)
        return p, fcgi.Response(p.stdout)

    def test_one_probe_per_request(self):
        self.ok("init")
        p, r = self.ask()
        self.eq(p.returncode, 0, p.stderr)
        self.eq(r.status, 200, p.stdout)
        check_common_headers(self, r)
        self.eq(r.header("Cache-Control"), "no-store")
        self.eq(r.json()["status"], "ok")
        p, r = self.ask(REQUEST_METHOD="HEAD")
        self.eq(r.status, 200, p.stdout)
        self.eq(r.body, b"")

        keep = self.tmp.file("keep.db")
        os.rename(self.db, keep)
        p, r = self.ask()
        self.eq(r.status, 503, p.stdout)
        self.eq(r.header("Cache-Control"), "no-store")
        self.eq(r.json()["status"], "unavailable")
        self.contains(r.json()["reason"], self.db)
        os.rename(keep, self.db)
        p, r = self.ask()
        self.eq(r.status, 200, p.stdout)

    def test_a_plugin_that_cannot_be_loaded_is_the_reason(self):
        empty = self.tmp.file("no-plugins")
        os.makedirs(empty)
        with open(self.cfg) as f:
            text = f.read()
        cfg = self.tmp.write("broken.toml", text.replace(PLUGINS, empty))
        p, r = self.ask(cfg)
        self.eq(r.status, 503, p.stdout)
        check_common_headers(self, r)
        self.eq(r.header("Cache-Control"), "no-store")
        self.eq(r.json()["status"], "unavailable")
        self.contains(r.json()["reason"], os.path.join(empty, "sqlite.so"))
        # A document in the same state keeps its Matrix error.
        p, r = self.ask(cfg, REQUEST_URI=CLIENT, HTTP_HOST="a.example")
        self.eq(r.status, 503, p.stdout)
        self.eq(r.json()["errcode"], "M_UNAVAILABLE")


class HealthPostgres(PgStore):
    """The server stopped under a running responder, then started again."""

    def setup(self):
        PgStore.setup(self)
        with open(self.cfg, "a") as f:
            f.write('\n[status]\nhealth = "%s"\n' % HEALTH)
        self.ok("init")

    def test_server_stopped_then_started(self):
        self.serve()
        r = self.mx.get(HEALTH, host=None)
        self.eq(r.status, 200, r.raw)
        self.eq(r.json()["backend"], "postgres")
        self.pg.stop()
        try:
            t0 = time.monotonic()
            r = self.mx.get(HEALTH, host=None)
            took = time.monotonic() - t0
            self.eq(r.status, 503, r.raw)
            self.eq(r.header("Cache-Control"), "no-store")
            body = r.json()
            self.eq(body["status"], "unavailable")
            self.true(body["reason"].startswith("postgres: "), body["reason"])
            print("     reason: %s" % body["reason"])
            # Within the lookup's deadline ([backend] timeout, 1 s) and the
            # round trip, not the time a connection would take to give up.
            self.true(took < 2.5, "the 503 took %.2f s" % took)
        finally:
            if not self.pg.running:
                self.pg.start()
        self.true(wait_for(lambda: self.mx.get(HEALTH, host=None).status == 200, 10), self.mx.stderr())
        self.eq(self.mx.get(HEALTH, host=None).json()["status"], "ok")
