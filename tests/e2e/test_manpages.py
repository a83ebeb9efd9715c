"""The manual pages' examples, run as they are written, so that a page
cannot drift from the code or from the shipped files.

A comment line `.\\" test: KIND ARGS` just before a `.Bd -literal` display
says what the display is (the pages' first lines list the kinds):

  etc FILE part[N]|whole [PATH]
                              the shipped etc/FILE, comments left out, with
                              values for its @PLACEHOLDERS@; with PATH, also
                              written there for the steps that follow.
                              part is the part below the file's first
                              "--- mxdelegate" line, partN below its Nth
                              (nginx's upstream goes in the http block, its
                              locations in a server block)
  config NAME [away]          a configuration: written, then --check passes;
                              with away (a PostgreSQL server that is not
                              there), the store is its one problem
  file NAME                   a file the steps that follow read
  session [NAME] [exit=N]     "$ " and "# " lines are commands, the other
                              lines their exact output (stdout and stderr);
                              every command exits 0, the last N if given.
                              A named session is run by its own test
  sh [ARGS]                   a script, run with ARGS, that exits 0

The examples run against the installed programs (make install to a
temporary PREFIX, harness.Installed), in a sandbox: the absolute paths of a
page (/etc, /var, /run, /srv) are put under a directory of the test, and the
installation's own (/usr/sbin, /usr/lib/mxdelegate/backends) are the
temporary PREFIX's.  `mxdelegate` and `mxdelegatectl` on the PATH of the
steps are the installed ones, reading the sandbox's
/etc/mxdelegate/mxdelegate.toml when no -c is given, as an installed
SYSCONFDIR=/etc build would."""

import difflib
import grp
import os
import pwd
import re
import shlex
import signal
import socket
import subprocess

import fcgi
from harness import BIN, REPO, Installed, Test, free_port, wait_for

MAN = os.path.join(REPO, "man")
ETC = os.path.join(REPO, "etc")
PAGES = ["mxdelegate.8", "mxdelegate.toml.5", "mxdelegatectl.8", "mxdelegate-backend.7"]
KINDS = {"etc", "config", "file", "session", "sh"}


class Block:
    def __init__(self, page, line, section, subsection, mark):
        self.page, self.line = page, line
        self.section, self.subsection = section, subsection
        self.kind = mark[0] if mark else None
        self.args = mark[1:] if mark else []
        self.lines = []

    def where(self):
        return "%s:%d" % (self.page, self.line)

    def text(self):
        return "\n".join(self.lines) + "\n"


ESCAPES = {"e": "\\", "&": "", "-": "-", "(aq": "'", "(dq": '"', "(ga": "`"}


