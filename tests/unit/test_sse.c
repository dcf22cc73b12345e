/*
 * attest_sse against Python: every stream of gen_sse.py is what the agent
 * sends, with the hash the agent signs (computed by t/upstream/iohash.py
 * over vLLM's stream) and the signature event's JSON.  Each stream is fed
 * whole, cut in two at every byte, cut in three at random and byte by
 * byte; every way must give the same hash, signature and line counts, the
 * lines must add up to the input, and only the partial line may be kept.
 * Hand tests pin the line rules against literal compact strings.
 */

#include <stdint.h>
#include <string.h>

#include <openssl/evp.h>

#include "tap.h"
#include "attest_codec.h"
#include "attest_sse.h"
#include "../fuzz/sse_ref.h"


#define MAX_LINE  65536

typedef struct {
    const char  *name;
    uint8_t     *wire;
    size_t       len;
    size_t       longest;
    uint8_t      hash[32];
    uint8_t     *sig;        /* NULL: unsigned stream */
    size_t       sig_len;
    long         n_data;
    long         n_done;
    long         n_sig;
} vec_t;

typedef struct {
    uint8_t      hash[32];
    int          sig_ok;     /* signature as expected */
    long         count[ATTEST_SSE_ERROR + 1];
    int          framing_ok; /* lines add up to the input, zero-copy */
    size_t       max_pending;
} run_t;


static uint64_t  rng_state = 0x2545f4914f6cdd1dULL;


