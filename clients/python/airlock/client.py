# SPDX-License-Identifier: LGPL-2.1-or-later
"""The airlock client: :class:`Airlock`, its :class:`Sandbox` objects, exec results."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import secrets
import struct
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Iterator, Mapping, Sequence

from . import _http, errors

MIB = 1024 * 1024
#: The daemon's JSON body cap ([api] max_body_bytes default): bigger requests are 413.
MAX_REQUEST_BYTES = 8 * MIB
#: A label put on every sandbox this client creates, so one whose create answer never
#: arrived (a client timeout during boot) can be found and destroyed.
CREATE_LABEL = "airlock.py-create"
# The margin over an exec's own timeout before the client gives up on its answer: the
# daemon's own deadline is the timeout plus 3 s, then it answers 504.
EXEC_MARGIN_S = 30.0
PATH_MAX = 4096


@dataclass
class ExecResult:
    """How a process ended.

    ``exit_code`` is None when a signal killed it (``signal`` says which);
    ``timed_out`` when its timeout killed its process group; ``truncated`` when its
    output passed the profile's cap and the rest was dropped; ``duration`` in seconds
    (as measured in the guest)."""

    exit_code: int | None
    signal: int | None
    timed_out: bool
    stdout: bytes
    stderr: bytes
    truncated: bool
    duration: float

    @property
    def ok(self) -> bool:
        """Exited with status 0."""
        return self.exit_code == 0 and not self.timed_out

    @property
    def stdout_text(self) -> str:
        return self.stdout.decode("utf-8", "replace")

    @property
    def stderr_text(self) -> str:
        return self.stderr.decode("utf-8", "replace")


@dataclass(frozen=True)
class OutputChunk:
    """A piece of a streamed exec's output: ``stream`` is "stdout" or "stderr"."""

    stream: str
    data: bytes


@dataclass
class Screenshot:
    """A PNG of the sandbox's screen; ``width``/``height`` are the PNG's own size."""

    png: bytes
    width: int
    height: int
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class FileWritten:
    """What the guest wrote: its path, the byte count, the SHA-256 it computed."""

    path: str
    bytes: int
    sha256: str


def _want(obj: Mapping[str, Any], key: str, types: type | tuple[type, ...], what: str,
          nullable: bool = False) -> Any:
    """obj[key] if it has the type the API promises, else a clear ProtocolError."""
    value = obj.get(key)
    if value is None and nullable and key in obj:
        return None
    # bool is an int in Python, not in JSON
    if not isinstance(value, types) or (isinstance(value, bool) and types is int):
        raise errors.ProtocolError("%s: the answer's %r is %.80r, not %s"
                                   % (what, key, value, getattr(types, "__name__", types)))
    return value


def _b64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise errors.ProtocolError("%s: invalid base64 in the answer" % what) from None


def _output(obj: Mapping[str, Any], name: str, what: str) -> bytes:
    if isinstance(obj.get(name), str):
        return obj[name].encode("utf-8", "surrogatepass")
    if isinstance(obj.get(name + "_b64"), str):
        return _b64(obj[name + "_b64"], what)
    raise errors.ProtocolError("%s: the answer has neither %s nor %s_b64" % (what, name, name))


def _result(obj: Mapping[str, Any], what: str, stdout: bytes | None = None,
            stderr: bytes | None = None) -> ExecResult:
    duration_ms = _want(obj, "duration_ms", int, what)
    return ExecResult(
        exit_code=_want(obj, "exit_code", int, what, nullable=True),
        signal=_want(obj, "signal", int, what, nullable=True),
        timed_out=_want(obj, "timed_out", bool, what),
        stdout=stdout if stdout is not None else _output(obj, "stdout", what),
        stderr=stderr if stderr is not None else _output(obj, "stderr", what),
        truncated=_want(obj, "truncated", bool, what),
        duration=duration_ms / 1000.0,
    )


