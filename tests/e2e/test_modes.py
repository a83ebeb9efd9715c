"""How the responder is started: CGI, --check, a socket on fd 0 (spawned by a
web server), systemd's fd 3, TCP, and refusals."""

import json
import os
import re
import socket
import subprocess

import fcgi
from harness import (BIN, PLUGINS, REPO, Installed, Test, Responder, example_config,
                     check_common_headers, free_port, wait_for)


def cgi(config, env, stdin=subprocess.DEVNULL):
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    base.update(env)
    return subprocess.run([BIN, "-c", config], env=base, stdin=stdin, capture_output=True, timeout=20)


class Cgi(Test):
    def test_one_complete_answer(self):
        cfg = example_config(self.tmp)
        p = cgi(cfg, {"REQUEST_METHOD": "GET", "REQUEST_URI": "/.well-known/matrix/client",
                      "HTTP_HOST": "example.org"})
        self.eq(p.returncode, 0, p.stderr)
        self.eq(p.stderr, b"")
        self.true(p.stdout.startswith(b"Status: 200 OK\r\n"), p.stdout)
        r = fcgi.Response(p.stdout)
        self.eq(r.status, 200)
        check_common_headers(self, r)
        self.eq(r.json()["m.homeserver"]["base_url"], "https://matrix.example.org")
        self.eq(int(r.header("Content-Length")), len(r.body))

    def test_cgi_from_a_pipe_and_errors(self):
        cfg = example_config(self.tmp)
        p = cgi(cfg, {"REQUEST_METHOD": "POST", "SCRIPT_NAME": "/.well-known/matrix",
                      "PATH_INFO": "/server", "HTTP_HOST": "example.org"}, stdin=subprocess.PIPE)
        self.eq(p.returncode, 0)
        self.eq(fcgi.Response(p.stdout).status, 405)
        p = cgi(cfg, {"REQUEST_METHOD": "GET", "REQUEST_URI": "/.well-known/matrix/server",
                      "HTTP_HOST": "bad host"})
        self.eq(fcgi.Response(p.stdout).status, 400)

    def test_a_cache_of_the_domains_is_read_back_and_never_stale(self):
        """[backend] cache: a CGI process reads the records a load before it
        checked, for the file's exact text, instead of parsing the file."""
        os.mkdir(self.tmp.file("cache"))
        cache = self.tmp.file("cache/domains.cache")
        cfg = example_config(self.tmp)
        with open(cfg) as f:
            text = f.read().replace('name = "toml"\n', 'name = "toml"\ncache = "cache/domains.cache"\n')
        self.tmp.write("mxdelegate.toml", text)
        env = {"REQUEST_METHOD": "GET", "REQUEST_URI": "/.well-known/matrix/client", "HTTP_HOST": "example.org"}

        def base_url():
            p = cgi(cfg, env)
            self.eq(p.returncode, 0, p.stderr)
            return fcgi.Response(p.stdout).json()["m.homeserver"]["base_url"], p.stderr

        self.eq(base_url(), ("https://matrix.example.org", b""))
        made = os.stat(cache)
        # Read back, not made again: a load that parses renames a new file
        # over it.
        self.eq(base_url(), ("https://matrix.example.org", b""))
        self.eq(os.stat(cache).st_ino, made.st_ino)

        self.tmp.write("mxdelegate.toml", text.replace("https://matrix.example.org", "https://edited.example.org"))
        self.eq(base_url(), ("https://edited.example.org", b""))
        self.true(os.stat(cache).st_ino != made.st_ino)

        # A cache that cannot be written: said on stderr, the file served.
        os.unlink(cache)
        os.rmdir(self.tmp.file("cache"))
        url, err = base_url()
        self.eq(url, "https://edited.example.org")
        self.contains(err.decode(), "[backend] cache: cannot write " + cache + ".new.")

    def test_no_request_method_is_a_usage_error(self):
        p = cgi(example_config(self.tmp), {})
        self.eq(p.returncode, 64)
        self.eq(p.stdout, b"")
        self.contains(p.stderr.decode(), "not started by a web server")

    def test_broken_configuration_answers_503_and_exits_78(self):
        cfg = self.tmp.write("bad.toml", "[backend]\nname = = 1\n")
        p = cgi(cfg, {"REQUEST_METHOD": "GET", "REQUEST_URI": "/.well-known/matrix/server",
                      "HTTP_HOST": "example.org"})
        self.eq(p.returncode, 78)
        r = fcgi.Response(p.stdout)
        self.eq(r.status, 503)
        self.eq(r.header("Cache-Control"), "no-store")
        self.contains(p.stderr.decode(), cfg + ":2:")

    def test_libraries_are_loaded_only_when_needed(self):
        # A CGI request for a plain ASCII name loads neither libidn2 nor
        # libsystemd (core/lazy_library); a configured IDN loads libidn2
        # and is still served by its A-label.  What is compiled in is never
        # loaded: toml++, XXH3, and the C++ runtime but in the sanitizer
        # build (the Makefile's STATIC_CXXRT); libfcgi is not linked.
        def loaded(cfg, host):
            p = cgi(cfg, {"REQUEST_METHOD": "GET", "REQUEST_URI": "/.well-known/matrix/server",
                          "HTTP_HOST": host, "LD_DEBUG": "files"})
            self.eq(fcgi.Response(p.stdout).status, 200, p.stderr)
            return set(re.findall(r"file=(lib[a-z0-9+_-]+)\.so", p.stderr.decode()))
        libs = loaded(example_config(self.tmp), "example.org")
        self.true("libidn2" not in libs and "libsystemd" not in libs, libs)
        self.true("libc" in libs, libs)  # the listing is read as meant
        never = {"libtomlplusplus", "libxxhash", "libfcgi"}
        if os.environ.get("SANITIZE") != "1":
            never |= {"libstdc++", "libgcc_s"}
        self.eq(libs & never, set())
        cfg = self.tmp.write("idn.toml", "[backend]\nname = \"toml\"\nplugin_dir = \"%s\"\n\n"
                             "[domains.\"b\u00fccher.example\"]\nserver = \"matrix.example.org\"\n" % PLUGINS)
        self.true("libidn2" in loaded(cfg, "xn--bcher-kva.example"))


