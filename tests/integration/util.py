"""Shared helpers for the black-box tests: start the real binaries on
loopback, talk HTTP to them, and always stop what was started, by PID."""

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

BUILD_DIR = os.environ.get("BUILD_DIR", os.path.join(os.path.dirname(__file__), "../../build"))
SOURCE_DIR = os.environ.get("SOURCE_DIR", os.path.join(os.path.dirname(__file__), "../.."))
CLUSTERM = os.path.join(BUILD_DIR, "clusterm", "clusterm")
CLUSTERCTL = os.path.join(BUILD_DIR, "clusterm", "clusterctl")
FORWARDER = os.path.join(BUILD_DIR, "serf-forwarder", "serf-forwarder")

WAIT_S = 10.0


def free_port(host="127.0.0.1"):
    """A port that was free a moment ago on host."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_until(pred, timeout=WAIT_S, interval=0.02, what="condition"):
    """Polls pred until it returns a true value; raises after timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = pred()
            if last:
                return last
        except (OSError, http.client.HTTPException, ValueError):
            pass
        time.sleep(interval)
    raise AssertionError("timed out after %.1fs waiting for %s (last: %r)" % (timeout, what, last))


def request(port, method, path, body=None, headers=None, host="127.0.0.1", timeout=10,
            raw=False):
    """One HTTP request; returns (status, parsed JSON or text, headers)."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        hdrs = dict(headers or {})
        data = None
        if body is not None:
            data = body if isinstance(body, (bytes, str)) else json.dumps(body)
            if isinstance(data, str):
                data = data.encode()
            hdrs.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=data, headers=hdrs)
        resp = conn.getresponse()
        text = resp.read().decode("utf-8", "replace")
        if not raw and resp.getheader("Content-Type", "").startswith("application/json"):
            return resp.status, json.loads(text), dict(resp.getheaders())
        return resp.status, text, dict(resp.getheaders())
    finally:
        conn.close()


class Clusterm:
    """A real clusterm on a free loopback port with its own state dir."""

    def __init__(self, state_dir=None, config=None, args=(), port=None, host="127.0.0.1"):
        self.own_dir = state_dir is None
        self.tmp = tempfile.mkdtemp(prefix="clusterm-test-")
        self.state_dir = state_dir or os.path.join(self.tmp, "state")
        self.host = host
        self.port = port or free_port(host)
        self.config = config
        self.args = list(args)
        self.proc = None
        self.log_path = os.path.join(self.tmp, "clusterm.log")

    def start(self, wait=True):
        cmd = [CLUSTERM, "-l", "%s:%d" % (self.host, self.port), "-d", self.state_dir]
        if self.config is not None:
            path = os.path.join(self.tmp, "clusterm.conf")
            with open(path, "w") as f:
                json.dump(self.config, f)
            cmd += ["-c", path]
        cmd += self.args
        self.logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, stdout=self.logf, stderr=subprocess.STDOUT)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=WAIT_S):
        def ready():
            if self.proc.poll() is not None:
                raise AssertionError("clusterm exited with %d:\n%s" % (self.proc.returncode, self.log()))
            return self.get("/healthz")[0] in (200, 503)
        wait_until(ready, timeout, what="clusterm /healthz")

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def url(self):
        return "http://%s:%d" % (self.host, self.port)

    def get(self, path, **kw):
        return request(self.port, "GET", path, host=self.host, **kw)

    def post(self, path, body, **kw):
        return request(self.port, "POST", path, body=body, host=self.host, **kw)

    def node(self, name):
        st, body, _ = self.get("/api/v1/nodes/" + name)
        return body if st == 200 else None

    def state_of(self, name):
        n = self.node(name)
        return n["state"] if n else None

    def stop(self, sig=signal.SIGTERM, timeout=WAIT_S):
        """Stops by PID; returns the exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)
        rc = self.proc.returncode
        self.proc = None
        self.logf.close()
        return rc

    def kill9(self):
        return self.stop(signal.SIGKILL)

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.cleanup()


def report(label, addr, serial=None, **extra):
    """A report object with the contract's keys."""
    r = {"Node-Label": label, "Node-Mgmt-Address": addr}
    if serial is not None:
        r["Node-Serial"] = serial
    for k, v in extra.items():
        r[k.replace("_", "-")] = v
    return r


def reporter_headers(name, seq, epoch="e1"):
    return {"X-Reporter": name, "X-Reporter-Epoch": epoch, "X-Reporter-Seq": str(seq)}