static uint64_t
rng_next(void)
{
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


static const char *
hex32(const uint8_t *h)
{
    static char  buf[65];

    attest_hex_encode(h, 32, buf);

    return buf;
}


/*
 * Feeds v->wire cut at the ncut offsets in cuts (ascending); ncut < 0
 * feeds byte by byte.
 */

static void
run(const vec_t *v, const size_t *cuts, int ncut, run_t *r)
{
    int                 k;
    size_t              start, stop, off, n, pend, done;
    attest_sse_t       *s;
    const uint8_t      *sig;
    attest_sse_line_t   line;

    memset(r, 0, sizeof(run_t));
    r->framing_ok = 1;

    s = attest_sse_new(MAX_LINE);
    if (s == NULL) {
        r->framing_ok = 0;
        return;
    }

    done = 0;    /* bytes of the input that lines have given back */
    start = 0;

    for (k = 0; start < v->len; k++) {
        if (ncut < 0) {
            stop = start + 1;

        } else {
            stop = k < ncut ? cuts[k] : v->len;
        }

        for (off = start; off < stop; off += n) {
            pend = attest_sse_pending(s);
            n = attest_sse_feed(s, v->wire + off, stop - off, &line);

            if (n == 0 || n > stop - off) {
                r->framing_ok = 0;
                break;
            }

            r->count[line.type]++;

            if (line.type == ATTEST_SSE_NONE) {
                if (n != stop - off || line.data != NULL) {
                    r->framing_ok = 0;
                }

            } else if (line.len == 0 || line.len > v->len - done
                       || line.len != pend + n
                       || line.data[line.len - 1] != '\n'
                       || memcmp(line.data, v->wire + done, line.len) != 0
                       || (pend == 0 && line.data != v->wire + off))
            {
                r->framing_ok = 0;

            } else {
                done += line.len;
            }

            if (attest_sse_pending(s) > r->max_pending) {
                r->max_pending = attest_sse_pending(s);
            }
        }

        start = stop;
    }

    if (done != v->len || attest_sse_pending(s) != 0) {
        r->framing_ok = 0;
    }

    attest_sse_hash(s, r->hash);

    sig = attest_sse_signature(s, &n);

    if (v->sig == NULL) {
        r->sig_ok = (sig == NULL);

    } else {
        r->sig_ok = (sig != NULL && n == v->sig_len
                     && memcmp(sig, v->sig, n) == 0);
    }

    attest_sse_free(s);
}


static int
run_good(const vec_t *v, const run_t *r)
{
    return memcmp(r->hash, v->hash, 32) == 0
           && r->sig_ok
           && r->framing_ok
           && r->max_pending < v->longest
           && r->count[ATTEST_SSE_DATA] == v->n_data
           && r->count[ATTEST_SSE_DONE] == v->n_done
           && r->count[ATTEST_SSE_SIG_EVENT] == v->n_sig
           && r->count[ATTEST_SSE_SIG_DATA] == v->n_sig
           && r->count[ATTEST_SSE_ERROR] == 0;
}


static void
test_stream(const vec_t *v)
{
    int      bad_hash, bad_sig, bad_count, bad_frame, bad_pend;
    size_t   i, cuts[2];
    run_t    r;

    run(v, NULL, 0, &r);

    is_str(hex32(r.hash), hex32(v->hash), "%s: hash in one piece", v->name);
    ok(r.sig_ok, "%s: signature JSON %s", v->name,
       v->sig ? "kept" : "absent");
    is_int(r.count[ATTEST_SSE_DATA], v->n_data, "%s: data lines", v->name);
    is_int(r.count[ATTEST_SSE_DONE], v->n_done, "%s: [DONE] reported",
           v->name);
    is_int(r.count[ATTEST_SSE_SIG_EVENT], v->n_sig, "%s: signature event",
           v->name);
    ok(r.framing_ok, "%s: lines add up to the input", v->name);

    bad_hash = 0;
    bad_sig = 0;
    bad_count = 0;
    bad_frame = 0;
    bad_pend = 0;

    for (i = 0; i <= v->len; i++) {
        cuts[0] = i;
        run(v, cuts, 1, &r);

        bad_hash += memcmp(r.hash, v->hash, 32) != 0;
        bad_sig += !r.sig_ok;
        bad_count += r.count[ATTEST_SSE_DATA] != v->n_data
                     || r.count[ATTEST_SSE_DONE] != v->n_done
                     || r.count[ATTEST_SSE_SIG_EVENT] != v->n_sig
                     || r.count[ATTEST_SSE_SIG_DATA] != v->n_sig
                     || r.count[ATTEST_SSE_ERROR] != 0;
        bad_frame += !r.framing_ok;
        bad_pend += r.max_pending >= v->longest;
    }

    is_int(bad_hash, 0, "%s: hash at every 2-way cut (%zu)", v->name,
           v->len + 1);
    is_int(bad_sig, 0, "%s: signature at every 2-way cut", v->name);
    is_int(bad_count, 0, "%s: line kinds at every 2-way cut", v->name);
    is_int(bad_frame, 0, "%s: lines add up, zero-copy, every 2-way cut",
           v->name);
    is_int(bad_pend, 0, "%s: pending below the longest line (%zu)", v->name,
           v->longest);

    bad_hash = 0;

    for (i = 0; i < 200; i++) {
        cuts[0] = (size_t) (rng_next() % (v->len + 1));
        cuts[1] = (size_t) (rng_next() % (v->len + 1));

        if (cuts[0] > cuts[1]) {
            cuts[0] ^= cuts[1];
            cuts[1] ^= cuts[0];
            cuts[0] ^= cuts[1];
        }

        run(v, cuts, 2, &r);
        bad_hash += !run_good(v, &r);
    }

    is_int(bad_hash, 0, "%s: 200 random 3-way cuts", v->name);

    run(v, NULL, -1, &r);
    ok(run_good(v, &r), "%s: byte by byte", v->name);
}


static int
parse_hex(const char *hex, size_t hlen, uint8_t **out, size_t *len)
{
    *len = hlen / 2;
    *out = malloc(*len + 1);

    if (*out == NULL || attest_hex_decode(hex, hlen, *out) != 0) {
        free(*out);
        *out = NULL;
        return -1;
    }

    return 0;
}


static void
test_vectors(void)
{
    char           *line, *end, *f[7];
    size_t          len, i, cur, nvec;
    vec_t           v;
    unsigned char  *file;
    char            path[512];

    snprintf(path, sizeof(path), "%s/sse.txt", tap_vectors());

    file = tap_slurp(path, &len);
    if (!ok(file != NULL, "read %s (make vectors)", path)) {
        return;
    }

    nvec = 0;

    for (line = (char *) file; *line; line = end + 1) {
        end = strchr(line, '\n');
        if (end == NULL) {
            break;
        }

        *end = '\0';

        f[0] = line;
        for (i = 1; i < 7; i++) {
            f[i] = f[i - 1] ? strchr(f[i - 1], '\t') : NULL;
            if (f[i]) {
                *f[i]++ = '\0';
            }
        }

        memset(&v, 0, sizeof(vec_t));

        if (f[6] == NULL
            || parse_hex(f[1], strlen(f[1]), &v.wire, &v.len) != 0
            || strlen(f[2]) != 64
            || attest_hex_decode(f[2], 64, v.hash) != 0
            || (strcmp(f[3], "-") != 0
                && parse_hex(f[3], strlen(f[3]), &v.sig, &v.sig_len) != 0))
        {
            ok(0, "vector %zu parses", nvec);
            free(v.wire);
            break;
        }

        v.name = f[0];
        v.n_data = atol(f[4]);
        v.n_done = atol(f[5]);
        v.n_sig = atol(f[6]);

        for (i = 0, cur = 0; i < v.len; i++) {
            cur++;
            if (v.wire[i] == '\n') {
                v.longest = cur > v.longest ? cur : v.longest;
                cur = 0;
            }
        }

        test_stream(&v);

        free(v.wire);
        free(v.sig);
        nvec++;
    }

    ok(nvec >= 10, "%zu streams", nvec);

    free(file);
}


/* feeds len bytes in one call after another; the kind of the last line */
static attest_sse_line_e
feed_buf(attest_sse_t *s, const char *p, size_t len)
{
    size_t              off, n;
    attest_sse_line_t   line;
    attest_sse_line_e   last;

    last = ATTEST_SSE_NONE;

    for (off = 0; off < len; off += n) {
        n = attest_sse_feed(s, (const uint8_t *) p + off, len - off, &line);
        last = line.type;

        if (n == 0) {
            break;
        }
    }

    return last;
}


static attest_sse_line_e
feed_str(attest_sse_t *s, const char *str)
{
    return feed_buf(s, str, strlen(str));
}


static int
hash_is(attest_sse_t *s, const char *compact, size_t len)
{
    uint8_t  got[32], want[32];

    attest_sse_hash(s, got);
    sha256(compact, len, want);

    return memcmp(got, want, 32) == 0;
}


static void
test_kinds(void)
{
    size_t         i, n;
    attest_sse_t  *s;

    static const struct {
        const char         *line;
        attest_sse_line_e   type;
        const char         *what;
    } lines[] = {
        { "data: x\n", ATTEST_SSE_DATA,
          "data" },
        { "data: [DONE]\n", ATTEST_SSE_DONE,
          "[DONE]" },
        { "data: [DONE]\r\n", ATTEST_SSE_DONE,
          "[DONE] CRLF" },
        { "data:x\n", ATTEST_SSE_OTHER,
          "data without the space" },
        { "data\n", ATTEST_SSE_OTHER,
          "bare data field" },
        { ": comment\n", ATTEST_SSE_COMMENT,
          "comment" },
        { "id: 1\n", ATTEST_SSE_OTHER,
          "id field" },
        { "\n", ATTEST_SSE_BLANK,
          "blank" },
        { "\r\n", ATTEST_SSE_BLANK,
          "blank CRLF" },
        { "event: signature\n", ATTEST_SSE_SIG_EVENT,
          "signature event" },
        { "id: 2\n", ATTEST_SSE_OTHER,
          "id in the signature event" },
        { "data: {\"s\": 1}\r\n", ATTEST_SSE_SIG_DATA,
          "signature data" },
        { "\n", ATTEST_SSE_BLANK,
          "blank" },
        { "data: y\r\n", ATTEST_SSE_DATA,
          "data CRLF" },
        { "\r\n", ATTEST_SSE_BLANK,
          "blank CRLF" },
        { "event:signature\r\n", ATTEST_SSE_SIG_EVENT,
          "signature event, no space, CRLF" },
        { "event: message\n", ATTEST_SSE_OTHER,
          "other event" },
        { "data: z\n", ATTEST_SSE_DATA,
          "data after another event" },
        { "\n", ATTEST_SSE_BLANK,
          "blank" },
        { "event: signatures\n", ATTEST_SSE_OTHER,
          "event \"signatures\"" },
        { "data: \n", ATTEST_SSE_DATA,
          "empty data" },
        { "\n", ATTEST_SSE_BLANK,
          "blank" },
    };

    static const char  compact[] = "{\"chunks\":[\"x\",\"y\\r\",\"z\",\"\"]}";

    s = attest_sse_new(1024);
    if (!ok(s != NULL, "new")) {
        return;
    }

    for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        is_int(feed_str(s, lines[i].line), lines[i].type, "line %zu: %s", i,
               lines[i].what);
    }

    ok(hash_is(s, compact, sizeof(compact) - 1),
       "hashed: data lines outside the signature event, \"\\r\" kept");
    ok(attest_sse_signature(s, &n) != NULL && n == 8
       && memcmp(attest_sse_signature(s, &n), "{\"s\": 1}", 8) == 0,
       "signature without \"data: \" and \"\\r\\n\"");
    ok(attest_sse_signature(s, NULL) != NULL, "len may be NULL");

    attest_sse_free(s);
}


