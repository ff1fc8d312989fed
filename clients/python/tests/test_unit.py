# SPDX-License-Identifier: LGPL-2.1-or-later
"""The client without a daemon: configuration as the CLI reads it, and hostile or broken
answers from a scripted server (tests/fake.py): bounded reads, clear errors, timeouts.

    /usr/bin/python3 clients/python/tests/test_unit.py -v
"""

from __future__ import annotations

import base64
import io
import json
import os
import struct
import sys
import time
import unittest
import zlib
from unittest import mock

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.join(HERE, ".."), HERE]

import airlock  # noqa: E402

from fake import Fake, endless, reply, silent  # noqa: E402

SID = "0123456789ab"
SANDBOX = {"id": SID, "state": "ready", "limits": {"exec_timeout_s": 5}}
MIB = 1024 * 1024


def client(fake: Fake, **kw) -> airlock.Airlock:
    if fake.tcp:
        return airlock.Airlock(url=fake.url, **kw)
    return airlock.Airlock(socket=fake.path, **kw)


def sandbox(fake: Fake, **kw) -> airlock.Sandbox:
    return airlock.Sandbox(client(fake, **kw), dict(SANDBOX))


def error_body(code: str, message: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message}}).encode()


class Config(unittest.TestCase):
    def env(self, **values):
        clean = {k: v for k, v in os.environ.items() if not k.startswith("AIRLOCK_")}
        clean.update(values)
        return mock.patch.dict(os.environ, clean, clear=True)

    def test_default_is_the_daemon_socket(self):
        with self.env():
            t = airlock.Airlock().target
        self.assertEqual(t.socket_path, "/run/airlock/api.sock")
        self.assertIsNone(t.url)

    def test_env_as_the_cli(self):
        with self.env(AIRLOCK_URL="http://127.0.0.1:8420/", AIRLOCK_TOKEN="tok"):
            t = airlock.Airlock().target
        self.assertEqual((t.socket_path, t.url, t.token), (None, "http://127.0.0.1:8420", "tok"))
        with self.env(AIRLOCK_SOCKET="/tmp/s.sock"):
            self.assertEqual(airlock.Airlock().target.socket_path, "/tmp/s.sock")
        # arguments win over the environment
        with self.env(AIRLOCK_SOCKET="/tmp/s.sock"):
            self.assertEqual(airlock.Airlock(url="http://h:1").target.url, "http://h:1")

    def test_bad_configuration(self):
        with self.env(AIRLOCK_SOCKET="/a", AIRLOCK_URL="http://h"):
            self.assertRaisesRegex(airlock.ConfigError, "both set", airlock.Airlock)
        for kw, pattern in (({"socket": "/a", "url": "http://h"}, "exclude"),
                            ({"url": "ftp://h"}, "not an http"),
                            ({"url": "http://u:p@h"}, "user info"),
                            ({"url": "http://h/?q=1"}, "query"),
                            ({"socket": "/" + "s" * 200}, "longer than 107"),
                            ({"socket": ""}, "empty"),
                            ({"url": "http://h", "token": "a b"}, "printable"),
                            ({"url": "http://h", "token": "t" * 5000}, "1 to 4096")):
            with self.env():
                self.assertRaisesRegex(airlock.ConfigError, pattern, airlock.Airlock, **kw)

    def test_cafile(self):
        with self.env():
            self.assertRaisesRegex(airlock.ConfigError, "does not exist", airlock.Airlock,
                                   url="https://h", cafile="/nonexistent/ca.pem")
        with self.env(AIRLOCK_CACERT=__file__):
            self.assertEqual(airlock.Airlock(url="https://h").target.cafile, __file__)
        with self.env():
            self.assertIsNone(airlock.Airlock(url="https://h").target.cafile)

    def test_no_socket_is_a_clear_error(self):
        c = airlock.Airlock(socket="/nonexistent/api.sock")
        with self.assertRaisesRegex(airlock.ConnectionFailed, "does not exist"):
            c.health()

    def test_token_over_tcp_only(self):
        with Fake(reply(200, b'{"status":"ok"}'), tcp=True) as f:
            airlock.Airlock(url=f.url, token="secret-1").health()
            self.assertEqual(f.seen[0].headers.get("authorization"), "Bearer secret-1")
        with Fake(reply(200, b'{"status":"ok"}')) as f:
            airlock.Airlock(socket=f.path, token="secret-1").health()
            self.assertNotIn("authorization", f.seen[0].headers)
            self.assertEqual(f.seen[0].headers.get("host"), "localhost")

    def test_url_path_prefix_kept(self):
        with Fake(reply(200, b'{"status":"ok"}'), tcp=True) as f:
            airlock.Airlock(url=f.url + "/airlock/").health()
            self.assertEqual(f.seen[0].target, "/airlock/v1/health")


