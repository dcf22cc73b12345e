#!/usr/bin/python3
"""Writes the ATTEST_KECCAK_ROUND macro of src/core/attest_keccak.c.

One Keccak-f[1600] round (theta, rho, pi, chi, iota) unrolled over 25
named lanes, lane (x, y) as i##xy, with the lanes of COMPLEMENTED kept
bitwise complemented between rounds.  Complemented inputs let chi's
b0 ^ (~b1 & b2) be computed as b0 ^ (b1 & b2) or b0 ^ (b1 | b2) (De
Morgan), so most of its 25 NOTs a round disappear: with this set, 6
remain.  The set was found by trying all 2^25 (a small C loop): theta
passes a lane's complement on through the column parities, rho keeps
it, pi moves it, and chi must give the same set back.

    scripts/gen-keccak-round.py > /tmp/round.h   (then paste it in)
"""

import sys

# rho offsets r[x + 5y] and the complemented lanes x + 5y
RHO = [0, 1, 62, 28, 27, 36, 44, 6, 55, 20, 3, 10, 43, 25, 39,
       41, 45, 15, 21, 8, 18, 2, 61, 56, 14]
COMPLEMENTED = [0, 4, 8, 9, 13, 14, 18, 20]


def comp(x, y):
    return 1 if x + 5 * y in COMPLEMENTED else 0


def main():
    col = [0] * 5
    for i in COMPLEMENTED:
        col[i % 5] ^= 1
    # d[x] = c[x-1] ^ rot(c[x+1], 1) comes out complemented when exactly
    # one of the two column parities is
    dcomp = [col[(x + 4) % 5] ^ col[(x + 1) % 5] for x in range(5)]

    out = ["#define ATTEST_KECCAK_ROUND(i, o, rc)", "    do {"]
    for x in range(5):
        out.append("        c%d = i##%d0 ^ i##%d1 ^ i##%d2 ^ i##%d3 ^ i##%d4;"
                   % ((x,) + (x,) * 5))
    for x in range(5):
        out.append("        d%d = c%d ^ ATTEST_ROTL(c%d, 1);"
                   % (x, (x + 4) % 5, (x + 1) % 5))

    nots = 0
    for Y in range(5):
        # row Y of B: B[X, Y] = rot(A[x, y] ^ d[x]) with y = X, 2x + 3y = Y
        f = []
        for X in range(5):
            y, x = X, ((Y - 3 * X) * 3) % 5
            f.append(comp(x, y) ^ dcomp[x])
            if RHO[x + 5 * y] == 0:
                out.append("        b%d = i##%d%d ^ d%d;" % (X, x, y, x))
            else:
                out.append("        b%d = ATTEST_ROTL(i##%d%d ^ d%d, %d);"
                           % (X, x, y, x, RHO[x + 5 * y]))

        # chi: o = b0 ^ (~b1 & b2) in the complements we have and want
        for X in range(5):
            f0, f1, f2 = f[X], f[(X + 1) % 5], f[(X + 2) % 5]
            want = comp(X, Y)
            b0, b1, b2 = ["b%d" % ((X + k) % 5) for k in range(3)]
            if (f1, f2) == (1, 0):
                t, got = "(%s & %s)" % (b1, b2), f0
            elif (f1, f2) == (0, 1):
                t, got = "(%s | %s)" % (b1, b2), f0 ^ 1
            elif (f1, f2) == (0, 0):
                if want == f0:
                    t, got = "(~%s & %s)" % (b1, b2), f0
                else:
                    t, got = "(%s | ~%s)" % (b1, b2), f0 ^ 1
            elif want == f0:
                t, got = "(%s & ~%s)" % (b1, b2), f0
            else:
                t, got = "(~%s | %s)" % (b1, b2), f0 ^ 1
            nots += "~" in t
            if got == want:
                out.append("        o##%d%d = %s ^ %s;" % (X, Y, b0, t))
            else:
                nots += 1
                out.append("        o##%d%d = ~(%s ^ %s);" % (X, Y, b0, t))

    out.append("        o##00 ^= (rc);")
    out.append("    } while (0)")

    for n, line in enumerate(out):
        print(line if n == len(out) - 1 else line.ljust(78) + "\\")

    sys.stderr.write("gen-keccak-round: %d NOTs a round\n" % nots)


main()
