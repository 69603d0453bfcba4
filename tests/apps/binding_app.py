#!/usr/bin/env python3
"""App for the bindings integration tests (stdlib only).

As a Dapr app (input bindings, sidecar-api.md §7.2):
  OPTIONS /<route>        200, except routes starting with "unsub" (404) and "405" (405)
  POST /<route>           records {headers, body}; answers 200, or 500 for routes starting "fail",
                          and for routes starting "flaky" 500 the first time a body is seen
  GET /events/<route>     {"events": [...recorded POSTs...], "options": <OPTIONS count>}
As a target of bindings.http:
  any verb /echo/...      200 JSON {method, path, headers, body}, header X-Target: yes
  any verb /status/<code> answers <code> with body "status <code>"
  GET /big/<n>            n bytes of 'a'
Usage: binding_app.py PORT
"""
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
EVENTS = {}
OPTIONS = {}
SEEN = set()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _send(self, code, body=b"", ctype="application/json", extra=None):
        self.send_response(code)
        if body:
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def _target(self, body):
        parts = self.path.split("?")[0].split("/")
        if parts[1] == "status":
            code = int(parts[2])
            return self._send(code, ("status %d" % code).encode(), "text/plain")
        if parts[1] == "big":
            return self._send(200, b"a" * int(parts[2]), "text/plain")
        echo = {"method": self.command, "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": body.decode("utf-8", "replace")}
        self._send(200, json.dumps(echo).encode(), extra={"X-Target": "yes"})

    def _handle(self):
        body = self._body()
        route = self.path.split("?")[0].lstrip("/")
        first = route.split("/")[0]
        if first in ("echo", "status", "big"):
            return self._target(body)
        if self.command == "GET" and first == "events":
            name = route.split("/", 1)[1] if "/" in route else ""
            with LOCK:
                out = {"events": EVENTS.get(name, []), "options": OPTIONS.get(name, 0)}
            return self._send(200, json.dumps(out).encode())
        if self.command == "OPTIONS":
            with LOCK:
                OPTIONS[route] = OPTIONS.get(route, 0) + 1
            if route.startswith("unsub"):
                return self._send(404)
            if route.startswith("405"):
                return self._send(405)
            return self._send(200)
        if self.command == "POST":
            with LOCK:
                EVENTS.setdefault(route, []).append({
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body": body.decode("utf-8", "replace")})
                first_seen = (route, body) not in SEEN
                SEEN.add((route, body))
            if route.startswith("fail") or (route.startswith("flaky") and first_seen):
                return self._send(500, b'{"error":"nope"}')
            return self._send(200, b'{"ok":true}')
        return self._send(404)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = _handle

    def do_TRACE(self):
        self._handle()


def main():
    srv = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    srv.daemon_threads = True
    srv.serve_forever()


if __name__ == "__main__":
    main()
