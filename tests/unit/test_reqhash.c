/*
 * attest_reqhash against Python: hand cases pin each rule of PROTOCOL.md
 * section 2 to a literal canonical string; the generated vectors of
 * gen_reqhash.py (bodies with the hash or refusal that t/upstream/reqhash.py
 * computes through json.loads and json.dumps) are checked fed in random
 * pieces; and the float repr against Python's repr for every power of two,
 * every power of ten and random doubles.
 */

#include <math.h>
#include <stdint.h>
#include <string.h>

#include <openssl/evp.h>

#include "tap.h"
#include "attest_reqhash.h"

/* under valgrind (t/01-unit-valgrind.t) every 8th vector is enough */
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif

#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND  0
#endif

static int  step = 1;


static uint64_t  rng_state = 0x9e3779b97f4a7c15ULL;


static uint64_t
rng_next(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;

    return rng_state;
}


/*
 * how canon() feeds a body: bit 0: through one canonicalizer reset for
 * each body (its buffers kept, or freed when bit 2 is set too); bit 1:
 * written into attest_reqhash_space(), a little more asked than committed
 */
static int                canon_how;
static attest_reqhash_t  *canon_shared;


/* canonicalizes p in random pieces of at most max bytes */
static attest_req_err_t
canon(const uint8_t *p, size_t len, size_t max, uint8_t hash[32],
    char **text, size_t *tlen, char *err, size_t errlen)
{
    attest_reqhash_t  *r;
    attest_req_err_t   rc = ATTEST_REQ_OK;
    const uint8_t     *c;
    uint8_t           *d;
    size_t             off, n;

    if (canon_how & 1) {
        if (canon_shared == NULL) {
            canon_shared = attest_reqhash_new(8 << 20);
        }

        r = canon_shared;

        if (r != NULL) {
            attest_reqhash_reset(r, 8 << 20, canon_how & 4 ? 0 : 1 << 20);
        }

    } else {
        r = attest_reqhash_new(8 << 20);
    }

    if (r == NULL) {
        return ATTEST_REQ_NOMEM;
    }

    for (off = 0; off < len && rc == ATTEST_REQ_OK; off += n) {
        n = max > 1 ? (size_t) (rng_next() % max) : 1;

        if (n > len - off) {
            n = len - off;
        }

        if (canon_how & 2) {
            d = attest_reqhash_space(r, n + (off & 7));
            if (d == NULL) {
                rc = attest_reqhash_commit(r, 0);
                break;
            }

            memcpy(d, p + off, n);
            rc = attest_reqhash_commit(r, n);

        } else {
            rc = attest_reqhash_update(r, p + off, n);
        }
    }

    if (rc == ATTEST_REQ_OK) {
        rc = attest_reqhash_final(r, hash);
    }

    if (text) {
        *text = NULL;
        *tlen = 0;

        c = attest_reqhash_canonical(r, tlen);
        if (c) {
            *text = malloc(*tlen + 1);
            memcpy(*text, c, *tlen);
            (*text)[*tlen] = '\0';
        }
    }

    if (err) {
        snprintf(err, errlen, "%s", attest_reqhash_error(r));
    }

    if (r != canon_shared) {
        attest_reqhash_free(r);
    }

    return rc;
}


/* the canonical text of body, or "!<errname>" */
static char  got_buf[65536];

static const char *
got_n(const char *body, size_t len)
{
    uint8_t           hash[32];
    char             *t;
    size_t            tlen;
    attest_req_err_t  rc;

    rc = canon((const uint8_t *) body, len, 7, hash, &t, &tlen, NULL, 0);

    if (rc != ATTEST_REQ_OK) {
        snprintf(got_buf, sizeof(got_buf), "!%s", attest_reqhash_errname(rc));

    } else {
        snprintf(got_buf, sizeof(got_buf), "%s", t);
    }

    free(t);

    return got_buf;
}


static const char *
got(const char *body)
{
    return got_n(body, strlen(body));
}