static void
test_hash(void)
{
    size_t              n;
    uint8_t             a[32], b[32];
    attest_sse_t       *s;
    attest_sse_line_t   line;

    static const char  empty[] = "{\"chunks\":[]}";
    static const char  one[] = "{\"chunks\":[\"a\"]}";
    static const char  esc[] =
        "{\"chunks\":[\"\\u00e9\\ud83d\\ude00\\u007f\\u0000\\u001f"
        "\\b\\f\\t\\\"\\\\/~\\u4e2d\\uffff\\udbff\\udfff\"]}";
    static const char  in[] =
        "data: \xc3\xa9\xf0\x9f\x98\x80\x7f\x00\x1f"
        "\b\f\t\"\\/~\xe4\xb8\xad\xef\xbf\xbf\xf4\x8f\xbf\xbf\n";
    static const char  alias[] = "{\"chunks\":[\"\\u00e9\"]}";
    static const char  raw[] =
        "{\"chunks\":[\"\xe9|\xc0\xaf|\xed\xa0\x80|\xf4\x90\x80\x80|"
        "\xc3|\\u00e9\xf0\x9f\x98\"]}";

    s = attest_sse_new(1024);
    if (!ok(s != NULL, "new")) {
        return;
    }

    ok(attest_sse_signature(s, &n) == NULL && n == 0, "no signature yet");
    ok(hash_is(s, empty, sizeof(empty) - 1), "no chunks: {\"chunks\":[]}");

    is_int(attest_sse_feed(s, NULL, 0, &line), 0, "empty feed consumes 0");
    is_int(line.type, ATTEST_SSE_NONE, "empty feed: no line");

    is_int(feed_str(s, "data: a\n"), ATTEST_SSE_DATA, "one chunk");
    attest_sse_hash(s, a);
    attest_sse_hash(s, b);
    ok(memcmp(a, b, 32) == 0 && hash_is(s, one, sizeof(one) - 1),
       "the hash can be taken twice");

    is_int(feed_str(s, "data: b"), ATTEST_SSE_NONE, "partial line: none");
    is_int(attest_sse_pending(s), 7, "partial line kept");
    ok(hash_is(s, one, sizeof(one) - 1), "a partial line is not hashed");

    attest_sse_free(s);

    s = attest_sse_new(1024);
    if (s == NULL) {
        return;
    }

    feed_buf(s, in, sizeof(in) - 1);
    ok(hash_is(s, esc, sizeof(esc) - 1),
       "escaped as json.dumps does (lowercase, surrogate pairs, 0x7f)");
    attest_sse_free(s);

    s = attest_sse_new(1024);
    if (s == NULL) {
        return;
    }

    /* latin-1 byte, overlong, surrogate, above U+10FFFF, truncated */
    feed_str(s, "data: \xe9|\xc0\xaf|\xed\xa0\x80|\xf4\x90\x80\x80|"
             "\xc3|\xc3\xa9\xf0\x9f\x98\n");
    ok(hash_is(s, raw, sizeof(raw) - 1),
       "bytes that are not UTF-8 are hashed raw");
    attest_sse_free(s);

    s = attest_sse_new(1024);
    if (s == NULL) {
        return;
    }

    feed_str(s, "data: \xe9\n");
    ok(!hash_is(s, alias, sizeof(alias) - 1)
       && hash_is(s, "{\"chunks\":[\"\xe9\"]}", 16),
       "a raw 0xe9 does not alias \"\\u00e9\"");
    attest_sse_free(s);
}


