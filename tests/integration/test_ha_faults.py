"""Several clusterm instances and the faults etcd clusters really have
(CONTRACT section 9, its last bullets), black box: 3 etcd members and 3
clusterm instances on loopback.

a: the first member of every instance's endpoint list is stopped (SIGSTOP:
   it accepts connections and never answers) while the other two serve:
   within lease_ttl_s + 2 s every instance takes writes (200) and one leads;
   after SIGCONT all agree.
b: a follower's etcd link to its first member goes through a relay that
   keeps its connections open but stops forwarding, while the leader records
   reports: the follower's requests leave that member and its watch there
   ends; its state catches up within a few seconds.
c: the same relay stalls only the watch's connection (what a gateway watch
   on a member cut off from its peers looks like): the follower's watch is
   found behind etcd's revision by the once-a-second check and restarted on
   another member; its state catches up within a few seconds.

Measured figures are printed on stdout ("ha_faults: ..." lines)."""

import os
import shutil
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from util import report, wait_until  # noqa: E402
from etcd_util import EtcdCluster, Manager, have_etcd, same_everywhere  # noqa: E402
from relay_util import Relay  # noqa: E402

TTL_S = 3
FAILOVER_BOUND_S = TTL_S + 2
# A stalled watch is found within a check (1 s) after a lag of 2 s, and a
# read may first wait out one endpoint timeout (1 s): a few seconds.
CATCH_UP_BOUND_S = 8
POST_TIMEOUT_S = 15


def figure(text):
    print("ha_faults: " + text, flush=True)


class StallRelay(Relay):
    """relay_util's relay, but stall() makes it hold every byte (connections
    stay open, new ones are accepted, nothing is forwarded either way) until
    unstall(); stall(watch_only=True) holds only the connections of watches
    (their first bytes "POST /v3/watch"), the other requests flowing."""

    def __init__(self, target_port):
        self.flowing = threading.Event()
        self.flowing.set()
        self.watch_only = False
        self.watch_socks = set()
        super().__init__(target_port)

    def stall(self, watch_only=False):
        self.watch_only = watch_only
        self.flowing.clear()

    def unstall(self):
        self.flowing.set()

    def _held(self, src, dst):
        if self.flowing.is_set():
            return False
        return not self.watch_only or src in self.watch_socks or dst in self.watch_socks

    def _pump(self, src, dst, conn, upstream):
        # Overrides relay_util's pump (same arguments): bytes of either way
        # are held while stalled, not only etcd's answers.
        first = True
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if first and data.startswith(b"POST /v3/watch"):
                    self.watch_socks.update((src, dst))
                first = False
                # Held while stalled; bounded by the relay's close().
                while self._held(src, dst):
                    if not self.open:
                        raise OSError("relay closed")
                    self.flowing.wait(0.1)
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(2)
            except OSError:
                pass

    def close(self):
        self.open = False
        self.unstall()
        super().close()


