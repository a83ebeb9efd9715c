"""The operator's path (issue 15): a store that cannot be opened kept out of
service by --check and by a reload, the answers of the same store kept
across a reload, [server] listen refused with its position, the group and
mode of a socket of our own, and every log line prefixed."""

import os
import signal
import stat
import subprocess

import harness
from harness import Test, Responder, wait_for
from test_faults import CLIENT, StoreBase, stale_ok
from test_sqlite import CTL


def prefixed(test, log):
    """Every line a message of its own, with the program's prefix."""
    for line in log.splitlines():
        test.true(line.startswith("mxdelegate: "), "unprefixed line %r in:\n%s" % (line, log))


def stopped(test, mx):
    log = mx.stderr()
    test.eq(mx.stop(), 0, log)


class StoreChecked(StoreBase):
    def typo(self):
        """The configuration with the store's path misspelt."""
        wrong = self.tmp.file("domain.db")
        with open(self.cfg) as f:
            text = f.read().replace(self.db, wrong)
        with open(self.cfg, "w") as f:
            f.write(text)
        return wrong

    def hup(self, logged):
        n = self.mx.stderr().count(logged)
        self.mx.proc.send_signal(signal.SIGHUP)
        self.true(wait_for(lambda: self.mx.stderr().count(logged) == n + 1, 5), self.mx.stderr())

    def test_check_fails_as_mxdelegatectl_check_does(self):
        wrong = self.typo()
        p = subprocess.run([harness.BIN, "--check", "-c", self.cfg], capture_output=True, text=True,
                           timeout=30)
        ctl = subprocess.run([CTL, "-c", self.cfg, "check"], capture_output=True, text=True, timeout=30)
        self.eq(p.returncode, 1, p.stderr)
        self.true(ctl.returncode != 0, ctl.stderr)
        said = ctl.stderr.strip().split("mxdelegatectl: check: ", 1)[1]
        self.eq(said, "sqlite: %s: No such file or directory" % wrong)
        self.contains(p.stderr, "mxdelegate: check: " + said + "\n")
        prefixed(self, p.stderr)

    def test_a_reload_to_a_store_that_cannot_be_opened_is_refused(self):
        self.start()
        wrong = self.typo()
        self.hup("reload (SIGHUP) refused")
        self.contains(self.mx.stderr(), "mxdelegate: main: error: reload (SIGHUP) refused, the previous "
                      "configuration stays in service: sqlite: %s: No such file or directory\n" % wrong)
        # The old store serves on, fresh answers and new hosts alike.
        r = self.mx.get(CLIENT, host="cached.example")
        self.eq((r.status, r.body, r.header("Cache-Control")),
                (self.good.status, self.good.body, self.good.header("Cache-Control")))
        self.eq(self.status("fresh.example"), 200)
        prefixed(self, self.mx.stderr())

    def test_a_reload_of_the_same_store_keeps_the_last_good_answers(self):
        self.start()
        self.hup("configuration reloaded (SIGHUP)")
        # The store goes away after the reload: the host answered before it
        # gets its last good answer, stale, not a 503.
        os.unlink(self.db)
        self.broken_meanwhile()


class Listen(Test):
    def check(self, listen):
        cfg = harness.example_config(self.tmp, '\n[server]\nlisten = "%s"\n' % listen)
        line = len(open(cfg).read().splitlines())
        p = subprocess.run([harness.BIN, "--check", "-c", cfg], capture_output=True, text=True, timeout=30)
        return p.returncode, p.stderr, "%s:%d:10: " % (cfg, line)

    def test_a_listen_that_cannot_be_bound_fails_the_check_with_its_position(self):
        for listen, why in [("127.0.0.1:99999", "port must be a number from 1 to 65535"),
                            ("::1:9000", "write an IPv6 address in brackets: [::1]:port"),
                            ("9000", "expected unix:/path, 127.0.0.1:port (this machine only) "
                                     "or *:port (every interface)")]:
            rc, err, where = self.check(listen)
            self.eq(rc, 1, err)
            self.eq(err, 'mxdelegate: check: %slisten: "%s": %s\n' % (where, listen, why))
        # The example configuration carries a key that draws a warning
        # (rtc-foci); a listen that can be bound adds no line of its own.
        rc, err, _ = self.check("127.0.0.1:9000")
        self.eq((rc, [l for l in err.splitlines() if not l.startswith("mxdelegate: check: warning: ")]),
                (0, []))


