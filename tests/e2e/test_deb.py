"""The Debian packages of debian/, on this machine: built from a clean clone
of the repository (its committed HEAD: untracked and uncommitted files do not
leak in), lintian without error or warning, installed with apt-get, the store
made with mxdelegatectl, the service run as its unit runs it (systemctl where
systemd is PID 1, its ExecStart by hand otherwise, with the socket of
mxdelegate.socket), a domain served through lighttpd with the snippet the
package ships, an upgrade from the previous version keeping the store and a
changed conffile, and apt-get purge leaving nothing of the package behind.

The upgrade's "previous version" is the same tree with the changelog's
version lowered (VERSION~previous), built first; the real version is then
built in the same tree without cleaning (dpkg-buildpackage -nc), so only
src/core/version.cpp is compiled again and the programs relinked: one
full build, not two.  Needs root (apt-get, the mxdelegate user); refuses to
run where an mxdelegate package is installed already, since it purges
them.  Skipped under SANITIZE=1: the packages are the plain build."""

import grp
import json
import os
import pwd
import re
import socket
import stat
import subprocess
import time
import urllib.request

import fcgi
from harness import REPO, Skip, Test, free_port, wait_for

PACKAGES = ["mxdelegate", "mxdelegate-postgres", "mxdelegate-dev"]
APT = ["apt-get", "-y", "-q", "--no-install-recommends", "-o", "DPkg::Lock::Timeout=300"]
# Where the package puts things, and where a leftover would be: every path
# below these whose name has "mxdelegate" in it is compared before and after.
TREES = ["/etc", "/usr", "/lib/systemd", "/var/lib", "/var/cache/apt/archives", "/run"]
DOMAIN = "example.org"


def run(argv, timeout=900, check=True, **kw):
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise AssertionError("%s exited %d:\n%s\n%s" % (" ".join(argv), p.returncode,
                                                       p.stdout.decode(errors="replace")[-4000:],
                                                       p.stderr.decode(errors="replace")[-4000:]))
    return p


def installed(pkg):
    p = run(["dpkg-query", "-W", "-f=${Status}", pkg], check=False)
    return p.returncode == 0 and p.stdout.decode().split()[-1:] != ["not-installed"]


def ours(trees=TREES):
    """Every path under TREES with mxdelegate in its name."""
    found = set()
    for top in trees:
        for root, dirs, files in os.walk(top):
            if root.startswith("/proc") or "/.git" in root:
                continue
            for name in dirs + files:
                if "mxdelegate" in name:
                    found.add(os.path.join(root, name))
    return found


def accounts():
    return ({p.pw_name for p in pwd.getpwall()}, {g.gr_name for g in grp.getgrall()})


def unit_keys(path):
    keys = {}
    with open(path) as f:
        for line in f:
            m = re.match(r"^([A-Za-z]+)=(.*)$", line.strip())
            if m:
                keys[m.group(1)] = m.group(2)
    return keys


def first_version(changelog):
    with open(changelog) as f:
        return re.match(r"^mxdelegate \(([^)]+)\)", f.readline()).group(1)