/*
 * Random payloads of what an escape meets (plain ASCII runs, '"', '\\',
 * control bytes, 0x7f, UTF-8 of every length, broken UTF-8, surrogates,
 * "\r"), many lines a stream so that the staged output crosses its
 * flushes at every offset, against the reference byte loop (sse_ref.h):
 * the span scan must hash exactly the same bytes.
 */
static void
test_escape_random(void)
{
    int             bad;
    size_t          i, k, len, n, lines, total, pos;
    uint8_t        *pay, *wire, *ref, a[32], b[32];
    attest_sse_t   *s;
    EVP_MD_CTX     *md;
    unsigned int    dl;

    static const char  *pieces[] = {
        "a", "plain text run of some length ", "\"", "\\", "\t", "\b",
        "\f", "\x01", "\x1f", "\x7f", "~", " ", "\xc3\xa9",
        "\xe4\xb8\xad", "\xf0\x9f\x98\x80", "\xf4\x8f\xbf\xbf",
        "\xe9", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80",
        "\xc3", "\xf0\x9f\x98", "\r", "\x80", "\xff",
        "{\"id\":\"chatcmpl-1\",\"delta\":{\"content\":\"x\"}}",
        "0123456789abcdef0123456789abcdef"
    };

    pay = malloc(4096);
    wire = malloc(1 << 20);
    ref = malloc(SSE_REF_MAX(4096) + 1);
    md = EVP_MD_CTX_new();

    if (!ok(pay && wire && ref && md, "escape: memory")) {
        goto done;
    }

    bad = 0;
    total = 0;

    for (k = 0; k < 60; k++) {
        s = attest_sse_new(8192);
        EVP_DigestInit_ex(md, EVP_sha256(), NULL);
        EVP_DigestUpdate(md, "{\"chunks\":[", 11);

        pos = 0;
        lines = 1 + rng_next() % 80;

        for (i = 0; i < lines; i++) {
            /* up to 4000 bytes, short ones more often */
            n = rng_next() % ((rng_next() % 4) ? 300 : 4000);
            len = 0;

            while (len < n) {
                const char  *pc = pieces[rng_next() % (sizeof(pieces)
                                                  / sizeof(pieces[0]))];
                size_t       pl = strlen(pc);

                /* "\x00" cannot be in a C string literal */
                if (rng_next() % 40 == 0) {
                    pc = "\0";
                    pl = 1;
                }

                if (len + pl > 4000) {
                    break;
                }

                memcpy(pay + len, pc, pl);
                len += pl;
            }

            memcpy(wire + pos, "data: ", 6);
            memcpy(wire + pos + 6, pay, len);
            wire[pos + 6 + len] = '\n';
            pos += len + 7;

            n = 0;
            if (i) {
                ref[n++] = ',';
            }

            n += sse_ref_escape(pay, len, ref + n);
            EVP_DigestUpdate(md, ref, n);
            total += len;
        }

        EVP_DigestUpdate(md, "]}", 2);
        EVP_DigestFinal_ex(md, b, &dl);

        if (s == NULL) {
            bad++;
            continue;
        }

        feed_buf(s, (const char *) wire, pos);
        attest_sse_hash(s, a);

        if (memcmp(a, b, 32) != 0) {
            bad++;
        }

        attest_sse_free(s);
    }

    ok(bad == 0, "escape: 60 random streams (%zu payload bytes) hash as "
       "the reference byte loop does", total);

done:

    free(pay);
    free(wire);
    free(ref);
    EVP_MD_CTX_free(md);
}