static void
test_rules(void)
{
    /* field order, stream default, extras in client order */
    is_str(got("{\"seed\":7,\"max_tokens\":5,\"temperature\":1,\"model\":\"m\","
               "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"),
           "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
           "\"model\":\"m\",\"temperature\":1.0,\"max_tokens\":5,"
           "\"stream\":false,\"seed\":7}", "order, stream false, extras");
    is_str(got("{\"logprobs\":true,\"n\":1,\"stop\":[\"x\"],"
               "\"presence_penalty\":0,\"frequency_penalty\":0,"
               "\"top_p\":1,\"stream\":true,\"max_tokens\":1,"
               "\"temperature\":0,\"model\":\"m\",\"messages\":[]}"),
           "{\"messages\":[],\"model\":\"m\",\"temperature\":0.0,"
           "\"max_tokens\":1,\"stream\":true,\"top_p\":1.0,"
           "\"frequency_penalty\":0.0,\"presence_penalty\":0.0,"
           "\"stop\":[\"x\"],\"n\":1,\"logprobs\":true}",
           "every declared field, reversed");
    is_str(got("{}"), "{\"stream\":false}", "empty: stream false");
    is_str(got("{\"stream\":null}"), "{}", "stream null dropped");
    is_str(got("{\"model\":null,\"x\":null,\"stop\":null}"),
           "{\"stream\":false}", "null fields and extras dropped");
    is_str(got("{\"x\":[null],\"y\":{\"a\":null},\"messages\":[{\"name\":"
               "null}]}"),
           "{\"messages\":[{\"name\":null}],\"stream\":false,\"x\":[null],"
           "\"y\":{\"a\":null}}", "nested nulls kept");

    /* coercion */
    is_str(got("{\"temperature\":-0,\"top_p\":\"-0\",\"frequency_penalty\":"
               "true,\"presence_penalty\":\"1e5\"}"),
           "{\"temperature\":0.0,\"stream\":false,\"top_p\":-0.0,"
           "\"frequency_penalty\":1.0,\"presence_penalty\":100000.0}",
           "float fields: int -0, string -0, bool, string");
    is_str(got("{\"temperature\":-0.0,\"top_p\":1e400,\"n\":NaN}"),
           "!field_type", "n NaN refused");
    is_str(got("{\"temperature\":-0.0,\"top_p\":1e400}"),
           "{\"temperature\":-0.0,\"stream\":false,\"top_p\":Infinity}",
           "-0.0 kept, overflow Infinity");
    is_str(got("{\"max_tokens\":20.0,\"n\":1E18}"),
           "{\"max_tokens\":20,\"stream\":false,\"n\":1000000000000000000}",
           "int fields take integral floats");
    is_str(got("{\"max_tokens\":true,\"n\":\"-0\"}"),
           "{\"max_tokens\":1,\"stream\":false,\"n\":0}",
           "int fields: bool, string");
    is_str(got("{\"max_tokens\":9.2233720368547748e18}"),
           "{\"max_tokens\":9223372036854774784,\"stream\":false}",
           "largest float under 2**63");
    is_str(got("{\"max_tokens\":9.223372036854775808e18}"), "!field_type",
           "2**63 as a float refused");
    is_str(got("{\"max_tokens\":20.5}"), "!field_type", "20.5 refused");
    is_str(got("{\"max_tokens\":\"20.0\"}"), "!field_form",
           "\"20.0\" not reproduced");
    is_str(got("{\"max_tokens\":18446744073709551621}"),
           "{\"max_tokens\":18446744073709551621,\"stream\":false}",
           "big int kept exact");
    is_str(got("{\"stream\":1,\"logprobs\":\"Off\"}"),
           "{\"stream\":true,\"logprobs\":false}", "bool: 1, \"Off\"");
    is_str(got("{\"stream\":1.0,\"logprobs\":-0.0}"),
           "{\"stream\":true,\"logprobs\":false}", "bool: 1.0, -0.0");
    is_str(got("{\"stream\":2}"), "!field_type", "bool: 2 refused");
    is_str(got("{\"stream\":\" true\"}"), "!field_type",
           "bool: \" true\" refused");
    is_str(got("{\"model\":5}"), "!field_type", "model 5 refused");
    is_str(got("{\"messages\":{}}"), "!field_type", "messages {} refused");
    is_str(got("{\"temperature\":\"hot\"}"), "!field_form",
           "temperature \"hot\" refused");
    is_str(got("{\"temperature\":1" "0000000000" "0000000000" "0000000000"
               "0000000000" "0000000000" "0000000000" "0000000000"
               "0000000000" "0000000000" "0000000000" "0000000000"
               "0000000000" "0000000000" "0000000000" "0000000000"
               "0000000000" "0000000000" "0000000000" "0000000000"
               "0000000000" "0000000000" "0000000000" "0000000000"
               "0000000000" "0000000000" "0000000000" "0000000000"
               "0000000000" "0000000000" "0000000000" "0000000000}"),
           "!field_type", "int too large for a float field");

    /* duplicates */
    is_str(got("{\"a\":1,\"b\":2,\"a\":3}"),
           "{\"stream\":false,\"a\":3,\"b\":2}", "duplicate: first place, "
           "last value");
    is_str(got("{\"model\":\"a\",\"model\":null}"), "{\"stream\":false}",
           "duplicate declared, last null");
    is_str(got("{\"temperature\":\"x\",\"temperature\":1}"),
           "{\"temperature\":1.0,\"stream\":false}",
           "only the last value is coerced");
    is_str(got("{\"k\":{\"a\":1,\"b\":{\"c\":1,\"c\":2},\"a\":[3,{\"d\":1,"
               "\"d\":null}]}}"),
           "{\"stream\":false,\"k\":{\"a\":[3,{\"d\":null}],\"b\":{\"c\":2}}}",
           "nested duplicates");
    is_str(got("{\"\\u0073tream\":true,\"stream\":\"no\"}"),
           "{\"stream\":false}", "escaped key is the same key");
    is_str(got("{\"k\":{\"\\ud83d\\udc4b\":1,\"\xed\xa0\xbd\xed\xb1\x8b\":2}}"),
           "{\"stream\":false,\"k\":{\"\\ud83d\\udc4b\":1,"
           "\"\\ud83d\\udc4b\":2}}",
           "joined pair and raw surrogates are two keys");
    is_str(got("{\"k\":{\"\\ud83d\\udc4b\":1,\"\xf0\x9f\x91\x8b\":2}}"),
           "{\"stream\":false,\"k\":{\"\\ud83d\\udc4b\":2}}",
           "escaped pair and raw astral are one key");
    is_str(got("{\"\\ud800\":1}"), "!key_surrogate",
           "lone surrogate in an extra name");
    is_str(got("{\"x\":{\"\\ud800\":1}}"),
           "{\"stream\":false,\"x\":{\"\\ud800\":1}}",
           "lone surrogate in a nested name");

    /* numbers elsewhere */
    is_str(got("{\"a\":9223372036854775813,\"b\":-0,\"c\":1.0,\"d\":1E2,"
               "\"e\":1e400,\"f\":-1e400,\"g\":-0.0,\"h\":NaN,"
               "\"i\":-Infinity}"),
           "{\"stream\":false,\"a\":9223372036854775813,\"b\":0,\"c\":1.0,"
           "\"d\":100.0,\"e\":Infinity,\"f\":-Infinity,\"g\":-0.0,"
           "\"h\":NaN,\"i\":-Infinity}", "numbers in extras");
    is_str(got("{\"f\":[1e-05,0.0001,1.5e16,1e22,0.30000000000000004,"
               "123456789.125,1e16,9999999999999998,5e-324,1e-7]}"),
           "{\"stream\":false,\"f\":[1e-05,0.0001,1.5e+16,1e+22,"
           "0.30000000000000004,123456789.125,1e+16,9999999999999998,"
           "5e-324,1e-07]}", "float repr");

    /* strings */
    is_str(got("{\"s\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u0001\\u001F\x7f/\"}"),
           "{\"stream\":false,\"s\":\"\\\"\\\\/\\b\\f\\n\\r\\t\\u0001"
           "\\u001f\\u007f/\"}", "escapes");
    is_str(got("{\"s\":\"\xc3\xa9\xe6\x97\xa5\xf0\x9f\x91\x8b\\uD83D\\uDC4B"
               "\\ud800x\\udc00\xed\xa0\x80\"}"),
           "{\"stream\":false,\"s\":\"\\u00e9\\u65e5\\ud83d\\udc4b"
           "\\ud83d\\udc4b\\ud800x\\udc00\\ud800\"}",
           "non-ASCII, pairs, lone surrogates");

    /* refusals */
    is_str(got(""), "!syntax", "empty");
    is_str(got("{\"a\":1,}"), "!syntax", "trailing comma");
    is_str(got("{\"a\":01}"), "!syntax", "leading zero");
    is_str(got("{\"a\":\"\x01\"}"), "!syntax", "raw control character");
    is_str(got("{\"a\":1}x"), "!syntax", "extra data");
    is_str(got("{\"a\":nan}"), "!syntax", "nan");
    is_str(got("[]"), "!not_object", "array");
    is_str(got("\"x\""), "!not_object", "string");
    is_str(got("{\"a\":\"\xff\"}"), "!utf8", "invalid UTF-8");
    is_str(got("{\"a\":\"\xc0\x80\"}"), "!utf8", "overlong");
    is_str(got("\xef\xbb\xbf{\"model\":\"bom\"}"),
           "{\"model\":\"bom\",\"stream\":false}", "UTF-8 BOM skipped");
    is_str(got_n("{\x00\"\x00a\x00\"\x00:\x001\x00}\x00", 14), "!encoding",
           "UTF-16 guessed");
    is_str(got_n("\xff\xfe{\x00}\x00", 6), "!encoding", "UTF-16 BOM");
}