def _guest_path(path: str) -> str:
    """The URL form of an absolute guest path, checked as the daemon checks it."""
    if not isinstance(path, str) or not path.startswith("/"):
        raise ValueError("guest path %r is not absolute" % (path,))
    raw = path.encode("utf-8")
    if b"\0" in raw or len(raw) > PATH_MAX:
        raise ValueError("guest path has a NUL or is longer than %d bytes" % PATH_MAX)
    segments = path[1:].split("/")
    if any(s in ("", ".", "..") for s in segments):
        raise ValueError("guest path %r has an empty, '.' or '..' segment" % path)
    return urllib.parse.quote(path[1:], safe="/")


def _mode(mode: int | str) -> str:
    text = "%o" % mode if isinstance(mode, int) and not isinstance(mode, bool) else str(mode)
    if not text or len(text) > 5 or any(c not in "01234567" for c in text):
        raise ValueError("mode %r is not octal permission bits" % (mode,))
    return text


def _png_size(png: bytes, what: str) -> tuple[int, int]:
    if len(png) < 24 or png[:8] != b"\x89PNG\r\n\x1a\n" or png[12:16] != b"IHDR":
        raise errors.ProtocolError("%s: the answer is not a PNG" % what)
    return struct.unpack(">II", png[16:24])


class ExecStream:
    """A running exec whose output arrives as it is produced (the NDJSON endpoint).

    Iterate it: it yields :class:`OutputChunk` objects, then the final
    :class:`ExecResult` (also kept in :attr:`result`; its stdout and stderr are the
    chunks' data joined, up to the client's ``max_response_bytes``). An exec that failed
    after it started (the sandbox ended, say) raises the typed error from the iterator.
    Closing the stream (or leaving its ``with`` block) early hangs up, and the daemon
    kills the process group."""

    def __init__(self, resp: _http.Response, line_max: int, keep_max: int):
        self._resp = resp
        self._line_max = line_max
        self._keep_max = keep_max
        self.result: ExecResult | None = None

    def __enter__(self) -> "ExecStream":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._resp.close()

    def __iter__(self) -> Iterator[OutputChunk | ExecResult]:
        what = self._resp.what
        kept = {"stdout": bytearray(), "stderr": bytearray()}
        try:
            while True:
                line = self._resp.readline(self._line_max)
                if not line:
                    raise errors.ProtocolError("%s: the stream ended without a result" % what)
                obj = _http.parse_json(line, "application/json", what, self._resp.status)
                kind = obj.get("stream")
                if kind in ("stdout", "stderr"):
                    data = _b64(_want(obj, "data_b64", str, what), what)
                    if len(kept["stdout"]) + len(kept["stderr"]) + len(data) > self._keep_max:
                        raise errors.ResponseTooLarge("%s: the output passed the client's "
                                                      "limit of %d bytes"
                                                      % (what, self._keep_max))
                    kept[kind] += data
                    yield OutputChunk(kind, data)
                elif kind == "exit":
                    self.result = _result(obj, what, bytes(kept["stdout"]),
                                          bytes(kept["stderr"]))
                    yield self.result
                    return
                elif kind == "error":
                    err = obj.get("error") if isinstance(obj.get("error"), dict) else {}
                    message = err.get("message") if isinstance(err.get("message"), str) else \
                        "%s: the exec failed" % what
                    code = err.get("code") if isinstance(err.get("code"), str) else None
                    raise errors.error_for(errors.status_of(code), code, message,
                                          sandbox_scoped=True)
                else:
                    raise errors.ProtocolError("%s: unknown stream line %r" % (what, line[:200]))
        finally:
            self.close()


