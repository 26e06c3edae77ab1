#!/usr/bin/env python3
"""Valgrind memcheck smoke test: the real clusterm takes a few batches and
answers reads, then stops on SIGTERM; serf-forwarder delivers one batch and
spools one while the server is down. Every run must exit 0 under
`valgrind --leak-check=full --errors-for-leak-kinds=definite
--error-exitcode=99`: no memory errors, no definite leaks.

Environment: BUILD_DIR (default ../../build), VALGRIND (default valgrind),
VG_SMOKE_KEEP=1 keeps the temp dir (logs, state dir, spools).
Exits 77 (skipped) when valgrind is missing."""

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

BUILD_DIR = os.environ.get("BUILD_DIR", os.path.join(os.path.dirname(__file__), "../../build"))
CLUSTERM = os.path.join(BUILD_DIR, "clusterm", "clusterm")
FORWARDER = os.path.join(BUILD_DIR, "serf-forwarder", "serf-forwarder")
VALGRIND = os.environ.get("VALGRIND", "valgrind")
VG_ARGS = ["--leak-check=full", "--errors-for-leak-kinds=definite", "--error-exitcode=99",
           "--show-leak-kinds=definite", "--num-callers=30", "--track-fds=no"]
START_S = 120.0

failures = []


def check(cond, what):
    print(("ok: " if cond else "FAIL: ") + what, flush=True)
    if not cond:
        failures.append(what)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(port, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        hdrs = dict(headers or {})
        data = None
        if body is not None:
            data = body if isinstance(body, str) else json.dumps(body)
            hdrs.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=data, headers=hdrs)
        resp = conn.getresponse()
        return resp.status, resp.read().decode("utf-8", "replace")
    finally:
        conn.close()


def report(label, addr, **extra):
    r = {"Node-Label": label, "Node-Serial": "", "Node-Mgmt-Address": addr}
    r.update(extra)
    return r


def vg(logfile, argv):
    return [VALGRIND, "--log-file=" + logfile] + VG_ARGS + argv