class Check(Test):
    def test_valid_configuration(self):
        cfg = example_config(self.tmp)
        p = subprocess.run([BIN, "-c", cfg, "--check"], capture_output=True)
        # The example's rtc_foci is valid and served, and draws its lint.
        self.eq((p.returncode, p.stdout), (0, b""))
        self.eq(p.stderr.decode().splitlines(),
                ["mxdelegate: check: warning: %s:9:10: example.org: "
                 'client_extra."org.matrix.msc4143.rtc_foci": MatrixRTC transports are found '
                 "through GET /_matrix/client/v1/rtc/transports on the homeserver now; configure "
                 "them there, and keep this key only while Element Call runs as a widget, which "
                 "still reads it (MSC4143; the spec has no section for it yet) [rtc-foci]" % cfg])

    def test_every_problem_with_its_position(self):
        cfg = self.tmp.write("c.toml", """[backend]
name = "toml"
plugin_dir = "%s"

[domains."example.org"]
server = "https://matrix.example.org"
client = "matrix.example.org"

[domains."example.net".support]
contacts = [ { matrix_id = "@a:example.net" } ]
""" % PLUGINS)
        p = subprocess.run([BIN, "-c", cfg, "--check"], capture_output=True)
        self.eq(p.returncode, 1)
        lines = p.stderr.decode().splitlines()
        self.eq(len(lines), 3, lines)
        check = "mxdelegate: check: " + cfg
        self.true(lines[0].startswith(check + ":6:10: example.org: server: "), lines[0])
        self.true(lines[1].startswith(check + ":7:10: example.org: client: "), lines[1])
        self.true(lines[2].startswith(check + ":10:14: example.net: support.contacts[0].role: "), lines[2])

    def test_missing_plugin(self):
        cfg = self.tmp.write("m.toml", '[backend]\nname = "nosuch"\nplugin_dir = "%s"\n' % PLUGINS)
        p = subprocess.run([BIN, "-c", cfg, "--check"], capture_output=True)
        self.eq(p.returncode, 1)
        self.contains(p.stderr.decode(), PLUGINS + "/nosuch.so")