class Files:
    """The files of a sandbox: ``sb.files.read(path)``, ``sb.files.write(path, data)``."""

    def __init__(self, sandbox: "Sandbox"):
        self._sb = sandbox

    def _path(self, path: str) -> str:
        return "/v1/sandboxes/%s/files/%s" % (self._sb.id, _guest_path(path))

    def read(self, path: str, max_bytes: int | None = None) -> bytes:
        """The content of the guest file ``path`` (absolute).

        At most ``max_bytes`` (default: the client's ``max_file_bytes``): a bigger file
        raises :class:`ResponseTooLarge` before its content is read. A missing file is
        :class:`NotFound`."""
        c = self._sb.client
        limit = c.max_file_bytes if max_bytes is None else max_bytes
        with c._send("GET", self._path(path), accept="application/octet-stream",
                     sandbox_scoped=True) as r:
            return r.read(limit)

    def download(self, path: str, out: BinaryIO, max_bytes: int | None = None) -> int:
        """Streams the guest file ``path`` into the binary file ``out``; returns its size."""
        c = self._sb.client
        limit = c.max_file_bytes if max_bytes is None else max_bytes
        with c._send("GET", self._path(path), accept="application/octet-stream",
                     sandbox_scoped=True) as r:
            return r.copy_to(out, limit)

    def mode(self, path: str) -> int:
        """The permission bits of the guest file ``path`` (X-Airlock-Mode); reads it."""
        c = self._sb.client
        with c._send("GET", self._path(path), accept="application/octet-stream",
                     sandbox_scoped=True) as r:
            value = r.header("X-Airlock-Mode") or ""
            r.copy_to(_Discard(), c.max_file_bytes)
        try:
            return int(value, 8)
        except ValueError:
            raise errors.ProtocolError("GET %s: X-Airlock-Mode %r" % (path, value)) from None

    def write(self, path: str, data: bytes | str | BinaryIO, mode: int | str = 0o644,
              length: int | None = None) -> FileWritten:
        """Writes ``data`` (bytes, str as UTF-8, or a binary file) to the guest ``path``.

        The guest writes a temporary file and renames it once everything arrived. For a
        file object give ``length`` unless it is a regular file (its size is used). The
        guest's SHA-256 is checked against the bytes sent when ``data`` is bytes."""
        c = self._sb.client
        if isinstance(data, str):
            data = data.encode("utf-8")
        digest = None
        if isinstance(data, (bytes, bytearray, memoryview)):
            length = len(data)
            digest = hashlib.sha256(data).hexdigest()
        elif length is None:
            length = os.fstat(data.fileno()).st_size - data.tell()
        query = "?mode=" + _mode(mode)
        obj = c._json("PUT", self._path(path) + query, raw=data, length=length,
                      content_type="application/octet-stream", sandbox_scoped=True)
        what = "PUT %s" % path
        done = FileWritten(_want(obj, "path", str, what), _want(obj, "bytes", int, what),
                           _want(obj, "sha256", str, what))
        if done.bytes != length or (digest is not None and done.sha256 != digest):
            raise errors.ProtocolError("%s: the guest wrote %d bytes with SHA-256 %s, sent %d "
                                       "with %s" % (what, done.bytes, done.sha256, length,
                                                    digest))
        return done


class _Discard:
    def write(self, b: bytes) -> int:
        return len(b)


