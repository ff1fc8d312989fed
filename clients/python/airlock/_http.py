# SPDX-License-Identifier: LGPL-2.1-or-later
"""HTTP/1.1 to airlockd with http.client: over its unix socket, or TCP with a bearer token.

The daemon closes every connection after one answer (``Connection: close``), so each
request opens its own. Every read is bounded: an answer bigger than the caller's limit
raises :class:`ResponseTooLarge` without reading the rest, and a declared length over it
is refused before anything is read.
"""

from __future__ import annotations

import errno
import http.client
import json
import os
import socket
import ssl
import stat
import urllib.parse
from dataclasses import dataclass
from typing import Any, BinaryIO

from . import errors

DEFAULT_SOCKET = "/run/airlock/api.sock"
SOCKET_PATH_MAX = 107  # sun_path less its NUL
TOKEN_MAX = 4096
ERROR_BODY_MAX = 64 * 1024  # an error answer is a short JSON object
READ_CHUNK = 64 * 1024
USER_AGENT = "airlock-python/0.1.0"


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float | None):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            sock.connect(self._path)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


@dataclass(frozen=True)
class Target:
    """Where the daemon is: a unix socket, or a base URL with an optional token."""

    socket_path: str | None
    url: str | None
    token: str | None
    cafile: str | None = None

    @property
    def where(self) -> str:
        return self.socket_path if self.socket_path is not None else str(self.url)


def _env(name: str) -> str | None:
    value = os.environ.get(name)
    return value if value else None


def resolve_target(socket_path: str | None, url: str | None, token: str | None,
                   cafile: str | None = None) -> Target:
    """The CLI's rules (client/alk-cli.c): arguments win over AIRLOCK_SOCKET, AIRLOCK_URL
    and AIRLOCK_TOKEN; a socket and a URL exclude each other; the default is the
    daemon's socket, /run/airlock/api.sock. The token is sent over TCP only."""
    if socket_path is not None and url is not None:
        raise errors.ConfigError("socket and url exclude each other")
    if socket_path is None and url is None:
        socket_path, url = _env("AIRLOCK_SOCKET"), _env("AIRLOCK_URL")
        if socket_path is not None and url is not None:
            raise errors.ConfigError("AIRLOCK_SOCKET and AIRLOCK_URL are both set; unset "
                                     "one, or pass socket= or url=")
    if token is None:
        token = _env("AIRLOCK_TOKEN")
    if socket_path is None and url is None:
        socket_path = DEFAULT_SOCKET
    if socket_path is not None:
        _check_socket_path(socket_path)
    if url is not None:
        url = _check_url(url)
    if token is not None:
        _check_token(token)
    if cafile is None:
        cafile = _env("AIRLOCK_CACERT")
    if cafile is not None and not os.path.isfile(cafile):
        raise errors.ConfigError("the CA file %r does not exist" % cafile)
    return Target(socket_path, url, token, cafile)


def _check_socket_path(path: str) -> None:
    if not isinstance(path, str) or path == "":
        raise errors.ConfigError("the socket path is empty")
    if len(os.fsencode(path)) > SOCKET_PATH_MAX:
        raise errors.ConfigError("the socket path is longer than %d bytes" % SOCKET_PATH_MAX)


def _check_url(url: str) -> str:
    u = urllib.parse.urlsplit(url)
    if u.scheme not in ("http", "https") or not u.hostname:
        raise errors.ConfigError("%r is not an http:// or https:// URL with a host" % url)
    if u.query or u.fragment or u.username or u.password:
        raise errors.ConfigError("URL %r must not have user info, a query or a fragment" % url)
    return url.rstrip("/")


def _check_token(token: str) -> None:
    if not isinstance(token, str) or not 1 <= len(token) <= TOKEN_MAX:
        raise errors.ConfigError("the token must have 1 to %d characters" % TOKEN_MAX)
    if any(c <= " " or c > "~" for c in token):
        raise errors.ConfigError("the token must be printable ASCII without spaces")


