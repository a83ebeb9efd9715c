"""What the end-to-end tests share: the built binary, temporary directories,
a responder process started on a socket of its own, and a tiny test runner
that prints the closing line "N passed, N failed"."""

import atexit
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

import fcgi

BUILD = os.path.abspath(os.environ.get("MXD_BUILDDIR", "build"))
BIN = os.path.join(BUILD, "mxdelegate")
PLUGINS = os.path.join(BUILD, "backends")
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))

EXAMPLE_CONFIG = """\
[backend]
name = "toml"
plugin_dir = "%(plugins)s"

[http]
max_age = 3600
not_found_max_age = 120

[domains."example.org"]
server = "matrix.example.org:443"
client = "https://matrix.example.org"
[domains."example.org".client_extra]
"m.identity_server" = { base_url = "https://vector.im" }
"org.matrix.msc4143.rtc_foci" = [ { type = "livekit", livekit_service_url = "https://rtc.example.org" } ]
[domains."example.org".support]
support_page = "https://example.org/help"
contacts = [ { matrix_id = "@admin:example.org", email_address = "admin@example.org", role = "m.role.admin" } ]

[domains."example.net"]
client = "https://chat.example.net"
"""

CORS = [
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE, OPTIONS"),
    ("Access-Control-Allow-Headers", "X-Requested-With, Content-Type, Authorization"),
]


class TempDir:
    def __init__(self):
        self.path = tempfile.mkdtemp(prefix="mxd-e2e-")

    def file(self, name):
        return os.path.join(self.path, name)

    def write(self, name, text):
        p = self.file(name)
        with open(p, "w") as f:
            f.write(text)
        return p

    def cleanup(self):
        shutil.rmtree(self.path, ignore_errors=True)


def example_config(tmp, extra="", name="mxdelegate.toml"):
    return tmp.write(name, EXAMPLE_CONFIG % {"plugins": PLUGINS} + extra)


def touch_later(path):
    """Moves a file's mtime forward so a change is seen even within one
    filesystem timestamp tick."""
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))


# directory.cpp's line when an in-memory store's names are rendered, text
# or JSON (one line either way).
PRELOADED = re.compile(r'^.*directory.*: preloaded \d+ names \(\d+ misconfigured\), \d+ bytes, \d+ ms.*\n',
                       re.M)


class Responder:
    """mxdelegate on a unix socket of its own (--listen), stderr captured."""

    def __init__(self, config, tmp, args=(), env=None):
        self.socket = tmp.file("mx.sock")
        self.errlog = tmp.file("stderr.log")
        self.err = open(self.errlog, "wb")
        self.proc = subprocess.Popen([BIN, "-c", config, "--listen", "unix:" + self.socket, *args],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=self.err, env=env)
        wait_for(lambda: _accepts(self.socket) or self.proc.poll() is not None, 10)
        if self.proc.poll() is not None:
            raise AssertionError("mxdelegate exited %s: %s" % (self.proc.returncode, self.stderr()))

    def get(self, uri="/.well-known/matrix/client", host="example.org", method="GET", **extra):
        return fcgi.request(self.socket, fcgi.cgi_params(method, uri, host, **extra))

    def stderr(self):
        """What the responder logged, without the TOML preload's info line
        at load (and at each reload), which the tests of other things would
        otherwise each have to expect; test_preload reads raw_stderr()."""
        return PRELOADED.sub("", self.raw_stderr())

    def raw_stderr(self):
        self.err.flush()
        with open(self.errlog, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self, sig=signal.SIGTERM, timeout=10):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("mxdelegate did not stop within %ss" % timeout)
        self.err.close()
        return self.proc.returncode


def _accepts(path):
    try:
        fcgi.connect(path, 1).close()
        return True
    except OSError:
        return False