class Sockets(Test):
    def test_listening_socket_on_stdin(self):
        """As lighttpd bin-path, mod_fcgid and spawn-fcgi start it."""
        path = self.tmp.file("fd0.sock")
        ls = socket.socket(socket.AF_UNIX)
        ls.bind(path)
        ls.listen(16)
        proc = subprocess.Popen([BIN, "-c", example_config(self.tmp)], stdin=ls.fileno(),
                                stderr=subprocess.PIPE)
        ls.close()
        try:
            r = fcgi.request(path, fcgi.cgi_params())
            self.eq(r.status, 200)
        finally:
            proc.terminate()
            self.eq(proc.wait(10), 0)

    def test_systemd_socket_on_fd3(self):
        """Socket activation without StandardInput=socket: the socket is fd 3,
        stdin is /dev/null, which libfcgi alone would take for CGI."""
        path = self.tmp.file("sd.sock")
        ls = socket.socket(socket.AF_UNIX)
        ls.bind(path)
        ls.listen(16)
        env = dict(os.environ, LISTEN_FDS="1")
        # The shell moves the socket to fd 3 and execs, so LISTEN_PID=$$ is
        # the responder's own pid, as systemd sets it.
        proc = subprocess.Popen(["sh", "-c", 'exec 3<&0 0</dev/null; LISTEN_PID=$$ exec "$0" -c "$1"',
                                 BIN, example_config(self.tmp)],
                                stdin=ls.fileno(), env=env, stderr=subprocess.PIPE)
        ls.close()
        try:
            r = fcgi.request(path, fcgi.cgi_params())
            self.eq(r.status, 200)
        finally:
            proc.terminate()
            self.eq(proc.wait(10), 0)

    def test_tcp_on_loopback(self):
        port = free_port()
        proc = subprocess.Popen([BIN, "-c", example_config(self.tmp), "--listen",
                                 "127.0.0.1:%d" % port], stderr=subprocess.PIPE)
        try:
            self.true(wait_for(lambda: _connects(port), 10), "no listener")
            self.eq(fcgi.request(("127.0.0.1", port), fcgi.cgi_params()).status, 200)
        finally:
            proc.terminate()
            self.eq(proc.wait(10), 0)

    def test_all_interfaces_only_when_asked(self):
        for spec in [":9000", "9000"]:
            p = subprocess.run([BIN, "-c", example_config(self.tmp), "--listen", spec],
                               capture_output=True, timeout=10)
            self.true(p.returncode != 0, spec)
            self.contains(p.stderr.decode(), "127.0.0.1")

    def test_live_socket_is_not_stolen(self):
        mx = Responder(example_config(self.tmp), self.tmp)
        try:
            p = subprocess.run([BIN, "-c", example_config(self.tmp), "--listen",
                                "unix:" + mx.socket], capture_output=True, timeout=10)
            self.eq(p.returncode, 69)
            self.contains(p.stderr.decode(), "in use by a running process")
            self.eq(mx.get().status, 200)
        finally:
            self.eq(mx.stop(), 0)

    def test_stale_socket_is_replaced_and_mode_is_0660(self):
        path = self.tmp.file("mx.sock")
        s = socket.socket(socket.AF_UNIX)
        s.bind(path)
        s.close()  # bound, never listening: stale
        mx = Responder(example_config(self.tmp), self.tmp)
        try:
            self.eq(os.stat(path).st_mode & 0o777, 0o660)
            self.eq(mx.get().status, 200)
        finally:
            self.eq(mx.stop(), 0)


def _connects(port):
    try:
        socket.create_connection(("127.0.0.1", port), 0.2).close()
        return True
    except OSError:
        return False


