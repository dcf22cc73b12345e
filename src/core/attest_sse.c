/*
 * Server-sent-events accumulator (PROTOCOL.md section 3).
 *
 * Lines are handled whole: a line is classified and, when it is a hashed
 * data line, escaped into the running SHA-256 as soon as its "\n" arrives.
 * A "\n" byte never occurs inside a UTF-8 sequence, so no decoder state
 * crosses lines or feed calls; only the partial line itself is kept.
 */

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

/* -DATTEST_SSE_PORTABLE builds (and tests) the table-only version */
#if defined(__SSE2__) && !defined(ATTEST_SSE_PORTABLE)
#define ATTEST_SSE_SSE2  1
#include <emmintrin.h>
#endif

#include "attest_sse.h"


/*
 * Speed (issue 16): a payload is escaped span by span, not byte by byte.
 * The bytes json.dumps copies as they are (0x20..0x7e but '"' and '\\')
 * are found 16 at a time (SSE2 compares; a table without SSE2) and
 * copied whole; only the bytes between spans take the escape rules.  The
 * escaped text of every line gathers in out[], across lines, so OpenSSL
 * sees few, large updates; runs too long for it go to OpenSSL straight
 * from the caller's buffer.
 */

#define ATTEST_SSE_BUF_MIN  1024

/* staged output; flushed once past ATTEST_SSE_OUT_LEN */
#define ATTEST_SSE_OUT_LEN     4096
/*
 * room past ATTEST_SSE_OUT_LEN: a block's output (64 quotes, 128 bytes),
 * a 16-byte copy's overrun, then a 12-byte escape
 */
#define ATTEST_SSE_OUT_SLACK   160
/* the bytes attest_sse_blocks() reads from where a block starts */
#define ATTEST_SSE_READ        80
/* a span this long goes to OpenSSL directly rather than through out[] */
#define ATTEST_SSE_DIRECT      256


struct attest_sse_s {
    EVP_MD_CTX  *md;         /* {"chunks":[ and the chunks so far */
    EVP_MD_CTX  *tmp;        /* the copy attest_sse_hash() finalizes */
    uint8_t     *buf;        /* the current partial line */
    size_t       pending;
    size_t       cap;
    size_t       max_line;
    uint8_t     *sig;
    size_t       sig_len;
    size_t       chunks;
    unsigned     started:1;    /* a line was seen: no BOM check after */
    unsigned     sig_event:1;  /* inside an "event: signature" event */
    unsigned     event_data:1; /* the current event has a data line */
    unsigned     sig_seen:1;
    unsigned     sig_block:1;  /* lines of a signature event, to blank */
    unsigned     sig_repeated:1;
    unsigned     sig_oversize:1; /* too long, or no memory to keep it */
    unsigned     done:1;       /* "data: [DONE]" seen */
    unsigned     failed:1;     /* overlong line or no memory: sticky */
    unsigned     md_failed:1;
    size_t       out_n;        /* escaped bytes waiting in out[] */
    uint8_t      out[ATTEST_SSE_OUT_LEN + ATTEST_SSE_OUT_SLACK];
};


/*
 * Per byte of a payload: 0 copied as it is, else its escape: the letter
 * after the backslash, 'u' for \u00XX, or 0x80 for a byte above 0x7f
 * (a UTF-8 sequence, or a raw byte)
 */
static uint8_t  attest_sse_esc[256];
static int      attest_sse_esc_ready;


static void
attest_sse_esc_init(void)
{
    size_t  c;

    for (c = 0; c < 256; c++) {
        attest_sse_esc[c] = (c < 0x20 || c == 0x7f) ? 'u'
                            : (c > 0x7f) ? 0x80 : 0;
    }

    attest_sse_esc['"'] = '"';
    attest_sse_esc['\\'] = '\\';
    attest_sse_esc['\n'] = 'n';
    attest_sse_esc['\r'] = 'r';
    attest_sse_esc['\t'] = 't';
    attest_sse_esc['\b'] = 'b';
    attest_sse_esc['\f'] = 'f';

    /* the same values every time: a race between threads is harmless */
    attest_sse_esc_ready = 1;
}


