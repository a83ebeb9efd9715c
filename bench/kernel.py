#!/usr/bin/env python3
"""What a request costs outside mxdelegate's own instructions (issue 17):
the system calls and the kernel's CPU of a cached answer and of a miss, in
one responder, for one build (BUILDDIR, default build).

One responder thread over a unix socket, driven from here (no web server),
on bench.py's sqlite-1000000 store with the default configuration:

  hits    the same 10 domains over and over (answered from the cache)
  misses  domains drawn at random from the million (nearly every one read
          from SQLite)

For each: the system calls a request makes, by name (strace -f -c, a run
of its own), and the user and system CPU a request takes (/proc/PID/stat,
a run without strace).  The figures callgrind cannot see: its counts stop
at the system call.

  BUILDDIR=build python3 bench/kernel.py      (N=20000 requests a phase)
"""

import os
import random
import re
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402
import fcgi  # noqa: E402

N = int(os.environ.get("N", "20000"))
WARM = 500


def start(config, strace_out=None):
    wrap = ["strace", "-f", "-c", "-o", strace_out] if strace_out else []
    p, sock = bench.start_on_socket(config, "kernel", wrap=wrap)
    time.sleep(0.5)
    return p, sock


def responder_pid(p):
    """The responder's pid: p's own, or its child's under strace."""
    if os.path.basename(p.args[0]) != "strace":
        return p.pid
    kids = bench.children(p.pid)
    if not kids:
        raise SystemExit("kernel: strace has no child")
    return kids[0]


def hosts(kind, n):
    rnd = random.Random(11)
    if kind == "hits":
        return [bench.host(1 + i % 10) for i in range(n)]
    return [bench.host(rnd.randint(1, 1000000)) for _ in range(n)]


def ask_all(sock, hs):
    for h in hs:
        r = fcgi.request(sock, fcgi.cgi_params("GET", "/.well-known/matrix/client", h))
        if r is None or r.status != 200:
            raise SystemExit("kernel: %s: %r" % (h, r.raw[:80] if r else None))


def ticks(pid):
    f = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return int(f[11]), int(f[12])


def cpu(config, kind):
    p, sock = start(config)
    try:
        ask_all(sock, hosts(kind, WARM))
        u0, s0 = ticks(p.pid)
        ask_all(sock, hosts(kind, N))
        u1, s1 = ticks(p.pid)
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(30)
    hz = os.sysconf("SC_CLK_TCK")
    return (u1 - u0) * 1e6 / hz / N, (s1 - s0) * 1e6 / hz / N


LINE = re.compile(r"^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:(\d+)\s+)?(\w+)$", re.M)


def calls(config, kind):
    """System calls by name, per request, of N requests after WARM (the
    start and the warm-up measured alone and taken away)."""
    counts = []
    for n in (WARM, WARM + N):
        out = os.path.join(bench.OUT, "run", "kernel.strace")
        p, sock = start(config, out)
        try:
            ask_all(sock, hosts(kind, n))
        finally:
            os.kill(responder_pid(p), signal.SIGTERM)
            p.wait(60)
        counts.append({m.group(3): int(m.group(1)) for m in LINE.finditer(open(out).read())})
    a, b = counts
    return {k: (b.get(k, 0) - a.get(k, 0)) / N for k in (set(a) | set(b)) - {"total"}}


def main():
    os.makedirs(os.path.join(bench.OUT, "run"), exist_ok=True)
    config = bench.sqlite_config(1000000)
    # The responder's own watches (the configuration's and the store's
    # generation, every check_interval) run on the main thread whatever
    # the requests; they are in both phases' counts alike.
    for kind in ("hits", "misses"):
        user, system = cpu(config, kind)
        per = calls(config, kind)
        total = sum(v for k, v in per.items() if k not in ("futex", "epoll_wait", "rt_sigtimedwait"))
        print("%s: user %.1f µs, system %.1f µs a request; %.1f system calls a request "
              "(futex, epoll_wait and the main thread's waits left out):" % (kind, user, system, total))
        for k, v in sorted(per.items(), key=lambda kv: -kv[1]):
            if v >= 0.05:
                print("  %-16s %.2f" % (k, v))


if __name__ == "__main__":
    main()