/* the reason, as attest_reqhash_error() says it, for body */
static const char *
why(const char *body)
{
    static char  err[200];
    uint8_t      hash[32];

    canon((const uint8_t *) body, strlen(body), strlen(body) + 1, hash, NULL,
          NULL, err, sizeof(err));

    return err;
}


/*
 * Python decodes the whole body before it parses: invalid UTF-8 anywhere
 * is the reason, at its first byte, whatever else is wrong before it
 * (the strings' UTF-8 is checked as they are parsed, the rest after a
 * failed parse)
 */
static void
test_utf8_first(void)
{
    is_str(why("{\"a\":\"\xc3\xa9\xff\"}"), "invalid UTF-8 at byte 8",
           "in a string");
    is_str(why("{\"\xe2\x82\"}"), "invalid UTF-8 at byte 2", "in a key");
    is_str(why("{\"a\":\"x\xe2\x82"), "truncated UTF-8 at byte 7",
           "truncated at the end");
    is_str(why("{\"a\":\"x\xf0\x9f\x98"), "truncated UTF-8 at byte 7",
           "astral, truncated");
    is_str(why("{\"a\":\"\xf0\x8f\xbf\xbf\"}"), "invalid UTF-8 at byte 6",
           "overlong astral");
    is_str(why("{\"a\":\"\xf4\x90\x80\x80\"}"), "invalid UTF-8 at byte 6",
           "above U+10FFFF");
    is_str(why("{\"a\":\"\xe0\x9f\xbf\"}"), "invalid UTF-8 at byte 6",
           "overlong 3 bytes");
    is_str(why("{\"a\":\"\xed\xa0\x80\"}"), "ok", "encoded surrogate");
    is_str(why("{\"a\":1,,\"b\":\"\xff\"}"), "invalid UTF-8 at byte 13",
           "after a syntax error");
    is_str(why("{\"a\":\"\\q\xc3\"}"), "invalid UTF-8 at byte 8",
           "after an invalid escape");
    is_str(why("{\"a\":\xc3\xa9}"), "expecting value at byte 5",
           "valid UTF-8 outside a string: syntax");
    is_str(why("{\"a\":\xc3}"), "invalid UTF-8 at byte 5",
           "invalid outside a string");
    is_str(why("[\"\xc3\xa9\"]\xff"), "invalid UTF-8 at byte 6",
           "after the value, not an object");
    is_str(why("{\"n\":1.5,\"x\":\"\xff\"}"), "invalid UTF-8 at byte 14",
           "before a field type error");
    is_str(why("\xef\xbb\xbf{\"a\":\"\xff\"}"), "invalid UTF-8 at byte 9",
           "after a BOM");
    is_str(why("\xef\xbb{\"a\":1}"), "invalid UTF-8 at byte 0",
           "half a BOM");
}


