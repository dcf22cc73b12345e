#!/usr/bin/python3
"""Request bodies for t/63-request-binding.t, end to end through nginx.

    reqbodies.py N SEED

prints N lines "<hex of the body> TAB <expect> TAB <stream>" where the
bodies come from the generator of tests/vectors/gen_reqhash.py (reseeded)
and <expect> is what the agent double does with them, computed here in
Python as the agent computes it (t/upstream/reqhash.py):

    ok:<request hash>   the agent answers 200, signed for this hash
    refuse:<code>       the agent refuses the body (4xx), and so does the
                        canonicalizer (reqhash.py's code)

<stream> is 1 when the agent answers with a stream.  About one line in
ten is a refusal; bodies the agent would answer but the canonicalizer
refuses are left out (t/63 has its own cases for those).
"""

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "vectors"))

import gen_reqhash  # noqa: E402
import reqhash      # noqa: E402


def agent_takes(body):
    """the agent's own path: json.loads, the model, a messages list"""
    try:
        req = json.loads(body)
        m = reqhash.model(req)
    except (ValueError, RecursionError, reqhash.Refused):
        return None
    if not isinstance(m.get("messages"), list):
        return None
    name = m.get("model")
    if m.get("stream") and isinstance(name, str) \
            and any(0xd800 <= ord(c) <= 0xdfff for c in name):
        # the double cannot write that name into a UTF-8 stream
        return None
    return m


def main():
    n, seed = int(sys.argv[1]), int(sys.argv[2])
    gen_reqhash.rng.seed(seed)
    out, refused = [], 0
    while len(out) < n:
        body = gen_reqhash.random_body()
        m = agent_takes(body)
        try:
            h = reqhash.request_hash(body)
        except reqhash.Refused as e:
            if m is None and refused * 10 < n:
                refused += 1
                out.append("%s\trefuse:%s\t0" % (body.hex(), e.code))
            continue
        if m is None:
            continue
        out.append("%s\tok:%s\t%d" % (body.hex(), h,
                                       1 if m.get("stream") else 0))
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