static void
test_limits(void)
{
    size_t              n;
    char               *big;
    attest_sse_t       *s;
    attest_sse_line_t   line;
    char                l64[65];

    /* a line of 64 bytes with its "\n" fits max_line 64; 65 does not */
    memset(l64, 'x', 64);
    memcpy(l64, "data: ", 6);
    l64[63] = '\n';
    l64[64] = '\0';

    s = attest_sse_new(64);
    if (!ok(s != NULL, "new")) {
        return;
    }

    is_int(feed_str(s, l64), ATTEST_SSE_DATA, "64-byte line fits 64");
    is_int(feed_str(s, "data: 1234"), ATTEST_SSE_NONE, "partial");
    is_int(feed_str(s, l64 + 10), ATTEST_SSE_DATA,
           "10 + 54 bytes in two pieces fit");
    is_int(feed_str(s, "data: 1234"), ATTEST_SSE_NONE, "partial");
    is_int(feed_str(s, l64 + 9), ATTEST_SSE_ERROR,
           "10 + 55 bytes in two pieces: error");
    n = attest_sse_feed(s, (const uint8_t *) "\n", 1, &line);
    ok(n == 1 && line.type == ATTEST_SSE_ERROR,
       "error is sticky and consumes the input");
    attest_sse_free(s);

    s = attest_sse_new(64);
    if (s == NULL) {
        return;
    }

    l64[63] = 'x';
    n = attest_sse_feed(s, (const uint8_t *) l64, 64, &line);
    ok(n == 64 && line.type == ATTEST_SSE_ERROR,
       "64 bytes and no newline yet: error at once");
    attest_sse_free(s);

    s = attest_sse_new(64);
    if (s == NULL) {
        return;
    }

    l64[63] = '\n';
    is_int(feed_str(s, "d"), ATTEST_SSE_NONE, "one byte pending");
    is_int(feed_str(s, l64), ATTEST_SSE_ERROR, "65-byte line: error");
    attest_sse_free(s);

    /* the signature: at most ATTEST_SSE_SIG_MAX bytes, exactly one */
    big = malloc(ATTEST_SSE_SIG_MAX + 64);
    if (big == NULL) {
        return;
    }

    s = attest_sse_new(2 * ATTEST_SSE_SIG_MAX);
    if (s == NULL) {
        free(big);
        return;
    }

    memcpy(big, "data: ", 6);
    memset(big + 6, 's', ATTEST_SSE_SIG_MAX);
    memcpy(big + 6 + ATTEST_SSE_SIG_MAX, "\n", 2);

    feed_str(s, "event: signature\n");
    is_int(feed_str(s, big), ATTEST_SSE_SIG_DATA, "largest signature");
    ok(attest_sse_signature(s, &n) != NULL && n == ATTEST_SSE_SIG_MAX,
       "kept");
    feed_str(s, "\nevent: signature\ndata: {}\n\n");
    ok(attest_sse_signature(s, &n) == NULL,
       "a second signature makes it malformed");
    attest_sse_free(s);

    s = attest_sse_new(2 * ATTEST_SSE_SIG_MAX);
    if (s == NULL) {
        free(big);
        return;
    }

    memcpy(big + 6 + ATTEST_SSE_SIG_MAX, "s\n", 3);
    feed_str(s, "event: signature\n");
    is_int(feed_str(s, big), ATTEST_SSE_SIG_DATA, "oversized signature");
    ok(attest_sse_signature(s, &n) == NULL, "is not kept");
    attest_sse_free(s);

    s = attest_sse_new(1024);
    if (s != NULL) {
        feed_str(s, "event: signature\ndata: {}\ndata: {}\n\n");
        ok(attest_sse_signature(s, &n) == NULL,
           "two data lines in the signature event: malformed");
        attest_sse_free(s);
    }

    free(big);
}


