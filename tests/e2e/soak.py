"""The soak: mxdelegate under full load of valid and hostile FastCGI requests
while mxdelegatectl writes to its SQLite store and SIGHUP reloads it, for
SOAK_SECONDS (60 by default; SOAK=long: 30 minutes).

Passes when every answer has the status its request must get (5xx included:
none is expected), the responder never dies and stops with 0, no sanitizer
report appears, and the process is as big at the end as after the warm-up:
its descriptors back to the baseline, its RSS grown by at most RSS_SLACK.

Run from tests/run as a suite of its own; alone:
    MXD_BUILDDIR=build python3 tests/e2e/soak.py
"""

import collections
import json
import multiprocessing
import os
import random
import signal
import socket
import subprocess
import sys
import time

import fcgi
import harness
from harness import PLUGINS, wait_for

CTL = os.path.join(harness.BUILD, "mxdelegatectl")
SANITIZED = os.environ.get("SANITIZE") == "1"
SECONDS = float(os.environ.get("SOAK_SECONDS") or (1800 if os.environ.get("SOAK") == "long" else 60))
CLIENTS = int(os.environ.get("SOAK_CLIENTS", "3"))
THREADS = 4
# RSS may grow this much past the warm-up: allocator caches, SQLite's page
# caches filling.  AddressSanitizer keeps freed memory in a quarantine,
# capped here at 16 MiB for the responder.
RSS_SLACK = (48 if SANITIZED else 4) * 1024 * 1024
WARMUP = min(10.0, SECONDS / 6)
HUP_EVERY = 2.0

CONFIG = """\
[backend]
name = "sqlite"
plugin_dir = "%(plugins)s"
path = "%(db)s"

[http]
max_age = 600

[server]
check_interval = 0.05
threads = %(threads)d
read_timeout = 2
"""

CLIENT, SERVER, SUPPORT = ("/.well-known/matrix/" + d for d in ("client", "server", "support"))
STABLE = ["d%03d.example.net" % i for i in range(300)]
FLIP = ["flip%d.example.org" % i for i in range(10)]

# Requests whose answer never changes: sent once before the soak to learn
# their status (which must be a 2xx, 3xx or 4xx), then that status every time.
HOSTILE = {
    "host-empty-label": dict(host="bad..example.net"),
    "host-space": dict(host="exa mple.net"),
    "host-long": dict(host="a" * 300 + ".example"),
    "host-label-long": dict(host="b" * 64 + ".example"),
    "host-ipv4": dict(host="127.0.0.1"),
    "host-ipv6": dict(host="[::1]:8448"),
    "host-control": dict(host="evil\r\nX-Injected: 1"),
    "host-non-ascii": dict(host="b\xfccher.example"),
    "host-port-junk": dict(host="d001.example.net:http"),
    "host-missing": dict(host=None),
    "path-unknown": dict(uri="/.well-known/matrix/nope", host=STABLE[1]),
    "path-root": dict(uri="/", host=STABLE[1]),
    "path-dotdot": dict(uri="/.well-known/matrix/../matrix/client", host=STABLE[1]),
    "path-encoded": dict(uri="/.well-known/matrix/%63lient", host=STABLE[1]),
    "path-long": dict(uri="/.well-known/matrix/" + "x" * 20000, host=STABLE[1]),
    "path-missing": dict(uri=None, host=STABLE[1]),
    "method-post": dict(method="POST", host=STABLE[1]),
    "method-delete": dict(method="DELETE", host=STABLE[1]),
    "method-junk": dict(method="G\x00T", host=STABLE[1]),
    "options": dict(method="OPTIONS", host="whatever..invalid"),
    "params-large": dict(host=STABLE[1], HTTP_X_FILLER="y" * 60000),
    # Past [server] params_bytes (64 KiB): the gate closes the connection.
    "params-over": dict(host=STABLE[1], HTTP_X_FILLER="y" * 100000),
}
CLOSED = {"params-over"}