class Installed:
    """The tree built once for a temporary PREFIX (the installed responder
    finds its plugins and configuration through paths compiled in), shared by
    the tests that install it: the install test and the manual pages'
    examples, which run the installed programs.  The build is the slow part;
    make install and make uninstall are run by each test as it needs them.
    The directory is readable by all, so that a web server's user can run
    the installed responder, and is removed when the tests end."""

    _shared = None

    def __init__(self):
        if os.environ.get("SANITIZE") == "1":
            # Not one sanitized program would run: the plain stage tests
            # these already, and the build alone is a minute and a half.
            raise Skip("the installed programs are the plain build, tested in the plain stage")
        self.root = tempfile.mkdtemp(prefix="mxd-e2e-install-")
        os.chmod(self.root, 0o755)
        atexit.register(shutil.rmtree, self.root, True)
        self.prefix = os.path.join(self.root, "prefix")
        self.build = os.path.join(self.root, "build")
        self.sbin = os.path.join(self.prefix, "sbin")
        self.plugindir = os.path.join(self.prefix, "lib/mxdelegate/backends")
        self.pkgconfig = os.path.join(self.prefix, "lib/pkgconfig")
        self.werror = ""
        self.seed_build()
        # SANITIZE= : the installed programs are the plain build, whatever
        # this run of the tests was built with.
        p = self.make("all", "-j%d" % (os.cpu_count() or 1))
        if p.returncode != 0:
            raise AssertionError("make all for PREFIX=%s failed:\n%s" %
                                 (self.prefix, p.stderr.decode(errors="replace")[-3000:]))

    def seed_build(self):
        """The tested build's objects and stamps, copied with their times:
        the paths are compiled into core/install_paths.cpp alone, so make
        recompiles that file and relinks, where a build from nothing was
        minutes.  Top-level folders that are other builds (san, fuzz, deb),
        the unit tests and the bench's data are left out.  With another
        build's flags, make rebuilds everything, as before."""
        if not os.path.exists(os.path.join(BUILD, ".flags")):
            return
        skip = {"san", "fuzz", "deb", "bench", "tests"}
        shutil.copytree(BUILD, self.build, symlinks=True,
                        ignore=lambda d, names: skip & set(names) if d == BUILD else ())
        with open(os.path.join(BUILD, ".flags")) as f:
            self.werror = "-Werror" if " -Werror " in f.read() else ""

    @classmethod
    def shared(cls):
        if cls._shared is None:
            cls._shared = cls()
        return cls._shared

    def make(self, *args, destdir=None):
        argv = ["make", "-s", "-C", REPO, *args, "PREFIX=" + self.prefix,
                "BUILDDIR=" + self.build, "SANITIZE=", "WERROR=" + self.werror]
        if destdir is not None:
            argv.append("DESTDIR=" + destdir)
        return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=1200)

    def install(self, destdir=None):
        p = self.make("install", destdir=destdir)
        if p.returncode != 0:
            raise AssertionError("make install failed:\n" + p.stderr.decode(errors="replace")[-3000:])

    def uninstall(self, destdir=None):
        p = self.make("uninstall", destdir=destdir)
        if p.returncode != 0:
            raise AssertionError("make uninstall failed:\n" + p.stderr.decode(errors="replace")[-3000:])


def wait_for(cond, timeout, step=0.02):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(step)
    return cond()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check_common_headers(test, r):
    """Every answer: Content-Type and the three CORS headers, exactly."""
    test.eq(r.header("Content-Type"), "application/json")
    for name, value in CORS:
        test.eq(r.header(name), value)


class Skip(Exception):
    """Raised by a test that has nothing to test in this run, and says why."""


class Test:
    def eq(self, a, b, msg=""):
        if a != b:
            raise AssertionError("%r != %r %s" % (a, b, msg))

    def true(self, cond, msg=""):
        if not cond:
            raise AssertionError(msg or "condition is false")

    def contains(self, haystack, needle):
        if needle not in haystack:
            raise AssertionError("%r not in %r" % (needle, haystack[:2000]))


def run(modules):
    """Runs every test_* method of every Test subclass in the modules."""
    only = os.environ.get("E2E_ONLY")
    passed = failed = skipped = 0
    for mod in modules:
        for name in sorted(dir(mod)):
            cls = getattr(mod, name)
            if not (isinstance(cls, type) and issubclass(cls, Test) and cls is not Test):
                continue
            for meth in sorted(m for m in dir(cls) if m.startswith("test_")):
                label = "%s.%s" % (cls.__name__, meth)
                if only and only not in label:
                    continue
                obj = cls()
                obj.tmp = TempDir()
                t0 = time.monotonic()
                try:
                    if hasattr(obj, "setup"):
                        obj.setup()
                    getattr(obj, meth)()
                    passed += 1
                    print("ok   %s (%.2fs)" % (label, time.monotonic() - t0), flush=True)
                except Skip as why:
                    skipped += 1
                    print("skip %s: %s" % (label, why), flush=True)
                except Exception:
                    failed += 1
                    print("FAIL %s\n%s" % (label, traceback.format_exc()), flush=True)
                finally:
                    if hasattr(obj, "teardown"):
                        try:
                            obj.teardown()
                        except Exception:
                            traceback.print_exc()
                    obj.tmp.cleanup()
    print("e2e: %d passed, %d failed%s" % (passed, failed,
                                            ", %d skipped" % skipped if skipped else ""))
    return 1 if failed else 0
