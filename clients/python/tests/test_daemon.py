# SPDX-License-Identifier: LGPL-2.1-or-later
"""The client against a real airlockd (its own, from tests/daemon.py) and real guests of
the minimal image: every answer checked from inside the guest or by the daemon's own
listing, never by the client's opinion of itself.

    /usr/bin/python3 clients/python/tests/test_daemon.py -v
    (root, libvirtd running, the build's airlockd in $ALK_AIRLOCKD or build/daemon/)
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.join(HERE, ".."), HERE]

import airlock  # noqa: E402

from daemon import Daemon  # noqa: E402

D: Daemon | None = None
TTL = 600


def setUpModule() -> None:
    global D
    D = Daemon()


def tearDownModule() -> None:
    if D is not None:
        D.stop()


def unix(**kw) -> airlock.Airlock:
    return airlock.Airlock(socket=D.socket_path, **kw)


def wait_exec_running(sb: airlock.Sandbox, seconds: float = 30) -> None:
    """Until the daemon counts an exec running in the sandbox (an event, not a sleep)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if sb.refresh()["execs_running"] > 0:
            return
        time.sleep(0.05)
    raise AssertionError("no exec started in %s" % sb.id)


class Shared(unittest.TestCase):
    """One sandbox for the tests that leave it as they found it."""

    @classmethod
    def setUpClass(cls) -> None:
        cls.client = unix()
        cls.sb = cls.client.sandbox(ttl_s=TTL, labels={"test": "shared"})

    @classmethod
    def tearDownClass(cls) -> None:
        cls.sb.destroy()

    def test_created_ready_with_labels(self):
        self.assertEqual(self.sb.state, "ready")
        self.assertEqual(self.sb.info["labels"]["test"], "shared")
        listed = self.client.list_sandboxes({"test": "shared"})
        self.assertEqual([s["id"] for s in listed], [self.sb.id])

    def test_exec_result(self):
        r = self.sb.exec(["/bin/sh", "-c", "echo out; echo err >&2; exit 3"])
        self.assertEqual((r.exit_code, r.signal, r.timed_out, r.truncated),
                         (3, None, False, False))
        self.assertEqual((r.stdout, r.stderr), (b"out\n", b"err\n"))
        self.assertFalse(r.ok)
        self.assertGreaterEqual(r.duration, 0)

    def test_exec_stdin_env_cwd_binary(self):
        data = bytes(range(256)) * 4
        r = self.sb.exec(["/bin/sh", "-c", 'cat; printf "|%s|" "$V"; pwd >&2'], stdin=data,
                         env={"V": "vé"}, cwd="/tmp")
        self.assertEqual(r.exit_code, 0)
        self.assertEqual(r.stdout, data + "|vé|".encode())
        self.assertEqual(r.stderr, b"/tmp\n")

    def test_exec_user(self):
        r = self.sb.exec(["/bin/sh", "-c", "grep -E '^(Uid|NoNewPrivs)' /proc/self/status | "
                          "tr -s '\\t' ' '"], user="1000:1000")
        self.assertEqual(r.stdout, b"Uid: 1000 1000 1000 1000\nNoNewPrivs: 1\n")
        with self.assertRaises(airlock.InvalidRequest):
            self.sb.exec(["id"], user="Not A User")

    def test_exec_signal(self):
        r = self.sb.exec(["/bin/sh", "-c", "kill -9 $$"])
        self.assertEqual((r.exit_code, r.signal), (None, 9))

    def test_exec_timeout(self):
        t = time.monotonic()
        r = self.sb.exec(["sleep", "60"], timeout_s=1)
        self.assertTrue(r.timed_out)
        self.assertLess(time.monotonic() - t, 30)

    def test_stream(self):
        # the second line is only written once the test has seen the first: the chunks
        # arrive as produced, not at the end
        self.sb.exec(["rm", "-f", "/tmp/gate-go"])
        items = []
        with self.sb.exec_stream(["/bin/sh", "-c", "echo one; while [ ! -e /tmp/gate-go ]; "
                                  "do sleep 0.05; done; echo two >&2; exit 4"]) as stream:
            for item in stream:
                items.append(item)
                if item == airlock.OutputChunk("stdout", b"one\n"):
                    self.sb.files.write("/tmp/gate-go", b"")
        self.assertEqual(items[0], airlock.OutputChunk("stdout", b"one\n"))
        self.assertEqual(items[1], airlock.OutputChunk("stderr", b"two\n"))
        self.assertIsInstance(items[-1], airlock.ExecResult)
        self.assertIs(items[-1], stream.result)
        self.assertEqual((stream.result.exit_code, stream.result.stdout,
                          stream.result.stderr), (4, b"one\n", b"two\n"))

    def test_stream_that_cannot_start(self):
        with self.assertRaises(airlock.InvalidRequest):
            self.sb.exec_stream(["/nonexistent/prog"])

    def test_stream_closed_early_kills(self):
        with self.sb.exec_stream(["/bin/sh", "-c", "echo $$ > /tmp/early.pid; echo go; "
                                  "sleep 300"]) as stream:
            first = next(iter(stream))
            self.assertEqual(first.data, b"go\n")
        pid = self.sb.files.read("/tmp/early.pid").decode().strip()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.sb.exec(["kill", "-0", pid]).exit_code != 0:
                break
            time.sleep(0.1)
        else:
            self.fail("the streamed process still runs after the client hung up")

    def test_files_roundtrip(self):
        data = os.urandom(3 * 1024 * 1024 + 17)
        done = self.sb.files.write("/tmp/blob", data, mode=0o640)
        self.assertEqual(done.sha256, hashlib.sha256(data).hexdigest())
        # the guest's own view
        r = self.sb.exec(["/bin/sh", "-c", "sha256sum /tmp/blob; stat -c %a /tmp/blob"])
        self.assertEqual(r.stdout.decode().split(),
                         [hashlib.sha256(data).hexdigest(), "/tmp/blob", "640"])
        self.assertEqual(self.sb.files.read("/tmp/blob"), data)
        self.assertEqual(self.sb.files.mode("/tmp/blob"), 0o640)
        out = io.BytesIO()
        self.assertEqual(self.sb.files.download("/tmp/blob", out), len(data))
        self.assertEqual(out.getvalue(), data)

    def test_files_text_and_file_object(self):
        self.sb.files.write("/tmp/t.txt", "héllo\n")
        self.assertEqual(self.sb.exec(["cat", "/tmp/t.txt"]).stdout, "héllo\n".encode())
        src = io.BytesIO(b"from a file object")
        self.sb.files.write("/tmp/f.txt", src, length=len(src.getvalue()))
        self.assertEqual(self.sb.files.read("/tmp/f.txt"), b"from a file object")

    def test_files_bounded_read(self):
        self.sb.files.write("/tmp/big", b"z" * 200000)
        with self.assertRaises(airlock.ResponseTooLarge):
            self.sb.files.read("/tmp/big", max_bytes=100000)

    def test_files_errors(self):
        with self.assertRaises(airlock.NotFound) as cm:
            self.sb.files.read("/tmp/does-not-exist")
        self.assertNotIsInstance(cm.exception, airlock.SandboxGone)
        self.assertRaises(airlock.InvalidRequest, self.sb.files.write, "/no/such/dir/f", b"x")

    def test_bad_requests(self):
        self.assertRaises(airlock.InvalidRequest, self.sb.exec, [])
        self.assertRaises(airlock.InvalidRequest, self.sb.exec, ["/nonexistent"])
        self.assertRaises(airlock.InvalidRequest, self.sb.exec, ["true"], cwd="relative")
        self.assertRaises(airlock.InvalidRequest, self.sb.exec, ["true"], timeout_s=10 ** 7)
        self.assertRaises(airlock.LimitExceeded, self.sb.set_ttl, 10 ** 9)
        # a mode-none sandbox has no allowlist to change
        self.assertRaises(airlock.Conflict, self.sb.set_allowlist, ["pypi.org:443"])

    def test_oversize_body_refused_early(self):
        # the daemon refuses a JSON body over 8 MiB from its declared length and closes;
        # the client still reads the 413
        with self.assertRaises(airlock.PayloadTooLarge):
            self.client.sandbox(labels={"pad": "x" * (9 << 20)})

    def test_display_needs_display(self):
        # a sandbox created without a display has no screen: a typed, clear error
        with self.assertRaisesRegex(airlock.Conflict, "no display"):
            self.sb.screenshot()
        with self.assertRaisesRegex(airlock.Conflict, "no display"):
            self.sb.computer([{"action": "move", "x": 1, "y": 1}])

    def test_display(self):
        with self.client.sandbox(display=(800, 600), ttl_s=600) as sb:
            shot = sb.screenshot()
            self.assertTrue(shot.png.startswith(b"\x89PNG"))
            self.assertGreater(shot.width, 0)
            half = sb.screenshot(width=shot.width // 2, height=shot.height // 2)
            self.assertEqual((half.width, half.height), (shot.width // 2, shot.height // 2))
            # keys typed from the hypervisor reach the console's shell
            sb.computer([{"action": "type", "text": "echo $((6*7)) > /tmp/k"},
                         {"action": "key", "keys": "Return"}])
            deadline = time.monotonic() + 60
            while True:
                r = sb.exec(["/bin/sh", "-c", "cat /tmp/k 2>/dev/null"], user="0")
                if r.stdout == b"42\n" or time.monotonic() > deadline:
                    break
                time.sleep(0.2)  # the shell runs what was typed on its own time
            self.assertEqual(r.stdout, b"42\n")
            with self.assertRaises(airlock.InvalidRequest):
                sb.computer([{"action": "key", "keys": "NoSuchKey"}])

    def test_console(self):
        self.assertIn(b"airlock-agent", self.sb.console())

    def test_tcp_with_tokens(self):
        w = airlock.Airlock(url=D.url, token=D.write_token)
        r = airlock.Airlock(url=D.url, token=D.read_token)
        sb = w.attach(self.sb.id)
        self.assertEqual(sb.exec(["echo", "tcp"]).stdout, b"tcp\n")
        self.assertEqual(r.attach(self.sb.id).info["id"], self.sb.id)
        self.assertRaises(airlock.Forbidden, r.attach(self.sb.id).exec, ["true"])
        self.assertRaises(airlock.Unauthorized, airlock.Airlock(url=D.url).health)
        self.assertRaises(airlock.Unauthorized, airlock.Airlock(url=D.url, token="nope").health)


class Lifecycle(unittest.TestCase):
    def setUp(self):
        self.client = unix()

    def assertGone(self, sid: str) -> None:
        self.assertNotIn(sid, D.sandbox_ids())
        status, _ = D.request("GET", "/v1/sandboxes/" + sid)
        self.assertEqual(status, 404)

    def test_destroyed_on_exit(self):
        with self.client.sandbox(ttl_s=TTL) as sb:
            self.assertIn(sb.id, D.sandbox_ids())
        self.assertGone(sb.id)
        sb.destroy()  # again: fine

    def test_destroyed_on_exception(self):
        with self.assertRaisesRegex(RuntimeError, "boom"):
            with self.client.sandbox(ttl_s=TTL) as sb:
                sid = sb.id
                raise RuntimeError("boom")
        self.assertGone(sid)

    def test_exec_in_deleted_sandbox(self):
        with self.client.sandbox(ttl_s=TTL) as sb:
            pass
        with self.assertRaises(airlock.SandboxGone) as cm:
            sb.exec(["true"])
        self.assertIsInstance(cm.exception, airlock.SandboxNotFound)

    def test_deleted_while_exec_runs(self):
        sb = self.client.sandbox(ttl_s=TTL)
        got = {}

        def run():
            try:
                got["result"] = sb.exec(["sleep", "120"])
            except airlock.AirlockError as e:
                got["error"] = e
        t = threading.Thread(target=run)
        t.start()
        try:
            wait_exec_running(sb)
        finally:
            sb.destroy()
            t.join(60)
        self.assertIsInstance(got.get("error"), airlock.SandboxEnded, got)
        self.assertIn("deleted", got["error"].message)

    def test_deleted_while_stream_runs(self):
        sb = self.client.sandbox(ttl_s=TTL)
        try:
            stream = sb.exec_stream(["/bin/sh", "-c", "echo started; sleep 120"])
            it = iter(stream)
            self.assertEqual(next(it).data, b"started\n")
            other = unix().attach(sb.id)
            other.destroy()
            with self.assertRaises(airlock.SandboxGone):
                list(it)
        finally:
            sb.destroy()

    def test_bad_image(self):
        with self.assertRaises(airlock.NotFound) as cm:
            self.client.sandbox(image="no-such-image")
        self.assertIn("no-such-image", cm.exception.message)
        self.assertRaises(airlock.NotFound, self.client.sandbox, profile="no-such-profile")
        self.assertRaises(airlock.InvalidRequest, self.client.sandbox, network="bogus")
        self.assertRaises(airlock.LimitExceeded, self.client.sandbox, cpus=64)

    def test_create_timeout_cleans_up(self):
        c = unix(create_timeout=0.3)
        before = set(D.sandbox_ids())
        with self.assertRaises(airlock.ClientTimeout):
            c.sandbox(ttl_s=TTL)
        # the client deleted what its create made: gone, or on its way out
        for s in unix().list_sandboxes():
            if s["id"] not in before:
                self.assertIn(s["state"], ("stopping", "destroyed"), s)
                self.assertEqual(s["end_reason"], "deleted")

    def test_allowlist(self):
        with self.client.sandbox(network="allowlist", allow=["example.com:443"],
                                 ttl_s=TTL) as sb:
            self.assertEqual(sb.info["network"]["allow"], ["example.com:443"])
            info = sb.set_allowlist(["pypi.org:443", "*.pythonhosted.org:443",
                                     "pypi.org:443"])
            self.assertEqual(info["network"]["allow"], ["pypi.org:443",
                                                        "*.pythonhosted.org:443"])
            self.assertEqual(sb.refresh()["network"]["allow"],
                             ["pypi.org:443", "*.pythonhosted.org:443"])
            self.assertRaises(airlock.InvalidRequest, sb.set_allowlist, ["127.0.0.1"])
            self.assertEqual(sb.set_allowlist([])["network"]["allow"], [])

    def replay(self, *extra: str) -> dict[str, dict]:
        example = os.path.join(HERE, "..", "examples", "replay_anthropic.py")
        before = set(D.sandbox_ids())
        out = subprocess.run([sys.executable, example, "--socket", D.socket_path, *extra],
                             capture_output=True, text=True, timeout=900)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertLessEqual(set(D.sandbox_ids()), before, "the example left a sandbox")
        results = json.loads(out.stdout)
        for r in results:
            self.assertEqual(r["type"], "tool_result")
            r["text"] = "".join(c["text"] for c in r["content"] if c["type"] == "text")
        return {r["tool_use_id"]: r for r in results}

    # each result as the guest made it: what the recording's steps must give
    WANT = {
        "toolu_01A": (False, ["Linux", "made"]),
        "toolu_01B": (False, ["/root/project\nhello\n"]),
        "toolu_01C": (False, ["File created at /root/project/greet.sh"]),
        "toolu_01D": (False, ["     1\t#!/bin/sh\n", "     2\tname=world\n"]),
        "toolu_01E": (False, ["Edited /root/project/greet.sh", "name=airlock"]),
        "toolu_01F": (True, ["appears 4 times", "lines 2, 3)"]),
        "toolu_01G": (False, ["Edited", "     3\techo \"from line 3\"\n"]),
        "toolu_01H": (False, ["     2\tname=airlock\n     3\techo \"from line 3\"\n"]),
        "toolu_01I": (False, ["from line 3\nhello, airlock\n"]),
        "toolu_01J": (False, ["/root/project/greet.sh"]),
        "toolu_01K": (True, ["No such file", "[exit status 1]"]),
        "toolu_01L": (True, ["does not exist"]),
    }

    def test_example_replay(self):
        results = self.replay()
        # without a display the computer blocks are left out
        self.assertEqual(list(results), list(self.WANT))
        for uid, (is_error, pieces) in self.WANT.items():
            r = results[uid]
            self.assertEqual(r["is_error"], is_error, r)
            for piece in pieces:
                self.assertIn(piece, r["text"], r)
        self.assertNotIn("     4", results["toolu_01H"]["text"])

    def test_example_replay_display(self):
        results = self.replay("--display", "1024x768")
        self.assertEqual(list(results), list(self.WANT) + ["toolu_01M", "toolu_01N",
                                                           "toolu_01O"])
        for uid in ("toolu_01M", "toolu_01N", "toolu_01O"):
            self.assertFalse(results[uid]["is_error"], results[uid])
        images = [c for c in results["toolu_01M"]["content"] if c["type"] == "image"]
        self.assertEqual(len(images), 1)
        self.assertEqual(images[0]["source"]["media_type"], "image/png")
        self.assertRegex(images[0]["source"]["data"], r"^<\d+ base64 characters>$")


if __name__ == "__main__":
    unittest.main()