class Hostile(unittest.TestCase):
    """Answers no airlockd gives: each must end in a bounded, clear error."""

    def test_not_json(self):
        with Fake(reply(200, b"<html>proxy login</html>", "text/html")) as f:
            with self.assertRaisesRegex(airlock.ProtocolError, "text/html.*not JSON.*proxy"):
                client(f).health()

    def test_invalid_json(self):
        with Fake(reply(200, b'{"status": ')) as f:
            with self.assertRaisesRegex(airlock.ProtocolError, "not valid JSON"):
                client(f).health()

    def test_json_not_an_object(self):
        with Fake(reply(200, b"[1,2]")) as f:
            self.assertRaisesRegex(airlock.ProtocolError, "not an object", client(f).health)

    def test_deep_nesting(self):
        with Fake(reply(200, b"[" * 200000)) as f:
            self.assertRaisesRegex(airlock.ProtocolError, "not valid JSON", client(f).health)

    def test_declared_huge_length_refused_unread(self):
        def answer(seen, conn):
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 10737418240\r\n\r\n{")
            time.sleep(5)
        with Fake(answer) as f:
            t = time.monotonic()
            with self.assertRaisesRegex(airlock.ResponseTooLarge, "announces 10737418240"):
                client(f).health()
            self.assertLess(time.monotonic() - t, 3)

    def test_endless_body_bounded(self):
        with Fake(endless("application/json", b"x" * 65536)) as f:
            with self.assertRaisesRegex(airlock.ResponseTooLarge, "limit of 1048576"):
                client(f, max_response_bytes=MIB).health()

    def test_endless_file_bounded(self):
        with Fake(endless("application/octet-stream", b"x" * 65536)) as f:
            sb = sandbox(f)
            with self.assertRaises(airlock.ResponseTooLarge):
                sb.files.read("/etc/passwd", max_bytes=2 * MIB)

    def test_cut_short(self):
        def answer(seen, conn):
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                         b"Content-Length: 100\r\n\r\nabc")
            conn.close()
        with Fake(answer) as f:
            self.assertRaises(airlock.ProtocolError, sandbox(f).files.read, "/x")

    def test_endless_stream_line_bounded(self):
        with Fake(endless("application/x-ndjson", b"a" * 65536)) as f:
            stream = sandbox(f, max_line_bytes=MIB).exec_stream(["true"])
            with self.assertRaisesRegex(airlock.ResponseTooLarge, "line of the stream"):
                list(stream)

    def test_endless_stream_output_bounded(self):
        line = json.dumps({"stream": "stdout",
                           "data_b64": base64.b64encode(b"y" * 30000).decode()}).encode()
        with Fake(endless("application/x-ndjson", line + b"\n")) as f:
            stream = sandbox(f, max_response_bytes=MIB).exec_stream(["true"])
            with self.assertRaisesRegex(airlock.ResponseTooLarge, "output passed"):
                list(stream)

    def test_stream_without_result(self):
        body = b'{"stream":"stdout","data_b64":"aGk="}\n'
        with Fake(reply(200, body, "application/x-ndjson")) as f:
            stream = sandbox(f).exec_stream(["true"])
            with self.assertRaisesRegex(airlock.ProtocolError, "without a result"):
                list(stream)

    def test_stream_error_line_typed(self):
        body = (b'{"stream":"stdout","data_b64":"aGk="}\n'
                + json.dumps({"stream": "error", "error": {
                    "code": "sandbox_ended", "message": "sandbox x ended: deleted"}}).encode()
                + b"\n")
        with Fake(reply(200, body, "application/x-ndjson")) as f:
            items = []
            with self.assertRaises(airlock.SandboxEnded) as cm:
                for item in sandbox(f).exec_stream(["true"]):
                    items.append(item)
            self.assertEqual(items, [airlock.OutputChunk("stdout", b"hi")])
            self.assertEqual(cm.exception.status, 410)

    def test_stream_bad_base64(self):
        body = b'{"stream":"stdout","data_b64":"!!!"}\n'
        with Fake(reply(200, body, "application/x-ndjson")) as f:
            self.assertRaisesRegex(airlock.ProtocolError, "base64", list,
                                   sandbox(f).exec_stream(["true"]))

    def test_exec_result_wrong_types(self):
        for bad in ({"exit_code": "0"}, {"timed_out": 0}, {"duration_ms": True},
                    {"stdout": None}, {"stdout": 5}):
            result = {"exit_code": 0, "signal": None, "timed_out": False, "stdout": "",
                      "stderr": "", "truncated": False, "duration_ms": 1}
            result.update(bad)
            if result.get("stdout") is None:
                del result["stdout"]
            with Fake(reply(200, json.dumps(result).encode())) as f:
                with self.assertRaises(airlock.ProtocolError, msg=str(bad)):
                    sandbox(f).exec(["true"])

    def test_no_answer_times_out(self):
        with Fake(silent) as f:
            t = time.monotonic()
            with self.assertRaisesRegex(airlock.ClientTimeout, "within 0.5 s"):
                client(f, timeout=0.5).health()
            self.assertLess(time.monotonic() - t, 3)
            self.assertIsInstance(airlock.ClientTimeout("x"), TimeoutError)

    def test_not_http(self):
        def answer(seen, conn):
            conn.sendall(b"SSH-2.0-OpenSSH\r\n")
            conn.close()
        with Fake(answer) as f:
            self.assertRaisesRegex(airlock.ProtocolError, "no valid HTTP answer",
                                   client(f).health)

    def test_header_flood(self):
        def answer(seen, conn):
            conn.sendall(b"HTTP/1.1 200 OK\r\n"
                         + b"".join(b"X-%d: y\r\n" % i for i in range(1000)) + b"\r\n{}")
            conn.close()
        with Fake(answer) as f:
            self.assertRaisesRegex(airlock.ProtocolError, "more than 100 headers",
                                   client(f).health)

    def test_endless_header_line(self):
        def answer(seen, conn):
            conn.sendall(b"HTTP/1.1 200 OK\r\nX-Pad: ")
            while True:
                conn.sendall(b"a" * 65536)
        with Fake(answer) as f:
            self.assertRaisesRegex(airlock.ProtocolError, "no valid HTTP answer",
                                   client(f).health)

    def test_error_without_json_body(self):
        with Fake(reply(502, b"Bad Gateway from a proxy", "text/plain")) as f:
            with self.assertRaises(airlock.GuestError) as cm:
                client(f).health()
            self.assertIn("HTTP 502", str(cm.exception))

    def test_huge_error_body_bounded(self):
        with Fake(endless("application/json", b"x" * 65536)) as f:
            # an endless error answer: the status still gives the class
            def answer(seen, conn):
                conn.sendall(b"HTTP/1.1 500 X\r\nContent-Type: application/json\r\n"
                             b"Transfer-Encoding: chunked\r\n\r\n")
                while True:
                    conn.sendall(b"10000\r\n" + b"x" * 65536 + b"\r\n")
            f.answer = answer
            self.assertRaises(airlock.InternalError, client(f).health)

    def test_put_short_file_object(self):
        with Fake(silent) as f:
            t = time.monotonic()
            with self.assertRaisesRegex(ValueError, "3 bytes less than the 10 announced"):
                sandbox(f).files.write("/x", io.BytesIO(b"1234567"), length=10)
            self.assertLess(time.monotonic() - t, 3)

    def test_put_sha_mismatch(self):
        answer = json.dumps({"path": "/x", "bytes": 3, "sha256": "0" * 64}).encode()
        with Fake(reply(201, answer)) as f:
            self.assertRaisesRegex(airlock.ProtocolError, "SHA-256",
                                   sandbox(f).files.write, "/x", b"abc")


