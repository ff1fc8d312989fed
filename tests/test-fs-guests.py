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
    owner     an OCI image whose user is app (uid 1234): /workspace is app's and
              app can write it; a read-only root and a read-only /srv (app's own
              directory) refuse app's writes
    volumes   through the CLI: a volume written by one sandbox is read by the next;
              a read-only attachment cannot be written even by root (EROFS, the
              block device read-only for QEMU); a second writer, or a writer
              while a reader holds it, gets 409; rm of an attached volume 409;
              hostile names, sizes and attachments 400/404/429
"""
import argparse
import http.client
import importlib.util
import json
import os
import shutil
import socket
import sys
import tempfile

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


def get(d, path):
    c = UnixHTTP(d.sock)
    c.request("GET", path)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, json.loads(data) if data else None


def post(d, path, body, method="POST"):
    c = UnixHTTP(d.sock)
    c.request(method, path, json.dumps(body), {"Content-Type": "application/json"})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, json.loads(data) if data else None


def create(d, *args, ok=True, image="minimal"):
    p = G.run(d.cli("create", "--image", image, *args), ok=ok)
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


def case_owner(d):
    sid = create(d, "--root", "readonly", "--workspace", "32", "--readonly-path", "/srv",
                 image="app")
    G.check(sh(d, sid, "id -u").stdout.strip() == "1234", "execs do not run as app")
    G.check(sh(d, sid, "stat -c %u:%g /workspace").stdout.strip() == "1234:1234",
            "/workspace is not the default user's")
    sh(d, sid, "echo mine > /workspace/f && test -O /workspace/f")
    refused(d, sid, "touch /srv/x", "Read-only file system")
    refused(d, sid, "touch /bin/x", "Read-only file system")
    sh(d, sid, "echo t > /tmp/t")
    d.rm(sid)


def holders(d, name):
    status, v = get(d, "/v1/volumes/" + name)
    G.check(status == 200, "GET volume %s: %d %s" % (name, status, v))
    return v["writable_by"], v["readonly_by"]


def case_volumes(d):
    G.run(d.cli("volume", "create", "data", "--size", "64"))
    ls = json.loads(G.run(d.cli("--json", "volume", "ls")).stdout)["volumes"]
    G.check([v["name"] for v in ls] == ["data"] and ls[0]["size_mib"] == 64, "ls: %s" % ls)
    G.check("data" in G.run(d.cli("volume", "ls")).stdout, "volume ls lacks data")
    p = G.run(d.cli("volume", "create", "data", "--size", "64"), ok=False)
    G.check(p.returncode != 0 and "exists" in p.stderr, "a second create: %s" % p.stderr)
    # one sandbox writes it
    a = create(d, "--volume", "data:/data:rw")
    G.check(holders(d, "data") == ([a], []), "holders: %s" % (holders(d, "data"),))
    sh(d, a, "echo hello > /data/f && sync")
    G.check(" /data ext4 rw" in sh(d, a, "cat /proc/mounts").stdout, "/data not rw ext4")
    # while it holds it: no second writer, no reader (409), no rm (409)
    for ro in (False, True):
        status, answer = post(d, "/v1/sandboxes", {"image": "minimal", "volumes": [
            {"name": "data", "path": "/data", "readonly": ro}]})
        G.check(status == 409 and "attached writable to sandbox " + a in
                answer["error"]["message"], "readonly=%s beside a writer: %d %s" %
                (ro, status, answer))
    p = G.run(d.cli("volume", "rm", "data"), ok=False)
    G.check(p.returncode != 0 and "attached" in p.stderr, "rm while attached: %s" % p.stderr)
    # why a reader beside a writer is refused: QEMU's image locking would refuse it too
    qcow2 = os.path.join(d.dir, "state", "volumes", "data.qcow2")
    p = G.run(["qemu-io", "-r", "-c", "read 0 512", qcow2], ok=False)
    G.check(p.returncode != 0 and 'Failed to get shared "write" lock' in p.stderr + p.stdout,
            "a read-only opener beside the writer: %s%s" % (p.stdout, p.stderr))
    d.rm(a)
    G.wait_for(lambda: holders(d, "data") == ([], []), "data released by " + a)
    # the next reads it, read-only even for root: the block device refuses
    b = create(d, "--volume", "data:/data")
    c = create(d, "--volume", "data:/srv/data:ro")
    G.check(holders(d, "data") == ([], sorted([b, c])) or
            sorted(holders(d, "data")[1]) == sorted([b, c]), "two readers")
    G.check(sh(d, b, "cat /data/f").stdout == "hello\n", "b cannot read what a wrote")
    G.check(sh(d, c, "cat /srv/data/f").stdout == "hello\n", "c cannot read what a wrote")
    refused(d, b, "touch /data/x", "Read-only file system")
    refused(d, b, "mount -o remount,rw /data", "")
    p = sh(d, b, "dev=$(awk '$2 == \"/data\" {print $1}' /proc/mounts); "
           "dd if=/dev/zero of=$dev bs=512 count=1 conv=notrunc", ok=False)
    G.check(p.returncode != 0, "root wrote the read-only volume's device: %s" % p.stdout)
    G.check(sh(d, c, "cat /srv/data/f").stdout == "hello\n", "the volume changed")
    status, answer = post(d, "/v1/sandboxes", {"image": "minimal", "volumes": [
        {"name": "data", "path": "/data", "readonly": False}]})
    G.check(status == 409 and "read-only" in answer["error"]["message"],
            "a writer beside readers: %d %s" % (status, answer))
    d.rm(b)
    d.rm(c)
    G.wait_for(lambda: holders(d, "data") == ([], []), "data released")
    G.run(d.cli("volume", "rm", "data"))
    G.check(json.loads(G.run(d.cli("--json", "volume", "ls")).stdout)["volumes"] == [],
            "the volume is still listed")
    # hostile input
    for body, want in [({"name": "../x", "size_mib": 64}, 400), ({"name": "A", "size_mib": 64}, 400),
                       ({"name": "", "size_mib": 64}, 400), ({"name": "x" * 33, "size_mib": 64}, 400),
                       ({"name": "x", "size_mib": 0}, 400), ({"name": "x", "size_mib": 2 ** 40}, 400),
                       ({"name": "x"}, 400), ({"name": "x", "size_mib": "64"}, 400),
                       ({"name": "x", "size_mib": 64, "extra": 1}, 400)]:
        status, answer = post(d, "/v1/volumes", body)
        G.check(status == want, "volume %s: %d %s" % (body, status, answer))
    G.run(d.cli("volume", "create", "v2", "--size", "16"))
    vol = lambda **kw: dict({"name": "v2", "path": "/v"}, **kw)
    for vols, want, profile in [
            ([vol(name="../v2")], 400, None), ([vol(path="v")], 400, None),
            ([vol(path="/proc/v")], 400, None), ([vol(path="/")], 400, None),
            ([vol(path="/a/../v")], 400, None), ([vol(), vol()], 400, None),
            ([vol(path="/v%d" % i) for i in range(9)], 400, None),
            ([vol(name="nosuch")], 404, None), ([vol(readonly=False)], 429, "production"),
            ([vol(readonly="yes")], 400, None), ("v2", 400, None)]:
        body = {"image": "minimal", "volumes": vols}
        if profile:
            body["profile"] = profile
        status, answer = post(d, "/v1/sandboxes", body)
        G.check(status == want, "volumes %s: %d %s" % (vols, status, answer))
    status, _ = post(d, "/v1/volumes/v2", {}, method="DELETE")
    G.check(status == 200, "DELETE v2: %d" % status)
    status, _ = get(d, "/v1/volumes/v2")
    G.check(status == 404, "v2 still there")


def main():
    global ARGS, G
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--source", default=os.path.dirname(HERE))
    ap.add_argument("case",
                    choices=["readonly", "writable", "failure", "hostile", "volumes", "owner"])
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
    own = None
    if ARGS.case == "owner":
        # an image of our own, beside nothing else: an OCI import (its user: app)
        own = tempfile.mkdtemp(prefix="alk-fsimg-")
        os.chmod(own, 0o755)
        work = tempfile.mkdtemp(prefix="alk-fswork-")
        try:
            G.good_layout(os.path.join(work, "layout"))
            G.builder(own, "import", "app", os.path.join(work, "layout"))
        finally:
            shutil.rmtree(work, ignore_errors=True)
        image_dir = own
    d = G.Daemon(image_dir, extra=PROFILE)
    try:
        globals()["case_" + ARGS.case](d)
    finally:
        d.stop()
        if own is not None:
            shutil.rmtree(own, ignore_errors=True)


if __name__ == "__main__":
    main()