def hostile_request(sock_path, name):
    """The answer, or None when the responder closed the connection: those
    of CLOSED may be closed while they are still being sent."""
    try:
        return fcgi.request(sock_path, hostile_params(HOSTILE[name]))
    except (BrokenPipeError, ConnectionResetError):
        if name in CLOSED:
            return None
        raise


def hostile_params(spec):
    spec = dict(spec)
    method = spec.pop("method", "GET")
    uri = spec.pop("uri", CLIENT)
    host = spec.pop("host", STABLE[0])
    return fcgi.cgi_params(method, uri, host, **spec)


def abandon(sock_path, rng):
    """A connection given up part way; no answer is read."""
    s = fcgi.connect(sock_path, 5)
    try:
        whole = fcgi.begin() + fcgi.params_records(1, fcgi.cgi_params(host=STABLE[0])) + fcgi.record(fcgi.STDIN, 1)
        how = rng.randrange(4)
        if how == 1:
            s.sendall(whole[:rng.randrange(1, 8)])  # a torn record header
        elif how == 2:
            s.sendall(whole[:rng.randrange(8, len(whole) - 16)])  # params cut short
        elif how == 3:
            # The whole request and gone before the answer: a failed write.
            s.shutdown(socket.SHUT_RD)
            s.sendall(whole)
    finally:
        s.close()


def client(sock_path, seed, deadline, hostile_status, out):
    rng = random.Random(seed)
    counts = collections.Counter()
    bad = []
    end = time.monotonic() + deadline

    def check(kind, r, allowed):
        status = r.status if r is not None else None
        counts[(kind, status)] += 1
        if status not in allowed and len(bad) < 20:
            bad.append((kind, status, (r.raw[:300] if r is not None else b"").decode("latin-1")))

    try:
        while time.monotonic() < end:
            k = rng.random()
            if k < 0.40:
                host = rng.choice(STABLE)
                uri = rng.choice((CLIENT, SERVER))
                method = "HEAD" if rng.random() < 0.1 else "GET"
                r = fcgi.request(sock_path, fcgi.cgi_params(method, uri, host))
                check("stable", r, {200})
            elif k < 0.50:
                r = fcgi.request(sock_path, fcgi.cgi_params("GET", SERVER, "x%d.wild.example" % rng.randrange(1000)))
                check("wildcard", r, {200})
            elif k < 0.60:
                r = fcgi.request(sock_path, fcgi.cgi_params("GET", CLIENT, rng.choice(FLIP)))
                check("flipping", r, {200, 404})
            elif k < 0.65:
                r = fcgi.request(sock_path, fcgi.cgi_params("GET", CLIENT, "u%d.unknown.example" % rng.randrange(10**6)))
                check("unknown", r, {404})
            elif k < 0.90:
                name = rng.choice(sorted(HOSTILE))
                r = hostile_request(sock_path, name)
                check("hostile:" + name, r, {hostile_status[name]})
            else:
                abandon(sock_path, rng)
                counts[("abandoned", None)] += 1
    except Exception as e:  # noqa: BLE001 - a client that fails is reported
        bad.append(("client", None, repr(e)))
    out.put((dict(counts), bad))


def rss_and_fds(pid, store):
    """RSS, the descriptors other than the store's, and the store's: the
    SQLite plugin pools one read connection a thread inside a lookup at
    once, so those may grow up to the thread count while any other grows
    only by a leak."""
    with open("/proc/%d/status" % pid) as f:
        rss = next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmRSS:"))
    fds = "/proc/%d/fd" % pid
    ours = 0
    names = os.listdir(fds)
    for name in names:
        try:
            ours += os.readlink(os.path.join(fds, name)) in (store, store + "-journal")
        except OSError:
            pass  # closed meanwhile
    return rss, len(names) - ours, ours


def mib(n):
    return "%.1f MiB" % (n / 1048576)


