#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Replays recorded Anthropic ``tool_use`` blocks against a fresh airlock sandbox.

An agent loop sends the model's ``tool_use`` blocks to a sandbox and the
``tool_result`` blocks back to the model. Here the blocks come from a recording
(recorded_tool_use.json beside this file, or a file of yours), so no model is called:
each assistant turn's blocks go, as the model sent them, to the daemon's
``POST /v1/sandboxes/{id}/tools/anthropic`` (``sb.tools_anthropic``), and the
``tool_result`` blocks that would go back to the model are printed as one JSON list.

The daemon runs the tools: ``bash`` in a persistent shell (the recording's ``cd`` and
variables carry over), the text editor (``str_replace_based_edit_tool``, or
``str_replace_editor`` with ``undo_edit``), and ``computer`` when the sandbox has a
display (``--display 1024x768``; without one the recording's computer blocks are left
out, and said so on stderr). A tool that cannot do what a block asks answers with
``is_error: true``; the loop goes on, as a model would be told and try again.

    PYTHONPATH=clients/python python3 clients/python/examples/replay_anthropic.py \\
        [RECORDING] [--socket PATH | --url URL --token T] [--display WxH] [--full]

Images in the results are shown as their size unless ``--full``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import airlock  # noqa: E402


def turns_of(recording: dict[str, Any]) -> list[list[dict[str, Any]]]:
    """The tool_use blocks of each assistant turn, in order."""
    out = []
    for turn in recording.get("turns", []):
        if turn.get("role") != "assistant":
            continue
        blocks = [c for c in turn.get("content", []) if c.get("type") == "tool_use"]
        if blocks:
            out.append(blocks)
    return out


def shorten(result: dict[str, Any]) -> dict[str, Any]:
    """The result with each image's base64 data replaced by its size."""
    content = []
    for c in result.get("content", []):
        if c.get("type") == "image":
            data = c.get("source", {}).get("data", "")
            c = dict(c, source=dict(c["source"], data="<%d base64 characters>" % len(data)))
        content.append(c)
    return dict(result, content=content)


def main() -> int:
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("recording", nargs="?",
                    default=os.path.join(here, "recorded_tool_use.json"))
    ap.add_argument("--socket", help="the daemon's socket (AIRLOCK_SOCKET)")
    ap.add_argument("--url", help="the daemon's TCP URL (AIRLOCK_URL)")
    ap.add_argument("--token", help="bearer token for --url (AIRLOCK_TOKEN)")
    ap.add_argument("--image", help="the guest image (default: the daemon's)")
    ap.add_argument("--display", metavar="WxH", help="a display, for the computer blocks")
    ap.add_argument("--full", action="store_true", help="print images' data in full")
    args = ap.parse_args()

    with open(args.recording) as f:
        turns = turns_of(json.load(f))
    display = None
    if args.display:
        w, _, h = args.display.partition("x")
        display = (int(w), int(h))
    client = airlock.Airlock(socket=args.socket, url=args.url, token=args.token)
    results: list[dict[str, Any]] = []
    with client.sandbox(image=args.image, display=display, ttl_s=900,
                        labels={"example": "replay_anthropic"}) as sb:
        names = {d["name"] for d in sb.anthropic_tool_definitions()}
        for blocks in turns:
            left_out = [b for b in blocks if b.get("name") not in names]
            for b in left_out:
                print("left out %s (%s): this sandbox has no such tool (a display?)"
                      % (b.get("id"), b.get("name")), file=sys.stderr)
            blocks = [b for b in blocks if b.get("name") in names]
            if blocks:
                results.extend(sb.tools_anthropic(blocks))
    json.dump(results if args.full else [shorten(r) for r in results], sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