def decode(line, where):
    """The text a literal display shows for one line of mdoc."""
    if line.startswith((".", "'")):
        raise AssertionError("%s: a request inside a literal display: %r" % (where, line))
    out, i = [], 0
    while i < len(line):
        c = line[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        for esc, value in ESCAPES.items():
            if line.startswith(esc, i + 1):
                out.append(value)
                i += 1 + len(esc)
                break
        else:
            raise AssertionError("%s: escape the test does not know in %r" % (where, line))
    return "".join(out)


def read_page(page):
    """Every literal display of a page, with its test line if it has one."""
    path = os.path.join(MAN, page)
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    blocks, section, subsection, mark, block = [], "", "", None, None
    for n, line in enumerate(lines, 1):
        if block is not None:
            if line.startswith(".Ed"):
                blocks.append(block)
                block = None
            else:
                block.lines.append(decode(line, "%s:%d" % (page, n)))
            continue
        m = re.match(r'^\.\\" test: (.*)$', line)
        if m:
            mark = shlex.split(m.group(1))
            if not mark or mark[0] not in KINDS:
                raise AssertionError("%s:%d: unknown test line %r" % (page, n, line))
            continue
        if line.startswith(".Bd") and "-literal" in line.split():
            block = Block(page, n, section, subsection, mark)
            mark = None
            continue
        if mark is not None:
            raise AssertionError("%s:%d: a test line not followed by .Bd -literal" % (page, n))
        if line.startswith(".Sh "):
            section, subsection = line[4:].strip('" '), ""
        elif line.startswith(".Ss "):
            subsection = line[4:].strip('" ')
    return blocks


def examples(page):
    return [b for b in read_page(page) if b.section == "EXAMPLES"]


# --- the shipped files --------------------------------------------------------

START = re.compile(r"^(\s*)# --- mxdelegate -+$")
END = re.compile(r"^\s*# --- end of mxdelegate -+$")


def indent(line):
    return len(line) - len(line.lstrip())


def shipped_part(lines, name, nth=1):
    """What lies below the nth "--- mxdelegate" line: up to an "--- end of
    mxdelegate" line, a line indented less than the marker, or the end."""
    starts = [i for i, line in enumerate(lines) if START.match(line)]
    if len(starts) < nth:
        raise AssertionError("etc/%s has %d \"# --- mxdelegate ---\" lines, not %d"
                             % (name, len(starts), nth))
    i = starts[nth - 1]
    depth, out = indent(lines[i]), []
    for line in lines[i + 1:]:
        if END.match(line) or (line.strip() and indent(line) < depth):
            break
        out.append(line)
    return out


def significant(lines):
    """Lines without comments and blank lines, with their common indentation
    removed: what a configuration means, whatever the page's layout."""
    out = [line.rstrip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    common = None
    for line in out:
        lead = line[:indent(line)]
        if common is None:
            common = lead
        while not lead.startswith(common):
            common = common[:-1]
    return [line[len(common or ""):] for line in out]


def match_shipped(block):
    """The values a page put in for the file's placeholders; fails with a
    diff when the display is not the shipped text."""
    part = re.fullmatch(r"part([1-9]?)", block.args[1]) if len(block.args) >= 2 else None
    if len(block.args) < 2 or not (part or block.args[1] == "whole"):
        raise AssertionError("%s: test: etc FILE part[N]|whole [PATH]" % block.where())
    name = block.args[0]
    with open(os.path.join(ETC, name)) as f:
        lines = f.read().split("\n")
    want = significant(shipped_part(lines, name, int(part.group(1) or 1)) if part else lines)
    got = significant(block.lines)
    pattern, seen, pos = [], set(), 0
    text = "\n".join(want)
    for m in re.finditer(r"@([A-Z_]+)@", text):
        pattern.append(re.escape(text[pos:m.start()]))
        key = m.group(1)
        pattern.append("(?P=%s)" % key if key in seen else "(?P<%s>[^\\s\"';|]+)" % key)
        seen.add(key)
        pos = m.end()
    pattern.append(re.escape(text[pos:]))
    m = re.fullmatch("".join(pattern), "\n".join(got))
    if not m:
        # The diff shows the shipped lines with the page's usual values in,
        # so that only the lines that really differ stand out.
        usual = {"MXDELEGATE": "/usr/sbin/mxdelegate", "CONFIG": "/etc/mxdelegate/mxdelegate.toml",
                 "SOCKET": "/run/mxdelegate/mxdelegate.sock", "RUNDIR": "/var/lib/apache2"}
        shown = [re.sub(r"@([A-Z_]+)@", lambda k: usual.get(k.group(1), k.group(0)), line) for line in want]
        diff = "\n".join(difflib.unified_diff(shown, got, "etc/" + name, block.where(), lineterm=""))
        raise AssertionError("%s: not the shipped etc/%s (%s):\n%s" %
                             (block.where(), name, block.args[1], diff))
    return m.groupdict()


# --- the sandbox the examples run in ----------------------------------------

def chmod_path(path):
    """Lets other users (a web server's) reach path: every directory on the
    way up to /tmp readable and searchable."""
    while path not in ("/", "/tmp"):
        if os.path.isdir(path):
            os.chmod(path, os.stat(path).st_mode | 0o755)
        path = os.path.dirname(path)


class Sandbox:
    """A root for the absolute paths of the pages, a working directory, and
    the installed programs on the PATH."""

    def __init__(self, tmp, inst, extra=()):
        self.inst = inst
        self.root = tmp.file("root")
        self.work = tmp.file("work")
        self.bin = tmp.file("bin")
        for d in (self.root, self.work, self.bin):
            os.makedirs(d)
        self.default_config = self.path("/etc/mxdelegate/mxdelegate.toml")
        self.map = [("/usr/sbin/", inst.sbin + "/"),
                    ("/usr/lib/mxdelegate/backends", inst.plugindir), *extra]
        for name in ("mxdelegate", "mxdelegatectl"):
            self.wrapper(name)

    def path(self, page_path):
        return self.root + page_path if page_path.startswith("/") else os.path.join(self.work, page_path)

    def subst(self, text):
        """A page's text with its absolute paths put into the sandbox."""
        for a, b in self.map:
            text = text.replace(a, b)
        return re.sub(r"(?<![\w./~-])/(etc|var|run|srv)/", lambda m: self.root + m.group(0), text)

    def wrapper(self, name):
        # The default configuration, as SYSCONFDIR=/etc would have it: -c
        # is added unless one of -c, --config, --db comes before the command.
        script = """#!/bin/sh
for a in "$@"; do
	case $a in
	-c|--config|--config=*|--db|--db=*) exec %(real)s "$@" ;;
	-*) ;;
	*) break ;;
	esac
done
exec %(real)s -c %(config)s "$@"
""" % {"real": shlex.quote(os.path.join(self.inst.sbin, name)),
       "config": shlex.quote(self.default_config)}
        path = os.path.join(self.bin, name)
        with open(path, "w") as f:
            f.write(script)
        os.chmod(path, 0o755)

    def env(self):
        return {"PATH": self.bin + ":/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "HOME": self.work, "LANG": "C.UTF-8",
                "PKG_CONFIG_PATH": self.inst.pkgconfig}

    def write(self, page_path, text):
        path = self.path(page_path)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(self.subst(text))
        return path

    def shell(self, command, timeout=60):
        return subprocess.run(["/bin/sh", "-c", self.subst(command)], cwd=self.work,
                              env=self.env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=timeout)


def session_commands(block):
    """(command, expected output lines) of a session display."""
    cmds, continuing = [], False
    for line in block.lines:
        if continuing:
            cmds[-1][0].append(line)
        elif line.startswith(("$ ", "# ")):
            cmds.append(([line[2:]], []))
        else:
            if not cmds:
                raise AssertionError("%s: output before any command" % block.where())
            cmds[-1][1].append(line)
            continue
        continuing = line.endswith("\\")
    return [("\n".join(c), out) for c, out in cmds]


def run_session(test, box, block, handlers=()):
    status = 0
    for arg in block.args:
        if arg.startswith("exit="):
            status = int(arg[5:])
    cmds = session_commands(block)
    for i, (cmd, expected) in enumerate(cmds):
        handled = False
        for pattern, handler in handlers:
            m = re.fullmatch(pattern, cmd)
            if m:
                handler(m)
                handled = True
                break
        if handled:
            continue
        p = box.shell(cmd)
        got = p.stdout.decode("utf-8", "replace").replace("\r\n", "\n").split("\n")
        if got and got[-1] == "":
            got.pop()
        want = [box.subst(line) for line in expected]
        if got != want:
            raise AssertionError("%s: %s\n%s" % (block.where(), cmd, "\n".join(
                difflib.unified_diff(want, got, "the page", "the command", lineterm=""))))
        test.eq(p.returncode, status if i == len(cmds) - 1 else 0,
                "%s: exit status of %s" % (block.where(), cmd))


def check_config(test, box, block, path, away=False):
    p = subprocess.run([os.path.join(box.bin, "mxdelegate"), "-c", path, "--check"],
                       cwd=box.work, env=box.env(), capture_output=True, timeout=60)
    got = (p.returncode, p.stdout.decode(), p.stderr.decode())
    where = "%s: mxdelegate --check of %s" % (block.where(), path)
    if not away:
        test.eq(got, (0, "", ""), where)
        return
    # --check asks the store for a name: one that is not there is the one
    # problem, in the backend's words, and the file has none.
    test.eq(got[:2], (1, ""), where)
    lines = got[2].splitlines()
    test.true(lines and all(re.match(r"mxdelegate: check: \w+: ", l) and path not in l for l in lines),
              "%s: %s" % (where, got[2]))


def run_examples(test, box, blocks, named=None, handlers=()):
    """The displays of each subsection in order, after every file of the
    subsection is written.  A named session runs only when it is `named`,
    with `handlers` for the commands that the test plays itself."""
    groups = []
    for b in blocks:
        if b.kind is None:
            continue
        if not groups or groups[-1][0] != b.subsection:
            groups.append((b.subsection, []))
        groups[-1][1].append(b)
    ran = 0
    for _, group in groups:
        written = {}
        for b in group:
            if b.kind in ("file", "config"):
                if len(b.args) != 1 and b.args[1:] != ["away"]:
                    raise AssertionError("%s: test: %s NAME" % (b.where(), b.kind))
                written[id(b)] = box.write(b.args[0], b.text())
            elif b.kind == "etc" and len(b.args) == 3:
                written[id(b)] = box.write(b.args[2], b.text())
        for n, b in enumerate(group):
            if b.kind == "config":
                check_config(test, box, b, written[id(b)], away=b.args[1:] == ["away"])
            elif b.kind == "session":
                name = [a for a in b.args if not a.startswith("exit=")]
                if (name[0] if name else None) != named:
                    continue
                run_session(test, box, b, handlers)
            elif b.kind == "sh":
                script = os.path.join(box.work, "script-%d.sh" % b.line)
                with open(script, "w") as f:
                    f.write(box.subst(b.text()))
                p = subprocess.run(["/bin/sh", script, *b.args], cwd=box.work, env=box.env(),
                                   stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
                test.eq(p.returncode, 0, "%s: the script failed: %s" %
                        (b.where(), (p.stdout + p.stderr).decode(errors="replace")))
            else:
                continue
            ran += 1
    return ran


class Pages(Test):
    def test_every_example_carries_a_test_line(self):
        for page in PAGES:
            blocks = examples(page)
            self.true(blocks, "%s: no EXAMPLES" % page)
            for b in blocks:
                self.true(b.kind is not None, "%s: an example without a test line" % b.where())

    def test_server_examples_are_the_shipped_files(self):
        covered, values = set(), {}
        for b in examples("mxdelegate.8"):
            if b.kind != "etc":
                continue
            covered.add(b.args[0])
            for key, value in match_shipped(b).items():
                values.setdefault(key, set()).add(value)
        shipped = set()
        for d, _, fs in os.walk(ETC):
            shipped.update(os.path.relpath(os.path.join(d, f), ETC) for f in fs)
        # etc/mxdelegate.toml is checked by test_modes.Shipped.
        self.eq(sorted(covered), sorted(shipped - {"mxdelegate.toml"}),
                "every web server and supervisor file has its example in mxdelegate(8)")
        # One program and one configuration throughout the page.
        self.eq(values["MXDELEGATE"], {"/usr/sbin/mxdelegate"})
        self.eq(values["CONFIG"], {"/etc/mxdelegate/mxdelegate.toml"})

    def run_page(self, page):
        inst = Installed.shared()
        inst.install()
        try:
            box = Sandbox(self.tmp, inst)
            self.true(run_examples(self, box, examples(page)) > 0, page + ": nothing ran")
        finally:
            # What mxdelegate-backend(7) installs into the plugin directory.
            example = os.path.join(inst.plugindir, "example.so")
            if os.path.exists(example):
                os.unlink(example)
            inst.uninstall()

    def test_examples_of_mxdelegate_8(self):
        self.run_page("mxdelegate.8")

    def test_examples_of_mxdelegate_toml_5(self):
        self.run_page("mxdelegate.toml.5")

    def test_examples_of_mxdelegatectl_8(self):
        self.run_page("mxdelegatectl.8")

    def test_examples_of_mxdelegate_backend_7(self):
        self.run_page("mxdelegate-backend.7")

    def test_example_backend_builds_against_include(self):
        """The plugin of mxdelegate-backend(7), built strictly against the
        tree's header and loaded by the built responder."""
        src = [b for b in examples("mxdelegate-backend.7") if b.kind == "file" and b.args == ["example.c"]]
        self.eq(len(src), 1)
        plugins = self.tmp.file("plugins")
        os.makedirs(plugins)
        c = self.tmp.write("example.c", src[0].text())
        so = os.path.join(plugins, "example.so")
        p = subprocess.run(["cc", "-std=c99", "-Wall", "-Wextra", "-Wpedantic", "-Werror", "-shared",
                            "-fPIC", "-I" + os.path.join(REPO, "include"), "-o", so, c],
                           capture_output=True)
        self.eq((p.returncode, p.stderr.decode()), (0, ""))
        p = subprocess.run(["nm", "-D", "--defined-only", so], capture_output=True, text=True)
        exported = sorted(line.split()[-1] for line in p.stdout.splitlines() if line.strip())
        self.eq(exported, ["mxd_backend"])
        cfg = self.tmp.write("mxdelegate.toml", '[backend]\nname = "example"\nplugin_dir = "%s"\n' % plugins)
        p = subprocess.run([BIN, "-c", cfg, "--check"], capture_output=True)
        self.eq(p.returncode, 0, p.stderr)

        def get(host, doc):
            p = subprocess.run([BIN, "-c", cfg], env={"REQUEST_METHOD": "GET", "HTTP_HOST": host,
                                                      "REQUEST_URI": "/.well-known/matrix/" + doc},
                               stdin=subprocess.DEVNULL, capture_output=True)
            self.eq(p.returncode, 0)
            return fcgi.Response(p.stdout)
        self.eq(get("example.org", "server").json(), {"m.server": "matrix.example.org:443"})
        self.eq(get("chat.example.net", "client").json(),
                {"m.homeserver": {"base_url": "https://matrix.chat.example.net"}})
        self.eq(get("example.net", "client").status, 404)
        ctl = os.path.join(os.path.dirname(BIN), "mxdelegatectl")
        p = subprocess.run([ctl, "-c", cfg, "add", "example.com", "--server", "m.example.com"],
                           capture_output=True)
        self.eq(p.returncode, 69, p.stderr)
        self.contains(p.stderr.decode(), "read-only")


class LighttpdNewcomer(Test):
    """mxdelegate(8)'s lighttpd example followed step by step on Debian's
    own lighttpd.conf: the system's file with its paths put into the sandbox
    and its port changed, the page's files and commands as the page has
    them.  lighty-enable-mod and systemctl are played by the test: the
    link in conf-enabled, lighttpd started in the foreground."""

    def test_lighttpd_example_works_as_written(self):
        if os.geteuid() != 0:
            raise AssertionError("needs root, as Debian's lighttpd.conf drops to www-data")
        inst = Installed.shared()
        inst.install()
        os.chmod(self.tmp.path, 0o755)
        port = free_port()
        box = Sandbox(self.tmp, inst, extra=[("http://localhost/", "http://127.0.0.1:%d/" % port)])
        www = pwd.getpwnam("www-data").pw_uid, grp.getgrnam("www-data").gr_gid
        # What the lighttpd package makes: its directories, owned as Debian's
        # tmpfiles.d and postinst make them.
        for d, owner in [("/etc/lighttpd/conf-available", None), ("/etc/lighttpd/conf-enabled", None),
                         ("/var/www/html", None), ("/var/log/lighttpd", www), ("/run/lighttpd", www),
                         ("/var/cache/lighttpd/uploads", www)]:
            path = box.path(d)
            os.makedirs(path, exist_ok=True)
            if owner:
                os.chown(path, *owner)
                os.chmod(path, 0o750)
        with open("/etc/lighttpd/lighttpd.conf") as f:
            base = f.read()
        base, n = re.subn(r"(?m)^(server\.port\s*=\s*)80\s*$", r"\g<1>%d" % port, base)
        self.eq(n, 1, "Debian's lighttpd.conf sets server.port = 80")
        # Not a path or a port, but the test's own safety: listen on the
        # loopback address only, and not on every IPv6 one.
        base = re.sub(r"(?m)^include_shell \"/usr/share/lighttpd/use-ipv6\.pl.*$", "", base)
        base += '\nserver.bind = "127.0.0.1"\n'
        conf = box.write("/etc/lighttpd/lighttpd.conf", base)
        chmod_path(box.root)

        server = []

        def apt_install(m):
            for pkg in m.group(1).split():
                p = subprocess.run(["dpkg-query", "-W", "-f=${Status}", pkg], capture_output=True)
                self.eq(p.stdout, b"install ok installed", "package " + pkg)

        def enable(m):
            available = box.path("/etc/lighttpd/conf-available")
            names = [f for f in os.listdir(available)
                     if re.fullmatch(r"\d+-%s\.conf" % re.escape(m.group(1)), f)]
            self.eq(len(names), 1, "conf-available has NN-%s.conf" % m.group(1))
            os.symlink("../conf-available/" + names[0],
                       os.path.join(box.path("/etc/lighttpd/conf-enabled"), names[0]))

        def restart(m):
            p = subprocess.run(["lighttpd", "-tt", "-f", conf], capture_output=True)
            self.eq(p.returncode, 0, (p.stdout + p.stderr).decode())
            log = open(self.tmp.file("lighttpd.out"), "wb")
            server.append(subprocess.Popen(["lighttpd", "-D", "-f", conf], stdin=subprocess.DEVNULL,
                                           stdout=log, stderr=log, start_new_session=True))
            log.close()
            ok = wait_for(lambda: _accepts(port) or server[0].poll() is not None, 15)
            self.true(ok and server[0].poll() is None, "lighttpd did not start: " + self.logs(box))

        handlers = [(r"apt install (.+)", apt_install),
                    (r"lighty-enable-mod (\S+)", enable),
                    (r"systemctl restart lighttpd", restart)]
        lighttpd = [b for b in examples("mxdelegate.8") if b.subsection == "lighttpd"]
        try:
            ran = run_examples(self, box, lighttpd, named="lighttpd", handlers=handlers)
            self.true(ran >= 2, "the lighttpd example has its configuration and its steps")
            self.true(server, "the steps started lighttpd")
        except AssertionError as e:
            raise AssertionError("%s\n%s" % (e, self.logs(box)))
        finally:
            if server and server[0].poll() is None:
                server[0].send_signal(signal.SIGTERM)
                try:
                    server[0].wait(15)
                except subprocess.TimeoutExpired:
                    server[0].kill()
                    server[0].wait()
            inst.uninstall()
        # lighttpd stops the responder it started (SIGTERM; the responder
        # then takes a few milliseconds to finish and leave).
        def responders():
            return [pid for pid in os.listdir("/proc") if pid.isdigit() and _runs(pid, box.default_config)]
        wait_for(lambda: not responders(), 5)
        left = responders()
        for pid in left:
            os.kill(int(pid), signal.SIGKILL)
        self.eq(left, [], "responders left behind")

    def logs(self, box):
        out = []
        for path in [box.path("/var/log/lighttpd/error.log"), self.tmp.file("lighttpd.out")]:
            try:
                with open(path, errors="replace") as f:
                    out.append("--- %s\n%s" % (path, f.read()[-3000:]))
            except OSError:
                pass
        return "\n".join(out)


class ProbeExample(Test):
    """The probe session of mxdelegatectl(8) against a front end of the
    test's own: nginx with TLS at a loopback address in place of
    192.0.2.10, the installed responder behind it for example.org and
    example.net, and example.com left to nginx, which answers 404; the
    store as the page's examples before it leave it."""

    def test_probe_example_of_mxdelegatectl_8(self):
        import test_probe
        inst = Installed.shared()
        inst.install()
        nginx = mx = None
        try:
            addr = test_probe.loopback_address()
            box = Sandbox(self.tmp, inst, extra=[("192.0.2.10:443", addr + ":443")])
            blocks = examples("mxdelegatectl.8")
            config = [b for b in blocks if b.kind == "file" and b.args == ["/etc/mxdelegate/mxdelegate.toml"]]
            self.eq(len(config), 1)
            box.write("/etc/mxdelegate/mxdelegate.toml", config[0].text())
            os.makedirs(box.path("/var/lib/mxdelegate"))
            for cmd in ("mxdelegatectl init",
                        "mxdelegatectl add example.org --client https://matrix.example.org "
                        "--server matrix.example.org:8448 --contact role=admin,matrix_id=@admin:example.org",
                        "mxdelegatectl add example.com --client https://matrix.example.com",
                        "mxdelegatectl add example.net --client https://hs.example.net"):
                p = box.shell(cmd)
                self.eq(p.returncode, 0, p.stdout)
            pki = test_probe.Pki(self.tmp, ["example.org", "example.com", "example.net"])
            with open(pki.ca) as f:
                box.write("/etc/mxdelegate/staging-ca.pem", f.read())
            sock = self.tmp.file("mx.sock")
            mx = subprocess.Popen([os.path.join(inst.sbin, "mxdelegate"), "-c", box.default_config,
                                   "--listen", "unix:" + sock], stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            self.true(wait_for(lambda: os.path.exists(sock) or mx.poll() is not None, 10), "no socket")
            nginx = test_probe.Nginx(self.tmp, pki, addr, 443, sock, servers="""
  server { listen %s:443 ssl; server_name example.com; location / { return 404; } }""" % addr)
            probe = [b for b in blocks if b.kind == "session" and "probe" in b.args]
            self.eq(len(probe), 1)
            run_session(self, box, probe[0])
        finally:
            if nginx:
                nginx.stop()
            if mx:
                mx.terminate()
                mx.wait(10)
            inst.uninstall()


class Readme(Test):
    def test_build_dependencies_are_those_of_deps_sh(self):
        """README.md's list of build packages is the one tools/deps.sh
        installs for "build", so that the two cannot drift apart."""
        with open(os.path.join(REPO, "README.md")) as f:
            text = f.read()
        m = re.search(r"<!-- sh tools/deps\.sh list build -->\n```\n(.*?)```", text, re.S)
        self.true(m, "README.md has no list under <!-- sh tools/deps.sh list build -->")
        p = subprocess.run(["sh", os.path.join(REPO, "tools", "deps.sh"), "list", "build"],
                           capture_output=True, text=True)
        self.eq((p.returncode, p.stderr), (0, ""))
        self.eq(m.group(1).split(), p.stdout.split())


def _accepts(port):
    try:
        socket.create_connection(("127.0.0.1", port), 0.5).close()
        return True
    except OSError:
        return False


def _runs(pid, config):
    try:
        with open("/proc/%s/cmdline" % pid, "rb") as f:
            return config.encode() in f.read().split(b"\0")
    except OSError:
        return False
