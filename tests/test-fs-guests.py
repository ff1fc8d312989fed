#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A sandbox's filesystem layout (root, workspace_mib, readonly_paths),
asserted from inside real guests of the minimal image ($ALK_IMAGE_DIR,
default /var/lib/airlock/images) through the CLI and the REST API of an
airlockd of this test's own.

  test-fs-guests.py --build DIR CASE
    readonly  a read-only root refuses `touch /usr/x` (EROFS) even for root,
              while /workspace (its own disk, owned by the image's default
              user) and /tmp work; the tmpfs cap holds (dd past it: ENOSPC);
              a read-only path refuses a non-root write (and root can undo
              the bind: it binds non-root users only)
    writable  the default profile keeps a writable root and no workspace
    failure   a read-only path that does not exist fails the create, saying so
    hostile   bad root, workspace_mib and readonly_paths are refused (400, 429)
"""
import argparse
import http.client
import importlib.util
import json
import os
import socket
import sys

ARGS = None
HERE = os.path.dirname(os.path.abspath(__file__))

# what a production-like profile gives, with root execs allowed so that
# the minimal image (whose default user is root) can be tested at all
PROFILE = """
[profile:fsro]
allow_root = true
root = readonly
workspace_mib = 64
max_workspace_mib = 128
tmpfs_mib = 16
"""


def load_guests():
    spec = importlib.util.spec_from_file_location("image_guests",
                                                  os.path.join(HERE, "test-image-guests.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.ARGS = ARGS
    return mod


G = None


class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=300)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(300)
        self.sock.connect(self.path)


def post(d, path, body):
    c = UnixHTTP(d.sock)
    c.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, json.loads(data) if data else None


def create(d, *args, ok=True):
    p = G.run(d.cli("create", "--image", "minimal", *args), ok=ok)
    return p if not ok else p.stdout.strip().split()[-1]


def sh(d, sid, cmd, user=None, ok=True):
    argv = ["exec"] + (["--user", user] if user else []) + [sid, "--", "/bin/sh", "-c", cmd]
    p = G.run(d.cli(*argv), ok=False)
    if ok and p.returncode != 0:
        G.fail("exec %r in %s exited %d: %s%s" % (cmd, sid, p.returncode, p.stdout, p.stderr))
    return p


def refused(d, sid, cmd, text, user=None):
    p = sh(d, sid, cmd, user=user, ok=False)
    G.check(p.returncode != 0 and text in p.stderr,
            "%r should fail with %r, got %d: %s%s" % (cmd, text, p.returncode, p.stdout,
                                                      p.stderr))


def df_mib(d, sid, path):
    out = sh(d, sid, "df -m %s | tail -n 1" % path).stdout.split()
    return int(out[1])


def case_readonly(d):
    sid = create(d, "--profile", "fsro", "--readonly-path", "/var/tmp")
    limits = json.loads(G.run(d.cli("--json", "inspect", sid)).stdout)["limits"]
    G.check(limits["root"] == "readonly" and limits["workspace_mib"] == 64,
            "limits: %s" % limits)
    # the root: read-only even for root, from the kernel's own mount
    refused(d, sid, "touch /usr/x", "Read-only file system")
    refused(d, sid, "touch /etc/x", "Read-only file system")
    G.check(" / " in sh(d, sid, "grep ' / ' /proc/mounts").stdout and
            " ro" in sh(d, sid, "grep ' / ' /proc/mounts").stdout, "/ is not mounted ro")
    # the workspace: its own disk, ext4, writable, the default user's (root here)
    sh(d, sid, "echo hello > /workspace/f && test \"$(cat /workspace/f)\" = hello")
    G.check(sh(d, sid, "stat -c %u:%g /workspace").stdout.strip() == "0:0",
            "/workspace is not root's, the minimal image's default user")
    G.check(" /workspace ext4 " in sh(d, sid, "cat /proc/mounts").stdout, "no ext4 /workspace")
    size = df_mib(d, sid, "/workspace")
    G.check(40 <= size <= 64, "/workspace is %d MiB, asked 64" % size)
    # /tmp: a tmpfs of 16 MiB: writable, and full past its cap
    sh(d, sid, "echo x > /tmp/f")
    G.check(df_mib(d, sid, "/tmp") == 16, "/tmp is not 16 MiB")
    refused(d, sid, "dd if=/dev/zero of=/tmp/big bs=1M count=32", "No space left on device")
    sh(d, sid, "rm /tmp/big")
    # /run too
    G.check(df_mib(d, sid, "/run") == 16, "/run is not 16 MiB")
    # a read-only path: refused for a user who could write there before
    sh(d, sid, "echo ok > /tmp/u", user="1000:1000")
    refused(d, sid, "touch /var/tmp/u", "Read-only file system", user="1000:1000")
    # root can undo the bind (documented: it binds non-root users)
    sh(d, sid, "umount /var/tmp && touch /var/tmp/root-again")
    d.rm(sid)


def case_writable(d):
    sid = create(d)
    limits = json.loads(G.run(d.cli("--json", "inspect", sid)).stdout)["limits"]
    G.check(limits["root"] == "writable" and limits["workspace_mib"] == 0, "limits: %s" % limits)
    sh(d, sid, "touch /usr/x")
    G.check("/workspace" not in sh(d, sid, "cat /proc/mounts").stdout, "a workspace appeared")
    d.rm(sid)
    # a writable profile may still be asked for a read-only root
    sid = create(d, "--root", "readonly")
    refused(d, sid, "touch /usr/x", "Read-only file system")
    d.rm(sid)


def case_failure(d):
    p = create(d, "--readonly-path", "/no/such/dir", ok=False)
    G.check(p.returncode != 0 and "binding /no/such/dir" in p.stderr,
            "create should fail naming the path: %s%s" % (p.stdout, p.stderr))


def case_hostile(d):
    bad = [
        ({"readonly_paths": ["../etc"]}, 400),
        ({"readonly_paths": ["etc"]}, 400),
        ({"readonly_paths": ["/"]}, 400),
        ({"readonly_paths": ["/proc/sys"]}, 400),
        ({"readonly_paths": ["/sys"]}, 400),
        ({"readonly_paths": ["/dev/shm"]}, 400),
        ({"readonly_paths": ["/a/../b"]}, 400),
        ({"readonly_paths": ["/a//b"]}, 400),
        ({"readonly_paths": ["/a/"]}, 400),
        ({"readonly_paths": ["/" + "a" * 300]}, 400),
        ({"readonly_paths": ["/x%d" % i for i in range(17)]}, 400),
        ({"readonly_paths": "/etc"}, 400),
        ({"root": "bogus"}, 400),
        ({"root": 1}, 400),
        ({"workspace_mib": -1}, 400),
        ({"workspace_mib": "64"}, 400),
        ({"workspace_mib": 2}, 400),
        ({"workspace_mib": 10 ** 12}, 429),
        ({"profile": "fsro", "workspace_mib": 129}, 429),
        ({"profile": "fsro", "root": "writable"}, 429),
    ]
    for body, want in bad:
        body.setdefault("image", "minimal")
        status, answer = post(d, "/v1/sandboxes", body)
        G.check(status == want, "%s: %d %s, wanted %d" % (body, status, answer, want))
        G.check(answer and answer.get("error", {}).get("message"), "%s: no message" % body)
    G.check(json.loads(G.run(d.cli("--json", "ls")).stdout)["sandboxes"] == [],
            "a refused create left a sandbox")


def main():
    global ARGS, G
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--source", default=os.path.dirname(HERE))
    ap.add_argument("case", choices=["readonly", "writable", "failure", "hostile"])
    ARGS = ap.parse_args()
    ARGS.build = os.path.abspath(ARGS.build)
    if os.geteuid() != 0:
        print("skipped: needs root")
        sys.exit(77)
    G = load_guests()
    image_dir = os.environ.get("ALK_IMAGE_DIR", "/var/lib/airlock/images")
    if not os.path.isdir(os.path.join(image_dir, "minimal")):
        print("skipped: no minimal image in %s" % image_dir)
        sys.exit(77)
    d = G.Daemon(image_dir, extra=PROFILE)
    try:
        globals()["case_" + ARGS.case](d)
    finally:
        d.stop()


if __name__ == "__main__":
    main()
