"""mxdelegatectl move (issue 19): the domain's max_age lowered one old
max-age before the switch, the change made at --at, max_age raised again
once the old answers have expired; watched through the responder's own
path (query) as it runs, in seconds instead of hours."""

import subprocess
import time

from harness import Test, PLUGINS
from test_sqlite import CTL


class Move(Test):
    def setup(self):
        self.db = self.tmp.file("d.db")
        self.cfg = self.tmp.write("m.toml", '[backend]\nname = "sqlite"\nplugin_dir = "%s"\n'
                                  'path = "%s"\n\n[http]\nmax_age = 2\n' % (PLUGINS, self.db))
        self.ctl("init")
        self.ctl("add", "example.org", "--server", "old.example.org:443", "--note", "kept")

    def ctl(self, *args):
        return subprocess.run([CTL, "-c", self.cfg] + list(args), capture_output=True, text=True,
                              timeout=30)

    def served(self):
        """(max-age, body), or None while a step's write holds the store."""
        p = self.ctl("query", "example.org", "server")
        if not p.stdout.startswith("Status: 200 "):
            return None
        lines = p.stdout.splitlines()  # text mode has made CR LF into LF
        cache = [l for l in lines if l.startswith("Cache-Control: ")]
        return cache[0].split("=")[1], lines[-1]

    def test_lowered_ahead_switched_at_the_time_raised_after(self):
        start = time.time()
        mover = subprocess.Popen([CTL, "-c", self.cfg, "move", "example.org", "--server",
                                  "new.example.org:443", "--at", "+4", "--low", "1"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        seen = []
        while mover.poll() is None and time.time() - start < 15:
            state = self.served()
            if state and (not seen or seen[-1] != state):
                seen.append(state)
            time.sleep(0.05)
        out, err = mover.communicate(timeout=15)
        self.eq(mover.returncode, 0, err)
        seen.append(self.served())
        old, new = '{"m.server":"old.example.org:443"}', '{"m.server":"new.example.org:443"}'
        steps = []
        for s in seen:
            if not steps or steps[-1] != s:
                steps.append(s)
        self.eq(steps, [("2", old), ("1", old), ("1", new), ("2", new)], out)
        lines = out.splitlines()
        self.eq(len(lines), 4, out)
        self.true(lines[0].startswith("move: example.org: max_age 1 at "), out)
        self.true(lines[0].endswith(", max_age back to the configuration's 2 at %s" %
                                    lines[0].rsplit(" at ", 1)[1]), out)
        self.eq(lines[1:], ["move: example.org: max_age 1", "move: example.org: changed",
                            "move: example.org: max_age back to the configuration's 2; done"])
        # The rest of the record is as it was, and no max_age left behind.
        show = self.ctl("show", "example.org")
        self.eq(show.stdout, '{"domain":"example.org","note":"kept",'
                '"server":"new.example.org:443"}\n')

    def test_refused_before_anything_is_written(self):
        for args, code, said in (
                (["--server", "https://x", "--at", "+5"], 65, "server: "),
                (["--server", "n.example.org", "--at", "2020-01-01T00:00Z"], 64, "is not in the future"),
                (["--server", "n.example.org", "--at", "soon"], 64, "--at \"soon\""),
                (["--server", "n.example.org"], 64, "--at TIME is required"),
                (["--at", "+5"], 64, "no field given")):
            p = self.ctl("move", "example.org", *args)
            self.eq(p.returncode, code, p.stderr)
            self.contains(p.stderr, said)
        self.eq(self.ctl("show", "example.org").stdout,
                '{"domain":"example.org","note":"kept","server":"old.example.org:443"}\n')