class DebPackages(Test):
    def setup(self):
        # Before any Skip: the harness runs teardown after a skipped setup.
        self.procs = []
        self.started_units = False
        if os.environ.get("SANITIZE") == "1":
            raise Skip("the packages are the plain build, tested in the plain stage")
        if os.geteuid() != 0:
            raise Skip("installs packages and a system user: needs root")
        for pkg in PACKAGES:
            if installed(pkg):
                raise AssertionError("%s is installed on this machine; the test would purge it" % pkg)
        self.systemd = open("/proc/1/comm").read().strip() == "systemd"
        self.before_paths = ours()
        self.before_accounts = accounts()

    def teardown(self):
        # Whatever failed, the machine is left as it was: nothing running,
        # the packages purged.
        if self.started_units:
            run(["systemctl", "stop", "mxdelegate.socket", "mxdelegate.service"], check=False)
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        if any(installed(pkg) for pkg in PACKAGES):
            run(APT + ["purge"] + PACKAGES, check=False, env=self.apt_env())

    def apt_env(self):
        return dict(os.environ, DEBIAN_FRONTEND="noninteractive")

    def apt_install(self, debs):
        run(APT + ["install"] + debs, env=self.apt_env())

    def build(self, src, *args):
        jobs = os.cpu_count() or 1
        env = dict(os.environ, DEB_BUILD_OPTIONS="parallel=%d" % jobs)
        t0 = time.monotonic()
        run(["dpkg-buildpackage", "-us", "-uc", "-b", *args], cwd=src, env=env, timeout=1800)
        print("     dpkg-buildpackage %s: %.0fs" % (" ".join(args) or "(full)", time.monotonic() - t0), flush=True)

    def debs(self, version, where):
        names = ["%s_%s_%s.deb" % (p, version, "all" if p.endswith("-dev") else self.arch) for p in PACKAGES]
        for n in names:
            self.true(os.path.exists(os.path.join(where, n)), "%s was not built (in %s: %s)" %
                      (n, where, sorted(os.listdir(where))))
        return [os.path.join(where, n) for n in names]

    def check_versions(self, version):
        for prog in ["/usr/sbin/mxdelegate", "/usr/sbin/mxdelegatectl"]:
            out = run([prog, "--version"]).stdout.decode().split()
            self.eq(out[1], version, "(%s --version against the package's version)" % prog)
        pkg = run(["dpkg-query", "-W", "-f=${Version}", "mxdelegate"]).stdout.decode()
        self.eq(pkg, version)

    def test_build_install_serve_upgrade_purge(self):
        tmp = self.tmp.path
        os.chmod(tmp, 0o755)  # lighttpd's www-data reads its docroot below
        self.arch = run(["dpkg", "--print-architecture"]).stdout.decode().strip()
        src = os.path.join(tmp, "src")
        run(["git", "clone", "-q", REPO, src])
        changelog = os.path.join(src, "debian/changelog")
        version = first_version(changelog)
        previous = version + "~previous"

        # The previous version: the tree with the changelog's version lowered.
        with open(changelog) as f:
            text = f.read()
        with open(changelog, "w") as f:
            f.write(text.replace("mxdelegate (%s)" % version, "mxdelegate (%s)" % previous, 1))
        self.build(src)
        old_dir = os.path.join(tmp, "previous")
        os.mkdir(old_dir)
        for n in os.listdir(tmp):
            if previous in n:
                os.rename(os.path.join(tmp, n), os.path.join(old_dir, n))
        old_debs = self.debs(previous, old_dir)

        # The real version, in the same tree: only the version's file is
        # compiled again.
        run(["git", "checkout", "-q", "debian/changelog"], cwd=src)
        # debian/files lists what the build made, for dpkg-genchanges: the
        # previous version's packages are not the new build's.
        os.remove(os.path.join(src, "debian/files"))
        self.build(src, "-nc")
        new_debs = self.debs(version, tmp)
        dbgsym = [n for n in os.listdir(tmp) if n.endswith(".deb") and "-dbgsym_" in n]
        self.eq(sorted(dbgsym), sorted("%s-dbgsym_%s_%s.deb" % (p, version, self.arch) for p in PACKAGES[:2]))
        lint = run(["lintian", "--fail-on", "error,warning", os.path.join(tmp, "mxdelegate_%s_%s.changes" %
                                                                            (version, self.arch))], check=False)
        report = [l for l in lint.stdout.decode().splitlines() if l.strip()]
        print("     lintian: %s" % ("; ".join(report) or "nothing to report"), flush=True)
        self.eq(lint.returncode, 0, "lintian failed:\n" + lint.stdout.decode() + lint.stderr.decode())
        self.eq([l for l in report if re.match(r"^[EW]: ", l)], [])

        # The previous version installed, the store made and a domain added
        # as root, the conffile changed by the administrator.
        self.apt_install(old_debs)
        self.check_versions(previous)
        self.check_installed()
        run(["mxdelegatectl", "init"])
        run(["mxdelegatectl", "add", DOMAIN, "--server", "matrix.%s:443" % DOMAIN,
             "--client", "https://matrix.%s" % DOMAIN])
        conffile = "/etc/mxdelegate/mxdelegate.toml"
        with open(conffile, "a") as f:
            f.write("\n# changed by the administrator\n[http]\nmax_age = 1234\n")
        with open(conffile) as f:
            changed = f.read()

        # The upgrade: dpkg must keep the changed conffile without asking
        # (stdin is /dev/null: a question would fail it) and the store.
        self.apt_install(new_debs)
        self.check_versions(version)
        self.check_installed()
        with open(conffile) as f:
            self.eq(f.read(), changed, "(the changed conffile after the upgrade)")
        self.contains(run(["mxdelegatectl", "show", DOMAIN]).stdout.decode(), "matrix.%s:443" % DOMAIN)

        self.serve()

        # Purge: nothing of the package left, the accounts as they were.
        if self.started_units:
            run(["systemctl", "stop", "mxdelegate.socket", "mxdelegate.service"])
        for p in reversed(self.procs):
            p.terminate()
            p.wait(10)
        run(APT + ["purge"] + PACKAGES, env=self.apt_env())
        for pkg in PACKAGES:
            self.true(not installed(pkg), "%s still installed after purge" % pkg)
        self.eq(sorted(ours() - self.before_paths), [], "(left behind by purge)")
        self.eq(sorted(self.before_paths - ours()), [], "(removed by purge, though there before)")
        after_users, after_groups = accounts()
        self.eq(sorted(after_users ^ self.before_accounts[0]), [], "(users before and after)")
        self.eq(sorted(after_groups ^ self.before_accounts[1]), [], "(groups before and after)")

    def check_installed(self):
        """What the maintainer scripts must have made, and left alone."""
        user = pwd.getpwnam("mxdelegate")
        self.true(user.pw_uid < 1000, "mxdelegate is not a system user: uid %d" % user.pw_uid)
        self.eq(grp.getgrgid(user.pw_gid).gr_name, "mxdelegate")
        st = os.stat("/var/lib/mxdelegate")
        self.eq((st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)), (0, 0, 0o755), "(/var/lib/mxdelegate)")
        # The responder's user reads the store and cannot change it.
        as_user = ["setpriv", "--reuid=mxdelegate", "--regid=mxdelegate", "--clear-groups"]
        self.eq(run(as_user + ["test", "-w", "/var/lib/mxdelegate"], check=False).returncode, 1)
        self.true(os.path.isdir("/run/mxdelegate"), "/run/mxdelegate not made (tmpfiles.d)")
        conffiles = run(["dpkg-query", "-W", "-f=${Conffiles}", "mxdelegate"]).stdout.decode()
        self.contains(conffiles, "/etc/mxdelegate/mxdelegate.toml")
        self.contains(conffiles, "/etc/lighttpd/conf-available/50-mxdelegate.conf")
        for unit in ["mxdelegate.socket", "mxdelegate.service", "mxdelegate-follow.service"]:
            self.true(os.path.exists("/lib/systemd/system/" + unit), unit + " not installed")
        # Installed, not enabled: no link to them in any .wants directory.
        enabled = [p for p in ours(["/etc/systemd"]) if os.path.islink(p)]
        self.eq(enabled, [], "(units enabled by the package)")
        check = run(["mxdelegate", "-c", "/etc/mxdelegate/mxdelegate.toml", "--check"], check=False)
        if os.path.exists("/var/lib/mxdelegate/domains.db"):
            self.eq(check.returncode, 0, check.stderr.decode())

    def serve(self):
        service = unit_keys("/lib/systemd/system/mxdelegate.service")
        sock = unit_keys("/lib/systemd/system/mxdelegate.socket")
        path = sock["ListenStream"]
        if self.systemd:
            self.started_units = True
            run(["systemctl", "start", "mxdelegate.socket"])
        else:
            # As systemd would: the socket made and owned as the socket
            # unit says, handed over as fd 3 (LISTEN_FDS, LISTEN_PID) to
            # ExecStart run as the service's User.
            if os.path.exists(path):
                os.unlink(path)
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            listener.bind(path)
            os.chown(path, pwd.getpwnam(sock["SocketUser"]).pw_uid, grp.getgrnam(sock["SocketGroup"]).gr_gid)
            os.chmod(path, int(sock["SocketMode"], 8))
            listener.listen(128)
            user = pwd.getpwnam(service["User"])
            fd = listener.fileno()

            def as_unit():
                os.dup2(fd, 3)
                os.setgroups([])
                os.setgid(user.pw_gid)
                os.setuid(user.pw_uid)

            env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LISTEN_FDS": "1"}
            self.errlog = open(os.path.join(self.tmp.path, "mxdelegate.err"), "wb")
            self.procs.append(subprocess.Popen(
                ["sh", "-c", 'LISTEN_PID=$$ exec ' + service["ExecStart"]], env=env, preexec_fn=as_unit,
                pass_fds=(fd,), stdin=subprocess.DEVNULL, stdout=self.errlog, stderr=self.errlog))
            listener.close()
        # The responder itself, through the socket.
        r = fcgi.request(path, fcgi.cgi_params("GET", "/.well-known/matrix/server", DOMAIN))
        self.eq(r.status, 200, r.body)

        # lighttpd on a loopback port: the server's own lines, then the
        # package's snippet as it is installed.
        port = free_port()
        docroot = os.path.join(self.tmp.path, "www")
        os.mkdir(docroot)
        # lighttpd opens its error log after it has become www-data.
        www = pwd.getpwnam("www-data")
        with open(self.tmp.file("lighttpd.err"), "w"):
            pass
        os.chown(self.tmp.file("lighttpd.err"), www.pw_uid, www.pw_gid)
        conf = self.tmp.write("lighttpd.conf", "\n".join([
            'server.port = %d' % port,
            'server.bind = "127.0.0.1"',
            'server.document-root = "%s"' % docroot,
            'server.errorlog = "%s"' % self.tmp.file("lighttpd.err"),
            'server.pid-file = "%s"' % self.tmp.file("lighttpd.pid"),
            'server.username = "www-data"',
            'server.groupname = "www-data"',
            'include "/etc/lighttpd/conf-available/50-mxdelegate.conf"', ""]))
        run(["lighttpd", "-tt", "-f", conf])
        self.procs.append(subprocess.Popen(["lighttpd", "-D", "-f", conf], stdin=subprocess.DEVNULL))

        def get(doc, host=DOMAIN):
            req = urllib.request.Request("http://127.0.0.1:%d/.well-known/matrix/%s" % (port, doc),
                                         headers={"Host": host})
            try:
                with urllib.request.urlopen(req, timeout=10) as resp:
                    return resp.status, dict(resp.headers), resp.read().decode()
            except urllib.error.HTTPError as e:
                return e.code, dict(e.headers), e.read().decode()
            except OSError:
                return None, {}, ""

        self.true(wait_for(lambda: get("client")[0] is not None, 10), "lighttpd does not answer")
        status, headers, body = get("client")
        self.eq(status, 200, body)
        self.eq(json.loads(body)["m.homeserver"], {"base_url": "https://matrix.%s" % DOMAIN})
        # max_age from the conffile as the administrator changed it.
        self.eq(headers.get("Cache-Control"), "public, max-age=1234")
        self.eq(headers.get("Access-Control-Allow-Origin"), "*")
        status, headers, body = get("server", "unknown.example")
        self.eq(status, 404, body)
        self.eq(headers.get("Content-Type"), "application/json")
