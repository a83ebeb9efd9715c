"""The gate in front of the workers (src/mxdelegate/gate.cpp): only whole,
bounded requests reach a worker.  Hostile and merely idle peers, seen from a
raw FastCGI client: they cost descriptors in the gate, never a worker, and
the well-behaved requests meanwhile are answered at once."""

import os
import resource
import signal
import socket
import subprocess
import threading
import time

import fcgi
import rawfcgi
from harness import BIN, Responder, Test, free_port, wait_for
from test_hostile import ORG, SERVER, fd_count, toml_config
from test_modes import cgi


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def threads_of(pid):
    return len(os.listdir("/proc/%d/task" % pid))


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


def connect(address):
    """A new connection; while the listen backlog is full (thousands of
    connects in a few milliseconds, faster than the gate accepts), a unix
    socket's connect fails with EAGAIN instead of waiting."""
    for _ in range(2000):
        try:
            return rawfcgi.Peer(address)
        except BlockingIOError:
            time.sleep(0.001)
    raise AssertionError("the listen backlog stayed full")


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


class Gate(Test):
    def setup(self):
        self.cfg = toml_config(self.tmp, "threads = 2\nread_timeout = 10\n")
        self.mx = Responder(self.cfg, self.tmp)

    def teardown(self):
        if self.mx.proc.poll() is None:
            log = self.mx.stderr()
            self.eq(self.mx.stop(), 0, log)

    def timed_get(self):
        t0 = time.monotonic()
        r = self.mx.get(SERVER)
        took = time.monotonic() - t0
        self.eq(r.status, 200)
        self.eq(r.json(), ORG)
        return took

    def test_64_mib_of_parameters_are_refused_fast_and_slow(self):
        pid = self.mx.proc.pid
        for _ in range(20):
            self.timed_get()
        before = rss_kib(pid)
        big = fcgi.record(fcgi.PARAMS, 1, fcgi.encode_params({"HTTP_X": "x" * 65000}))
        small = fcgi.record(fcgi.PARAMS, 1, fcgi.encode_params({"HTTP_X": "x" * 1000}))
        for record, pause in ((big, 0), (small, 0.005)):
            p = rawfcgi.Peer(self.mx.socket)
            sent, t0 = 0, time.monotonic()
            # Written as a web server writes: at once, waiting only after a
            # short write.  (A unix socket polls writable only while less
            # than a quarter of its send buffer is unread, and the gate
            # reads nothing of an incomplete request.)
            p.sock.setblocking(False)
            data = fcgi.begin()
            try:
                while sent < 64 << 20 and time.monotonic() - t0 < 10:
                    try:
                        n = p.sock.send(data)
                    except BlockingIOError:
                        time.sleep(0.001)
                        continue
                    sent += n
                    data = data[n:] or record
                    if pause:
                        time.sleep(pause)
            except OSError:
                pass  # closed by the gate: what should happen
            p.sock.setblocking(True)
            ex = p.read_all(5)
            p.close()
            self.true(ex.closed)
            self.eq(ex.records, [])
            # Refused at the first record past [server] params_bytes (64 KiB);
            # what the kernel buffered meanwhile is all that was sent.
            took = time.monotonic() - t0
            self.true(sent < 8 << 20, "%d bytes sent before the close" % sent)
            self.true(took < 5, "closed after %.2f s, %d bytes sent" % (took, sent))
        self.timed_get()
        after = rss_kib(pid)
        print("    RSS %d KiB before, %d KiB after 2 x 64 MiB of parameters" % (before, after))
        self.true(after - before < 4096, "RSS grew from %d to %d KiB" % (before, after))
        self.contains(self.mx.stderr(), "parameters over [server] params_bytes")

    def test_thousands_of_idle_and_trickling_peers_cost_no_worker(self):
        raise_nofile()
        pid = self.mx.proc.pid
        self.timed_get()
        threads = threads_of(pid)
        req = rawfcgi.request(fcgi.cgi_params(uri=SERVER))
        keep = rawfcgi.request(fcgi.cgi_params(uri=SERVER), keep=True)
        silent, trickling, kept = [], [], []
        try:
            for _ in range(1000):
                silent.append(connect(self.mx.socket))
            for _ in range(1000):
                trickling.append(connect(self.mx.socket))
            for _ in range(1000):
                p = connect(self.mx.socket)
                p.send(keep)
                got = b""
                while b"\x01\x03\x00\x01" not in got:  # END_REQUEST of request 1
                    chunk = p.sock.recv(65536)
                    self.true(chunk, "a kept-alive connection was closed")
                    got += chunk
                kept.append(p)
            stop = threading.Event()
            sent = [0]

            def trickle():
                i = 0
                while not stop.is_set():
                    for p in trickling:
                        try:
                            p.sock.send(req[i:i + 1])
                            sent[0] += 1
                        except OSError:
                            pass
                    i = (i + 1) % (len(req) - 1)  # never the whole request
                    stop.wait(1)

            t = threading.Thread(target=trickle)
            t.start()
            try:
                # Three seconds: three bytes from each trickling peer.
                times, t0 = [], time.monotonic()
                while time.monotonic() - t0 < 3:
                    times.append(self.timed_get())
            finally:
                stop.set()
                t.join()
            # The kept-alive connections are still usable.
            for p in kept[:20]:
                p.send(keep)
                got = b""
                while b"\x01\x03\x00\x01" not in got:
                    chunk = p.sock.recv(65536)
                    self.true(chunk, "a kept-alive connection was closed")
                    got += chunk
                self.true(b"matrix.example.org:443" in got)
            held = fd_count(pid)
        finally:
            for p in silent + trickling + kept:
                p.close()
        p99 = percentile(times, 0.99)
        print("    3,000 idle, trickling and kept-alive peers: %d requests, p50 %.1f ms, p99 %.1f ms, "
              "%d fds held, %d bytes trickled" % (len(times), percentile(times, 0.5) * 1000, p99 * 1000,
                                                 held, sent[0]))
        # The figure asked for is 50 ms; the bound asserted is generous for a
        # loaded 2-core machine.  Before the gate, a request waited
        # (idle connections / threads) x read_timeout.
        self.true(p99 < 0.5, "p99 %.3f s" % p99)
        self.true(held >= 3000, "%d descriptors: the peers were not all held" % held)
        self.eq(threads_of(pid), threads)
        self.true(wait_for(lambda: fd_count(pid) < 100, 10), "descriptors left: %d" % fd_count(pid))

    def test_a_peer_that_stays_after_its_answer_frees_the_worker_at_once(self):
        # One worker: it is free only when the gate, not the worker,
        # waits on the peer.
        self.mx.stop()
        self.mx = Responder(toml_config(self.tmp, "threads = 1\nread_timeout = 10\n"), self.tmp)
        req = rawfcgi.request(fcgi.cgi_params(uri=SERVER))
        post = (fcgi.begin() + fcgi.params_records(1, fcgi.cgi_params(
            "POST", SERVER, CONTENT_LENGTH="100000", CONTENT_TYPE="application/json"))
            + fcgi.record(fcgi.STDIN, 1, b"{" * 1000))
        for what, first in (("stays open after its answer", req), ("posts a body slowly", post)):
            p = rawfcgi.Peer(self.mx.socket)
            p.send(first)
            got = b""
            while b"\x01\x03\x00\x01" not in got:
                got += p.sock.recv(65536)
            answered = time.monotonic()
            stop = threading.Event()

            def more_body():
                while not stop.is_set():
                    try:
                        p.sock.send(fcgi.record(fcgi.STDIN, 1, b"x"))
                    except OSError:
                        return
                    stop.wait(0.05)

            t = threading.Thread(target=more_body)
            t.start()
            try:
                took = self.timed_get()
                free_after = time.monotonic() - answered
            finally:
                stop.set()
                t.join()
                p.close()
            print("    a peer that %s: the one worker answered the next request %.1f ms after"
                  % (what, free_after * 1000))
            # libfcgi's close waited 2 s for such a peer, in the worker.
            self.true(free_after < 0.5, "%s: next answer %.3f s after" % (what, free_after))
            self.true(took < 0.5)

    def test_sigterm_ends_the_process_with_every_worker_busy(self):
        # Whole requests queued for two workers while hundreds of peers
        # wait in the gate: SIGTERM ends it within the grace period (2 s).
        raise_nofile()
        peers = [connect(self.mx.socket) for _ in range(200)]
        for p in peers[:100]:
            p.send(rawfcgi.request(fcgi.cgi_params(uri=SERVER))[:20])
        t0 = time.monotonic()
        self.mx.proc.send_signal(signal.SIGTERM)
        self.eq(self.mx.proc.wait(10), 0)
        self.true(time.monotonic() - t0 < 3, "exit after %.2f s" % (time.monotonic() - t0))
        for p in peers:
            p.close()


