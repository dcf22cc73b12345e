#!/usr/bin/python3
"""Vectors for attest_reqhash: request bodies with the agent's request hash.

Writes OUT/reqhash.txt, one vector a line:

    <hex of the body> TAB ok:<hex sha256> TAB <hex of the canonical text>
    <hex of the body> TAB refuse:<code> TAB -

(the canonical text is "-" above 64 KiB), and OUT/reqhash_floats.txt:

    <hex of the 8 bytes of a double, big-endian> TAB <repr, as json.dumps>

The bodies are written here byte by byte, with their own choice of
escapes, number spellings and whitespace, and the expected value comes
from t/upstream/reqhash.py, which reads them with Python's json.loads and
serializes with json.dumps, so the C code is checked against Python.  The
generator covers shuffled field order and every declared field, ints for
floats, floats across the whole range (subnormals, exponent boundaries,
17-digit values, overflow), huge ints, unicode (BMP, astral, escaped and
raw, lone surrogates), control characters, nested objects and arrays with
nulls, duplicate keys, extra fields, a 1 MB prompt, and bodies the agent
(or the canonicalizer) refuses.
"""

import hashlib
import json
import math
import os
import random
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "t", "upstream"))
import reqhash  # noqa: E402

RANDOM_BODIES = 13000
# REQHASH_SEED=N draws another set (make vectors keeps the default)
SEED = int(os.environ.get("REQHASH_SEED", "20261203"))
rng = random.Random(SEED)


# ---- JSON writing, token by token --------------------------------------

def ws():
    k = rng.randrange(10)
    if k < 6:
        return b""
    return bytes(rng.choice(b" \t\n\r") for _ in range(rng.randrange(1, 4)))


class Raw:
    """a literal token, written as is"""

    def __init__(self, text):
        self.text = text.encode("ascii") if isinstance(text, str) else text


class Str:
    """a string: a list of code points (lone surrogates allowed)"""

    def __init__(self, s):
        self.s = s


class Obj:
    def __init__(self, items):
        self.items = items          # [(key str, value)], duplicates kept


class Arr:
    def __init__(self, items):
        self.items = items


def esc_unit(u):
    h = "\\u%04x" % u if rng.randrange(2) else "\\u%04X" % u
    return h.encode("ascii")


SHORT = {'"': b'\\"', "\\": b"\\\\", "\n": b"\\n", "\r": b"\\r",
         "\t": b"\\t", "\b": b"\\b", "\f": b"\\f", "/": b"\\/"}


def write_str(s):
    out = [b'"']
    for ch in s:
        c = ord(ch)
        mode = rng.randrange(8)
        if ch in SHORT and (ch in '"\\' or c < 0x20 or mode < 3):
            if mode == 0 and ch != "/":
                out.append(esc_unit(c))
            else:
                out.append(SHORT[ch])
        elif c < 0x20:
            out.append(esc_unit(c))
        elif mode == 0 or (0xd800 <= c <= 0xdfff and mode < 4):
            if c >= 0x10000:
                c -= 0x10000
                out.append(esc_unit(0xd800 + (c >> 10)))
                out.append(esc_unit(0xdc00 + (c & 0x3ff)))
            else:
                out.append(esc_unit(c))
        else:
            # raw UTF-8; a lone surrogate as its 3 bytes (json.loads
            # decodes with surrogatepass)
            out.append(ch.encode("utf-8", "surrogatepass"))
    out.append(b'"')
    return b"".join(out)


def write(v):
    if isinstance(v, Raw):
        return v.text
    if isinstance(v, Str):
        return write_str(v.s)
    if isinstance(v, Arr):
        if not v.items:
            return b"[" + ws() + b"]"
        return (b"[" + ws() + (b"," + ws()).join(write(x) + ws()
                                                 for x in v.items) + b"]")
    if isinstance(v, Obj):
        if not v.items:
            return b"{" + ws() + b"}"
        parts = [write_str(k) + ws() + b":" + ws() + write(x) + ws()
                 for k, x in v.items]
        return b"{" + ws() + (b"," + ws()).join(parts) + b"}"
    raise TypeError(v)


