#!/usr/bin/env python3
"""Pub/sub subscriber app for the integration tests (stdlib only).

  GET  /dapr/subscribe        the programmatic subscriptions given in the JSON file argv[2]
                              (a list in upstream's v1/v2 shape); 404 when the file is "-"
  POST /<anything>            records the delivery, then answers per the path's last segment
                              or the topic's configured reply (see /control/reply):
                                success -> 200 {"status":"SUCCESS"}, retry -> {"status":"RETRY"},
                                drop -> {"status":"DROP"}, 404 -> 404, 500 -> 500,
                                empty -> 200 with no body, flaky<N> -> 500 for the first N calls,
                                bulk -> {"statuses":[SUCCESS for every entry]}
  GET  /deliveries            {"deliveries":[{path, headers, body}]} in arrival order
  GET  /count?path=/x         {"count": deliveries seen on /x}
  POST /control/reply/<path>  set the reply kind for deliveries on /<path> (body = kind)
Usage: sub_app.py PORT SUBSCRIPTIONS_JSON|-
"""
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

LOCK = threading.Lock()
DELIVERIES = []
REPLY = {}
CALLS = {}
SUBS = sys.argv[2] if len(sys.argv) > 2 else "-"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _send(self, code, obj=None):
        body = b"" if obj is None else json.dumps(obj).encode()
        self.send_response(code)
        if body:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def do_GET(self):
        u = urlsplit(self.path)
        if u.path == "/dapr/subscribe":
            with LOCK:
                DELIVERIES.append({"path": "/dapr/subscribe", "headers": dict(self.headers),
                                   "body": ""})
            if SUBS == "-":
                self._send(404, {"error": "none"})
                return
            with open(SUBS) as f:
                self._send(200, json.load(f))
            return
        if u.path == "/deliveries":
            with LOCK:
                self._send(200, {"deliveries": list(DELIVERIES)})
            return
        if u.path == "/count":
            p = parse_qs(u.query).get("path", [""])[0]
            with LOCK:
                n = sum(1 for d in DELIVERIES if d["path"] == p)
            self._send(200, {"count": n})
            return
        self._send(404)

    def do_POST(self):
        u = urlsplit(self.path)
        body = self._body()
        if u.path.startswith("/control/reply/"):
            with LOCK:
                REPLY["/" + u.path[len("/control/reply/"):]] = body.decode()
            self._send(204)
            return
        with LOCK:
            DELIVERIES.append({"path": u.path, "headers": dict(self.headers),
                               "body": body.decode("utf-8", "replace")})
            CALLS[u.path] = CALLS.get(u.path, 0) + 1
            calls = CALLS[u.path]
            kind = REPLY.get(u.path, u.path.rsplit("/", 1)[-1])
        if kind == "retry":
            self._send(200, {"status": "RETRY"})
        elif kind == "drop":
            self._send(200, {"status": "DROP"})
        elif kind == "404":
            self._send(404, {"error": "not here"})
        elif kind == "500":
            self._send(500, {"error": "boom"})
        elif kind == "empty":
            self._send(200)
        elif kind.startswith("flaky"):
            if calls <= int(kind[5:] or 1):
                self._send(500, {"error": "flaky"})
            else:
                self._send(200, {"status": "SUCCESS"})
        elif kind == "bulk":
            try:
                entries = json.loads(body).get("entries", [])
            except ValueError:
                entries = []
            self._send(200, {"statuses": [{"entryId": e.get("entryId"), "status": "SUCCESS"}
                                          for e in entries]})
        else:
            self._send(200, {"status": "SUCCESS"})


if __name__ == "__main__":
    srv = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    srv.daemon_threads = True
    srv.serve_forever()
