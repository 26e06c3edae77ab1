"""Harness for the tests of several clusterm instances on etcd (CONTRACT
section 9): an N-member etcd cluster and K clusterm instances on loopback,
each with its own data or state dir in one temporary dir, every process
stopped by its PID in cleanup(), also after a failure.

Ports come from HA_PORTS (default 24000-25999: below the ephemeral range
of 32768-60999, so that no connect can take one first), picked at random and
checked free; none is handed out twice by one process."""

import json
import os
import random
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

from util import BUILD_DIR, CLUSTERM, request, wait_until

ETCD = os.environ.get("ETCD", "/usr/bin/etcd")
ETCD_WAIT_S = 20.0
CM_WAIT_S = 20.0
STOP_WAIT_S = 10.0

_lo, _, _hi = os.environ.get("HA_PORTS", "24000-25999").partition("-")
PORT_RANGE = (int(_lo), int(_hi))
_given = set()


def pick_port(host="127.0.0.1"):
    """A port of PORT_RANGE that is free now and was not given out before."""
    import socket
    for _ in range(500):
        p = random.randint(*PORT_RANGE)
        if p in _given:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((host, p))
            except OSError:
                continue
        _given.add(p)
        return p
    raise RuntimeError("no free port in %d-%d" % PORT_RANGE)


def have_etcd():
    return os.access(ETCD, os.X_OK)


def stop_proc(proc, sig=signal.SIGTERM, timeout=STOP_WAIT_S):
    """Signals one process we started (by its PID) and reaps it; SIGKILL after timeout."""
    if proc is None or proc.poll() is not None:
        return None if proc is None else proc.returncode
    try:
        os.kill(proc.pid, signal.SIGCONT)   # a stopped process cannot act on SIGTERM
        os.kill(proc.pid, sig)
    except ProcessLookupError:
        pass
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        return proc.wait(timeout)


