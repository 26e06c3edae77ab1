"""Helpers for the system tests: real `serf agent`s with serf-forwarder as
their event handler, a real clusterm, optionally all of it inside network
namespaces the test creates. tests/integration/util.py has the shared ones
(Clusterm, request, wait_until); this file only adds what serf needs.

Everything started here is stopped by PID and every namespace created here
is deleted by SystemCase's cleanups, which run even when a test fails."""

import ctypes
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from util import (CLUSTERCTL, CLUSTERM, FORWARDER, Clusterm, free_port,  # noqa: E402,F401
                  request, wait_until)

SERF = shutil.which("serf")
EVENTS = "member-join,member-leave,member-failed,member-update,member-reap"

# serf's timings, through its JSON config. Probe and gossip intervals cannot
# be set there, only memberlist's profile. "lan" (serf's default) declares a
# SIGKILLed agent failed in ~5-7 s on loopback here. "local" was no faster at
# that, but its gossip is thinner (fewer retransmissions): joins and deaths
# often reached some agents only with the next push/pull sync, e.g. 30
# agents needed ~20 s instead of ~1 s until every agent knew every other,
# and a death took ~10 s longer to reach a majority of the agents.
# SYSTEM_SERF_PROFILE picks another profile.
SERF_TIMING = {
    "profile": os.environ.get("SYSTEM_SERF_PROFILE", "lan"),
    "reconnect_interval": "1s",     # retry failed members every second (heals fast)
    "reconnect_timeout": "2m",      # a failed member is reaped after this
    "tombstone_timeout": "2m",      # a left member is forgotten after this
    "broadcast_timeout": "10s",    # how long `serf leave` waits for its broadcast
}

FWD_TIMEOUT_S = 5
# Beside each agent runs a tick loop, as on a node (serf-forwarder(1), TICK):
# a tick every TICK_S seconds, a sync every SYNC_INTERVAL_S (less jitter).
TICK_S = 1
SYNC_INTERVAL_S = 30
# clusterm's heartbeat keys to match (clusterm.conf(5)): a heartbeat may be
# in flight for a tick (the loop's sleep plus the tick's own run), and
# HB_TIMEOUT_S without one makes a node voted alive unreachable.
HB_INTERVAL_S = TICK_S + 1
HB_TIMEOUT_S = 5


def log(msg):
    """A line in the test's output (meson keeps it in the test log)."""
    sys.stderr.write("  [%s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


def have_serf():
    return SERF is not None


def node_name(label, serial):
    return "%s-%s" % (label, serial) if serial else label


# --------------------------------------------------------------------------
# What is running now, for a SIGTERM (meson's timeout) that would otherwise
# skip the cleanups: agents and clusterms are killed by PID, namespaces
# deleted, then the process exits.

_live = {"objs": [], "netns": [], "dirs": []}


def _on_sigterm(signum, frame):
    for o in list(_live["objs"]):
        t = getattr(o, "ticker", None)
        if t is not None:
            try:
                os.killpg(t.pid, signal.SIGKILL)
            except OSError:
                pass
        p = getattr(o, "proc", None)
        try:
            if p is not None and p.poll() is None:
                p.kill()
                p.wait(5)
        except Exception:  # noqa: BLE001 - best effort on the way out
            pass
    for ns in list(_live["netns"]):
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=20)
    if not os.environ.get("KEEP_TMP"):
        for d in _live["dirs"]:
            shutil.rmtree(d, ignore_errors=True)
    sys.stderr.write("system test: signal %d, stopped what it had started\n" % signum)
    os._exit(128 + signum)


def track(obj):
    """obj (with .proc) is killed by PID if the test process gets SIGTERM."""
    _live["objs"].append(obj)
    return obj


# --------------------------------------------------------------------------
# Network namespaces


_libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNET = 0x40000000


def in_netns(ns, fn):
    """Runs fn() in a fresh thread that has joined network namespace ns (the
    rest of the process stays where it is); returns its result."""
    out = {}

    def run():
        try:
            fd = os.open("/run/netns/" + ns, os.O_RDONLY)
            try:
                if _libc.setns(fd, CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, "setns(%s): %s" % (ns, os.strerror(err)))
            finally:
                os.close(fd)
            out["v"] = fn()
        except BaseException as e:  # noqa: B902 - handed back to the caller
            out["e"] = e
    t = threading.Thread(target=run)
    t.start()
    t.join()
    if "e" in out:
        raise out["e"]
    return out["v"]