static void
test_api(void)
{
    attest_reqhash_t  *r;
    uint8_t            hash[32], want[32], *d;
    const uint8_t     *c;
    const char        *m;
    size_t             len;
    unsigned int       n;
    const char        *body = "{\"model\":\"a\\\"b\",\"stream\":\"yes\"}";
    const char        *text = "{\"model\":\"a\\\"b\",\"stream\":true}";

    r = attest_reqhash_new(1024);
    ok(r != NULL, "new");
    is_int(attest_reqhash_update(r, (const uint8_t *) body, 10),
           ATTEST_REQ_OK, "update");
    is_int(attest_reqhash_update(r, (const uint8_t *) body + 10, 0),
           ATTEST_REQ_OK, "empty update");
    is_int(attest_reqhash_update(r, (const uint8_t *) body + 10,
                                 strlen(body) - 10), ATTEST_REQ_OK,
           "update rest");
    is_int(attest_reqhash_final(r, hash), ATTEST_REQ_OK, "final");
    EVP_Digest(text, strlen(text), want, &n, EVP_sha256(), NULL);
    ok(memcmp(hash, want, 32) == 0, "hash = sha256(canonical)");
    c = attest_reqhash_canonical(r, &len);
    ok(c && len == strlen(text) && memcmp(c, text, len) == 0, "canonical");
    m = attest_reqhash_model(r, &len);
    ok(m && len == 4 && memcmp(m, "a\\\"b", 4) == 0, "model, escaped");
    is_int(attest_reqhash_stream(r), 1, "stream");
    is_int(attest_reqhash_update(r, (const uint8_t *) "x", 1),
           ATTEST_REQ_STATE, "update after final");
    attest_reqhash_free(r);

    r = attest_reqhash_new(8);
    is_int(attest_reqhash_update(r, (const uint8_t *) "{\"a\":1}", 7),
           ATTEST_REQ_OK, "7 of 8 bytes");
    is_int(attest_reqhash_update(r, (const uint8_t *) "  ", 2),
           ATTEST_REQ_TOO_LARGE, "over the limit");
    is_int(attest_reqhash_final(r, hash), ATTEST_REQ_TOO_LARGE,
           "final keeps the error");
    ok(hash[0] == 0 && hash[31] == 0, "hash zeroed");
    ok(attest_reqhash_canonical(r, &len) == NULL && len == 0,
       "no canonical form");
    ok(strstr(attest_reqhash_error(r), "over 8 bytes") != NULL,
       "error says why: %s", attest_reqhash_error(r));
    attest_reqhash_free(r);

    r = attest_reqhash_new(64);
    attest_reqhash_update(r, (const uint8_t *) "{\"n\":1.5}", 9);
    is_int(attest_reqhash_final(r, hash), ATTEST_REQ_FIELD_TYPE, "n 1.5");
    is_str(attest_reqhash_error(r), "n: integer expected, got a fraction",
           "named field");
    ok(attest_reqhash_model(r, &len) == NULL, "no model on failure");
    attest_reqhash_free(r);

    r = attest_reqhash_new(64);
    attest_reqhash_update(r, (const uint8_t *) "{\"messages\":[]}", 15);
    is_int(attest_reqhash_final(r, hash), ATTEST_REQ_OK, "no model");
    ok(attest_reqhash_model(r, &len) == NULL, "model NULL when absent");
    is_int(attest_reqhash_stream(r), 0, "stream false by default");
    is_int(attest_reqhash_final(r, hash), ATTEST_REQ_STATE, "final twice");
    attest_reqhash_free(r);

    /* written in place, then reset and used again */
    r = attest_reqhash_new(40);
    d = attest_reqhash_space(r, 16);
    ok(d != NULL, "space");
    memcpy(d, body, 16);
    is_int(attest_reqhash_commit(r, 10), ATTEST_REQ_OK, "commit 10 of 16");
    d = attest_reqhash_space(r, strlen(body) - 10);
    ok(d != NULL, "space for the rest");
    memcpy(d, body + 10, strlen(body) - 10);
    is_int(attest_reqhash_commit(r, strlen(body) - 10), ATTEST_REQ_OK,
           "commit the rest");
    is_int(attest_reqhash_final(r, hash), ATTEST_REQ_OK, "final, in place");
    c = attest_reqhash_canonical(r, &len);
    ok(c && len == strlen(text) && memcmp(c, text, len) == 0,
       "canonical, in place");
    ok(attest_reqhash_space(r, 1) == NULL, "no space after final");
    is_int(attest_reqhash_commit(r, 0), ATTEST_REQ_STATE, "state error");

    attest_reqhash_reset(r, 8, 1 << 20);
    ok(attest_reqhash_space(r, 9) == NULL, "reset: the new limit");
    is_int(attest_reqhash_commit(r, 0), ATTEST_REQ_TOO_LARGE,
           "too large after reset");

    attest_reqhash_reset(r, 1024, 1 << 20);
    is_str(attest_reqhash_error(r), "ok", "reset clears the error");
    ok(attest_reqhash_canonical(r, &len) == NULL, "reset: no canonical");
    d = attest_reqhash_space(r, 4);
    ok(d != NULL, "space after reset");
    is_int(attest_reqhash_commit(r, 5000), ATTEST_REQ_STATE,
           "commit beyond the space");
    attest_reqhash_reset(r, 1024, 0);
    is_int(attest_reqhash_update(r, (const uint8_t *) body, strlen(body)),
           ATTEST_REQ_OK, "update after reset, buffers freed");
    is_int(attest_reqhash_final(r, hash), ATTEST_REQ_OK, "final again");
    EVP_Digest(text, strlen(text), want, &n, EVP_sha256(), NULL);
    ok(memcmp(hash, want, 32) == 0, "same hash after reset");
    m = attest_reqhash_model(r, &len);
    ok(m && len == 4 && memcmp(m, "a\\\"b", 4) == 0, "model after reset");
    attest_reqhash_free(r);

    is_str(attest_reqhash_errname(ATTEST_REQ_FIELD_FORM), "field_form",
           "errname");
}