static void
attest_sse_md(attest_sse_t *s, const void *p, size_t len)
{
    if (len && EVP_DigestUpdate(s->md, p, len) != 1) {
        s->md_failed = 1;
    }
}


static void
attest_sse_flush(attest_sse_t *s)
{
    attest_sse_md(s, s->out, s->out_n);
    s->out_n = 0;
}


/* len bytes for the hash, through out[] */
static void
attest_sse_put(attest_sse_t *s, const void *p, size_t len)
{
    if (len >= ATTEST_SSE_DIRECT || s->out_n + len > ATTEST_SSE_OUT_LEN) {
        attest_sse_flush(s);

        if (len >= ATTEST_SSE_DIRECT) {
            attest_sse_md(s, p, len);
            return;
        }
    }

    memcpy(s->out + s->out_n, p, len);
    s->out_n += len;
}


attest_sse_t *
attest_sse_new(size_t max_line)
{
    attest_sse_t  *s;

    s = calloc(1, sizeof(attest_sse_t));
    if (s == NULL) {
        return NULL;
    }

    if (!attest_sse_esc_ready) {
        attest_sse_esc_init();
    }

    s->max_line = max_line;
    s->md = EVP_MD_CTX_new();
    s->tmp = EVP_MD_CTX_new();

    if (s->md == NULL || s->tmp == NULL
        || EVP_DigestInit_ex(s->md, EVP_sha256(), NULL) != 1)
    {
        attest_sse_free(s);
        return NULL;
    }

    attest_sse_put(s, "{\"chunks\":[", 11);

    return s;
}


void
attest_sse_free(attest_sse_t *s)
{
    if (s == NULL) {
        return;
    }

    EVP_MD_CTX_free(s->md);
    EVP_MD_CTX_free(s->tmp);
    free(s->buf);
    free(s->sig);
    free(s);
}


/*
 * Length of the well-formed UTF-8 sequence at p and its code point, or 0.
 * As strict as Python's decoder: no overlong forms, no surrogates, nothing
 * above U+10FFFF.
 */

static size_t
attest_sse_utf8(const uint8_t *p, size_t len, uint32_t *cp)
{
    size_t    n, i;
    uint8_t   c, lo, hi;
    uint32_t  v;

    c = p[0];
    lo = 0x80;
    hi = 0xbf;

    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        v = c & 0x1f;

    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        v = c & 0x0f;
        lo = (c == 0xe0) ? 0xa0 : lo;
        hi = (c == 0xed) ? 0x9f : hi;

    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        v = c & 0x07;
        lo = (c == 0xf0) ? 0x90 : lo;
        hi = (c == 0xf4) ? 0x8f : hi;

    } else {
        return 0;
    }

    if (len < n) {
        return 0;
    }

    for (i = 1; i < n; i++) {
        if (p[i] < lo || p[i] > hi) {
            return 0;
        }

        v = v << 6 | (p[i] & 0x3f);
        lo = 0x80;
        hi = 0xbf;
    }

    *cp = v;

    return n;
}


static size_t
attest_sse_u16(uint8_t *out, uint32_t u)
{
    static const char  digits[] = "0123456789abcdef";

    /* lowercase, as Python writes them */
    out[0] = '\\';
    out[1] = 'u';
    out[2] = digits[u >> 12 & 0xf];
    out[3] = digits[u >> 8 & 0xf];
    out[4] = digits[u >> 4 & 0xf];
    out[5] = digits[u & 0xf];

    return 6;
}


/*
 * The escape of the byte (or the UTF-8 sequence) at p, which is not one
 * to copy as it is, into out + *o (12 bytes at most); returns the bytes
 * of p it took.  Bytes that are not UTF-8 go in raw: the agent could not
 * have decoded them, and since Python's output is pure ASCII a raw byte
 * above 0x7f makes a match impossible instead of aliasing a "\u00XX".
 */

