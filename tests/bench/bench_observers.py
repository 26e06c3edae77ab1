#!/usr/bin/env python3
"""Observers at scale (tests/bench/README.md, "Observers at scale").

A light driver: N simulated serf nodes n1..nN speak serf-forwarder's
protocol to a real clusterm, over a few keep-alive connections, without
forwarder processes. Each node keeps what a forwarder keeps in its spool
dir (epoch, last seq, the observer assignment: version and subjects) and
does what serf-forwarder's runs do (cmd_event.c, cmd_event_observe.c,
cmd_observe.c, cmd_tick.c):

  event run, no assignment yet: the own report is posted alone (the probe,
      no X-Observe-Version); a reply with "observe" is taken: the members
      seen among the new subjects are posted at once, and a newer
      assignment in that reply is taken again (at most 3 rounds); then the
      batch, filtered to self and the subjects (or whole, observers off)
      and without the members just reported, goes in chunks of 1000
      reports, and the last "observe" of those replies is taken as above.
      clusterm may answer {"version": 0, "subjects": []} (a burst of joins:
      the assignment waits for the node's subjects to settle): the node
      then reports only itself.
  event run with an assignment: only self and the subjects are reported
      (nothing is posted when none is left); a reply's "observe" is taken.
  tick: POST /monitor/heartbeat (no body, the epoch, the last seq), its
      "observe" taken.

Every node has seen every member join (each boot event carries all N
members, as in bench_scale.sh) and, from the failure phases on, the failed
ones gone. Each POST carries X-Reporter, X-Reporter-Epoch, X-Reporter-Seq
(one per batch, strictly increasing per reporter), X-Spool-Depth 0 and
X-Observe-Version once an assignment (or "observers off") is known.

Phases:
  boot    every node runs its member-join event (N members), CONNS nodes at
          a time; then tick rounds (every node one heartbeat) until a round
          hands no node a new assignment (K > 0 only; at most TICK_ROUNDS),
          the first SETTLE_S after the last event run when clusterm held
          assignments back for the burst to settle.
          Timed until all of that is done and clusterm counts N Discovered
          (clusterm_nodes in /metrics).
  fail1   one node (n<N/2>) is killed: the nodes that hold it as a subject
          post member-failed for it, concurrently. Timed until clusterm
          shows it Disappeared (GET /api/v1/nodes/NAME polled every 10 ms).
          An untimed tick round follows.
  fail10  10% of the nodes are killed at once (every 10th, the fail1 victim
          aside): every node that holds some of them as subjects posts one
          member-failed batch of those. Timed until clusterm counts them all
          Disappeared; then checked: each of them Disappeared, every other
          live node still Discovered. An untimed tick round follows.
Per phase: wall time, reports clusterm took (clusterm_reports_received_total),
requests, clusterm's CPU (utime+stime of /proc/PID/stat) and peak RSS
(VmHWM). With K=0 every node reports every node (N^2 at boot).

  bench_observers.py [-n N] [-k K] [--conns C] [--phases boot,fail1,fail10]
                     [--timeout S] [--build DIR] [--repeat]

clusterm is started on a free 127.0.0.1 port with a temporary state dir
and monitor {grace_s 0, observers K, heartbeat_interval_s 0} (as
bench_scale.sh OBSERVERS=K), and stopped by its PID at the end; the temp
dir is removed unless --keep. Each phase is bounded by --timeout (s) and is
reported as a timeout when it does not finish.
"""
import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

BATCH_MAX = 1000	# serf-forwarder's BATCH_MAX_REPORTS
OBSERVE_ROUNDS = 3	# cmd_observe_take's rounds
TICK_ROUNDS = 8
SETTLE_S = 1.0		# clusterm's OBSERVERS_SETTLE_MS (core/observers.h)
STOP_WAIT_S = 30


class HttpError(Exception):
    pass


