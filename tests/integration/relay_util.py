"""A TCP relay on 127.0.0.1 to one target port, which a test uses to put
faults between one clusterm and one etcd member:

- close(): every connection dropped, new ones refused; reopen() listens again;
- blackhole(True): bytes are swallowed both ways, new connections are
  accepted and never answered (a member that accepts but never answers);
- stall(True): etcd's answers are held back (not lost) until stall(False),
  on every connection or, with watch_only, on the connections that carry a
  watch (POST /v3/watch): the requests still reach etcd, so a write commits
  while its writer hears nothing (an ambiguous answer), or a watch lags.
stdlib only."""

import socket
import threading

from etcd_util import pick_port

WATCH_MARK = b"/v3/watch"


class Relay:
    def __init__(self, target_port):
        self.target = target_port
        self.port = pick_port()
        self.lock = threading.Lock()
        self.cv = threading.Condition(self.lock)
        self.socks = []
        self.listener = None
        self.thread = None
        self.holes = False
        self.stalled = False
        self.watch_only = False
        self.reopen()

    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def reopen(self):
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(("127.0.0.1", self.port))
        ls.listen(64)
        ls.settimeout(0.05)
        self.listener = ls
        self.open = True
        self.thread = threading.Thread(target=self._accept, args=(ls,), daemon=True)
        self.thread.start()

    def blackhole(self, on):
        with self.lock:
            self.holes = on
            self.cv.notify_all()

    def stall(self, on, watch_only=False):
        with self.lock:
            self.stalled = on
            self.watch_only = watch_only
            self.cv.notify_all()

    def _accept(self, ls):
        while self.open:
            try:
                c, _ = ls.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                holes = self.holes
            if holes:
                with self.lock:
                    self.socks.append(c)
                threading.Thread(target=self._swallow, args=(c,), daemon=True).start()
                continue
            try:
                u = socket.create_connection(("127.0.0.1", self.target), timeout=2)
            except OSError:
                c.close()
                continue
            c.settimeout(None)
            u.settimeout(None)
            with self.lock:
                if not self.open:
                    c.close()
                    u.close()
                    return
                self.socks += [c, u]
            conn = {"watch": False}
            threading.Thread(target=self._pump, args=(c, u, conn, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(u, c, conn, False), daemon=True).start()

    @staticmethod
    def _swallow(s):
        try:
            while s.recv(65536):
                pass
        except OSError:
            pass

    def _held(self, conn):
        return self.holes or (self.stalled and (not self.watch_only or conn["watch"]))

    def _pump(self, src, dst, conn, upstream):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if upstream and WATCH_MARK in data:
                    conn["watch"] = True
                with self.lock:
                    if self.holes:
                        continue            # swallowed
                    if not upstream:
                        # etcd's answers wait while stalled (bounded by the test).
                        while self.open and self._held(conn) and not self.holes:
                            self.cv.wait(0.05)
                        if self.holes:
                            continue
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        with self.lock:
            self.open = False
            socks, self.socks = self.socks, []
            self.cv.notify_all()
        self.listener.close()
        self.thread.join(2)
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