def main():
    tmp = harness.TempDir()
    failures = []
    try:
        db = tmp.file("domains.db")
        cfg = tmp.write("mxdelegate.toml", CONFIG % {"plugins": PLUGINS, "db": db, "threads": THREADS})

        def ctl(*args, stdin=None):
            return subprocess.run([CTL, "-c", cfg, *args], input=stdin, capture_output=True, text=True,
                                  timeout=60)

        assert ctl("init").returncode == 0
        rows = [{"domain": d, "server": "matrix.%s:443" % d, "client": "https://matrix." + d}
                for d in STABLE] + [{"domain": "*.wild.example", "server": "matrix.{domain}"}]
        r = ctl("import", "-", stdin="".join(json.dumps(x) + "\n" for x in rows))
        assert r.returncode == 0, r.stderr

        env = dict(os.environ)
        if SANITIZED:
            env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=16"
        sock = tmp.file("mx.sock")
        errlog = open(tmp.file("stderr.log"), "wb")
        mx = subprocess.Popen([harness.BIN, "-c", cfg, "--listen", "unix:" + sock], stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=errlog, env=env)
        wait_for(lambda: harness._accepts(sock) or mx.poll() is not None, 30)
        assert mx.poll() is None, "mxdelegate exited %s" % mx.returncode

        hostile_status = {}
        for name, spec in sorted(HOSTILE.items()):
            r = hostile_request(sock, name)
            if name in CLOSED:
                if r is not None:
                    failures.append("calibration: %s got %s, not a close" % (name, r.status))
            elif r is None or not 200 <= r.status < 500:
                failures.append("calibration: %s got %s" % (name, r.status if r else "no answer"))
            hostile_status[name] = r.status if r else None
        start_rss, start_fds, start_store = rss_and_fds(mx.pid, db)

        ctx = multiprocessing.get_context("fork")
        out = ctx.Queue()
        procs = [ctx.Process(target=client, args=(sock, seed, SECONDS, hostile_status, out))
                 for seed in range(CLIENTS)]
        t0 = time.monotonic()
        for p in procs:
            p.start()

        # The admin tool writes and SIGHUP reloads, until the clients end.
        writes = collections.Counter()
        ctl_errors = []
        samples = []
        present = set()
        baseline = None
        i = 0
        next_hup = t0 + HUP_EVERY
        # Writes and reloads end 2 s before the clients do, so that every
        # worker has served a request with the last configuration (an idle
        # worker holds the one it last used) when the descriptors are counted.
        while time.monotonic() - t0 < SECONDS - 2:
            i += 1
            f = FLIP[i % len(FLIP)]
            if f in present:
                op = ("remove", f)
                present.discard(f)
            else:
                op = ("add", f, "--client", "https://m%d.%s" % (i, f))
                present.add(f)
            ops = [op, ("set", STABLE[i % len(STABLE)], "--note", "round %d" % i)]
            if i % 25 == 0:
                batch = "".join(json.dumps({"domain": "bulk%d.example" % j, "server": "m%d.bulk.example" % i}) + "\n"
                                for j in range(200))
                ops.append(("import", "-", batch))
            for o in ops:
                stdin = o[2] if o[0] == "import" else None
                r = ctl(*(o[:2] if o[0] == "import" else o), stdin=stdin)
                writes[o[0]] += 1
                if r.returncode != 0:
                    ctl_errors.append("%s: exit %d: %s" % (" ".join(o[:2]), r.returncode, r.stderr.strip()))
            now = time.monotonic()
            if now >= next_hup:
                mx.send_signal(signal.SIGHUP)
                writes["SIGHUP"] += 1
                next_hup = now + HUP_EVERY
            if mx.poll() is not None:
                failures.append("mxdelegate died with %s" % mx.returncode)
                break
            if not samples or now - samples[-1][0] >= 1:
                samples.append((now,) + rss_and_fds(mx.pid, db))
            if baseline is None and now - t0 >= WARMUP:
                baseline = samples[-1]
            time.sleep(0.05)

        counts, bad = collections.Counter(), []
        for _ in procs:
            c, b = out.get(timeout=SECONDS + 120)
            counts.update(c)
            bad.extend(b)
        for p in procs:
            p.join()
        took = time.monotonic() - t0
        if baseline is None:
            baseline = samples[-1]

        # Quiet now: the descriptors go back to the baseline (the socket,
        # the log) once the last connections close; the store's pooled
        # connections stay at most one a worker thread.
        alive = mx.poll() is None
        if alive:
            wait_for(lambda: rss_and_fds(mx.pid, db)[1] <= baseline[2], 5)
            end_rss, end_fds, end_store = rss_and_fds(mx.pid, db)
        mx.send_signal(signal.SIGTERM)
        try:
            code = mx.wait(30)
        except subprocess.TimeoutExpired:
            mx.kill()
            code = mx.wait()
            failures.append("mxdelegate did not stop within 30 s")
        errlog.close()
        with open(tmp.file("stderr.log"), "rb") as f:
            log = f.read().decode("utf-8", "replace")

        total = sum(counts.values())
        by_status = collections.Counter()
        for (kind, status), n in counts.items():
            by_status[status] += n
        print("soak: %.0f s, %d clients, %d worker threads%s" % (took, CLIENTS, THREADS,
                                                              ", sanitizers" if SANITIZED else ""))
        print("soak: %d requests (%.0f/s); statuses %s" % (
            total, total / took, ", ".join("%s: %d" % (s if s is not None else "none", n)
                                           for s, n in sorted(by_status.items(), key=lambda x: str(x[0])))))
        print("soak: by kind: " + ", ".join("%s %s: %d" % (k, s, n) for (k, s), n in sorted(
            counts.items(), key=lambda x: (x[0][0], str(x[0][1])))))
        print("soak: writes %s" % dict(writes))
        if alive:
            print("soak: RSS %s at start, %s after %.0f s warm-up, %s at the end (max %s)" % (
                mib(start_rss), mib(baseline[1]), WARMUP, mib(end_rss), mib(max(s[1] for s in samples))))
            print("soak: fds besides the store's %d at start, %d after warm-up, %d at the end "
                  "(max %d); the store's %d, %d, %d (max %d)" % (
                      start_fds, baseline[2], end_fds, max(s[2] for s in samples),
                      start_store, baseline[3], end_store, max(s[3] for s in samples)))
            # The pool of read connections may grow after the warm-up (a
            # fourth lookup at once is rare), never past one a thread, and
            # the plugin's own connection for the generation besides.
            if end_fds > baseline[2]:
                failures.append("descriptors besides the store's: %d at start, %d after warm-up, "
                                "%d at the end" % (start_fds, baseline[2], end_fds))
            if end_store > THREADS + 1:
                failures.append("the store's descriptors: %d at the end, for %d threads and the "
                                "generation's" % (end_store, THREADS))
            if end_rss - baseline[1] > RSS_SLACK:
                failures.append("RSS grew %s after warm-up (allowed %s)" % (mib(end_rss - baseline[1]),
                                                                            mib(RSS_SLACK)))
        if bad:
            failures.append("unexpected answers: %r" % bad[:20])
        if ctl_errors:
            failures.append("mxdelegatectl failed: %r" % ctl_errors[:10])
        if counts[("stable", 200)] < 100:
            failures.append("too few answers: %r" % dict(counts))
        if code != 0:
            failures.append("mxdelegate exited %s" % code)
        for marker in ("AddressSanitizer", "LeakSanitizer", "runtime error:", "Sanitizer"):
            if marker in log:
                failures.append("sanitizer report in the log:\n" + log[-4000:])
                break
        for line in log.splitlines():
            if ": error: " in line or "fatal" in line.lower():
                failures.append("error in the log: " + line)
                break
    finally:
        tmp.cleanup()
    for f in failures:
        print("soak: FAIL " + f)
    print("soak: %s" % ("passed" if not failures else "failed"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
