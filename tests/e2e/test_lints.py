"""Lints (issue 19): records that are served but likely wrong draw a warning
from mxdelegate --check and mxdelegatectl check, each with its exact text;
both exit 0, or 2 with --strict; [defaults] are warned about once, a store
without positions (SQLite) by domain."""

import subprocess

import harness
from harness import Test, BIN, PLUGINS
from test_sqlite import CTL

SEE_WK = "spec: client-server API, Server Discovery, Well-known URIs"
SEE_NS = "spec: appendices, Common Namespaced Identifier Grammar"
SEE_SUPPORT = "spec: client-server API, GET /.well-known/matrix/support"
JAVA = (" is not namespaced in Java package style; name an extension after a domain you "
        "control, reversed and in lower case, such as com.example.myapp.setting (")

# One domain a lint, at the line of its table (column 10, its key), with its text.
RECORDS = [
    ('auth.example', 'client = "https://m.example.org"\n'
     'client_extra."org.matrix.msc2965.authentication" = { issuer = "https://auth.example.org/" }',
     'client_extra."org.matrix.msc2965.authentication": clients discover authentication through '
     'GET /_matrix/client/v1/auth_metadata on the homeserver now; remove this key (Synapse with '
     'MAS still writes it; current clients do not read it) (spec: client-server API, OAuth 2.0 '
     'API, Server metadata discovery, v1.15) [auth-metadata]'),
    ('rtc.example', 'client = "https://m.example.org"\n'
     'client_extra."org.matrix.msc4143.rtc_foci" = [ { type = "livekit", '
     'livekit_service_url = "https://rtc.example.org" } ]',
     'client_extra."org.matrix.msc4143.rtc_foci": MatrixRTC transports are found through GET '
     '/_matrix/client/v1/rtc/transports on the homeserver now; configure them there, and keep '
     'this key only while Element Call runs as a widget, which still reads it (MSC4143; the spec '
     'has no section for it yet) [rtc-foci]'),
    ('proxy.example', 'client = "https://m.example.org"\n'
     'client_extra."org.matrix.msc3575.proxy" = { url = "https://slidingsync.lab.matrix.org" }',
     'client_extra."org.matrix.msc3575.proxy": "https://slidingsync.lab.matrix.org" is a sliding '
     'sync proxy that no longer runs; remove the key: homeservers serve sliding sync themselves '
     '(simplified sliding sync, MSC4186: Synapse 1.114 and later, conduwuit, tuwunel), and '
     'clients that take the key fail to sync (MSC3575, superseded) [dead-proxy]'),
    ('path.example', 'client = "https://matrix.path.example/_matrix"',
     'client: "https://matrix.path.example/_matrix" has the path "/_matrix"; clients add '
     '/_matrix/client/... to the base URL themselves, so it is normally the bare origin, '
     '"https://matrix.path.example"; keep a path only if the server is really served under it '
     '(' + SEE_WK + ') [base-url-path]'),
    ('port.example', 'server = "matrix.port.example:8448"',
     'server: "matrix.port.example:8448" states port 8448, which a homeserver uses anyway for a '
     'name without a port; write "matrix.port.example", which also lets an SRV record '
     '(_matrix-fed._tcp) move the port later, unless skipping SRV is what you want '
     '(spec: server-server API, Resolving server names, step 3) [server-port-8448]'),
    ('key.example', 'client = "https://m.example.org"\nclient_extra."myapp.theme" = "dark"',
     'client_extra."myapp.theme": "myapp.theme"' + JAVA + SEE_WK + '; ' + SEE_NS +
     ') [extension-key]'),
    ('role.example', 'support.contacts = [ { role = "m.role.moderator", '
     'email_address = "mod@role.example" } ]',
     'support.contacts[0].role: "m.role.moderator" is not a role of the spec, whose m. names are '
     'its own (a moderator role is only proposed, MSC4121); use m.role.admin (any query), '
     'm.role.security (sensitive requests) or a role of your own such as '
     'org.example.role.moderator (' + SEE_SUPPORT + '; ' + SEE_NS + ') [support-role]'),
    ('big.example', 'client = "https://m.example.org"\n'
     'client_extra."org.example.banner" = "' + 'x' * 4100 + '"',
     'client_extra: makes /.well-known/matrix/client 4177 bytes long; keep a document under '
     '4096 bytes: homeservers drop one past 12 KiB (tuwunel) to 50 KiB (Synapse), and clients '
     'fetch it at every login; move large data to a URL the document names (the spec sets no '
     'limit; ' + SEE_WK + ') [document-size]'),
    ('extras.example', 'client_extra."io.element.e2ee" = { default = false }',
     'client_extra: is not served: /.well-known/matrix/client requires m.homeserver, which comes '
     'from client; add client = "https://matrix.example.org" (the homeserver\'s base URL), or '
     'remove client_extra (' + SEE_WK + ') [client-without-homeserver]'),
    ('moved.example', 'redirect = "https://matrix.other.example"\nredirect_status = 308',
     'redirect_status: 308 is a permanent redirect: a client may remember the new place and '
     'never ask this domain again, so a later change of the redirect would not reach it; use '
     '302 (the default) or 307 unless the move is final (RFC 9110 15.4.2 and 15.4.9; '
     + SEE_WK + ', v1.20) [permanent-redirect]'),
]

