#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""bench/run's driver: measures a private airlockd through its REST API (unix
socket) and the baseline (libvirt + qemu-guest-agent, ../shared/bench) in the
same run. Started by bench/run, which sets the environment (see there)."""
import base64, hashlib, http.client, json, os, re, signal, socket, statistics, subprocess
import sys, tempfile, threading, time

TOP = os.environ["ALK_BENCH_TOP"]
BUILD = os.environ["ALK_BENCH_BUILD"]
SHARED = os.environ["ALK_BENCH_SHARED"]
QUICK = os.environ.get("ALK_BENCH_QUICK") == "1"
AS_JSON = os.environ.get("ALK_BENCH_JSON") == "1"
IMAGE_DIR = os.environ.get("ALK_IMAGE_DIR", "/var/lib/airlock/images")
TEMPLATE_DIR = os.environ.get("ALK_BENCH_TEMPLATES", f"{TOP}/xml-templates")
POOL = os.environ.get("ALK_BENCH_POOL", "minimal/development:2")

# sizes: the full run fits in about ten minutes on 2 cores (TCG)
ROUNDS = 2 if QUICK else 3             # baseline runs, cold creates
EXECS = 50 if QUICK else 200           # /bin/true round trips
MB = 10 if QUICK else 100              # streamed and transferred
PAR = 4 if QUICK else 16               # concurrent creates
IDLE = 6 if QUICK else 10              # sandboxes behind GET /v1/sandboxes
LOAD_S = 3 if QUICK else 10            # seconds of API load
IDLE_S = 5 if QUICK else 10            # idle before host RSS is read


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path, timeout=900):
        super().__init__("airlock", timeout=timeout)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


class Daemon:
    def __init__(self, extra_daemon=""):
        self.dir = tempfile.mkdtemp(prefix="alk-bench-", dir="/tmp")
        os.chmod(self.dir, 0o711)  # QEMU (libvirt-qemu) reaches overlays and sockets below
        self.sock = f"{self.dir}/api.sock"
        self.conf = f"{self.dir}/airlockd.conf"
        with open(self.conf, "w") as f:
            f.write(f"""[daemon]
