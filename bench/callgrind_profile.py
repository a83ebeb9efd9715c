#!/usr/bin/env python3
"""Where a cached answer's instructions go, by concern and by function, for
the floor's thread and mxdelegate's worker and gate threads: the runs of
callgrind_threads.py (--separate-threads=yes, one worker, N1 then N2
requests of mx-toml-10, a new connection a request; with --keep-alive all
on one kept connection; with --sqlite-1m, misses spread over the million
SQLite domains instead), kept in BUILDDIR/bench/profile/, each function's
self cost compared between the two runs and divided by N2 - N1, so that
start-up and shutdown cancel out.  bench/RESULTS.md, "The cached answer's
instructions (issue 17)", has its tables.

  BUILDDIR=build python3 bench/callgrind_profile.py [--keep-alive] [--sqlite-1m] [--top N]
"""

import glob
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
import bench  # noqa: E402
import fcgi  # noqa: E402

N1, N2 = 200, 2200

# Each function's self cost goes to the first concern whose pattern its
# "file:function [object]" matches.  malloc, the string functions and the
# system call wrappers are their own concerns, whoever calls them.
CONCERNS = [
    ("libfcgi's own code", r"\[[^\]]*libfcgi"),
    ("SQLite's own code", r"\[[^\]]*libsqlite3"),
    ("malloc and free", r"malloc/|/malloc\.c|arena\.c"),
    ("memcpy, memcmp, str*", r"/string/|multiarch/(mem|str)"),
    ("locks, condition variable, futex",
     r"nptl/(pthread_(mutex|cond|rwlock)|futex|lowlevellock|cleanup)|pthread_cond|condition_variable"
     r"|gthr-default|std_mutex|unique_lock|shared_mutex|futex"),
    ("system call wrappers, cancellation", r"sysv/linux/|cancellation\.c|nptl/descr\.h|syscall-template|errno"),
    ("clock", r"clock_gettime|steady_clock|chrono"),
    ("parameters (core/request)", r"parse_request|request\.cpp|request\.hpp|basic_string.*_M_replace"),
    ("routing (core/route)", r"route::|route\.cpp|document_path"),
    ("Host normalisation (core/host)", r"host::|host\.cpp|hostport"),
    ("directory find", r"Directory::find|directory\.(cpp|hpp)|hashtable"),
    ("hand-over (Gate::take, Gate::done)", r"Gate::(take|done)\("),
    ("frame scan (core/fcgi_frame)", r"fcgi_frame"),
    ("gate: accept, epoll, connections", r"Gate::|PeerList"),
    ("responder, reply", r"Responder::|responder\.cpp|answer\.hpp"),
    ("metrics", r"metrics"),
    ("worker loop (server.cpp)", r"Server::worker|server\.cpp"),
]


def request(sock, host, keep):
    if keep is None:
        return bench.fcgi_get(sock, host)
    keep.sendall(fcgi.begin(1, keep=True) + fcgi.params_records(1, fcgi.cgi_params("GET", bench.PATH, host))
                 + fcgi.record(fcgi.STDIN, 1))
    out = b""
    for rtype, _, content in fcgi.read_records(keep):
        if rtype == fcgi.STDOUT:
            out += content
        elif rtype == fcgi.END_REQUEST:
            break
    return out


def run(name, argv, sock, hosts, n, keep_alive):
    """Runs n requests under callgrind; returns the output files' prefix."""
    out = os.path.join(bench.OUT, "profile", "%s%s.%d" % (name, "-ka" if keep_alive else "", n))
    for f in glob.glob(out + "*"):
        os.unlink(f)

    def requests():
        conn = fcgi.connect(sock) if keep_alive else None
        for i in range(n):
            d = request(sock, hosts[i % len(hosts)], conn)
            if b"200 OK" not in d[:60]:
                raise SystemExit("callgrind_profile: bad answer %r" % d[:80])
        if conn:
            conn.close()
            time.sleep(0.3)
    bench.under_callgrind(argv, sock, out, requests, threads=True)
    return out


