"""Runs the integration tests: every web server of etc/ started from its
shipped file on 127.0.0.1, the shared behaviour suite sent to it over real
HTTP, then the responder killed, a browser reading across origins, and the
server stopped by its pid, pass or fail.  Prints "ok"/"FAIL" per test and
ends with "integration: N passed, N failed".

  INTEGRATION_ONLY=nginx python3 tests/integration/run.py   # tests whose
                                                             # name has "nginx"
  INTEGRATION_KEEP=1 ...      keep the temporary tree (configurations, logs)
"""

import os
import shutil
import signal
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import servers  # noqa: E402
import suite  # noqa: E402


class Runner:
    def __init__(self):
        self.only = os.environ.get("INTEGRATION_ONLY", "")
        self.passed = self.failed = 0

    def wanted(self, label):
        return self.only in label

    def record(self, label, fn, *args):
        t0 = time.monotonic()
        try:
            note = fn(*args)
        except Exception as e:  # noqa: BLE001 - every failure is reported
            self.failed += 1
            detail = str(e) if isinstance(e, AssertionError) else traceback.format_exc()
            print("FAIL %s (%.2fs)\n     %s" % (label, time.monotonic() - t0,
                                                detail.rstrip().replace("\n", "\n     ")), flush=True)
            return False
        self.passed += 1
        print("ok   %s (%.2fs)%s" % (label, time.monotonic() - t0, ": " + note if note else ""),
              flush=True)
        return True

    def fail(self, label, why):
        self.failed += 1
        print("FAIL %s\n     %s" % (label, why.rstrip().replace("\n", "\n     ")), flush=True)


def row_tests(row_class):
    tests = ["behaviour"]
    if not row_class.cgi:
        tests.append("keepalive")
    tests.append("browser")
    tests.append("autodiscovery")
    if not row_class.cgi:
        tests.append("restart")
    if not row_class.cgi:
        tests.append("user")
    if row_class is servers.ApacheProxyFcgi:
        tests.append("retry")
    if not row_class.cgi:
        tests.append("own-errors")
    if row_class.routes_metrics:
        tests.append("metrics")
    tests.append("stop")
    return tests


def main():
    # A runner stopped from outside still stops its servers: SIGTERM unwinds
    # through the finally clauses like an exception.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    run = Runner()
    if not os.access(os.path.join(servers.BUILD, "mxdelegate"), os.X_OK):
        print("integration: %s/mxdelegate is not built" % servers.BUILD)
        print("integration: 0 passed, 1 failed")
        return 1
    root = tempfile.mkdtemp(prefix="mxd-int-")
    tree = servers.Tree(root)
    ref = page = None
    try:
        page = suite.PageServer()
        tree.page_port = page.port
        ref = suite.Reference(tree)
        if run.wanted("systemd-units"):
            run.record("systemd-units", suite.units, tree)
        if run.wanted("tmpfiles"):
            run.record("tmpfiles", suite.tmpfiles, tree)
        for row_class in servers.ROWS:
            labels = ["%s.%s" % (row_class.name, t) for t in row_tests(row_class)]
            if not any(run.wanted(label) for label in labels):
                continue
            run_row(run, row_class, tree, ref, page)
    finally:
        if page:
            page.stop()
        if ref:
            ref.stop()
        if os.environ.get("INTEGRATION_KEEP"):
            print("integration: files kept in %s" % root)
        else:
            shutil.rmtree(root, ignore_errors=True)
    if suite.RESTARTS:
        print("after SIGKILL of the responder:")
        for name, who, took, failed in suite.RESTARTS:
            lost = ", ".join("%s x%d" % kv for kv in sorted(failed.items(), key=str))
            print("  %-18s %.2f s, by %s%s" % (name, took, who, "; failed meanwhile: " + lost if lost else ""))
    print("integration: %d passed, %d failed" % (run.passed, run.failed))
    return 1 if run.failed else 0


def run_row(run, row_class, tree, ref, page):
    name = row_class.name
    tests = row_tests(row_class)
    row = None
    try:
        row = row_class(tree)
        row.start()
    except Exception as e:  # noqa: BLE001 - a server that cannot start fails
        why = str(e) if isinstance(e, AssertionError) else traceback.format_exc()
        for t in tests:
            if t != "stop" and run.wanted("%s.%s" % (name, t)):
                run.fail("%s.%s" % (name, t), "the server did not start: " + why)
        if row is not None:
            row.stop()
        return
    try:
        for t in tests:
            label = "%s.%s" % (name, t)
            if t == "stop" or not run.wanted(label):
                continue
            fn = {"behaviour": lambda: suite.behaviour(row, ref),
                  "keepalive": lambda: suite.keepalive(row),
                  "browser": lambda: suite.browser(row, page, ref),
                  "autodiscovery": lambda: suite.autodiscovery(row, page),
                  "restart": lambda: suite.restart(row),
                  "retry": lambda: suite.retry(row),
                  "user": lambda: suite.user(row),
                  "own-errors": lambda: suite.own_errors(row),
                  "metrics": lambda: suite.metrics(row)}[t]
            if not run.record(label, fn):
                tails = row.log_tails()
                if tails:
                    print("     " + tails.replace("\n", "\n     "), flush=True)
    finally:
        def stop():
            problems = row.stop()
            if problems:
                raise AssertionError("; ".join(problems))
            return "stopped by its pid, nothing left running"
        run.record("%s.stop" % name, stop)


if __name__ == "__main__":
    sys.exit(main())