class SocketAccess(Test):
    def group(self):
        """A group this process may give a file to, other than its own."""
        if os.geteuid() == 0:
            return "nogroup", 65534
        for gid in os.getgroups():
            if gid != os.getegid():
                return str(gid), gid
        return None, None

    def test_socket_group_and_mode(self):
        name, gid = self.group()
        if name is None:
            print("     no second group to give the socket to: skipped")
            return
        cfg = harness.example_config(self.tmp, '\n[server]\nsocket_group = "%s"\nsocket_mode = "0666"\n'
                                     % name)
        mx = Responder(cfg, self.tmp)
        try:
            st = os.stat(mx.socket)
            self.eq((st.st_gid, stat.S_IMODE(st.st_mode)), (gid, 0o666))
            self.eq(mx.get().status, 200)
        finally:
            stopped(self, mx)
        # Without them: the process's group, 0660.
        mx = Responder(harness.example_config(self.tmp), self.tmp)
        try:
            st = os.stat(mx.socket)
            self.eq((st.st_gid, stat.S_IMODE(st.st_mode)), (os.getegid(), 0o660))
        finally:
            stopped(self, mx)

    def test_a_group_that_does_not_exist_stops_the_start(self):
        cfg = harness.example_config(self.tmp, '\n[server]\nsocket_group = "no-such-group-mxd"\n')
        sock = self.tmp.file("mx.sock")
        p = subprocess.run([harness.BIN, "-c", cfg, "--listen", "unix:" + sock], capture_output=True,
                           text=True, timeout=30)
        self.eq(p.returncode, 69, p.stderr)
        # The store is opened (and the TOML one preloaded) before the socket.
        self.eq(harness.PRELOADED.sub("", p.stderr),
                'mxdelegate: main: error: unix:%s: socket_group "no-such-group-mxd": '
                'no such group\n' % sock)
        self.true(not os.path.exists(sock))


class LogLines(Test):
    def test_a_refused_reload_logs_each_problem_on_a_prefixed_line(self):
        cfg = harness.example_config(self.tmp)
        mx = Responder(cfg, self.tmp)
        try:
            with open(cfg, "a") as f:
                f.write('\n[server]\nthreads = 0\ncheck_interval = -1\n')
            harness.touch_later(cfg)
            self.true(wait_for(lambda: mx.stderr().count("refused") == 2, 5), mx.stderr())
            lines = [l for l in mx.stderr().splitlines() if "refused" in l]
            head = "mxdelegate: main: error: reload (file changed) refused, the previous configuration " \
                   "stays in service: %s:" % cfg
            for l, what in zip(lines, ["threads: must be between 1 and 1024",
                                       "check_interval: must be a number of seconds"]):
                self.true(l.startswith(head) and what in l, l)
            prefixed(self, mx.stderr())
            self.eq(mx.get().status, 200)
        finally:
            stopped(self, mx)


class BuildPaths(Test):
    """The paths a build was made for, remembered for make install (which
    packaging tools run with DESTDIR alone), and make -n changing nothing."""

    def make(self, inst, *args):
        return subprocess.run(["make", "-C", harness.REPO, "--no-print-directory", *args,
                               "BUILDDIR=" + inst.build, "SANITIZE=", "WERROR=" + inst.werror],
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=1200)

    def state(self, inst):
        out = {}
        for name in ("config.mk", ".flags", ".paths"):
            p = os.path.join(inst.build, name)
            with open(p, "rb") as f:
                out[name] = (f.read(), os.stat(p).st_mtime_ns)
        return out

    def test_install_with_destdir_alone_installs_what_was_built(self):
        inst = harness.Installed.shared()
        before = self.state(inst)
        # Another PREFIX under make -n: said, shown, and nothing changed.
        p = self.make(inst, "-n", "all", "install", "PREFIX=/nowhere", "DESTDIR=" + self.tmp.file("n"))
        self.eq(p.returncode, 0, p.stderr)
        self.contains(p.stdout, "config.mk remembers PREFIX=%s; given PREFIX=/nowhere" % inst.prefix)
        self.eq(self.state(inst), before)
        # DESTDIR alone: the remembered paths, nothing compiled.
        dest = self.tmp.file("dest")
        p = self.make(inst, "-n", "install", "DESTDIR=" + dest)
        self.eq(p.returncode, 0, p.stderr)
        self.true(" -c -o " not in p.stdout, p.stdout[:3000])
        self.contains(p.stdout, "install -m 755 %s/mxdelegate %s%s/sbin/mxdelegate" % (inst.build, dest, inst.prefix))
        p = self.make(inst, "-s", "install", "DESTDIR=" + dest)
        self.eq((p.returncode, p.stderr), (0, ""))
        self.eq(self.state(inst), before)
        with open(dest + inst.prefix + "/sbin/mxdelegate", "rb") as f:
            binary = f.read()
        self.true((inst.plugindir + "\0").encode() in binary, "PLUGINDIR not compiled in")
        self.true((inst.prefix + "/etc/mxdelegate/mxdelegate.toml\0").encode() in binary, "SYSCONFDIR not compiled in")
        self.true(os.path.exists(dest + inst.plugindir + "/sqlite.so"))
        # mxdelegatectl finds mxdelegate-follow in LIBEXECDIR, compiled in.
        self.true(os.path.exists(dest + inst.prefix + "/libexec/mxdelegate-follow"))

    def test_a_make_that_builds_through_another_leaves_the_stamps(self):
        # make check, bench and fuzz run a make of their own with other
        # flags (-Werror); the outer one, which compiles nothing, must not
        # write its flags into the stamp, or each would rebuild the tree.
        # deps is the cheapest of them: the packages are there already.
        inst = harness.Installed.shared()
        before = self.state(inst)
        other = "" if inst.werror else "-Werror"
        p = subprocess.run(["make", "-C", harness.REPO, "--no-print-directory", "-s", "deps",
                            "BUILDDIR=" + inst.build, "SANITIZE=", "WERROR=" + other],
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=600)
        self.eq(p.returncode, 0, p.stderr)
        self.eq(self.state(inst), before)