def self_costs(path):
    """{"file:function [object]": instructions} of one thread's file."""
    text = subprocess.run(["callgrind_annotate", "--threshold=100", "--auto=no", path],
                          capture_output=True, text=True, check=True).stdout
    costs = {}
    for line in text.splitlines():
        m = re.match(r"\s*([\d,]+)\s+(?:\([^)]*\)\s+)?(?:\*\s+)?(.*:.*)$", line)
        if m:
            costs[m.group(2).strip()] = costs.get(m.group(2).strip(), 0) + int(m.group(1).replace(",", ""))
    return costs


def threads(prefix):
    """{thread number: path} of a run's per-thread files."""
    return {int(f.rsplit("-", 1)[1]): f for f in glob.glob(prefix + "-*")}


def role(costs):
    names = " ".join(costs)
    if "Server::worker" in names:
        return "mx worker"
    if "Gate::run" in names:
        return "mx gate"
    if "floor.c" in names or "FCGX_Accept_r" in names:
        return "floor"
    return None


def concern(name):
    for label, pattern in CONCERNS:
        if re.search(pattern, name):
            return label
    return "other"


def main():
    keep_alive = "--keep-alive" in sys.argv
    top = int(sys.argv[sys.argv.index("--top") + 1]) if "--top" in sys.argv else 25
    os.makedirs(os.path.join(bench.OUT, "profile"), exist_ok=True)
    os.makedirs(os.path.join(bench.OUT, "run"), exist_ok=True)
    subprocess.run(["cc", "-O2", "-g", "-Wall", "-Wextra", "-o", bench.FLOOR,
                    os.path.join(bench.HERE, "floor.c"), "-lfcgi", "-pthread"], check=True)
    hosts = [bench.host(i) for i in range(1, 11)]
    scenario, cfg = "mx-toml-10", bench.toml_config(10)
    if "--sqlite-1m" in sys.argv:
        # bench.callgrind_figures's spread: 3,000 hosts of the million, so
        # that nearly every request is a miss.
        rnd = bench.random.Random(6)
        hosts = [bench.host(rnd.randint(1, 1000000)) for _ in range(3000)]
        scenario, cfg = "mx-sqlite-1m", bench.sqlite_config(1000000)
    sock = os.path.join(bench.OUT, "run", "profile.sock")
    per_thread = {}
    for name, argv in (("floor", [bench.FLOOR, "-t", "1", "-s", sock]),
                       (scenario, [bench.MX, "-c", cfg, "--listen", "unix:" + sock, "--threads", "1"])):
        a = threads(run(name, argv, sock, hosts, N1, keep_alive))
        b = threads(run(name, argv, sock, hosts, N2, keep_alive))
        for t in sorted(set(a) & set(b)):
            ca, cb = self_costs(a[t]), self_costs(b[t])
            who = role(cb)
            if who:
                per_thread[who] = {k: (cb.get(k, 0) - ca.get(k, 0)) / (N2 - N1) for k in set(ca) | set(cb)}
    order = [w for w in ("floor", "mx worker", "mx gate") if w in per_thread]
    print("Ir/request by concern (self cost)%s" % (", one kept connection" if keep_alive else ""))
    print("| concern | %s |" % " | ".join(order))
    print("|---|" + "---|" * len(order))
    by = {w: {} for w in order}
    for w in order:
        for k, v in per_thread[w].items():
            by[w][concern(k)] = by[w].get(concern(k), 0) + v
    for label in [c[0] for c in CONCERNS] + ["other"]:
        vals = [by[w].get(label, 0) for w in order]
        if any(abs(v) >= 0.5 for v in vals):
            print("| %s | %s |" % (label, " | ".join("%.0f" % (v if abs(v) >= 0.5 else 0) for v in vals)))
    print("| total | %s |" % " | ".join("%.0f" % sum(per_thread[w].values()) for w in order))
    for w in order:
        print("\n%s: the %d largest self costs" % (w, top))
        for k, v in sorted(per_thread[w].items(), key=lambda kv: -kv[1])[:top]:
            print("%8.1f  %s" % (v, k[:150]))


if __name__ == "__main__":
    main()
