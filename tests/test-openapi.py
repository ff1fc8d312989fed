#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""docs/openapi.yaml against the server it describes.

1. Every route of `airlockd --print-routes` is in the spec, with its method, and the
   spec has no other.
2. A real airlockd (private config, TCG, a real guest) answers requests of every route
   and of the error kinds; each answer's status must be documented for its route, its
   content type must be the documented one, and its JSON body must validate against the
   documented schema.

Needs python3-yaml and python3-jsonschema (Debian). Run by ctest (label integration).
"""
import argparse
import hashlib
import http.client
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import jsonschema
import yaml

METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


# ---- the spec ----------------------------------------------------------------------------

def load_spec(path):
    with open(path) as f:
        return yaml.safe_load(f)


def spec_routes(spec):
    return {(m.upper(), p) for p, item in spec["paths"].items() for m in item if m in METHODS}


def server_routes(airlockd):
    out = subprocess.run([airlockd, "--print-routes"], check=True, capture_output=True,
                         text=True).stdout
    return {tuple(line.split()[:2]) for line in out.splitlines() if line.strip()}


def to_json_schema(node):
    """OpenAPI 3.0 schema objects into JSON Schema: nullable becomes a null type."""
    if isinstance(node, list):
        return [to_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: to_json_schema(v) for k, v in node.items() if k != "nullable"}
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    return out


class Spec:
    def __init__(self, spec):
        self.spec = spec
        self.root = {"components": to_json_schema(spec["components"])}
        self.resolver = jsonschema.RefResolver.from_schema(self.root)
        self.checked = 0

    def resolve(self, node):
        while "$ref" in node:
            ref = node["$ref"].lstrip("#/").split("/")
            node = self.spec
            for part in ref:
                node = node[part]
        return node

    def validate(self, method, pattern, status, ctype, body):
        op = self.spec["paths"][pattern][method.lower()]
        responses = op["responses"]
        where = "%s %s -> %d" % (method, pattern, status)
        if str(status) not in responses:
            fail("%s: status not documented" % where)
        response = self.resolve(responses[str(status)])
        content = response.get("content")
        if content is None:
            return
        media = (ctype or "").split(";")[0].strip()
        if media not in content:
            fail("%s: content type %r, documented %s" % (where, ctype, list(content)))
        schema = content[media].get("schema", {})
        if media == "application/json":
            self.validate_schema(where, schema, json.loads(body))
        elif media == "application/x-ndjson":
            for line in body.decode().splitlines():
                self.validate_schema(where, schema, json.loads(line))
        self.checked += 1

    def validate_schema(self, where, schema, instance):
        if isinstance(schema, str):
            schema = {"$ref": schema}
        try:
            jsonschema.validate(instance, to_json_schema(schema), resolver=self.resolver,
                                format_checker=jsonschema.FormatChecker())
        except jsonschema.ValidationError as e:
            fail("%s: %s\n%s" % (where, e.message, json.dumps(instance)[:2000]))


# ---- a daemon ----------------------------------------------------------------------------

class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=300):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


class Daemon:
    def __init__(self, airlockd, templates):
        self.dir = tempfile.mkdtemp(prefix="alk-oapi-")
        tag = "oapi-%d" % os.getpid()
        self.state = "/var/lib/airlock-test/" + tag
        self.run = "/run/airlock-test/" + tag
        self.sock = os.path.join(self.dir, "api.sock")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.write_token = "alk_w_" + secrets.token_hex(16)
        self.read_token = "alk_r_" + secrets.token_hex(16)
        tokens = os.path.join(self.dir, "tokens")
        with open(tokens, "w") as f:
            for name, scope, tok in (("w", "write", self.write_token),
                                     ("r", "read", self.read_token)):
                f.write("%s %s %s\n" % (name, scope, hashlib.sha256(tok.encode()).hexdigest()))
        os.chmod(tokens, 0o600)
        conf = os.path.join(self.dir, "airlockd.conf")
        with open(conf, "w") as f:
            f.write("[daemon]\nvirt_type = qemu\nstate_dir = %s\nrun_dir = %s\n"
                    "image_dir = %s\ntemplate_dir = %s\nboot_timeout_s = 240\n"
                    "[api]\nsocket = %s\nsocket_group = root\nlisten = 127.0.0.1:%d\n"
                    "tokens_file = %s\naudit_log = %s/audit.jsonl\naudit_head = %s/audit.head\n"
                    % (self.state, self.run,
                       os.environ.get("ALK_IMAGE_DIR", "/var/lib/airlock/images"), templates,
                       self.sock, self.port, tokens, self.dir, self.dir))
        self.log = open(os.path.join(self.dir, "airlockd.log"), "w")
        self.proc = subprocess.Popen([airlockd, "--config", conf], stdout=self.log,
                                     stderr=subprocess.STDOUT)

    def wait_ready(self):
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                fail("airlockd exited: " + open(self.log.name).read())
            try:
                if self.request("GET", "/v1/health")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        fail("airlockd did not answer")

    def request(self, method, path, body=None, headers=None, tcp=False, token=None):
        conn = (http.client.HTTPConnection("127.0.0.1", self.port, timeout=300) if tcp
                else UnixConnection(self.sock))
        headers = dict(headers or {})
        if token:
            headers["Authorization"] = "Bearer " + token
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
            headers.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=body, headers=headers)
        r = conn.getresponse()
        data = r.read()
        conn.close()
        return r.status, r.getheader("Content-Type"), data, r

    def stop(self):
        if self.proc.poll() is None:
            self.delete_all()
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        self.sweep()

    def delete_all(self):
        try:
            status, _, body, _ = self.request("GET", "/v1/sandboxes")
            for sb in json.loads(body)["sandboxes"]:
                self.request("DELETE", "/v1/sandboxes/%s?wait=destroyed" % sb["id"])
        except Exception as e:  # a dead daemon: the sweep cleans up
            print("stop: %s" % e, file=sys.stderr)

    def sweep(self):
        """Whatever is left of this daemon's: domains on its state dir, dirs."""
        names = subprocess.run(["virsh", "-c", "qemu:///system", "list", "--name"],
                               capture_output=True, text=True).stdout.split()
        for name in names:
            xml = subprocess.run(["virsh", "-c", "qemu:///system", "dumpxml", name],
                                 capture_output=True, text=True).stdout
            if self.state in xml:
                subprocess.run(["virsh", "-c", "qemu:///system", "destroy", name],
                               capture_output=True)
        for d in (self.state, self.run, self.dir):
            shutil.rmtree(d, ignore_errors=True)


