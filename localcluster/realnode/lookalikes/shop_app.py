#!/usr/bin/env python3
"""A stand-in for the examples' own app images (registry.example.com/shop/api, .../worker).

Serves HTTP on $PORT (8080): ``/healthz`` answers ``ok``; ``/`` answers JSON with the
host name, the settings the examples seed (LOG_LEVEL, DB_HOST, CACHE_HOST), which secret
variables are set (names only, never values), and whether DB_HOST:5432 and
CACHE_HOST:6379 accept a TCP connection. Logs one line per request to stdout.
"""

import json
import os
import socket
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SETTINGS = ("LOG_LEVEL", "DB_HOST", "CACHE_HOST")
SECRETS = ("DB_PASSWORD", "API_TOKEN")
PEERS = (("DB_HOST", 5432), ("CACHE_HOST", 6379))


def answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def report() -> dict[str, object]:
    reach: dict[str, bool] = {}
    for var, port in PEERS:
        host = os.environ.get(var)
        if host:
            reach[f"{host}:{port}"] = answers(host, port)
    return {
        "hostname": socket.gethostname(),
        "settings": {k: os.environ[k] for k in SETTINGS if k in os.environ},
        "secrets_set": [k for k in SECRETS if os.environ.get(k)],
        "reachable": reach,
    }


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/healthz":
            body, kind = b"ok\n", "text/plain"
        else:
            body, kind = (json.dumps(report()) + "\n").encode(), "application/json"
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt: str, *args: object) -> None:
        sys.stdout.write(f"{self.address_string()} {fmt % args}\n")
        sys.stdout.flush()


def main() -> None:
    port = int(os.environ.get("PORT", "8080"))
    server = ThreadingHTTPServer(("", port), Handler)
    print(f"shop-app listening on :{port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
