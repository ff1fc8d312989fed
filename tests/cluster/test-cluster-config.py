#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""scripts/cluster-config: a good inventory renders a configuration HAProxy
accepts (`haproxy -c`, when HAProxy is installed) with the map and the 429
file; bad inventories are refused with the line and the reason, writing
nothing.

Usage: test-cluster-config.py SOURCE_DIR
"""
import os
import shutil
import subprocess
import sys
import tempfile

SCRIPT = None

GOOD = """# two nodes
bind 127.0.0.1:18000
stats-socket /run/haproxy-test.sock
timeout-exec 2h
log 127.0.0.1:514
node 01 10.0.0.1:8420 10.0.0.1:8421
node 0a [fd00::2]:8420 [fd00::2]:8421
"""

BAD = [
    ("", "no bind"),
    ("bind 127.0.0.1:1\n", "no node"),
    ("bind 127.0.0.1:1\nnode 00 1.2.3.4:1 1.2.3.4:2\n", "line 2: tag '00'"),
    ("bind 127.0.0.1:1\nnode 0A 1.2.3.4:1 1.2.3.4:2\n", "line 2: tag '0A'"),
    ("bind 127.0.0.1:1\nnode 01 1.2.3.4:1 1.2.3.4:2\nnode 01 1.2.3.5:1 1.2.3.5:2\n",
     "line 3: tag 01 twice"),
    ("bind 127.0.0.1:1\nnode 01 1.2.3.4 1.2.3.4:2\n", "not ADDRESS:PORT"),
    ("bind 127.0.0.1:1\nnode 01 1.2.3.4:70000 1.2.3.4:2\n", "out of range"),
    ("bind 127.0.0.1:1\nnode 01 a;b:1 1.2.3.4:2\n", "not ADDRESS:PORT"),
    ("bind 127.0.0.1:1\nnode 01 1.2.3.4:1\n", "node TAG"),
    ("bind 127.0.0.1:1\nbind-ssl relative.pem\nnode 01 1.2.3.4:1 1.2.3.4:2\n",
     "not an absolute path"),
    ("bind 127.0.0.1:1\nbind-ssl /a\\ b.pem\nnode 01 1.2.3.4:1 1.2.3.4:2\n",
     "takes one value"),
    ("bind 127.0.0.1:1\nbind-ssl /a'b.pem\nnode 01 1.2.3.4:1 1.2.3.4:2\n",
     "not an absolute path"),
    ("bind 127.0.0.1:1\nnode-crt /c.pem\nnode 01 1.2.3.4:1 1.2.3.4:2\n", "needs node-ca"),
    ("bind 127.0.0.1:1\ntimeout-exec forever\nnode 01 1.2.3.4:1 1.2.3.4:2\n",
     "not a duration"),
    ("bind 127.0.0.1:1\nfrontend evil\nnode 01 1.2.3.4:1 1.2.3.4:2\n", "unknown statement"),
    ("bind 127.0.0.1:1\nnode 01 1.2.3.4:1 1.2.3.4:2\n\xff\n", ""),
]


def fail(msg):
    sys.stderr.write("FAIL: %s\n" % msg)
    sys.exit(1)


def run(inventory_bytes, out):
    fd, inv = tempfile.mkstemp()
    with os.fdopen(fd, "wb") as f:
        f.write(inventory_bytes)
    try:
        return subprocess.run([SCRIPT, inv, out], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    finally:
        os.unlink(inv)


def main():
    global SCRIPT
    SCRIPT = os.path.join(sys.argv[1], "scripts", "cluster-config")
    work = tempfile.mkdtemp(prefix="alk-cluster-config-")
    try:
        out = os.path.join(work, "good")
        p = run(GOOD.encode(), out)
        if p.returncode != 0:
            fail("a good inventory refused: %s" % p.stderr)
        with open(os.path.join(out, "nodes.map")) as f:
            if f.read() != "01 node_01\n0a node_0a\n":
                fail("nodes.map")
        with open(os.path.join(out, "create-full.http")) as f:
            if not f.read().startswith("HTTP/1.1 429 "):
                fail("create-full.http is not a 429")
        with open(os.path.join(out, "haproxy.cfg")) as f:
            cfg = f.read()
        for want in ("balance random(2)", "retry-on 503", "backend node_01", "backend node_0a",
                     "server n0a [fd00::2]:8420", "node_unavailable", "timeout tunnel 2h",
                     "http-request del-header X-Request-Id"):
            if want not in cfg:
                fail("haproxy.cfg lacks %r" % want)
        if shutil.which("haproxy"):
            c = subprocess.run(["haproxy", "-c", "-f", os.path.join(out, "haproxy.cfg")],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            if c.returncode != 0:
                fail("haproxy -c: %s" % c.stdout)
        else:
            print("haproxy not installed: the rendered configuration is not checked by it")
        for i, (text, why) in enumerate(BAD):
            out = os.path.join(work, "bad%d" % i)
            p = run(text.encode("latin-1"), out)
            if p.returncode == 0:
                fail("bad inventory %d taken" % i)
            if why not in p.stderr:
                fail("bad inventory %d: %r does not say %r" % (i, p.stderr, why))
            if os.path.exists(out):
                fail("bad inventory %d wrote %s" % (i, out))
        print("PASS")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