class Sandbox:
    """A sandbox of a daemon. Made by :meth:`Airlock.sandbox` (or :meth:`Airlock.attach`).

    Used as a context manager, it is destroyed when the block ends, also when the block
    raises. :attr:`info` is the daemon's last answer about it (the Sandbox object of
    docs/openapi.yaml)."""

    def __init__(self, client: "Airlock", info: dict[str, Any]):
        self.client = client
        self.info = info
        self.id: str = _want(info, "id", str, "sandbox")
        self.files = Files(self)
        self._destroyed = False

    def __repr__(self) -> str:
        return "<airlock.Sandbox %s %s>" % (self.id, self.info.get("state"))

    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if exc is None:
            self.destroy()
            return
        # the block's own error stays the one raised; a failed destroy is noted on it
        try:
            self.destroy()
        except errors.AirlockError as e:
            exc.add_note("and destroying sandbox %s failed: %s" % (self.id, e))

    @property
    def _base(self) -> str:
        return "/v1/sandboxes/" + self.id

    def refresh(self) -> dict[str, Any]:
        """Inspects the sandbox again; returns (and keeps) the daemon's answer."""
        self.info = self.client._json("GET", self._base, sandbox_scoped=True)
        return self.info

    @property
    def state(self) -> str:
        return str(self.info.get("state"))

    def destroy(self) -> None:
        """Destroys the sandbox and discards everything it wrote; waits until it is gone.
        One already gone is fine. Idempotent."""
        if self._destroyed:
            return
        try:
            self.client._json("DELETE", self._base + "?wait=destroyed", sandbox_scoped=True,
                              timeout=self.client.create_timeout)
        except errors.SandboxNotFound:
            pass
        self._destroyed = True

    def _exec_body(self, argv: Sequence[str] | None, stdin: bytes | str | None,
                   timeout_s: int | None, env: Mapping[str, str] | None,
                   cwd: str | None, user: str | None = None) -> tuple[bytes, float]:
        if isinstance(argv, (str, bytes)):
            raise TypeError("argv is a list of strings; for a shell line use "
                            "['/bin/sh', '-c', LINE]")
        # None: the image's default command (an OCI image's Entrypoint + Cmd)
        body: dict[str, Any] = {} if argv is None else {"argv": [str(a) for a in argv]}
        if env is not None:
            body["env"] = dict(env)
        if cwd is not None:
            body["cwd"] = cwd
        if user is not None:
            body["user"] = str(user)
        if stdin is not None:
            if isinstance(stdin, str):
                stdin = stdin.encode("utf-8")
            body["stdin_b64"] = base64.b64encode(stdin).decode("ascii")
        if timeout_s is not None:
            body["timeout_s"] = int(timeout_s)
        limits = self.info.get("limits") if isinstance(self.info.get("limits"), dict) else {}
        effective = timeout_s or limits.get("exec_timeout_s") or 3600
        data = json.dumps(body).encode("utf-8")
        if len(data) > MAX_REQUEST_BYTES:
            raise errors.PayloadTooLarge(413, "payload_too_large",
                                         "the exec request is %d bytes, over the daemon's "
                                         "%d (stdin this big: write a file with "
                                         "files.write and redirect)" % (len(data),
                                                                        MAX_REQUEST_BYTES))
        return data, max(self.client.timeout or 0, float(effective) + EXEC_MARGIN_S)

    def exec(self, argv: Sequence[str] | None, stdin: bytes | str | None = None,
             timeout_s: int | None = None, env: Mapping[str, str] | None = None,
             cwd: str | None = None, user: str | None = None) -> ExecResult:
        """Runs ``argv`` in the sandbox and waits until it ends (``None``: the image's
        default command).

        ``stdin`` (bytes or str) is fed to the process, then EOF; ``timeout_s`` kills
        its process group (default: the profile's ``exec_timeout_s``); ``env`` adds
        variables; ``cwd`` is absolute (default / for root, the user's home for a
        user); ``user`` is who it runs as, a name or ``"UID[:GID]"`` (default: the
        image's default user; root where the profile forbids it is
        :class:`Forbidden`). A non-zero exit is not an error: look at
        :attr:`ExecResult.exit_code`. A program that is not there is
        :class:`InvalidRequest`."""
        data, wait = self._exec_body(argv, stdin, timeout_s, env, cwd, user)
        obj = self.client._json("POST", self._base + "/exec", raw=data,
                                content_type="application/json", sandbox_scoped=True,
                                timeout=wait)
        return _result(obj, "POST /v1/sandboxes/%s/exec" % self.id)

    def exec_stream(self, argv: Sequence[str] | None, stdin: bytes | str | None = None,
                    timeout_s: int | None = None, env: Mapping[str, str] | None = None,
                    cwd: str | None = None, user: str | None = None) -> ExecStream:
        """Like :meth:`exec`, but returns an :class:`ExecStream` as soon as the process
        has started; iterate it for the output as it is produced, then the result::

            with sb.exec_stream(["sh", "-c", "make"]) as stream:
                for item in stream:
                    if isinstance(item, airlock.OutputChunk):
                        print(item.data.decode(), end="")
            print(stream.result.exit_code)

        An exec that cannot start raises here, before anything is iterated."""
        data, wait = self._exec_body(argv, stdin, timeout_s, env, cwd, user)
        c = self.client
        r = c._send("POST", self._base + "/exec", raw=data, content_type="application/json",
                    accept="application/x-ndjson", sandbox_scoped=True, timeout=wait)
        if r.content_type != "application/x-ndjson":
            what = r.what
            r.close()
            raise errors.ProtocolError("%s: a streamed exec answered %r, not NDJSON"
                                       % (what, r.content_type))
        return ExecStream(r, c.max_line_bytes, c.max_response_bytes)

    def set_allowlist(self, allow: Sequence[str]) -> dict[str, Any]:
        """Replaces the allowlist of a sandbox in network mode ``allowlist`` (``[]``
        allows nothing); returns the sandbox with its new ``network.allow``, in canonical
        form. Entries: ``HOST[:PORT]``, ``*.HOST[:PORT]``, ``IPV4[/LEN][:PORT]``."""
        if isinstance(allow, str):
            raise TypeError("allow is a list of entries")
        self.info = self.client._json("PUT", self._base + "/network",
                                      body={"allow": list(allow)}, sandbox_scoped=True)
        return self.info

    def set_ttl(self, ttl_s: int) -> dict[str, Any]:
        """A new deadline ``ttl_s`` seconds from now (at most the profile's max_ttl_s)."""
        self.info = self.client._json("POST", self._base + "/ttl", body={"ttl_s": int(ttl_s)},
                                      sandbox_scoped=True)
        return self.info

    def console(self, max_bytes: int = 512 * 1024) -> bytes:
        """The serial console log (the daemon keeps its last 256 KiB)."""
        with self.client._send("GET", self._base + "/console", accept="text/plain",
                               sandbox_scoped=True) as r:
            return r.read(max_bytes)

    # ---- display: needs a daemon with display support (issue 12) ----

    def screenshot(self, width: int | None = None, height: int | None = None) -> Screenshot:
        """A PNG of the screen (``GET /v1/sandboxes/{id}/screen``), scaled to ``width`` x
        ``height`` when given.

        Needs a sandbox created with a display (else :class:`Conflict`); a daemon
        without the endpoint raises :class:`EndpointNotAvailable`."""
        query = {k: str(int(v)) for k, v in (("width", width), ("height", height))
                 if v is not None}
        path = self._base + "/screen" + ("?" + urllib.parse.urlencode(query) if query else "")
        c = self.client
        with c._display("GET", path, accept="image/png") as r:
            png = r.read(c.max_response_bytes)
            headers = {k: v for k, v in r.raw.getheaders()}
        w, h = _png_size(png, "GET %s/screen" % self._base)
        return Screenshot(png, w, h, headers)

    def computer(self, actions: Sequence[Mapping[str, Any]], screenshot: bool | None = None,
                 scale_to: Mapping[str, int] | None = None) -> dict[str, Any]:
        """Sends a batch of input actions (``POST /v1/sandboxes/{id}/computer``): move,
        click, drag, scroll, key, type, wait, screenshot... as the daemon defines them;
        returns its answer.

        Needs a daemon with display support; one without the endpoint raises
        :class:`EndpointNotAvailable`. Malformed actions are :class:`InvalidRequest` with
        nothing injected."""
        body: dict[str, Any] = {"actions": [dict(a) for a in actions]}
        if screenshot is not None:
            body["screenshot"] = bool(screenshot)
        if scale_to is not None:
            body["scale_to"] = dict(scale_to)
        c = self.client
        with c._display("POST", self._base + "/computer", body=body) as r:
            return r.json(c.max_response_bytes)


    def tools_anthropic(self, blocks: Mapping[str, Any] | Sequence[Mapping[str, Any]],
                        timeout: float | None = None) -> Any:
        """Runs Anthropic ``tool_use`` blocks in the sandbox, as a model sent them
        (``POST /v1/sandboxes/{id}/tools/anthropic``), and returns their ``tool_result``
        blocks: a list for a list, one dict for one block.

        The tools are ``bash`` (a persistent shell per sandbox: its directory, variables
        and background jobs carry over; ``{"restart": true}`` starts a new one; a command
        that runs longer than the daemon's ``bash_timeout_s`` is an error result and its
        shell is restarted), the text editor as ``str_replace_based_edit_tool`` and as
        ``str_replace_editor`` (with ``undo_edit``), and ``computer`` for a sandbox with a
        display. The blocks run one after the other. What a tool could not do (an
        unknown tool, bad input, a failed command, a missing file) is a result with
        ``is_error`` true, never an exception; a malformed block is
        :class:`InvalidRequest` with nothing run.

        ``timeout``: seconds to wait for the answer (default: 130 s a block, at least
        the client's timeout)."""
        single = isinstance(blocks, Mapping)
        body: Any = dict(blocks) if single else [dict(b) for b in blocks]
        n = 1 if single else max(len(body), 1)
        wait = timeout if timeout is not None else max(self.client.timeout or 0, 130.0 * n)
        c = self.client
        with c._send("POST", self._base + "/tools/anthropic", body=body, sandbox_scoped=True,
                     timeout=wait) as r:
            out = r.json(c.max_response_bytes, (dict, list))
        if not isinstance(out, dict if single else list):
            raise errors.ProtocolError("POST /v1/sandboxes/%s/tools/anthropic: the answer is "
                                       "not %s" % (self.id, "an object" if single else "a list"))
        return out

    def anthropic_tool_definitions(self, editor: str | None = None,
                                   computer: str | None = None) -> list[dict[str, Any]]:
        """The tool definitions to send to the model for this sandbox
        (``GET /v1/sandboxes/{id}/tools/anthropic/definitions``): ``bash_20250124``,
        the text editor (``editor="20250728"``, the default, is
        ``str_replace_based_edit_tool``; ``"20250124"`` is ``str_replace_editor``) and,
        for a sandbox with a display, the computer tool (``computer="computer_20250124"``,
        the default, or ``"computer_20251124"``) with the display in the model's space."""
        query = urllib.parse.urlencode({k: v for k, v in (("editor", editor),
                                                           ("computer", computer))
                                        if v is not None})
        path = self._base + "/tools/anthropic/definitions" + ("?" + query if query else "")
        c = self.client
        with c._send("GET", path, sandbox_scoped=True) as r:
            out = r.json(c.max_response_bytes, (list,))
        if not isinstance(out, list):
            raise errors.ProtocolError("GET %s: the answer is not a list" % path)
        return out