# ---- the checks --------------------------------------------------------------------------

def exercise(d, spec):
    def check(method, pattern, path, want=None, **kw):
        status, ctype, body, resp = d.request(method, path, **kw)
        if want is not None and status != want:
            fail("%s %s: %d, wanted %d: %s" % (method, path, status, want, body[:500]))
        spec.validate(method, pattern, status, ctype, body)
        return status, body, resp

    S = "/v1/sandboxes/{id}"
    check("GET", "/v1/health", "/v1/health", 200)
    check("GET", "/v1/images", "/v1/images", 200)
    check("GET", "/v1/profiles", "/v1/profiles", 200)
    check("GET", "/v1/sandboxes", "/v1/sandboxes", 200)
    check("GET", "/metrics", "/metrics", 200)
    # errors
    check("GET", "/v1/health", "/v1/health", 401, tcp=True)
    check("GET", "/v1/health", "/v1/health", 401, tcp=True, token="nope")
    check("POST", "/v1/sandboxes", "/v1/sandboxes", 403, body={}, tcp=True, token=d.read_token)
    check("POST", "/v1/sandboxes", "/v1/sandboxes", 400, body={"cpus": "one"})
    check("POST", "/v1/sandboxes", "/v1/sandboxes", 404, body={"image": "nope"})
    check("POST", "/v1/sandboxes", "/v1/sandboxes", 429, body={"cpus": 64})
    check("POST", "/v1/sandboxes", "/v1/sandboxes", 415, body="{}",
          headers={"Content-Type": "text/plain"})
    check("POST", "/v1/sandboxes", "/v1/sandboxes", 413, body="x" * (9 << 20),
          headers={"Content-Type": "application/json"})
    check("GET", S, "/v1/sandboxes/0123456789ab", 404)
    # MCP (docs/clients/mcp.md): a session, a tool list, the transport's refusals
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                       "clientInfo": {"name": "openapi", "version": "1"}}}
    _, _, resp = check("POST", "/mcp", "/mcp", 200, body=init)
    sid = {"Mcp-Session-Id": resp.getheader("Mcp-Session-Id")}
    check("POST", "/mcp", "/mcp", 200, body={"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
          headers=sid)
    check("POST", "/mcp", "/mcp", 202, headers=sid,
          body={"jsonrpc": "2.0", "method": "notifications/initialized"})
    check("POST", "/mcp", "/mcp", 400, body=[init])
    check("POST", "/mcp", "/mcp", 400, body={"jsonrpc": "2.0", "id": 3, "method": "ping"})
    check("POST", "/mcp", "/mcp", 404, body={"jsonrpc": "2.0", "id": 3, "method": "ping"},
          headers={"Mcp-Session-Id": "0" * 32})
    check("DELETE", "/mcp", "/mcp", 204, headers=sid)
    check("DELETE", "/mcp", "/mcp", 404, headers=sid)
    # any method a path does not list: the MethodNotAllowed response, with Allow
    not_allowed = spec.spec["components"]["responses"]["MethodNotAllowed"]
    for method, path, allow in (("PATCH", "/v1/health", "GET"),
                                ("POST", "/v1/sandboxes/0123456789ab", "GET, DELETE")):
        status, ctype, body, resp = d.request(method, path)
        where = "%s %s" % (method, path)
        if status != 405 or (ctype or "").split(";")[0] != "application/json":
            fail("%s: %d %s" % (where, status, ctype))
        spec.validate_schema(where, not_allowed["content"]["application/json"]["schema"],
                             json.loads(body))
        for name in not_allowed["headers"]:
            if resp.getheader(name) is None:
                fail("%s: no %s header" % (where, name))
        if resp.getheader("Allow") != allow:
            fail("%s: Allow: %s, wanted %s" % (where, resp.getheader("Allow"), allow))
    # heads past their bounds, on any path: UriTooLong, HeadersTooLarge
    for name, path, headers, want in (
            ("UriTooLong", "/v1/health" + "a" * 9000, {}, 414),
            ("UriTooLong", "/v1/health" + "a" * 70000, {}, 414),
            ("HeadersTooLarge", "/v1/health", {"X-Pad-%d" % i: "p" * 4000 for i in range(10)},
             431),
            ("HeadersTooLarge", "/v1/health", {"X-Pad-%d" % i: "p" * 4000 for i in range(20)},
             431)):
        status, ctype, body, _ = d.request("GET", path, headers=headers, tcp=True)
        where = "GET %.40s... (%s)" % (path, name)
        response = spec.spec["components"]["responses"][name]
        if status != want or (ctype or "").split(";")[0] not in response["content"]:
            fail("%s: %d %s" % (where, status, ctype))
        spec.validate_schema(where, response["content"]["application/json"]["schema"],
                             json.loads(body))
    # a sandbox's life
    _, body, resp = check("POST", "/v1/sandboxes", "/v1/sandboxes?wait=ready", 201,
                          body={"labels": {"t": "openapi"}, "ttl_s": 600})
    sid = json.loads(body)["id"]
    if resp.getheader("Location") != "/v1/sandboxes/" + sid:
        fail("Location: %s" % resp.getheader("Location"))
    base = "/v1/sandboxes/" + sid
    check("GET", S, base, 200)
    check("GET", "/v1/sandboxes", "/v1/sandboxes?label=t=openapi", 200)
    E = S + "/exec"
    check("POST", E, base + "/exec", 200, body={"argv": ["/bin/sh", "-c", "echo hi; echo no >&2"]})
    check("POST", E, base + "/exec", 200,
          body={"argv": ["/bin/sh", "-c", "printf '\\377'"], "env": {"A": "b"}, "cwd": "/tmp",
                "timeout_s": 30, "stdin_b64": "aGk="})
    check("POST", E, base + "/exec", 200, body={"argv": ["/bin/sh", "-c", "echo a; exit 2"]},
          headers={"Accept": "application/x-ndjson"})
    check("POST", E, base + "/exec", 400, body={"argv": []})
    check("POST", E, base + "/exec", None, body={"argv": ["/nonexistent"]})
    check("POST", E, base + "/exec", 429, body={"argv": ["/bin/true"], "timeout_s": 7200})
    F = S + "/files/{path}"
    check("PUT", F, base + "/files/tmp/f.txt?mode=0600", 201, body=b"file body",
          headers={"Content-Type": "application/octet-stream"})
    _, body, resp = check("GET", F, base + "/files/tmp/f.txt", 200)
    if body != b"file body" or resp.getheader("X-Airlock-Mode") != "0600":
        fail("GET file: %r %s" % (body, resp.getheader("X-Airlock-Mode")))
    check("GET", F, base + "/files/tmp/missing", 404)
    check("GET", F, base + "/files/tmp/../etc/passwd".replace("/../", "/%2e%2e/"), 400)
    check("PUT", F, base + "/files/nodir/x", 400, body=b"x",
          headers={"Content-Type": "application/octet-stream"})
    check("POST", S + "/ttl", base + "/ttl", 200, body={"ttl_s": 120})
    check("POST", S + "/ttl", base + "/ttl", 429, body={"ttl_s": 10 ** 9})
    check("GET", S + "/console", base + "/console", 200)
    N = S + "/network"
    # the sandbox has mode none: its network cannot be changed
    check("PUT", N, base + "/network", 409, body={"allow": ["pypi.org:443"]})
    check("PUT", N, base + "/network", 400, body={})
    check("PUT", N, base + "/network", 400, body={"allow": "pypi.org"})
    check("PUT", N, base + "/network", 400, body={"allow": [], "mode": "allowlist"})
    check("PUT", N, base + "/network", 400, body={"allow": ["a.org"] * 65})
    check("PUT", N, base + "/network", 400, body={"allow": ["a" * 262]})
    check("PUT", N, "/v1/sandboxes/0123456789ab/network", 404, body={"allow": []})
    check("PUT", N, base + "/network", 403, body={"allow": []}, tcp=True, token=d.read_token)
    # screen and input: this sandbox has no display; a second one has
    C = S + "/computer"
    check("GET", S + "/screen", base + "/screen", 409)
    check("POST", C, base + "/computer", 409, body={"actions": [{"action": "key", "keys": "a"}]})
    _, body, _ = check("POST", "/v1/sandboxes", "/v1/sandboxes?wait=ready", 201,
                       body={"display": {"width": 1024, "height": 768}, "ttl_s": 600})
    disp = "/v1/sandboxes/" + json.loads(body)["id"]
    check("GET", S + "/screen", disp + "/screen?width=320", 200)
    check("GET", S + "/screen", disp + "/screen?width=0", 400)
    check("POST", C, disp + "/computer", 200,
          body={"actions": [{"action": "move", "x": 10, "y": 10}, {"action": "cursor_position"},
                            {"action": "screenshot"}],
                "screenshot": True, "scale_to": {"width": 360, "height": 200}})
    check("POST", C, disp + "/computer", 200, body={"actions": [{"action": "wait", "ms": 1}]})
    check("POST", C, disp + "/computer", 400, body={"actions": [{"action": "key", "keys": "?!"}]})
    check("POST", C, disp + "/computer", 403, body={"actions": []}, tcp=True, token=d.read_token)
    O = S + "/tools/openai"
    call = {"type": "computer_call", "call_id": "call_1", "action": {"type": "move", "x": 5, "y": 5}}
    check("POST", O, disp + "/tools/openai", 200, body=call)
    check("POST", O, disp + "/tools/openai?width=640&height=480", 200,
          body={**call, "pending_safety_checks": [{"id": "sc", "code": "c", "message": "m"}],
                "acknowledged_safety_checks": [{"id": "sc", "code": "c", "message": "m"}]})
    check("POST", O, disp + "/tools/openai", 409,
          body={**call, "pending_safety_checks": [{"id": "sc", "code": "c", "message": "m"}]})
    check("POST", O, disp + "/tools/openai", 400, body={**call, "action": {"type": "fly"}})
    check("POST", O, base + "/tools/openai", 409, body=call)
    check("POST", O, "/v1/sandboxes/0123456789ab/tools/openai", 404, body=call)
    check("POST", O, disp + "/tools/openai", 403, body=call, tcp=True, token=d.read_token)
    check("DELETE", S, disp, 202)
    check("DELETE", S, base, 202)
    check("POST", E, base + "/exec", None, body={"argv": ["/bin/true"]})
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        status, _, _, _ = d.request("GET", base)
        if status == 404:
            break
        time.sleep(0.2)
    check("DELETE", S, base, 404)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--airlockd", required=True)
    ap.add_argument("--spec", required=True)
    ap.add_argument("--templates", required=True)
    ap.add_argument("--routes-only", action="store_true")
    args = ap.parse_args()

    spec = load_spec(args.spec)
    ours, theirs = server_routes(args.airlockd), spec_routes(spec)
    if ours != theirs:
        fail("routes differ: only in the server %s, only in the spec %s"
             % (sorted(ours - theirs), sorted(theirs - ours)))
    print("routes: %d, the same in the server and the spec" % len(ours))
    if args.routes_only:
        return
    checker = Spec(spec)
    d = Daemon(args.airlockd, os.path.abspath(args.templates))
    try:
        d.wait_ready()
        exercise(d, checker)
    finally:
        d.stop()
    print("answers: %d validated against the spec" % checker.checked)


if __name__ == "__main__":
    main()