def http_json(url, method="GET", body=None, timeout=5):
    """(status, parsed JSON or text) of one request to a full URL."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            st, text = r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        st, text = e.code, e.read().decode("utf-8", "replace")
    try:
        return st, json.loads(text)
    except ValueError:
        return st, text


class EtcdMember:
    def __init__(self, name, data_dir, client_port, peer_port):
        self.name = name
        self.data_dir = data_dir
        self.client_port = client_port
        self.peer_port = peer_port
        self.proc = None
        self.log_path = data_dir + ".log"
        self.cmd = None

    def client_url(self):
        return "http://127.0.0.1:%d" % self.client_port

    def peer_url(self):
        return "http://127.0.0.1:%d" % self.peer_port

    def start(self):
        assert self.proc is None or self.proc.poll() is not None, "%s runs" % self.name
        logf = open(self.log_path, "ab")
        try:
            # The --initial-* flags are ignored once the data dir holds a member.
            self.proc = subprocess.Popen(self.cmd, stdout=logf, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
        finally:
            logf.close()

    def healthy(self):
        st, body = http_json(self.client_url() + "/health", timeout=2)
        return st == 200 and isinstance(body, dict) and body.get("health") == "true"

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""


class EtcdCluster:
    """n etcd members on 127.0.0.1, heartbeat 100 ms, election timeout 1000 ms."""

    def __init__(self, n=3, tmp=None):
        self.own_tmp = tmp is None
        self.tmp = tmp or tempfile.mkdtemp(prefix="clusterm-etcd-")
        self.token = "clusterm-test-%d-%x" % (os.getpid(), random.getrandbits(48))
        self.members = []
        for i in range(n):
            name = "e%d" % (i + 1)
            self.members.append(EtcdMember(name, os.path.join(self.tmp, name),
                                           pick_port(), pick_port()))
        initial = ",".join("%s=%s" % (m.name, m.peer_url()) for m in self.members)
        for m in self.members:
            m.cmd = [ETCD, "--name", m.name, "--data-dir", m.data_dir,
                     "--listen-client-urls", m.client_url(),
                     "--advertise-client-urls", m.client_url(),
                     "--listen-peer-urls", m.peer_url(),
                     "--initial-advertise-peer-urls", m.peer_url(),
                     "--initial-cluster", initial, "--initial-cluster-state", "new",
                     "--initial-cluster-token", self.token,
                     "--heartbeat-interval", "100", "--election-timeout", "1000",
                     "--log-level", "warn"]

    def client_urls(self):
        return [m.client_url() for m in self.members]

    def start(self, timeout=ETCD_WAIT_S):
        for m in self.members:
            m.start()
        self.wait_healthy(timeout=timeout)
        return self

    def wait_healthy(self, members=None, timeout=ETCD_WAIT_S):
        """Waits until every given (default: every running) member says healthy."""
        ms = [self.members[i] for i in members] if members is not None else \
            [m for m in self.members if m.running()]

        def ok():
            for m in ms:
                if not m.running():
                    raise AssertionError("etcd %s exited:\n%s" % (m.name, m.log()[-3000:]))
            return all(m.healthy() for m in ms)
        wait_until(ok, timeout=timeout, interval=0.05, what="etcd /health on every member")

    def kill9(self, i):
        return stop_proc(self.members[i].proc, signal.SIGKILL)

    def sigstop(self, i):
        os.kill(self.members[i].proc.pid, signal.SIGSTOP)

    def sigcont(self, i):
        os.kill(self.members[i].proc.pid, signal.SIGCONT)

    def restart(self, i, wait=True):
        stop_proc(self.members[i].proc)
        self.members[i].start()
        if wait:
            self.wait_healthy([i])

    def etcd_leader(self):
        """Index of the member that is the raft leader, or None."""
        for i, m in enumerate(self.members):
            if not m.running():
                continue
            try:
                st, body = http_json(m.client_url() + "/v3/maintenance/status", "POST", {},
                                     timeout=2)
            except OSError:
                continue
            if st == 200 and body.get("leader") == body.get("header", {}).get("member_id"):
                return i
        return None

    def cleanup(self):
        for m in self.members:
            try:
                stop_proc(m.proc)
            except OSError:
                pass
        if self.own_tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)


class Instance:
    """One clusterm (CLUSTERM -c CONF) with its own state dir."""

    def __init__(self, instance_id, conf, tmp):
        self.id = instance_id
        self.conf = conf
        self.port = int(conf["manager"]["addr"].rsplit(":", 1)[1])
        self.host = conf["manager"]["addr"].rsplit(":", 1)[0]
        self.state_dir = conf["manager"]["state_dir"]
        self.conf_path = os.path.join(tmp, instance_id + ".conf")
        self.log_path = os.path.join(tmp, instance_id + ".log")
        self.proc = None

    def url(self):
        return "http://%s:%d" % (self.host, self.port)

    def write_conf(self):
        os.makedirs(self.state_dir, mode=0o700, exist_ok=True)
        with open(self.conf_path, "w") as f:
            json.dump(self.conf, f, indent=1)

    def start(self, wait=True, timeout=CM_WAIT_S):
        assert not self.running(), "%s runs" % self.id
        self.write_conf()
        with open(self.log_path, "ab") as logf:
            logf.write(b"---- start\n")
            logf.flush()
            self.proc = subprocess.Popen([CLUSTERM, "-c", self.conf_path], stdout=logf,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        if wait:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout=CM_WAIT_S):
        def ready():
            if self.proc.poll() is not None:
                raise AssertionError("clusterm %s exited with %d:\n%s" % (
                    self.id, self.proc.returncode, self.log()[-4000:]))
            return self.get("/healthz", timeout=2)[0] in (200, 503)
        wait_until(ready, timeout, interval=0.05, what="clusterm %s /healthz" % self.id)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def get(self, path, **kw):
        return request(self.port, "GET", path, host=self.host, **kw)

    def post(self, path, body, **kw):
        return request(self.port, "POST", path, body=body, host=self.host, **kw)

    def healthz(self, timeout=2):
        """(status, body) of /healthz; (None, None) when it does not answer."""
        try:
            st, body, _ = self.get("/healthz", timeout=timeout)
            return st, body
        except OSError:
            return None, None

    def role(self):
        st, body = self.healthz()
        return body.get("role") if isinstance(body, dict) else None

    def nodes(self):
        st, body, _ = self.get("/api/v1/nodes")
        assert st == 200, (self.id, st, body)
        return {n["name"]: n for n in body["nodes"]}

    def node(self, name):
        st, body, _ = self.get("/api/v1/nodes/" + name)
        return body if st == 200 else None

    def jobs(self):
        st, body, _ = self.get("/api/v1/jobs")
        assert st == 200, (self.id, st, body)
        return body["jobs"]

    def job(self, job_id):
        st, body, _ = self.get("/api/v1/jobs/%d" % job_id)
        return body if st == 200 else None

    def stop(self, sig=signal.SIGTERM):
        rc = stop_proc(self.proc, sig)
        return rc

    def kill9(self):
        return self.stop(signal.SIGKILL)

    def sigstop(self):
        os.kill(self.proc.pid, signal.SIGSTOP)

    def sigcont(self):
        os.kill(self.proc.pid, signal.SIGCONT)


class Manager:
    """K clusterm instances cm1..cmK on one etcd prefix; cleanup() stops them."""

    def __init__(self, etcd_urls, k=3, tmp=None, lease_ttl_s=3, ansible=None, monitor=None,
                 manager=None, prefix=None, endpoints=None):
        self.own_tmp = tmp is None
        self.tmp = tmp or tempfile.mkdtemp(prefix="clusterm-ha-")
        os.makedirs(self.tmp, mode=0o700, exist_ok=True)
        os.chmod(self.tmp, 0o700)
        self.prefix = prefix or "/t%x" % random.getrandbits(40)
        self.lease_ttl_s = lease_ttl_s
        self.instances = []
        for i in range(k):
            iid = "cm%d" % (i + 1)
            port = pick_port()
            conf = {
                "manager": dict({"addr": "127.0.0.1:%d" % port,
                                 "state_dir": os.path.join(self.tmp, iid + ".state"),
                                 "instance_id": iid,
                                 "advertise_url": "http://127.0.0.1:%d" % port},
                                **(manager or {})),
                "store": {"backend": "etcd",
                          "etcd": {"endpoints": list((endpoints or {}).get(iid, etcd_urls)),
                                   "prefix": self.prefix, "lease_ttl_s": lease_ttl_s}},
                "monitor": dict({"grace_s": 1}, **(monitor or {})),
            }
            if ansible is not None:
                conf["ansible"] = dict(ansible)
            self.instances.append(Instance(iid, conf, self.tmp))

    def __getitem__(self, i):
        return self.instances[i]

    def urls(self):
        return [c.url() for c in self.instances]

    def start(self, wait=True):
        for c in self.instances:
            c.start(wait=False)
        if wait:
            for c in self.instances:
                c.wait_ready()
        return self

    def running(self):
        return [c for c in self.instances if c.running()]

    def leaders(self):
        return [c for c in self.running() if c.role() == "leader"]

    def wait_leader(self, timeout=CM_WAIT_S, exclude=(), among=None):
        """The one instance whose /healthz says leader (and that the others name)."""
        def one():
            pool = [c for c in (among or self.running()) if c.id not in exclude]
            ls = [c for c in pool if c.role() == "leader"]
            if len(ls) != 1:
                return None
            for c in pool:
                st, body = c.healthz()
                if not isinstance(body, dict) or body.get("leader") != ls[0].id:
                    return None
            return ls[0]
        return wait_until(one, timeout=timeout, interval=0.02, what="one leader")

    def followers(self):
        return [c for c in self.running() if c.role() == "follower"]

    def logs(self):
        return "\n".join("==== %s\n%s" % (c.id, c.log()[-6000:]) for c in self.instances)

    def cleanup(self):
        for c in self.instances:
            try:
                c.stop()
            except OSError:
                pass
        if self.own_tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)


def same_everywhere(instances, fn, timeout=1.0, interval=0.02):
    """Waits until fn(instance) is equal on every instance; returns (value, seconds)."""
    t0 = time.monotonic()
    vals = {}

    def equal():
        vals.clear()
        for c in instances:
            vals[c.id] = fn(c)
        first = next(iter(vals.values()))
        return all(v == first for v in vals.values())
    try:
        wait_until(equal, timeout=timeout, interval=interval, what="the same state everywhere")
    except AssertionError:
        raise AssertionError("instances differ after %.1fs: %s" % (
            timeout, json.dumps(vals, sort_keys=True)[:3000]))
    return next(iter(vals.values())), time.monotonic() - t0


def proc_alive(pid):
    """True while pid exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def group_members(pgid):
    """PIDs (not zombies) whose process group is pgid."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            out.append(int(d))
    return out


__all__ = ["BUILD_DIR", "EtcdCluster", "Manager", "Instance", "pick_port", "have_etcd",
           "http_json", "same_everywhere", "stop_proc", "proc_alive", "group_members"]
