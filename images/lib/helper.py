#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The parts of airlock-image that are easier said in Python than in bash:
JSON, the host's apt sources, checking an OCI layout, and writing a file inside
a root filesystem without following its symlinks out of it.

  helper.py put ROOT RELPATH SRC MODE
  helper.py sources SUITE                      deb lines of the host's apt for SUITE
  helper.py oci-check LAYOUT REF MAX_LAYER MAX_TOTAL   verify, print the layers
  helper.py oci-config LAYOUT REF              recipe.json members of the image config
  helper.py image-json RECIPE_JSON NAME BUILD_ID STAMP  the final image.json
  helper.py get FILE KEY[.KEY]...              one member, as text ('' when absent)
"""
import glob
import hashlib
import json
import os
import re
import stat
import struct
import subprocess
import sys
import time


def die(msg):
    sys.stderr.write("%s: error: %s\n" % (os.environ.get("PROG", "airlock-image"), msg))
    sys.exit(1)


# --- put: a file inside ROOT, resolving like the kernel would inside a chroot --

def _resolve(root, rel):
    """rel as names under root, resolving symlinks the way the kernel would
    inside a chroot at root: absolute targets restart at root, '..' stops there.
    Names past the last existing one are kept as they are (to be created)."""
    parts, done, links = rel.split("/"), [], 0
    while parts:
        p = parts.pop(0)
        if p in ("", "."):
            continue
        if p == "..":
            if done:
                done.pop()
            continue
        path = os.path.join(root, *done, p)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            done.append(p)
            continue
        if stat.S_ISLNK(st.st_mode) and parts:
            links += 1
            if links > 40:
                die("too many levels of symbolic links inside the image")
            target = os.readlink(path)
            if target.startswith("/"):
                done = []
            parts = target.split("/") + parts
            continue
        done.append(p)
    return done


def cmd_put(root, rel, src, mode):
    root = os.path.realpath(root)
    names = _resolve(root, rel)
    if not names:
        die("'%s' resolves to the image's root" % rel)
    d = root
    for n in names[:-1]:
        d = os.path.join(d, n)
        try:
            os.mkdir(d, 0o755)
        except FileExistsError:
            pass
        st = os.lstat(d)
        if not stat.S_ISDIR(st.st_mode):
            die("'%s' inside the image is not a directory" % os.path.relpath(d, root))
    dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    name = names[-1]
    try:
        if stat.S_ISDIR(os.stat(name, dir_fd=dfd, follow_symlinks=False).st_mode):
            die("'%s' inside the image is a directory" % rel)
        os.unlink(name, dir_fd=dfd)
    except FileNotFoundError:
        pass
    out = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600, dir_fd=dfd)
    with open(src, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            os.write(out, b)
    os.fchown(out, 0, 0)
    os.fchmod(out, int(mode, 8))
    os.close(out)


# --- sources: the host's apt mirror for a suite --------------------------------

def _sources():
    """(uri, suites, components) for every enabled deb source of the host."""
    out = []
    for path in ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*.list")):
        try:
            text = open(path).read()
        except OSError:
            continue
        for line in text.splitlines():
            line = line.split("#", 1)[0].strip()
            m = re.match(r"^deb\s+(\[[^\]]*\]\s+)?(\S+)\s+(\S+)\s+(.*)$", line)
            if m:
                out.append((m.group(2), [m.group(3)], m.group(4).split()))
    for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
        try:
            text = open(path).read()
        except OSError:
            continue
        for stanza in re.split(r"\n\s*\n", text):
            fields = {}
            for line in stanza.splitlines():
                if line.startswith("#") or ":" not in line:
                    continue
                k, v = line.split(":", 1)
                fields[k.strip().lower()] = v.strip()
            if "deb" not in fields.get("types", "").split() or fields.get("enabled", "yes") == "no":
                continue
            for uri in fields.get("uris", "").split():
                out.append((uri, fields.get("suites", "").split(),
                            fields.get("components", "main").split()))
    return out


def cmd_sources(suite):
    lines = []
    for uri, suites, comps in _sources():
        for s in suites:
            if s == suite or s.startswith(suite + "-") or s.startswith(suite + "/"):
                lines.append("deb %s %s %s" % (uri, s, " ".join(comps)))
    if not lines:
        die("the host's apt sources (/etc/apt/sources.list*) have no mirror for suite '%s'" % suite)
    print("\n".join(lines))


# --- OCI layout: digests, sizes, layers ----------------------------------------

def _blob(layout, digest, max_size, what):
    m = re.match(r"^sha256:([0-9a-f]{64})$", digest or "")
    if not m:
        die("%s: unsupported or malformed digest %r" % (what, digest))
    path = os.path.join(layout, "blobs", "sha256", m.group(1))
    try:
        st = os.stat(path, follow_symlinks=False)
    except OSError as e:
        die("%s: blob %s: %s" % (what, digest, e.strerror))
    if not stat.S_ISREG(st.st_mode):
        die("%s: blob %s is not a regular file" % (what, digest))
    if st.st_size > max_size:
        die("%s: %d bytes, over the limit of %d" % (what, st.st_size, max_size))
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            h.update(b)
    if "sha256:" + h.hexdigest() != digest:
        die("%s: content does not match its digest %s (sha256:%s)" % (what, digest, h.hexdigest()))
    return path, st.st_size


def _manifest(layout, ref):
    idx_path = os.path.join(layout, "index.json")
    if os.path.getsize(idx_path) > (1 << 20):
        die("index.json is over 1 MiB")
    idx = json.load(open(idx_path))
    ms = [m for m in idx.get("manifests", [])
          if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == ref]
    if len(ms) != 1:
        die("the layout has %d manifests named '%s', wanted one" % (len(ms), ref))
    desc = ms[0]
    path, size = _blob(layout, desc.get("digest"), 1 << 20, "manifest")
    if desc.get("size") != size:
        die("manifest: size %r in the index, %d on disk" % (desc.get("size"), size))
    return desc["digest"], json.load(open(path))


def cmd_oci_check(layout, ref, max_layer, max_total):
    max_layer, max_total = int(max_layer), int(max_total)
    digest, man = _manifest(layout, ref)
    cfg = man.get("config", {})
    cpath, csize = _blob(layout, cfg.get("digest"), 1 << 20, "config")
    if cfg.get("size") != csize:
        die("config: size %r in the manifest, %d on disk" % (cfg.get("size"), csize))
    total = 0
    for i, layer in enumerate(man.get("layers", [])):
        what = "layer %d" % (i + 1)
        path, size = _blob(layout, layer.get("digest"), max_layer, what)
        if layer.get("size") != size:
            die("%s: size %r in the manifest, %d on disk" % (what, layer.get("size"), size))
        total += size
        if total > max_total:
            die("layers: %d bytes in all, over the limit of %d" % (total, max_total))
        mt = layer.get("mediaType", "")
        if mt.endswith("+gzip") or mt.endswith(".gzip"):
            kind = "gzip"
        elif mt.endswith("+zstd") or mt.endswith(".zstd"):
            kind = "zstd"
        elif mt.endswith(".tar") or mt.endswith("layer.v1.tar") or mt.endswith("diff.tar"):
            kind = "tar"
        else:
            die("%s: unsupported media type %r" % (what, mt))
        print("%s %s" % (kind, path))
    sys.stderr.write("manifest %s\n" % digest)


def cmd_oci_config(layout, ref):
    digest, man = _manifest(layout, ref)
    cpath, _ = _blob(layout, man["config"]["digest"], 1 << 20, "config")
    conf = json.load(open(cpath)).get("config") or {}
    env = [e for e in (conf.get("Env") or []) if isinstance(e, str)]
    argv = [a for a in (conf.get("Entrypoint") or []) + (conf.get("Cmd") or [])
            if isinstance(a, str)]
    user = conf.get("User") or None
    ex = {"env": env, "argv": argv}
    if conf.get("WorkingDir"):
        ex["cwd"] = conf["WorkingDir"]
    if user:
        ex["user"] = user
    out = {"exec": ex, "digest": digest}
    name = (user or "").split(":", 1)[0]
    if name and re.match(r"^[a-z0-9_-]{1,32}$", name):
        out["default_user"] = name
    print(json.dumps(out))


# --- the kernel ----------------------------------------------------------------
# A bzImage's payload is the compressed ELF vmlinux. Debian ships no tool that
# takes it out (the kernel tree's scripts/extract-vmlinux scans for magics), so
# the boot protocol's own header says where it is (payload_offset and
# payload_length, protocol 2.08+) and Debian's decompressors unpack it.

KERNEL_MAX = 512 * 1024 * 1024  # an unpacked vmlinux larger than this is refused
DECOMPRESSORS = [  # magic, command (reads stdin, writes stdout)
    (b"\x1f\x8b", ["gzip", "-dc"]),
    (b"\xfd7zXZ\x00", ["xz", "-dc"]),
    (b"\x02\x21\x4c\x18", ["lz4", "-dc"]),
    (b"\x28\xb5\x2f\xfd", ["zstd", "-qdc"]),
]
XEN_ELFNOTE_PHYS32_ENTRY = 18


def _pvh_entry(elf):
    """Whether ELF (bytes, x86-64) has the PVH entry note QEMU enters by."""
    if len(elf) < 64 or elf[:4] != b"\x7fELF" or elf[4] != 2 or elf[5] != 1:
        return False
    if struct.unpack_from("<H", elf, 0x12)[0] != 62:  # EM_X86_64
        return False
    phoff, = struct.unpack_from("<Q", elf, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", elf, 0x36)
    if phentsize < 56 or phnum > 64 or phoff + phentsize * phnum > len(elf):
        return False
    for i in range(phnum):
        ptype, _, off, _, _, filesz = struct.unpack_from("<IIQQQQ", elf, phoff + i * phentsize)
        if ptype != 4 or off + filesz > len(elf):  # PT_NOTE
            continue
        p, end = off, off + filesz
        while p + 12 <= end:
            namesz, descsz, ntype = struct.unpack_from("<III", elf, p)
            name = elf[p + 12:p + 12 + namesz].rstrip(b"\0")
            if name == b"Xen" and ntype == XEN_ELFNOTE_PHYS32_ENTRY:
                return True
            p += 12 + (namesz + 3) // 4 * 4 + (descsz + 3) // 4 * 4
    return False


def cmd_vmlinux(bzimage, out):
    """Writes the bzImage's ELF vmlinux to OUT when it has a PVH entry;
    exits 3 (and writes nothing) when the kernel cannot be entered so."""
    data = open(bzimage, "rb").read()
    if len(data) < 0x250 or data[0x202:0x206] != b"HdrS":
        die("%s is not a bzImage" % bzimage)
    version, = struct.unpack_from("<H", data, 0x206)
    setup_sects = data[0x1F1] or 4
    off, length = struct.unpack_from("<II", data, 0x248)
    start = (setup_sects + 1) * 512 + off
    if version < 0x208 or length <= 4 or start + length > len(data):
        sys.exit(3)
    # the kernel's build appends the unpacked size (32 bits, little-endian)
    payload = data[start:start + length - 4]
    size, = struct.unpack_from("<I", data, start + length - 4)
    if size > KERNEL_MAX:
        die("the unpacked kernel would be larger than %d MiB" % (KERNEL_MAX >> 20))
    cmd = next((c for m, c in DECOMPRESSORS if payload.startswith(m)), None)
    if cmd is None:
        sys.exit(3)
    try:
        r = subprocess.run(cmd, input=payload, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except FileNotFoundError:
        die("cannot unpack the kernel: %s is not installed" % cmd[0])
    if r.returncode != 0:
        die("cannot unpack the kernel with %s: %s" % (cmd[0], r.stderr.decode(errors="replace")))
    elf = r.stdout
    if len(elf) != size:
        die("the unpacked kernel has %d bytes, its bzImage says %d" % (len(elf), size))
    if not _pvh_entry(elf):
        sys.exit(3)
    with open(out, "wb") as f:
        f.write(elf)


# --- image.json ----------------------------------------------------------------

def cmd_image_json(recipe, name, build_id, stamp):
    r = json.load(open(recipe))
    img = {
        "format_version": 2,
        "name": name,
        "build_id": build_id,
        "arch": "x86_64",
        "kernel": r.get("kernel", "vmlinuz"),
        "initrd": "initrd.img",
        "rootfs": "rootfs.qcow2",
    }
    for k in ("rootfs_virtual_mib", "cmdline", "kernel_version", "agent_version",
              "agent_sha256", "default_user", "source", "exec"):
        if r.get(k) is not None:
            img[k] = r[k]
    img["built_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    img["build_stamp"] = stamp
    _check_limits(img)
    print(json.dumps(img, indent=2))


# What airlockd's loader accepts (daemon/virt/alk-image.c): refuse here what it
# would refuse there, with a message that says which part of the image is too big.
JSON_MAX = 64 * 1024


def _check_limits(img):
    ex = img.get("exec") or {}
    for key in ("env", "argv"):
        items = ex.get(key) or []
        if len(items) > 1024 or any(len(i.encode()) > 32768 for i in items):
            die("the image config's %s is too large (at most 1024 items of 32 KiB)" % key)
    if len((ex.get("cwd") or "").encode()) > 4096 or len((ex.get("user") or "").encode()) > 256:
        die("the image config's WorkingDir or User is too long")
    src = img.get("source") or {}
    if len((src.get("reference") or "").encode()) > 4096:
        die("the source path is too long (at most 4096 bytes)")
    if len(src.get("packages") or []) > 1024:
        die("at most 1024 packages")
    if len(json.dumps(img, indent=2).encode()) > JSON_MAX:
        die("image.json would be over %d bytes (the image config is too large)" % JSON_MAX)


def cmd_get(path, key):
    try:
        v = json.load(open(path))
    except (OSError, ValueError):
        print("")
        return
    for k in key.split("."):
        v = v.get(k) if isinstance(v, dict) else None
    if v is None:
        print("")
    elif isinstance(v, (dict, list)):
        print(json.dumps(v))
    else:
        print(v)


def main(argv):
    cmds = {
        "put": (cmd_put, 4),
        "sources": (cmd_sources, 1),
        "oci-check": (cmd_oci_check, 4),
        "oci-config": (cmd_oci_config, 2),
        "image-json": (cmd_image_json, 4),
        "vmlinux": (cmd_vmlinux, 2),
        "get": (cmd_get, 2),
    }
    if len(argv) < 2 or argv[1] not in cmds or len(argv) - 2 != cmds[argv[1]][1]:
        die("usage: helper.py %s" % "|".join(cmds))
    try:
        cmds[argv[1]][0](*argv[2:])
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        die("%s: %s" % (argv[1], e))


if __name__ == "__main__":
    main(sys.argv)