static void
test_depth(void)
{
    char    *b;
    size_t   i, n;
    char     want[64];

    /* 256 containers: the top object and 255 arrays */
    for (n = 255; n <= 256; n++) {
        b = malloc(2 * n + 16);
        strcpy(b, "{\"x\":");
        for (i = 0; i < n; i++) {
            strcat(b, "[");
        }
        for (i = 0; i < n; i++) {
            strcat(b, "]");
        }
        strcat(b, "}");

        snprintf(want, sizeof(want), "%s", n == 255 ? "" : "!too_deep");
        if (n == 255) {
            ok(got(b)[0] == '{', "255 arrays in the object: accepted");
        } else {
            is_str(got(b), want, "256 arrays in the object: too deep");
        }

        free(b);
    }

    /* a deep nesting is refused before the stack is at risk */
    n = 1000000;
    b = malloc(n + 8);
    b[0] = '{';
    b[1] = '"';
    b[2] = 'x';
    b[3] = '"';
    b[4] = ':';
    memset(b + 5, '[', n);
    b[n + 5] = '\0';
    is_str(got(b), "!too_deep", "a million [ refused");
    free(b);
}


static int
unhex(const char *s, size_t n, uint8_t *out)
{
    size_t  i;
    int     hi, lo;

    for (i = 0; i < n / 2; i++) {
        hi = s[2 * i];
        lo = s[2 * i + 1];
        hi = hi <= '9' ? hi - '0' : (hi | 0x20) - 'a' + 10;
        lo = lo <= '9' ? lo - '0' : (lo | 0x20) - 'a' + 10;

        if (hi < 0 || hi > 15 || lo < 0 || lo > 15) {
            return -1;
        }

        out[i] = (uint8_t) (hi << 4 | lo);
    }

    return 0;
}