static size_t
attest_sse_escape(const uint8_t *p, size_t len, uint8_t *out, size_t *o)
{
    size_t    n, k;
    uint8_t   c, e;
    uint32_t  cp;

    c = p[0];
    e = attest_sse_esc[c];
    k = *o;
    n = 1;

    if (e == 'u') {
        k += attest_sse_u16(out + k, c);

    } else if (e != 0x80) {
        out[k++] = '\\';
        out[k++] = e;

    } else {
        n = attest_sse_utf8(p, len, &cp);

        if (n == 0) {
            n = 1;
            out[k++] = c;

        } else if (cp < 0x10000) {
            k += attest_sse_u16(out + k, cp);

        } else {
            cp -= 0x10000;
            k += attest_sse_u16(out + k, 0xd800 | cp >> 10);
            k += attest_sse_u16(out + k, 0xdc00 | (cp & 0x3ff));
        }
    }

    *o = k;

    return n;
}


#ifdef ATTEST_SSE_SSE2

/* bits 16 * n .. 16 * n + 15 of a block's mask from the compare m */
#define ATTEST_SSE_MASK(m, n)                                                 \
    ((uint64_t) (uint16_t) _mm_movemask_epi8(m) << (16 * (n)))

/* the masks of the 16 bytes at p + k + 16 * n, into qb and cx */
#define ATTEST_SSE_CLASSIFY(n)                                                \
    v = _mm_loadu_si128((const __m128i *) (p + k + 16 * (n)));                \
    qb |= ATTEST_SSE_MASK(_mm_or_si128(_mm_cmpeq_epi8(v, q),                  \
                                       _mm_cmpeq_epi8(v, b)), n);             \
    /* signed: the bytes above 0x7f are below 0x20 too */                     \
    cx |= ATTEST_SSE_MASK(_mm_or_si128(_mm_cmplt_epi8(v, lo),                 \
                                       _mm_cmpeq_epi8(v, del)), n)

/* 16 bytes from p to out, unaligned */
#define ATTEST_SSE_COPY16(out, p)                                             \
    _mm_storeu_si128((__m128i *) (out),                                       \
                     _mm_loadu_si128((const __m128i *) (p)))


/*
 * Escapes p[*i..len) 64 bytes at a time while a block starts before stop;
 * the caller makes sure that ATTEST_SSE_READ bytes from a block's start
 * can be read.  Per block, two 64-bit masks: '"' and '\\' (escaped as a
 * backslash and themselves), and every other byte to escape.  The spans
 * between quotes go out as 16-byte copies, their lengths taken from the
 * mask, so a quote costs a few instructions with no load in the chain
 * from one to the next; a block stops at its first other byte, which
 * gets its escape by the call.  Returns the new o; out[] has the slack
 * for a block's output and the copies' overrun past ATTEST_SSE_OUT_LEN.
 */
static size_t
attest_sse_blocks(attest_sse_t *s, const uint8_t *p, size_t len,
    size_t stop, size_t *i, size_t o)
{
    size_t    k, j, pos, lim;
    uint8_t  *out;
    uint64_t  qb, cx;
    __m128i   v, lo, q, b, del;

    out = s->out;
    k = *i;

    lo = _mm_set1_epi8(0x20);
    q = _mm_set1_epi8('"');
    b = _mm_set1_epi8('\\');
    del = _mm_set1_epi8(0x7f);

    while (k < stop) {
        if (o >= ATTEST_SSE_OUT_LEN) {
            attest_sse_md(s, out, o);
            o = 0;
        }

        qb = 0;
        cx = 0;

        /* unrolled: n is a constant in each */
        ATTEST_SSE_CLASSIFY(0);
        ATTEST_SSE_CLASSIFY(1);
        ATTEST_SSE_CLASSIFY(2);
        ATTEST_SSE_CLASSIFY(3);

        /* this block's bytes up to its first other byte, within len */
        lim = cx ? (size_t) __builtin_ctzll(cx) : 64;
        lim = (lim < len - k) ? lim : len - k;
        qb &= (lim < 64) ? ((uint64_t) 1 << lim) - 1 : ~(uint64_t) 0;

        /*
         * a backslash goes in before each quote, which is then the first
         * byte of the next span
         */
        for (pos = 0; qb; qb &= qb - 1) {
            j = __builtin_ctzll(qb);

            if (j - pos > 16) {
                do {
                    ATTEST_SSE_COPY16(out + o, p + k + pos);
                    pos += 16;
                    o += 16;
                } while (j - pos > 16);
            }

            ATTEST_SSE_COPY16(out + o, p + k + pos);
            o += j - pos;
            out[o++] = '\\';
            pos = j;
        }

        for ( /* void */ ; lim - pos > 16; pos += 16, o += 16) {
            ATTEST_SSE_COPY16(out + o, p + k + pos);
        }

        ATTEST_SSE_COPY16(out + o, p + k + pos);
        o += lim - pos;
        k += lim;

        if (lim < 64 && k < len && (cx >> lim & 1)) {
            k += attest_sse_escape(p + k, len - k, out, &o);
        }
    }

    *i = k;

    return o;
}