HEAD = '[backend]\nname = "toml"\nplugin_dir = "%s"\n' % PLUGINS


def configuration():
    """The configuration text and the warning lines it must draw."""
    text, expected = HEAD, []
    for domain, body, warning in RECORDS:
        text += "\n"
        line = text.count("\n") + 1
        text += '[domains."%s"]\n%s\n' % (domain, body)
        expected.append((line, domain, warning))
    return text, expected


class Lints(Test):
    def run_both(self, cfg, *extra):
        check = subprocess.run([BIN, "-c", cfg, "--check"] + list(extra), capture_output=True,
                               text=True, timeout=30)
        ctl = subprocess.run([CTL, "-c", cfg, "check"] + list(extra), capture_output=True,
                             text=True, timeout=30)
        return check, ctl

    def test_each_lint_with_its_exact_text_and_position(self):
        text, expected = configuration()
        cfg = self.tmp.write("lints.toml", text)
        check, ctl = self.run_both(cfg)
        self.eq(check.returncode, 0, check.stderr)
        self.eq(check.stdout, "")
        self.eq(check.stderr.splitlines(),
                ["mxdelegate: check: warning: %s:%d:10: %s: %s" % (cfg, line, domain, warning)
                 for line, domain, warning in expected])
        self.eq(ctl.returncode, 0, ctl.stderr)
        self.eq(ctl.stderr.splitlines(),
                ["mxdelegatectl: check: warning: %s:%d:10: %s: %s" % (cfg, line, domain, warning)
                 for line, domain, warning in expected])
        self.contains(ctl.stdout, "check: %d warnings\n" % len(RECORDS))
        # Still served as written: a warning refuses nothing.
        p = subprocess.run([CTL, "-c", cfg, "query", "port.example", "server"],
                           capture_output=True, text=True, timeout=30)
        self.eq(p.returncode, 0, p.stderr)
        self.contains(p.stdout, '{"m.server":"matrix.port.example:8448"}')

    def test_strict_fails_on_warnings_with_2_and_on_problems_with_1(self):
        text, _ = configuration()
        cfg = self.tmp.write("lints.toml", text)
        check, ctl = self.run_both(cfg, "--strict")
        self.eq((check.returncode, ctl.returncode), (2, 2), check.stderr + ctl.stderr)
        self.contains(ctl.stdout, "check: %d warnings, failing as --strict asks\n" % len(RECORDS))
        clean = self.tmp.write("clean.toml", HEAD + '\n[domains."example.org"]\n'
                               'server = "matrix.example.org:443"\n'
                               'client = "https://matrix.example.org/"\n')
        check, ctl = self.run_both(clean, "--strict")
        self.eq((check.returncode, check.stderr), (0, ""))
        self.eq((ctl.returncode, ctl.stderr), (0, ""))
        broken = self.tmp.write("broken.toml", HEAD + '\n[domains."example.org"]\n'
                                'server = "https://matrix.example.org"\n')
        check, ctl = self.run_both(broken, "--strict")
        self.eq((check.returncode, ctl.returncode), (1, 1), check.stderr + ctl.stderr)
        p = subprocess.run([BIN, "-c", clean, "--strict"], capture_output=True, text=True, timeout=30)
        self.eq(p.returncode, 64, p.stderr)
        self.contains(p.stderr, "mxdelegate: --strict goes with --check\n")

    def test_defaults_are_warned_about_once_and_a_store_by_domain(self):
        db = self.tmp.file("d.db")
        cfg = self.tmp.write("sql.toml", '[backend]\nname = "sqlite"\nplugin_dir = "%s"\n'
                             'path = "%s"\n\n[defaults]\nserver = "matrix.{domain}:8448"\n'
                             % (PLUGINS, db))
        subprocess.run([CTL, "-c", cfg, "init"], check=True, capture_output=True, timeout=30)
        for domain in ("a.example", "b.example"):
            subprocess.run([CTL, "-c", cfg, "add", domain, "--client", "https://m.example.org/x"],
                           check=True, capture_output=True, timeout=30)
        check, ctl = self.run_both(cfg, "--strict")
        path = ('client: "https://m.example.org/x" has the path "/x"; clients add '
                '/_matrix/client/... to the base URL themselves, so it is normally the bare '
                'origin, "https://m.example.org"; keep a path only if the server is really served '
                'under it (' + SEE_WK + ') [base-url-path]')
        port = ('[defaults]: server: "matrix.example.org:8448" states port 8448, which a '
                'homeserver uses anyway for a name without a port; write "matrix.example.org", '
                'which also lets an SRV record (_matrix-fed._tcp) move the port later, unless '
                'skipping SRV is what you want (spec: server-server API, Resolving server names, '
                'step 3) [server-port-8448]')
        for p, prefix in ((check, "mxdelegate: check: warning: "),
                          (ctl, "mxdelegatectl: check: warning: ")):
            self.eq(p.returncode, 2, p.stderr)
            self.eq(p.stderr.splitlines(), [prefix + port, prefix + "a.example: " + path,
                                            prefix + "b.example: " + path])