class Errors(unittest.TestCase):
    def test_every_code_has_its_class(self):
        for code, cls in airlock.errors.CODES.items():
            with Fake(reply(airlock.errors.status_of(code), error_body(code, "m"))) as f:
                with self.assertRaises(cls) as cm:
                    client(f).health()
                self.assertEqual((cm.exception.code, cm.exception.message), (code, "m"))

    def test_gone_and_route_missing(self):
        cases = ((404, "not_found", "no sandbox %s" % SID, airlock.SandboxNotFound),
                 (404, "not_found", "no such resource", airlock.EndpointNotAvailable),
                 (409, "conflict", "sandbox %s is stopping" % SID, airlock.SandboxStopping),
                 (410, "sandbox_ended", "sandbox x ended: ttl expired", airlock.SandboxEnded))
        for status, code, message, cls in cases:
            with Fake(reply(status, error_body(code, message))) as f:
                with self.assertRaises(cls):
                    sandbox(f).exec(["true"])
        for cls in (airlock.SandboxNotFound, airlock.SandboxStopping, airlock.SandboxEnded):
            self.assertTrue(issubclass(cls, airlock.SandboxGone))
        self.assertTrue(issubclass(airlock.ApiTimeout, airlock.AirlockTimeout))

    def test_failed_destroy_noted_on_the_blocks_error(self):
        with Fake(reply(503, error_body("libvirt_unavailable", "libvirt is away"))) as f:
            with self.assertRaisesRegex(KeyError, "mine") as cm:
                with sandbox(f):
                    raise KeyError("mine")
            self.assertIn("destroying sandbox %s failed: libvirt is away" % SID,
                          " ".join(cm.exception.__notes__))
            self.assertEqual((f.seen[0].method, f.seen[0].target),
                             ("DELETE", "/v1/sandboxes/%s?wait=destroyed" % SID))
            # without an error in the block, the failed destroy is the error
            with self.assertRaises(airlock.Unavailable):
                with sandbox(f):
                    pass

    def test_client_side_checks(self):
        with Fake(reply(200, b"{}")) as f:
            sb = sandbox(f)
            self.assertRaises(TypeError, sb.exec, "echo hi")
            for bad in ("relative", "/a/../b", "/a//b", "/a/./b", "/a\0b", "/" + "a" * 5000):
                self.assertRaises(ValueError, sb.files.read, bad)
            self.assertRaises(ValueError, sb.files.write, "/x", b"", mode="rw")
            self.assertRaises(airlock.PayloadTooLarge, sb.exec, ["cat"], stdin=b"x" * (7 * MIB))
            self.assertEqual(f.seen, [])

    def test_guest_path_encoded(self):
        answer = json.dumps({"path": "/a b/ü", "bytes": 1, "sha256":
                             "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"})
        with Fake(reply(201, answer.encode())) as f:
            sandbox(f).files.write("/a b/ü", b"a", mode=0o600)
            self.assertEqual(f.seen[0].target, "/v1/sandboxes/%s/files/a%%20b/%%C3%%BC?mode=600"
                             % SID)
            self.assertEqual(f.seen[0].headers["content-type"], "application/octet-stream")


