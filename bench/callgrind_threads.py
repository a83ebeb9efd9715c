#!/usr/bin/env python3
"""Callgrind's instructions of a cached answer, whole process and per
thread (--separate-threads=yes), for one build (BUILDDIR, default build):
the floor, then mxdelegate with 10 TOML domains (bench.py's toml-10: every
answer after the first cached, or preloaded where the build preloads), one
worker thread, over a unix socket.  The figure is the difference between a
run of N2 and one of N1 requests, divided by N2 - N1, as bench.py's
callgrind mode takes it, so start-up and shutdown cancel out.

  BUILDDIR=build python3 bench/callgrind_threads.py
"""

import glob
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402

N1, N2 = 200, 2200


def run(argv, sock, hosts, n):
    """{thread number: instructions} of one run of n requests."""
    out = os.path.join(bench.OUT, "run", "cgt.out")
    for f in glob.glob(out + "*"):
        os.unlink(f)

    def requests():
        for i in range(n):
            d = bench.fcgi_get(sock, hosts[i % len(hosts)])
            if b"200 OK" not in d[:60]:
                raise SystemExit("callgrind: bad answer %r" % d[:80])
    bench.under_callgrind(argv, sock, out, requests, threads=True)
    return {int(f.rsplit("-", 1)[1]): bench.callgrind_totals(f) for f in sorted(glob.glob(out + "-*"))}


def per_request(argv_for_socket, hosts):
    sock = os.path.join(bench.OUT, "run", "cgt.sock")
    a = run(argv_for_socket(sock), sock, hosts, N1)
    b = run(argv_for_socket(sock), sock, hosts, N2)
    each = {t: (b.get(t, 0) - a.get(t, 0)) / (N2 - N1) for t in sorted(set(a) | set(b))}
    return sum(each.values()), each


def main():
    os.makedirs(os.path.join(bench.OUT, "run"), exist_ok=True)
    subprocess.run(["cc", "-O2", "-Wall", "-Wextra", "-o", bench.FLOOR,
                    os.path.join(bench.HERE, "floor.c"), "-lfcgi", "-pthread"], check=True)
    hs = [bench.host(i) for i in range(1, 11)]
    cfg = bench.toml_config(10)
    for name, argv in (("floor", lambda s: [bench.FLOOR, "-t", "1", "-s", s]),
                       ("mx-toml-10", lambda s: [bench.MX, "-c", cfg, "--listen", "unix:" + s,
                                                 "--threads", "1"])):
        total, each = per_request(argv, hs)
        print("%s: %.0f instructions a request, whole process; by thread: %s" %
              (name, total, ", ".join("%d: %.0f" % (t, v) for t, v in each.items() if abs(v) >= 1)))


if __name__ == "__main__":
    main()
