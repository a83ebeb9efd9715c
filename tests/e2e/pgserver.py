"""A PostgreSQL server of the tests' own: Debian's initdb and pg_ctl in a
temporary folder, on a free loopback port, with its socket in that folder.
PostgreSQL refuses to run as root, so when the tests do, the server runs as
the "postgres" user that Debian's package creates.  One server is shared by
every test that asks for it (Server.shared()); each test makes a database of
its own.  It is stopped and its folder removed when the tests end, whatever
happened.  A machine without PostgreSQL fails the tests, never skips them:
"tools/deps.sh check" (make check) installs it."""

import atexit
import glob
import os
import pwd
import shutil
import subprocess
import tempfile

import harness

# The test server has no Kerberos, and libpq's default gssencmode=prefer
# initialises libkrb5 in every client for nothing; under SANITIZE=1 that
# makes gcc 12's LeakSanitizer crash at exit ("Tracer caught signal 11")
# in about one mxdelegatectl run out of three.  Inherited by every program
# the tests start.
os.environ["PGGSSENCMODE"] = "disable"

SUPERUSER = "mxd"
# A role that must give a password over TCP (scram-sha-256), for the
# passfile test; every other role is trusted on the loopback.
SECRET_ROLE = "secret"


def _bindir():
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    if not found:
        raise AssertionError("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb); "
                             "\"sh tools/deps.sh check\" installs it")
    return os.path.dirname(found[-1])


class Server:
    """root=None: a temporary server, removed at the end.  root=PATH: a
    server kept in PATH between runs (the benchmark's data), made there the
    first time and only stopped at the end."""

    _shared = None

    def __init__(self, root=None):
        self.bin = _bindir()
        self.keep = root is not None
        if self.keep:
            os.makedirs(root, exist_ok=True)
            self.root = os.path.abspath(root)
        else:
            self.root = tempfile.mkdtemp(prefix="mxd-pg-")
        self.data = os.path.join(self.root, "data")
        self.logfile = os.path.join(self.root, "server.log")
        # Given at each start (pg_ctl -o), so that a kept server takes
        # whatever port is free this time.
        self.port = harness.free_port()
        self.running = False
        self.user = None
        self.secret_password = "pw-Zq8-never-logged"
        self.databases = 0
        if os.geteuid() == 0:
            try:
                self.user = pwd.getpwnam("postgres")
            except KeyError:
                raise AssertionError("running as root and there is no \"postgres\" user to run "
                                     "the server as; install Debian's postgresql package")
            os.chown(self.root, self.user.pw_uid, self.user.pw_gid)
        os.chmod(self.root, 0o755)
        atexit.register(self.cleanup)
        if os.path.exists(os.path.join(self.data, "PG_VERSION")):
            self.start()
            return
        shutil.rmtree(self.data, ignore_errors=True)
        self._as_owner([os.path.join(self.bin, "initdb"), "-D", self.data, "-U", SUPERUSER,
                        "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"])
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write("listen_addresses = '127.0.0.1'\n"
                    "unix_socket_directories = '%s'\n"
                    "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
                    "max_connections = 200\n" % self.root)
        with open(os.path.join(self.data, "pg_hba.conf"), "w") as f:
            f.write("local all all trust\n"
                    "host all %s 127.0.0.1/32 scram-sha-256\n"
                    "host all all 127.0.0.1/32 trust\n" % SECRET_ROLE)
        self.start()
        self.psql("CREATE ROLE %s LOGIN PASSWORD '%s'" % (SECRET_ROLE, self.secret_password))

    @classmethod
    def shared(cls):
        if cls._shared is None:
            cls._shared = cls()
        if not cls._shared.running:
            cls._shared.start()
        return cls._shared

    def _as_owner(self, argv, check=True, timeout=120):
        if self.user is not None:
            argv = ["setpriv", "--reuid=%d" % self.user.pw_uid, "--regid=%d" % self.user.pw_gid,
                    "--clear-groups", "--"] + argv
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=timeout, cwd=self.root)
        if check and p.returncode != 0:
            raise AssertionError("%s: exit %d\n%s%s%s" % (" ".join(argv), p.returncode, p.stdout,
                                                          p.stderr, self.log()))
        return p

    def log(self):
        try:
            with open(self.logfile, errors="replace") as f:
                return f.read()[-3000:]
        except OSError:
            return ""

    def start(self):
        self._as_owner([os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-l", self.logfile,
                        "-o", "-p %d" % self.port, "-w", "-t", "60", "start"])
        self.running = True

    def stop(self, mode="fast"):
        self._as_owner([os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-m", mode, "-w",
                        "-t", "60", "stop"])
        self.running = False

    def cleanup(self):
        if self.running:
            self._as_owner([os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-m",
                            "fast" if self.keep else "immediate", "-w", "stop"], check=False)
            self.running = False
        if not self.keep:
            shutil.rmtree(self.root, ignore_errors=True)

    def psql(self, sql, db="postgres"):
        p = subprocess.run([os.path.join(self.bin, "psql"), "-X", "-q", "-A", "-t", "-v",
                            "ON_ERROR_STOP=1", "-h", self.root, "-p", str(self.port),
                            "-U", SUPERUSER, "-d", db, "-c", sql],
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
        if p.returncode != 0:
            raise AssertionError("psql %r: %s" % (sql, p.stderr))
        return p.stdout

    def new_database(self):
        self.databases += 1
        name = "t%d_%d" % (os.getpid(), self.databases)
        self.psql("CREATE DATABASE %s" % name)
        return name

    def conninfo(self, db, **extra):
        parts = {"host": "127.0.0.1", "port": str(self.port), "dbname": db, "user": SUPERUSER}
        parts.update(extra)
        return " ".join("%s=%s" % kv for kv in parts.items())
