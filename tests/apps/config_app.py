#!/usr/bin/env python3
"""App receiving configuration updates for the cfglock integration tests (stdlib only).

  POST /configuration/<store>/<key>   records {"t": arrival time, "store", "key", "body"}; 200
  GET  /events                        {"events": [...]} everything recorded so far
  GET  /events/wait?n=N&timeout=S     waits until at least N events are recorded (bounded)
  DELETE /events                      forgets the recorded events
  anything else                       200 {}
Usage: config_app.py PORT
"""
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

COND = threading.Condition()
EVENTS = []


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _send(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def do_POST(self):
        raw = self._body()
        u = urlsplit(self.path)
        parts = u.path.split("/")
        if len(parts) == 4 and parts[1] == "configuration":
            try:
                body = json.loads(raw)
            except ValueError:
                body = {"unparsable": raw.decode("latin-1")}
            ev = {"t": time.time(), "store": unquote(parts[2]), "key": unquote(parts[3]),
                  "content_type": self.headers.get("Content-Type"), "body": body}
            with COND:
                EVENTS.append(ev)
                COND.notify_all()
        self._send(200, {})

    def do_GET(self):
        u = urlsplit(self.path)
        if u.path == "/events":
            with COND:
                self._send(200, {"events": list(EVENTS)})
            return
        if u.path == "/events/wait":
            q = parse_qs(u.query)
            n = int(q.get("n", ["1"])[0])
            deadline = time.time() + min(float(q.get("timeout", ["5"])[0]), 30.0)
            with COND:
                while len(EVENTS) < n and time.time() < deadline:
                    COND.wait(max(0.0, deadline - time.time()))
                self._send(200, {"events": list(EVENTS)})
            return
        self._send(200, {})

    def do_DELETE(self):
        with COND:
            EVENTS.clear()
        self._send(200, {})


ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