def ip(*args, check=True):
    """Runs `ip ARGS`; raises with its stderr when it fails and check is set."""
    p = subprocess.run(["ip"] + list(args), capture_output=True, text=True, timeout=20)
    if check and p.returncode != 0:
        raise RuntimeError("ip %s: %s" % (" ".join(args), p.stderr.strip()))
    return p


def netns_unavailable():
    """None when this process may create network namespaces, else why not."""
    if shutil.which("ip") is None:
        return "iproute2's ip is not installed"
    if os.geteuid() != 0:
        return "network namespaces need root (ip netns add)"
    name = "cmsys-probe-%d" % os.getpid()
    p = ip("netns", "add", name, check=False)
    if p.returncode != 0:
        return "ip netns add is not allowed here: %s" % p.stderr.strip()
    ip("netns", "del", name, check=False)
    return None


class Netns:
    """Namespaces created by one test, deleted (with what lives in them) by
    cleanup(). Names carry the test's PID so that parallel runs never meet."""

    def __init__(self):
        self.tag = "cmsys%d" % os.getpid()
        self.created = []

    def add(self, short):
        name = "%s-%s" % (self.tag, short)
        ip("netns", "add", name)
        self.created.append(name)
        _live["netns"].append(name)
        ip("-n", name, "link", "set", "lo", "up")
        return name

    def veth(self, ns1, if1, ns2, if2):
        """A veth pair created directly inside the two namespaces (the root
        namespace never sees it), both ends up."""
        ip("-n", ns1, "link", "add", if1, "type", "veth", "peer", "name", if2, "netns", ns2)
        ip("-n", ns1, "link", "set", if1, "up")
        ip("-n", ns2, "link", "set", if2, "up")

    def sysctl(self, ns, key, value):
        subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-qw", "%s=%s" % (key, value)],
                       check=True, timeout=20)

    def cleanup(self):
        for name in reversed(self.created):
            ip("netns", "del", name, check=False)
            if name in _live["netns"]:
                _live["netns"].remove(name)
        self.created = []


class NsClusterm(Clusterm):
    """A clusterm running inside network namespace ns (started through
    `ip netns exec`, which execs: the PID is clusterm's); HTTP to it goes
    through a thread that joined the namespace."""

    def __init__(self, ns, host, **kw):
        super().__init__(host=host, port=kw.pop("port", 9007), **kw)
        self.ns = ns

    def start(self, wait=True):
        cmd = ["ip", "netns", "exec", self.ns, CLUSTERM,
               "-l", "%s:%d" % (self.host, self.port), "-d", self.state_dir]
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

    def get(self, path, **kw):
        return in_netns(self.ns, lambda: request(self.port, "GET", path, host=self.host, **kw))

    def post(self, path, body, **kw):
        return in_netns(self.ns, lambda: request(self.port, "POST", path, body=body,
                                                 host=self.host, **kw))


# --------------------------------------------------------------------------
# serf agents


