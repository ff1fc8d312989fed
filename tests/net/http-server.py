#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""One of the test internet's web servers (tests/alk-test-inet.h).

Usage: http-server.py ADDR PORT BODY

Answers GET (and HEAD) of any path with 200 and BODY plus a newline, so a
test can tell which server it reached. HTTP/1.0: one request a connection.
GET /slow streams 64 bytes every 0.1 s for a minute instead: a long-lived
connection for the tests that cut one.
Each request is logged to stderr. Standard library only.
"""
import http.server
import socketserver
import sys
import time


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: http-server.py ADDR PORT BODY")
    addr, port, body = sys.argv[1], int(sys.argv[2]), (sys.argv[3] + "\n").encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def head(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()

        def do_HEAD(self):
            self.head()

        def do_GET(self):
            if self.path == "/slow":
                self.slow()
                return
            self.head()
            self.wfile.write(body)

        def slow(self):
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.end_headers()
            try:
                for _ in range(600):
                    self.wfile.write(b"x" * 64)
                    self.wfile.flush()
                    time.sleep(0.1)
            except OSError:
                pass  # the client is gone (or cut off)

    class Server(http.server.ThreadingHTTPServer):
        daemon_threads = True

        # HTTPServer's own looks its address up in DNS (socket.getfqdn): a
        # query to the host's resolver, and seconds of delay, for nothing
        def server_bind(self):
            socketserver.TCPServer.server_bind(self)
            self.server_name, self.server_port = addr, port

    server = Server((addr, port), Handler)
    server.serve_forever()


if __name__ == "__main__":
    main()
