#!/usr/bin/env python3
"""What the answers cost in memory (issue 17): the responder's RSS and the
cache's own count of bytes, for one build (BUILDDIR, default build).

  toml-10k    10,000 TOML domains (bench.py's toml-10000): VmRSS once the
              socket answers (the preload, where the build has one), then
              after one request for each domain's /client, and the
              metrics' cache gauges.
  sqlite-1m   1,000,000 SQLite domains (bench.py's sqlite-1000000), the
              default cache_bytes (6 MiB) and one of 32 MiB (the default
              before 3 December 2026): VmRSS and the
              cache's hosts and bytes after HOSTS distinct domains asked
              once each (/client, then /server, which [defaults] fills),
              and the bytes a host costs (cache bytes ÷ hosts).
  sqlite-1m-4 the same store with the bench's four workers, each reading
              through a SQLite connection of its own, and four clients
              asking 60,000 times among the bench's 100,000 domains (its
              mx-sqlite-1m): VmRSS with no cache, the default and 8 MiB.
              The figure of issue 17's memory target.

One responder thread (four for sqlite-1m-4), over a unix socket, driven
from here (no web server), so the figures are the responder's alone.  Run
it for a build before a change and after:

  BUILDDIR=build python3 bench/memory.py
"""

import multiprocessing
import os
import random
import re
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402
import fcgi  # noqa: E402

HOSTS = int(os.environ.get("HOSTS", "100000"))
SAMPLE = re.compile(r'^(mxdelegate_cache_(?:hosts|bytes))\{record="(\w+)"\} (\S+)$', re.M)


def start(config, threads=1):
    return bench.start_on_socket(config, "mem", threads)


def ask(sock, h, path="/.well-known/matrix/client"):
    r = fcgi.request(sock, fcgi.cgi_params("GET", path, h))
    if r is None or r.status != 200:
        raise SystemExit("memory: %s %s: %r" % (h, path, r.raw[:80] if r else None))


def gauges(sock):
    r = fcgi.request(sock, fcgi.cgi_params("GET", "/metrics", None))
    return {(m.group(1), m.group(2)): float(m.group(3)) for m in SAMPLE.finditer(r.body.decode())}


def with_metrics(config, extra=""):
    """The bench's configuration with the metrics page (and `extra` in
    [server]), written beside it."""
    text = open(config).read()
    text = text.replace("[server]\n", "[server]\n" + extra, 1)
    path = config.replace(".toml", "-mem.toml")
    bench.write(path, text + '\n[status]\npath = "/metrics"\n')
    return path


def toml_10k():
    config = with_metrics(bench.toml_config(10000))
    p, sock = start(config)
    try:
        time.sleep(0.5)
        at_start = bench.rss_kib(p.pid)
        g0 = gauges(sock)
        for i in range(1, 10001):
            ask(sock, bench.host(i))
        after = bench.rss_kib(p.pid)
        g1 = gauges(sock)
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(30)
    print("toml-10k: RSS %.1f MiB at start, %.1f MiB after every domain's /client once" %
          (at_start / 1024, after / 1024))
    for k in sorted(g1):
        print("  %s{record=%s}: at start %d, after %d" % (k[0], k[1], g0.get(k, 0), g1[k]))


def sqlite_1m(cache_bytes):
    extra = "" if cache_bytes is None else "cache_bytes = %d\n" % cache_bytes
    config = with_metrics(bench.sqlite_config(1000000), extra)
    p, sock = start(config)
    try:
        for i in range(1, HOSTS + 1):
            # Spread over the million: every tenth domain.
            h = bench.host(i * (1000000 // HOSTS))
            ask(sock, h)
            ask(sock, h, "/.well-known/matrix/server")
        rss = bench.rss_kib(p.pid)
        g = gauges(sock)
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(30)
    hosts = g.get(("mxdelegate_cache_hosts", "yes"), 0)
    cached = g.get(("mxdelegate_cache_bytes", "yes"), 0)
    print("sqlite-1m, cache_bytes %s: RSS %.1f MiB after %d domains (2 documents each); "
          "cache %d hosts, %d bytes, %.0f bytes a host" %
          ("default" if cache_bytes is None else cache_bytes, rss / 1024, HOSTS, hosts, cached,
           cached / hosts if hosts else 0))


def loaded_client(args):
    sock, sample, seed = args
    rnd = random.Random(seed)
    for _ in range(15000):
        ask(sock, bench.host(rnd.choice(sample)))


def sqlite_1m_4(cache_bytes):
    extra = "" if cache_bytes is None else "cache_bytes = %d\n" % cache_bytes
    config = with_metrics(bench.sqlite_config(1000000), extra)
    p, sock = start(config, threads=bench.THREADS)
    # bench.py's hosts file of the million: 100,000 drawn once, its seed.
    sample = [int(h[1:8]) for h in open(bench.hosts_file(1000000, 100000)).read().split()]
    try:
        with multiprocessing.Pool(4) as pool:
            pool.map(loaded_client, [(sock, sample, seed) for seed in range(4)])
        rss = bench.rss_kib(p.pid)
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(30)
    print("sqlite-1m-4, cache_bytes %s: RSS %.1f MiB after 60,000 requests from 4 clients" %
          ("default" if cache_bytes is None else cache_bytes, rss / 1024))


def main():
    os.makedirs(os.path.join(bench.OUT, "run"), exist_ok=True)
    which = sys.argv[1:] or ["toml-10k", "sqlite-1m", "sqlite-1m-4"]
    if "toml-10k" in which:
        toml_10k()
    if "sqlite-1m" in which:
        sqlite_1m(None)
        sqlite_1m(32 * 1024 * 1024)
    if "sqlite-1m-4" in which:
        for cache_bytes in (0, None, 8 * 1024 * 1024):
            sqlite_1m_4(cache_bytes)


if __name__ == "__main__":
    main()