class Conn:
    """One keep-alive HTTP/1.1 connection (clusterm always sends Content-Length)."""

    def __init__(self, port):
        self.port = port
        self.r = self.w = None

    async def open(self):
        self.r, self.w = await asyncio.open_connection("127.0.0.1", self.port)
        sock = self.w.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    async def request(self, method, path, headers=b"", body=b""):
        """A connection left idle may have been closed by clusterm: one new try
        (nothing of the request was read then; a repeated batch would be
        counted a duplicate by its seq anyway)."""
        if self.w is not None:
            try:
                return await self.once(method, path, headers, body)
            except (asyncio.IncompleteReadError, ConnectionError):
                self.close()
        await self.open()
        return await self.once(method, path, headers, body)

    async def once(self, method, path, headers, body):
        self.w.write(b"%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%sContent-Length: %d\r\n\r\n%s"
                     % (method, path, headers, len(body), body))
        head = await self.r.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        i = head.lower().find(b"content-length:")
        if i < 0:
            raise HttpError("reply without Content-Length: %r" % head[:200])
        n = int(head[i + 15:head.index(b"\r\n", i)])
        data = await self.r.readexactly(n) if n else b""
        if b"connection: close" in head.lower():
            self.close()
        return status, data

    def close(self):
        if self.w is not None:
            self.w.close()
        self.r = self.w = None


class Node:
    __slots__ = ("idx", "name", "epoch", "seq", "ver", "subj")

    def __init__(self, idx):
        self.idx = idx
        self.name = b"n%d" % idx
        self.epoch = b"%024x" % random.getrandbits(96)
        self.seq = 0
        self.ver = None		# None: no assignment known; else the version held
        self.subj = None	# frozenset of member indexes, None = observers off


def report(i, event):
    """One member's report as serf-forwarder builds it (no tags)."""
    return (b'{"Node-Label":"n%d","Node-Serial":"","Node-Mgmt-Address":"10.%d.%d.%d",'
            b'"Node-Name":"n%d","Node-Role":"worker","Serf-Event":"%s"}'
            % (i, (i >> 16) & 255, (i >> 8) & 255, i & 255, i, event))


