"""systemd's notify protocol, as the responder speaks it in FastCGI mode, on a
datagram socket of the test's own (NOTIFY_SOCKET); and the JSON log lines."""

import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import threading
import time

import harness
from harness import BIN, Test, Responder, example_config, touch_later, wait_for


def environment(**extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID")}
    env.update(extra)
    return env


class NotifySocket:
    def __init__(self, tmp):
        self.path = tmp.file("notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.got = []  # (time.monotonic(), message)

    def recv(self, timeout):
        """The next datagram, or None after timeout seconds."""
        self.sock.settimeout(timeout)
        try:
            m = self.sock.recv(4096).decode()
        except socket.timeout:
            return None
        self.got.append((time.monotonic(), m))
        return m

    def until(self, cond, timeout):
        """Datagrams until one satisfies cond; that one, or None."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            m = self.recv(max(end - time.monotonic(), 0.01))
            if m is not None and cond(m):
                return m
        return None

    def drain(self, seconds):
        out = []
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            m = self.recv(max(end - time.monotonic(), 0.01))
            if m is not None:
                out.append(m)
        return out

    def flush(self):
        """What is already queued, without waiting: a test that was slow to
        read (a loaded machine) still counts what was sent meanwhile."""
        out = []
        self.sock.setblocking(False)
        try:
            while True:
                m = self.sock.recv(4096).decode()
                self.got.append((time.monotonic(), m))
                out.append(m)
        except BlockingIOError:
            pass
        finally:
            self.sock.setblocking(True)
        return out

    def close(self):
        self.sock.close()


class Launch(Test):
    """mxdelegate started by hand, so that READY=1 is read before anything
    has connected to its socket."""

    def start(self, watchdog_usec=None, extra="", config=None):
        self.notify = NotifySocket(self.tmp)
        self.cfg = config or example_config(self.tmp, extra)
        self.socket = self.tmp.file("mx.sock")
        self.errlog = self.tmp.file("stderr.log")
        env = {"NOTIFY_SOCKET": self.notify.path}
        if watchdog_usec is not None:
            env["WATCHDOG_USEC"] = str(watchdog_usec)
        with open(self.errlog, "wb") as err:
            self.proc = subprocess.Popen([BIN, "-c", self.cfg, "--listen", "unix:" + self.socket],
                                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=err, env=environment(**env))

    def get(self, uri="/.well-known/matrix/client", host="example.org"):
        import fcgi
        return fcgi.request(self.socket, fcgi.cgi_params("GET", uri, host))

    def stderr(self):
        with open(self.errlog, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def teardown(self):
        if getattr(self, "proc", None) is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if getattr(self, "notify", None) is not None:
            self.notify.close()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.eq(self.proc.wait(10), 0, self.stderr())


class Notified(Launch):

    def test_ready_once_the_socket_answers_then_status_and_stopping(self):
        self.start()
        ready = self.notify.until(lambda m: "READY=1" in m.split("\n"), 10)
        self.true(ready is not None, "no READY=1: %r %s" % (self.notify.got, self.stderr()))
        # Nothing has connected yet: READY=1 means the socket answers now.
        self.eq(self.get().status, 200)
        status = self.notify.until(lambda m: m.startswith("STATUS="), 2)
        # The example's two TOML domains, rendered at load (preloaded).
        self.eq(status, "STATUS=2 hosts cached, 0.0 requests/s")
        for _ in range(50):
            self.eq(self.get().status, 200)
        # Renewed every 5 s, with the rate over that interval.
        status = self.notify.until(lambda m: m.startswith("STATUS=") and " 0.0 requests/s" not in m, 8)
        self.true(status is not None and status.startswith("STATUS=2 hosts cached, "),
                  repr(self.notify.got))
        self.true(float(status.split(", ")[1].split(" ")[0]) > 0, status)
        self.proc.send_signal(signal.SIGTERM)
        self.true(self.notify.until(lambda m: m == "STOPPING=1", 5) is not None, repr(self.notify.got))
        self.eq(self.proc.wait(10), 0, self.stderr())
        # Nothing but those: no watchdog without WATCHDOG_USEC.
        kinds = {m.split("=")[0] for _, m in self.notify.got}
        self.eq(kinds, {"READY", "STATUS", "STOPPING"}, repr(self.notify.got))

    def test_reloading_then_ready_around_a_reload_with_monotonic_usec(self):
        self.start()
        self.true(self.notify.until(lambda m: m == "READY=1", 10) is not None, self.stderr())
        before = time.monotonic_ns() // 1000
        self.proc.send_signal(signal.SIGHUP)
        reloading = self.notify.until(lambda m: m.startswith("RELOADING=1"), 5)
        after = time.monotonic_ns() // 1000
        self.true(reloading is not None, repr(self.notify.got))
        lines = reloading.split("\n")
        self.eq(lines[0], "RELOADING=1")
        self.true(lines[1].startswith("MONOTONIC_USEC="), reloading)
        usec = int(lines[1].split("=")[1])
        self.true(before <= usec <= after, "%d not within [%d, %d]" % (usec, before, after))
        self.true(self.notify.until(lambda m: m == "READY=1", 5) is not None, repr(self.notify.got))

        # A refused reload (a file edit) is told the same way; the old
        # configuration serves, ready, and STATUS= names the error.
        with open(self.cfg, "a") as f:
            f.write('\n[domains."bad.example"]\nserver = "https://bad.example"\n')
        touch_later(self.cfg)
        self.true(self.notify.until(lambda m: m.startswith("RELOADING=1\nMONOTONIC_USEC="), 5) is not None,
                  repr(self.notify.got))
        self.true(self.notify.until(lambda m: m == "READY=1", 5) is not None, repr(self.notify.got))
        status = self.notify.until(lambda m: m.startswith("STATUS="), 2)
        self.true(status is not None and "; last error: " in status and " main: reload (file changed) refused" in status,
                  repr(status))
        self.true("\n" not in status, repr(status))
        self.eq(self.get().status, 200)
        self.stop()

    def test_watchdog_pings_at_half_watchdog_usec(self):
        self.start(watchdog_usec=400000)
        self.true(self.notify.until(lambda m: m == "READY=1", 10) is not None, self.stderr())
        self.notify.flush()
        got = self.notify.drain(2.0) + self.notify.flush()
        pings = got.count("WATCHDOG=1")
        # Every 200 ms: 10 in 2 s, give or take the scheduler.
        self.true(7 <= pings <= 13, "%d pings in 2 s: %r" % (pings, got))
        # Busy or idle alike.
        for _ in range(20):
            self.eq(self.get().status, 200)
        self.true(self.notify.drain(1.0).count("WATCHDOG=1") >= 3, repr(self.notify.got[-10:]))
        self.stop()

    def test_no_watchdog_pings_without_watchdog_usec(self):
        self.start()
        self.true(self.notify.until(lambda m: m == "READY=1", 10) is not None, self.stderr())
        got = self.notify.drain(1.5)
        self.eq([m for m in got if m == "WATCHDOG=1"], [])
        self.stop()


class StuckWorkers(Launch):
    def test_no_watchdog_while_every_worker_is_stuck_in_the_store(self):
        db = self.tmp.file("domains.db")
        cfg = self.tmp.write("sqlite.toml", (
            '[backend]\nname = "sqlite"\nplugin_dir = "%s"\npath = "%s"\n'
            'busy_timeout = 4000\ntimeout = 4000\n\n[server]\nthreads = 1\n') % (harness.PLUGINS, db))
        init = subprocess.run([os.path.join(harness.BUILD, "mxdelegatectl"), "-c", cfg, "init"],
                              capture_output=True, text=True, timeout=60)
        self.eq(init.returncode, 0, init.stderr)
        self.start(watchdog_usec=400000, config=cfg)
        self.true(self.notify.until(lambda m: m == "READY=1", 10) is not None, self.stderr())
        self.true(self.notify.drain(1.0).count("WATCHDOG=1") >= 3, repr(self.notify.got))

        # A writer holds the store: the one worker waits in its lookup (4 s),
        # and the next request waits for it in the gate.
        lock = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
        lock.execute("BEGIN EXCLUSIVE")
        answers = []
        asks = [threading.Thread(target=lambda h=h: answers.append(self.get(host=h).status))
                for h in ("a.example", "b.example")]
        try:
            for t in asks:
                t.start()
                time.sleep(0.05)
            time.sleep(0.6)
            # Sent before the second request had waited 200 ms, read late.
            self.notify.flush()
            stuck = self.notify.drain(1.5) + self.notify.flush()
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        for t in asks:
            t.join(15)
        t0 = self.notify.got[0][0]
        self.eq([m for m in stuck if m == "WATCHDOG=1"], [], "pinged while stuck: %r" % [(round(t - t0, 2), m) for t, m in self.notify.got])
        self.eq(sorted(answers), [404, 404], self.stderr())
        # Moving again: so are the pings.
        self.true(self.notify.drain(1.0).count("WATCHDOG=1") >= 3, repr(self.notify.got[-10:]))
        self.stop()


class NotCgi(Test):
    def test_cgi_mode_never_notifies(self):
        notify = NotifySocket(self.tmp)
        try:
            cfg = example_config(self.tmp)
            env = environment(NOTIFY_SOCKET=notify.path, WATCHDOG_USEC="100000",
                              REQUEST_METHOD="GET", REQUEST_URI="/.well-known/matrix/client",
                              HTTP_HOST="example.org", GATEWAY_INTERFACE="CGI/1.1")
            p = subprocess.run([BIN, "-c", cfg], stdin=subprocess.DEVNULL, capture_output=True,
                               env=env, timeout=10)
            self.eq(p.returncode, 0, p.stderr)
            self.contains(p.stdout.decode(), "Status: 200")
            self.eq(notify.drain(0.5), [])
        finally:
            notify.close()


class JsonLogs(Test):
    def json_config(self, fmt="json"):
        cfg = example_config(self.tmp)
        with open(cfg) as f:
            text = f.read()
        # [log] before the [domains] tables, which would otherwise hold it.
        text = text.replace("[http]\n", '[log]\nformat = "%s"\naccess = true\n\n[http]\n' % fmt, 1)
        with open(cfg, "w") as f:
            f.write(text)
        return cfg

    def scenario(self, fmt):
        """The same events under one format: the responder's stderr lines."""
        cfg = self.json_config(fmt)
        mx = Responder(cfg, self.tmp)
        mx.get()
        mx.get()
        mx.get(host="nowhere.example")
        mx.get(host="bad host")
        mx.get(uri="/.well-known/matrix/server", REMOTE_ADDR="192.0.2.7")
        # Renamed into place: one change, seen at once, one refusal (an
        # append and a touch could be two, in one run and not the other).
        with open(cfg) as f:
            text = f.read()
        with open(cfg + ".new", "w") as f:
            f.write(text + '\n[domains."bad.example"]\nserver = "line one\\nline two"\n')
        os.replace(cfg + ".new", cfg)
        self.true(wait_for(lambda: "refused" in mx.stderr(), 5), mx.stderr())
        self.eq(mx.stop(), 0)
        with open(mx.errlog, "rb") as f:
            out = f.read().decode("utf-8")
        # Which configuration file each line names differs between the runs.
        return out.replace(cfg, "CONFIG").splitlines()

    def test_json_lines_say_what_the_text_lines_say(self):
        def as_text(r):
            # log.cpp's text form: the level as a prefix but for info, the
            # message on one line, and an access line's fields as key=value.
            line = "mxdelegate: %s: %s%s" % (r["module"], {"info": ""}.get(r["level"], r["level"] + ": "),
                                              r.get("message", "").replace("\n", " ").replace("\r", " "))
            if "message" not in r:
                for k, v in r.items():
                    if k in ("time", "level", "program", "module"):
                        continue
                    v = str(v)
                    line += "%s%s=%s" % ("" if line.endswith(" ") else " ", k,
                                         v if v and " " not in v else '"%s"' % v)
            return line

        def steady(line):
            # The figures that move between runs: an access line's duration
            # and the preload's milliseconds (0 in one run, 1 in the next
            # under the sanitizers).
            line = re.sub(r"(: preloaded .*), \d+ ms$", r"\1, N ms", line)
            return " ".join(w for w in line.split(" ") if not w.startswith("duration_us="))

        text = self.scenario("text")
        records = [json.loads(line) for line in self.scenario("json")]
        self.eq(len(records), len(text), "\n".join(text))
        self.true(len(text) >= 7, text)  # five access lines, the refusal, SIGTERM
        for t, r in zip(text, records):
            self.eq(steady(as_text(r)), steady(t))

    def test_a_cgi_request_writes_its_access_line_too(self):
        cfg = self.json_config()
        for host, status in (("example.org", 200), ("nowhere.example", 404)):
            env = environment(REQUEST_METHOD="HEAD", REQUEST_URI="/.well-known/matrix/server",
                              HTTP_HOST=host, REMOTE_ADDR="198.51.100.9", GATEWAY_INTERFACE="CGI/1.1")
            p = subprocess.run([BIN, "-c", cfg], stdin=subprocess.DEVNULL, capture_output=True,
                               env=env, timeout=10)
            self.eq(p.returncode, 0, p.stderr)
            lines = p.stderr.decode().splitlines()
            self.eq(len(lines), 1, p.stderr)
            r = json.loads(lines[0])
            self.eq({k: r[k] for k in ("module", "method", "host", "document", "status", "peer")},
                    {"module": "access", "method": "HEAD", "host": host, "document": "server",
                     "status": status, "peer": "198.51.100.9"})
            self.eq(r["bytes"], len(p.stdout), p.stdout)

    def test_every_stderr_line_is_one_json_object(self):
        cfg = self.json_config()
        mx = Responder(cfg, self.tmp)
        self.eq(mx.get().status, 200)                       # a miss
        self.eq(mx.get().status, 200)                       # a hit
        self.eq(mx.get(host="nowhere.example").status, 404)
        self.eq(mx.get(host="ex\"ample.org\x01").status, 400)
        self.eq(mx.get(uri="/.well-known/matrix/server", REMOTE_ADDR="192.0.2.7").status, 200)
        with open(cfg, "a") as f:
            f.write('\n[domains."bad.example"]\nserver = "line one\\nline two"\n')
        touch_later(cfg)
        self.true(wait_for(lambda: "refused" in mx.stderr(), 5), mx.stderr())
        self.eq(mx.stop(), 0)

        with open(mx.errlog, "rb") as f:
            out = f.read().decode("utf-8")
        self.true(out.endswith("\n"), repr(out[-200:]))
        lines = out[:-1].split("\n")
        records = []
        for line in lines:
            try:
                records.append(json.loads(line))
            except ValueError:
                raise AssertionError("not a JSON line: %r\nin %s" % (line, out))
        for r in records:
            self.true(isinstance(r, dict), repr(r))
            self.eq(r["program"], "mxdelegate")
            self.true(r["level"] in ("error", "warning", "info"), repr(r))
            self.true(r["time"].endswith("Z") and "T" in r["time"], repr(r))
            self.true("module" in r, repr(r))

        access = [r for r in records if r["module"] == "access"]
        self.eq(len(access), 5, repr(access))
        for r in access:
            self.eq(set(r) - {"time", "level", "program", "module"},
                    {"method", "host", "document", "status", "bytes", "duration_us", "cache", "peer"})
            self.true(isinstance(r["status"], int) and isinstance(r["bytes"], int) and r["bytes"] > 0, repr(r))
        # example.org is a TOML domain, rendered at load: a hit from the first.
        self.eq([(r["host"], r["document"], r["status"], r["cache"]) for r in access],
                [("example.org", "client", 200, "hit"), ("example.org", "client", 200, "hit"),
                 ("nowhere.example", "client", 404, "miss"), ("ex\"ample.org\x01", "client", 400, "none"),
                 ("example.org", "server", 200, "hit")])
        self.eq(access[4]["peer"], "192.0.2.7")
        self.eq(access[0]["method"], "GET")

        refused = [r for r in records if r["level"] == "error" and "refused" in r.get("message", "")]
        self.true(refused, out)
        self.true(any("bad.example: server: " in r["message"] for r in refused), repr(refused))
        self.true(any(r["module"] == "main" and r["message"].startswith("SIGTERM") for r in records), out)