#endif


/*
 * Appends ,"payload" to the hash, escaped as json.dumps(ensure_ascii=True)
 * escapes a str: spans of bytes copied as they are, and the escape of
 * each byte between them.
 */

static void
attest_sse_hash_chunk(attest_sse_t *s, const uint8_t *p, size_t len)
{
    size_t    i, n, o;
    uint8_t  *out;

    out = s->out;
    o = s->out_n;

    if (s->chunks++) {
        out[o++] = ',';
    }

    out[o++] = '"';
    i = 0;

#ifdef ATTEST_SSE_SSE2
    {
        size_t   j;
        uint8_t  tail[2 * ATTEST_SSE_READ];

        if (len >= ATTEST_SSE_READ) {
            o = attest_sse_blocks(s, p, len, len - ATTEST_SSE_READ + 1, &i,
                                  o);
        }

        /* the last bytes from a copy that ATTEST_SSE_READ bytes pad */
        j = len - i;
        memset(tail, 'a', sizeof(tail));
        memcpy(tail, p + i, j);
        i = 0;
        o = attest_sse_blocks(s, tail, j, j, &i, o);
        i = len;
    }
#endif

    /* without SSE2 the whole payload, with it the last 15 bytes at most */
    while (i < len) {
        for (n = i; n < len && attest_sse_esc[p[n]] == 0; n++) {
            /* void */
        }

        n -= i;

        if (n >= ATTEST_SSE_DIRECT || o + n > ATTEST_SSE_OUT_LEN) {
            attest_sse_md(s, out, o);
            o = 0;
        }

        if (n >= ATTEST_SSE_DIRECT) {
            attest_sse_md(s, p + i, n);

        } else {
            memcpy(out + o, p + i, n);
            o += n;
        }

        i += n;

        if (i < len) {
            i += attest_sse_escape(p + i, len - i, out, &o);
        }
    }

    out[o++] = '"';

    if (o >= ATTEST_SSE_OUT_LEN) {
        attest_sse_md(s, out, o);
        o = 0;
    }

    s->out_n = o;
}


static void
attest_sse_keep_sig(attest_sse_t *s, const uint8_t *p, size_t len)
{
    /* the agent sends one data line; anything else is not its signature */
    if (s->sig_seen) {
        s->sig_repeated = 1;
        return;
    }

    s->sig_seen = 1;

    if (len > ATTEST_SSE_SIG_MAX) {
        s->sig_oversize = 1;
        return;
    }

    s->sig = malloc(len ? len : 1);
    if (s->sig == NULL) {
        s->sig_oversize = 1;
        return;
    }

    memcpy(s->sig, p, len);
    s->sig_len = len;
}


/* the first reason a line gets stands */

static void
attest_sse_flag(attest_sse_line_t *line, attest_reason_t reason)
{
    if (line->reason == ATTEST_OK) {
        line->reason = reason;
    }
}


/* a comment the way the module writes its verdict: ": attest ..." */

static int
attest_sse_spoof(const uint8_t *p, size_t m)
{
    size_t  i;

    for (i = 1; i < m && p[i] == ' '; i++) {
        /* void */
    }

    return m - i >= 6 && memcmp(p + i, "attest", 6) == 0;
}


/*
 * p, len: one whole line, ending with "\n"; line->reason and line->spoof
 * are set here, the type is returned
 */