@unittest.skipUnless(have_etcd(), "etcd is not installed")
class HAFaults(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="clusterm-ha-faults-")
        os.chmod(self.tmp, 0o700)
        self.cm = None
        self.relays = []
        self.stopped = []
        self.etcd = EtcdCluster(3, tmp=os.path.join(self.tmp, "etcd"))
        os.makedirs(self.etcd.tmp, mode=0o700)
        self.etcd.start()

    def tearDown(self):
        res = getattr(self._outcome, "result", None)
        failed = res is not None and any(t is self for t, _ in res.errors + res.failures)
        for i in self.stopped:
            try:
                self.etcd.sigcont(i)
            except OSError:
                pass
        if self.cm is not None:
            if failed:
                sys.stderr.write(self.cm.logs() + "\n")
            self.cm.cleanup()
        for r in self.relays:
            r.close()
        self.etcd.cleanup()
        if os.environ.get("HA_KEEP"):
            sys.stderr.write("kept %s\n" % self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def up(self, endpoints=None):
        self.cm = Manager(self.etcd.client_urls(), 3, tmp=os.path.join(self.tmp, "cm"),
                          lease_ttl_s=TTL_S, endpoints=endpoints)
        self.cm.start()
        return self.cm.wait_leader()

    def post_ok(self, c, name):
        st, body, _ = c.post("/monitor/event/discovered", [report(name, "127.0.7.1")],
                             timeout=POST_TIMEOUT_S)
        self.assertEqual(st, 200, "%s: %r" % (c.id, body))

    def same_nodes(self, timeout):
        return same_everywhere(self.cm.running(), lambda c: sorted(c.nodes()),
                               timeout=timeout)

    # -- a

    def test_a_hung_first_member(self):
        self.up()
        for i, c in enumerate(self.cm.instances):
            self.post_ok(c, "before-%d" % i)
        self.same_nodes(timeout=2)
        self.etcd.sigstop(0)
        self.stopped.append(0)
        t0 = time.monotonic()
        first_ok = {}

        def writer(c):
            k = 0
            while time.monotonic() - t0 < FAILOVER_BOUND_S + 20:
                k += 1
                try:
                    st, body, _ = c.post("/monitor/event/discovered",
                                         [report("hung-%s-%d" % (c.id, k), "127.0.7.2")],
                                         timeout=POST_TIMEOUT_S)
                except OSError:
                    st = None
                if st == 200:
                    first_ok[c.id] = time.monotonic() - t0
                    return
                time.sleep(0.1)
        threads = [threading.Thread(target=writer, args=(c,), daemon=True)
                   for c in self.cm.instances]
        for t in threads:
            t.start()
        for t in threads:
            t.join(FAILOVER_BOUND_S + 25)
        figure("a: first member stopped -> first 200 per instance after %s s" % ", ".join(
            "%s %.3f" % (k, v) for k, v in sorted(first_ok.items())))
        self.assertEqual(sorted(first_ok), [c.id for c in self.cm.instances],
                         "instances without a 200 while one member of 3 is stopped")
        writes = max(first_ok.values())
        leader = self.cm.wait_leader(timeout=max(FAILOVER_BOUND_S + 5 - writes, 1))
        led = time.monotonic() - t0
        figure("a: one member stopped -> writes 200 everywhere after %.3f s, %s leads "
               "(agreed) after %.3f s (bound %d s)" % (writes, leader.id, led,
                                                      FAILOVER_BOUND_S))
        self.assertLessEqual(writes, FAILOVER_BOUND_S)
        self.assertLessEqual(led, FAILOVER_BOUND_S + 1)
        nodes, took = self.same_nodes(timeout=CATCH_UP_BOUND_S)
        figure("a: the instances agreed (member still stopped) %.3f s later" % took)
        # Back: every instance agrees, one leads, writes go on everywhere.
        self.etcd.sigcont(0)
        self.stopped.remove(0)
        t1 = time.monotonic()
        self.etcd.wait_healthy([0, 1, 2])
        for i, c in enumerate(self.cm.instances):
            self.post_ok(c, "after-%d" % i)
        nodes, _ = self.same_nodes(timeout=CATCH_UP_BOUND_S)
        self.cm.wait_leader(timeout=FAILOVER_BOUND_S)
        figure("a: after SIGCONT all agree (%d nodes) after %.3f s" % (
            len(nodes), time.monotonic() - t1))
        for i in range(3):
            self.assertIn("before-%d" % i, nodes)
            self.assertIn("after-%d" % i, nodes)

    # -- b, c

    def stalled_follower(self, watch_only):
        """cm3 reaches the first member through a relay; a follower. The
        relay stalls while the leader records reports: the follower's
        state must catch up (its watch restarted on another member).
        Returns the follower's log."""
        relay = StallRelay(self.etcd.members[0].client_port)
        self.relays.append(relay)
        cut = "cm3"
        others = self.etcd.client_urls()[1:]
        leader = self.up(endpoints={cut: [relay.url()] + others})
        f = next(c for c in self.cm.instances if c.id == cut)
        if leader is f:
            # The test wants a follower behind the relay: hand the lead over.
            f.stop()
            leader = self.cm.wait_leader(timeout=FAILOVER_BOUND_S + 5, exclude=(cut,))
            f.start()
        self.post_ok(leader, "s-0")
        self.same_nodes(timeout=2)
        relay.stall(watch_only=watch_only)
        t0 = time.monotonic()
        for i in range(1, 6):
            self.post_ok(leader, "s-%d" % i)
        posted = time.monotonic() - t0
        want = ["s-%d" % i for i in range(6)]

        def caught_up():
            try:
                return sorted(f.nodes()) == sorted(want)
            except (OSError, AssertionError):
                return False
        wait_until(caught_up, timeout=CATCH_UP_BOUND_S + posted, interval=0.05,
                   what="the follower behind a stalled relay to catch up")
        took = time.monotonic() - t0
        figure("%s: the follower behind a stalled %s caught up %.3f s after the stall "
               "(%.3f s after the last 200)" % ("c" if watch_only else "b",
                                                "watch" if watch_only else "member",
                                                took, took - posted))
        # It goes on following with the relay still stalled.
        self.post_ok(leader, "s-last")
        want.append("s-last")
        wait_until(caught_up, timeout=2, interval=0.05, what="s-last on the follower")
        relay.unstall()
        self.same_nodes(timeout=2)
        with open(f.log_path, errors="replace") as fh:
            return fh.read()

    def test_b_stalled_member(self):
        """Every connection to the member stalls: the follower's other
        requests find it silent, and its watch there ends with them."""
        log = self.stalled_follower(watch_only=False)
        self.assertIn("watching again", log)

    def test_c_stalled_watch(self):
        """Only the watch's connection stalls (what a gateway watch on a
        member cut off from its peers looks like): the once-a-second check
        against etcd's revision finds it behind and restarts it."""
        log = self.stalled_follower(watch_only=True)
        self.assertIn("watching again on the next member", log)


if __name__ == "__main__":
    unittest.main(verbosity=2)
