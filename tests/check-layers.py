#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The layering rule of DESIGN.md, checked against the build itself.

For every library (alk-common, the daemon's layers, the CLI) this takes the
compiler command of one of its own files from compile_commands.json and
preprocesses a one-line probe, `#include "HEADER"`, with it, for every header
of every other part:
  - common's headers must be found from everywhere;
  - the public headers (build/daemon/include/<layer>/) of a layer it may use
    must be found; that layer's private headers must not;
  - nothing of a layer it may not use may be found.
A probe that should fail must fail because that very header is not found.
Then the airlock binary's link line must name alk-cli, alk-common and the
GLib, json-glib and libsoup libraries only, and no source may reach a header
by a path ("../virt/alk-image.h"), which would step around the include dirs,
and no layer may export a *-private.h header.

Usage: check-layers.py SOURCE_DIR BUILD_DIR
"""
import concurrent.futures
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile

# DESIGN.md "Parts and layout": what each part may use besides common/.
# protocol is public in core because core's headers carry its messages.
MAY_USE = {
    "common": [],
    "virt": [],
    "net": [],
    "channel": ["protocol"],
    "core": ["virt", "net", "channel", "protocol"],
    "api": ["core", "protocol"],
    "client": [],
}

DAEMON_LAYERS = ["virt", "net", "channel", "core", "api"]

# how gcc and clang say a header was not found
NOT_FOUND = re.compile(r"No such file or directory|file not found")

CLI_LINK_ALLOWED = re.compile(
    r"(^|/)(libalk-cli\.a|libalk-common\.a|"
    r"lib(soup-3\.0|json-glib-1\.0|glib-2\.0|gio-2\.0|gobject-2\.0|gmodule-2\.0)\.so(\.[0-9.]+)?)$"
)


def folder_of(part, src):
    if part in DAEMON_LAYERS:
        return os.path.join(src, "daemon", part)
    return os.path.join(src, part)


def headers(directory):
    return sorted(f for f in os.listdir(directory) if f.endswith(".h"))


def exported(part, build):
    directory = os.path.join(build, "daemon", "include", part)
    return set(headers(directory)) if os.path.isdir(directory) else None


def compile_command(part, src, entries):
    """The command of one file of part's own library, or None."""
    folder = folder_of(part, src) + os.sep
    for e in entries:
        if e["file"].startswith(folder) and os.path.dirname(e["file"]) + os.sep == folder:
            return e
    return None


def probe_argv(entry, probe):
    argv = shlex.split(entry["command"]) if "command" in entry else list(entry["arguments"])
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
            continue
        if a in ("-o", "-c"):
            skip = True
            continue
        out.append(a)
    return out + ["-E", "-o", os.devnull, probe]


def expectations(part, src, build):
    """(header, must_be_found) for every header outside part."""
    allowed = set(MAY_USE[part])
    out = []
    for other in ["common", "protocol", "client"] + DAEMON_LAYERS:
        if other == part:
            continue
        for h in headers(folder_of(other, src)):
            if other == "common":
                out.append((h, True))
            elif other == "protocol":
                # the protocol exports its folder; its private header is its own affair
                if h != "alk-proto-private.h" or other not in allowed:
                    out.append((h, other in allowed))
            elif other in allowed:
                public = exported(other, build)
                out.append((h, public is not None and h in public))
            else:
                out.append((h, False))
    return out


def missing_itself(err, header):
    """The probe failed because header itself was not found, not one it includes."""
    first = err.strip().splitlines()[0] if err.strip() else ""
    return ".c:1:" in first and header in first and NOT_FOUND.search(first) is not None


def run_probe(entry, tmp, header):
    probe = os.path.join(tmp, re.sub(r"[^a-z0-9]", "_", header) + ".c")
    with open(probe, "w") as f:
        f.write('#include "%s"\n' % header)
    r = subprocess.run(probe_argv(entry, probe), cwd=entry["directory"],
                       capture_output=True, text=True)
    return r.returncode, r.stderr


def check_part(part, src, build, entries, tmp):
    """Problems found, and how many probes ran."""
    entry = compile_command(part, src, entries)
    if entry is None:
        return ["%s: no file of it in compile_commands.json" % part], 0
    problems = []
    cases = expectations(part, src, build)
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        results = pool.map(lambda c: run_probe(entry, tmp, c[0]), cases)
        for (header, wanted), (rc, err) in zip(cases, results):
            if wanted and rc != 0:
                problems.append("%s cannot include %s, which it may use:\n%s" %
                                (part, header, err.strip()))
            elif not wanted and rc == 0:
                problems.append("%s can include %s: a layer violation" % (part, header))
            elif not wanted and not missing_itself(err, header):
                problems.append("%s: probe of %s failed for another reason:\n%s" %
                                (part, header, err.strip()))
    return problems, len(cases)


def check_cli_link(build):
    path = os.path.join(build, "client", "CMakeFiles", "airlock.dir", "link.txt")
    try:
        with open(path) as f:
            argv = shlex.split(f.read())
    except OSError as e:
        return ["cannot read airlock's link line: %s" % e]
    problems = []
    for a in argv:
        if a.startswith("-l") or re.search(r"\.(a|so)(\.[0-9.]+)?$", a):
            if not CLI_LINK_ALLOWED.search(a):
                problems.append("airlock links %s: the CLI may link alk-common, GLib, "
                                "json-glib and libsoup only" % a)
    if not any("libalk-common.a" in a for a in argv):
        problems.append("airlock's link line names no libalk-common.a: %s" % path)
    return problems


def check_exports(build):
    """A *-private.h header is its layer's own: never exported."""
    problems = []
    for part in DAEMON_LAYERS:
        public = exported(part, build)
        if public is None:
            problems.append("%s exports nothing: no build/daemon/include/%s/" % (part, part))
            continue
        problems += ["%s exports its private header %s" % (part, h)
                     for h in sorted(public) if h.endswith("-private.h")]
    return problems


def check_include_paths(src):
    problems = []
    pattern = re.compile(r'^\s*#\s*include\s*"([^"]*/[^"]*)"')
    for top in ["common", "daemon", "client"]:
        for root, _, files in os.walk(os.path.join(src, top)):
            for name in files:
                if not name.endswith((".c", ".h")):
                    continue
                path = os.path.join(root, name)
                with open(path, errors="replace") as f:
                    for n, line in enumerate(f, 1):
                        m = pattern.match(line)
                        if m:
                            problems.append("%s:%d includes \"%s\" by a path" %
                                            (os.path.relpath(path, src), n, m.group(1)))
    return problems


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    src, build = (os.path.abspath(a) for a in sys.argv[1:])
    with open(os.path.join(build, "compile_commands.json")) as f:
        entries = json.load(f)
    problems = check_include_paths(src) + check_exports(build) + check_cli_link(build)
    probes = 0
    with tempfile.TemporaryDirectory(prefix="alk-layers-") as tmp:
        for part in MAY_USE:
            found, n = check_part(part, src, build, entries, tmp)
            problems += found
            probes += n
    for p in problems:
        print("FAIL: " + p)
    if problems:
        return 1
    print("layers: %d include probes over %d parts; every part sees only what "
          "DESIGN.md lets it use; airlock links no daemon library" % (probes, len(MAY_USE)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