static attest_sse_line_e
attest_sse_classify(attest_sse_t *s, const uint8_t *p, size_t len,
    attest_sse_line_t *line)
{
    size_t          n, m, name, value;
    const uint8_t  *colon;

    /* n: the agent's line (split on "\n"); m: the SSE line, also no "\r" */
    n = len - 1;
    m = (n && p[n - 1] == '\r') ? n - 1 : n;

    /* what a client would read differently, worst first */
    if (!s->started && n >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0) {
        line->reason = ATTEST_STREAM_BOM;

    } else if (memchr(p, '\r', m) != NULL) {
        line->reason = ATTEST_STREAM_BARE_CR;
    }

    s->started = 1;

    if (m == 0) {
        s->sig_event = 0;
        s->event_data = 0;
        return ATTEST_SSE_BLANK;
    }

    if (p[0] == ':') {
        line->spoof = attest_sse_spoof(p, m);
        return ATTEST_SSE_COMMENT;
    }


    /* an SSE field: name up to the first ":", value minus one space */
    colon = memchr(p, ':', m);
    name = colon ? (size_t) (colon - p) : m;
    value = colon ? name + 1 : m;

    if (value < m && p[value] == ' ') {
        value++;
    }

    if (name == 4 && memcmp(p, "data", 4) == 0) {

        if (s->sig_event) {
            attest_sse_keep_sig(s, p + value, m - value);
            return ATTEST_SSE_SIG_DATA;
        }

        s->event_data = 1;

        /*
         * the agent's own test: startswith("data: "), and it skips every
         * line starting "data: [DONE]"; a client reads all of them as data
         */
        if (n < 6 || p[5] != ' ') {
            attest_sse_flag(line, ATTEST_BODY_MISMATCH);
            return ATTEST_SSE_OTHER;
        }

        if (n >= 12 && memcmp(p + 6, "[DONE]", 6) == 0) {
            if (m != 12) {
                attest_sse_flag(line, ATTEST_BODY_MISMATCH);
                return ATTEST_SSE_OTHER;
            }

            s->done = 1;
            return ATTEST_SSE_DONE;
        }

        attest_sse_hash_chunk(s, p + 6, n - 6);

        return ATTEST_SSE_DATA;
    }

    /*
     * a signature event is an event of its own: "event: signature" after
     * a data line would make a client's data event of the lines around it
     */
    if (name == 5 && memcmp(p, "event", 5) == 0) {
        s->sig_event = (!s->event_data && m - value == 9
                        && memcmp(p + value, "signature", 9) == 0);

        if (s->sig_event) {
            return ATTEST_SSE_SIG_EVENT;
        }
    }

    attest_sse_flag(line, ATTEST_STREAM_FIELD);

    return ATTEST_SSE_OTHER;
}


static int
attest_sse_reserve(attest_sse_t *s, size_t need)
{
    size_t    cap;
    uint8_t  *buf;

    if (need <= s->cap) {
        return 0;
    }

    cap = s->cap ? s->cap : ATTEST_SSE_BUF_MIN;

    while (cap < need) {
        cap *= 2;
    }

    if (cap > s->max_line) {
        cap = s->max_line;
    }

    buf = realloc(s->buf, cap);
    if (buf == NULL) {
        return -1;
    }

    s->buf = buf;
    s->cap = cap;

    return 0;
}


