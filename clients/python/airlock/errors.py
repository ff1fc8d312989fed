# SPDX-License-Identifier: LGPL-2.1-or-later
"""Exceptions of the airlock client.

Every error the daemon answers is ``{"error": {"code": ..., "message": ...}}``; the
code picks the class (one table, :data:`CODES`, as daemon/api/alk-api-error.c has one
table from errors to statuses). Errors the client finds itself (it cannot reach the
daemon, the answer is not what the API promises, a deadline passed) have their own
classes. Everything derives from :class:`AirlockError`.
"""

from __future__ import annotations

import re


class AirlockError(Exception):
    """Base of every error raised by this package."""


class ConfigError(AirlockError, ValueError):
    """The client was configured wrongly (both a socket and a URL, a bad token...)."""


class ConnectionFailed(AirlockError, ConnectionError):
    """airlockd could not be reached (no socket, refused, permission denied)."""


class ProtocolError(AirlockError):
    """The answer is not what the API promises: not JSON, the wrong shape, cut short."""


class ResponseTooLarge(ProtocolError):
    """An answer passed the client's own size bound; the rest was not read."""


class AirlockTimeout(AirlockError, TimeoutError):
    """A deadline passed: the client's own (:class:`ClientTimeout`) or the daemon's
    (:class:`ApiTimeout`)."""


class ClientTimeout(AirlockTimeout):
    """The daemon did not answer (or send more of its answer) within the client's timeout."""


class SandboxGone(AirlockError):
    """Mixin: the sandbox no longer exists or is ending (deleted, TTL expired, failed).

    Catch this to handle "the sandbox went away" whatever the daemon's exact answer was
    (404 ``not_found`` for a forgotten sandbox, 410 ``sandbox_ended`` for one that ended
    while the task ran, 409 ``conflict`` for one that is stopping)."""


class ApiError(AirlockError):
    """The daemon answered with an error.

    Attributes: ``status`` (HTTP status), ``code`` (the API's error code, e.g.
    ``not_found``), ``message`` (the daemon's message)."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__("%s (HTTP %d %s)" % (message, status, code))
        self.status = status
        self.code = code
        self.message = message


class InvalidRequest(ApiError):
    """400 ``invalid_request``: malformed or out-of-range input, a path the guest cannot
    use (missing directory, program not found)."""


class Unauthorized(ApiError):
    """401 ``unauthorized``: no or a wrong bearer token (TCP)."""


class Forbidden(ApiError):
    """403 ``forbidden``: the token's scope (or the unix caller) may not do this."""


class NotFound(ApiError):
    """404 ``not_found``: no such sandbox, image, profile, file or route."""


class SandboxNotFound(NotFound, SandboxGone):
    """404 for the sandbox itself: it was destroyed (or never existed)."""


class EndpointNotAvailable(NotFound):
    """404 for the route itself: this airlockd does not have the endpoint (for the screen
    and computer endpoints: it needs a daemon with display support)."""


class MethodNotAllowed(ApiError):
    """405 ``method_not_allowed``."""


class Conflict(ApiError):
    """409 ``conflict``: the sandbox is not in a state for this (not ready, not in
    network mode allowlist)."""


class SandboxStopping(Conflict, SandboxGone):
    """409 because the sandbox is stopping, destroyed or failed."""


class SandboxEnded(ApiError, SandboxGone):
    """410 ``sandbox_ended``: the sandbox ended while the task ran; the message says why."""


class PayloadTooLarge(ApiError):
    """413 ``payload_too_large``: a JSON body over 8 MiB or a file over the daemon's cap."""


class UriTooLong(ApiError):
    """414 ``uri_too_long``."""


class UnsupportedMediaType(ApiError):
    """415 ``unsupported_media_type``."""


class LimitExceeded(ApiError):
    """429 ``limit_exceeded``: over capacity, too many execs, above a profile ceiling."""


class HeadersTooLarge(ApiError):
    """431 ``headers_too_large``."""


class InternalError(ApiError):
    """500 ``internal``: something failed on the host, or the guest spoke garbage."""


class GuestError(ApiError):
    """502 ``guest_error``: the guest failed the task (I/O error, full or read-only disk)."""


class Unavailable(ApiError):
    """503 ``libvirt_unavailable``: libvirt or the guest agent cannot be reached."""


class ApiTimeout(ApiError, AirlockTimeout):
    """504 ``timeout``: a deadline of the daemon's passed (a boot, an exec's end)."""


#: The API's error codes (docs/openapi.yaml, ErrorDetail.code) and their classes.
CODES: dict[str, type[ApiError]] = {
    "invalid_request": InvalidRequest,
    "unauthorized": Unauthorized,
    "forbidden": Forbidden,
    "not_found": NotFound,
    "method_not_allowed": MethodNotAllowed,
    "conflict": Conflict,
    "sandbox_ended": SandboxEnded,
    "payload_too_large": PayloadTooLarge,
    "uri_too_long": UriTooLong,
    "unsupported_media_type": UnsupportedMediaType,
    "limit_exceeded": LimitExceeded,
    "headers_too_large": HeadersTooLarge,
    "internal": InternalError,
    "guest_error": GuestError,
    "libvirt_unavailable": Unavailable,
    "timeout": ApiTimeout,
}

# An answer without a (known) code still gets a class from its status.
_STATUSES: dict[int, type[ApiError]] = {
    400: InvalidRequest, 401: Unauthorized, 403: Forbidden, 404: NotFound,
    405: MethodNotAllowed, 409: Conflict, 410: SandboxEnded, 413: PayloadTooLarge,
    414: UriTooLong, 415: UnsupportedMediaType, 429: LimitExceeded, 431: HeadersTooLarge,
    500: InternalError, 502: GuestError, 503: Unavailable, 504: ApiTimeout,
}



def status_of(code: str | None) -> int:
    """The HTTP status the daemon gives an error code (for NDJSON error lines)."""
    for status, cls in _STATUSES.items():
        if CODES.get(code or "") is cls:
            return status
    return 500


# The daemon's messages that tell a missing route and a missing or ending sandbox apart
# (daemon/api/alk-api-route.c, daemon/core/alk-manager*.c).
_NO_ROUTE = "no such resource"
_NO_SANDBOX = re.compile(r"^no sandbox ")
_STOPPING = re.compile(r"^sandbox [0-9a-f]{12} is (stopping|destroyed|failed)$")


def error_for(status: int, code: str | None, message: str,
              sandbox_scoped: bool = False) -> ApiError:
    """The exception for an error answer.

    ``sandbox_scoped``: the request named a sandbox (``/v1/sandboxes/{id}/...``), so a
    404 "no sandbox" means that sandbox is gone."""
    cls = CODES.get(code or "") or _STATUSES.get(status)
    if cls is None:
        cls = InternalError if status >= 500 else ApiError
    if cls is NotFound and message == _NO_ROUTE:
        cls = EndpointNotAvailable
    elif cls is NotFound and sandbox_scoped and _NO_SANDBOX.match(message):
        cls = SandboxNotFound
    elif cls is Conflict and _STOPPING.match(message):
        cls = SandboxStopping
    return cls(status, code or "http_%d" % status, message)