# ---- values ------------------------------------------------------------

PIECES = [
    "a", "hello", "x y", " ", ", ", ": ", ",", ":", '"', "\\", "/", "</",
    "{", "}", "[", "]", "null", "true", "1e5", "\u00e9", "\u00fc\u00df",
    "\u65e5\u672c", "\u0420\u0443\u0441", "\u2028", "\u2029", "\ufeff",
    "\uffff", "\ufffd", "\u0080", "\u07ff", "\u0800", "\x7f",
    "\U0001f44b", "\U0001f600", "\U00010000", "\U0010ffff",
    "\ud800", "\udbff", "\udc00", "\udfff", "\ud83d", "\ude00",
    "\x00", "\x01", "\x08", "\x09", "\x0a", "\x0c", "\x0d", "\x1f",
    "stop", "model", "stream", "\\u0041",
]


def rstring(maxn=6):
    return "".join(rng.choice(PIECES) for _ in range(rng.randrange(maxn)))


def rdouble():
    """a double from anywhere in the range"""
    k = rng.randrange(12)
    if k == 0:
        # any bit pattern that is finite
        while True:
            x = struct.unpack(">d", rng.getrandbits(64).to_bytes(8, "big"))[0]
            if math.isfinite(x):
                return x
    if k == 1:
        # subnormal
        x = struct.unpack(">d", rng.getrandbits(52).to_bytes(8, "big"))[0]
        return -x if rng.randrange(2) else x
    if k == 2:
        # powers of two and their neighbours (lopsided rounding intervals)
        x = math.ldexp(1.0, rng.randrange(-1074, 1024))
        return rng.choice([x, math.nextafter(x, 0),
                           math.nextafter(x, math.inf)])
    if k == 3:
        # around repr's format boundaries 1e-4 and 1e16
        b = rng.choice([1e-4, 1e-5, 1e16, 1e15, 1e17, 1e22, 1e23, 0.1])
        x = b
        for _ in range(rng.randrange(4)):
            x = math.nextafter(x, rng.choice([0, math.inf]))
        return x
    if k == 4:
        return rng.choice([0.0, -0.0, 0.1, 0.2, 0.30000000000000004, 1 / 3,
                           2 / 3, 123456789.125, 5e-324,
                           2.2250738585072014e-308, 2.225073858507201e-308, 1.7976931348623157e308,
                           9007199254740993.0, 9007199254740992.0,
                           9999999999999998.0, 4.35, 0.1 + 0.7, 1e21, 1e-7])
    if k == 5:
        return rng.uniform(-2, 2)
    if k == 6:
        return rng.random() * 10.0 ** rng.randrange(-330, 309)
    if k == 7:
        return float(rng.randrange(-10 ** 6, 10 ** 6))
    if k == 8:
        return round(rng.uniform(0, 2), rng.randrange(1, 4))
    return rng.random() * 10.0 ** rng.randrange(-20, 25)


def float_literal(x):
    """a JSON spelling of a double (not NaN, not infinite)"""
    k = rng.randrange(9)
    if k < 3:
        s = repr(x)
    elif k == 3:
        s = "%.17g" % x
    elif k == 4:
        s = "%.*e" % (rng.randrange(0, 20), x)
    elif k == 5:
        s = "%.*E" % (rng.randrange(0, 20), x)
    elif k == 6 and abs(x) < 1e20:
        s = "%.*f" % (rng.randrange(1, 25), x)
    elif k == 7:
        # more digits than a double holds
        s = "%.*e" % (rng.randrange(17, 40), x)
    else:
        s = repr(x)
    if "inf" in s or "nan" in s:
        s = "1e400"
    if "." not in s and "e" not in s and "E" not in s:
        s += rng.choice([".0", "e0", "E+0", ".000"])
    return s


