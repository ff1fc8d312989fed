#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Replays recorded Anthropic ``tool_use`` blocks against a fresh airlock sandbox.

An agent loop sends the model's ``tool_use`` blocks to a sandbox and the
``tool_result`` blocks back to the model. Here the blocks come from a recording
(recorded_tool_use.json beside this file), so no model is called: the loop prints the
``tool_result`` blocks it would send, as a JSON list.

airlockd has no ``/tools/anthropic`` endpoint yet (it arrives with the computer-use
issue, with a persistent shell per sandbox). Until then this example maps the two tools
itself onto the client's exec and files calls:

- ``bash`` ``{command}``: ``/bin/sh -c COMMAND`` in the sandbox, stdout and stderr
  returned with the exit status when it is not 0. Each command runs in a fresh shell
  (no cwd or variables carried over); ``{restart: true}`` is accepted and does nothing.
- ``str_replace_based_edit_tool``: ``view`` (a file with line numbers, optionally
  ``view_range``; a directory listed two levels deep), ``create``, ``str_replace``
  (refusing zero or several matches), ``insert`` (``insert_text`` or ``new_str`` after
  ``insert_line``), through ``sb.files.read``/``write``.

A tool that fails (bad input, a missing file, a timeout) gives ``is_error: true``; a
command that exits non-zero does not (its status is in the text).

    PYTHONPATH=clients/python python3 clients/python/examples/agent_loop.py [--socket PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import airlock  # noqa: E402

BASH_TIMEOUT_S = 120
OUTPUT_MAX = 64 * 1024  # what goes back to the model, per result


class ToolError(Exception):
    """The tool could not do what the block asked: an is_error result."""


def clip(text: str) -> str:
    if len(text) <= OUTPUT_MAX:
        return text
    return text[:OUTPUT_MAX] + "\n[output clipped at %d characters]" % OUTPUT_MAX


def bash(sb: airlock.Sandbox, args: dict[str, Any]) -> str:
    if args.get("restart"):
        return "tool has been restarted."
    command = args.get("command")
    if not isinstance(command, str) or not command:
        raise ToolError("bash: 'command' must be a non-empty string")
    r = sb.exec(["/bin/sh", "-c", command], timeout_s=BASH_TIMEOUT_S)
    if r.timed_out:
        raise ToolError("bash: the command timed out after %d s" % BASH_TIMEOUT_S)
    text = r.stdout_text + r.stderr_text
    if r.exit_code != 0:
        text += "\n[exit status %s]" % (r.exit_code if r.exit_code is not None
                                        else "signal %s" % r.signal)
    return text


def _read_text(sb: airlock.Sandbox, path: str) -> str:
    try:
        return sb.files.read(path).decode("utf-8")
    except airlock.NotFound:
        raise ToolError("the path %s does not exist" % path) from None
    except UnicodeDecodeError:
        raise ToolError("%s is not a UTF-8 text file" % path) from None


def _numbered(text: str, first: int) -> str:
    return "".join("%6d\t%s\n" % (first + i, line) for i, line in
                   enumerate(text.split("\n")))


def view(sb: airlock.Sandbox, path: str, view_range: Any) -> str:
    kind = sb.exec(["/bin/sh", "-c", 'if [ -d "$1" ]; then echo dir; elif [ -e "$1" ]; '
                    'then echo file; fi', "sh", path])
    if kind.stdout == b"dir\n":
        listing = sb.exec(["find", path, "-maxdepth", "2", "-not", "-name", ".*"])
        return ("Here are the files and directories up to 2 levels deep in %s:\n%s"
                % (path, listing.stdout_text))
    if kind.stdout != b"file\n":
        raise ToolError("the path %s does not exist" % path)
    lines = _read_text(sb, path).removesuffix("\n").split("\n")
    first, last = 1, len(lines)
    if view_range is not None:
        if (not isinstance(view_range, list) or len(view_range) != 2
                or not all(isinstance(n, int) for n in view_range)):
            raise ToolError("view_range must be [start, end]")
        first, last = view_range[0], (len(lines) if view_range[1] == -1 else view_range[1])
        if not 1 <= first <= last <= len(lines):
            raise ToolError("view_range %s is outside the file's %d lines"
                            % (view_range, len(lines)))
    return _numbered("\n".join(lines[first - 1:last]), first)


def str_replace(sb: airlock.Sandbox, path: str, old: Any, new: Any) -> str:
    if not isinstance(old, str) or not old:
        raise ToolError("str_replace: 'old_str' must be a non-empty string")
    new = new if isinstance(new, str) else ""
    text = _read_text(sb, path)
    count = text.count(old)
    if count == 0:
        raise ToolError("No replacement was performed, old_str did not appear verbatim "
                        "in %s." % path)
    if count > 1:
        lines = [str(i + 1) for i, line in enumerate(text.split("\n")) if old in line]
        raise ToolError("No replacement was performed. Multiple occurrences of old_str "
                        "in lines %s. Please ensure it is unique." % ", ".join(lines))
    sb.files.write(path, text.replace(old, new), mode=sb.files.mode(path))
    return "The file %s has been edited." % path


def insert(sb: airlock.Sandbox, path: str, after: Any, new: Any) -> str:
    if not isinstance(after, int) or not isinstance(new, str):
        raise ToolError("insert: needs 'insert_line' (int) and 'insert_text' (string)")
    lines = _read_text(sb, path).split("\n")
    if not 0 <= after <= len(lines):
        raise ToolError("insert_line %d is outside the file's %d lines" % (after, len(lines)))
    lines[after:after] = new.removesuffix("\n").split("\n")
    sb.files.write(path, "\n".join(lines), mode=sb.files.mode(path))
    return "The file %s has been edited." % path


def editor(sb: airlock.Sandbox, args: dict[str, Any]) -> str:
    command, path = args.get("command"), args.get("path")
    if not isinstance(path, str) or not path.startswith("/"):
        raise ToolError("'path' must be an absolute path")
    if command == "view":
        return view(sb, path, args.get("view_range"))
    if command == "create":
        if not isinstance(args.get("file_text"), str):
            raise ToolError("create: 'file_text' must be a string")
        sb.files.write(path, args["file_text"])
        return "File created successfully at: %s" % path
    if command == "str_replace":
        return str_replace(sb, path, args.get("old_str"), args.get("new_str"))
    if command == "insert":
        return insert(sb, path, args.get("insert_line"),
                      args.get("insert_text", args.get("new_str")))
    raise ToolError("unknown command %r (view, create, str_replace, insert)" % (command,))


TOOLS = {"bash": bash, "str_replace_based_edit_tool": editor}


def run_block(sb: airlock.Sandbox, block: dict[str, Any]) -> dict[str, Any]:
    """One tool_use block in, its tool_result block out."""
    result = {"type": "tool_result", "tool_use_id": block.get("id"), "is_error": False}
    tool = TOOLS.get(block.get("name"))
    try:
        if tool is None:
            raise ToolError("unknown tool %r" % (block.get("name"),))
        if not isinstance(block.get("input"), dict):
            raise ToolError("the tool's input is not an object")
        result["content"] = clip(tool(sb, block["input"]))
    except (ToolError, ValueError) as e:
        result.update(content=str(e), is_error=True)
    except airlock.SandboxGone:
        raise  # nothing more can run: end the loop
    except airlock.ApiError as e:  # the daemon refused: tell the model, go on
        result.update(content="%s: %s" % (e.code, e.message), is_error=True)
    return result


def tool_uses(recording: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for turn in recording["turns"] if turn.get("role") == "assistant"
            for c in turn.get("content", []) if c.get("type") == "tool_use"]


def main() -> int:
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("recording", nargs="?", default=os.path.join(here,
                                                                 "recorded_tool_use.json"))
    ap.add_argument("--socket", help="the daemon's socket (AIRLOCK_SOCKET)")
    ap.add_argument("--url", help="the daemon's TCP URL (AIRLOCK_URL)")
    ap.add_argument("--token", help="bearer token for --url (AIRLOCK_TOKEN)")
    ap.add_argument("--image", help="the guest image (default: the daemon's)")
    args = ap.parse_args()

    with open(args.recording) as f:
        blocks = tool_uses(json.load(f))
    client = airlock.Airlock(socket=args.socket, url=args.url, token=args.token)
    results = []
    with client.sandbox(image=args.image, ttl_s=900, labels={"example": "agent_loop"}) as sb:
        for block in blocks:
            results.append(run_block(sb, block))
    json.dump(results, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