class Driver:
    def __init__(self, port, n, conns):
        self.port = port
        self.n = n
        self.nodes = [None] + [Node(i) for i in range(1, n + 1)]
        self.gone = set()	# members every live node has seen fail
        self.conns = conns
        self.requests = 0
        self.reports = 0
        self.errors = 0
        self.first_error = ""
        self.assignments = 0	# replies whose assignment a node took
        self.by_origin = {}	# reports sent, by what sent them
        self.repeat = False	# not serf-forwarder's behaviour: see --repeat
        self.withheld = False	# a reply said {"version": 0, "subjects": []}

    def headers(self, node, seq):
        h = b"X-Reporter: %s\r\nX-Reporter-Epoch: %s\r\nX-Reporter-Seq: %d\r\nX-Spool-Depth: 0\r\n" % (
            node.name, node.epoch, seq)
        if node.ver is not None:
            h += b"X-Observe-Version: %d\r\n" % node.ver
        return h

    def reply_observe(self, status, data, what):
        self.requests += 1
        if status != 200:
            self.errors += 1
            if not self.first_error:
                self.first_error = "%s: HTTP %d: %s" % (what, status, data[:300])
            return None
        if b'"observe"' not in data:
            return None
        return json.loads(data).get("observe")

    async def post(self, conn, node, kind, members, event, origin):
        """One batch (in chunks of BATCH_MAX): returns the last "observe" replied."""
        ob = None
        self.by_origin[origin] = self.by_origin.get(origin, 0) + len(members)
        for c in range(0, len(members), BATCH_MAX):
            chunk = members[c:c + BATCH_MAX]
            node.seq += 1
            body = b"[" + b",".join(report(i, event) for i in chunk) + b"]"
            st, data = await conn.request(
                b"POST", b"/monitor/event/" + kind,
                self.headers(node, node.seq) + b"Content-Type: application/json\r\n", body)
            self.reports += len(chunk)
            o = self.reply_observe(st, data, "POST %s from %s" % (kind, node.name))
            if o is not None:
                ob = o
        return ob

    async def take(self, conn, node, ob, sent=None):
        """cmd_observe_take: keeps a new assignment, reports the new subjects seen
        alive (added to the set sent when given)."""
        for _ in range(OBSERVE_ROUNDS):
            if ob is None:
                return
            ver = ob["version"]
            subj = ob.get("subjects")
            on = subj is not None
            if on and ver == 0 and not subj:
                self.withheld = True	# clusterm holds assignments back for a burst
            if node.ver is not None and ver == node.ver and on == (node.subj is not None):
                return
            self.assignments += 1
            old = node.subj if node.ver is not None else None
            node.ver = ver
            node.subj = frozenset(int(s[1:]) for s in subj) if on else None
            ob = None
            if on:
                new = sorted(i for i in node.subj if i not in self.gone and
                             (old is None or i not in old))
                if new and sent is not None:
                    sent.update(new)
                if new:
                    ob = await self.post(conn, node, b"discovered", new, b"member-join",
                                         "new subjects")

    async def boot_run(self, conn, node):
        """member-join with all N members, the first run of this node."""
        ob = await self.post(conn, node, b"discovered", [node.idx], b"member-join", "own")
        sent = set()
        if ob is not None:
            await self.take(conn, node, ob, sent)
        else:
            node.ver, node.subj = 0, None	# answered without: observers off
        if node.subj is None:
            rest = [i for i in range(1, self.n + 1) if i != node.idx]
        else:
            rest = sorted(i for i in node.subj if i != node.idx)
            if not self.repeat:
                rest = [i for i in rest if i not in sent]
        if rest:
            ob = await self.post(conn, node, b"discovered", rest, b"member-join",
                                 "event batch")
            await self.take(conn, node, ob)

    async def tick_run(self, conn, node):
        st, data = await conn.request(b"POST", b"/monitor/heartbeat", self.headers(node, node.seq))
        ob = self.reply_observe(st, data, "heartbeat from %s" % node.name)
        before = self.assignments
        await self.take(conn, node, ob)
        return self.assignments > before

    async def fail_run(self, conn, node, victims):
        """member-failed for victims: only the subjects among them are posted."""
        if node.subj is None:
            mine = victims
        else:
            mine = [v for v in victims if v in node.subj]
        if not mine:
            return
        ob = await self.post(conn, node, b"disappeared", mine, b"member-failed", "failed")
        await self.take(conn, node, ob)

    async def pool(self, items, fn, deadline):
        """Runs fn(conn, item) for every item over self.conns connections."""
        it = iter(items)
        changed = [0]

        async def worker():
            conn = Conn(self.port)
            try:
                for x in it:
                    if time.monotonic() > deadline:
                        raise TimeoutError
                    if await fn(conn, x):
                        changed[0] += 1
            finally:
                conn.close()
        await asyncio.gather(*(worker() for _ in range(self.conns)))
        return changed[0]