SPECIAL_FLOATS = ["1e400", "-1e400", "1E2", "1e-400", "-1e-400", "-0.0",
                  "0.0", "-0e0", "1.0", "0.5e1", "2.4703282292062328e-324",
                  "2.4703282292062327e-324", "1.7976931348623158e308",
                  "1.7976931348623159e308", "1" + "0" * 400 + ".5",
                  "0." + "0" * 330 + "1", "9" * 30 + ".9", "1e16", "1e-5",
                  "1e-4", "0.0001", "0.00001", "1e15", "123456789.125",
                  "100000000000000000000000.0", "5e-324", "1.5e16",
                  "NaN", "Infinity", "-Infinity"]


def rint_literal():
    k = rng.randrange(10)
    if k < 3:
        return str(rng.randrange(-10, 100))
    if k == 3:
        return "-0"
    if k == 4:
        return str(rng.choice([2 ** 63 + 5, 2 ** 63 - 1, -2 ** 63, 2 ** 64,
                               2 ** 53 + 1, -(2 ** 63) - 1, 10 ** 18]))
    if k == 5:
        return str(rng.randrange(-10 ** 40, 10 ** 40))
    if k == 6:
        n = rng.randrange(100, 4301)
        return rng.choice(["", "-"]) + "9" * n
    if k == 7:
        return str(rng.randrange(0, 2 ** 31))
    return str(rng.randrange(-2 ** 64, 2 ** 64))


def rnumber():
    k = rng.randrange(6)
    if k == 0:
        return Raw(rng.choice(SPECIAL_FLOATS))
    if k < 3:
        return Raw(rint_literal())
    return Raw(float_literal(rdouble()))


def rvalue(depth):
    k = rng.randrange(11 if depth < 5 else 7)
    if k in (0, 1):
        return Str(rstring())
    if k == 2:
        return rnumber()
    if k == 3:
        return Raw(rng.choice(["true", "false"]))
    if k == 4:
        return Raw("null")
    if k == 5:
        return rng.choice([Arr([]), Obj([]), Str(""), Raw("0")])
    if k == 6:
        return Raw(float_literal(rdouble()))
    if k in (7, 8):
        return Arr([rvalue(depth + 1) for _ in range(rng.randrange(6))])
    return robj(depth + 1)


def robj(depth, n=None):
    items = []
    for _ in range(rng.randrange(6) if n is None else n):
        if items and rng.randrange(6) == 0:
            # a duplicate key: json.loads keeps the last value at the
            # first position
            key = rng.choice(items)[0]
        else:
            key = rng.choice(["role", "content", "name", "type", "x", "",
                              "a\u00e9", "\U0001f44b", "\ud800"]
                             + [rstring(3)])
        items.append((key, rvalue(depth)))
    return Obj(items)


def message():
    items = [("role", Str(rng.choice(["user", "system", "assistant",
                                      "tool"]))),
             ("content", Str(rstring(12)))]
    if rng.randrange(3) == 0:
        items.append(("name", Raw("null")))
    if rng.randrange(4) == 0:
        items.append(("tool_calls", Arr([robj(3) for _ in
                                         range(rng.randrange(3))])))
    if rng.randrange(5) == 0:
        items.append(rng.choice(items))
    rng.shuffle(items)
    return Obj(items)


