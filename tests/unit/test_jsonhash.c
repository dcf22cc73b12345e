/*
 * attest_jsonhash against Python: every vector of gen_jsonhash.py is a
 * body from json.dumps() with the hash of its compact form, checked in
 * one piece, in random pieces and byte by byte.  Hand tests pin the rules
 * against literal compact strings.
 */

#include <stdint.h>
#include <string.h>

#include <openssl/evp.h>

#include "tap.h"
#include "attest_codec.h"
#include "attest_jsonhash.h"


static uint64_t  rng_state = 0x9e3779b97f4a7c15ULL;


static uint64_t
rng_next(void)
{
    /* xorshift64: reproducible splits */
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;

    return rng_state;
}


static void
sha256(const void *p, size_t len, uint8_t out[32])
{
    unsigned int  n;

    EVP_Digest(p, len, out, &n, EVP_sha256(), NULL);
}


/* feeds p in pieces of at most max bytes (random lengths), or 1 byte */
static void
hash_split(const uint8_t *p, size_t len, size_t max, uint8_t out[32])
{
    size_t              off, n;
    attest_jsonhash_t  *h;

    h = attest_jsonhash_new();
    if (h == NULL) {
        memset(out, 0xff, 32);
        return;
    }

    for (off = 0; off < len; off += n) {
        n = max > 1 ? (size_t) (rng_next() % max) : 1;

        if (n > len - off) {
            n = len - off;
        }

        /* empty updates too must change nothing */
        attest_jsonhash_update(h, p + off, n);
    }

    attest_jsonhash_final(h, out);
    attest_jsonhash_free(h);
}


static int
matches(const char *body, const char *compact)
{
    uint8_t  got[32], want[32];

    if (attest_jsonhash((const uint8_t *) body, strlen(body), got) != 0) {
        return 0;
    }

    sha256(compact, strlen(compact), want);

    return memcmp(got, want, 32) == 0;
}


static void
test_vectors(void)
{
    char           *text, *line, *tab, *end;
    size_t          len, blen, i, n, bad_split, bad_byte;
    uint8_t        *body, want[32], got[32];
    unsigned char  *file;
    char            path[512];

    snprintf(path, sizeof(path), "%s/jsonhash.txt", tap_vectors());

    file = tap_slurp(path, &len);
    if (!ok(file != NULL, "read %s (make vectors)", path)) {
        return;
    }

    text = (char *) file;
    n = 0;
    bad_split = 0;
    bad_byte = 0;

    for (line = text; *line; line = end + 1) {
        end = strchr(line, '\n');
        if (end == NULL) {
            break;
        }

        *end = '\0';

        tab = strchr(line, '\t');
        if (tab == NULL || strlen(tab + 1) != 64) {
            ok(0, "vector %zu parses", n);
            break;
        }

        blen = (size_t) (tab - line) / 2;
        body = malloc(blen + 1);

        if (body == NULL
            || attest_hex_decode(line, (size_t) (tab - line), body) != 0
            || attest_hex_decode(tab + 1, 64, want) != 0)
        {
            ok(0, "vector %zu decodes", n);
            free(body);
            break;
        }

        ok(attest_jsonhash(body, blen, got) == 0
           && memcmp(got, want, 32) == 0,
           "vector %zu (%zu bytes): one piece", n, blen);

        /* pieces: tiny, small, large */
        for (i = 0; i < 3; i++) {
            hash_split(body, blen, i == 0 ? 4 : (i == 1 ? 33 : 4096), got);
            bad_split += memcmp(got, want, 32) != 0;
        }

        if (n % 4 == 0 || blen < 64) {
            hash_split(body, blen, 1, got);
            bad_byte += memcmp(got, want, 32) != 0;
        }

        free(body);
        n++;
    }

    ok(n >= 250, "%zu vectors (at least 250)", n);
    is_int(bad_split, 0, "every vector in random pieces (3 ways each)");
    is_int(bad_byte, 0, "a quarter of the vectors byte by byte");

    free(file);
}