class Response:
    """An answer whose head has been read; the body is read by the caller, bounded."""

    def __init__(self, target: Target, conn: http.client.HTTPConnection,
                 resp: http.client.HTTPResponse, what: str):
        self._target = target
        self._conn = conn
        self.raw = resp
        self.what = what  # "GET /v1/..." for messages
        self.status = resp.status

    def header(self, name: str) -> str | None:
        return self.raw.getheader(name)

    @property
    def content_type(self) -> str:
        return (self.header("Content-Type") or "").split(";")[0].strip().lower()

    def close(self) -> None:
        self.raw.close()
        self._conn.close()

    def __enter__(self) -> "Response":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _declared_length(self) -> int | None:
        value = self.header("Content-Length")
        if value is None:
            return None
        if not value.strip().isdigit():
            raise errors.ProtocolError("%s: Content-Length %r is not a number"
                                       % (self.what, value[:40]))
        return int(value)

    def read(self, limit: int) -> bytes:
        """The whole body, at most ``limit`` bytes, else :class:`ResponseTooLarge`."""
        declared = self._declared_length()
        if declared is not None and declared > limit:
            raise errors.ResponseTooLarge("%s: the answer announces %d bytes, more than the "
                                          "client's limit of %d" % (self.what, declared, limit))
        parts, got = [], 0
        while True:
            chunk = _io(self, lambda: self.raw.read(min(READ_CHUNK, limit + 1 - got)))
            if not chunk:
                break
            got += len(chunk)
            if got > limit:
                raise errors.ResponseTooLarge("%s: the answer is longer than the client's "
                                              "limit of %d bytes" % (self.what, limit))
            parts.append(chunk)
        body = b"".join(parts)
        if declared is not None and len(body) != declared:
            raise errors.ProtocolError("%s: the answer was cut short (%d of %d bytes)"
                                       % (self.what, len(body), declared))
        return body

    def copy_to(self, out: BinaryIO, limit: int) -> int:
        """Streams the body into ``out``; at most ``limit`` bytes. Returns the count."""
        declared = self._declared_length()
        if declared is not None and declared > limit:
            raise errors.ResponseTooLarge("%s: the answer announces %d bytes, more than the "
                                          "limit of %d" % (self.what, declared, limit))
        got = 0
        while True:
            chunk = _io(self, lambda: self.raw.read(READ_CHUNK))
            if not chunk:
                break
            got += len(chunk)
            if got > limit:
                raise errors.ResponseTooLarge("%s: the answer is longer than the limit of "
                                              "%d bytes" % (self.what, limit))
            out.write(chunk)
        if declared is not None and got != declared:
            raise errors.ProtocolError("%s: the answer was cut short (%d of %d bytes)"
                                       % (self.what, got, declared))
        return got

    def readline(self, limit: int) -> bytes:
        """One line of a streamed answer (b"" at its end), at most ``limit`` bytes."""
        line = _io(self, lambda: self.raw.readline(limit + 1))
        if len(line) > limit:
            raise errors.ResponseTooLarge("%s: a line of the stream is longer than %d bytes"
                                          % (self.what, limit))
        return line

    def json(self, limit: int, kinds: tuple[type, ...] = (dict,)) -> Any:
        """The body as a JSON object (or another of kinds, such as list); anything else
        is a clear :class:`ProtocolError`."""
        body = self.read(limit)
        return parse_json(body, self.content_type, self.what, self.status, kinds)

    def raise_for_error(self, sandbox_scoped: bool = False) -> None:
        """For a status >= 400, the typed error from the daemon's error body."""
        if self.status < 400:
            return
        try:
            body = self.read(ERROR_BODY_MAX)
        except errors.ProtocolError:
            body = b""
        code, message = _error_fields(body)
        if message is None:
            message = "%s: airlockd answered HTTP %d %s" % (self.what, self.status,
                                                            self.raw.reason)
            if body and code is None:
                message += ": %r" % body[:200]
        error = errors.error_for(self.status, code, message, sandbox_scoped)
        if self.status == 401:
            error.args = (error.args[0] + "; give a token with token= or AIRLOCK_TOKEN",)
        raise error


def _error_fields(body: bytes) -> tuple[str | None, str | None]:
    try:
        obj = json.loads(body)
        err = obj["error"]
        code, message = err.get("code"), err.get("message")
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
        return None, None
    return (code if isinstance(code, str) else None,
            message if isinstance(message, str) and message else None)


def parse_json(body: bytes, content_type: str, what: str, status: int,
               kinds: tuple[type, ...] = (dict,)) -> Any:
    if content_type != "application/json":
        raise errors.ProtocolError("%s: airlockd answered HTTP %d with %r, not JSON: %r"
                                   % (what, status, content_type or "no content type",
                                      body[:200]))
    try:
        obj = json.loads(body)
    except (ValueError, RecursionError) as e:
        raise errors.ProtocolError("%s: the answer is not valid JSON (%s): %r"
                                   % (what, e.__class__.__name__, body[:200])) from None
    if not isinstance(obj, kinds):
        raise errors.ProtocolError("%s: the answer is JSON but not %s: %r"
                                   % (what, " or ".join("a list" if k is list else "an object"
                                                        for k in kinds), body[:200]))
    return obj


