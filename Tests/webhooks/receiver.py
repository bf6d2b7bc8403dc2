#!/usr/bin/env python3
"""A webhook receiver on loopback, for Dray's webhook tests.

It answers POST /fail-twice with 500 to its first two requests and 200 after, and every other
path with 200. Each request is one JSON line in LOG: the path, the time it came (Unix seconds),
the X-Dray-* headers, the body, and whether X-Dray-Signature-256 is the HMAC-SHA256 of the body
with SECRET (or with SERVER_SECRET, for the server's own webhook), as a GitHub-style receiver
checks it.

    receiver.py PORT LOG SECRET SERVER_SECRET
"""
import hashlib
import hmac
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port, log_path, secret, server_secret = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
lock = threading.Lock()
seen = {}


def signed(body, key):
    return "sha256=" + hmac.new(key.encode(), body, hashlib.sha256).hexdigest()


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        signature = self.headers.get("X-Dray-Signature-256")
        with lock:
            count = seen.get(self.path, 0) + 1
            seen[self.path] = count
            with open(log_path, "a") as log:
                log.write(json.dumps({
                    "path": self.path,
                    "time": time.time(),
                    "event": self.headers.get("X-Dray-Event"),
                    "delivery": self.headers.get("X-Dray-Delivery"),
                    "signature": signature,
                    "validJob": signature is not None and hmac.compare_digest(signature, signed(body, secret)),
                    "validServer": signature is not None and hmac.compare_digest(signature, signed(body, server_secret)),
                    "body": json.loads(body),
                }) + "\n")
        status = 500 if self.path == "/fail-twice" and count <= 2 else 200
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", port), Receiver).serve_forever()
