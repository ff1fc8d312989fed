#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The one-machine cluster (docs/cluster.md, "Testing on one machine"):
3 etcd members, 3 airlockd nodes (tags 01-03, max_sandboxes 2) on the one
libvirtd, and one HAProxy from the configuration scripts/cluster-config
renders, all on loopback ports of this test.

  1. placement: 6 creates through HAProxy land 2 per node; the 7th is 429
  2. routing: each sandbox is reached through HAProxy (exec echoes its id);
     each node's own list (?scope=node) holds its 2; the cluster list, from
     any node, all 6 with their node
  3. a node dies under load (SIGKILL, its domains destroyed): its ids get
     503 node_unavailable within a deadline, its exec in flight ends with an
     error, the other nodes' exec loop sees no error, and the list and GET
     /v1/cluster drop it within the lease
  4. it rejoins under the same tag: its old ids are 404, a create lands on it
  5. one etcd member killed changes nothing: list and creates go on
  6. the audit: every node's lines carry its node, requests through HAProxy
     its request id; `airlock audit verify --anchors` passes on every node,
     and fails on a copy whose chain was rewritten consistently (which the
     plain verify cannot tell)

Usage: test-cluster.py --airlockd PATH --airlock PATH --source DIR [--keep]
What it cannot prove is in docs/cluster.md. Every process, domain and
directory it made is removed on every path (atexit and signals).
"""
import argparse
import atexit
import hashlib
import http.client
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

ARGS = None
TOKEN = "alk_cluster_" + secrets.token_hex(12)
PROCS = []  # Popen, killed at the end
NODES = {}  # tag -> dict
ETCD = []  # dicts
WORK = None
LEASE_TTL_S = 6
# a shared 2-core machine: every wait is bounded, and generous
BOOT_DEADLINE_S = 240


def log(msg):
    sys.stderr.write("[%s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


def fail(msg):
    log("FAIL: " + msg)
    for tag, n in sorted(NODES.items()):
        try:
            with open(n["log"]) as f:
                tail = f.read()[-3000:]
            log("--- node %s log tail ---\n%s" % (tag, tail))
        except OSError:
            pass
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tls_context(client_cert=True):
    """the test CA's context; with the proxy's client certificate (the nodes ask for one)"""
    ctx = ssl.create_default_context(cafile=PKI["ca"])
    if client_cert:
        ctx.load_cert_chain(PKI["proxy_pem"])
    return ctx


def request(port, method, path, body=None, timeout=60, headers=None, ctx=None):
    """(status, parsed JSON or text, headers) over https (the proxy and the nodes alike
    speak TLS; the nodes ask for the proxy's client certificate); raises OSError on a
    broken connection"""
    c = http.client.HTTPSConnection("127.0.0.1", port, timeout=timeout,
                                    context=ctx or tls_context())
    h = {"Authorization": "Bearer " + TOKEN}
    if body is not None:
        h["Content-Type"] = "application/json"
    h.update(headers or {})
    try:
        c.request(method, path, body=json.dumps(body) if body is not None else None, headers=h)
        r = c.getresponse()
        data = r.read()
        try:
            doc = json.loads(data)
        except ValueError:
            doc = data.decode(errors="replace")
        return r.status, doc, dict(r.getheaders())
    finally:
        c.close()


def wait_for(what, fn, deadline_s, every=0.25):
    end = time.monotonic() + deadline_s
    last = None
    while time.monotonic() < end:
        try:
            last = fn()
            if last:
                return last
        except OSError as e:
            last = e
        time.sleep(every)
    fail("%s: not within %d s (last: %r)" % (what, deadline_s, last))


# --- a throwaway CA: the nodes' certificates, HAProxy's (client and server) ---

PKI = {}


def openssl(*args):
    p = subprocess.run(["openssl"] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    check(p.returncode == 0, "openssl %s: %s" % (" ".join(args), p.stdout))


def make_pki():
    d = os.path.join(WORK, "pki")
    os.makedirs(d)
    j = lambda name: os.path.join(d, name)
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", j("ca.key"),
            "-out", j("ca.pem"), "-days", "2", "-subj", "/CN=airlock cluster test CA")
    with open(j("san.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\n")
    for name in ("node", "proxy"):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", j(name + ".key"),
                "-out", j(name + ".csr"), "-subj", "/CN=" + name)
        openssl("x509", "-req", "-in", j(name + ".csr"), "-CA", j("ca.pem"), "-CAkey",
                j("ca.key"), "-CAcreateserial", "-out", j(name + ".crt"), "-days", "2",
                "-extfile", j("san.ext"))
        # HAProxy takes certificate and key in one file
        with open(j(name + ".pem"), "w") as out:
            for part in (name + ".crt", name + ".key"):
                with open(j(part)) as f:
                    out.write(f.read())
    # a client certificate no CA of the test signed
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", j("evil.key"),
            "-out", j("evil.crt"), "-days", "2", "-subj", "/CN=evil")
    PKI.update(ca=j("ca.pem"), node_crt=j("node.crt"), node_key=j("node.key"),
               proxy_pem=j("proxy.pem"), evil_crt=j("evil.crt"), evil_key=j("evil.key"))
    os.chmod(d, 0o755)


# --- etcd ---------------------------------------------------------------------

def start_etcd():
    names = ["e1", "e2", "e3"]
    for n in names:
        ETCD.append({"name": n, "client": free_port(), "peer": free_port(),
                     "dir": os.path.join(WORK, "etcd-" + n)})
    initial = ",".join("%s=http://127.0.0.1:%d" % (e["name"], e["peer"]) for e in ETCD)
    token = "alk-" + secrets.token_hex(4)
    for e in ETCD:
        out = open(os.path.join(WORK, "etcd-%s.log" % e["name"]), "w")
        e["proc"] = subprocess.Popen(
            ["etcd", "--name", e["name"], "--data-dir", e["dir"],
             "--listen-client-urls", "http://127.0.0.1:%d" % e["client"],
             "--advertise-client-urls", "http://127.0.0.1:%d" % e["client"],
             "--listen-peer-urls", "http://127.0.0.1:%d" % e["peer"],
             "--initial-advertise-peer-urls", "http://127.0.0.1:%d" % e["peer"],
             "--initial-cluster", initial, "--initial-cluster-state", "new",
             "--initial-cluster-token", token],
            stdout=out, stderr=subprocess.STDOUT)
        PROCS.append(e["proc"])

    def quorum():
        for e in ETCD:
            c = http.client.HTTPConnection("127.0.0.1", e["client"], timeout=5)
            c.request("POST", "/v3/kv/put", body=json.dumps({"key": "YQ==", "value": "YQ=="}))
            r = c.getresponse()
            r.read()
            c.close()
            if r.status != 200:
                return False
        return True
    wait_for("etcd quorum", quorum, 120, every=0.5)
    log("etcd: 3 members up")


def etcd_call(path, body):
    for e in ETCD:
        if e["proc"].poll() is not None:
            continue
        c = http.client.HTTPConnection("127.0.0.1", e["client"], timeout=10)
        c.request("POST", path, body=json.dumps(body))
        r = c.getresponse()
        doc = json.loads(r.read())
        c.close()
        check(r.status == 200, "etcd %s: %d %r" % (path, r.status, doc))
        return doc
    fail("no etcd member left")


def b64(text):
    import base64
    return base64.b64encode(text.encode()).decode()


def etcd_keys(prefix):
    import base64
    end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    for e in ETCD:
        if e["proc"].poll() is not None:
            continue
        c = http.client.HTTPConnection("127.0.0.1", e["client"], timeout=10)
        c.request("POST", "/v3/kv/range", body=json.dumps({
            "key": base64.b64encode(prefix.encode()).decode(),
            "range_end": base64.b64encode(end.encode()).decode()}))
        doc = json.loads(c.getresponse().read())
        c.close()
        return [base64.b64decode(kv["key"]).decode() for kv in doc.get("kvs", [])]
    fail("no etcd member left")


# --- nodes --------------------------------------------------------------------

def write_tokens():
    path = os.path.join(WORK, "tokens")
    with open(path, "w") as f:
        f.write("cluster write %s\n" % hashlib.sha256(TOKEN.encode()).hexdigest())
    os.chmod(path, 0o600)
    return path


def node_config(tag, tokens):
    d = os.path.join(WORK, "n" + tag)
    n = {"tag": tag, "dir": d, "api": free_port(), "agent": free_port(),
         "log": os.path.join(d, "airlockd.log"), "state": os.path.join(d, "state"),
         "run": os.path.join(d, "run")}
    for sub in (d, n["state"], n["run"]):
        os.makedirs(sub, exist_ok=True)
        os.chmod(sub, 0o755)
    etcd = ",".join("http://127.0.0.1:%d" % e["client"] for e in ETCD)
    n["config"] = os.path.join(d, "airlockd.conf")
    with open(n["config"], "w") as f:
        f.write("""[daemon]
virt_type = qemu
state_dir = {state}
run_dir = {run}
image_dir = {images}
template_dir = {templates}
max_sandboxes = 2
boot_timeout_s = 240
tls_cert = {crt}
tls_key = {key}
tls_client_ca = {ca}
[api]
socket = {d}/api.sock
socket_group = root
listen = 127.0.0.1:{api}
tokens_file = {tokens}
audit_log = {d}/audit.log
audit_head = {d}/audit.head
[cluster]
node = {tag}
agent_listen = 127.0.0.1:{agent}
etcd = {etcd}
lease_ttl_s = {ttl}
""".format(state=n["state"], run=n["run"], d=d, api=n["api"], agent=n["agent"], tag=tag,
           tokens=tokens, etcd=etcd, ttl=LEASE_TTL_S, crt=PKI["node_crt"],
           key=PKI["node_key"], ca=PKI["ca"],
           images=os.environ.get("ALK_IMAGE_DIR", "/var/lib/airlock/images"),
           templates=os.environ.get("ALK_TEMPLATE_DIR",
                                    os.path.join(ARGS.source, "xml-templates"))))
    NODES[tag] = n
    return n


def start_node(n):
    out = open(n["log"], "a")
    n["proc"] = subprocess.Popen([ARGS.airlockd, "--config", n["config"]], stdout=out,
                                 stderr=subprocess.STDOUT)
    PROCS.append(n["proc"])

    def up():
        if n["proc"].poll() is not None:
            fail("node %s exited %d" % (n["tag"], n["proc"].returncode))
        st, _, _ = request(n["api"], "GET", "/v1/health", timeout=5)
        return st == 200
    wait_for("node %s healthy" % n["tag"], up, 120)

    def registered():
        st, doc, _ = request(n["api"], "GET", "/v1/cluster", timeout=10)
        return st == 200 and doc["registered"]
    # its old lease (after a kill) must expire first: within the TTL
    wait_for("node %s registered in etcd" % n["tag"], registered, LEASE_TTL_S * 4 + 30)


def node_domains(n):
    """the domains of this node's own sandboxes: by its state dir, never by tag alone
    (another test's daemon may use the same tags)"""
    try:
        ids = os.listdir(os.path.join(n["state"], "sandboxes"))
    except OSError:
        return []
    return ["airlock-" + i for i in ids if len(i) == 12]


def destroy_domains(n):
    for dom in node_domains(n):
        subprocess.run(["virsh", "-c", "qemu:///system", "destroy", dom],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def kill_node(n):
    n["proc"].send_signal(signal.SIGKILL)
    n["proc"].wait()
    destroy_domains(n)


# --- HAProxy ------------------------------------------------------------------

def start_haproxy():
    global PROXY, STATS
    PROXY = free_port()
    STATS = os.path.join(WORK, "haproxy.sock")
    inv = os.path.join(WORK, "inventory")
    with open(inv, "w") as f:
        f.write("# the one-machine cluster\nbind 127.0.0.1:%d\nstats-socket %s\n" % (PROXY, STATS))
        f.write("timeout-exec 10m\n")
        # TLS for clients, mutual TLS to the nodes
        f.write("bind-ssl %s\nnode-ca %s\nnode-crt %s\n" % (PKI["proxy_pem"], PKI["ca"],
                                                            PKI["proxy_pem"]))
        for tag, n in sorted(NODES.items()):
            f.write("node %s 127.0.0.1:%d 127.0.0.1:%d\n" % (tag, n["api"], n["agent"]))
    out = os.path.join(WORK, "haproxy")
    subprocess.run([os.path.join(ARGS.source, "scripts", "cluster-config"), inv, out], check=True)
    cfg = os.path.join(out, "haproxy.cfg")
    p = subprocess.run(["haproxy", "-c", "-f", cfg], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    check(p.returncode == 0, "haproxy -c: %s" % p.stdout)
    proc = subprocess.Popen(["haproxy", "-db", "-f", cfg],
                            stdout=open(os.path.join(WORK, "haproxy.log"), "w"),
                            stderr=subprocess.STDOUT)
    PROCS.append(proc)
    wait_for("haproxy: every node UP", lambda: len(servers_up("any")) == len(NODES), 60)
    log("haproxy: up on %d" % PROXY)


def stats():
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(5)
        s.connect(STATS)
        s.sendall(b"show stat\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    rows = data.decode().splitlines()
    head = rows[0].lstrip("# ").split(",")
    return [dict(zip(head, r.split(","))) for r in rows[1:] if r]


def create_weights():
    """tag -> the weight HAProxy gives the node for creates (its agent's N%)"""
    return {r["svname"][1:]: int(r["weight"] or 0) for r in stats()
            if r["pxname"] == "create" and r["svname"] not in ("BACKEND", "FRONTEND")
            and r["status"].startswith("UP")}


def wait_creates_everywhere(tags):
    """every node in tags takes creates: UP with a weight (libvirt there, room left);
    a libvirtd another test restarts makes a node say 0% for a while"""
    wait_for("nodes %s taking creates" % ",".join(tags),
             lambda: all(create_weights().get(t, 0) > 0 for t in tags), 120)


def servers_up(backend):
    return sorted(r["svname"] for r in stats()
                  if r["pxname"] == backend and r["svname"] not in ("BACKEND", "FRONTEND")
                  and r["status"].startswith("UP"))


# --- the scenario -------------------------------------------------------------

CREATE = {"image": "minimal", "network": {"mode": "none"}, "memory_mib": 256,
          "labels": {"test": "cluster"}}


def create():
    return request(PROXY, "POST", "/v1/sandboxes?wait=ready", CREATE, timeout=BOOT_DEADLINE_S)


def exec_echo(sid):
    st, doc, _ = request(PROXY, "POST", "/v1/sandboxes/%s/exec" % sid,
                         {"argv": ["echo", sid]}, timeout=120)
    return st, doc


def cluster_list(port=None):
    st, doc, _ = request(port or PROXY, "GET", "/v1/sandboxes?label=test=cluster", timeout=30)
    check(st == 200, "list: %d %r" % (st, doc))
    return sorted((s["id"], s["node"]) for s in doc["sandboxes"])


class Load(threading.Thread):
    """exec true over and over on the given sandboxes, through HAProxy"""

    def __init__(self, ids):
        super().__init__(daemon=True)
        self.ids, self.stop, self.errors, self.done = ids, threading.Event(), [], 0

    def run(self):
        while not self.stop.is_set():
            for sid in self.ids:
                try:
                    st, doc, _ = request(PROXY, "POST", "/v1/sandboxes/%s/exec" % sid,
                                         {"argv": ["true"]}, timeout=120)
                    if st != 200 or doc.get("exit_code") != 0:
                        self.errors.append((sid, st, doc))
                    else:
                        self.done += 1
                except (OSError, http.client.HTTPException) as e:
                    self.errors.append((sid, "connection", str(e)))


class LongExec(threading.Thread):
    """a streamed exec (NDJSON) that runs for minutes on the node that will die"""

    def __init__(self, sid):
        super().__init__(daemon=True)
        self.sid, self.result, self.ended = sid, None, threading.Event()

    def run(self):
        try:
            self.result = request(PROXY, "POST", "/v1/sandboxes/%s/exec" % self.sid,
                                  {"argv": ["sh", "-c", "echo started; sleep 300"],
                                   "timeout_s": 400}, timeout=600,
                                  headers={"Accept": "application/x-ndjson"})
        except (OSError, http.client.HTTPException) as e:
            self.result = ("error", str(e))
        self.ended.set()


def tls_checks():
    """a node speaks only TLS, and only to the holder of a certificate of its CA;
    the CLI (--cacert) and the Python client (cafile) reach it through HAProxy"""
    n = NODES["01"]
    for what, ctx in (("no client certificate", tls_context(client_cert=False)),
                      ("a certificate of another CA", None)):
        if ctx is None:
            ctx = tls_context(client_cert=False)
            ctx.load_cert_chain(PKI["evil_crt"], PKI["evil_key"])
        try:
            st, _, _ = request(n["api"], "GET", "/v1/health", timeout=10, ctx=ctx)
            fail("node 01 answered %d to a client with %s" % (st, what))
        except (OSError, http.client.HTTPException):
            pass
    try:
        c = http.client.HTTPConnection("127.0.0.1", n["api"], timeout=10)
        c.request("GET", "/v1/health", headers={"Authorization": "Bearer " + TOKEN})
        st = c.getresponse().status
        fail("node 01 answered plain HTTP with %d" % st)
    except (OSError, http.client.HTTPException):
        pass
    # a client that never starts its handshake is dropped by the head deadline
    # (api.head_timeout_s, 10 s), not kept forever
    with socket.create_connection(("127.0.0.1", n["api"]), timeout=60) as s:
        start = time.monotonic()
        try:
            got = s.recv(1)
        except (ConnectionResetError, socket.timeout) as e:
            got = e
        check(got == b"" or isinstance(got, ConnectionResetError),
              "a silent TLS client was not dropped: %r" % (got,))
        log("a silent client dropped after %.1f s" % (time.monotonic() - start))
    env = dict(os.environ, AIRLOCK_TOKEN=TOKEN)
    p = subprocess.run([ARGS.airlock, "--url", "https://127.0.0.1:%d" % PROXY, "--cacert",
                        PKI["ca"], "--json", "ls"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, env=env)
    check(p.returncode == 0, "airlock --cacert ls: %s%s" % (p.stdout, p.stderr))
    p = subprocess.run([ARGS.airlock, "--url", "https://127.0.0.1:%d" % PROXY, "health"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    check(p.returncode != 0, "airlock trusted the test CA without --cacert")
    sys.path.insert(0, os.path.join(ARGS.source, "clients", "python"))
    import airlock
    c = airlock.Airlock(url="https://127.0.0.1:%d" % PROXY, token=TOKEN, cafile=PKI["ca"])
    check(c.health()["status"] in ("ok", "degraded"), "the Python client over https")
    log("tls: nodes refuse plain HTTP and foreign certificates; CLI and Python client "
        "verify HAProxy against the test CA")


def scenario():
    make_pki()
    tokens = write_tokens()
    start_etcd()
    for tag in ("01", "02", "03"):
        node_config(tag, tokens)
    for tag in ("01", "02", "03"):
        start_node(NODES[tag])
    start_haproxy()
    tls_checks()
    wait_creates_everywhere(["01", "02", "03"])

    # 1. placement
    ids = {}
    for i in range(6):
        st, doc, _ = create()
        check(st == 201, "create %d: %d %r" % (i + 1, st, doc))
        ids.setdefault(doc["id"][:2], []).append(doc["id"])
        log("create %d: %s" % (i + 1, doc["id"]))
    check(sorted(len(v) for v in ids.values()) == [2, 2, 2] and sorted(ids) == ["01", "02", "03"],
          "creates are not 2 per node: %r" % ids)
    st, doc, _ = create()
    check(st == 429 and doc["error"]["code"] == "limit_exceeded",
          "the 7th create: %d %r" % (st, doc))
    log("placement: 2 per node, the 7th 429")

    # 2. routing and the lists
    everyone = sorted((sid, tag) for tag, v in ids.items() for sid in v)
    for sid, _ in everyone:
        st, doc = exec_echo(sid)
        check(st == 200 and doc["stdout"] == sid + "\n", "exec on %s: %d %r" % (sid, st, doc))
    for tag, n in NODES.items():
        st, doc, _ = request(n["api"], "GET", "/v1/sandboxes?scope=node", timeout=30)
        check(st == 200 and sorted(s["id"] for s in doc["sandboxes"]) == sorted(ids[tag]),
              "node %s's own list: %r" % (tag, doc))
        # the cluster list from every node alike
        wait_for("node %s's cluster list" % tag, lambda: cluster_list(n["api"]) == everyone, 30)
    for _ in range(3):
        check(cluster_list() == everyone, "the list through HAProxy")
    st, doc, _ = request(PROXY, "GET", "/v1/cluster")
    check(st == 200 and sorted(x["node"] for x in doc["nodes"]) == ["01", "02", "03"]
          and doc["tokens_drift"] == [], "GET /v1/cluster: %r" % doc)
    log("routing: every sandbox through HAProxy; every list holds all 6")

    # garbage in etcd (a record of the wrong shape, a node's id under another's tag,
    # not JSON at all) is left out of the views, never passed on
    garbage = {"/airlock/v1/sandboxes/zz": "not json {",
               "/airlock/v1/sandboxes/01aaaaaaaaaa": json.dumps(
                   {"id": "01aaaaaaaaaa", "node": "02", "state": "ready",
                    "created_at": "2026-01-01T00:00:00Z", "labels": {"test": "cluster"}}),
               "/airlock/v1/sandboxes/03bbbbbbbbbb": json.dumps(
                   {"id": "03bbbbbbbbbb", "node": "03", "state": 7,
                    "created_at": "2026-01-01T00:00:00Z", "labels": {"test": "cluster"}}),
               "/airlock/v1/nodes/99": "[1, 2]"}
    for k, v in garbage.items():
        etcd_call("/v3/kv/put", {"key": b64(k), "value": b64(v)})
    check(cluster_list() == everyone, "garbage records reached the list")
    st, doc, _ = request(PROXY, "GET", "/v1/cluster")
    check(st == 200 and doc["bad_records"] == 1 and len(doc["nodes"]) == 3,
          "garbage node records in GET /v1/cluster: %r" % doc)
    for k in garbage:
        etcd_call("/v3/kv/deleterange", {"key": b64(k)})
    log("garbage records in etcd: left out of the list and of GET /v1/cluster")

    # 3. node 02 dies under load
    load = Load(ids["01"] + ids["03"])
    load.start()
    long = LongExec(ids["02"][0])
    long.start()
    wait_for("the load running", lambda: load.done >= 4, 120)
    time.sleep(1)  # the long exec is under way (its answer is not due for 300 s)
    check(not long.ended.is_set(), "the long exec ended early: %r" % (long.result,))
    log("killing node 02")
    killed = time.monotonic()
    kill_node(NODES["02"])

    def unavailable():
        st, doc, _ = request(PROXY, "GET", "/v1/sandboxes/" + ids["02"][1], timeout=10)
        return st == 503 and isinstance(doc, dict) and doc["error"]["code"] == "node_unavailable"
    wait_for("node 02's ids 503 node_unavailable", unavailable, 20)
    log("node 02's ids: 503 node_unavailable after %.1f s" % (time.monotonic() - killed))
    check(long.ended.wait(30), "the exec on node 02 still hangs 30 s after the kill")
    # a cut stream: the connection broke, or HAProxy's 5xx, or a stream without its exit
    check(long.result[0] == "error" or long.result[0] >= 500 or
          '"stream":"exit"' not in str(long.result[1]) and '"stream":"error"' in str(long.result[1]),
          "the stream on node 02 ended without an error: %r" % (long.result,))
    log("node 02's stream ended: %s" % str(long.result[:2])[:120])
    alive = sorted(x for x in everyone if x[1] != "02")
    wait_for("the list without node 02", lambda: cluster_list() == alive, LEASE_TTL_S + 20)
    wait_for("etcd without node 02's keys",
             lambda: not [k for k in etcd_keys("/airlock/v1/") if "/02" in k and "/audit/" not in k],
             LEASE_TTL_S + 20)
    log("the list dropped node 02 after %.1f s" % (time.monotonic() - killed))
    time.sleep(2)
    load.stop.set()
    load.join(180)
    check(not load.errors, "the other nodes' load saw errors: %r" % load.errors[:5])
    log("the load on 01 and 03: %d execs, no error" % load.done)

    # 4. node 02 rejoins
    start_node(NODES["02"])
    wait_for("haproxy: node 02 UP again", lambda: "n02" in servers_up("node_02"), 60)
    st, doc, _ = request(PROXY, "GET", "/v1/sandboxes/" + ids["02"][0], timeout=10)
    check(st == 404, "an old id of node 02 after its return: %d %r" % (st, doc))
    # 01 and 03 are full: a create can only land on 02
    wait_for("node 02 takes creates", lambda: "n02" in servers_up("create"), 60)
    st, doc, _ = create()
    check(st == 201 and doc["id"].startswith("02"), "a create after the rejoin: %d %r" % (st, doc))
    back = doc["id"]
    log("node 02 rejoined: old ids 404, a create landed on it")

    # 5. one etcd member down changes nothing
    ETCD[0]["proc"].send_signal(signal.SIGKILL)
    ETCD[0]["proc"].wait()
    want = sorted(alive + [(back, "02")])
    wait_for("the list with one etcd member down", lambda: cluster_list() == want, 30)
    st, doc, _ = request(PROXY, "DELETE", "/v1/sandboxes/%s?wait=destroyed" % back, timeout=120)
    check(st == 200, "delete with one etcd member down: %d %r" % (st, doc))
    st, doc, _ = create()
    check(st == 201, "create with one etcd member down: %d %r" % (st, doc))
    want = sorted(alive + [(doc["id"], doc["id"][:2])])
    wait_for("the list after it", lambda: cluster_list() == want, 30)
    log("one etcd member down: list, delete and create go on")
    audit()
    stop_nodes()


def stop_nodes():
    """every sandbox deleted through its node, then each node stopped: it must exit 0
    (under ASan, ALK_AIRLOCKD, that is also no leak and no error)"""
    for tag, n in sorted(NODES.items()):
        st, doc, _ = request(n["api"], "GET", "/v1/sandboxes?scope=node", timeout=30)
        check(st == 200, "node %s's list: %d" % (tag, st))
        for s in doc["sandboxes"]:
            st, _, _ = request(n["api"], "DELETE", "/v1/sandboxes/%s?wait=destroyed" % s["id"],
                               timeout=120)
            check(st == 200, "deleting %s: %d" % (s["id"], st))
    for tag, n in sorted(NODES.items()):
        last = audit_lines(n)[-1]["seq"]
        n["proc"].terminate()
        try:
            rc = n["proc"].wait(120)
        except subprocess.TimeoutExpired:
            fail("node %s did not stop within 120 s of SIGTERM" % tag)
        check(rc == 0, "node %s exited %d" % (tag, rc))
        # its last anchor was written as it stopped: it covers every line before
        rc, doc = verify(n, os.path.join(n["dir"], "audit.log"))
        check(rc == 0 and doc["anchor"]["seq"] >= last,
              "node %s's final anchor: %r (the log had %d lines at SIGTERM)" % (tag, doc, last))
    log("every node stopped cleanly, its final audit anchor in etcd")


def audit_lines(n):
    with open(os.path.join(n["dir"], "audit.log")) as f:
        return [json.loads(line) for line in f]


def verify(n, log_path, anchors=True):
    argv = [ARGS.airlock, "--json", "audit", "verify", "--no-head"]
    if anchors:
        argv += ["--anchors", ",".join("http://127.0.0.1:%d" % e["client"] for e in ETCD),
                 "--node", n["tag"]]
    p = subprocess.run(argv + [log_path], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True)
    try:
        doc = json.loads(p.stdout)
    except ValueError:
        doc = {"stdout": p.stdout, "stderr": p.stderr}
    return p.returncode, doc


def audit():
    for tag, n in sorted(NODES.items()):
        lines = audit_lines(n)
        check(lines and all(l.get("node") == tag for l in lines),
              "node %s: a line without its node" % tag)
        proxied = [l for l in lines if l["action"] == "api.request" and "request_id" in l]
        check(proxied, "node %s: no api.request line carries a request id" % tag)
        ids = [l["request_id"] for l in proxied]
        check(len(set(ids)) == len(ids), "node %s: a request id twice" % tag)
    # every node's anchor is written within its tick (10 s), once its log grew
    for tag, n in sorted(NODES.items()):
        wait_for("node %s's anchor" % tag,
                 lambda: verify(n, os.path.join(n["dir"], "audit.log"))[1].get("anchor", {})
                 .get("seq", 0) > 0, 40, every=1)
        rc, doc = verify(n, os.path.join(n["dir"], "audit.log"))
        check(rc == 0 and doc["ok"] and doc["anchor"]["ok"],
              "node %s: verify --anchors: %d %r" % (tag, rc, doc))
    # a copy of node 01's log with line 2 changed and the chain recomputed: the
    # plain verify passes it, the anchors do not
    n = NODES["01"]
    with open(os.path.join(n["dir"], "audit.log"), "rb") as f:
        raw = f.read().splitlines()
    forged, prev = [], "0" * 64
    for i, line in enumerate(raw):
        text = line.decode()
        cut = text.rindex(',"prev":"')
        body = text[:cut]
        if i == 1:
            body = body.replace('"caller":"', '"caller":"forged-', 1)
        text = body + ',"prev":"%s"}' % prev
        prev = hashlib.sha256(text.encode()).hexdigest()
        forged.append(text)
    path = os.path.join(WORK, "forged.log")
    with open(path, "w") as f:
        f.write("\n".join(forged) + "\n")
    rc, doc = verify(n, path, anchors=False)
    check(rc == 0, "the plain verify should pass the consistent forgery: %r" % doc)
    rc, doc = verify(n, path)
    check(rc == 1 and not doc["anchor"]["ok"], "verify --anchors passed a forgery: %r" % doc)
    log("audit: node and request id in every node's lines; anchors hold, a rewrite shows")


def cleanup():
    for tag, n in NODES.items():
        if "proc" in n and n["proc"].poll() is None:
            # sandboxes first, through the node itself
            try:
                st, doc, _ = request(n["api"], "GET", "/v1/sandboxes?scope=node", timeout=10)
                for s in doc.get("sandboxes", []) if st == 200 else []:
                    request(n["api"], "DELETE", "/v1/sandboxes/%s?wait=destroyed" % s["id"],
                            timeout=60)
            except (OSError, ValueError, AttributeError):
                pass
    for p in PROCS:
        if p.poll() is None:
            p.terminate()
    for p in PROCS:
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    for n in NODES.values():
        destroy_domains(n)
    if WORK is not None and not ARGS.keep:
        shutil.rmtree(WORK, ignore_errors=True)


def main():
    global ARGS, WORK
    ap = argparse.ArgumentParser()
    ap.add_argument("--airlockd", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--airlock", required=True, help="the CLI")
    ap.add_argument("--keep", action="store_true", help="keep the work dir")
    ARGS = ap.parse_args()
    ARGS.source = os.path.abspath(ARGS.source)
    # scripts/test runs it again against an ASan airlockd
    ARGS.airlockd = os.path.abspath(os.environ.get("ALK_AIRLOCKD") or ARGS.airlockd)
    ARGS.airlock = os.path.abspath(ARGS.airlock)
    for tool in ("etcd", "haproxy", "virsh"):
        if shutil.which(tool) is None:
            log("SKIP: %s is not installed (scripts/lib.sh ALK_PACKAGES has it)" % tool)
            sys.exit(77)
    WORK = tempfile.mkdtemp(prefix="alk-cluster-")
    os.chmod(WORK, 0o755)
    atexit.register(cleanup)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda s, f: sys.exit(128 + s))
    scenario()
    log("PASS")


if __name__ == "__main__":
    main()