class WebServerAddrs(Test):
    """FCGI_WEB_SERVER_ADDRS on dual-stack and IPv6 sockets, where libfcgi's
    own check (AF_INET peers only) let everyone in."""

    def run_one(self, listen, allowed, peers):
        cfg = toml_config(self.tmp, "")
        env = dict(os.environ, FCGI_WEB_SERVER_ADDRS=allowed)
        proc = subprocess.Popen([BIN, "-c", cfg, "--listen", listen],
                                stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        try:
            port = int(listen.rsplit(":", 1)[1])

            def up():
                try:
                    socket.create_connection(("::1", port), 1).close()
                    return True
                except OSError:
                    return proc.poll() is not None

            self.true(wait_for(up, 10))
            out = {}
            for host in peers:
                ex = rawfcgi.exchange((host, port), rawfcgi.request(fcgi.cgi_params(uri=SERVER)))
                out[host] = ex
            return out
        finally:
            proc.terminate()
            self.eq(proc.wait(10), 0)

    def test_ipv4_and_ipv6_peers_are_checked_on_every_socket(self):
        for listen in ("*:%d", "[::]:%d"):
            port = free_port()
            got = self.run_one(listen % port, "10.9.9.9", ["127.0.0.1", "::1"])
            for host, ex in got.items():
                self.eq(ex.records, [], "%s on %s" % (host, listen))
                self.true(ex.closed)
            port = free_port()
            got = self.run_one(listen % port, "127.0.0.1, ::1", ["127.0.0.1", "::1"])
            for host, ex in got.items():
                self.eq(ex.response().json(), ORG, "%s on %s" % (host, listen))


class CgiBody(Test):
    def test_an_unsent_body_is_waited_for_read_timeout_at_most(self):
        cfg = toml_config(self.tmp, "read_timeout = 1\n")
        r, w = os.pipe()
        try:
            t0 = time.monotonic()
            p = cgi(cfg, {"REQUEST_METHOD": "POST", "REQUEST_URI": SERVER, "HTTP_HOST": "example.org",
                          "CONTENT_LENGTH": "1000"}, stdin=r)
            took = time.monotonic() - t0
        finally:
            os.close(r)
            os.close(w)
        self.true(b"Status: 405" in p.stdout, p.stdout)
        self.true(0.9 < took < 3, "answered after %.2f s" % took)

    def test_sigterm_ends_the_wait_even_when_ignored_by_the_parent(self):
        cfg = toml_config(self.tmp, "read_timeout = 60\n")
        r, w = os.pipe()
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "REQUEST_METHOD": "POST",
               "REQUEST_URI": SERVER, "HTTP_HOST": "example.org", "CONTENT_LENGTH": "1000"}
        proc = subprocess.Popen([BIN, "-c", cfg], env=env, stdin=r, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE,
                                preexec_fn=lambda: signal.signal(signal.SIGTERM, signal.SIG_IGN))
        try:
            time.sleep(0.3)
            self.eq(proc.poll(), None)
            proc.send_signal(signal.SIGTERM)
            self.eq(proc.wait(5), -signal.SIGTERM)
        finally:
            os.close(r)
            os.close(w)
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
            proc.stderr.close()
