"""Helpers for the serf-forwarder black-box tests (util.py has the shared ones)."""

import os
import socket
import subprocess
import threading

from util import FORWARDER


def member_line(name, addr, role="", **tags):
    """One stdin line as serf writes it."""
    return "%s\t%s\t%s\t%s\n" % (name, addr, role, ",".join("%s=%s" % kv for kv in tags.items()))


def run_fwd(args, event=None, stdin="", self_name="rep1", env=None, timeout=30):
    """Runs serf-forwarder once; returns the CompletedProcess (text)."""
    e = {k: v for k, v in os.environ.items()
         if not k.startswith("SERF_") and k != "CLUSTERM_TOKEN"}
    if event is not None:
        e["SERF_EVENT"] = event
        e["SERF_SELF_NAME"] = self_name
    e.update(env or {})
    return subprocess.run([FORWARDER] + list(args), input=stdin, env=e, text=True,
                          capture_output=True, timeout=timeout)


def status(spool):
    """The `status` lines as a dict."""
    p = run_fwd(["-s", spool, "status"])
    assert p.returncode == 0, p.stderr
    return dict(line.split(": ", 1) for line in p.stdout.splitlines())


class DroppingProxy:
    """Forwards one POST at a time to a real server, then closes the client's
    connection without the reply: the server applied the batch, the client
    never learns it (what a timeout after the commit looks like)."""

    def __init__(self, target_port):
        self.target = target_port
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.forwarded = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with c:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = c.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                head, _, body = data.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    k, _, v = line.partition(b":")
                    if k.strip().lower() == b"content-length":
                        length = int(v.strip())
                while len(body) < length:
                    chunk = c.recv(65536)
                    if not chunk:
                        break
                    body += chunk
                with socket.create_connection(("127.0.0.1", self.target), timeout=10) as u:
                    u.sendall(head + b"\r\n\r\n" + body)
                    u.settimeout(10)
                    reply = b""
                    while True:
                        chunk = u.recv(65536)
                        if not chunk or b"}" in reply + chunk:
                            reply += chunk
                            break
                        reply += chunk
                self.forwarded += 1
                # the reply is dropped on the floor

    def close(self):
        self.sock.close()


def make_cert(tmpdir):
    """A self-signed certificate for 127.0.0.1 and localhost: (cert, key) paths."""
    cert = os.path.join(tmpdir, "cert.pem")
    key = os.path.join(tmpdir, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext",
                    "subjectAltName=IP:127.0.0.1,DNS:localhost",
                    "-keyout", key, "-out", cert],
                   check=True, capture_output=True, timeout=60)
    return cert, key


class FakeHTTPS:
    """An HTTPS server on loopback that records each POST (headers, body) and
    answers 200 with clusterm's reply shape."""

    def __init__(self, cert, key):
        import http.server
        import ssl

        outer = self
        self.posts = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                outer.posts.append((self.path, dict(self.headers), self.rfile.read(n)))
                body = b'{"accepted":1,"duplicates":0}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self):
        return "https://127.0.0.1:%d" % self.port

    def close(self):
        self.server.shutdown()
        self.server.server_close()