class Airlock:
    """A client of one airlockd.

    ``Airlock()`` finds the daemon as the ``airlock`` CLI does: ``socket``/``url``
    arguments, else ``AIRLOCK_SOCKET``/``AIRLOCK_URL``, else ``/run/airlock/api.sock``;
    ``token`` (else ``AIRLOCK_TOKEN``) is the bearer token for a ``url`` (never sent over
    the socket, where the daemon knows the caller by its uid).

    ``timeout``: seconds any one read or write on the connection may take (exec and
    create wait longer: see their docs); ``create_timeout``: how long a create waits for
    the boot; ``max_response_bytes``: the largest JSON answer (or streamed output)
    accepted; ``max_file_bytes``: the largest file :meth:`Files.read` accepts;
    ``max_line_bytes``: the longest NDJSON line; ``cafile``: the CA certificates (PEM)
    an ``https://`` daemon's certificate must chain to (default ``AIRLOCK_CACERT``, else
    the system's)."""

    def __init__(self, socket: str | None = None, url: str | None = None,
                 token: str | None = None, timeout: float | None = 30.0,
                 create_timeout: float = 300.0, max_response_bytes: int = 256 * MIB,
                 max_file_bytes: int = 1024 * MIB, max_line_bytes: int = 1 * MIB,
                 cafile: str | None = None):
        self.target = _http.resolve_target(socket, url, token, cafile)
        self.timeout = timeout
        self.create_timeout = create_timeout
        self.max_response_bytes = max_response_bytes
        self.max_file_bytes = max_file_bytes
        self.max_line_bytes = max_line_bytes

    def __repr__(self) -> str:
        return "<airlock.Airlock %s>" % self.target.where

    # ---- plumbing ----

    def _send(self, method: str, path: str, *, body: Any = None, raw: Any = None,
              length: int | None = None, content_type: str | None = None,
              accept: str = "application/json", sandbox_scoped: bool = False,
              timeout: float | None = None) -> _http.Response:
        if body is not None:
            raw = json.dumps(body).encode("utf-8")
            content_type = "application/json"
        r = _http.request(self.target, method, path, timeout=timeout or self.timeout,
                          body=raw, length=length, content_type=content_type, accept=accept)
        try:
            r.raise_for_error(sandbox_scoped)
        except BaseException:
            r.close()
            raise
        return r

    def _json(self, method: str, path: str, **kw: Any) -> dict[str, Any]:
        with self._send(method, path, **kw) as r:
            return r.json(self.max_response_bytes)

    def _display(self, method: str, path: str, **kw: Any) -> _http.Response:
        try:
            return self._send(method, path, sandbox_scoped=True, **kw)
        except errors.EndpointNotAvailable as e:
            raise errors.EndpointNotAvailable(
                e.status, e.code, "%s %s: this airlockd has no such endpoint; screenshots "
                "and computer actions need a daemon with display support"
                % (method, path.split("?")[0])) from None

    # ---- the daemon ----

    def health(self) -> dict[str, Any]:
        """``GET /v1/health``: status, version, libvirt, virt type, sandbox counts."""
        return self._json("GET", "/v1/health")

    def images(self) -> list[dict[str, Any]]:
        """The guest images, usable or not (and why)."""
        return _want(self._json("GET", "/v1/images"), "images", list, "GET /v1/images")

    def profiles(self) -> dict[str, Any]:
        """``{"profiles": [...], "default": NAME}``."""
        return self._json("GET", "/v1/profiles")

    def list_sandboxes(self, labels: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
        """Sandboxes (live and failed), oldest first; only those with every label given."""
        query = ""
        if labels:
            query = "?" + urllib.parse.urlencode([("label", "%s=%s" % kv)
                                                  for kv in labels.items()])
        obj = self._json("GET", "/v1/sandboxes" + query)
        return _want(obj, "sandboxes", list, "GET /v1/sandboxes")

    def attach(self, sandbox_id: str) -> Sandbox:
        """A :class:`Sandbox` for one that exists already (its ``with`` destroys it too)."""
        info = self._json("GET", "/v1/sandboxes/" + urllib.parse.quote(sandbox_id, safe=""),
                          sandbox_scoped=True)
        return Sandbox(self, info)

    # ---- creating ----

    def sandbox(self, image: str | None = None, network: str | Mapping[str, Any] | None = None,
                ttl_s: int | None = None, profile: str | None = None,
                allow: Sequence[str] | None = None, cpus: int | None = None,
                memory_mib: int | None = None, disk_mib: int | None = None,
                labels: Mapping[str, str] | None = None,
                display: tuple[int, int] | None = None) -> Sandbox:
        """Creates a sandbox and waits until it is ready::

            with client.sandbox(image="minimal", ttl_s=600) as sb:
                print(sb.exec(["uname", "-a"]).stdout_text)

        Every argument is optional (the profile and the daemon give the defaults; a
        request may narrow the profile's limits, never widen them). ``network`` is
        ``"none"`` (default), ``"isolated"`` or ``"allowlist"`` (then ``allow`` lists
        ``HOST[:PORT]`` entries), or the API's ``{"mode":..., "allow":[...]}``.

        The sandbox carries the label ``airlock.py-create``: when the answer never comes
        (the client's ``create_timeout`` passed, the connection broke, Ctrl-C), the
        client finds the sandbox by it and destroys it before raising."""
        body: dict[str, Any] = {}
        for key, value in (("image", image), ("profile", profile), ("ttl_s", ttl_s),
                           ("cpus", cpus), ("memory_mib", memory_mib), ("disk_mib", disk_mib)):
            if value is not None:
                body[key] = value
        if display is not None:
            width, height = display
            body["display"] = {"width": int(width), "height": int(height)}
        if isinstance(network, Mapping):
            body["network"] = dict(network)
        elif network is not None or allow is not None:
            body["network"] = {"mode": network or "allowlist"}
            if allow is not None:
                body["network"]["allow"] = list(allow)
        nonce = secrets.token_hex(8)
        body["labels"] = dict(labels or {})
        body["labels"][CREATE_LABEL] = nonce
        try:
            info = self._json("POST", "/v1/sandboxes?wait=ready", body=body,
                              timeout=self.create_timeout)
        except (errors.ClientTimeout, errors.ProtocolError, KeyboardInterrupt):
            # the daemon boots on without us: find what it made and delete it
            self._sweep_create(nonce)
            raise
        return Sandbox(self, info)

    def _sweep_create(self, nonce: str) -> None:
        try:
            for sb in self.list_sandboxes({CREATE_LABEL: nonce}):
                self._json("DELETE", "/v1/sandboxes/%s" % sb["id"], sandbox_scoped=True)
        except errors.AirlockError:
            pass  # the TTL ends it; the original error is the one to report