def png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))
    raw = b"".join(b"\0" + b"\0\0\0" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2,
                                                              0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


class Display(unittest.TestCase):
    """The requests screenshot() and computer() send, against a scripted server that
    follows issue 12's contract: the client's side only, not a daemon's."""

    def test_screenshot_request(self):
        with Fake(reply(200, png(64, 48), "image/png")) as f:
            shot = sandbox(f).screenshot(width=64, height=48)
            self.assertEqual((shot.width, shot.height), (64, 48))
            self.assertEqual(f.seen[0].target, "/v1/sandboxes/%s/screen?width=64&height=48" % SID)

    def test_screenshot_not_png(self):
        with Fake(reply(200, b"GIF89a....", "image/png")) as f:
            self.assertRaisesRegex(airlock.ProtocolError, "not a PNG", sandbox(f).screenshot)

    def test_computer_request(self):
        with Fake(reply(200, b'{"results":[]}')) as f:
            sandbox(f).computer([{"action": "click", "x": 1, "y": 2}], screenshot=True,
                                scale_to={"width": 1024, "height": 768})
            self.assertEqual(f.seen[0].method, "POST")
            self.assertEqual(f.seen[0].target, "/v1/sandboxes/%s/computer" % SID)
            self.assertEqual(json.loads(f.seen[0].body),
                             {"actions": [{"action": "click", "x": 1, "y": 2}],
                              "screenshot": True, "scale_to": {"width": 1024, "height": 768}})

    def test_route_missing_is_typed(self):
        with Fake(reply(404, error_body("not_found", "no such resource"))) as f:
            with self.assertRaisesRegex(airlock.EndpointNotAvailable, "display support"):
                sandbox(f).screenshot()


class ToolsAnthropic(unittest.TestCase):
    """tools_anthropic() and anthropic_tool_definitions() against a scripted server."""

    BLOCK = {"type": "tool_use", "id": "toolu_1", "name": "bash", "input": {"command": "ls"}}
    RESULT = {"type": "tool_result", "tool_use_id": "toolu_1", "is_error": False,
              "content": [{"type": "text", "text": "x\n"}]}

    def test_one_block_one_result(self):
        with Fake(reply(200, json.dumps(self.RESULT).encode())) as f:
            out = sandbox(f).tools_anthropic(self.BLOCK)
            self.assertEqual(out, self.RESULT)
            self.assertEqual(f.seen[0].method, "POST")
            self.assertEqual(f.seen[0].target, "/v1/sandboxes/%s/tools/anthropic" % SID)
            self.assertEqual(json.loads(f.seen[0].body), self.BLOCK)

    def test_a_list_for_a_list(self):
        with Fake(reply(200, json.dumps([self.RESULT]).encode())) as f:
            self.assertEqual(sandbox(f).tools_anthropic([self.BLOCK]), [self.RESULT])
            self.assertEqual(json.loads(f.seen[0].body), [self.BLOCK])

    def test_wrong_shape_is_a_protocol_error(self):
        with Fake(reply(200, json.dumps([self.RESULT]).encode())) as f:
            self.assertRaisesRegex(airlock.ProtocolError, "not an object",
                                   sandbox(f).tools_anthropic, self.BLOCK)
        with Fake(reply(200, b"42")) as f:
            self.assertRaises(airlock.ProtocolError, sandbox(f).tools_anthropic, [self.BLOCK])

    def test_malformed_block_is_typed(self):
        with Fake(reply(400, error_body("invalid_request", "block 0: input: missing"))) as f:
            self.assertRaisesRegex(airlock.InvalidRequest, "block 0",
                                   sandbox(f).tools_anthropic, [{"type": "tool_use"}])

    def test_definitions_query(self):
        defs = [{"type": "bash_20250124", "name": "bash"}]
        with Fake(reply(200, json.dumps(defs).encode())) as f:
            self.assertEqual(sandbox(f).anthropic_tool_definitions(editor="20250124"), defs)
            self.assertEqual(f.seen[0].target, "/v1/sandboxes/%s/tools/anthropic/definitions"
                             "?editor=20250124" % SID)
        with Fake(reply(200, b'{"not": "a list"}')) as f:
            self.assertRaises(airlock.ProtocolError, sandbox(f).anthropic_tool_definitions)


if __name__ == "__main__":
    unittest.main()