def _io(resp: Response, fn):
    """Runs one socket operation of an answer, its errors made ours."""
    try:
        return fn()
    except socket.timeout:
        raise errors.ClientTimeout("%s: no answer from airlockd at %s within %s s"
                                   % (resp.what, resp._target.where,
                                      resp._conn.timeout)) from None
    except (http.client.HTTPException, OSError) as e:
        raise errors.ProtocolError("%s: reading the answer from %s: %s"
                                   % (resp.what, resp._target.where, e)) from None


def _connect_advice(target: Target, e: OSError) -> str:
    if target.socket_path is None:
        return ("is airlockd running with `listen = HOST:PORT` in [api] of "
                "/etc/airlock/airlockd.conf?")
    try:
        st = os.stat(target.socket_path)
    except OSError:
        return ("%s does not exist: airlockd is not running, or listens elsewhere "
                "(socket=, AIRLOCK_SOCKET)" % target.socket_path)
    if not stat.S_ISSOCK(st.st_mode):
        return "%s exists but is not a socket" % target.socket_path
    if e.errno in (errno.EACCES, errno.EPERM):
        return ("the socket exists but you may not use it: run as root, or join the "
                "group 'airlock'")
    return "the socket exists but nobody answers: airlockd has stopped"


def _connection(target: Target, timeout: float | None) -> http.client.HTTPConnection:
    if target.socket_path is not None:
        return _UnixConnection(target.socket_path, timeout)
    u = urllib.parse.urlsplit(str(target.url))
    if u.scheme == "https":
        # the system's CAs, or only those of cafile
        ctx = ssl.create_default_context(cafile=target.cafile)
        return http.client.HTTPSConnection(u.hostname, u.port, timeout=timeout, context=ctx)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)


def request(target: Target, method: str, path: str, *, timeout: float | None,
            body: bytes | BinaryIO | None = None, length: int | None = None,
            content_type: str | None = None, accept: str = "application/json") -> Response:
    """Sends one request and reads the answer's head.

    ``body`` is bytes or a binary file of ``length`` bytes (sent as it is read). When the
    daemon refuses a body early (413) and closes, the answer is still read."""
    what = "%s %s" % (method, path.split("?")[0])
    prefix = ""
    if target.url is not None:
        prefix = urllib.parse.urlsplit(target.url).path
    conn = _connection(target, timeout)
    try:
        try:
            conn.connect()
        except socket.timeout:
            raise errors.ClientTimeout("%s: cannot reach airlockd at %s within %s s"
                                       % (what, target.where, timeout)) from None
        except OSError as e:
            raise errors.ConnectionFailed("cannot reach airlockd at %s: %s; %s"
                                          % (target.where, e.strerror or e,
                                             _connect_advice(target, e))) from None
        conn.putrequest(method, prefix + path, skip_accept_encoding=True)
        conn.putheader("Accept", accept)
        conn.putheader("User-Agent", USER_AGENT)
        if target.socket_path is None and target.token is not None:
            conn.putheader("Authorization", "Bearer " + target.token)
        if body is not None:
            if length is None:
                length = len(body)  # type: ignore[arg-type]
            conn.putheader("Content-Type", content_type or "application/octet-stream")
            conn.putheader("Content-Length", str(length))
        elif method in ("POST", "PUT"):
            conn.putheader("Content-Length", "0")
        _send(conn, what, target, body, length)
        try:
            resp = conn.getresponse()
        except socket.timeout:
            raise errors.ClientTimeout("%s: no answer from airlockd at %s within %s s"
                                       % (what, target.where, timeout)) from None
        except (http.client.HTTPException, OSError) as e:
            raise errors.ProtocolError("%s: no valid HTTP answer from %s: %s"
                                       % (what, target.where, e)) from None
    except BaseException:
        conn.close()
        raise
    return Response(target, conn, resp, what)


def _send(conn: http.client.HTTPConnection, what: str, target: Target,
          body: bytes | BinaryIO | None, length: int | None) -> None:
    try:
        conn.endheaders()
        if body is None:
            return
        if isinstance(body, (bytes, bytearray, memoryview)):
            view = memoryview(body)
            for off in range(0, len(view), READ_CHUNK):
                conn.send(view[off:off + READ_CHUNK])
            return
        left = int(length or 0)
        while left > 0 and (chunk := body.read(min(READ_CHUNK, left))):
            conn.send(chunk)
            left -= len(chunk)
        if left > 0:
            # the daemon would wait for the rest: hang up instead
            raise ValueError("%s: the file gave %d bytes less than the %d announced"
                             % (what, left, length))
    except (BrokenPipeError, ConnectionResetError):
        # the daemon refused the body and closed (413 before reading it all): its
        # answer is waiting in the socket
        return
    except socket.timeout:
        raise errors.ClientTimeout("%s: airlockd at %s stopped reading the request for %s s"
                                   % (what, target.where, conn.timeout)) from None
