"""The agent's request hash in Python (PROTOCOL.md section 2), written from
pydantic v2's documented lax-mode conversions, independently of the C code.

The agent does, in effect:

    payload = ChatRequest.model_validate(json.loads(body))   # lax, Python
    text = json.dumps(payload.model_dump(exclude_none=True),
                      separators=(",", ":"))
    request_hash = sha256(text.encode()).hexdigest()

with ChatRequest the declared fields of DECLARED (all Optional, default
None, stream default False) and extra fields allowed.  json.loads and
json.dumps are Python's own here; the model is reproduced by hand because
pydantic is not a dependency.

canonical(body) returns the canonical text or raises Refused(code, why).
The codes are the C canonicalizer's (attest_reqhash_errname).  Most are
what the agent itself refuses; four are this project's choices, refusing a
body the agent might take:

- "encoding": a UTF-16/32 body (json.loads would guess and decode it);
- "too_deep": containers nested deeper than MAX_DEPTH (json.loads itself
  fails near 1000, depending on the stack);
- "field_form": a string in a number field outside the forms every
  pydantic v2 parses the same way (see coerce());
- "too_large": over the caller's size limit (not checked here).
"""

import hashlib
import json
import math
import re

# request model of the agent: declared order and types
DECLARED = (("messages", list), ("model", str), ("temperature", float),
            ("max_tokens", int), ("stream", bool), ("top_p", float),
            ("frequency_penalty", float), ("presence_penalty", float),
            ("stop", None), ("n", int), ("logprobs", bool))

MAX_DEPTH = 256

# pydantic v2's str -> bool words (compared case-insensitively)
TRUE_WORDS = ("1", "on", "t", "true", "y", "yes")
FALSE_WORDS = ("0", "off", "f", "false", "n", "no")

# pydantic-core parses float strings with Rust's f64 grammar; whitespace
# trimming and "_" came later and are left out
FLOAT_STRING = re.compile(r"[+-]?(?:inf|infinity|nan|"
                          r"(?:[0-9]+\.?[0-9]*|\.[0-9]+)"
                          r"(?:[eE][+-]?[0-9]+)?)", re.IGNORECASE)
# an i64 in every pydantic v2 version
INT_STRING = re.compile(r"[+-]?[0-9]{1,18}")


class Refused(Exception):
    def __init__(self, code, message):
        super().__init__("%s: %s" % (code, message))
        self.code = code
        self.why = message


def loads(body):
    """json.loads(body) as the agent's framework calls it, bytes in."""
    if json.detect_encoding(body) not in ("utf-8", "utf-8-sig"):
        raise Refused("encoding", "not UTF-8")
    try:
        obj = json.loads(body)
    except UnicodeDecodeError as e:
        raise Refused("utf8", str(e))
    except json.JSONDecodeError as e:
        raise Refused("syntax", str(e))
    except RecursionError:
        raise Refused("too_deep", "nested too deep for json.loads")
    except ValueError as e:
        # int("9" * 4301): sys.get_int_max_str_digits()
        raise Refused("int_digits", str(e))
    if depth(obj) > MAX_DEPTH:
        raise Refused("too_deep", "nested deeper than %d" % MAX_DEPTH)
    return obj


def depth(obj):
    """how many containers are nested, at most (iterative: no recursion)"""
    best = 0
    stack = [(obj, 1)]
    while stack:
        o, d = stack.pop()
        if isinstance(o, dict):
            best = max(best, d)
            stack.extend((v, d + 1) for v in o.values())
        elif isinstance(o, list):
            best = max(best, d)
            stack.extend((v, d + 1) for v in o)
    return best


def coerce(name, kind, value):
    """pydantic v2 lax mode (Python input) for one declared field."""
    if kind is None:
        return value
    if kind is list:
        if not isinstance(value, list):
            raise Refused("field_type", "%s: list expected" % name)
        return value
    if kind is str:
        if not isinstance(value, str):
            raise Refused("field_type", "%s: string expected" % name)
        return value
    if kind is float:
        # float and int are taken; bool is 0.0 / 1.0 in lax mode
        if isinstance(value, (bool, int, float)):
            try:
                return float(value)
            except OverflowError:
                raise Refused("field_type", "%s: int too large" % name)
        if isinstance(value, str):
            if not FLOAT_STRING.fullmatch(value):
                raise Refused("field_form", "%s: not a plain number" % name)
            return float(value)
        raise Refused("field_type", "%s: float expected" % name)
    if kind is int:
        if isinstance(value, (bool, int)):
            return int(value)
        if isinstance(value, float):
            # pydantic-core float_as_int
            if not math.isfinite(value):
                raise Refused("field_type", "%s: finite expected" % name)
            if not value.is_integer():
                raise Refused("field_type", "%s: fraction" % name)
            if not -2.0 ** 63 < value < 2.0 ** 63:
                raise Refused("field_type", "%s: out of i64" % name)
            return int(value)
        if isinstance(value, str):
            if not INT_STRING.fullmatch(value):
                raise Refused("field_form", "%s: not a plain int" % name)
            return int(value)
        raise Refused("field_type", "%s: integer expected" % name)
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return value == 1
        if isinstance(value, float) and value in (0.0, 1.0):
            return value == 1.0
        if isinstance(value, str) and value.isascii():
            if value.lower() in TRUE_WORDS:
                return True
            if value.lower() in FALSE_WORDS:
                return False
        raise Refused("field_type", "%s: boolean expected" % name)
    raise AssertionError(kind)


def model(req):
    """model_dump(exclude_none=True) of the validated request, in order."""
    if not isinstance(req, dict):
        raise Refused("not_object", "not a JSON object")
    out = {}
    for name, kind in DECLARED:
        value = req.get(name, False if name == "stream" else None)
        if value is None:
            continue
        out[name] = coerce(name, kind, value)
    declared = {name for name, _ in DECLARED}
    for name, value in req.items():
        if name in declared:
            continue
        # pydantic-core reads extra names as Rust strings (string_unicode)
        if any(0xd800 <= ord(c) <= 0xdfff for c in name):
            raise Refused("key_surrogate", "lone surrogate in %r" % name)
        if value is not None:
            out[name] = value
    return out


def dumps(m):
    return json.dumps(m, separators=(",", ":"))


def canonical(body):
    """the canonical text (str, ASCII) of a request body (bytes)"""
    return dumps(model(loads(body)))


def request_hash(body):
    return hashlib.sha256(canonical(body).encode("ascii")).hexdigest()