class Shipped(Test):
    def test_example_configuration_checks_clean(self):
        with open(os.path.join(os.path.dirname(__file__), "../../etc/mxdelegate.toml")) as f:
            text = f.read()
        text = text.replace('name = "toml"', 'name = "toml"\nplugin_dir = "%s"' % PLUGINS, 1)
        cfg = self.tmp.write("mxdelegate.toml", text)
        p = subprocess.run([BIN, "-c", cfg, "--check"], capture_output=True)
        self.eq((p.returncode, p.stderr), (0, b""))
        p = cgi(cfg, {"REQUEST_METHOD": "GET", "REQUEST_URI": "/.well-known/matrix/server",
                      "HTTP_HOST": "example.net"})
        self.eq(fcgi.Response(p.stdout).json(), {"m.server": "matrix.example.net:443"})
        p = cgi(cfg, {"REQUEST_METHOD": "GET", "REQUEST_URI": "/.well-known/matrix/client",
                      "HTTP_HOST": "chat.example.com"})
        r = fcgi.Response(p.stdout)
        self.eq(r.json(), {"m.homeserver": {"base_url": "https://matrix.chat.example.com"}})
        self.eq(r.header("Cache-Control"), "public, max-age=3600")
        p = cgi(cfg, {"REQUEST_METHOD": "GET", "REQUEST_URI": "/.well-known/matrix/client",
                      "HTTP_HOST": "example.info"})
        r = fcgi.Response(p.stdout)
        self.eq(r.status, 302)
        self.eq(r.header("Location"), "https://matrix.example.net/.well-known/matrix/client")
        self.eq(r.header("Access-Control-Allow-Origin"), "*")

    def test_install_to_a_prefix_finds_its_plugins(self):
        inst = Installed.shared()
        prefix = inst.prefix

        # Into a DESTDIR: exactly these files, with these modes, under
        # DESTDIR/PREFIX and nowhere else.
        dest = self.tmp.file("dest")
        inst.install(destdir=dest)
        expected = {"sbin/mxdelegate": 0o755, "sbin/mxdelegatectl": 0o755,
                    "libexec/mxdelegate-follow": 0o755,
                    "libexec/mxdelegate-probe": 0o755,
                    "lib/mxdelegate/backends/toml.so": 0o644,
                    "lib/mxdelegate/backends/sqlite.so": 0o644,
                    "lib/mxdelegate/backends/postgres.so": 0o644,
                    "include/mxdelegate/backend.h": 0o644,
                    "lib/pkgconfig/mxdelegate-backend.pc": 0o644,
                    "share/man/man5/mxdelegate.toml.5": 0o644,
                    "share/man/man7/mxdelegate-backend.7": 0o644,
                    "share/man/man8/mxdelegate.8": 0o644,
                    "share/man/man8/mxdelegatectl.8": 0o644}
        etc = os.path.join(REPO, "etc")
        for d, _, fs in os.walk(etc):
            for f in fs:
                rel = os.path.relpath(os.path.join(d, f), etc)
                expected["share/doc/mxdelegate/examples/" + rel] = 0o644
        # The run script, as its page says: mode 0755, ready to run.
        expected["share/doc/mxdelegate/examples/spawn-fcgi/run"] = 0o755
        root = dest + prefix
        found = {}
        for d, _, fs in os.walk(dest):
            for f in fs:
                path = os.path.join(d, f)
                self.true(path.startswith(root + "/"), "installed outside PREFIX: " + path)
                found[os.path.relpath(path, root)] = os.lstat(path).st_mode & 0o7777
        self.eq(found, expected)
        # The examples are the shipped files as they are; the pages carry
        # the configured paths instead of /usr's, and still lint clean.
        with open(os.path.join(etc, "nginx/mxdelegate.conf"), "rb") as a, \
                open(os.path.join(root, "share/doc/mxdelegate/examples/nginx/mxdelegate.conf"), "rb") as b:
            self.eq(a.read(), b.read())
        with open(os.path.join(root, "share/man/man8/mxdelegate.8")) as f:
            page = f.read()
        self.contains(page, prefix + "/lib/mxdelegate/backends")
        self.contains(page, prefix + "/etc/mxdelegate/mxdelegate.toml")
        self.contains(page, prefix + "/sbin/mxdelegate -c " + prefix + "/etc/mxdelegate/mxdelegate.toml")
        self.true("/usr/lib/mxdelegate" not in page and "/usr/sbin/" not in page
                  and " /etc/mxdelegate" not in page, "a /usr or /etc path left in the page")
        pages = [os.path.join(root, f) for f in expected if f.startswith("share/man/")]
        p = subprocess.run(["mandoc", "-Tlint", "-Wwarning", *pages], capture_output=True)
        self.eq((p.returncode, p.stdout + p.stderr), (0, b""))
        with open(os.path.join(root, "lib/pkgconfig/mxdelegate-backend.pc")) as f:
            pc = f.read()
        self.contains(pc, "plugindir=%s/lib/mxdelegate/backends\n" % prefix)
        self.contains(pc, "Cflags: -I${includedir}\n")

        # Uninstall removes every file and the directories of its own; the
        # shared ones, which may have been there before, stay.
        inst.uninstall(destdir=dest)
        left = [os.path.join(d, f) for d, _, fs in os.walk(dest) for f in fs]
        self.eq(left, [])
        dirs = sorted(os.path.relpath(d, root) for d, _, _ in os.walk(root))
        self.eq(dirs, [".", "include", "lib", "lib/pkgconfig", "libexec", "sbin", "share", "share/doc",
                       "share/man", "share/man/man5", "share/man/man7", "share/man/man8"])

        # Into the PREFIX itself: the installed responder finds its plugins
        # with no plugin_dir, pkg-config finds the header, and uninstall
        # leaves no file behind.
        inst.install()
        try:
            cfg = self.tmp.write("plain.toml", '[backend]\nname = "toml"\n[domains."example.org"]\n'
                                               'server = "m.example.org:443"\n')
            p = subprocess.run([os.path.join(prefix, "sbin/mxdelegate"), "-c", cfg],
                               env={"REQUEST_METHOD": "GET",
                                    "REQUEST_URI": "/.well-known/matrix/server",
                                    "HTTP_HOST": "example.org"},
                               stdin=subprocess.DEVNULL, capture_output=True)
            self.eq(p.stderr, b"")
            self.eq(fcgi.Response(p.stdout).json(), {"m.server": "m.example.org:443"})
            p = subprocess.run([os.path.join(prefix, "sbin/mxdelegatectl"), "-c", cfg, "check"],
                               capture_output=True)
            self.eq(p.returncode, 0, p.stderr)
            env = dict(os.environ, PKG_CONFIG_PATH=os.path.join(prefix, "lib/pkgconfig"))
            p = subprocess.run(["pkg-config", "--cflags", "mxdelegate-backend"], env=env,
                               capture_output=True)
            self.eq((p.returncode, p.stdout.decode().strip()), (0, "-I%s/include" % prefix))
            p = subprocess.run(["pkg-config", "--variable=plugindir", "mxdelegate-backend"],
                               env=env, capture_output=True)
            self.eq(p.stdout.decode().strip(), prefix + "/lib/mxdelegate/backends")
            # The .pc file's version is the header's ABI version, which the
            # Makefile reads from the two macros: read them here too.
            with open(os.path.join(REPO, "include/mxdelegate/backend.h")) as f:
                abi = dict(re.findall(r"^#define MXD_BACKEND_ABI_(MAJOR|MINOR) (\d+)$", f.read(), re.M))
            p = subprocess.run(["pkg-config", "--modversion", "mxdelegate-backend"], env=env,
                               capture_output=True)
            self.eq(p.stdout.decode().strip(), "%s.%s" % (abi["MAJOR"], abi["MINOR"]))
            # 1.2: the version a plugin that reads host->abi_minor asks for.
            p = subprocess.run(["pkg-config", "--atleast-version=1.2", "mxdelegate-backend"],
                               env=env, capture_output=True)
            self.eq(p.returncode, 0)
        finally:
            inst.uninstall()
        left = [os.path.join(d, f) for d, _, fs in os.walk(prefix) for f in fs]
        self.eq(left, [])
