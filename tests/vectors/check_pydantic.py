#!/usr/bin/env python3
"""The request vectors against real pydantic v2, where it is installed.

    check_pydantic.py [VECTORS/reqhash.txt]

t/upstream/reqhash.py writes the expected value of each vector from
pydantic's documented lax-mode rules, by hand; this reads every body again
through a real pydantic v2 model of the agent's request and json.dumps, and
checks that the two agree: each hash is the one pydantic gives, and each
refusal for what the agent refuses ("syntax", "field_type" ...) is a
refusal of pydantic or json.loads too.  The refusals that are this
project's choice ("encoding", "too_deep", "field_form") may be bodies
pydantic takes; they are counted, not failed.

Exit 0 all agree, 1 a disagreement (printed), 77 no pydantic v2 here.
"""

import hashlib
import json
import sys

try:
    import pydantic
    from pydantic import BaseModel, ConfigDict, ValidationError
    from typing import Any, Optional
except ImportError:
    print("no pydantic here")
    sys.exit(77)

if not pydantic.VERSION.startswith("2."):
    print("pydantic %s is not v2" % pydantic.VERSION)
    sys.exit(77)


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    messages: Optional[list] = None
    model: Optional[str] = None
    temperature: Optional[float] = None
    max_tokens: Optional[int] = None
    stream: Optional[bool] = False
    top_p: Optional[float] = None
    frequency_penalty: Optional[float] = None
    presence_penalty: Optional[float] = None
    stop: Optional[Any] = None
    n: Optional[int] = None
    logprobs: Optional[bool] = None


OUR_CHOICE = ("encoding", "too_deep", "field_form", "too_large")


def agent(body):
    """what the agent does with the bytes: ("ok", hash) or ("refuse", why)"""
    try:
        req = json.loads(body)
    except (ValueError, RecursionError) as e:
        return "refuse", type(e).__name__
    try:
        payload = ChatRequest.model_validate(req)
    except ValidationError as e:
        return "refuse", ",".join(x["type"] for x in e.errors())
    text = json.dumps(payload.model_dump(exclude_none=True),
                      separators=(",", ":"))
    return "ok", hashlib.sha256(text.encode()).hexdigest()


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "build/vectors/reqhash.txt"
    agree = bad = ours = 0
    with open(path) as f:
        for i, line in enumerate(f):
            body_hex, want = line.split("\t")[:2]
            kind, got = agent(bytes.fromhex(body_hex))
            if want.startswith("ok:"):
                ok = kind == "ok" and got == want[3:]
            else:
                code = want.split(":", 1)[1]
                if kind == "ok" and code in OUR_CHOICE:
                    ours += 1
                    continue
                ok = kind == "refuse"
            if ok:
                agree += 1
            else:
                bad += 1
                print("vector %d: reference %s, pydantic %s %s"
                      % (i, want, kind, got))
    print("pydantic %s: %d agree, %d disagree, %d refused by choice"
          % (pydantic.VERSION, agree, bad, ours))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