# per declared field: values pydantic takes (coerced or not), values it
# refuses, rarely
def field_value(name):
    bad = rng.randrange(60) == 0
    if rng.randrange(12) == 0:
        return Raw("null")
    if name == "messages":
        if bad:
            return rng.choice([Obj([]), Str("hi"), Raw("1"), Raw("true")])
        return Arr([message() for _ in range(rng.randrange(4))])
    if name == "model":
        if bad:
            return rng.choice([Raw("5"), Raw("true"), Arr([]), Raw("1.5")])
        return Str(rng.choice(["meta-llama/Llama-3.3-70B-Instruct", "m",
                               "deepseek-ai/DeepSeek-R1", rstring(4)]))
    if name in ("temperature", "top_p", "frequency_penalty",
                "presence_penalty"):
        if bad:
            return rng.choice([Str("hot"), Arr([]), Obj([]), Str(" 0.5"),
                               Str("1_0"), Str("0x10"), Str("\u0661"),
                               Raw("1" + "0" * 309)])
        k = rng.randrange(10)
        if k < 4:
            return Raw(float_literal(rdouble()))
        if k < 6:
            return Raw(rint_literal()) if rng.randrange(3) else \
                Raw(str(rng.randrange(0, 3)))
        if k == 6:
            return Raw(rng.choice(["true", "false"]))
        if k == 7:
            return Str(rng.choice(["0.5", "1", "-0", "1e5", "1E-7", ".5",
                                   "5.", "+2.5", "inf", "-Infinity", "NaN",
                                   "1e400", repr(rdouble())]))
        return Raw(rng.choice(SPECIAL_FLOATS))
    if name in ("max_tokens", "n"):
        if bad:
            return rng.choice([Raw("20.5"), Raw("1e19"), Raw("NaN"),
                               Raw("Infinity"), Str("twenty"), Str("20.0"),
                               Str(" 20"), Str("1" * 19), Arr([]),
                               Raw("-9.223372036854775808e18")])
        k = rng.randrange(8)
        if k < 3:
            return Raw(str(rng.randrange(1, 5000)))
        if k == 3:
            return Raw(rint_literal())
        if k == 4:
            return Raw(rng.choice(["20.0", "1e2", "1E18", "-0.0", "2.5e1",
                                   "9.2233720368547748e18", "0.0"]))
        if k == 5:
            return Raw(rng.choice(["true", "false"]))
        return Str(rng.choice(["20", "+7", "-0", "007",
                               str(rng.randrange(-10 ** 18 + 1, 10 ** 18))]))
    if name in ("stream", "logprobs"):
        if bad:
            return rng.choice([Raw("2"), Raw("1.5"), Str("maybe"),
                               Str(" true"), Arr([]), Raw("NaN"),
                               Raw("10000000000000000000")])
        k = rng.randrange(6)
        if k < 3:
            return Raw(rng.choice(["true", "false"]))
        if k == 3:
            return Raw(rng.choice(["0", "1", "0.0", "1.0", "-0", "-0.0",
                                   "1e0"]))
        return Str(rng.choice(["true", "FALSE", "yes", "No", "on", "OFF",
                               "t", "F", "y", "n", "1", "0", "True"]))
    if name == "stop":
        return rng.choice([Str("\n"), Arr([Str("###"), Raw("null")]),
                           rvalue(2)])
    raise KeyError(name)


EXTRA_KEYS = ["seed", "user", "tools", "tool_choice", "response_format",
              "logit_bias", "top_k", "stream_options", "x-\u00e9",
              "\U0001f600", "\ud800", "", "ext\\ra", "null"]


def random_body():
    items = []
    for name, _ in reqhash.DECLARED:
        if rng.randrange(3):
            items.append((name, field_value(name)))
    for _ in range(rng.randrange(4)):
        key = rng.choice(EXTRA_KEYS + [rstring(3)])
        while (any(0xd800 <= ord(c) <= 0xdfff for c in key)
               and rng.randrange(12)):
            # pydantic refuses such a name: now and then only
            key = rng.choice(EXTRA_KEYS + [rstring(3)])
        if key == "response_format":
            items.append((key, Obj([("type", Str("json_schema")),
                                    ("schema", robj(2, 3)),
                                    ("enum", Arr([Raw("null"), Str("a")]))])))
        else:
            items.append((key, rvalue(1)))
    for _ in range(rng.randrange(3) if rng.randrange(4) == 0 else 0):
        # duplicate a top-level key, declared or not
        if items:
            name = rng.choice(items)[0]
            value = (field_value(name) if name in dict(reqhash.DECLARED)
                     else rvalue(1))
            items.append((name, value))
    rng.shuffle(items)
    body = ws() + write(Obj(items)) + ws()
    if rng.randrange(200) == 0:
        body = b"\xef\xbb\xbf" + body
    return body


