#!/usr/bin/env python3
"""Failover time by kind of fault (tests/bench/README.md): 3 etcd members,
3 clusterm instances, each instance's links to the members through relays
this script controls; for each kind, RUNS times, the leader is

  kill9      killed (SIGKILL), then started again as a follower;
  sigstop    stopped (SIGSTOP) until another leads, then resumed;
  blackhole  cut off by relays that swallow every byte both ways (a link
             that accepts and never answers), until another leads;

and the time is taken from the fault to the first 200 of POST
/discover/nodes on a survivor (polled every 20 ms, alternating): a job
accepted. Prints one line per run and "failover KIND: median M s, max X s
(all ...)" per kind.

  tests/bench/bench_failover.py [--build DIR] [--runs N] [--ttl S] [--kinds K,K]

The jobs run ansible.command=/bin/true: the figure is the hand-over, not
ansible. Every process it starts is stopped by its PID. stdlib only."""

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))


def accept_time(survivors, tag, bound):
    t0 = time.monotonic()
    k = 0
    while time.monotonic() - t0 < bound:
        c = survivors[k % len(survivors)]
        k += 1
        try:
            st, _, _ = c.post("/discover/nodes", {"addrs": ["127.0.250.%d" % tag]}, timeout=5)
            if st == 200:
                return time.monotonic() - t0
        except OSError:
            pass
        time.sleep(0.02)
    raise RuntimeError("no job accepted within %.0f s" % bound)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=None)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--ttl", type=int, default=3)
    ap.add_argument("--kinds", default="kill9,sigstop,blackhole")
    args = ap.parse_args(argv)
    if args.build is not None:
        os.environ["BUILD_DIR"] = os.path.abspath(args.build)
    from etcd_util import EtcdCluster, Manager
    from relay_util import Relay
    tmp = tempfile.mkdtemp(prefix="clusterm-bench-failover-")
    os.chmod(tmp, 0o700)
    books = os.path.join(tmp, "books")
    os.makedirs(books)
    open(os.path.join(books, "site.yml"), "w").close()
    etcd = EtcdCluster(3, tmp=os.path.join(tmp, "etcd"))
    os.makedirs(etcd.tmp, mode=0o700)
    cm = None
    relays = {}
    tag = 0
    results = {}
    try:
        etcd.start()
        for i in range(3):
            relays["cm%d" % (i + 1)] = [Relay(m.client_port) for m in etcd.members]
        cm = Manager(etcd.client_urls(), 3, tmp=os.path.join(tmp, "cm"), lease_ttl_s=args.ttl,
                     endpoints={k: [r.url() for r in v] for k, v in relays.items()},
                     manager={"max_jobs": 64},
                     ansible={"command": "/bin/true", "playbook_location": books,
                              "timeout_s": 60})
        cm.start()
        bound = args.ttl + 15
        for kind in args.kinds.split(","):
            times = []
            for r in range(1, args.runs + 1):
                leader = cm.wait_leader(timeout=30)
                survivors = [c for c in cm.running() if c is not leader]
                tag += 1
                if kind == "kill9":
                    leader.kill9()
                    t = accept_time(survivors, tag, bound)
                    leader.start()
                elif kind == "sigstop":
                    leader.sigstop()
                    try:
                        t = accept_time(survivors, tag, bound)
                    finally:
                        leader.sigcont()
                elif kind == "blackhole":
                    for x in relays[leader.id]:
                        x.blackhole(True)
                    try:
                        t = accept_time(survivors, tag, bound)
                    finally:
                        for x in relays[leader.id]:
                            x.blackhole(False)
                else:
                    raise SystemExit("unknown kind " + kind)
                times.append(t)
                print("failover run %d: %s of %s, a job accepted after %.3f s" % (
                    r, kind, leader.id, t), flush=True)
                # The old leader back as a follower before the next run.
                deadline = time.monotonic() + 4 * args.ttl + 20
                while leader.role() != "follower" or leader.healthz()[0] != 200:
                    if time.monotonic() > deadline:
                        raise RuntimeError("%s did not come back" % leader.id)
                    time.sleep(0.1)
            results[kind] = times
            print("failover %s: median %.3f s, max %.3f s (all %s)" % (
                kind, statistics.median(times), max(times),
                " ".join("%.3f" % x for x in times)), flush=True)
    except Exception:
        if cm is not None:
            sys.stderr.write(cm.logs()[-8000:] + "\n")
        raise
    finally:
        if cm is not None:
            cm.cleanup()
        for v in relays.values():
            for x in v:
                x.close()
        etcd.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps({k: {"median": statistics.median(v), "max": max(v)}
                      for k, v in results.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
