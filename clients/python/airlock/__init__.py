# SPDX-License-Identifier: LGPL-2.1-or-later
"""Python client for airlockd: disposable QEMU sandboxes over its REST API.

Standard library only (http.client over the daemon's unix socket, or TCP with a bearer
token)::

    import airlock

    client = airlock.Airlock()          # AIRLOCK_SOCKET / AIRLOCK_URL / AIRLOCK_TOKEN
    with client.sandbox(image="minimal", ttl_s=600) as sb:
        r = sb.exec(["/bin/sh", "-c", "echo hello; uname -r"])
        print(r.exit_code, r.stdout_text)
        sb.files.write("/tmp/note.txt", "hi\\n")
        print(sb.files.read("/tmp/note.txt"))
    # destroyed here, also when the block raised

See docs/clients/python.md.
"""

from .client import (Airlock, ExecResult, ExecStream, Files, FileWritten, OutputChunk,
                     Sandbox, Screenshot)
from .errors import (AirlockError, AirlockTimeout, ApiError, ApiTimeout, ClientTimeout,
                     ConfigError, Conflict, ConnectionFailed, EndpointNotAvailable, Forbidden,
                     GuestError, HeadersTooLarge, InternalError, InvalidRequest, LimitExceeded,
                     MethodNotAllowed, NotFound, PayloadTooLarge, ProtocolError,
                     ResponseTooLarge, SandboxEnded, SandboxGone, SandboxNotFound,
                     SandboxStopping, Unauthorized, Unavailable, UnsupportedMediaType,
                     UriTooLong)

__version__ = "0.1.0"

__all__ = [
    "Airlock", "Sandbox", "Files", "ExecResult", "ExecStream", "OutputChunk", "FileWritten",
    "Screenshot",
    "AirlockError", "AirlockTimeout", "ApiError", "ApiTimeout", "ClientTimeout", "ConfigError",
    "Conflict", "ConnectionFailed", "EndpointNotAvailable", "Forbidden", "GuestError",
    "HeadersTooLarge", "InternalError", "InvalidRequest", "LimitExceeded", "MethodNotAllowed",
    "NotFound", "PayloadTooLarge", "ProtocolError", "ResponseTooLarge", "SandboxEnded",
    "SandboxGone", "SandboxNotFound", "SandboxStopping", "Unauthorized", "Unavailable",
    "UnsupportedMediaType", "UriTooLong",
]