def nest(n, inner=b"1"):
    """n containers nested: the top object and n-1 arrays/objects"""
    b = inner
    for i in range(n - 1):
        b = b"[" + b + b"]" if i % 2 else b'{"k":' + b + b"}"
    return b'{"x":' + b + b"}" if n > 1 else b"{}"


def special_bodies():
    big = "x" * (1 << 20)
    yield ('{"model":"m","messages":[{"role":"user","content":"%s"}]}'
           % big).encode()
    yield ('{"messages":[{"role":"user","content":"\\u00e9%s\\ud83d\\udc4b'
           '\u65e5"}],"stream":true,"temperature":0.7}' % big).encode()
    fixed = [
        b'{}', b' {} ', b'{"stream":null}', b'{"stream":false}',
        b'{"model":"a","model":null}', b'{"a":1,"b":2,"a":3}',
        b'{"x":null,"y":[null],"z":{"a":null}}',
        b'{"messages":[{"role":"user","content":"hi","name":null}]}',
        b'{"temperature":1,"top_p":-0,"presence_penalty":1E2}',
        b'{"max_tokens":20.0,"n":2.0}', b'{"max_tokens":20.5}',
        b'{"extra":1.0,"e2":1E2,"e3":1e400,"e4":-0.0,"e5":-0}',
        b'{"big":9223372036854775813,"neg":-9223372036854775813}',
        b'{"f":[1e-05,1e-4,1.5e16,1e22,0.30000000000000004,123456789.125]}',
        b'{"s":"\\"\\\\\\/\\b\\f\\n\\r\\t\\u0001\\u001f\\u007f\x7f/"}',
        b'{"s":"\\ud83d\\udc4b\\ud800\\udc00\\udbff\\ud800x\\udc00"}',
        b'{"s":"\xed\xa0\x80\xed\xb0\x80\xf0\x9f\x91\x8b"}',
        b'{"\\u0073tream":true,"stream":"no"}',
        b'{"k":{"a":1,"b":{"c":1,"c":2},"a":[3,{"d":1,"d":null}]}}',
        b'\xef\xbb\xbf{"model":"bom"}',
        b'{"v":NaN,"w":Infinity,"x":-Infinity}',
        # refused: syntax
        b'', b' ', b'{', b'{"a":1,}', b'{"a":01}', b'{"a":1.}',
        b'{"a":.5}', b'{"a":+1}', b'{"a":nan}', b'{"a":-NaN}',
        b'{"a":"\x01"}', b'{"a":"\\x"}', b'{"a":"\\u12"}', b"{'a':1}",
        b'{"a":1}x', b'{"a":1}{}', b'{"a" 1}', b'{a:1}', b'{"a":tru}',
        b'{"a":[1,]}', b'{"a":1e}', b'{"a":-}', b'{"a":"x}',
        b'\xef\xbb\xbf\xef\xbb\xbf{}', b'{"a":1}\x0b', b'\x0c{}',
        # refused: encodings
        '{"a":1}'.encode("utf-16-le"), '{"a":1}'.encode("utf-16"),
        '{"a":1}'.encode("utf-32"), '{"a":1}'.encode("utf-16-be"),
        b'{"a":"\xff"}', b'{"a":"\xc0\x80"}', b'{"a":"\xe0\x80\x80"}',
        b'{"a":"\xf4\x90\x80\x80"}', b'{"a":"\xe2\x82"}',
        b'{"a":1}\x80',
        # refused: not an object
        b'[]', b'[{"a":1}]', b'"x"', b'5', b'null', b'true',
        # integers at Python's digit cap
        b'{"n":' + b"7" * 4300 + b'}', b'{"n":-' + b"7" * 4300 + b'}',
        b'{"n":' + b"7" * 4301 + b'}', b'{"x":[' + b"1" * 4301 + b']}',
        b'{"t":' + b"7" * 4300 + b'.5}',
        # refused fields
        b'{"messages":{}}', b'{"model":5}', b'{"temperature":"hot"}',
        b'{"temperature":[]}', b'{"max_tokens":1e19}', b'{"stream":2}',
        b'{"stream":" true"}', b'{"n":"20.0"}', b'{"n":" 20"}',
        b'{"temperature":"1_0"}', b'{"top_p":"\\u0031"}',
        b'{"temperature":' + b"1" * 310 + b'}',
        b'{"max_tokens":-9.223372036854775808e18}',
        b'{"max_tokens":9.2233720368547748e18}',
        b'{"stream":"\\u0074rue"}',
    ]
    for b in fixed:
        yield b
    # number and bool strings at the edges of the forms reproduced
    for v in ["-nan", "+inf", "INFINITY", "iNf", "5.e3", ".e3", "1e", "00.5",
              "\u0663", "+.5e-3", "1E+400", "-0.0e0", "0x1p3", "1.5E",
              "infinit", "nAn", "+nan", "", ".", "1.5 ", "1__0"]:
        yield ('{"temperature":%s}' % json.dumps(v)).encode()
    for v in ["+0", "-007", "0" * 18, "123456789012345678",
              "-123456789012345678", "+", "-", "1 ", "\uff11", "0" * 19,
              "9" * 18, "-" + "9" * 18, "1e3", "20.", ""]:
        yield ('{"n":%s}' % json.dumps(v)).encode()
    for v in ["FaLsE", "Yes", "ON", "T", "Off", "N", "nO", "true ", "tru",
              "\u0131", "", "1.0", "oN", "yEs", "\u212a"]:
        yield ('{"stream":%s}' % json.dumps(v)).encode()
    for v in ["-0.5", "0.5", "4.9e-324", "-9.2233720368547748e18",
              "1.0000000000000002", "-1", "1e-300"]:
        yield ('{"n":%s,"logprobs":%s}' % (v, v)).encode()
        yield ('{"max_tokens":%s}' % v).encode()
        yield ('{"logprobs":%s}' % v).encode()
    for n in (1, 2, 255, 256, 257, 300):
        yield nest(n)
        yield nest(n, b"[]")