size_t
attest_sse_feed(attest_sse_t *s, const uint8_t *p, size_t len,
    attest_sse_line_t *line)
{
    size_t          n;
    const uint8_t  *nl;

    line->type = ATTEST_SSE_NONE;
    line->data = NULL;
    line->len = 0;
    line->in_sig = 0;
    line->spoof = 0;
    line->reason = ATTEST_OK;

    if (s->failed) {
        /* the head handed back last time is no longer needed */
        free(s->buf);
        s->buf = NULL;
        s->cap = 0;

        line->type = ATTEST_SSE_ERROR;
        return len;
    }

    if (len == 0) {
        return 0;
    }

    nl = memchr(p, '\n', len);

    /* s->pending < s->max_line holds here, so no subtraction wraps */

    if (nl == NULL) {
        /* the line, with its "\n" still to come, would not fit */
        if (len >= s->max_line - s->pending
            || attest_sse_reserve(s, s->pending + len) != 0)
        {
            goto failed;
        }

        memcpy(s->buf + s->pending, p, len);
        s->pending += len;

        return len;
    }

    n = (size_t) (nl - p) + 1;

    if (n > s->max_line - s->pending) {
        goto failed;
    }

    if (s->pending == 0) {
        line->data = p;
        line->len = n;

    } else {
        if (attest_sse_reserve(s, s->pending + n) != 0) {
            goto failed;
        }

        memcpy(s->buf + s->pending, p, n);
        line->data = s->buf;
        line->len = s->pending + n;
        s->pending = 0;
    }

    line->type = attest_sse_classify(s, line->data, line->len, line);

    if (line->type == ATTEST_SSE_SIG_EVENT || line->type == ATTEST_SSE_SIG_DATA)
    {
        s->sig_block = 1;
    }

    line->in_sig = s->sig_block;

    if (line->type == ATTEST_SSE_BLANK) {
        s->sig_block = 0;
    }

    return n;

failed:

    /*
     * hand back the head of the line held from earlier calls, so that a
     * caller that goes on unverified (report mode) loses no byte
     */
    s->failed = 1;
    line->type = ATTEST_SSE_ERROR;
    line->data = s->pending ? s->buf : NULL;
    line->len = s->pending;
    s->pending = 0;

    return len;
}


size_t
attest_sse_pending(const attest_sse_t *s)
{
    return s->pending;
}


void
attest_sse_hash(attest_sse_t *s, uint8_t out[32])
{
    unsigned int  n;

    attest_sse_flush(s);

    if (s->md_failed
        || EVP_MD_CTX_copy_ex(s->tmp, s->md) != 1
        || EVP_DigestUpdate(s->tmp, "]}", 2) != 1
        || EVP_DigestFinal_ex(s->tmp, out, &n) != 1
        || n != 32)
    {
        /* cannot report here; an all-zero digest matches no response */
        memset(out, 0, 32);
    }
}


const uint8_t *
attest_sse_signature(const attest_sse_t *s, size_t *len)
{
    size_t  dummy;

    /* len may be NULL when only presence matters */
    if (len == NULL) {
        len = &dummy;
    }

    if (!s->sig_seen || s->sig_repeated || s->sig_oversize) {
        *len = 0;
        return NULL;
    }

    *len = s->sig_len;

    return s->sig;
}


int
attest_sse_done(const attest_sse_t *s)
{
    return s->done;
}


attest_reason_t
attest_sse_finish(attest_sse_t *s, const attest_signer_t *signer,
    attest_err_t *err)
{
    void                 *tree;
    uint8_t               digest[32];
    attest_text_t         text;
    attest_reason_t       rc;
    attest_sig_fields_t   fields;

    if (s->sig_repeated) {
        return attest_fail(err, ATTEST_SIGNATURE_MALFORMED,
                           "signature event repeated");
    }

    if (s->sig_oversize) {
        return attest_fail(err, ATTEST_SIGNATURE_MALFORMED,
                           "signature event over %d bytes",
                           ATTEST_SSE_SIG_MAX);
    }

    if (!s->sig_seen) {
        if (!s->done && s->pending) {
            /* cut off, not merely unsigned */
            return attest_fail(err, ATTEST_STREAM_TRUNCATED,
                               "stream ended inside a line");
        }

        return attest_fail(err, ATTEST_STREAM_UNSIGNED,
                           "no signature event in the stream");
    }

    rc = attest_sig_json_parse(s->sig, s->sig_len, &fields, &tree, err);
    if (rc != ATTEST_OK) {
        return rc;
    }

    rc = attest_sig_verify(&fields, signer, &text, err);

    attest_sig_json_free(tree);

    if (rc != ATTEST_OK) {
        return rc;
    }

    attest_sse_hash(s, digest);

    rc = attest_sig_check_body(&text, digest, err);
    if (rc != ATTEST_OK) {
        return rc;
    }

    if (!s->done) {
        return attest_fail(err, ATTEST_STREAM_TRUNCATED,
                           "stream ended without [DONE]");
    }

    return ATTEST_OK;
}
