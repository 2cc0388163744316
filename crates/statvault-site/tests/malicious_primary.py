#!/usr/bin/env python3
"""A malicious primary for `site mirror` tests: one attack per run, on 127.0.0.1.

usage: malicious_primary.py ATTACK [DIR]

Prints the port it listens on, then serves until killed. Attacks:
  redirect   every answer is a redirect to another origin (an internal service)
  gzip-bomb  the log is a small gzip answer that inflates to 1 GiB of newlines
  huge       the checkpoint announces and sends 1 GiB
  slow-drip  answers one byte every second, for ever
  static     serves the releases directory DIR as it is, checking nothing, as a
             primary whose files an intruder changed (/log/… and /releases/NAME/…)
"""
import os
import gzip
import http.server
import io
import sys
import time

ATTACK = sys.argv[1]
BOMB = None
if ATTACK == "gzip-bomb":
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=9) as z:
        block = b"\n" * (1 << 20)
        for _ in range(1024):
            z.write(block)
    BOMB = buffer.getvalue()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        try:
            self.attack()
        except (BrokenPipeError, ConnectionResetError):
            pass

    def attack(self):
        if ATTACK == "static":
            path = self.path.split("?")[0]
            rel = path[len("/releases/"):] if path.startswith("/releases/") else path.lstrip("/")
            full = os.path.join(sys.argv[2], rel)
            if ".." in rel.split("/") or not os.path.isfile(full):
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = open(full, "rb").read()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif ATTACK == "redirect":
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif ATTACK == "gzip-bomb":
            self.send_response(200)
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(BOMB)))
            self.end_headers()
            self.wfile.write(BOMB)
        elif ATTACK == "huge":
            self.send_response(200)
            self.send_header("Content-Length", str(1 << 30))
            self.end_headers()
            block = b"x" * (1 << 20)
            for _ in range(1024):
                self.wfile.write(block)
        elif ATTACK == "slow-drip":
            self.send_response(200)
            self.send_header("Content-Length", str(1 << 20))
            self.end_headers()
            while True:
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(1)


class Server(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # the mirror hanging up on an attack is the point


server = Server(("127.0.0.1", 0), Handler)
server.daemon_threads = True
print(server.server_address[1], flush=True)
server.serve_forever()
