"""The web servers of the integration tests, each started from its shipped
file in etc/ with only ports and paths put in, and what supervises the
responder under each: the server itself (lighttpd bin-path, mod_fcgid), or
stand-ins for systemd and runit that do what the shipped unit files and run
script tell them to."""

import os
import pwd
import grp
import re
import shlex
import shutil
import signal
import socket
import subprocess
import threading
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
ETC = os.path.join(REPO, "etc")
BUILD = os.path.abspath(os.environ.get("MXD_BUILDDIR", os.path.join(REPO, "build")))

# Only what the programs need: no variable of the caller's may change how a
# server reads its configuration.
CLEAN_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C"}


class StartError(AssertionError):
    pass


def substitute(template, values):
    """The shipped file with the @NAME@ values put in; a placeholder left
    over means the file grew one that the tests do not know."""
    with open(os.path.join(ETC, template)) as f:
        text = f.read()
    for name, value in values.items():
        text = text.replace("@%s@" % name, str(value))
    left = sorted(set(re.findall(r"@[A-Z_]+@", text)))
    if left:
        raise StartError("%s: placeholders left unset: %s" % (template, " ".join(left)))
    return text


# The end-to-end suite's helpers, shared rather than copied.
from harness import free_port, wait_for  # noqa: E402


def accepts(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def tail(path, lines=30):
    try:
        with open(path, "rb") as f:
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def processes():
    """(pid, pgid, state, argv) of every process, from /proc."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                stat = f.read()
            with open("/proc/%s/cmdline" % entry, "rb") as f:
                argv = [a.decode("utf-8", "replace") for a in f.read().split(b"\0") if a]
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        out.append((int(entry), int(fields[2]), fields[0], argv))
    return out


def group_alive(pgid):
    return [p for p, g, state, _ in processes() if g == pgid and state != "Z"]


def connected_unix_inodes(prefix):
    """The inodes of the connected sockets whose bound path starts with
    prefix: the responder's side of each FastCGI connection still open."""
    out = set()
    with open("/proc/net/unix") as f:
        next(f)
        for line in f:
            cols = line.split()
            if len(cols) >= 8 and cols[7].startswith(prefix) and cols[5] == "03":
                out.add(cols[6])
    return out


def connected_unix_sockets(prefix):
    return len(connected_unix_inodes(prefix))


class Tree:
    """The files every server row shares: a copy of the responder and its
    plugins, readable by the unprivileged users the servers switch to
    whatever the permissions of the checkout, the configuration, and a
    document root."""

    KEY = "l8Hft5qXKn1vfHrg3p4+W8gELQVo8N13JkluMfmn2sQ"

    CONFIG = """\
[backend]
name = "toml"
plugin_dir = "%(plugins)s"

[http]
max_age = 3600
not_found_max_age = 120

# The metrics, which the nginx, Apache mod_proxy_fcgi and Caddy files
# route for the machine itself.
[status]
path = "/metrics"

[defaults]
server = "matrix.{domain}:443"

[domains."example.org"]
server = "matrix.example.org:443"
client = "https://matrix.example.org"
policy_server = { ed25519 = "%(key)s" }
[domains."example.org".client_extra]
"m.identity_server" = { base_url = "https://vector.im" }
[domains."example.org".support]
support_page = "https://example.org/help"
contacts = [ { matrix_id = "@admin:example.org", role = "m.role.admin" } ]

[domains."example.net"]
client = "https://chat.example.net"

[domains."*.example.com"]
client = "https://matrix.{domain}"

# For the browser: names under .localhost reach 127.0.0.1 in Chromium.
[domains."example.localhost"]
client = "https://matrix.example.localhost"

# Redirects, one a status (302 by default): every document to another base,
# none taking [defaults]' server.
[domains."r301.example"]
redirect = "https://matrix.other.example"
redirect_status = 301
[domains."r302.example"]
redirect = "https://matrix.other.example/"
[domains."r307.example"]
redirect = "https://matrix.other.example"
redirect_status = 307
[domains."r308.example"]
redirect = "https://matrix.other.example"
redirect_status = 308
# One document elsewhere, the others its own ([defaults]' server).
[domains."half.example"]
redirect = { client = "https://other.example/client.json?v=1" }

# For the browser: /client elsewhere, at the page server's other origin
# (http to a .localhost name, which browsers take as secure).
[domains."moved.localhost"]
redirect = { client = "http://elsewhere.localhost:%(page_port)d/.well-known/matrix/client" }

# For matrix-js-sdk's AutoDiscovery in Node, whose fetch resolves localhost
# but no other .localhost name: /client elsewhere, at the page server.
[domains."localhost"]
redirect = { client = "http://127.0.0.1:%(page_port)d/.well-known/matrix/client" }
"""

    STATIC = b"static page, not mxdelegate's\n"

    def __init__(self, root):
        self.root = root
        os.chmod(root, 0o755)
        self.bin = os.path.join(root, "bin", "mxdelegate")
        self.plugins = os.path.join(root, "bin", "backends")
        os.makedirs(self.plugins)
        shutil.copy2(os.path.join(BUILD, "mxdelegate"), self.bin)
        for name in os.listdir(os.path.join(BUILD, "backends")):
            if name.endswith(".so"):
                shutil.copy2(os.path.join(BUILD, "backends", name), self.plugins)
        for d in (os.path.join(root, "bin"), self.plugins):
            os.chmod(d, 0o755)
        self.docroot = os.path.join(root, "htdocs")
        os.makedirs(self.docroot)
        os.chmod(self.docroot, 0o755)
        with open(os.path.join(self.docroot, "index.html"), "wb") as f:
            f.write(self.STATIC)
        os.chmod(os.path.join(self.docroot, "index.html"), 0o644)
        # The body lighttpd answers with when it fails a request itself.
        self.error_json = os.path.join(root, "mxdelegate-error.json")
        shutil.copy(os.path.join(ETC, "lighttpd", "mxdelegate-error.json"), self.error_json)
        os.chmod(self.error_json, 0o644)

    # The page server's port, for the browser's redirect target; set before
    # any configuration is written.
    page_port = 0

    def config_text(self):
        return self.CONFIG % {"plugins": self.plugins, "key": self.KEY, "page_port": self.page_port}

    def row_dir(self, name):
        d = os.path.join(self.root, name)
        os.makedirs(d)
        os.chmod(d, 0o755)
        return d


def write(path, text, mode=0o644):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return path


def user_ids(user, group):
    return pwd.getpwnam(user).pw_uid, grp.getgrnam(group).gr_gid


# --- supervisors ------------------------------------------------------------

class Service:
    """A process started again when it dies, the way a supervisor does it.
    `restart_after` is the pause before a restart; `should_restart(rc)`
    decides, from the exit status, whether it is restarted at all."""

    def __init__(self, name, log, restart_after, should_restart):
        self.name = name
        self.log_path = log
        self.restart_after = restart_after
        self.should_restart = should_restart
        self.proc = None
        self.stopping = False
        self.starts = []  # monotonic times at which the process was started
        self.lock = threading.Lock()
        self.thread = None
        self.failure = None

    def spawn(self):
        raise NotImplementedError

    def start(self):
        self.stopping = False
        self._start_once()
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def _start_once(self):
        with self.lock:
            self.proc = self.spawn()
            self.starts.append(time.monotonic())

    def _watch(self):
        while True:
            proc = self.proc
            rc = proc.wait()
            if self.stopping:
                return
            if not self.should_restart(rc):
                self.failure = "%s exited %s and is not restarted" % (self.name, rc)
                return
            if not self.may_start():
                self.failure = "%s exited %s: too many starts, given up" % (self.name, rc)
                return
            time.sleep(self.restart_after)
            if self.stopping:
                return
            try:
                self._start_once()
            except Exception as e:  # noqa: BLE001 - reported by the test
                self.failure = "%s: restart failed: %s" % (self.name, e)
                return

    def may_start(self):
        return True

    def stop(self, timeout=10):
        """SIGTERM, as systemctl stop or sv down does; True if it left."""
        self.stopping = True
        proc = self.proc
        if proc is None:
            return True
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                return False
        if self.thread:
            self.thread.join(5)
        return True


class SystemdUnits(Service):
    """etc/systemd/mxdelegate.socket and .service, as systemd would run them:
    the socket made and held here with the unit's mode and owner, the
    service started with it as fd 3 (LISTEN_FDS=1, LISTEN_PID its own pid),
    started again after RestartSec when Restart= says so.  The sandboxing
    lines need systemd itself and are not applied; the test of the units
    checks them with systemd-analyze.  DynamicUser is played by nobody."""

    def __init__(self, tree, rowdir, socket_path):
        self.tree = tree
        self.dir = rowdir
        self.socket_path = socket_path
        values = {"SOCKET": socket_path, "MXDELEGATE": tree.bin,
                  "CONFIG": os.path.join(rowdir, "mxdelegate.toml")}
        self.socket_unit = parse_unit(substitute("systemd/mxdelegate.socket", values))
        self.service_unit = parse_unit(substitute("systemd/mxdelegate.service", values))
        sock = self.socket_unit["Socket"]
        svc = self.service_unit["Service"]
        if sock.get("Accept", "no") != "no":
            raise StartError("mxdelegate.socket: Accept=%s; the stand-in runs Accept=no only" % sock["Accept"])
        self.exec_start = shlex.split(svc["ExecStart"])
        restart = svc.get("Restart", "no")
        if restart not in ("no", "on-failure", "always"):
            raise StartError("mxdelegate.service: Restart=%s is not played by the stand-in" % restart)
        super().__init__("mxdelegate.service", os.path.join(rowdir, "journal.log"),
                         parse_seconds(svc.get("RestartSec", "100ms")),
                         lambda rc: restart == "always" or (restart == "on-failure" and rc != 0))
        unit = self.service_unit.get("Unit", {})
        self.start_limit = (parse_seconds(unit.get("StartLimitIntervalSec", "10s")),
                            int(unit.get("StartLimitBurst", "5")))
        self.listener = None

    def may_start(self):
        # systemd's start limit: at most StartLimitBurst starts within
        # StartLimitIntervalSec, then the unit fails.
        interval, burst = self.start_limit
        now = time.monotonic()
        return len([t for t in self.starts if now - t < interval]) < burst

    def open_socket(self):
        sock = self.socket_unit["Socket"]
        path = sock["ListenStream"]
        if os.path.exists(path):
            os.unlink(path)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            s.bind(path)
        finally:
            os.umask(old)
        os.chmod(path, int(sock.get("SocketMode", "0666"), 8))
        uid, gid = user_ids(sock.get("SocketUser", "root"), sock.get("SocketGroup", "root"))
        os.chown(path, uid, gid)
        s.listen(socket.SOMAXCONN)
        self.listener = s

    def close_socket(self):
        if self.listener:
            self.listener.close()
            self.listener = None
        if os.path.exists(self.socket_path):
            os.unlink(self.socket_path)

    def spawn(self):
        fd = self.listener.fileno()
        # sh puts the socket on fd 3 and exports its own pid, which exec
        # keeps, as LISTEN_PID: what systemd does between fork and exec.
        move = "" if fd == 3 else "exec 3<&%d %d<&-; " % (fd, fd)
        script = move + 'LISTEN_PID=$$ LISTEN_FDS=1 exec "$@"'
        log = open(self.log_path, "ab")
        try:
            return subprocess.Popen(["/bin/sh", "-c", script, "sh"] + self.exec_start,
                                    stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                    pass_fds=(fd,), env=CLEAN_ENV, cwd="/",
                                    user="nobody", group="nogroup", start_new_session=True)
        finally:
            log.close()

    def start(self):
        self.open_socket()
        super().start()

    def stop(self, timeout=10):
        ok = super().stop(timeout)
        self.close_socket()
        return ok


class RunitService(Service):
    """etc/spawn-fcgi/run under a supervisor: the script run again one second
    after it exits, whatever its status, as daemontools' supervise does
    (runit's runsv pauses only when the run lasted less than a second)."""

    def __init__(self, tree, rowdir, socket_path):
        service_dir = os.path.join(rowdir, "sv")  # as /etc/sv/mxdelegate for runit
        os.makedirs(service_dir)
        os.chmod(service_dir, 0o755)
        self.script = write(os.path.join(service_dir, "run"), substitute("spawn-fcgi/run", {
            "SOCKET": socket_path, "MXDELEGATE": tree.bin,
            "CONFIG": os.path.join(rowdir, "mxdelegate.toml")}), 0o755)
        self.socket_path = socket_path
        super().__init__("spawn-fcgi run script", os.path.join(service_dir, "log"), 1.0,
                         lambda rc: True)

    def spawn(self):
        log = open(self.log_path, "ab")
        try:
            return subprocess.Popen([self.script], stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=log, env=CLEAN_ENV, cwd=os.path.dirname(self.script),
                                    start_new_session=True)
        finally:
            log.close()


def parse_unit(text):
    """A systemd unit file as {section: {key: value}}; the last assignment
    of a key wins, as it does for the keys read here."""
    units, section = {}, None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = units.setdefault(line[1:-1], {})
            continue
        key, sep, value = line.partition("=")
        if not sep or section is None:
            raise StartError("unit file: cannot read %r" % raw)
        section[key.strip()] = value.strip()
    return units


def parse_seconds(value):
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(ms|s|min)?", value)
    if not m:
        raise StartError("cannot read the time span %r" % value)
    n = float(m.group(1))
    return {"ms": n / 1000, "s": n, None: n, "min": n * 60}[m.group(2)]


# --- server rows -------------------------------------------------------------

class Row:
    """One line of the issue's table: a web server started from its shipped
    file, and the way mxdelegate runs under it."""

    name = ""
    cgi = False            # True: a process per request, nothing to restart
    restarted_by = ""      # who brings the responder back after SIGKILL
    socket_persists = False  # True: requests wait in the backlog meanwhile
    keeps_alive = False    # True: the shipped file keeps FastCGI connections open
    routes_metrics = False  # True: the shipped file routes /metrics to mxdelegate

    def __init__(self, tree):
        self.tree = tree
        self.dir = tree.row_dir(self.name)
        self.port = free_port()
        self.config = write(os.path.join(self.dir, "mxdelegate.toml"), tree.config_text())
        self.errorlog = os.path.join(self.dir, "error.log")
        self.server = None
        self.service = None
        self.logs = [self.errorlog]

    # The responder processes of this row: our binary, with this row's
    # configuration on its command line.
    def responder_pids(self):
        out = []
        for pid, _, state, argv in processes():
            if state != "Z" and argv and argv[0] == self.tree.bin and self.config in argv:
                out.append(pid)
        return out

    def fastcgi_socket_prefix(self):
        return None

    # The status the web server answers with, itself, while the responder
    # is down (its socket gone or refusing), and how to get it there: by
    # stopping the supervisor that runs it (systemctl stop, sv down), or,
    # where the server starts the responder itself, by a configuration
    # that makes every new responder exit at once (EX_CONFIG) after the
    # running ones are killed.
    down_status = None

    def take_responder_down(self):
        if self.service is not None:
            self.service.stop()
            return
        with open(self.config) as f:
            self.saved_config = f.read()
        write(self.config, "this is not TOML\n")
        for pid in self.responder_pids():
            os.kill(pid, signal.SIGKILL)

    def bring_responder_back(self):
        if self.service is not None:
            self.service.start()
            return
        write(self.config, self.saved_config)

    def server_argv(self):
        raise NotImplementedError

    def server_env(self):
        return CLEAN_ENV

    def start(self):
        if self.service:
            self.service.start()
        out = open(os.path.join(self.dir, "server.out"), "ab")
        self.logs.append(out.name)
        try:
            self.server = subprocess.Popen(self.server_argv(), stdin=subprocess.DEVNULL,
                                           stdout=out, stderr=out, env=self.server_env(),
                                           cwd=self.dir, start_new_session=True)
        finally:
            out.close()
        if not wait_for(lambda: accepts(self.port) or self.server.poll() is not None, 15):
            raise StartError("%s: nothing accepts on port %d after 15 s\n%s" %
                             (self.name, self.port, self.log_tails()))
        if self.server.poll() is not None:
            raise StartError("%s: the server exited %s at start\n%s" %
                             (self.name, self.server.returncode, self.log_tails()))

    def stop(self):
        """Stops the server by its pid, then the supervisor; returns a list
        of problems (a server that did not stop, processes left behind)."""
        problems = []
        if self.server is not None:
            pgid = self.server.pid
            if self.server.poll() is None:
                self.server.send_signal(signal.SIGTERM)
                try:
                    self.server.wait(15)
                except subprocess.TimeoutExpired:
                    self.server.kill()
                    self.server.wait()
                    problems.append("the server did not stop within 15 s of SIGTERM")
            if not wait_for(lambda: not group_alive(pgid), 10, 0.05):
                left = group_alive(pgid)
                for pid in left:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
                problems.append("the server left processes behind: %s" % left)
        if self.service is not None:
            if not self.service.stop():
                problems.append("%s did not stop within 10 s of SIGTERM" % self.service.name)
        left = self.responder_pids()
        if left:
            for pid in left:
                os.kill(pid, signal.SIGKILL)
            problems.append("responder processes left behind: %s" % left)
        return problems

    def log_tails(self):
        out = []
        for path in self.logs:
            t = tail(path)
            if t:
                out.append("--- %s\n%s" % (os.path.relpath(path, self.tree.root), t))
        return "\n".join(out)


def owned_by_www_data(row):
    """Started as root, lighttpd becomes www-data (server.username) before
    it opens its error log and its sockets: the row's directory is its own,
    as Debian's package makes /var/log/lighttpd and /run/lighttpd."""
    os.chown(row.dir, *user_ids("www-data", "www-data"))


class LighttpdFastCGI(Row):
    name = "lighttpd-fastcgi"
    # 503 when no responder takes the connection; 500 when lighttpd's
    # respawned one is handed the request before it exits 78 on the broken
    # configuration (the kernel accepted it into the socket's backlog): which
    # comes first is a race of lighttpd's, and both are its own answer.
    down_status = (503, 500)
    restarted_by = "lighttpd (mod_fastcgi bin-path), at the next request"

    def __init__(self, tree):
        super().__init__(tree)
        owned_by_www_data(self)
        self.socket = os.path.join(self.dir, "mx.sock")
        self.conf = write(os.path.join(self.dir, "lighttpd.conf"),
                          substitute("lighttpd/mxdelegate.conf", {
                              "PORT": self.port, "DOCROOT": tree.docroot,
                              "ERRORLOG": self.errorlog, "SOCKET": self.socket,
                              "MXDELEGATE": tree.bin, "CONFIG": self.config,
                              "ERROR_JSON": tree.error_json}))

    def fastcgi_socket_prefix(self):
        return self.socket  # lighttpd adds "-0" for its first process

    def server_argv(self):
        return ["lighttpd", "-D", "-f", self.conf]


class LighttpdCGI(Row):
    name = "lighttpd-cgi"
    cgi = True

    def __init__(self, tree):
        super().__init__(tree)
        owned_by_www_data(self)
        self.conf = write(os.path.join(self.dir, "lighttpd.conf"),
                          substitute("lighttpd/mxdelegate-cgi.conf", {
                              "PORT": self.port, "DOCROOT": tree.docroot,
                              "ERRORLOG": self.errorlog, "MXDELEGATE": cgi_wrapper(self)}))

    def server_argv(self):
        return ["lighttpd", "-D", "-f", self.conf]


def cgi_wrapper(row):
    """CGI passes no arguments: the "script that runs mxdelegate -c FILE"
    that the CGI files' comments describe."""
    return write(os.path.join(row.dir, "mxdelegate.cgi"),
                 "#!/bin/sh\nexec %s -c %s\n" % (shlex.quote(row.tree.bin), shlex.quote(row.config)),
                 0o755)


class Apache(Row):
    template = ""
    defines = ()

    def __init__(self, tree):
        super().__init__(tree)
        self.rundir = os.path.join(self.dir, "run")
        os.makedirs(self.rundir)
        os.chmod(self.rundir, 0o755)
        v = {"PORT": self.port, "DOCROOT": tree.docroot, "ERRORLOG": self.errorlog,
             "RUNDIR": self.rundir}
        v.update(self.values())
        self.conf = write(os.path.join(self.dir, "apache2.conf"), substitute(self.template, v))

    def values(self):
        return {}

    def server_argv(self):
        return ["apache2", "-f", self.conf, "-DFOREGROUND"] + ["-D" + d for d in self.defines]


class ApacheFcgid(Apache):
    name = "apache-fcgid"
    down_status = 500  # "End of script output before headers"
    template = "apache2/mxdelegate-fcgid.conf"
    restarted_by = "mod_fcgid's process manager, at the next request"

    def __init__(self, tree):
        super().__init__(tree)
        # As Debian's package ships /var/lib/apache2/fcgid: mod_fcgid makes
        # its IPC directory (fcgid/sock) for Apache's user, but a parent it
        # makes on the way is root's and 0700, which that user cannot pass.
        fcgid = os.path.join(self.rundir, "fcgid")
        os.makedirs(fcgid)
        os.chmod(fcgid, 0o755)

    def values(self):
        return {"MXDELEGATE": self.tree.bin, "CONFIG": self.config}

    def fastcgi_socket_prefix(self):
        return os.path.join(self.rundir, "fcgid", "sock") + "/"


class ApacheProxyFcgi(Apache):
    name = "apache-proxy-fcgi"
    down_status = 503
    template = "apache2/mxdelegate-proxy-fcgi.conf"
    routes_metrics = True
    restarted_by = "systemd (Restart=on-failure; played by the test)"
    socket_persists = True

    def values(self):
        self.socket = os.path.join(self.dir, "mx.sock")
        return {"SOCKET": self.socket}

    def __init__(self, tree):
        super().__init__(tree)
        self.service = SystemdUnits(tree, self.dir, self.socket)
        self.logs.append(self.service.log_path)

    def fastcgi_socket_prefix(self):
        return self.socket


class ApacheCGI(Apache):
    name = "apache-cgid"
    template = "apache2/mxdelegate-cgi.conf"
    cgi = True

    def values(self):
        return {"MXDELEGATE": cgi_wrapper(self)}


class ApacheCGIPrefork(ApacheCGI):
    name = "apache-cgi-prefork"
    defines = ("Prefork",)


class Nginx(Row):
    socket_dir = ""  # below the row's directory
    keeps_alive = True  # upstream keepalive, fastcgi_keep_conn on
    routes_metrics = True

    def __init__(self, tree):
        super().__init__(tree)
        self.rundir = os.path.join(self.dir, "run")
        os.makedirs(self.rundir)
        self.socket = os.path.join(self.dir, self.socket_dir, "mx.sock")
        self.conf = write(os.path.join(self.dir, "nginx.conf"), substitute("nginx/mxdelegate.conf", {
            "PORT": self.port, "DOCROOT": tree.docroot, "ERRORLOG": self.errorlog,
            "RUNDIR": self.rundir, "SOCKET": self.socket}))

    def fastcgi_socket_prefix(self):
        return self.socket

    def server_argv(self):
        # -e: the log for messages before the configuration is read, which
        # would otherwise go to /var/log/nginx.
        return ["nginx", "-c", self.conf, "-e", self.errorlog, "-g", "daemon off;"]


class NginxSpawnFcgi(Nginx):
    name = "nginx-spawn-fcgi"
    down_status = 502
    restarted_by = "daemontools or runit running etc/spawn-fcgi/run (played by the test, 1 s pause)"
    # As /run/mxdelegate after a boot (/run is a tmpfs): not there until the
    # run script makes it.
    socket_dir = "run-mxdelegate"

    def __init__(self, tree):
        super().__init__(tree)
        self.service = RunitService(tree, self.dir, self.socket)
        self.logs.append(self.service.log_path)

    def start(self):
        super().start()
        if not wait_for(lambda: os.path.exists(self.socket), 10):
            raise StartError("spawn-fcgi made no socket\n" + self.log_tails())
        st = os.stat(os.path.dirname(self.socket))
        if (st.st_uid, st.st_gid, st.st_mode & 0o7777) != (0, 0, 0o755):
            raise StartError("the run script made the socket's directory %d:%d %o, not root:root 0755"
                             % (st.st_uid, st.st_gid, st.st_mode & 0o7777))


class NginxSystemd(Nginx):
    name = "nginx-systemd"
    down_status = 502
    restarted_by = "systemd (Restart=on-failure; played by the test)"
    socket_persists = True

    def __init__(self, tree):
        super().__init__(tree)
        self.service = SystemdUnits(tree, self.dir, self.socket)
        self.logs.append(self.service.log_path)


class CaddySystemd(Row):
    name = "caddy-systemd"
    routes_metrics = True
    down_status = 502
    restarted_by = "systemd (Restart=on-failure; played by the test)"
    socket_persists = True

    def __init__(self, tree):
        super().__init__(tree)
        self.socket = os.path.join(self.dir, "mx.sock")
        self.conf = write(os.path.join(self.dir, "Caddyfile"), substitute("caddy/Caddyfile", {
            "PORT": self.port, "DOCROOT": tree.docroot, "SOCKET": self.socket}))
        self.home = os.path.join(self.dir, "home")
        os.makedirs(self.home)
        self.service = SystemdUnits(tree, self.dir, self.socket)
        self.logs.append(self.service.log_path)

    def fastcgi_socket_prefix(self):
        return self.socket

    def server_env(self):
        # Caddy keeps its state under $HOME and the XDG directories.
        env = dict(CLEAN_ENV, HOME=self.home, XDG_DATA_HOME=self.home, XDG_CONFIG_HOME=self.home)
        return env

    def server_argv(self):
        return ["caddy", "run", "--config", self.conf, "--adapter", "caddyfile"]


ROWS = [LighttpdFastCGI, LighttpdCGI, ApacheFcgid, ApacheProxyFcgi, ApacheCGI,
        ApacheCGIPrefork, NginxSpawnFcgi, NginxSystemd, CaddySystemd]
