# SPDX-License-Identifier: LGPL-2.1-or-later
"""A private airlockd for the client's tests, as tests/alk-test-daemon.c makes one: its
own config, state and run dirs, TCG, its socket in a temp dir, TCP on 127.0.0.1 with a
free port and a tokens file with a write and a read token; stopped with everything it
made removed (sandboxes, leftover domains, dirs).

$ALK_AIRLOCKD is the daemon binary (ctest passes the build's), $ALK_TEMPLATE_DIR its
XML templates (default: the checkout's), $ALK_IMAGE_DIR the images
(default /var/lib/airlock/images)."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.abspath(os.path.join(HERE, "..", "..", ".."))


# A GLib critical or a sanitizer report in the daemon's log fails the run
# (as tests/alk-test-daemon.c does).
PROBLEM_SIGNS = ("Sanitizer", "runtime error:", "CRITICAL **")


class _Unix(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)


class Daemon:
    def __init__(self, extra: str = ""):
        self.airlockd = os.environ.get("ALK_AIRLOCKD") or os.path.join(
            TOP, "build", "daemon", "airlockd")
        templates = os.environ.get("ALK_TEMPLATE_DIR") or os.path.join(TOP, "xml-templates")
        images = os.environ.get("ALK_IMAGE_DIR") or "/var/lib/airlock/images"
        self.dir = tempfile.mkdtemp(prefix="alk-py-")
        tag = "py-%d" % os.getpid()
        self.state = "/var/lib/airlock-test/" + tag
        self.run = "/run/airlock-test/" + tag
        self.socket_path = os.path.join(self.dir, "api.sock")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self.write_token = "alk_py_w_" + secrets.token_hex(16)
        self.read_token = "alk_py_r_" + secrets.token_hex(16)
        tokens = os.path.join(self.dir, "tokens")
        with open(tokens, "w") as f:
            for name, scope, tok in (("pyw", "write", self.write_token),
                                     ("pyr", "read", self.read_token)):
                f.write("%s %s %s\n" % (name, scope, hashlib.sha256(tok.encode()).hexdigest()))
        os.chmod(tokens, 0o600)
        self.config = os.path.join(self.dir, "airlockd.conf")
        with open(self.config, "w") as f:
            f.write("[daemon]\nvirt_type = qemu\nstate_dir = %s\nrun_dir = %s\n"
                    "image_dir = %s\ntemplate_dir = %s\nboot_timeout_s = 240\n"
                    "[api]\nsocket = %s\nsocket_group = root\nlisten = 127.0.0.1:%d\n"
                    "tokens_file = %s\naudit_log = %s/audit.jsonl\n"
                    "audit_head = %s/audit.head\n%s\n"
                    % (self.state, self.run, images, templates, self.socket_path, self.port,
                       tokens, self.dir, self.dir, extra))
        self.log_path = os.path.join(self.dir, "airlockd.log")
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen([self.airlockd, "--config", self.config],
                                     stdout=self._log, stderr=subprocess.STDOUT)
        try:
            self._wait_healthy(90)
        except BaseException:
            self.stop()
            raise

    def log(self) -> str:
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def request(self, method: str, path: str, body: object = None, timeout: float = 300):
        """A raw request on the socket: the tests' own view, not the client's."""
        conn = _Unix(self.socket_path, timeout)
        headers = {}
        data = None
        if body is not None:
            data = json.dumps(body)
            headers["Content-Type"] = "application/json"
        try:
            conn.request(method, path, body=data, headers=headers)
            r = conn.getresponse()
            return r.status, r.read()
        finally:
            conn.close()

    def _wait_healthy(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("airlockd exited: " + self.log())
            try:
                if self.request("GET", "/v1/health", timeout=5)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("airlockd did not answer in %d s" % seconds)

    def sandbox_ids(self) -> list[str]:
        status, body = self.request("GET", "/v1/sandboxes")
        if status != 200:
            raise RuntimeError("GET /v1/sandboxes: %d %r" % (status, body[:200]))
        return [sb["id"] for sb in json.loads(body)["sandboxes"]]

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                for sid in self.sandbox_ids():
                    self.request("DELETE", "/v1/sandboxes/%s?wait=destroyed" % sid)
            except Exception as e:  # a dead daemon: the sweep below cleans up
                print("test daemon: deleting sandboxes: %s" % e)
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        self._sweep()
        problems = [s for s in PROBLEM_SIGNS if s in self._final_log]
        if problems:
            raise RuntimeError("airlockd reported %s:\n%s" % (problems, self._final_log))

    def _sweep(self) -> None:
        """Domains whose disks lie under this daemon's state dir, whatever happened."""
        virsh = ["virsh", "-q", "-c", "qemu:///system"]
        names = subprocess.run(virsh + ["list", "--name"], capture_output=True,
                               text=True).stdout.split()
        for name in names:
            xml = subprocess.run(virsh + ["dumpxml", name], capture_output=True,
                                 text=True).stdout
            if self.state in xml:
                print("test daemon: destroying leftover domain %s" % name)
                subprocess.run(virsh + ["destroy", name], capture_output=True)
        self._final_log = self.log()
        keep = os.environ.get("ALK_TEST_KEEP_LOGS")
        for d in (self.state, self.run) + (() if keep else (self.dir,)):
            shutil.rmtree(d, ignore_errors=True)