/* a stream fed whole, then its verdict and the detail's first words */
static attest_reason_t
finish_of(const char *stream, const char **detail)
{
    static attest_err_t  err;
    uint8_t              addr[20];
    attest_sse_t        *s;
    attest_reason_t      rc;
    attest_signer_t      signer;

    memset(addr, 0x11, sizeof(addr));
    signer.address = addr;
    signer.find = NULL;
    signer.image_digest = NULL;
    signer.image_digest_len = 0;

    s = attest_sse_new(MAX_LINE);
    if (s == NULL) {
        return ATTEST_OK;
    }

    feed_str(s, stream);

    attest_err_clear(&err);
    rc = attest_sse_finish(s, &signer, &err);

    /* a second call gives the same verdict */
    if (attest_sse_finish(s, &signer, &err) != rc) {
        rc = ATTEST_OK;
    }

    attest_sse_free(s);

    *detail = err.detail;

    return rc;
}


static void
test_finish(void)
{
    size_t         i;
    char          *big;
    const char    *detail;
    attest_sse_t  *s;

    static const struct {
        const char       *stream;
        attest_reason_t   reason;
        const char       *detail;
        const char       *what;
    } cases[] = {
        { "data: {}\n\ndata: [DONE]\n\n", ATTEST_STREAM_UNSIGNED,
          "no signature event", "none" },
        { "data: {}\n\n", ATTEST_STREAM_UNSIGNED,
          "no signature event", "none, without [DONE] either" },
        { "data: {}\n\ndata: {\"x", ATTEST_STREAM_TRUNCATED,
          "stream ended inside a line", "none, cut inside a line" },
        { "event: signature\ndata: {}\ndata: {}\n\ndata: [DONE]\n\n",
          ATTEST_SIGNATURE_MALFORMED, "signature event repeated",
          "repeated: two data lines" },
        { "event: signature\ndata: {}\n\nevent: signature\ndata: {}\n\n"
          "data: [DONE]\n\n", ATTEST_SIGNATURE_MALFORMED,
          "signature event repeated", "repeated: two events" },
        { "event: signature\ndata: {}\n\ndata: {\"x",
          ATTEST_SIGNATURE_MISSING, "no text",
          "seen but its fields missing: the signature's failure, not the cut" },
        { "event: signature\ndata: not json\n\ndata: [DONE]\n\n",
          ATTEST_SIGNATURE_MALFORMED, "", "seen: its JSON is checked" },
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        is_int(finish_of(cases[i].stream, &detail), cases[i].reason,
               "finish: %s", cases[i].what);

        ok(strncmp(detail, cases[i].detail, strlen(cases[i].detail)) == 0,
           "finish: %s: detail \"%s\"", cases[i].what, detail);
    }

    /* oversize: a signature data line over ATTEST_SSE_SIG_MAX bytes */
    big = malloc(ATTEST_SSE_SIG_MAX + 64);
    if (!ok(big != NULL, "finish: memory for an oversize signature")) {
        return;
    }

    strcpy(big, "event: signature\ndata: ");
    memset(big + strlen(big), 'x', ATTEST_SSE_SIG_MAX + 1);
    strcpy(big + strlen("event: signature\ndata: ") + ATTEST_SSE_SIG_MAX + 1,
           "\n\ndata: [DONE]\n\n");

    is_int(finish_of(big, &detail), ATTEST_SIGNATURE_MALFORMED,
           "finish: oversize");
    ok(strstr(detail, "over 8192 bytes") != NULL,
       "finish: oversize: detail \"%s\"", detail);

    free(big);

    /* [DONE] and the signature event's lines, as the proxy sees them */
    s = attest_sse_new(MAX_LINE);
    if (!ok(s != NULL, "finish: new")) {
        return;
    }

    ok(!attest_sse_done(s), "done: not before [DONE]");
    feed_str(s, "data: {}\n\n");
    ok(!attest_sse_done(s), "done: not after data");
    feed_str(s, "data: [DONE]\n");
    ok(attest_sse_done(s), "done: after [DONE]");

    attest_sse_free(s);

    s = attest_sse_new(MAX_LINE);
    if (!ok(s != NULL, "in_sig: new")) {
        return;
    }

    {
        static const struct {
            const char  *line;
            unsigned     in_sig;
        } seq[] = {
            { "data: {}\n", 0 },
            { "\n", 0 },
            { "event: signature\n", 1 },
            { "event: other\n", 1 },
            { "data: {}\n", 1 },
            { "\n", 1 },
            { "data: {}\n", 0 },
            { "\n", 0 },
        };

        attest_sse_line_t  line;

        for (i = 0; i < sizeof(seq) / sizeof(seq[0]); i++) {
            attest_sse_feed(s, (const uint8_t *) seq[i].line,
                            strlen(seq[i].line), &line);
            is_int(line.in_sig, seq[i].in_sig, "in_sig: line %zu", i);
        }
    }

    attest_sse_free(s);
}