class Clusterm:
    def __init__(self, binary, k, tmp):
        self.tmp = tmp
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        conf = {"manager": {"addr": "127.0.0.1:%d" % self.port, "state_dir": tmp + "/state"},
                "monitor": {"grace_s": 0, "observers": k, "heartbeat_interval_s": 0}}
        if k == 0:
            conf["monitor"] = {"grace_s": 0}
        with open(tmp + "/clusterm.conf", "w") as f:
            json.dump(conf, f)
        self.log = open(tmp + "/clusterm.log", "w")
        self.proc = subprocess.Popen([binary, "-c", tmp + "/clusterm.conf"], stdout=self.log,
                                     stderr=subprocess.STDOUT)
        self.pid = self.proc.pid

    def wait_ready(self):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("clusterm exited: see %s/clusterm.log" % self.tmp)
            try:
                st, _ = self.get("/healthz")
                if st == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("clusterm did not get ready")

    def get(self, path):
        import http.client
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            c.request("GET", path)
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()

    def cpu_s(self):
        with open("/proc/%d/stat" % self.pid) as f:
            v = f.read().rsplit(")", 1)[1].split()
        return (int(v[11]) + int(v[12])) / os.sysconf("SC_CLK_TCK")

    def hwm_mb(self):
        with open("/proc/%d/status" % self.pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
        return -1

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.proc.wait(STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


async def metrics(conn):
    st, data = await conn.request(b"GET", b"/metrics")
    if st != 200:
        raise HttpError("GET /metrics: HTTP %d" % st)
    out = {}
    for line in data.decode().splitlines():
        if line.startswith("clusterm_reports_received_total "):
            out["reports"] = int(float(line.split()[1]))
        elif line.startswith("clusterm_nodes{state="):
            out[line.split('"')[1]] = int(float(line.split()[1]))
    return out


async def node_state(conn, name):
    st, data = await conn.request(b"GET", b"/api/v1/nodes/" + name)
    if st != 200:
        return None
    d = json.loads(data)
    return d.get("state") or (d.get("node") or {}).get("state")


async def wait_until(pred, interval, deadline):
    """Polls pred() every interval until true; the monotonic time it held, or None."""
    while True:
        if await pred():
            return time.monotonic()
        if time.monotonic() > deadline:
            return None
        await asyncio.sleep(interval)


class Bench:
    def __init__(self, args, cm):
        self.a = args
        self.cm = cm
        self.d = Driver(cm.port, args.n, args.conns)
        self.d.repeat = args.repeat
        self.mconn = Conn(cm.port)
        self.results = {}
        self.quiet_after = 0.0	# no tick round that began before counts as the last

    def begin(self):
        self.d.by_origin = {}
        return (time.monotonic(), self.cm.cpu_s(), self.d.requests, self.d.reports)

    async def end(self, name, b, t_done, extra=""):
        m = await metrics(self.mconn)
        t0, cpu0, req0, _ = b
        r = {"s": None if t_done is None else t_done - t0, "cpu_s": self.cm.cpu_s() - cpu0,
             "requests": self.d.requests - req0, "reports_cm": m.get("reports", -1),
             "rss_mb": self.cm.hwm_mb(), "metrics": m}
        r["reports_cm_phase"] = r["reports_cm"] - self.last_reports
        self.last_reports = r["reports_cm"]
        self.results[name] = r
        r["by_origin"] = dict(self.d.by_origin)
        print("%-7s %s  reports at clusterm %d (phase %d: %s), requests %d, clusterm CPU "
              "%.1f s, peak RSS %.0f MB, nodes %s%s" % (
                  name, "TIMEOUT" if r["s"] is None else "%.2f s" % r["s"],
                  r["reports_cm"], r["reports_cm_phase"],
                  ", ".join("%s %d" % kv for kv in sorted(r["by_origin"].items())),
                  r["requests"], r["cpu_s"], r["rss_mb"],
                  {k: v for k, v in m.items() if k != "reports"}, extra), flush=True)
        return r

    async def ticks(self, deadline, limit):
        """Tick rounds until one hands out no new assignment. Returns the rounds
        (negative when the last one still changed some) and when the last round
        that changed an assignment ended (None: the first changed nothing).
        0 with K=0: as in bench_scale.sh, ticks only with observers (a node
        that sent a heartbeat is judged with one heartbeat interval more).
        Once clusterm was seen holding assignments back for a burst, the
        first round begins SETTLE_S after the last runs that changed the
        rings (self.quiet_after), when it no longer does (real ticks come
        tick_s apart, at random; one within SETTLE_S of the burst's end
        gets the assignment a tick later). A round that changed nothing
        but began before quiet_after does not end them."""
        d = self.d
        t_changed = None
        if self.a.k == 0:
            return 0, None
        if d.withheld:
            await asyncio.sleep(max(0.0, self.quiet_after - time.monotonic()))
        for rnd in range(1, limit + 1):
            t_round = time.monotonic()
            changed = await d.pool(d.nodes[1:], d.tick_run, deadline)
            if changed == 0 and t_round >= self.quiet_after:
                return rnd, t_changed
            if changed:
                t_changed = time.monotonic()
            elif rnd < limit:
                await asyncio.sleep(max(0.0, self.quiet_after - time.monotonic()))
        return (-limit if changed else limit), t_changed

    async def boot(self):
        a, d = self.a, self.d
        self.last_reports = (await metrics(self.mconn)).get("reports", 0)
        b = self.begin()
        deadline = b[0] + a.timeout
        t_done = None
        extra = ""
        pconn = Conn(self.cm.port)

        async def all_discovered():
            return (await metrics(pconn)).get("Discovered", 0) >= a.n
        poller = asyncio.ensure_future(wait_until(all_discovered, 0.25, deadline))
        try:
            await d.pool(d.nodes[1:], d.boot_run, deadline)
            t_runs = time.monotonic()
            self.quiet_after = t_runs + SETTLE_S
            rounds, t_changed = await self.ticks(deadline, TICK_ROUNDS)
            t_ticks = time.monotonic()
            t_disc = await poller
            # Absorbed: all Discovered, and the last tick round that handed out
            # an assignment over (the round after it, which changed nothing,
            # only proves it and is not counted).
            t_settled = t_changed if t_changed is not None else t_runs
            t_done = None if t_disc is None or rounds < 0 else max(t_disc, t_settled)
            extra = (", all Discovered at %s s, event runs %.2f s, tick rounds %d%s "
                     "(all over at %.2f s)" % (
                         "-" if t_disc is None else "%.2f" % (t_disc - b[0]), t_runs - b[0],
                         abs(rounds), " (still changing)" if rounds < 0 else "",
                         t_ticks - b[0]))
        except TimeoutError:
            extra = ", stopped at the deadline"
        finally:
            poller.cancel()
            pconn.close()
        return await self.end("boot", b, t_done, extra)

    async def fail1(self):
        a, d = self.a, self.d
        victim = max(2, a.n // 2)
        vnode = d.nodes[victim]
        b = self.begin()
        deadline = b[0] + a.timeout
        d.gone.add(victim)
        live = [x for x in d.nodes[1:] if x.idx != victim]
        obs = [x for x in live if x.subj is None or victim in x.subj]
        pconn = Conn(self.cm.port)

        async def decided():
            return await node_state(pconn, vnode.name) == "Disappeared"
        poller = asyncio.ensure_future(wait_until(decided, 0.01, deadline))
        save = d.conns
        d.conns = min(len(obs), 64) or 1
        await d.pool(obs, lambda c, x: d.fail_run(c, x, [victim]), deadline)
        d.conns = save
        t_posted = time.monotonic()
        self.quiet_after = t_posted + SETTLE_S
        t_dec = await poller
        pconn.close()
        r = await self.end("fail1", b, t_dec, ", %s, %d reporters posted in %.3f s" % (
            vnode.name.decode(), len(obs), t_posted - b[0]))
        r["observers"] = len(obs)
        t = time.monotonic()
        rounds, _ = await self.ticks(t + a.timeout, 2)
        self.last_reports = (await metrics(self.mconn)).get("reports", 0)
        print("        tick rounds after fail1: %.2f s, %s" % (time.monotonic() - t, rounds_text(rounds)))
        return r

    async def fail10(self):
        a, d = self.a, self.d
        victims = [i for i in range(3, a.n + 1, 10) if i not in d.gone]
        vs = set(victims)
        b = self.begin()
        deadline = b[0] + a.timeout
        d.gone |= vs
        live = [x for x in d.nodes[1:] if x.idx not in d.gone]
        obs = [x for x in live if x.subj is None or not x.subj.isdisjoint(vs)]
        want = len(d.gone)

        async def decided():
            return (await metrics(self.mconn)).get("Disappeared", 0) >= want
        poller = asyncio.ensure_future(wait_until(decided, 0.05, deadline))
        try:
            await d.pool(obs, lambda c, x: d.fail_run(c, x, victims), deadline)
        except TimeoutError:
            pass
        t_posted = time.monotonic()
        self.quiet_after = t_posted + SETTLE_S
        t_dec = await poller
        rss_before_list = self.cm.hwm_mb()
        # Exact check: every victim Disappeared, every live node Discovered.
        st, data = self.cm.get("/api/v1/nodes")
        doc = json.loads(data)
        states = {o.get("name"): o.get("state") for o in doc.get("nodes", [])}
        bad_victims = [i for i in d.gone if states.get("n%d" % i) != "Disappeared"]
        bad_live = [x.idx for x in live if states.get("n%d" % x.idx) != "Discovered"]
        r = await self.end("fail10", b, t_dec, ", %d killed, %d reporters posted in %.2f s, "
                           "victims not Disappeared %d, live nodes not Discovered %d%s; peak RSS before "
                           "GET /api/v1/nodes %.0f MB" % (
                               len(victims), len(obs), t_posted - b[0], len(bad_victims),
                               len(bad_live), " (e.g. n%d)" % bad_live[0] if bad_live else "",
                               rss_before_list))
        r.update(killed=len(victims), bad_victims=len(bad_victims), bad_live=len(bad_live))
        t = time.monotonic()
        rounds, _ = await self.ticks(t + a.timeout, 2)
        print("        tick rounds after fail10: %.2f s, %s" % (time.monotonic() - t, rounds_text(rounds)))
        return r


def rounds_text(rounds):
    """What Bench.ticks returned, in words."""
    if rounds == 0:
        return "no ticks (K=0)"
    if rounds < 0:
        return "%d, assignments still changing" % -rounds
    if rounds == 1:
        return "1, no assignment changed"
    return "%d, assignments changed in the first %d" % (rounds, rounds - 1)


async def run(args, cm):
    bench = Bench(args, cm)
    phases = args.phases.split(",")
    try:
        if "boot" in phases:
            r = await bench.boot()
            if r["s"] is None:
                return bench
        if "fail1" in phases:
            await bench.fail1()
        if "fail10" in phases:
            await bench.fail10()
    finally:
        bench.mconn.close()
    return bench


def main():
    src = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("-n", type=int, default=1000, help="nodes (default 1000)")
    p.add_argument("-k", type=int, default=10, help="monitor.observers (default 10)")
    p.add_argument("--conns", type=int, default=8, help="connections (default 8)")
    p.add_argument("--phases", default="boot,fail1,fail10")
    p.add_argument("--timeout", type=float, default=300, help="s per phase (default 300)")
    p.add_argument("--build", default=os.path.join(src, "build"), help="build dir")
    p.add_argument("--keep", action="store_true", help="keep the temp dir")
    p.add_argument("--repeat", action="store_true",
                   help="NOT what serf-forwarder does: the first event run posts in its "
                   "batch again the subjects it has just reported on taking its "
                   "assignment (as it did before; sizes what that cost)")
    args = p.parse_args()
    if args.n < 20:
        p.error("-n must be at least 20")
    binary = os.path.join(args.build, "clusterm", "clusterm")
    if not os.access(binary, os.X_OK):
        p.error("missing %s (build first, or give --build)" % binary)
    random.seed(1)
    tmp = tempfile.mkdtemp(prefix="clusterm-observers.")
    cm = None
    ok = False
    try:
        cm = Clusterm(binary, args.k, tmp)
        print("observers: N=%d K=%d conns=%d%s clusterm %s (pid %d, port %d), cpus %d" % (
            args.n, args.k, args.conns, " repeat" if args.repeat else "", binary, cm.pid, cm.port, os.cpu_count()), flush=True)
        cm.wait_ready()
        bench = asyncio.run(run(args, cm))
        res = bench.results
        d = bench.d
        ok = d.errors == 0 and all(r["s"] is not None for r in res.values()) and \
            res.get("fail10", {}).get("bad_live", 0) == 0 and \
            res.get("fail10", {}).get("bad_victims", 0) == 0

        def fmt(name, key="s"):
            r = res.get(name)
            if r is None:
                return "-"
            return ">%g" % args.timeout if r[key] is None else "%.2f" % r[key]
        du = subprocess.run(["du", "-sm", tmp + "/state"], capture_output=True, text=True)
        print("errors %d%s" % (d.errors, (": " + d.first_error) if d.errors else ""))
        print("observers N=%d K=%d boot_s=%s boot_reports=%d fail1_s=%s fail1_reports=%d "
              "fail10_s=%s fail10_reports=%d rss_mb=%.0f cpu_s=%.1f state_mb=%s result=%s" % (
                  args.n, args.k, fmt("boot"), res.get("boot", {}).get("reports_cm_phase", -1),
                  fmt("fail1"), res.get("fail1", {}).get("reports_cm_phase", -1),
                  fmt("fail10"), res.get("fail10", {}).get("reports_cm_phase", -1),
                  cm.hwm_mb(), cm.cpu_s(), du.stdout.split()[0] if du.stdout else "?",
                  "ok" if ok else "FAILED"), flush=True)
    finally:
        if cm is not None:
            cm.stop()
        if args.keep:
            print("kept %s" % tmp, file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
