#!/usr/bin/python3
"""The io.net attestation agent's hash formulas (PROTOCOL.md sections 2-3).

Written from PROTOCOL.md and the agent's public source (main.py), in
plain Python, independently of the module's C code: the test double agent
and the vector generators use it as the reference the C code must match.

    body(obj)            what the agent sends: json.dumps(obj)
    response_hash(obj)   sha256 of json.dumps(obj, separators=(",", ":"))
    stream_hash(up)      the streaming response_hash over the UPSTREAM bytes
                         (vLLM's stream, before the agent inserts its
                         signature event)

The agent accumulates vLLM's raw SSE bytes, decodes them as UTF-8, splits
on "\\n" only (a "\\r" before "\\n" stays in the payload), and keeps
line[6:] of every line that starts with "data: " but not with
"data: [DONE]"; then it hashes {"chunks": [those payloads]} compactly.
A last line without "\\n" counts too, as str.split gives it.
"""

import hashlib
import json
import sys


def body(obj):
    """The response body as the agent sends it (default separators)."""
    return json.dumps(obj)


def compact(obj):
    return json.dumps(obj, separators=(",", ":"))


def response_hash(obj):
    """Hex sha256 of the compact serialization of obj."""
    return hashlib.sha256(compact(obj).encode()).hexdigest()


def _upstream_text(upstream):
    if isinstance(upstream, str):
        return upstream
    if isinstance(upstream, (bytes, bytearray)):
        return bytes(upstream).decode("utf-8")
    # a sequence of chunks as read from vLLM
    return b"".join(bytes(c) if not isinstance(c, str) else c.encode()
                    for c in upstream).decode("utf-8")


def stream_chunks(upstream):
    """The payloads the agent hashes, in order."""
    out = []
    for line in _upstream_text(upstream).split("\n"):
        if line.startswith("data: ") and not line.startswith("data: [DONE]"):
            out.append(line[6:])
    return out


def stream_hash(upstream):
    """Hex response_hash of a signed stream.

    upstream: bytes, str, or a list of bytes/str chunks (joined) holding
    vLLM's SSE stream as the agent received it.
    """
    return response_hash({"chunks": stream_chunks(upstream)})


def _main(argv):
    if len(argv) != 3 or argv[1] not in ("response", "stream"):
        sys.stderr.write("usage: iohash.py response|stream FILE\n")
        return 2
    with open(argv[2], "rb") as f:
        data = f.read()
    if argv[1] == "response":
        print(response_hash(json.loads(data)))
    else:
        print(stream_hash(data))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv))
