#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Images built by images/airlock-image, booted by a real airlockd (TCG) and
asserted from inside the guest through the CLI.

  test-image-guests.py --build DIR CASE
    oci      an OCI layout this test writes (layers with a whiteout, an opaque
             directory, a hard link, a symlink, a setuid file, a device node, an
             xattr, owners, Env, Cmd, WorkingDir and User) imports, as an
             oci-archive, a docker-archive and a layout dir; boots with exactly
             those files; GET /v1/images shows its source and exec defaults
    hostile  bad archives are refused with nothing left behind, and nothing is
             ever written outside the image's root
    rebuild  rebuilding an image while a sandbox of it runs leaves that sandbox
             working; its old build goes once the sandbox ends
    debian   a Debian image with python3 and ca-certificates boots, runs
             python3 -c 'print(6*7)'; its default user is agent (uid 1000)

Images go into a fresh temp dir, removed after (never $ALK_IMAGE_DIR); the
debian case keeps its image in $ALK_IMAGE_CACHE (default
/var/cache/airlock/test-images) so that a rerun is airlock-image's quick no-op.
"""
import argparse
import gzip
import hashlib
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time

ARGS = None


def fail(msg):
    sys.stderr.write("FAIL: %s\n" % msg)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def run(argv, ok=True, **kw):
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)
    if ok and p.returncode != 0:
        fail("%s exited %d:\n%s%s" % (" ".join(argv), p.returncode, p.stdout, p.stderr))
    return p


# --- the builder --------------------------------------------------------------

def builder(image_dir, *args, ok=True):
    tool = os.path.join(ARGS.source, "images", "airlock-image")
    agent = os.path.join(ARGS.build, "agent", "airlock-agent")
    argv = [tool, "--image-dir", image_dir] + list(args)
    if args[0] in ("build", "import"):
        argv += ["--agent", agent]
    return run(argv, ok=ok)


# --- OCI layouts, written here with tarfile/json/hashlib ------------------------

class Layout:
    def __init__(self, path):
        self.path = path
        os.makedirs(os.path.join(path, "blobs", "sha256"))
        with open(os.path.join(path, "oci-layout"), "w") as f:
            json.dump({"imageLayoutVersion": "1.0.0"}, f)

    def blob(self, data, lie=False):
        d = hashlib.sha256(data).hexdigest()
        if lie:
            d = hashlib.sha256(data + b"lie").hexdigest()
        with open(os.path.join(self.path, "blobs", "sha256", d), "wb") as f:
            f.write(data)
        return "sha256:" + d, len(data)

    def finish(self, layers, config, lie_layer=None, gz=True, media=None):
        descs, diff_ids = [], []
        for i, tar in enumerate(layers):
            diff_ids.append("sha256:" + hashlib.sha256(tar).hexdigest())
            data = gzip.compress(tar, mtime=0) if gz else tar
            d, n = self.blob(data, lie=(i == lie_layer))
            mt = media or ("application/vnd.oci.image.layer.v1.tar+gzip" if gz
                           else "application/vnd.oci.image.layer.v1.tar")
            descs.append({"mediaType": mt, "digest": d, "size": n})
        cfg = {"architecture": "amd64", "os": "linux", "config": config,
               "rootfs": {"type": "layers", "diff_ids": diff_ids}, "history": []}
        cd, cn = self.blob(json.dumps(cfg).encode())
        man = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
               "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                          "digest": cd, "size": cn},
               "layers": descs}
        md, mn = self.blob(json.dumps(man).encode())
        idx = {"schemaVersion": 2, "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": mn,
            "annotations": {"org.opencontainers.image.ref.name": "latest"}}]}
        with open(os.path.join(self.path, "index.json"), "w") as f:
            json.dump(idx, f)
        return md


def tar_of(entries):
    """entries: (name, kind, extra) with kind file|dir|link|hard; extra: data,
    target or a dict of TarInfo attributes."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for e in entries:
            name, kind = e[0], e[1]
            attrs = e[3] if len(e) > 3 else {}
            ti = tarfile.TarInfo(name)
            ti.mtime = 1700000000
            ti.mode = attrs.get("mode", 0o755 if kind == "dir" else 0o644)
            ti.uid = attrs.get("uid", 0)
            ti.gid = attrs.get("gid", 0)
            data = None
            if kind == "file":
                data = e[2]
                ti.size = len(data)
            elif kind == "dir":
                ti.type = tarfile.DIRTYPE
            elif kind == "link":
                ti.type = tarfile.SYMTYPE
                ti.linkname = e[2]
            elif kind == "hard":
                ti.type = tarfile.LNKTYPE
                ti.linkname = e[2]
            elif kind == "chr":
                ti.type = tarfile.CHRTYPE
                ti.devmajor, ti.devminor = e[2]
            if "xattrs" in attrs:
                ti.pax_headers = {"SCHILY.xattr." + k: v for k, v in attrs["xattrs"].items()}
            t.addfile(ti, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def busybox_layer():
    bb = open("/bin/busybox", "rb").read()
    ents = [("bin", "dir", None), ("bin/busybox", "file", bb, {"mode": 0o755})]
    for a in ("sh", "ls", "cat", "stat", "id", "env", "readlink", "echo", "test", "find"):
        ents.append(("bin/" + a, "link", "busybox"))
    ents += [("etc", "dir", None),
             ("etc/passwd", "file", b"root:x:0:0:root:/root:/bin/sh\napp:x:1234:1234::/srv:/bin/sh\n"),
             ("etc/group", "file", b"root:x:0:\napp:x:1234:\n")]
    return tar_of(ents)


GOOD_CONFIG = {"Env": ["PATH=/bin", "GREETING=hello from oci"], "Cmd": ["/bin/sh", "-c", "echo hi"],
               "WorkingDir": "/srv", "User": "app"}


def good_layout(path):
    lay = Layout(path)
    l1 = busybox_layer()
    l2 = tar_of([("srv", "dir", None, {"uid": 1234, "gid": 1234}),
                 ("srv/data.txt", "file", b"layer two\n", {"uid": 1234, "gid": 1234}),
                 ("srv/doomed.txt", "file", b"whiteout me\n"),
                 ("srv/hard.txt", "hard", "srv/data.txt"),
                 ("srv/sym", "link", "data.txt"),
                 ("srv/suid", "file", b"#!/bin/sh\n", {"mode": 0o4755}),
                 ("srv/null", "chr", (1, 3), {"mode": 0o666}),
                 ("srv/tagged", "file", b"x", {"xattrs": {"user.airlock": "tagged"}}),
                 ("opq", "dir", None),
                 ("opq/old.txt", "file", b"old\n")])
    l3 = tar_of([("srv/.wh.doomed.txt", "file", b""),
                 ("srv/three.txt", "file", b"layer three\n"),
                 ("opq", "dir", None),
                 ("opq/.wh..wh..opq", "file", b""),
                 ("opq/new.txt", "file", b"new\n")])
    return lay.finish([l1, l2, l3], GOOD_CONFIG)


def archive_of(layout, out):
    with tarfile.open(out, "w") as t:
        for name in sorted(os.listdir(layout)):
            t.add(os.path.join(layout, name), arcname=name)


# --- a daemon of our own ---------------------------------------------------------

class Daemon:
    def __init__(self, image_dir, extra=""):
        """extra: more of airlockd.conf (profiles, say), after [api]."""
        self.dir = tempfile.mkdtemp(prefix="alk-imgtest-")
        os.chmod(self.dir, 0o755)
        self.sock = os.path.join(self.dir, "api.sock")
        state, rund = os.path.join(self.dir, "state"), os.path.join(self.dir, "run")
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        with open(os.path.join(self.dir, "tokens"), "w") as f:
            pass
        os.chmod(os.path.join(self.dir, "tokens"), 0o600)
        conf = os.path.join(self.dir, "airlockd.conf")
        with open(conf, "w") as f:
            f.write("[daemon]\nvirt_type = qemu\nstate_dir = %s\nrun_dir = %s\nimage_dir = %s\n"
                    "template_dir = %s\nboot_timeout_s = 240\n"
                    "[api]\nsocket = %s\nsocket_group = root\nlisten = 127.0.0.1:%d\n"
                    "tokens_file = %s/tokens\naudit_log = %s/audit.jsonl\n"
                    "audit_head = %s/audit.head\n"
                    % (state, rund, image_dir, os.path.join(ARGS.source, "xml-templates"),
                       self.sock, port, self.dir, self.dir, self.dir))
            f.write(extra)
        self.conf = conf
        self.log = open(os.path.join(self.dir, "airlockd.log"), "a")
        self.start()

    def restart(self):
        """SIGTERM (the sandboxes live on) and the same daemon again: it reconciles."""
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(60)
        self.start()

    def start(self):
        self.proc = subprocess.Popen([os.path.join(ARGS.build, "daemon", "airlockd"),
                                      "--config", self.conf], stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                fail("airlockd exited: %s" % open(self.log.name).read())
            if os.path.exists(self.sock) and run(self.cli("health"), ok=False).returncode == 0:
                return
            time.sleep(0.1)
        fail("airlockd did not answer in 30 s")

    def cli(self, *args):
        return [os.path.join(ARGS.build, "client", "airlock"), "--socket", self.sock] + list(args)

    def create(self, image):
        p = run(self.cli("create", "--image", image, "--disk", "2048"))
        sid = p.stdout.strip().split()[-1]
        return sid

    def wait_ready(self, sid, deadline_s=240):
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            p = run(self.cli("--json", "inspect", sid))
            st = json.loads(p.stdout)["state"]
            if st == "ready":
                return
            if st in ("failed", "destroyed"):
                fail("sandbox %s is %s: %s" % (sid, st, p.stdout))
            time.sleep(0.5)
        fail("sandbox %s not ready after %d s" % (sid, deadline_s))

    def sh(self, sid, cmd, ok=True):
        p = run(self.cli("exec", sid, "--", "/bin/sh", "-c", cmd), ok=False)
        if ok and p.returncode != 0:
            fail("exec %r in %s exited %d: %s%s" % (cmd, sid, p.returncode, p.stdout, p.stderr))
        return p

    def images(self):
        return {i["name"]: i for i in json.loads(run(self.cli("--json", "images")).stdout)["images"]}

    def client_sandbox(self, sid):
        """The sandbox through the Python client (clients/python) on the unix socket."""
        sys.path.insert(0, os.path.join(ARGS.source, "clients", "python"))
        import airlock
        return airlock.Airlock(socket=self.sock).attach(sid)

    def rm(self, sid):
        run(self.cli("rm", "-f", sid))

    def stop(self):
        for s in json.loads(run(self.cli("--json", "ls"), ok=False).stdout or '{"sandboxes":[]}').get(
                "sandboxes", []):
            run(self.cli("rm", "-f", s["id"]), ok=False)
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def wait_for(cond, what, deadline_s=60):
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.2)
    fail("%s: not within %d s" % (what, deadline_s))


# --- cases -----------------------------------------------------------------------

def case_oci(image_dir, work):
    lay = os.path.join(work, "layout")
    digest = good_layout(lay)
    archive = os.path.join(work, "app.tar")
    archive_of(lay, archive)
    builder(image_dir, "import", "app", archive)
    # the same archive again: a quick no-op
    t0 = time.monotonic()
    p = builder(image_dir, "import", "app", archive)
    check("up to date" in p.stderr, "a second import is not a no-op: %s" % p.stderr)
    check(time.monotonic() - t0 < 10, "the no-op took %.1f s" % (time.monotonic() - t0))
    # a layout directory imports as well; a docker-archive via skopeo's own writer
    builder(image_dir, "import", "applayout", lay)
    darch = os.path.join(work, "docker.tar")
    run(["skopeo", "--insecure-policy", "copy", "--quiet", "oci:%s:latest" % lay,
         "docker-archive:%s:app:latest" % darch])
    builder(image_dir, "import", "appdocker", darch)

    xattr = run(["debugfs", "-R", "ea_get /srv/tagged user.airlock", raw_of(image_dir, "app", work)])
    check("tagged" in xattr.stdout, "xattr lost: %r %r" % (xattr.stdout, xattr.stderr))
    d = Daemon(image_dir)
    try:
        imgs = d.images()
        app = imgs["app"]
        check(app["usable"], "app unusable: %s" % app.get("error"))
        check(app["source"] == {"kind": "oci", "reference": "oci-archive:" + archive,
                                "digest": digest}, "source: %r" % app["source"])
        ex = app["exec_defaults"]
        check(ex["env"] == GOOD_CONFIG["Env"] and ex["cwd"] == "/srv" and ex["user"] == "app" and
              ex["argv"] == ["/bin/sh", "-c", "echo hi"], "exec defaults: %r" % ex)
        check(app["default_user"] == "app", "default_user %r" % app["default_user"])
        check(imgs["appdocker"]["usable"] and imgs["applayout"]["usable"], "other imports unusable")
        for image in ("app", "appdocker"):
            sid = d.create(image)
            d.wait_ready(sid)
            out = d.sh(sid, "cd /srv && ls -a | sort | tr '\\n' ' '; echo; "
                       "cat data.txt three.txt; readlink sym; "
                       "stat -c '%i %h %u:%g %a %n' data.txt hard.txt suid; "
                       "stat -c '%F %t,%T %a' null; ls /opq").stdout
            lines = out.splitlines()
            check(lines[0].split() == [".", "..", "data.txt", "hard.txt", "null", "suid", "sym",
                                       "tagged", "three.txt"],
                  "%s: /srv holds %r" % (image, lines[0]))
            check(lines[7:] == ["character special file 1,3 666", "new.txt"],
                  "%s: device node or opaque directory: %r" % (image, lines[7:]))
            check(lines[1:4] == ["layer two", "layer three", "data.txt"], "%s: %r" % (image, lines))
            a, b, s = (l.split() for l in lines[4:7])
            check(a[0] == b[0] and a[1] == "2", "%s: hard link lost: %r %r" % (image, a, b))
            check(a[2] == "1234:1234", "%s: owner lost: %r" % (image, a))
            check(s[3] == "4755", "%s: setuid lost: %r" % (image, s))
            # the config's defaults: no argv runs Cmd; Env, WorkingDir and User apply
            sb = d.client_sandbox(sid)
            res = sb.exec(None)
            check(res.stdout == b"hi\n", "%s: Cmd gave %r" % (image, res))
            res = sb.exec(["/bin/sh", "-c", "echo $GREETING; pwd; id -u"])
            check(res.stdout == b"hello from oci\n/srv\n1234\n",
                  "%s: Env/WorkingDir/User gave %r" % (image, res))
            d.rm(sid)
    finally:
        d.stop()
    print("oci: ok")


def hostile_cases(work):
    """(name, layout path, wanted error text or None for 'resolved inside')."""
    out = []

    def mk(name, layers, cfg=None, **kw):
        p = os.path.join(work, name)
        Layout(p).finish(layers, cfg or {"Cmd": ["/bin/sh"]}, **kw)
        out.append(p)
        return p

    base = busybox_layer()
    mk("dotdot", [base, tar_of([("../../../../../../tmp/%s-dotdot" % TAG, "file", b"x")])])
    mk("absolute", [base, tar_of([("/tmp/%s-absolute" % TAG, "file", b"x")])])
    mk("symlink", [base, tar_of([("escape", "link", "/tmp/%s-dir" % TAG)]),
                   tar_of([("escape/pwned", "file", b"x")])])
    mk("symrel", [base, tar_of([("up", "link", "../../../../../../tmp/%s-dir" % TAG)]),
                  tar_of([("up/pwned2", "file", b"x")])])
    mk("hardlink", [base, tar_of([("stolen", "hard", "../../../../../../etc/hostname")])])
    return out


def raw_of(image_dir, name, work):
    """The image's root as a raw ext4 in work, for debugfs."""
    raw = os.path.join(work, "%s.raw" % name)
    run(["qemu-img", "convert", "-f", "qcow2", "-O", "raw",
         os.path.join(image_dir, name, "current", "rootfs.qcow2"), raw])
    return raw


def image_file(image_dir, name, path):
    """The bytes of path inside an image's root (debugfs on the raw ext4), or None."""
    raw = os.path.join(image_dir, ".raw-%d" % os.getpid())
    try:
        run(["qemu-img", "convert", "-f", "qcow2", "-O", "raw",
             os.path.join(image_dir, name, "current", "rootfs.qcow2"), raw])
        p = subprocess.run(["debugfs", "-R", "cat %s" % path, raw], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE)
        return p.stdout if p.returncode == 0 and b"not found" not in p.stderr else None
    finally:
        if os.path.exists(raw):
            os.unlink(raw)


TAG = "alk-hostile-%d" % os.getpid()


def case_hostile(image_dir, work):
    os.makedirs("/tmp/%s-dir" % TAG)
    outside = ["/tmp/%s-dotdot" % TAG, "/tmp/%s-absolute" % TAG, "/tmp/%s-dir/pwned" % TAG,
               "/tmp/%s-dir/pwned2" % TAG]
    try:
        # path tricks: umoci resolves every path inside the root; nothing outside
        for i, lay in enumerate(hostile_cases(work)):
            name = "h%d" % i
            p = builder(image_dir, "import", name, lay, ok=False)
            for o in outside:
                check(not os.path.lexists(o), "%s wrote %s outside the root" % (lay, o))
            if p.returncode == 0:
                # resolved inside: the file is in the image, not on the host
                check(os.path.islink(os.path.join(image_dir, name, "current")), "no current")
                inside = {"dotdot": "/tmp/%s-dotdot" % TAG, "absolute": "/tmp/%s-absolute" % TAG,
                          "symlink": "/tmp/%s-dir/pwned" % TAG,
                          "symrel": "/tmp/%s-dir/pwned2" % TAG}.get(os.path.basename(lay))
                if inside is not None:
                    check(image_file(image_dir, name, inside) == b"x",
                          "%s: %s is not inside the image" % (lay, inside))
                else:
                    got = image_file(image_dir, name, "/stolen")
                    check(got != open("/etc/hostname", "rb").read(),
                          "%s: the host's /etc/hostname got into the image" % lay)
                print("hostile: %s: resolved inside the root" % os.path.basename(lay))
            else:
                check(not os.path.lexists(os.path.join(image_dir, name)), "%s left files" % lay)
                print("hostile: %s: refused: %s" % (os.path.basename(lay),
                                                   p.stderr.strip().splitlines()[-1]))
        refuse = []
        base = busybox_layer()
        p = os.path.join(work, "big")
        Layout(p).finish([base, tar_of([("big", "file", os.urandom(3 << 20))])], {})
        refuse.append(("big", p, ["--max-layer-mib", "2"], "over the limit"))
        p = os.path.join(work, "bomb")
        Layout(p).finish([base, tar_of([("zeros", "file", bytes(64 << 20))])], {})
        check(os.path.getsize(os.path.join(p, "blobs", "sha256")) >= 0, "")
        refuse.append(("bomb", p, ["--max-layer-mib", "32"], "unpacks to more than 32 MiB"))
        refuse.append(("bombtotal", p, ["--max-total-mib", "40"], "in all"))
        p = os.path.join(work, "liar")
        Layout(p).finish([base, tar_of([("f", "file", b"honest")])], {}, lie_layer=1)
        refuse.append(("liar", p, [], "digest did not match"))
        for name, lay, extra, want in refuse:
            r = builder(image_dir, "import", name, lay, *extra, ok=False)
            check(r.returncode != 0, "%s was accepted" % name)
            check(want.lower() in r.stderr.lower(), "%s: error %r lacks %r" % (name, r.stderr, want))
            top = os.path.join(image_dir, name)
            check(not os.path.lexists(top), "%s left %r behind" % (name, os.listdir(top)
                                                                    if os.path.isdir(top) else top))
        # a failed build over an existing image leaves its current build alone
        good = os.path.join(work, "good")
        good_layout(good)
        builder(image_dir, "import", "keep", good)
        before = os.readlink(os.path.join(image_dir, "keep", "current"))
        r = builder(image_dir, "import", "keep", os.path.join(work, "liar"), ok=False)
        check(r.returncode != 0, "liar accepted over keep")
        check(os.readlink(os.path.join(image_dir, "keep", "current")) == before and
              build_ids(image_dir, "keep") == [before[len("builds/"):]],
              "a failed build changed keep: %r" % build_ids(image_dir, "keep"))
        for bad in ("a/b", "../x", "UPPER", "x" * 33, ""):
            r = builder(image_dir, "import", bad, os.path.join(work, "liar"), ok=False)
            check(r.returncode != 0 and "invalid image name" in r.stderr, "name %r: %s" % (bad, r.stderr))
        check(not os.path.exists(os.path.join(image_dir, "a")), "a/b made a directory")
    finally:
        shutil.rmtree("/tmp/%s-dir" % TAG, ignore_errors=True)
    print("hostile: ok")


def build_ids(image_dir, name):
    return sorted(os.listdir(os.path.join(image_dir, name, "builds")))


def serialised_builds(image_dir):
    """A build of a name another build holds waits for it, then goes on."""
    import fcntl
    import select
    builder(image_dir, "build", "minimal", "twice")
    tool = os.path.join(ARGS.source, "images", "airlock-image")
    agent = os.path.join(ARGS.build, "agent", "airlock-agent")
    with open(os.path.join(image_dir, "twice", ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # as another build would
        p = subprocess.Popen([tool, "--image-dir", image_dir, "build", "minimal", "twice",
                              "--force", "--agent", agent], stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        line = ""
        while "waiting for another build" not in line:
            left = deadline - time.monotonic()
            check(left > 0 and select.select([p.stderr], [], [], left)[0], "the build did not wait")
            line = p.stderr.readline()
            check(line != "", "the build ended instead of waiting")
        check(p.poll() is None, "the build went on while the lock was held")
        before = os.readlink(os.path.join(image_dir, "twice", "current"))
    err = p.communicate(timeout=300)[1]
    check(p.returncode == 0, "the waiting build failed: %s" % err)
    check(os.readlink(os.path.join(image_dir, "twice", "current")) != before, "no new build")
    builder(image_dir, "rm", "twice")


def case_rebuild(image_dir, work):
    serialised_builds(image_dir)
    builder(image_dir, "build", "minimal", "re")
    old = os.readlink(os.path.join(image_dir, "re", "current"))
    d = Daemon(image_dir)
    try:
        sid = d.create("re")
        d.wait_ready(sid)
        d.sh(sid, "echo kept > /root/mine && sync")
        builder(image_dir, "build", "minimal", "re", "--force")
        new = os.readlink(os.path.join(image_dir, "re", "current"))
        check(new != old, "the rebuild did not make a new build")
        check(old[len("builds/"):] in build_ids(image_dir, "re"),
              "the build in use went while its sandbox runs")
        info = json.loads(builder(image_dir, "--json", "inspect", "re").stdout)
        check(info["builds_in_use"] == [old[len("builds/"):]] and info["current"] == new and
              info["build_id"] == new[len("builds/"):], "inspect: %r" % info)
        listed = json.loads(builder(image_dir, "--json", "ls").stdout)["images"]
        check([i["name"] for i in listed] == ["re"], "ls: %r" % listed)
        r = builder(image_dir, "rm", "re", ok=False)
        check(r.returncode == 2 and "in use" in r.stderr, "rm of an image in use: %d %s" %
              (r.returncode, r.stderr))
        out = d.sh(sid, "cat /root/mine; ls /bin/busybox && echo alive").stdout
        check(out.split() == ["kept", "/bin/busybox", "alive"], "old sandbox: %r" % out)
        # A restarted daemon adopts the sandbox, and the sweep after its reconcile
        # keeps that sandbox's build. To see the sweep happen, a third build is made
        # while this test holds the second open (the builder keeps it), then let go.
        held = os.open(os.path.join(image_dir, "re", new, "rootfs.qcow2"), os.O_RDONLY)
        builder(image_dir, "build", "minimal", "re", "--force")
        check(new[len("builds/"):] in build_ids(image_dir, "re"), "a held build went")
        os.close(held)
        second, new = new, os.readlink(os.path.join(image_dir, "re", "current"))
        d.restart()
        wait_for(lambda: second[len("builds/"):] not in build_ids(image_dir, "re"),
                 "the daemon sweeping an unused build after reconcile", 120)
        check(old[len("builds/"):] in build_ids(image_dir, "re"),
              "the sweep removed the build a running sandbox uses")
        d.wait_ready(sid)
        d.sh(sid, "cat /root/mine")
        sid2 = d.create("re")
        d.wait_ready(sid2)
        d.rm(sid)
        wait_for(lambda: build_ids(image_dir, "re") == [new[len("builds/"):]],
                 "the old build going after its sandbox ended")
        d.sh(sid2, "true")
        d.rm(sid2)
        builder(image_dir, "rm", "re")
        check(not os.path.exists(os.path.join(image_dir, "re")), "rm left the image")
    finally:
        d.stop()
    print("rebuild: ok")


def case_debian(image_dir, work):
    cache = os.environ.get("ALK_IMAGE_CACHE", "/var/cache/airlock/test-images")
    os.makedirs(cache, mode=0o755, exist_ok=True)
    t0 = time.monotonic()
    p = builder(cache, "build", "debian", "pytest", "--packages", "python3,ca-certificates")
    took = time.monotonic() - t0
    print("debian: build %s in %.0f s" % ("no-op" if "up to date" in p.stderr else "done", took))
    d = Daemon(cache)
    try:
        img = d.images()["pytest"]
        check(img["usable"], "pytest unusable: %s" % img.get("error"))
        check(img["default_user"] == "agent", "default user %r" % img["default_user"])
        check(img["source"] == {"kind": "debian", "suite": "bookworm",
                                "packages": ["ca-certificates", "python3"]}, "%r" % img["source"])
        print("debian: rootfs %d MiB on disk, %d MiB virtual" %
              (img["rootfs_bytes"] >> 20, img["rootfs_virtual_mib"]))
        t1 = time.monotonic()
        sid = d.create("pytest")
        d.wait_ready(sid)
        print("debian: create to ready in %.1f s" % (time.monotonic() - t1))
        out = d.sh(sid, "python3 -c 'print(6*7)'").stdout
        check(out.strip() == "42", "python3 printed %r" % out)
        out = d.sh(sid, "getent passwd agent; stat -c '%u:%g' /home/agent; "
                   "ls /etc/ssl/certs/ca-certificates.crt").stdout.splitlines()
        check(out[0].startswith("agent:x:1000:1000:") and out[1] == "1000:1000",
              "agent user: %r" % out)
        # an exec runs as the image's default user: in its home, with its HOME
        out = d.sh(sid, "python3 -c 'import os; open(\"mine\", \"w\"); "
                   "print(os.getuid(), os.environ[\"HOME\"], os.getcwd())' && stat -c %U mine"
                   ).stdout
        check(out.split() == ["1000", "/home/agent", "/home/agent", "agent"], "as agent: %r" % out)
        # and as root when asked (the development profile allows it)
        out = run(d.cli("exec", "-u", "root", sid, "--", "id", "-u")).stdout
        check(out.strip() == "0", "as root: %r" % out)
        d.rm(sid)
    finally:
        d.stop()
    print("debian: ok")


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--source", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap.add_argument("case", choices=["oci", "hostile", "rebuild", "debian"])
    ARGS = ap.parse_args()
    ARGS.build = os.path.abspath(ARGS.build)
    if os.geteuid() != 0:
        print("skipped: needs root")
        sys.exit(77)
    # never $ALK_IMAGE_DIR (the suite's shared images): these cases make and remove their own
    own = True
    image_dir = tempfile.mkdtemp(prefix="alk-images-")
    os.chmod(image_dir, 0o755)
    work = tempfile.mkdtemp(prefix="alk-imgwork-")
    try:
        globals()["case_" + ARGS.case](image_dir, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if own:
            shutil.rmtree(image_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