def expect(body):
    try:
        canon = reqhash.canonical(body).encode("ascii")
    except reqhash.Refused as e:
        return "refuse:%s" % e.code, "-"
    h = hashlib.sha256(canon).hexdigest()
    return "ok:" + h, canon.hex() if len(canon) <= 65536 else "-"


def float_vectors():
    xs = [0.0, -0.0, 5e-324, -5e-324, 1.7976931348623157e308]
    for e in range(-1074, 1024):
        x = math.ldexp(1.0, e)
        xs += [x, math.nextafter(x, 0), math.nextafter(x, math.inf)]
    for p in range(-330, 310):
        try:
            x = float("1e%d" % p)
        except OverflowError:
            continue
        xs += [x, math.nextafter(x, 0), math.nextafter(x, math.inf)]
    for _ in range(30000):
        xs.append(rdouble())
    lines = []
    for x in xs:
        bits = struct.pack(">d", x).hex()
        lines.append("%s\t%s\n" % (bits, reqhash.dumps(x)))
    return lines


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "build/vectors"
    os.makedirs(out, exist_ok=True)

    bodies = list(special_bodies())
    bodies += [random_body() for _ in range(RANDOM_BODIES)]

    counts = {}
    lines = []
    for body in bodies:
        want, canon = expect(body)
        kind = want.split(":")[0] if want.startswith("ok") else want
        counts[kind] = counts.get(kind, 0) + 1
        lines.append("%s\t%s\t%s\n" % (body.hex(), want, canon))

    with open(os.path.join(out, "reqhash.txt"), "w") as f:
        f.writelines(lines)

    with open(os.path.join(out, "reqhash_floats.txt"), "w") as f:
        f.writelines(float_vectors())

    print("gen_reqhash: seed %d, %d bodies: %s" % (
        SEED, len(lines), ", ".join("%s %d" % kv for kv in sorted(counts.items()))))


if __name__ == "__main__":
    main()
