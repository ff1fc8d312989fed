# SPDX-License-Identifier: LGPL-2.1-or-later
"""A scripted HTTP server on a unix socket (or 127.0.0.1) that plays a hostile or
broken daemon: it records each request and answers with whatever bytes the test gives
(or an endless body, or nothing at all)."""

from __future__ import annotations

import os
import socket
import tempfile
import threading
from dataclasses import dataclass, field
from typing import Callable


@dataclass
class Seen:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Fake:
    """``answer(seen, conn)`` writes the answer on ``conn`` (a socket)."""

    answer: Callable[[Seen, socket.socket], None]
    tcp: bool = False
    seen: list[Seen] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        if self.tcp:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.sock.bind(("127.0.0.1", 0))
            self.url = "http://127.0.0.1:%d" % self.sock.getsockname()[1]
            self.path = None
        else:
            self.dir = tempfile.mkdtemp(prefix="alk-py-fake-")
            self.path = os.path.join(self.dir, "api.sock")
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.bind(self.path)
        self.sock.listen(8)
        self.sock.settimeout(0.05)
        self._conns: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self._conns.append(conn)
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(10)
            seen = _read_request(conn)
            self.seen.append(seen)
            self.answer(seen, conn)
        except OSError:
            pass

    def close(self) -> None:
        self._stop.set()
        for c in self._conns:
            try:
                c.close()
            except OSError:
                pass
        self.sock.close()
        self._thread.join(5)
        if self.path is not None:
            os.unlink(self.path)
            os.rmdir(self.dir)

    def __enter__(self) -> "Fake":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _read_request(conn: socket.socket) -> Seen:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            raise OSError("client went away")
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        k, v = line.split(":", 1)
        headers[k.strip().lower()] = v.strip()
    want = int(headers.get("content-length", "0"))
    while len(body) < want:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return Seen(method, target, headers, body)


def reply(status: int, body: bytes, ctype: str = "application/json",
          extra: str = "") -> Callable[[Seen, socket.socket], None]:
    """An answer with a Content-Length, then the connection closed."""
    def answer(seen: Seen, conn: socket.socket) -> None:
        conn.sendall(("HTTP/1.1 %d X\r\nContent-Type: %s\r\nContent-Length: %d\r\n%s"
                      "Connection: close\r\n\r\n" % (status, ctype, len(body), extra)).encode()
                     + body)
        conn.close()
    return answer


def endless(ctype: str, unit: bytes, head_extra: str = "") -> Callable[[Seen, socket.socket],
                                                                        None]:
    """A chunked answer that never ends (until the client hangs up)."""
    def answer(seen: Seen, conn: socket.socket) -> None:
        conn.sendall(("HTTP/1.1 200 OK\r\nContent-Type: %s\r\nTransfer-Encoding: chunked\r\n"
                      "%sConnection: close\r\n\r\n" % (ctype, head_extra)).encode())
        chunk = b"%x\r\n%s\r\n" % (len(unit), unit)
        while True:
            conn.sendall(chunk)
    return answer


def silent(seen: Seen, conn: socket.socket) -> None:
    """Reads the request and never answers."""
    threading.Event().wait(30)