static void
test_vectors(void)
{
    unsigned char     *file, *line, *next, *tab1, *tab2;
    size_t             flen, blen, tlen, count = 0, nok = 0, bad = 0;
    size_t             want_ok = 0, checked = 0;
    uint8_t           *body, hash[32], want[32];
    char              *text, err[200], *wcanon;
    attest_req_err_t   rc;
    char               refusals[512] = "";

    file = tap_vector_file("reqhash.txt", &flen);
    if (file == NULL) {
        return;
    }

    for (line = file; line < file + flen; line = next + 1) {
        next = (unsigned char *) strchr((char *) line, '\n');
        if (next == NULL) {
            break;
        }

        *next = '\0';
        tab1 = (unsigned char *) strchr((char *) line, '\t');
        tab2 = tab1 ? (unsigned char *) strchr((char *) tab1 + 1, '\t')
                    : NULL;

        if (tab2 == NULL) {
            ok(0, "vector %zu: malformed line", count);
            break;
        }

        *tab1 = *tab2 = '\0';

        if (strncmp((char *) tab1 + 1, "ok:", 3) == 0) {
            want_ok++;
        }

        if (count > 200 && count % step) {
            count++;
            continue;
        }

        checked++;

        blen = (size_t) (tab1 - line) / 2;
        body = malloc(blen + 1);
        unhex((char *) line, blen * 2, body);

        /*
         * one piece, random pieces up to 4 KiB, or byte by byte; copied
         * in or written in place; one canonicalizer each or one reused
         */
        canon_how = (int) (count / 3 % 8);
        rc = canon(body, blen, count % 3 == 0 ? blen + 1
                               : count % 3 == 1 ? 4096 : 2,
                   hash, &text, &tlen, err, sizeof(err));

        if (strncmp((char *) tab1 + 1, "ok:", 3) == 0) {
            unhex((char *) tab1 + 4, 64, want);

            if (rc != ATTEST_REQ_OK || memcmp(hash, want, 32) != 0) {
                if (bad++ < 10) {
                    ok(0, "vector %zu: want the hash, got %s (%s)", count,
                       attest_reqhash_errname(rc), err);
                    wcanon = (char *) tab2 + 1;
                    tap_diag("  body  %.300s", (char *) line);
                    tap_diag("  want  %.600s", wcanon);
                    if (text) {
                        size_t  k;
                        printf("# got   ");
                        for (k = 0; k < tlen && k < 300; k++) {
                            printf("%02x", (unsigned char) text[k]);
                        }
                        printf("\n");
                    }
                }

            } else {
                nok++;
            }

        } else {
            const char  *code = (char *) tab1 + 8;

            if (rc == ATTEST_REQ_OK
                || strcmp(attest_reqhash_errname(rc), code) != 0)
            {
                if (bad++ < 10) {
                    ok(0, "vector %zu: want refusal %s, got %s (%s)", count,
                       code, attest_reqhash_errname(rc), err);
                    tap_diag("  body  %.300s", (char *) line);
                }

            } else if (strstr(refusals, code) == NULL
                       && strlen(refusals) + strlen(code) + 2
                          < sizeof(refusals))
            {
                strcat(refusals, " ");
                strcat(refusals, code);
            }
        }

        free(text);
        free(body);
        count++;
    }

    canon_how = 0;
    attest_reqhash_free(canon_shared);
    canon_shared = NULL;

    ok(bad == 0, "%zu of %zu vectors checked (%zu hashes, %zu refusals), "
       "%zu wrong", checked, count, nok, checked - nok, bad);
    ok(want_ok >= 10000, "%zu vectors with a hash (at least 10000)",
       want_ok);
    tap_diag("refusals seen:%s", refusals);

    free(file);
}