class Agent:
    """One `serf agent` with serf-forwarder as its event handler (through the
    config file's event_handlers: serf refuses a -event-handler holding '='),
    its own spool dir and forwarder config."""

    def __init__(self, name, ip_addr, tmp, urls, label=None, serial=None, mgmt=None,
                 tags=None, join=(), ns=None, port=None, serf_extra=None, ticks=True):
        self.name = name
        self.ticks = ticks      # False: a node without the tick timer (no heartbeats)
        self.ip = ip_addr
        self.ns = ns
        self.label = label or name
        self.serial = serial or ""
        self.node = node_name(self.label, self.serial)
        self.dir = os.path.join(tmp, name)
        os.makedirs(self.dir, exist_ok=True)
        self.spool = os.path.join(self.dir, "spool")
        self.port = port or (7946 if ns else free_port(ip_addr))
        self.addr = "%s:%d" % (ip_addr, self.port)
        # in a namespace of its own making nothing else listens: one RPC port per address
        self.rpc = "127.0.0.1:%d" % (7373 + int(ip_addr.rsplit(".", 1)[1]) if ns else free_port())
        self.fwd_conf = os.path.join(self.dir, "serf-forwarder.conf")
        with open(self.fwd_conf, "w") as f:
            json.dump({"urls": list(urls), "spool_dir": self.spool,
                       "timeout_s": FWD_TIMEOUT_S, "tick_s": TICK_S,
                       "sync_interval_s": SYNC_INTERVAL_S, "rpc_addr": self.rpc}, f)
        t = {"NodeLabel": self.label}
        if self.serial:
            t["NodeSerial"] = self.serial
        if mgmt:
            t["NodeAddr"] = mgmt
        t.update(tags or {})
        conf = {"node_name": name, "bind": self.addr, "rpc_addr": self.rpc,
                "log_level": "debug", "tags": t, "leave_on_terminate": False,
                "event_handlers": ["%s=%s -c %s" % (EVENTS, FORWARDER, self.fwd_conf)]}
        conf.update(SERF_TIMING)
        conf.update(serf_extra or {})
        if join:
            conf["start_join"] = list(join)
        self.conf_path = os.path.join(self.dir, "serf.json")
        with open(self.conf_path, "w") as f:
            json.dump(conf, f, indent=1)
        self.log_path = os.path.join(self.dir, "serf.log")
        self.tick_log_path = os.path.join(self.dir, "tick.log")
        self.proc = None
        self.logf = None
        self.ticker = None
        self.tick_logf = None

    def _wrap(self, cmd):
        return (["ip", "netns", "exec", self.ns] if self.ns else []) + cmd

    def start(self, wait=True):
        self.logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self._wrap([SERF, "agent", "-config-file", self.conf_path]),
                                     stdout=self.logf, stderr=subprocess.STDOUT)
        if self.ticks:
            self.start_ticks()
        if wait:
            self.wait_rpc()
        return self

    def start_ticks(self):
        """The tick loop a node runs beside its agent (no systemd here): a
        shell loop in a process group of its own, stopped with the agent.
        -t keeps the bound of the event runs (a tick caps it at tick_s)."""
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("SERF_") and k != "CLUSTERM_TOKEN"}
        loop = 'while :; do "$0" -c "$1" -t "$2" tick; sleep "$3"; done'
        self.tick_logf = open(self.tick_log_path, "ab")
        self.ticker = subprocess.Popen(
            self._wrap(["sh", "-c", loop, FORWARDER, self.fwd_conf, str(FWD_TIMEOUT_S),
                        str(TICK_S)]),
            stdout=self.tick_logf, stderr=subprocess.STDOUT, env=env, start_new_session=True)

    def stop_ticks(self):
        """Stops the loop by its PID; a tick in progress finishes (within its
        bound, as a POST in flight would), then the group is killed if left."""
        t, self.ticker = self.ticker, None
        if t is not None:
            if t.poll() is None:
                t.kill()
                t.wait(10)
            deadline = time.monotonic() + FWD_TIMEOUT_S + 5
            while time.monotonic() < deadline:
                try:
                    os.killpg(t.pid, signal.SIGCONT)    # a SIGSTOPped tick finishes too
                except ProcessLookupError:
                    break
                time.sleep(0.05)
            else:
                try:
                    os.killpg(t.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        if self.tick_logf is not None:
            self.tick_logf.close()
            self.tick_logf = None

    def wait_rpc(self, timeout=20):
        def up():
            if self.proc.poll() is not None:
                raise AssertionError("serf agent %s exited with %d:\n%s"
                                     % (self.name, self.proc.returncode, self.log()[-3000:]))
            return self.serf("members", check=False).returncode == 0
        wait_until(up, timeout=timeout, interval=0.05, what="serf agent %s RPC" % self.name)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def serf(self, *args, check=True, timeout=10):
        p = subprocess.run(self._wrap([SERF] + list(args) + ["-rpc-addr", self.rpc]),
                           capture_output=True, text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError("serf %s on %s: %s" % (" ".join(args), self.name,
                                                       (p.stderr or p.stdout).strip()))
        return p

    def members(self):
        """serf's view from this agent: {member name: (status, tags)}."""
        out = json.loads(self.serf("members", "-format", "json").stdout)
        return {m["name"]: (m["status"], m.get("tags") or {}) for m in out["members"]}

    def signal(self, sig):
        """A signal for the agent; SIGSTOP and SIGCONT hang or resume the
        whole node, its tick loop too."""
        self.proc.send_signal(sig)
        if sig in (signal.SIGSTOP, signal.SIGCONT) and self.ticker is not None:
            try:
                os.killpg(self.ticker.pid, sig)
            except ProcessLookupError:
                pass

    def kill(self):
        """SIGKILL: the agent dies without leaving."""
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self._close()

    def leave(self):
        """A graceful `serf leave`; waits for the agent to exit."""
        self.serf("leave", timeout=30)
        self.proc.wait(30)
        self._close()

    def stop(self):
        """Stops by PID whatever state the agent is in (even SIGSTOPped)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
        self._close()

    def _close(self):
        self.stop_ticks()
        if self.logf is not None:
            self.logf.close()
            self.logf = None

    def forwarder(self, *args, timeout=30):
        """Runs serf-forwarder with this agent's config (in its namespace)."""
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("SERF_") and k != "CLUSTERM_TOKEN"}
        env["SERF_RPC_ADDR"] = self.rpc
        env["SERF_SELF_NAME"] = self.name
        return subprocess.run(self._wrap([FORWARDER, "-c", self.fwd_conf] + list(args)),
                              capture_output=True, text=True, timeout=timeout, env=env)

    def spool_status(self):
        p = self.forwarder("status")
        return dict(line.split(": ", 1) for line in p.stdout.splitlines() if ": " in line)

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""


STATE_OF_SERF = {"alive": "Discovered", "failed": "Disappeared", "left": "Disappeared",
                 "leaving": "Disappeared"}


def expected_from_members(members, node_of):
    """The node states clusterm must end with, from one agent's serf view."""
    return {node_of[name]: STATE_OF_SERF[status] for name, (status, _) in members.items()
            if name in node_of}


def parse_metrics(text):
    """Prometheus text -> {'name{labels}': float}."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r"^(\S+)\s+(\S+)$", line)
        if m:
            out[m.group(1)] = float(m.group(2))
    return out


# --------------------------------------------------------------------------
# The test base class


@unittest.skipUnless(have_serf(), "serf is not installed (apt-get install serf)")
class SystemCase(unittest.TestCase):
    """Per test: a temp dir, a clusterm, agents, namespaces; all stopped and
    removed at the end through addCleanup, which runs even on failure."""

    # a test that fails prints the clusterm log, nodes and agent logs
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="clusterm-sys-")
        _live["dirs"].append(self.tmp)
        self.addCleanup(self._rm_tmp)
        self.agents = {}
        self.cm = None
        self.netns = None
        self.t0 = time.monotonic()

    def _rm_tmp(self):
        if os.environ.get("KEEP_TMP"):
            log("kept %s" % self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    # -- clusterm --------------------------------------------------------

    def start_clusterm(self, grace_s=2, monitor=None, ns=None, host="127.0.0.1", args=(),
                       **conf):
        config = {"monitor": {"grace_s": grace_s, "heartbeat_interval_s": HB_INTERVAL_S,
                              "heartbeat_timeout_s": HB_TIMEOUT_S}}
        config["monitor"].update(monitor or {})
        config.update(conf)
        if ns:
            self.cm = NsClusterm(ns, host, config=config, args=args)
        else:
            self.cm = Clusterm(config=config, host=host, args=args)
        self.addCleanup(self.cm.cleanup)
        track(self.cm)
        _live["dirs"].append(self.cm.tmp)
        self.cm.start()
        return self.cm

    def nodes(self):
        st, body, _ = self.cm.get("/api/v1/nodes")
        if st != 200:
            raise AssertionError("GET /api/v1/nodes: %d %r" % (st, body))
        return {n["name"]: n for n in body["nodes"]}

    def states(self):
        return {name: n["state"] for name, n in self.nodes().items()}

    def metrics(self):
        st, text, _ = self.cm.get("/metrics")
        self.assertEqual(st, 200)
        return parse_metrics(text)

    def state_events(self, node=None):
        """The audit log's monitoring-state changes, oldest first."""
        path = "/api/v1/events?limit=1000" + ("&node=" + node if node else "")
        out, since = [], None
        while True:
            st, body, _ = self.cm.get(path + ("&since=%d" % since if since else ""))
            self.assertEqual(st, 200, body)
            ev = body["events"]
            out += [e for e in ev if e["kind"] == "state"]
            if len(ev) < 1000:
                return out
            since = body["next"]

    # -- agents ----------------------------------------------------------

    def add_agent(self, name, ip_addr, join=(), start=True, urls=None, **kw):
        a = Agent(name, ip_addr, self.tmp, urls or [self.cm.url()], join=join, **kw)
        self.agents[name] = a
        self.addCleanup(a.stop)
        track(a)
        if start:
            a.start()
        return a

    def node_of(self):
        return {a.name: a.node for a in self.agents.values()}

    def expected(self, via):
        """{node: state} clusterm must show, from agent via's serf members."""
        return expected_from_members(self.agents[via].members(), self.node_of())

    # -- waits -----------------------------------------------------------

    def wait(self, pred, timeout, what, interval=0.1):
        """wait_until, printing the diagnostics when it times out."""
        try:
            return wait_until(pred, timeout=timeout, interval=interval, what=what)
        except AssertionError:
            self.diagnose()
            raise

    def wait_states(self, want, timeout=60, what=None):
        """Until every node in want has its state; returns the seconds taken."""
        t = time.monotonic()

        def ok():
            s = self.states()
            return all(s.get(n) == st for n, st in want.items())
        self.wait(ok, timeout, what or "states %r" % want, interval=0.1)
        return time.monotonic() - t

    def wait_serf(self, via, want, timeout=60):
        """Until agent via's serf shows {member: status}; a status may be a
        tuple of the statuses that will do."""
        def ok():
            m = self.agents[via].members()
            return all(m.get(n, ("-",))[0] in ((s,) if isinstance(s, str) else s)
                       for n, s in want.items())
        self.wait(ok, timeout, "serf members on %s: %r" % (via, want), interval=0.2)

    def diagnose(self):
        try:
            for name, n in sorted(self.nodes().items()):
                st, d, _ = self.cm.get("/api/v1/nodes/" + name)
                votes = ", ".join("%s:%s%s" % (v["reporter"], v["vote"],
                                              "" if v["counted"] else "(not counted)")
                                  for v in (d.get("votes") or [])) if st == 200 else "?"
                log("node %s %s votes [%s]" % (name, n["state"], votes))
        except Exception as e:  # noqa: BLE001 - diagnostics only
            log("cannot list nodes: %s" % e)
        if self.cm is not None:
            log("clusterm log (tail):\n" + self.cm.log()[-4000:])
        for a in self.agents.values():
            if a.alive():
                try:
                    log("serf members on %s: %r" % (a.name, {k: v[0] for k, v in
                                                             a.members().items()}))
                except Exception as e:  # noqa: BLE001
                    log("serf members on %s: %s" % (a.name, e))
            lines = [ln for ln in a.log().splitlines()
                     if "serf-forwarder" in ln or "ERR" in ln or "WARN" in ln]
            log("agent %s log (forwarder/errors, tail):\n%s" % (a.name, "\n".join(lines[-15:])))
            try:
                with open(a.tick_log_path, errors="replace") as f:
                    ticks = [ln for ln in f.read().splitlines() if "debug:" not in ln]
                log("agent %s tick log (tail):\n%s" % (a.name, "\n".join(ticks[-10:])))
            except OSError:
                pass

    def elapsed(self):
        return time.monotonic() - self.t0


def main():
    """unittest.main for a test file, with meson's exit codes: 0 passed,
    1 failed, 77 (meson: SKIP) when every test of the file was skipped."""
    signal.signal(signal.SIGTERM, _on_sigterm)
    prog = unittest.main(verbosity=2, exit=False)
    r = prog.result
    if not r.wasSuccessful():
        sys.exit(1)
    if r.testsRun > 0 and len(r.skipped) == r.testsRun:
        sys.exit(77)
    sys.exit(0)
