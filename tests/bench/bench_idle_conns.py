#!/usr/bin/env python3
"""How a flood of idle connections (slowloris) delays clusterm: /healthz
latency with N idle TCP connections held open, against the same server with
none, in the same run. Starts its own clusterm on loopback and stops it.

    tests/bench/bench_idle_conns.py [BUILD_DIR] [N ...]
"""

import os
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
os.environ.setdefault("BUILD_DIR", sys.argv[1] if len(sys.argv) > 1 else "build")
import util  # noqa: E402

COUNTS = [int(a) for a in sys.argv[2:]] or [0, 32, 63, 64, 128, 256]
HEALTH_BOUND_S = 60


def healthz_latency(c):
    t0 = time.monotonic()
    st = c.get("/healthz", timeout=HEALTH_BOUND_S)[0]
    return time.monotonic() - t0, st


def main():
    c = util.Clusterm()
    c.start()
    try:
        base, _ = healthz_latency(c)
        print("idle: baseline healthz %.4f s" % base)
        for n in COUNTS:
            socks = []
            try:
                for _ in range(n):
                    s = socket.create_connection(("127.0.0.1", c.port), timeout=5)
                    socks.append(s)
                time.sleep(0.2)  # let civetweb hand them to workers
                lat, st = healthz_latency(c)
                print("idle: %d idle connections: healthz %d in %.3f s (%.0fx baseline)"
                      % (n, st, lat, lat / base if base > 0 else 0))
            finally:
                for s in socks:
                    s.close()
            util.wait_until(lambda: healthz_latency(c)[0] < 1, timeout=HEALTH_BOUND_S,
                            what="recovery after the flood")
    finally:
        c.cleanup()


if __name__ == "__main__":
    main()
