#!/usr/bin/python3
"""Vectors for attest_jsonhash: bodies as the agent sends them.

Writes OUT/jsonhash.txt, one vector a line:

    <hex of the body bytes> TAB <hex sha256 of the compact serialization>

Every body is json.dumps(obj) with Python's defaults and every expected
hash is sha256(json.dumps(obj, separators=(",", ":"))) through
t/upstream/iohash.py, so the C code is checked against Python itself.
The objects are random (fixed seed) and stress what the compaction must
get right: ", " and ": " inside strings and keys, escaped quotes and
backslashes, control characters, non-ASCII and astral characters, every
float shape json.dumps prints, nesting and empty containers.
"""

import os
import random
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "t", "upstream"))
import iohash  # noqa: E402

PIECES = [
    "a", "b", "hello", "x y", " ", "  ", ", ", ": ", ",", ":", ", : ,",
    '"', '\\', '\\"', '"\\', '\\\\', '", "', '": "', "{", "}", "[", "]",
    "\n", "\r\n", "\t", "\b", "\f", "\x00", "\x01", "\x1f", "\x7f", "\x80",
    "/", "\\u0041", "true", "null", "1e+16",
    "\u00e9", "\u00fc\u00df", "\u4e2d\u6587", "\u0420\u0443\u0441",
    "\u2028", "\u2029", "\ufeff", "\uffff",
    "\U0001f600", "\U0001f44d\U0001f3fd", "\U0001f1e9\U0001f1ea",
    "\U0010ffff", "\ud800", "\udfff",
]

FLOATS = [
    0.0, -0.0, 0.1, -0.1, 0.5, 1.0, -1.0, 1.5, 2.5, 100.0, 1e-05, 1e-4,
    0.0001, 0.00012345, 1e-07, -2.5e-07, 1e16, 1e+16, 1.0e15,
    9999999999999998.0, 1e22, 1e100, -1e300, 1.7976931348623157e308,
    5e-324, 2.2250738585072014e-308, 123456789.123, 3.141592653589793, 0.30000000000000004, 1 / 3.0,
    float("inf"), float("-inf"), float("nan"),
]


def rstring(rng):
    n = rng.randrange(0, 6)
    return "".join(rng.choice(PIECES) for _ in range(n))


def rfloat(rng):
    k = rng.randrange(5)
    if k == 0:
        return rng.choice(FLOATS)
    if k == 1:
        return rng.uniform(-1e6, 1e6)
    if k == 2:
        return rng.random() * 10 ** rng.randrange(-320, 308)
    if k == 3:
        return -rng.random() * 10 ** rng.randrange(-10, 25)
    return float(rng.randrange(-10 ** 6, 10 ** 6))


def rint(rng):
    k = rng.randrange(4)
    if k == 0:
        return rng.randrange(-10, 10)
    if k == 1:
        return rng.randrange(-2 ** 31, 2 ** 31)
    if k == 2:
        return rng.randrange(-2 ** 64, 2 ** 64)
    return rng.randrange(-10 ** 40, 10 ** 40)


def rvalue(rng, depth):
    k = rng.randrange(10 if depth < 4 else 7)
    if k in (0, 1):
        return rstring(rng)
    if k == 2:
        return rint(rng)
    if k == 3:
        return rfloat(rng)
    if k == 4:
        return rng.choice([True, False])
    if k == 5:
        return None
    if k == 6:
        return rng.choice([[], {}, "", 0])
    if k == 7:
        return [rvalue(rng, depth + 1) for _ in range(rng.randrange(0, 6))]
    obj = {}
    for _ in range(rng.randrange(0, 6)):
        obj[rstring(rng)] = rvalue(rng, depth + 1)
    return obj


def completion(rng):
    """A vLLM chat.completion shaped object."""
    content = rstring(rng) + " " + rstring(rng)
    return {
        "id": "chatcmpl-%032x" % rng.getrandbits(128),
        "object": "chat.completion",
        "created": rng.randrange(1700000000, 1800000000),
        "model": "meta-llama/Llama-3.3-70B-Instruct",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "reasoning_content": None,
                        "content": content, "tool_calls": []},
            "logprobs": None,
            "finish_reason": rng.choice(["stop", "length"]),
            "stop_reason": None,
        }],
        "usage": {"prompt_tokens": rng.randrange(1, 5000),
                  "total_tokens": rng.randrange(1, 9000),
                  "completion_tokens": rng.randrange(1, 4000),
                  "prompt_tokens_details": None},
        "prompt_logprobs": None,
        "kv_transfer_params": None,
    }


def fixed():
    return [
        {}, [], "", 0, -0.0, 1e-05, 1e+16, None, True, False,
        "plain", ", ", ": ", '"', "\\", '\\", "x": "',
        {"a": 1}, {"a": [1, 2, {"b": None}], "c": {"d": ""}},
        {", ": ": ", ": ": ", "}, {'k"': 'v\\'}, {"\\": ["\\", '"']},
        [[], {}, [[]], {"": {}}], [1, -1, 0.1, -0.0, 1e-05, 1e+16],
        {"\u00e9t\u00e9": "\U0001f600", "\u4e2d": ["\u0420"]},
        {"ctl": "".join(chr(i) for i in range(0, 0x20)) + "\x7f"},
        {"big": 2 ** 200, "neg": -(2 ** 200)},
        ["a, b", "c: d", "e , f", "g :h"],
    ]


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "build/vectors"
    os.makedirs(out, exist_ok=True)
    rng = random.Random(20240611)

    objs = fixed()
    objs += [completion(rng) for _ in range(40)]
    objs += [rvalue(rng, 0) for _ in range(240)]
    objs += [{"k%d" % i: rvalue(rng, 2) for i in range(20)} for _ in range(20)]
    # one big body: many feed calls
    objs.append([completion(rng) for _ in range(200)])

    lines = []
    for obj in objs:
        body = iohash.body(obj).encode("ascii")
        lines.append("%s\t%s\n" % (body.hex(), iohash.response_hash(obj)))

    with open(os.path.join(out, "jsonhash.txt"), "w") as f:
        f.writelines(lines)


if __name__ == "__main__":
    main()
