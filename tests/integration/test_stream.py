"""GET /api/v1/stream, black box with http.client: audit events arrive as
server-sent events with their ids, Last-Event-ID and ?since= resume after
an id, the streams are bounded by manager.max_streams (503 beyond, naming
it), the reader role suffices, and SIGTERM ends an open stream."""

import http.client
import json
import os
import shutil
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from util import Clusterm, report, wait_until  # noqa: E402

TOKENS = {"ops": ("admin", "admin-token-0123456789"),
          "mon": ("reader", "reader-token-0123456789"),
          "fwd": ("reporter", "reporter-token-0123456789")}
READ_S = 5.0


def bearer(name):
    return {"Authorization": "Bearer " + TOKENS[name][1]}


class Stream:
    """One open /api/v1/stream; events() parses the SSE framing."""

    def __init__(self, c, path="/api/v1/stream", headers=None):
        self.conn = http.client.HTTPConnection("127.0.0.1", c.port, timeout=READ_S)
        self.conn.request("GET", path, headers=headers or {})
        self.resp = self.conn.getresponse()
        self.comments = []
        self.ended = False

    def next_event(self, timeout=READ_S):
        """The next event as a dict (id, event, data), None at the stream's end."""
        deadline = time.monotonic() + timeout
        ev = {}
        while time.monotonic() < deadline:
            line = self.resp.readline()
            if line == b"":
                self.ended = True
                return None
            line = line.decode().rstrip("\n")
            if line == "":
                if "data" in ev:
                    ev["data"] = json.loads(ev["data"])
                    return ev
                ev = {}
                continue
            if line.startswith(":"):
                self.comments.append(line[1:].strip())
                continue
            field, _, value = line.partition(":")
            ev[field] = value[1:] if value.startswith(" ") else value
        raise AssertionError("no event within %.1fs" % timeout)

    def close(self):
        self.conn.close()


class StreamTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="clusterm-stream-")
        self.tokens = os.path.join(self.tmp, "tokens.json")
        with open(self.tokens, "w") as f:
            json.dump({"tokens": [{"name": n, "role": r, "token": t}
                                  for n, (r, t) in TOKENS.items()]}, f)
        os.chmod(self.tokens, 0o600)
        self.c = Clusterm(config={"monitor": {"grace_s": 0},
                                  "manager": {"max_streams": 2},
                                  "auth": {"tokens_file": self.tokens}}).start()
        self.streams = []

    def tearDown(self):
        for s in self.streams:
            s.close()
        self.c.cleanup()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def open(self, path="/api/v1/stream", token="mon", extra=None):
        h = dict(bearer(token)) if token else {}
        h.update(extra or {})
        s = Stream(self.c, path, h)
        self.streams.append(s)
        return s

    def post(self, kind, name, addr):
        st, body, _ = self.c.post("/monitor/event/" + kind, [report(name, addr)],
                                  headers=bearer("ops"))
        self.assertEqual(st, 200, body)

    def test_events_with_ids_and_resume(self):
        s = self.open()
        self.assertEqual(s.resp.status, 200)
        self.assertTrue(s.resp.getheader("Content-Type").startswith("text/event-stream"))
        self.post("discovered", "n1", "10.1.0.1")
        self.post("disappeared", "n1", "10.1.0.1")
        e1, e2 = s.next_event(), s.next_event()
        self.assertEqual(e1["event"], "state")
        self.assertEqual(e1["data"]["node"], "n1")
        self.assertEqual((e1["data"]["old"], e1["data"]["new"]), ("Unknown", "Discovered"))
        self.assertEqual(e2["data"]["new"], "Disappeared")
        self.assertEqual(int(e1["id"]), e1["data"]["id"])
        self.assertGreater(int(e2["id"]), int(e1["id"]))
        for k in ("id", "time", "node", "kind", "old", "new", "actor", "comment"):
            self.assertIn(k, e2["data"])
        self.assertEqual(e2["data"]["actor"], "ops")
        # The ids are those of /api/v1/events.
        _, evs, _ = self.c.get("/api/v1/events?node=n1", headers=bearer("mon"))
        self.assertEqual([e["id"] for e in evs["events"]], [int(e1["id"]), int(e2["id"])])
        s.close()
        self.streams.remove(s)

        # Resume after e1: e2 comes first, again; then a new one.
        r = self.open(extra={"Last-Event-ID": e1["id"]})
        self.assertEqual(r.next_event()["id"], e2["id"])
        self.post("discovered", "n2", "10.1.0.2")
        self.assertEqual(r.next_event()["data"]["node"], "n2")
        r.close()
        self.streams.remove(r)
        # since=0: every event the ring holds, as /api/v1/events lists them.
        _, evs, _ = self.c.get("/api/v1/events?since=0", headers=bearer("mon"))
        ids = [str(e["id"]) for e in evs["events"]]
        self.assertIn(e1["id"], ids)
        q = self.open("/api/v1/stream?since=0")
        self.assertEqual([q.next_event()["id"] for _ in ids], ids)

        st, body, _ = self.c.get("/api/v1/stream", headers=dict(bearer("mon"),
                                                                **{"Last-Event-ID": "x1"}))
        self.assertEqual(st, 400, body)

    def test_roles(self):
        st, body, _ = self.c.get("/api/v1/stream")
        self.assertEqual(st, 401, body)
        st, body, _ = self.c.get("/api/v1/stream", headers=bearer("fwd"))
        self.assertEqual(st, 403, body)
        s = self.open(token="ops")
        self.assertEqual(s.resp.status, 200)

    def test_bounded_by_max_streams(self):
        a, b = self.open(), self.open()
        self.assertEqual((a.resp.status, b.resp.status), (200, 200))
        st, body, _ = self.c.get("/api/v1/stream", headers=bearer("mon"))
        self.assertEqual(st, 503, body)
        self.assertIn("manager.max_streams", body["error"])
        # A slot given back is free again: the stream's idle writes find the
        # closed connection within about two seconds.
        a.close()
        self.streams.remove(a)

        def reopened():
            s = self.open()
            if s.resp.status == 200:
                return s
            s.resp.read()
            s.close()
            self.streams.remove(s)
            return None
        self.assertIsNotNone(wait_until(reopened, timeout=8, interval=0.1,
                                        what="a free stream slot"))

    def test_sigterm_ends_the_stream(self):
        s = self.open()
        self.post("discovered", "n1", "10.1.0.1")
        self.assertEqual(s.next_event()["data"]["node"], "n1")
        self.c.proc.send_signal(15)
        t0 = time.monotonic()
        self.assertIsNone(s.next_event(timeout=5))
        self.assertLess(time.monotonic() - t0, 3.0)
        self.assertTrue(any("stopping" in c for c in s.comments), s.comments)
        self.assertEqual(self.c.stop(), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