/* what an SSE client reads otherwise: line->reason, line->spoof */
static void
test_strict(void)
{
    size_t              i, j, len;
    attest_sse_t       *s;
    attest_sse_line_t   line;

    static const struct {
        const char         *in;
        attest_sse_line_e   type;
        attest_reason_t     reason;
        unsigned            spoof;
        const char         *what;
    } seq[] = {
        { "\xef\xbb\xbf" "data: x\n", ATTEST_SSE_OTHER, ATTEST_STREAM_BOM, 0,
          "a BOM starts the stream" },
        { "\xef\xbb\xbf" "data: x\n", ATTEST_SSE_OTHER, ATTEST_STREAM_FIELD,
          0, "a BOM later is part of a field name" },
        { "\n", ATTEST_SSE_BLANK, ATTEST_OK, 0, "blank" },
        { ": x\rdata: y\n", ATTEST_SSE_COMMENT, ATTEST_STREAM_BARE_CR, 0,
          "a bare CR in a comment" },
        { "data: a\rb\r\n", ATTEST_SSE_DATA, ATTEST_STREAM_BARE_CR, 0,
          "a bare CR in data, before CRLF" },
        { "\r\r\n", ATTEST_SSE_OTHER, ATTEST_STREAM_BARE_CR, 0,
          "CR CR LF: a blank line to a client, a CR to the agent" },
        { "\n", ATTEST_SSE_BLANK, ATTEST_OK, 0, "blank" },
        { "data: ok\r\n", ATTEST_SSE_DATA, ATTEST_OK, 0, "CRLF is fine" },
        { "\r\n", ATTEST_SSE_BLANK, ATTEST_OK, 0, "blank CRLF" },
        { ": attest status=verified\n", ATTEST_SSE_COMMENT, ATTEST_OK, 1,
          "a verdict comment" },
        { ":attest\n", ATTEST_SSE_COMMENT, ATTEST_OK, 1,
          "a verdict comment, no space" },
        { ":   attest x\n", ATTEST_SSE_COMMENT, ATTEST_OK, 1,
          "a verdict comment, spaces" },
        { ": attes\n", ATTEST_SSE_COMMENT, ATTEST_OK, 0,
          "another comment" },
        { "event: message\n", ATTEST_SSE_OTHER, ATTEST_STREAM_FIELD, 0,
          "another event type" },
        { "id: 7\n", ATTEST_SSE_OTHER, ATTEST_STREAM_FIELD, 0, "id" },
        { "retry: 1000\n", ATTEST_SSE_OTHER, ATTEST_STREAM_FIELD, 0,
          "retry" },
        { "foo: bar\n", ATTEST_SSE_OTHER, ATTEST_STREAM_FIELD, 0,
          "an unknown field" },
        { "foo\n", ATTEST_SSE_OTHER, ATTEST_STREAM_FIELD, 0,
          "a field without a colon" },
        { "data:x\n", ATTEST_SSE_OTHER, ATTEST_BODY_MISMATCH, 0,
          "data without the space" },
        { "data\n", ATTEST_SSE_OTHER, ATTEST_BODY_MISMATCH, 0,
          "a bare data field" },
        { "data: [DONE]x\n", ATTEST_SSE_OTHER, ATTEST_BODY_MISMATCH, 0,
          "data the agent skips as [DONE]" },
        { "\n", ATTEST_SSE_BLANK, ATTEST_OK, 0, "blank" },
        { "data: z\n", ATTEST_SSE_DATA, ATTEST_OK, 0, "data" },
        { "event: signature\n", ATTEST_SSE_OTHER, ATTEST_STREAM_FIELD, 0,
          "a signature event inside a data event" },
        { "\n", ATTEST_SSE_BLANK, ATTEST_OK, 0,
          "the blank after it: not in a signature event" },
        { ": c\n", ATTEST_SSE_COMMENT, ATTEST_OK, 0, "a comment" },
        { "event: signature\n", ATTEST_SSE_SIG_EVENT, ATTEST_OK, 0,
          "a signature event after a comment opens its event" },
        { "data: {}\n", ATTEST_SSE_SIG_DATA, ATTEST_OK, 0,
          "the signature" },
        { "\n", ATTEST_SSE_BLANK, ATTEST_OK, 0, "blank" },
        { "data: [DONE]\n", ATTEST_SSE_DONE, ATTEST_OK, 0, "[DONE]" },
    };

    static const unsigned  in_sig[] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                        0, 0, 1, 1, 1, 0 };

    s = attest_sse_new(1024);
    if (!ok(s != NULL, "strict: new")) {
        return;
    }

    for (i = 0; i < sizeof(seq) / sizeof(seq[0]); i++) {
        len = strlen(seq[i].in);
        j = attest_sse_feed(s, (const uint8_t *) seq[i].in, len, &line);

        ok(j == len && line.type == seq[i].type
           && line.reason == seq[i].reason && line.spoof == seq[i].spoof
           && line.in_sig == in_sig[i],
           "strict %zu: %s (type %d, %s, spoof %u, in_sig %u)", i,
           seq[i].what, line.type, attest_reason_name(line.reason),
           line.spoof, line.in_sig);
    }

    attest_sse_free(s);

    /* a BOM split across feeds is still the stream's start */
    s = attest_sse_new(1024);
    if (s == NULL) {
        return;
    }

    attest_sse_feed(s, (const uint8_t *) "\xef", 1, &line);
    attest_sse_feed(s, (const uint8_t *) "\xbb\xbf\n", 3, &line);
    is_int(line.reason, ATTEST_STREAM_BOM, "strict: a BOM split in two");

    attest_sse_free(s);
}


int
main(void)
{
    test_kinds();
    test_strict();
    test_hash();
    test_escape_random();
    test_limits();
    test_finish();
    test_vectors();

    return tap_done();
}
