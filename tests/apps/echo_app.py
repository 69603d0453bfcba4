#!/usr/bin/env python3
"""Echo app for the service-invocation integration tests (stdlib only).

  any verb /<path>          200 JSON {instance, method, path, query, headers, body}
  /status/<code>            answers <code> with JSON {"status": code} (no body for 204/304)
  /slow/<ms>                sleeps <ms> then echoes
  /flaky/<key>/<n>          the first <n> calls per key answer 500, later ones echo
  /count/<key>              {"count": calls seen on /flaky/<key>/... or /slow/... for key}
  /healthz                  200, or the code set with /control/health/<code>
  /control/health/<code>    set the /healthz answer
  /control/last-health      {"headers": headers of the last /healthz request}
  /sse/<n>?gate=<file>      Server-Sent Events, chunked: "data: event <i>" for i = 1..n, the
                            last one only once <file> exists (waits up to 20 s)
  /bytes/<n>[?chunked=1]    <n> bytes (a repeating pattern), with Content-Length or chunked
Usage: echo_app.py PORT [INSTANCE_NAME]
With ECHO_TLS_CERT and ECHO_TLS_KEY set (PEM files) it serves HTTPS instead.
"""
import json
import os
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

PATTERN = bytes(range(256)) * 256  # 64 KiB

LOCK = threading.Lock()
STATE = {"health": 200, "last_health": {}, "counts": {}}
INSTANCE = sys.argv[2] if len(sys.argv) > 2 else "echo"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def _send(self, code, obj=None, extra=None):
        body = b"" if obj is None or code in (204, 304) else json.dumps(obj).encode()
        self.send_response(code)
        if body:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-App-Header", "yes")
        self.send_header("X-Echo-Instance", INSTANCE)
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def _head(self, code, ctype, length=None):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("X-App-Header", "yes")
        if length is None:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(length))
        self.end_headers()

    def _chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _sse(self, n, gate):
        self._head(200, "text/event-stream")
        for i in range(1, n + 1):
            if i == n and gate:
                for _ in range(400):
                    if os.path.exists(gate):
                        break
                    time.sleep(0.05)
            self._chunk(b"data: event %d\n\n" % i)
        self._chunk(b"")

    def _bytes(self, n, chunked):
        self._head(200, "application/octet-stream", None if chunked else n)
        sent = 0
        while sent < n:
            piece = PATTERN[: min(len(PATTERN), n - sent)]
            if chunked:
                self._chunk(piece)
            else:
                self.wfile.write(piece)
            sent += len(piece)
        if chunked:
            self._chunk(b"")

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def _count(self, key):
        with LOCK:
            STATE["counts"][key] = STATE["counts"].get(key, 0) + 1
            return STATE["counts"][key]

    def _handle(self):
        body = self._body()
        u = urlsplit(self.path)
        parts = u.path.split("/")
        echo = {
            "instance": INSTANCE,
            "method": self.command,
            "path": u.path,
            "query": u.query,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "header_list": [[k, v] for k, v in self.headers.items()],
            "body": body.decode("utf-8", "replace"),
            "body_len": len(body),
        }
        if u.path == "/healthz":
            with LOCK:
                STATE["last_health"] = echo["headers"]
                code = STATE["health"]
            return self._send(code, {"health": code})
        if len(parts) == 4 and parts[1] == "control" and parts[2] == "health":
            with LOCK:
                STATE["health"] = int(parts[3])
            return self._send(200, {"health": int(parts[3])})
        if u.path == "/control/last-health":
            with LOCK:
                return self._send(200, {"headers": STATE["last_health"]})
        if len(parts) == 3 and parts[1] == "status":
            code = int(parts[2])
            return self._send(code, {"status": code}, {"X-Status": str(code)})
        if len(parts) >= 3 and parts[1] == "slow":
            self._count("slow")
            time.sleep(int(parts[2]) / 1000.0)
            return self._send(200, echo)
        if len(parts) == 4 and parts[1] == "flaky":
            if self._count(parts[2]) <= int(parts[3]):
                return self._send(500, {"flaky": parts[2]})
            return self._send(200, echo)
        if len(parts) == 3 and parts[1] == "sse":
            return self._sse(int(parts[2]), parse_qs(u.query).get("gate", [""])[0])
        if len(parts) == 3 and parts[1] == "bytes":
            return self._bytes(int(parts[2]), "chunked" in parse_qs(u.query))
        if len(parts) == 3 and parts[1] == "count":
            with LOCK:
                return self._send(200, {"count": STATE["counts"].get(parts[2], 0)})
        return self._send(200, echo)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_TRACE = do_HEAD = _handle


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


if __name__ == "__main__":
    srv = Server(("127.0.0.1", int(sys.argv[1])), Handler)
    if os.environ.get("ECHO_TLS_CERT"):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.environ["ECHO_TLS_CERT"], os.environ["ECHO_TLS_KEY"])
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    srv.serve_forever()