virt_type = qemu
state_dir = {self.dir}/state
run_dir = {self.dir}/run
image_dir = {IMAGE_DIR}
template_dir = {TEMPLATE_DIR}
max_sandboxes = {PAR + 4}
# 16 TCG boots at once on 2 loaded cores can take minutes: measured, not cut
boot_timeout_s = 900
{extra_daemon}
[profile:development]
# the NDJSON stream of MB MiB is not cut at the default 64 MiB
output_cap_bytes = {max(MB, 64) * 2 << 20}
[api]
socket = {self.sock}
socket_group = root
audit_log = {self.dir}/audit.jsonl
audit_head = {self.dir}/audit.head
""")
        self.log = open(f"{self.dir}/airlockd.log", "w")
        self.proc = subprocess.Popen([f"{BUILD}/daemon/airlockd", "--config", self.conf],
                                     stdout=self.log, stderr=self.log)
        self.error = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.error = open(f"{self.dir}/airlockd.log").read().strip()
                return
            try:
                if self.call("GET", "/v1/health")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        self.error = "no answer on its socket within 30 s"

    def call(self, method, path, body=None, headers=None, conn=None):
        c = conn or UnixHTTP(self.sock)
        h = dict(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        if conn is None:
            c.close()
        return r.status, r.headers, data

    def json(self, method, path, body=None, ok=(200, 201, 202), conn=None):
        status, _, data = self.call(method, path, body, conn=conn)
        if status not in ok:
            raise RuntimeError(f"{method} {path}: HTTP {status}: {data[:500]!r}")
        return json.loads(data) if data else None

    def create(self, body=None):
        return self.json("POST", "/v1/sandboxes?wait=ready", body or {})["id"]

    def delete(self, sid):
        self.json("DELETE", f"/v1/sandboxes/{sid}?wait=destroyed")

    def rss_kb(self):
        return status_kb(self.proc.pid, "VmRSS")

    def stop(self):
        try:
            for sb in self.json("GET", "/v1/sandboxes").get("sandboxes", []):
                try:
                    self.delete(sb["id"])
                except Exception:
                    pass
        except Exception:
            pass
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        # a sandbox left behind by a failed run: its domain names our dir
        out = subprocess.run(["virsh", "-c", "qemu:///system", "list", "--name"],
                             capture_output=True, text=True).stdout.split()
        for name in out:
            if name.startswith("airlock-"):
                x = subprocess.run(["virsh", "-c", "qemu:///system", "dumpxml", name],
                                   capture_output=True, text=True).stdout
                if self.dir + "/" in x:
                    subprocess.run(["virsh", "-c", "qemu:///system", "destroy", name],
                                   capture_output=True)
        subprocess.run(["rm", "-rf", self.dir])


def status_kb(pid, key):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def qemu_pid(sid):
    needle = f"guest=airlock-{sid}".encode()
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                if needle in open(f"/proc/{p}/cmdline", "rb").read():
                    return int(p)
            except OSError:
                pass
    return None


def pct(vals, p):
    s = sorted(vals)
    return s[min(len(s) - 1, int(len(s) * p / 100))]


def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


# ---- the baseline ----

def baseline(initrd, kernel, missing):
    """one run of ../shared/bench/qga_baseline.py; a failed run is tried once
    more, then recorded (the table says so) instead of ending the run"""
    env = dict(os.environ, INITRD=initrd, KERNEL=kernel, N=str(50))
    for attempt in (1, 2):
        out = subprocess.run(["/usr/bin/python3", f"{SHARED}/qga_baseline.py"], env=env,
                             capture_output=True, text=True, timeout=600)
        if out.returncode == 0:
            line = out.stdout.strip().splitlines()[-1]
            log(f"baseline: {line}")
            return {k: float(v) for k, v in (x.split("=") for x in line.split())}
        why = (out.stderr.strip().splitlines() or ["?"])[-1][:200]
        log(f"baseline failed (attempt {attempt}): {why}")
    missing.append(f"a baseline run failed twice: {why}")
    return None


# ---- airlock ----

def exec_times(d, sid, n):
    conn = UnixHTTP(d.sock)
    body = {"argv": ["/bin/true"]}
    r = d.json("POST", f"/v1/sandboxes/{sid}/exec", body, conn=conn)  # warm-up
    assert r["exit_code"] == 0, r
    ts = []
    for _ in range(n):
        t = time.monotonic()
        r = d.json("POST", f"/v1/sandboxes/{sid}/exec", body, conn=conn)
        ts.append((time.monotonic() - t) * 1000)
        assert r["exit_code"] == 0, r
    conn.close()
    return ts


def stream_mb_s(d, sid, mb):
    """mb MiB of stdout through the NDJSON exec, every byte counted"""
    n = mb << 20
    body = json.dumps({"argv": ["/bin/sh", "-c", f"head -c {n} /dev/zero"]}).encode()
    c = UnixHTTP(d.sock)
    t = time.monotonic()
    c.request("POST", f"/v1/sandboxes/{sid}/exec", body=body,
              headers={"Content-Type": "application/json", "Accept": "application/x-ndjson"})
    r = c.getresponse()
    if r.status != 200:
        raise RuntimeError(f"NDJSON exec: HTTP {r.status}: {r.read()[:300]!r}")
    got, exit_line = 0, None
    for line in r:
        m = json.loads(line)
        if m.get("stream") == "stdout":
            got += len(base64.b64decode(m["data_b64"]))
        elif m.get("stream") in ("exit", "error"):
            exit_line = m
    s = time.monotonic() - t
    c.close()
    if got != n or exit_line is None or exit_line.get("exit_code") != 0:
        raise RuntimeError(f"NDJSON exec: {got} of {n} bytes, end {exit_line}")
    return mb / s


def transfer_mb_s(d, sid, mb):
    data = os.urandom(mb << 20)
    path = f"/v1/sandboxes/{sid}/files/tmp/bench.bin"
    t = time.monotonic()
    status, _, body = d.call("PUT", path, data, {"Content-Type": "application/octet-stream"})
    up = time.monotonic() - t
    if status != 201:
        raise RuntimeError(f"upload: HTTP {status}: {body[:300]!r}")
    c = UnixHTTP(d.sock)
    t = time.monotonic()
    c.request("GET", path)
    r = c.getresponse()
    h = hashlib.sha256()
    got = 0
    while True:
        chunk = r.read(1 << 20)
        if not chunk:
            break
        got += len(chunk)
        h.update(chunk)
    down = time.monotonic() - t
    c.close()
    if r.status != 200 or h.digest() != hashlib.sha256(data).digest():
        raise RuntimeError(f"download: HTTP {r.status}, {got} bytes, content differs")
    d.json("POST", f"/v1/sandboxes/{sid}/exec", {"argv": ["/bin/rm", "-f", "/tmp/bench.bin"]})
    return mb / up, mb / down


def idle_rss_mb(sid):
    pid = qemu_pid(sid)
    kb = status_kb(pid, "VmRSS") if pid else None
    return kb / 1024 if kb else None


def parallel(fn, args):
    out, errs = [None] * len(args), []

    def run(i, a):
        try:
            out[i] = fn(a)
        except Exception as e:  # reported below
            errs.append(e)
    ts = [threading.Thread(target=run, args=(i, a)) for i, a in enumerate(args)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errs:
        raise errs[0]
    return out


def try_create(d):
    def create(_):
        try:
            return d.create()
        except Exception as e:  # counted by the caller
            return e
    return create


def api_load(d, path, conns, seconds):
    out = subprocess.run([f"{BUILD}/bench/alk-load", d.sock, path, str(conns), str(seconds)],
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"alk-load: {out.stderr.strip()} {out.stdout.strip()}")
    return {k: float(v) for k, v in (x.split("=") for x in out.stdout.split())}


def pool_full(d, want):
    """True when health or metrics say a pool holds want ready members"""
    try:
        h = d.json("GET", "/v1/health")
        status, _, m = d.call("GET", "/v1/metrics")
    except Exception:
        return False

    def walk(x):
        if isinstance(x, dict):
            for k, v in x.items():
                if "pool" in k.lower() and found(v):
                    return True
                if walk(v):
                    return True
        elif isinstance(x, list):
            return any(walk(v) for v in x)
        return False

    def found(v):
        if isinstance(v, list):
            return bool(v) and all(found(e) for e in v)
        if isinstance(v, dict):
            for k in ("ready", "idle", "available", "filled", "size"):
                if isinstance(v.get(k), int) and v[k] >= want:
                    return k != "size" or v.get("target") == v[k]
            return any(found(e) for e in v.values() if isinstance(e, (dict, list)))
        return False
    if walk(h):
        return True
    for line in m.decode(errors="replace").splitlines():
        if line.startswith("#") or "pool" not in line:
            continue
        name = line.split("{")[0].split()[0]
        if re.search(r"ready|idle|available", name) and float(line.split()[-1]) >= want:
            return True
    return False


def warm_ready(rounds):
    """create to ready from a warm pool, or a reason it cannot be measured"""
    key, _, n = POOL.rpartition(":")
    d = Daemon(f"pool = {POOL}")
    try:
        if d.error is not None:
            return None, f"airlockd refused `pool = {POOL}`: {d.error.splitlines()[-1][:200]}"
        image, _, profile = key.partition("/")
        body = {"image": image, "profile": profile}
        ts = []
        for _ in range(rounds):
            deadline = time.monotonic() + 300
            while not pool_full(d, int(n)):
                if time.monotonic() > deadline:
                    return None, "the pool never showed as full in /v1/health or /v1/metrics"
                time.sleep(0.5)
            t = time.monotonic()
            sid = d.create(body)
            ts.append((time.monotonic() - t) * 1000)
            d.delete(sid)
        return med(ts), None
    finally:
        d.stop()


def template_saved(d):
    """True when the restore template of the default shape is saved and frozen"""
    root = f"{d.dir}/state/templates"
    try:
        return any(os.path.exists(f"{root}/{t}/frozen.qcow2") and
                   os.path.exists(f"{root}/{t}/memory.save") for t in os.listdir(root))
    except OSError:
        return False


def is_clone(d, sid):
    """its overlay's backing file is a template's frozen layer (qemu-img says)"""
    out = subprocess.run(["qemu-img", "info", "-U", "--output=json",
                          f"{d.dir}/state/sandboxes/{sid}/overlay.qcow2"],
                         capture_output=True, text=True)
    return out.returncode == 0 and \
        json.loads(out.stdout).get("backing-filename", "").endswith("/frozen.qcow2")


def restore_ready(rounds):
    """create to ready restored from a template (`restore = true`), or a reason"""
    d = Daemon("restore = true")
    try:
        if d.error is not None:
            return None, f"airlockd refused `restore = true`: {d.error.splitlines()[-1][:200]}"
        # the first create of a shape boots cold while its template boots beside it
        d.delete(d.create())
        deadline = time.monotonic() + 300
        while not template_saved(d):
            if time.monotonic() > deadline:
                return None, "no restore template was saved within 300 s"
            time.sleep(0.2)
        ts = []
        for _ in range(rounds):
            t = time.monotonic()
            sid = d.create()
            ts.append((time.monotonic() - t) * 1000)
            clone = is_clone(d, sid)
            d.delete(sid)
            if not clone:
                return None, "a create after the template was saved was not restored from it"
        return med(ts), None
    finally:
        d.stop()


def main():
    initrd, kernel = sys.argv[1], sys.argv[2]
    t_start = time.monotonic()
    load_start = os.getloadavg()[0]
    r, missing, notes = {}, [], {}
    base = []

    base.append(baseline(initrd, kernel, missing))
    d = Daemon()
    if d.error is not None:
        sys.exit(f"bench: airlockd did not start: {d.error}")
    try:
        ready, destroy = [], []
        log("cold create (first sandbox, then idle for host RSS)")
        t = time.monotonic()
        sid = d.create()
        ready.append((time.monotonic() - t) * 1000)
        time.sleep(IDLE_S)
        r["sandbox_host_rss_mb"] = idle_rss_mb(sid)
        log(f"exec x{EXECS}")
        ts = exec_times(d, sid, EXECS)
        r["exec_p50_ms"], r["exec_p99_ms"] = pct(ts, 50), pct(ts, 99)
        log(f"stream {MB} MiB")
        r["stream_mb_s"] = stream_mb_s(d, sid, MB)
        log(f"upload and download {MB} MiB")
        r["upload_mb_s"], r["download_mb_s"] = transfer_mb_s(d, sid, MB)
        t = time.monotonic()
        d.delete(sid)
        destroy.append((time.monotonic() - t) * 1000)
        for i in range(ROUNDS - 1):
            log(f"cold create {i + 2}/{ROUNDS}")
            t = time.monotonic()
            sid = d.create()
            ready.append((time.monotonic() - t) * 1000)
            t = time.monotonic()
            d.delete(sid)
            destroy.append((time.monotonic() - t) * 1000)
        r["cold_ready_p50_ms"], r["destroy_p50_ms"] = med(ready), med(destroy)
        base.append(baseline(initrd, kernel, missing))

        log(f"{PAR} creates at once")
        t = time.monotonic()
        ids = parallel(try_create(d), range(PAR))
        r[f"concurrent{PAR}_all_ready_s"] = time.monotonic() - t
        failed = [x for x in ids if isinstance(x, Exception)]
        ids = [x for x in ids if not isinstance(x, Exception)]
        if failed:
            # a boot that fails under load is a result too: said, not hidden
            r[f"concurrent{PAR}_all_ready_s"] = None
            missing.append(f"concurrent{PAR}_all_ready_s: {len(failed)} of {PAR} creates "
                           f"failed, first: {str(failed[0])[:300]}")
        time.sleep(2)
        r["daemon_rss_kb"] = d.rss_kb()
        rss = [idle_rss_mb(s) for s in ids]
        notes["sandboxes_for_daemon_rss"] = len(ids)
        notes["host_rss_mb_mean_of_concurrent"] = statistics.mean([x for x in rss if x])
        log(f"API load: GET /v1/sandboxes with {IDLE} idle sandboxes, 16 connections")
        parallel(d.delete, ids[IDLE:])
        ids = ids[:IDLE]
        notes["idle_sandboxes_for_api"] = len(ids)
        load = api_load(d, "/v1/sandboxes", 16, LOAD_S)
        r["api_rps"], r["api_p99_ms"] = load["rps"], load["p99_ms"]
        notes["api_p50_ms"] = load["p50_ms"]
        load = api_load(d, "/v1/health", 16, LOAD_S)
        notes["health_rps"], notes["health_p99_ms"] = load["rps"], load["p99_ms"]
        parallel(d.delete, ids)
    finally:
        d.stop()
    base.append(baseline(initrd, kernel, missing))
    base = [b for b in base if b is not None]
    r["baseline_exec_p50_ms"] = med([b["exec_ms_p50"] for b in base])
    r["baseline_ready_ms"] = med([b["ready_s"] * 1000 for b in base])
    notes["baseline_runs"] = len(base)

    log("restore-based creates (`restore = true`)")
    r["restore_ready_p50_ms"], why = restore_ready(ROUNDS)
    if why is not None:
        missing.append(f"restore_ready_p50_ms: {why}")
    log(f"warm pool (`pool = {POOL}`)")
    r["warm_ready_p50_ms"], why = warm_ready(ROUNDS)
    if why is not None:
        missing.append(f"warm_ready_p50_ms: {why}")
    if PAR != 16:
        r.setdefault("concurrent16_all_ready_s", None)
        missing.append(f"concurrent16_all_ready_s: --quick creates {PAR} at once")
    r["missing"] = missing
    r["notes"] = notes
    r["quick"] = QUICK
    r["elapsed_s"] = round(time.monotonic() - t_start, 1)
    r["machine"] = {"kernel": os.uname().release, "cpus": os.cpu_count(), "virt_type": "qemu",
                    "date": time.strftime("%Y-%m-%d", time.gmtime()),
                    "loadavg_start": load_start, "loadavg_end": os.getloadavg()[0]}
    if AS_JSON:
        print(json.dumps({k: (round(v, 2) if isinstance(v, float) else v) for k, v in r.items()},
                         indent=1))
    else:
        table(r)


def table(r):
    def f(k):
        v = r.get(k)
        return "—" if v is None else (f"{v:.3g}" if abs(v) < 100 else f"{v:.0f}")

    def ratio(a, b):
        return f"{r[a] / r[b]:.2f}" if r.get(a) and r.get(b) else "—"
    rows = [
        ("create to ready p50 (ms)", "baseline_ready_ms", "cold_ready_p50_ms"),
        ("restore-based create to ready p50 (ms)", "baseline_ready_ms", "restore_ready_p50_ms"),
        ("warm-pool create to ready p50 (ms)", None, "warm_ready_p50_ms"),
        ("`/bin/true` exec p50 (ms)", "baseline_exec_p50_ms", "exec_p50_ms"),
        ("`/bin/true` exec p99 (ms)", None, "exec_p99_ms"),
        ("destroy p50 (ms)", None, "destroy_p50_ms"),
        (f"stdout stream, NDJSON ({MB} MiB, MB/s)", None, "stream_mb_s"),
        (f"upload ({MB} MiB, MB/s)", None, "upload_mb_s"),
        (f"download ({MB} MiB, MB/s)", None, "download_mb_s"),
        (f"{PAR} creates at once, all ready (s)", None, f"concurrent{PAR}_all_ready_s"),
        (f"GET /v1/sandboxes, {IDLE} idle, 16 conns (req/s)", None, "api_rps"),
        ("GET /v1/sandboxes p99 (ms)", None, "api_p99_ms"),
        (f"daemon RSS, {PAR} sandboxes (KiB)", None, "daemon_rss_kb"),
        ("host RSS of one idle sandbox (MB)", None, "sandbox_host_rss_mb"),
    ]
    print("| metric | qemu-guest-agent | airlock | airlock / baseline |")
    print("|---|---|---|---|")
    for label, b, a in rows:
        print(f"| {label} | {f(b) if b else '—'} | {f(a)} | {ratio(a, b) if b else '—'} |")
    for m in r["missing"]:
        print(f"\nmissing: {m}")
    print(f"\nnotes: {json.dumps(r['notes'])}; {r['elapsed_s']} s; {json.dumps(r['machine'])}")


if __name__ == "__main__":
    main()