static void
test_floats(void)
{
    unsigned char  *file, *line, *next, *tab;
    size_t          flen, count = 0, bad = 0, n;
    uint8_t         b[8];
    uint64_t        bits;
    double          x;
    char            buf[40];

    file = tap_vector_file("reqhash_floats.txt", &flen);
    if (file == NULL) {
        return;
    }

    for (line = file; line < file + flen; line = next + 1) {
        next = (unsigned char *) strchr((char *) line, '\n');
        if (next == NULL) {
            break;
        }

        *next = '\0';

        if (count++ % step) {
            continue;
        }

        tab = (unsigned char *) strchr((char *) line, '\t');
        if (tab == NULL || unhex((char *) line, 16, b) != 0) {
            ok(0, "float vector %zu: malformed", count);
            break;
        }

        bits = 0;
        for (n = 0; n < 8; n++) {
            bits = bits << 8 | b[n];
        }

        memcpy(&x, &bits, 8);
        attest_reqhash_float_repr(x, buf);

        if (strcmp(buf, (char *) tab + 1) != 0 && bad++ < 10) {
            ok(0, "repr of %016llx: got %s, want %s",
               (unsigned long long) bits, buf, (char *) tab + 1);
        }
    }

    ok(bad == 0 && count > 30000, "%zu doubles printed as Python's repr, "
       "%zu wrong", count, bad);

    free(file);
}


int
main(void)
{
    if (RUNNING_ON_VALGRIND) {
        step = 8;
    }

    test_rules();
    test_utf8_first();
    test_api();
    test_depth();
    test_floats();
    test_vectors();

    return tap_done();
}