def show_log(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            sys.stdout.write(f.read())
    except OSError:
        pass


def smoke_clusterm(tmp, port):
    """Runs clusterm under valgrind; returns its Popen once it answers."""
    runs = len([f for f in os.listdir(tmp) if f.startswith("clusterm") and f.endswith(".vg")])
    log = os.path.join(tmp, "clusterm%s.vg" % (runs or ""))
    out = open(os.path.join(tmp, "clusterm.log"), "ab")
    proc = subprocess.Popen(vg(log, [CLUSTERM, "-l", "127.0.0.1:%d" % port,
                                     "-d", os.path.join(tmp, "state")]),
                            stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + START_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            if request(port, "GET", "/healthz")[0] in (200, 503):
                return proc, log
        except OSError:
            pass
        time.sleep(0.2)
    show_log(os.path.join(tmp, "clusterm.log"))
    show_log(log)
    raise SystemExit("clusterm did not start under valgrind")


def stop(proc, what, log):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        rc = proc.wait(START_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        rc = proc.wait()
    check(rc == 0, "%s exits 0 under valgrind (status %d)" % (what, rc))
    if rc != 0:
        show_log(log)


def run_forwarder(tmp, name, url, spool, lines):
    log = os.path.join(tmp, name + ".vg")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("SERF_") and k != "CLUSTERM_TOKEN"}
    env.update({"SERF_EVENT": "member-join", "SERF_SELF_NAME": "rep1"})
    p = subprocess.run(vg(log, [FORWARDER, "-s", spool, "-t", "20", "-u", url]),
                       input="".join(lines), env=env, text=True, capture_output=True,
                       timeout=START_S)
    return p, log


def main():
    if shutil.which(VALGRIND) is None:
        print("valgrind not found: skipped")
        return 77
    tmp = tempfile.mkdtemp(prefix="vg-smoke-")
    port = free_port()
    proc = None
    try:
        proc, cm_log = smoke_clusterm(tmp, port)
        st, _ = request(port, "POST", "/monitor/event/discovered",
                        [report("n1", "10.0.0.1"), report("n2", "10.0.0.2", rack="r1")])
        check(st == 200, "operator batch discovered: 200 (%d)" % st)
        st, _ = request(port, "POST", "/monitor/event/disappeared", [report("n2", "10.0.0.2")])
        check(st == 200, "operator batch disappeared: 200 (%d)" % st)
        rep = {"X-Reporter": "n1", "X-Reporter-Epoch": "e1", "X-Reporter-Seq": "1"}
        st, _ = request(port, "POST", "/monitor/event/discovered",
                        [report("n1", "10.0.0.1", **{"Node-Name": "n1"}),
                         report("n3", "10.0.0.3", **{"Node-Name": "n3"})], rep)
        check(st == 200, "reporter batch: 200 (%d)" % st)
        st, body = request(port, "POST", "/monitor/event/discovered",
                           [report("n1", "10.0.0.1", **{"Node-Name": "n1"})], rep)
        check(st == 200 and '"duplicates":1' in body.replace(" ", ""),
              "replayed reporter batch counted as duplicate (%d %s)" % (st, body))
        st, _ = request(port, "POST", "/monitor/event/discovered",
                        [report("bad name;", "10.0.0.9")])
        check(st == 400, "bad batch: 400 (%d)" % st)
        st, _ = request(port, "POST", "/monitor/event/discovered", '[{"Node-Label": ')
        check(st == 400, "truncated JSON: 400 (%d)" % st)
        st, _ = request(port, "POST", "/monitor/snapshot",
                        {"members": [dict(report("n3", "10.0.0.3"), **{"Node-Name": "n3",
                                     "Serf-Status": "alive"})]},
                        {"X-Reporter": "n3", "X-Reporter-Epoch": "e3", "X-Reporter-Seq": "1"})
        check(st == 200, "snapshot: 200 (%d)" % st)
        st, body = request(port, "GET", "/api/v1/nodes")
        check(st == 200 and "n1" in body and "n3" in body, "GET /api/v1/nodes (%d)" % st)
        st, _ = request(port, "GET", "/api/v1/nodes/n1")
        check(st == 200, "GET /api/v1/nodes/n1 (%d)" % st)
        st, body = request(port, "GET", "/metrics")
        check(st == 200 and "# TYPE" in body, "GET /metrics (%d)" % st)
        st, _ = request(port, "GET", "/healthz")
        check(st == 200, "GET /healthz (%d)" % st)
        st, _ = request(port, "GET", "/no/such/path")
        check(st == 404, "unknown path: 404 (%d)" % st)

        line = "fw1\t127.0.0.21\tweb\tNodeSerial=S1,rack=r1\n"
        p, log = run_forwarder(tmp, "fwd-deliver", "http://127.0.0.1:%d" % port,
                               os.path.join(tmp, "spool1"), [line])
        check(p.returncode == 0, "serf-forwarder delivers under valgrind (status %d)"
              % p.returncode)
        if p.returncode != 0:
            sys.stdout.write(p.stderr)
            show_log(log)
        st, _ = request(port, "GET", "/api/v1/nodes/fw1-S1")
        check(st == 200, "the forwarded node arrived (%d)" % st)

        dead = free_port()
        p, log = run_forwarder(tmp, "fwd-spool", "http://127.0.0.1:%d" % dead,
                               os.path.join(tmp, "spool2"), [line])
        queued = os.listdir(os.path.join(tmp, "spool2", "q")) \
            if os.path.isdir(os.path.join(tmp, "spool2", "q")) else []
        # A spooled batch is success for serf: the handler must not fail the event.
        check(p.returncode == 0 and len(queued) == 1,
              "serf-forwarder spools under valgrind (status %d, %d queued)"
              % (p.returncode, len(queued)))
        if p.returncode != 0:
            sys.stdout.write(p.stderr)
            show_log(log)

        stop(proc, "clusterm", cm_log)
        proc = None

        # Again on the same state dir: recovery replays the log.
        proc, cm_log = smoke_clusterm(tmp, port)
        st, body = request(port, "GET", "/api/v1/nodes")
        check(st == 200 and "fw1-S1" in body and "n3" in body,
              "nodes recovered after a restart (%d)" % st)
        stop(proc, "clusterm after recovery", cm_log)
        proc = None
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        if not failures and not os.environ.get("VG_SMOKE_KEEP"):
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print("kept " + tmp)
    print("%d failure(s)" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