static void
test_rules(void)
{
    uint8_t      got[32], want[32];
    char         body[64];
    const char  *s;

    ok(matches("", ""), "empty body");
    ok(matches("{\"a\": \"x, y: z\"}", "{\"a\":\"x, y: z\"}"),
       "spaces after , and : inside a string are kept");
    ok(matches("{\"k\\\": \": \"v, \\\\\", \"z\": [1, 2]}",
               "{\"k\\\": \":\"v, \\\\\",\"z\":[1,2]}"),
       "escaped quote and escaped backslash end strings correctly");
    ok(matches("[1,  2]", "[1, 2]"), "only one space is dropped");
    ok(matches("[1 , 2]", "[1 ,2]"), "a space before a comma is kept");
    ok(matches("[1,\n2]", "[1,\n2]"), "a newline after a comma is kept");
    ok(matches("{\"a\":1, \"b\" :2}", "{\"a\":1,\"b\" :2}"),
       "no space to drop, and a space before a colon is kept");
    ok(!matches("{\"a\": 1}", "{\"a\": 1}"),
       "the space after a colon is not hashed");

    /* a body that differs by one byte must not match */
    s = "{\"id\": \"x\", \"n\": 12}";
    attest_jsonhash((const uint8_t *) s, strlen(s), want);
    strcpy(body, s);
    body[strlen(body) - 2] = '3';
    attest_jsonhash((const uint8_t *) body, strlen(body), got);
    ok(memcmp(got, want, 32) != 0, "a tampered body mismatches");

    strcpy(body, s);
    body[5] = 'y';
    attest_jsonhash((const uint8_t *) body, strlen(body), got);
    ok(memcmp(got, want, 32) != 0, "a tampered string mismatches");

    /* the state crosses calls: a backslash at the end of one piece */
    s = "{\"a\\\", \": 1}";
    hash_split((const uint8_t *) s, strlen(s), 1, got);
    sha256("{\"a\\\", \":1}", 11, want);
    ok(memcmp(got, want, 32) == 0,
       "escape state carries across byte-by-byte updates");
}


/* the rule of attest_jsonhash.h spelled out: the compacted bytes in out */
static size_t
rule_compact(const uint8_t *p, size_t len, uint8_t *out)
{
    int     in_string, escape, after_sep;
    size_t  i, n;

    in_string = escape = after_sep = 0;
    n = 0;

    for (i = 0; i < len; i++) {
        if (in_string) {
            out[n++] = p[i];

            if (escape) {
                escape = 0;

            } else if (p[i] == '\\') {
                escape = 1;

            } else if (p[i] == '"') {
                in_string = 0;
            }

            continue;
        }

        if (after_sep && p[i] == ' ') {
            after_sep = 0;
            continue;
        }

        after_sep = (p[i] == ',' || p[i] == ':');
        in_string = (p[i] == '"');
        out[n++] = p[i];
    }

    return n;
}


/*
 * The 64-byte blocks of attest_jsonhash.c against the rule: random bytes
 * from the few that matter, so that backslash runs of every length (in
 * and out of strings), quotes and ", " pairs fall on and across block
 * edges; each body in one piece and in random pieces.
 */
static void
test_blocks(void)
{
    static const char  alpha[] = "\"\\\\\\,: :  ax";

    size_t    i, k, k2, len, n, bad, bad_split;
    uint8_t  *body, *c, got[32], want[32];

    bad = bad_split = 0;

    for (i = 0; i < 4000; i++) {
        len = rng_next() % 400;
        body = malloc(len + 1);
        c = malloc(len + 1);

        for (k = 0; k < len; k++) {
            /* long stretches of one kind now and then: long strings */
            k2 = rng_next() % (sizeof(alpha) - 1);
            body[k] = (i % 7 == 0 && rng_next() % 8) ? 'x' : alpha[k2];
        }

        n = rule_compact(body, len, c);
        sha256(c, n, want);

        attest_jsonhash(body, len, got);
        bad += memcmp(got, want, 32) != 0;

        hash_split(body, len, 1 + rng_next() % 100, got);
        bad_split += memcmp(got, want, 32) != 0;

        free(body);
        free(c);
    }

    is_int(bad, 0, "4000 random bodies of \" \\ , : space: as the rule");
    is_int(bad_split, 0, "the same in random pieces");
}


int
main(void)
{
    test_rules();
    test_blocks();
    test_vectors();

    return tap_done();
}
