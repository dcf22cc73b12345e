/*
 * The request hash (PROTOCOL.md section 2): the agent's pydantic v2 model
 * of the body, dumped with exclude_none and serialized by json.dumps with
 * separators (",", ":") and ensure_ascii, then SHA-256.
 *
 * The body is kept whole (up to the caller's limit), then parsed once, as
 * Python's json.loads reads bytes: UTF-8 (surrogates allowed), an optional
 * BOM, NaN / Infinity / -Infinity, exact integers.  Each value is written
 * in its canonical form into an arena as it is parsed; an object whose
 * keys repeat is rewritten in place (first position, last value), which
 * never makes it longer.  The top-level object is not written: its members
 * are kept as arena spans and assembled at the end, declared fields first
 * in the model's order, coerced like pydantic's lax mode, then the extra
 * fields, nulls dropped.
 */

#define _GNU_SOURCE

#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "attest_reqhash.h"

/* -DATTEST_REQHASH_PORTABLE builds (and tests) the byte loop only */
#if defined(__SSE2__) && !defined(ATTEST_REQHASH_PORTABLE)
#include <emmintrin.h>
#define REQ_SSE2  1
#else
#define REQ_SSE2  0
#endif


/* Python's sys.get_int_max_str_digits() default */
#define REQ_INT_MAX_DIGITS  4300

typedef struct {
    size_t  key_off;
    size_t  key_len;
    size_t  val_off;
    size_t  val_len;
} req_member_t;

typedef struct {
    uint8_t  *p;
    size_t    len;
    size_t    cap;
} req_buf_t;

struct attest_reqhash_s {
    req_buf_t      in;
    size_t         max;
    req_buf_t      out;        /* canonical values (the arena) */
    req_buf_t      tmp;        /* object rewrites, number literals */
    req_buf_t      canon;      /* the final canonical form */

    req_member_t  *mem;        /* members of the open objects, a stack */
    size_t         nmem;
    size_t         mem_cap;

    size_t         pos;
    attest_req_err_t  err;
    unsigned       done:1;
    unsigned       stream:1;

    size_t         model_off;  /* in canon, after the quote */
    size_t         model_len;
    unsigned       has_model:1;

    char           msg[160];
};

typedef enum {
    REQ_ANY = 0,
    REQ_LIST,
    REQ_STR,
    REQ_FLOAT,
    REQ_INT,
    REQ_BOOL
} req_kind_t;

static const struct {
    const char  *name;
    req_kind_t   kind;
} req_declared[] = {
    { "messages", REQ_LIST },
    { "model", REQ_STR },
    { "temperature", REQ_FLOAT },
    { "max_tokens", REQ_INT },
    { "stream", REQ_BOOL },
    { "top_p", REQ_FLOAT },
    { "frequency_penalty", REQ_FLOAT },
    { "presence_penalty", REQ_FLOAT },
    { "stop", REQ_ANY },
    { "n", REQ_INT },
    { "logprobs", REQ_BOOL },
};

#define REQ_NDECLARED  (sizeof(req_declared) / sizeof(req_declared[0]))


static attest_req_err_t req_value(attest_reqhash_t *r, int depth);


static int
req_reserve(req_buf_t *b, size_t more)
{
    size_t    cap;
    uint8_t  *p;

    if (b->cap - b->len >= more) {
        return 0;
    }

    if (more > ((size_t) -1) / 2 - b->len) {
        return -1;
    }

    /* the first allocation is what is asked for: the body, the arena */
    if (b->cap == 0) {
        cap = more > 256 ? more : 256;

    } else {
        cap = b->cap;

        while (cap - b->len < more) {
            cap *= 2;
        }
    }

    p = realloc(b->p, cap);
    if (p == NULL) {
        return -1;
    }

    b->p = p;
    b->cap = cap;

    return 0;
}


static int
req_put(req_buf_t *b, const void *p, size_t len)
{
    if (req_reserve(b, len) != 0) {
        return -1;
    }

    if (len) {
        memcpy(b->p + b->len, p, len);
        b->len += len;
    }

    return 0;
}


static attest_req_err_t
req_fail(attest_reqhash_t *r, attest_req_err_t err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static attest_req_err_t
req_fail(attest_reqhash_t *r, attest_req_err_t err, const char *fmt, ...)
{
    va_list  ap;

    if (r->err == ATTEST_REQ_OK) {
        r->err = err;
        va_start(ap, fmt);
        vsnprintf(r->msg, sizeof(r->msg), fmt, ap);
        va_end(ap);
    }

    return r->err;
}


static attest_req_err_t
req_nomem(attest_reqhash_t *r)
{
    return req_fail(r, ATTEST_REQ_NOMEM, "out of memory");
}


static attest_req_err_t
req_syntax(attest_reqhash_t *r, const char *what)
{
    return req_fail(r, ATTEST_REQ_SYNTAX, "%s at byte %zu", what, r->pos);
}


attest_reqhash_t *
attest_reqhash_new(size_t max_body)
{
    attest_reqhash_t  *r;

    r = calloc(1, sizeof(attest_reqhash_t));
    if (r == NULL) {
        return NULL;
    }

    r->max = max_body;

    return r;
}


void
attest_reqhash_reset(attest_reqhash_t *r, size_t max_body, size_t keep)
{
    req_buf_t      in, out, tmp;
    req_member_t  *mem;
    size_t         mem_cap;

    /* the body's buffer holds the canonical form after a final */
    in = r->in.p ? r->in : r->canon;
    out = r->out;
    tmp = r->tmp;
    mem = r->mem;
    mem_cap = r->mem_cap;

    if (r->in.p && r->canon.p) {
        free(r->canon.p);
    }

    if (in.cap + out.cap + tmp.cap + mem_cap * sizeof(req_member_t) > keep) {
        free(in.p);
        free(out.p);
        free(tmp.p);
        free(mem);
        memset(&in, 0, sizeof(req_buf_t));
        out = in;
        tmp = in;
        mem = NULL;
        mem_cap = 0;
    }

    memset(r, 0, sizeof(attest_reqhash_t));

    r->max = max_body;
    r->in = in;
    r->in.len = 0;
    r->out = out;
    r->out.len = 0;
    r->tmp = tmp;
    r->tmp.len = 0;
    r->mem = mem;
    r->mem_cap = mem_cap;
}


void
attest_reqhash_free(attest_reqhash_t *r)
{
    if (r == NULL) {
        return;
    }

    free(r->in.p);
    free(r->out.p);
    free(r->tmp.p);
    free(r->canon.p);
    free(r->mem);
    free(r);
}


uint8_t *
attest_reqhash_space(attest_reqhash_t *r, size_t len)
{
    if (r->err != ATTEST_REQ_OK) {
        return NULL;
    }

    if (r->done) {
        req_fail(r, ATTEST_REQ_STATE, "update after final");
        return NULL;
    }

    if (len > r->max - r->in.len) {
        req_fail(r, ATTEST_REQ_TOO_LARGE, "body over %zu bytes", r->max);
        return NULL;
    }

    /*
     * never NULL on success, even for nothing; the canonical form takes
     * this buffer, so a little more room (see req_parse())
     */
    if (req_reserve(&r->in, len < ((size_t) -1) / 4 ? len + 64 : len)
        != 0)
    {
        req_nomem(r);
        return NULL;
    }

    return r->in.p + r->in.len;
}


attest_req_err_t
attest_reqhash_commit(attest_reqhash_t *r, size_t len)
{
    if (r->err != ATTEST_REQ_OK) {
        return r->err;
    }

    if (r->done || len > r->in.cap - r->in.len) {
        return req_fail(r, ATTEST_REQ_STATE, "commit beyond the space");
    }

    if (len > r->max - r->in.len) {
        return req_fail(r, ATTEST_REQ_TOO_LARGE,
                        "body over %zu bytes", r->max);
    }

    r->in.len += len;

    return ATTEST_REQ_OK;
}


attest_req_err_t
attest_reqhash_update(attest_reqhash_t *r, const uint8_t *p, size_t len)
{
    uint8_t  *d;

    d = attest_reqhash_space(r, len);
    if (d == NULL) {
        return r->err;
    }

    if (len) {
        memcpy(d, p, len);
    }

    return attest_reqhash_commit(r, len);
}


/*
 * json.loads(bytes): the encoding is guessed from the first bytes; only
 * UTF-8 (with or without a BOM) is read here.  The whole body is decoded
 * before parsing, with "surrogatepass": encoded surrogates are accepted.
 * The parse checks the UTF-8 of the strings as it decodes them (nothing
 * else may be other than ASCII); a parse that fails calls
 * req_check_utf8(), so that invalid UTF-8 anywhere in the body is the
 * reason, as in Python.
 */
static attest_req_err_t
req_check_encoding(attest_reqhash_t *r)
{
    const uint8_t  *p = r->in.p;
    size_t          n = r->in.len;

    if ((n >= 2 && ((p[0] == 0xff && p[1] == 0xfe)
                    || (p[0] == 0xfe && p[1] == 0xff)))
        || (n >= 4 && p[0] == 0 && p[1] == 0 && p[2] == 0xfe
            && p[3] == 0xff))
    {
        return req_fail(r, ATTEST_REQ_ENCODING, "UTF-16/32 byte order mark");
    }

    if (n >= 3 && p[0] == 0xef && p[1] == 0xbb && p[2] == 0xbf) {
        r->pos = 3;

    } else if ((n >= 4 || n == 2) && (p[0] == 0 || p[1] == 0)) {
        return req_fail(r, ATTEST_REQ_ENCODING, "UTF-16/32 body");
    }

    return ATTEST_REQ_OK;
}


/*
 * the whole body's UTF-8 from start: on the first invalid byte, the
 * error replaces whatever the parse said
 */
static void
req_check_utf8(attest_reqhash_t *r, size_t start)
{
    const uint8_t     *p = r->in.p;
    size_t             i, n = r->in.len;
    uint32_t           c;
    uint64_t           w0, w1;
    int                k;
    attest_req_err_t   err;

    err = r->err;
    r->err = ATTEST_REQ_OK;

    for (i = start; i < n; ) {
        /* ASCII 16 bytes at a time */
        while (n - i >= 16) {
            memcpy(&w0, p + i, 8);
            memcpy(&w1, p + i + 8, 8);

            if ((w0 | w1) & 0x8080808080808080ULL) {
                break;
            }

            i += 16;
        }

        if (i >= n) {
            break;
        }

        c = p[i];

        if (c < 0x80) {
            i++;
            continue;
        }

        if (c >= 0xc2 && c <= 0xdf) {
            k = 1;
            c &= 0x1f;

        } else if (c >= 0xe0 && c <= 0xef) {
            k = 2;
            c &= 0x0f;

        } else if (c >= 0xf0 && c <= 0xf4) {
            k = 3;
            c &= 0x07;

        } else {
            req_fail(r, ATTEST_REQ_UTF8, "invalid UTF-8 at byte %zu", i);
            return;
        }

        if (n - i <= (size_t) k) {
            req_fail(r, ATTEST_REQ_UTF8, "truncated UTF-8 at byte %zu", i);
            return;
        }

        for (int j = 1; j <= k; j++) {
            if ((p[i + j] & 0xc0) != 0x80) {
                req_fail(r, ATTEST_REQ_UTF8, "invalid UTF-8 at byte %zu",
                         i);
                return;
            }

            c = (c << 6) | (p[i + j] & 0x3f);
        }

        if ((k == 2 && c < 0x800) || (k == 3 && (c < 0x10000
                                                 || c > 0x10ffff)))
        {
            req_fail(r, ATTEST_REQ_UTF8, "invalid UTF-8 at byte %zu", i);
            return;
        }

        i += k + 1;
    }

    r->err = err;
}


static void
req_ws(attest_reqhash_t *r)
{
    while (r->pos < r->in.len) {
        switch (r->in.p[r->pos]) {
        case ' ': case '\t': case '\n': case '\r':
            r->pos++;
            continue;
        }

        break;
    }
}


/*
 * How json.dumps(ensure_ascii=True) writes an ASCII character: 0 as is,
 * else the letter of its two-character escape, or 'u' for \u00XX.  The
 * strings are scanned for runs of the characters written as is (printable
 * ASCII but '"' and '\'), 16 bytes at a time where SSE2 is there.
 */
static const uint8_t  req_esc[128] = {
    'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u',
    'b', 't', 'n', 'u', 'f', 'r', 'u', 'u',
    'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u',
    'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u',
    0, 0, '"', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, '\\', 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 'u'
};

/* the largest output of one step of req_string's escape loop */
#define REQ_UNIT_MAX  12


/*
 * one UTF-16 code unit as json.dumps(ensure_ascii=True) writes it, at o,
 * which has room for 6 bytes (upper: the hex in uppercase, the mark of a
 * lone surrogate in a key); returns the end
 */
static inline uint8_t *
req_put_unit(uint8_t *o, uint32_t u, int upper)
{
    const char  *hex = upper ? "0123456789ABCDEF" : "0123456789abcdef";

    if (u < 0x80) {
        if (req_esc[u] == 0) {
            *o = (uint8_t) u;
            return o + 1;
        }

        o[0] = '\\';
        o[1] = req_esc[u];

        if (req_esc[u] != 'u') {
            return o + 2;
        }
    }

    o[0] = '\\';
    o[1] = 'u';
    o[2] = hex[(u >> 12) & 0xf];
    o[3] = hex[(u >> 8) & 0xf];
    o[4] = hex[(u >> 4) & 0xf];
    o[5] = hex[u & 0xf];

    return o + 6;
}


static int
req_hex4(const uint8_t *p, uint32_t *u)
{
    int  i, d;

    *u = 0;

    for (i = 0; i < 4; i++) {
        if (p[i] >= '0' && p[i] <= '9') {
            d = p[i] - '0';

        } else if ((p[i] | 0x20) >= 'a' && (p[i] | 0x20) <= 'f') {
            d = (p[i] | 0x20) - 'a' + 10;

        } else {
            return -1;
        }

        *u = (*u << 4) | (uint32_t) d;
    }

    return 0;
}


/*
 * copies the run at p[0..n) of characters written as is to o, and
 * returns its length; o has room for the whole of n plus 16 bytes (the
 * SSE2 loop stores 16 bytes at a time, past the run's end)
 */
static inline size_t
req_copy_run(const uint8_t *p, size_t n, uint8_t *o)
{
    size_t  i = 0;

#if REQ_SSE2
    __m128i   x, m;
    unsigned  bits;

    const __m128i  sp = _mm_set1_epi8(0x20), q = _mm_set1_epi8('"'),
                   bs = _mm_set1_epi8('\\'), del = _mm_set1_epi8(0x7f);

    for ( ; n - i >= 16; i += 16) {
        x = _mm_loadu_si128((const __m128i *) (p + i));
        _mm_storeu_si128((__m128i *) (o + i), x);

        /* signed: bytes from 0x80 up are below 0x20 too */
        m = _mm_or_si128(_mm_or_si128(_mm_cmplt_epi8(x, sp),
                                      _mm_cmpeq_epi8(x, q)),
                         _mm_or_si128(_mm_cmpeq_epi8(x, bs),
                                      _mm_cmpeq_epi8(x, del)));
        bits = (unsigned) _mm_movemask_epi8(m);

        if (bits) {
            return i + (size_t) __builtin_ctz(bits);
        }
    }
#endif

    for ( ; i < n && p[i] < 0x80 && req_esc[p[i]] == 0; i++) {
        o[i] = p[i];
    }

    return i;
}


/*
 * makes room in the arena for what is left of the body (a run of it is
 * copied as is) plus extra bytes
 */
static inline int
req_room(attest_reqhash_t *r, size_t pos, size_t extra)
{
    return req_reserve(&r->out, r->in.len - pos + extra);
}


/*
 * one escape at p[0..n) (its backslash), decoded and written again at o
 * (room for REQ_UNIT_MAX bytes); *used: the input it took.  Returns the
 * end of the output, or NULL with *used 0: not a valid escape, or 1: an
 * invalid \uXXXX.
 */
static uint8_t *
req_escape(const uint8_t *p, size_t n, uint8_t *o, int key, size_t *used)
{
    uint32_t  c, lo;

    if (n < 2) {
        *used = 0;
        return NULL;
    }

    switch (p[1]) {
    case '"': case '\\': case 'b': case 'f': case 'n': case 'r': case 't':
        /* decoded and escaped again the same way */
        o[0] = '\\';
        o[1] = p[1];
        *used = 2;
        return o + 2;

    case '/':
        *o = '/';
        *used = 2;
        return o + 1;

    case 'u':
        break;

    default:
        *used = 0;
        return NULL;
    }

    if (n < 6 || req_hex4(p + 2, &c) != 0) {
        *used = 1;
        return NULL;
    }

    *used = 6;

    if (c < 0xd800 || c > 0xdfff) {
        return req_put_unit(o, c, 0);
    }

    if (c <= 0xdbff && n >= 12 && p[6] == '\\' && p[7] == 'u'
        && req_hex4(p + 8, &lo) == 0 && lo >= 0xdc00 && lo <= 0xdfff)
    {
        /* a pair json.loads joins into one character */
        *used = 12;
        o = req_put_unit(o, c, 0);
        return req_put_unit(o, lo, 0);
    }

    return req_put_unit(o, c, key);
}


/*
 * one character of UTF-8 at p[0..n) (n > 0, p[0] from 0x80 up), written
 * at o (room for REQ_UNIT_MAX bytes) as its UTF-16 units; *used: its
 * length.  NULL when it is not valid UTF-8 (surrogates are: Python's
 * surrogatepass).
 */
static inline uint8_t *
req_utf8(const uint8_t *p, size_t n, uint8_t *o, int key, size_t *used)
{
    uint32_t  c = p[0];

    if (c < 0xc2) {
        return NULL;
    }

    if (c < 0xe0) {
        if (n < 2 || (p[1] & 0xc0) != 0x80) {
            return NULL;
        }

        c = ((c & 0x1f) << 6) | (p[1] & 0x3f);
        *used = 2;

        return req_put_unit(o, c, 0);
    }

    if (c < 0xf0) {
        if (n < 3 || (p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80) {
            return NULL;
        }

        c = ((c & 0x0f) << 12) | ((p[1] & 0x3f) << 6) | (p[2] & 0x3f);

        if (c < 0x800) {
            return NULL;
        }

        *used = 3;

        /* surrogatepass: an encoded surrogate stays alone */
        return req_put_unit(o, c, key && c >= 0xd800 && c <= 0xdfff);
    }

    if (c > 0xf4 || n < 4 || (p[1] & 0xc0) != 0x80
        || (p[2] & 0xc0) != 0x80 || (p[3] & 0xc0) != 0x80)
    {
        return NULL;
    }

    c = ((c & 0x07) << 18) | ((p[1] & 0x3f) << 12) | ((p[2] & 0x3f) << 6)
        | (p[3] & 0x3f);

    if (c < 0x10000 || c > 0x10ffff) {
        return NULL;
    }

    c -= 0x10000;
    *used = 4;

    o = req_put_unit(o, 0xd800 + (c >> 10), 0);

    return req_put_unit(o, 0xdc00 + (c & 0x3ff), 0);
}


/*
 * a string at r->pos (its quote), decoded and re-escaped.  Escaped
 * surrogate pairs, raw astral characters and lone surrogates all come out
 * as their UTF-16 units, as Python prints the decoded string.
 *
 * In a key (key set), a surrogate that stays lone in Python's string (not
 * an escaped high one right followed by an escaped low one, which
 * json.loads joins) is written with uppercase hex: keys then compare as
 * Python's do ("\ud83d\udc4b" escaped is not the same key as the two
 * surrogates encoded raw), and a lone surrogate is seen in a top-level
 * name.  req_key_lone() restores the output form.
 *
 * The arena keeps room for the rest of the body plus 16 bytes, so that a
 * run copied as is needs no check; an escape or a non-ASCII character
 * (which may write more than it reads) checks for REQ_UNIT_MAX more.
 */
static attest_req_err_t
req_string(attest_reqhash_t *r, int key)
{
    const uint8_t  *p = r->in.p;
    size_t          n = r->in.len, pos = r->pos + 1, used;
    uint8_t        *o;

    if (req_room(r, pos, 16 + 1) != 0) {
        return req_nomem(r);
    }

    o = r->out.p + r->out.len;
    *o++ = '"';

    for ( ;; ) {
        used = req_copy_run(p + pos, n - pos, o);
        pos += used;
        o += used;

        if (pos >= n) {
            r->pos = pos;
            return req_syntax(r, "unterminated string");
        }

        if (p[pos] == '"') {
            break;
        }

        if (p[pos] < 0x20) {
            r->pos = pos;
            return req_syntax(r, "invalid control character");
        }

        if ((size_t) (r->out.p + r->out.cap - o)
            < n - pos + 16 + REQ_UNIT_MAX)
        {
            r->out.len = o - r->out.p;

            if (req_room(r, pos, 16 + REQ_UNIT_MAX) != 0) {
                return req_nomem(r);
            }

            o = r->out.p + r->out.len;
        }

        if (p[pos] == '\\') {
            o = req_escape(p + pos, n - pos, o, key, &used);

            if (o == NULL) {
                r->pos = pos;
                return used ? req_syntax(r, "invalid \\uXXXX escape")
                            : n - pos < 2
                              ? req_syntax(r, "unterminated string")
                              : req_syntax(r, "invalid escape");
            }

        } else if (p[pos] == 0x7f) {
            o = req_put_unit(o, 0x7f, 0);
            used = 1;

        } else {
            o = req_utf8(p + pos, n - pos, o, key, &used);

            if (o == NULL) {
                /* req_parse() checks the whole body and says where */
                r->pos = pos;
                return req_fail(r, ATTEST_REQ_UTF8,
                                "invalid UTF-8 at byte %zu", pos);
            }
        }

        pos += used;
    }

    *o++ = '"';
    r->out.len = o - r->out.p;
    r->pos = pos + 1;

    return ATTEST_REQ_OK;
}


/* does s[0..len) read back as x through strtod? */
static int
req_round_trips(const char *s, double x)
{
    return strtod(s, NULL) == x;
}


/*
 * steps the digits d[0..n) (a p-digit decimal d.ddd e exp) one unit in the
 * last place up or down; returns the new exponent
 */
static int
req_step(char *d, int n, int exp, int up)
{
    int  i;

    if (up) {
        for (i = n - 1; i >= 0 && d[i] == '9'; i--) {
            d[i] = '0';
        }

        if (i < 0) {
            d[0] = '1';
            return exp + 1;
        }

        d[i]++;
        return exp;
    }

    for (i = n - 1; i >= 0 && d[i] == '0'; i--) {
        d[i] = '9';
    }

    d[i]--;

    if (d[0] == '0') {
        /* 1000 - 1 = 0999: 9999 one decade down */
        memmove(d, d + 1, n - 1);
        d[n - 1] = '9';
        return exp - 1;
    }

    return exp;
}


/*
 * the shortest digits that read back as x (|x| finite, not zero), nearest
 * to x among the shortest, as David Gay's dtoa mode 0 that Python's repr
 * uses: for each length, the correctly rounded digits or, where the
 * rounding interval of x is lopsided (powers of two), a neighbour of them
 */
static int
req_shortest(double x, char *digits, int *decpt)
{
    char  s[48], d[24];
    int   p, i, exp, e2, side;

    for (p = 1; p <= 17; p++) {
        snprintf(s, sizeof(s), "%.*e", p - 1, x);

        /* "d.ddde[+-]xx" */
        d[0] = s[0];
        for (i = 1; i < p; i++) {
            d[i] = s[i + 1];
        }
        d[p] = '\0';
        exp = atoi(strchr(s, 'e') + 1);

        if (req_round_trips(s, x)) {
            goto found;
        }

        for (side = 0; side < 2; side++) {
            char  t[24];

            memcpy(t, d, p + 1);
            e2 = req_step(t, p, exp, side);

            snprintf(s, sizeof(s), "%c%s%se%d", t[0], p > 1 ? "." : "",
                     t + 1, e2);

            if (req_round_trips(s, x)) {
                memcpy(d, t, p + 1);
                exp = e2;
                goto found;
            }
        }
    }

    /* 17 digits always round-trip */
    return -1;

found:

    while (p > 1 && d[p - 1] == '0') {
        p--;
    }

    memcpy(digits, d, p);
    digits[p] = '\0';
    *decpt = exp + 1;

    return p;
}


size_t
attest_reqhash_float_repr(double x, char *buf)
{
    char    digits[24], *o = buf;
    int     n, decpt, i, e;

    if (isnan(x)) {
        return (size_t) sprintf(buf, "NaN");
    }

    if (isinf(x)) {
        return (size_t) sprintf(buf, x > 0 ? "Infinity" : "-Infinity");
    }

    if (signbit(x)) {
        *o++ = '-';
        x = -x;
    }

    if (x == 0) {
        return (size_t) (o - buf) + sprintf(o, "0.0");
    }

    n = req_shortest(x, digits, &decpt);
    if (n < 0) {
        return (size_t) sprintf(buf, "NaN");
    }

    if (decpt <= -4 || decpt > 16) {
        /* repr's exponent form: 1e-05, 1.5e+16 */
        *o++ = digits[0];

        if (n > 1) {
            *o++ = '.';
            memcpy(o, digits + 1, n - 1);
            o += n - 1;
        }

        e = decpt - 1;
        o += sprintf(o, "e%c%02d", e < 0 ? '-' : '+', e < 0 ? -e : e);

    } else if (decpt <= 0) {
        *o++ = '0';
        *o++ = '.';

        for (i = 0; i < -decpt; i++) {
            *o++ = '0';
        }

        memcpy(o, digits, n);
        o += n;

    } else if (decpt >= n) {
        memcpy(o, digits, n);
        o += n;

        for (i = n; i < decpt; i++) {
            *o++ = '0';
        }

        *o++ = '.';
        *o++ = '0';

    } else {
        memcpy(o, digits, decpt);
        o += decpt;
        *o++ = '.';
        memcpy(o, digits + decpt, n - decpt);
        o += n - decpt;
    }

    *o = '\0';

    return (size_t) (o - buf);
}


static attest_req_err_t
req_put_double(attest_reqhash_t *r, req_buf_t *b, double x)
{
    char    s[40];
    size_t  n;

    n = attest_reqhash_float_repr(x, s);

    if (req_put(b, s, n) != 0) {
        return req_nomem(r);
    }

    return ATTEST_REQ_OK;
}


/* strtod of p[0..len) (a literal already checked) */
static attest_req_err_t
req_strtod(attest_reqhash_t *r, const uint8_t *p, size_t len, double *x)
{
    r->tmp.len = 0;

    if (req_put(&r->tmp, p, len) != 0 || req_put(&r->tmp, "", 1) != 0) {
        return req_nomem(r);
    }

    /* overflow gives +-HUGE_VAL, underflow a (signed) zero: as Python */
    *x = strtod((char *) r->tmp.p, NULL);

    return ATTEST_REQ_OK;
}


/*
 * a number as Python's json scanner takes it:
 * -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?  an int without fraction
 * and exponent (exact, at most 4300 digits), a float otherwise.  A "."
 * or "e" not followed by digits ends the number before it, and is then a
 * syntax error wherever a value can end.
 */
static attest_req_err_t
req_number(attest_reqhash_t *r)
{
    const uint8_t  *p = r->in.p;
    size_t          n = r->in.len, start = r->pos, digits, save;
    int             is_float = 0;
    double          x;

    if (r->pos < n && p[r->pos] == '-') {
        r->pos++;
    }

    if (r->pos < n && p[r->pos] == '0') {
        r->pos++;

    } else if (r->pos < n && p[r->pos] >= '1' && p[r->pos] <= '9') {
        while (r->pos < n && p[r->pos] >= '0' && p[r->pos] <= '9') {
            r->pos++;
        }

    } else {
        r->pos = start;
        return req_syntax(r, "expecting value");
    }

    digits = r->pos - start - (p[start] == '-');

    if (r->pos + 1 < n && p[r->pos] == '.' && p[r->pos + 1] >= '0'
        && p[r->pos + 1] <= '9')
    {
        is_float = 1;
        r->pos += 2;

        while (r->pos < n && p[r->pos] >= '0' && p[r->pos] <= '9') {
            r->pos++;
        }
    }

    if (r->pos < n && (p[r->pos] == 'e' || p[r->pos] == 'E')) {
        save = r->pos++;

        if (r->pos < n && (p[r->pos] == '+' || p[r->pos] == '-')) {
            r->pos++;
        }

        if (r->pos < n && p[r->pos] >= '0' && p[r->pos] <= '9') {
            is_float = 1;

            while (r->pos < n && p[r->pos] >= '0' && p[r->pos] <= '9') {
                r->pos++;
            }

        } else {
            r->pos = save;
        }
    }

    if (is_float) {
        if (req_strtod(r, p + start, r->pos - start, &x) != ATTEST_REQ_OK) {
            return r->err;
        }

        return req_put_double(r, &r->out, x);
    }

    if (digits > REQ_INT_MAX_DIGITS) {
        return req_fail(r, ATTEST_REQ_INT_DIGITS,
                        "integer of %zu digits at byte %zu (Python reads "
                        "at most %d)", digits, start, REQ_INT_MAX_DIGITS);
    }

    if (digits == 1 && p[start] == '-' && p[start + 1] == '0') {
        /* int("-0") is 0 */
        start++;
    }

    if (req_put(&r->out, p + start, r->pos - start) != 0) {
        return req_nomem(r);
    }

    return ATTEST_REQ_OK;
}


static int
req_lit(attest_reqhash_t *r, const char *lit)
{
    size_t  len = strlen(lit);

    if (r->in.len - r->pos >= len
        && memcmp(r->in.p + r->pos, lit, len) == 0)
    {
        r->pos += len;
        return 1;
    }

    return 0;
}


static int
req_key_eq(attest_reqhash_t *r, req_member_t *a, req_member_t *b)
{
    return a->key_len == b->key_len
           && memcmp(r->out.p + a->key_off, r->out.p + b->key_off,
                     a->key_len) == 0;
}


static int
req_key_cmp(attest_reqhash_t *r, req_member_t *a, req_member_t *b)
{
    size_t  n = a->key_len < b->key_len ? a->key_len : b->key_len;
    int     c;

    c = memcmp(r->out.p + a->key_off, r->out.p + b->key_off, n);
    if (c) {
        return c;
    }

    return a->key_len < b->key_len ? -1 : a->key_len > b->key_len;
}


/*
 * for the members m[0..n): last[i] = the index of the last member with
 * m[i]'s key when i is its first occurrence, else (size_t) -1.  Returns
 * the number of duplicates.  Sorts indexes (merge sort, stable) above a
 * few members, so a huge object of distinct keys stays n log n.
 */
static attest_req_err_t
req_dedup(attest_reqhash_t *r, req_member_t *m, size_t n, size_t *last,
    size_t *ndup)
{
    size_t   i, j, w, lo, mid, hi, a, b, *idx, *aux;

    *ndup = 0;

    if (n <= 16) {
        for (i = 0; i < n; i++) {
            last[i] = i;
        }

        for (i = 0; i < n; i++) {
            if (last[i] == (size_t) -1) {
                continue;
            }

            for (j = i + 1; j < n; j++) {
                if (last[j] != (size_t) -1 && req_key_eq(r, &m[i], &m[j])) {
                    last[i] = j;
                    last[j] = (size_t) -1;
                    (*ndup)++;
                }
            }
        }

        return ATTEST_REQ_OK;
    }

    idx = malloc(2 * n * sizeof(size_t));
    if (idx == NULL) {
        return req_nomem(r);
    }

    aux = idx + n;

    for (i = 0; i < n; i++) {
        idx[i] = i;
    }

    for (w = 1; w < n; w *= 2) {
        for (lo = 0; lo < n; lo += 2 * w) {
            mid = lo + w < n ? lo + w : n;
            hi = lo + 2 * w < n ? lo + 2 * w : n;

            for (a = lo, b = mid, j = lo; j < hi; j++) {
                if (a < mid && (b >= hi
                                || req_key_cmp(r, &m[idx[a]],
                                               &m[idx[b]]) <= 0))
                {
                    aux[j] = idx[a++];

                } else {
                    aux[j] = idx[b++];
                }
            }
        }

        memcpy(idx, aux, n * sizeof(size_t));
    }

    /* runs of equal keys, in input order within a run (stable sort) */
    for (i = 0; i < n; i = j) {
        for (j = i + 1; j < n && req_key_eq(r, &m[idx[i]], &m[idx[j]]); j++)
        {
            last[idx[j]] = (size_t) -1;
            (*ndup)++;
        }

        last[idx[i]] = idx[j - 1];
    }

    free(idx);

    return ATTEST_REQ_OK;
}


/*
 * the escapes of a canonical key: lowercases their hex (lower set), and
 * says whether one was uppercase, a lone surrogate (see req_string)
 */
static int
req_key_lone(uint8_t *k, size_t len, int lower)
{
    size_t  i, j;
    int     lone = 0;

    for (i = 0; i + 5 < len; i++) {
        if (k[i] != '\\') {
            continue;
        }

        if (k[i + 1] != 'u') {
            i++;
            continue;
        }

        for (j = i + 2; j < i + 6; j++) {
            if (k[j] >= 'A' && k[j] <= 'F') {
                lone = 1;

                if (lower) {
                    k[j] |= 0x20;
                }
            }
        }

        i += 5;
    }

    return lone;
}


static attest_req_err_t
req_push_member(attest_reqhash_t *r, req_member_t *m)
{
    req_member_t  *nm;
    size_t         cap;

    if (r->nmem == r->mem_cap) {
        cap = r->mem_cap ? r->mem_cap * 2 : 64;
        nm = realloc(r->mem, cap * sizeof(req_member_t));
        if (nm == NULL) {
            return req_nomem(r);
        }

        r->mem = nm;
        r->mem_cap = cap;
    }

    r->mem[r->nmem++] = *m;

    return ATTEST_REQ_OK;
}


/*
 * a nested object's members (from r->mem[base], its text from out[start])
 * deduplicated, its keys checked, and the object closed
 */
static attest_req_err_t
req_close_object(attest_reqhash_t *r, size_t base, size_t start)
{
    size_t      i, ndup, *last;
    req_buf_t  *t = &r->tmp;

    last = malloc((r->nmem - base) * sizeof(size_t));
    if (last == NULL) {
        return req_nomem(r);
    }

    if (req_dedup(r, r->mem + base, r->nmem - base, last, &ndup)
        != ATTEST_REQ_OK)
    {
        free(last);
        return r->err;
    }

    for (i = 0; i < r->nmem - base; i++) {
        req_key_lone(r->out.p + r->mem[base + i].key_off,
                     r->mem[base + i].key_len, 1);
    }

    if (ndup) {
        /* json.loads: the first key's position, the last value */
        t->len = 0;

        if (req_put(t, "{", 1) != 0) {
            goto nomem;
        }

        for (i = 0; i < r->nmem - base; i++) {
            req_member_t  *k = &r->mem[base + i], *v;

            if (last[i] == (size_t) -1) {
                continue;
            }

            v = &r->mem[base + last[i]];

            if ((t->len > 1 && req_put(t, ",", 1) != 0)
                || req_put(t, r->out.p + k->key_off, k->key_len) != 0
                || req_put(t, ":", 1) != 0
                || req_put(t, r->out.p + v->val_off, v->val_len) != 0)
            {
                goto nomem;
            }
        }

        /* never longer than what it replaces */
        memcpy(r->out.p + start, t->p, t->len);
        r->out.len = start + t->len;
    }

    free(last);
    r->nmem = base;

    if (req_put(&r->out, "}", 1) != 0) {
        return req_nomem(r);
    }

    return ATTEST_REQ_OK;

nomem:

    free(last);
    return req_nomem(r);
}


/*
 * an object's members, each key and value written to the arena; nested
 * objects are closed (and deduplicated) here, the top one (depth 1) is
 * left open for req_top()
 */
static attest_req_err_t
req_object(attest_reqhash_t *r, int depth)
{
    size_t         base = r->nmem, start = r->out.len;
    req_member_t   m;

    r->pos++;

    if (depth > 1 && req_put(&r->out, "{", 1) != 0) {
        return req_nomem(r);
    }

    req_ws(r);

    if (r->pos < r->in.len && r->in.p[r->pos] == '}') {
        r->pos++;

        if (depth > 1 && req_put(&r->out, "}", 1) != 0) {
            return req_nomem(r);
        }

        return ATTEST_REQ_OK;
    }

    for ( ;; ) {
        if (r->pos >= r->in.len || r->in.p[r->pos] != '"') {
            return req_syntax(r, "expecting property name");
        }

        if (depth > 1 && r->nmem > base
            && req_put(&r->out, ",", 1) != 0)
        {
            return req_nomem(r);
        }

        m.key_off = r->out.len;

        if (req_string(r, 1) != ATTEST_REQ_OK) {
            return r->err;
        }

        m.key_len = r->out.len - m.key_off;

        req_ws(r);

        if (r->pos >= r->in.len || r->in.p[r->pos] != ':') {
            return req_syntax(r, "expecting ':'");
        }

        r->pos++;

        if (depth > 1 && req_put(&r->out, ":", 1) != 0) {
            return req_nomem(r);
        }

        req_ws(r);

        m.val_off = r->out.len;

        if (req_value(r, depth) != ATTEST_REQ_OK) {
            return r->err;
        }

        m.val_len = r->out.len - m.val_off;

        if (req_push_member(r, &m) != ATTEST_REQ_OK) {
            return r->err;
        }

        req_ws(r);

        if (r->pos < r->in.len && r->in.p[r->pos] == ',') {
            r->pos++;
            req_ws(r);
            continue;
        }

        if (r->pos < r->in.len && r->in.p[r->pos] == '}') {
            r->pos++;
            break;
        }

        return req_syntax(r, "expecting ',' or '}'");
    }

    if (depth == 1) {
        return ATTEST_REQ_OK;
    }

    return req_close_object(r, base, start);
}


static attest_req_err_t
req_array(attest_reqhash_t *r, int depth)
{
    int  first = 1;

    r->pos++;

    if (req_put(&r->out, "[", 1) != 0) {
        return req_nomem(r);
    }

    req_ws(r);

    if (r->pos < r->in.len && r->in.p[r->pos] == ']') {
        r->pos++;
        return req_put(&r->out, "]", 1) == 0 ? ATTEST_REQ_OK : req_nomem(r);
    }

    for ( ;; ) {
        if (!first && req_put(&r->out, ",", 1) != 0) {
            return req_nomem(r);
        }

        first = 0;

        if (req_value(r, depth) != ATTEST_REQ_OK) {
            return r->err;
        }

        req_ws(r);

        if (r->pos < r->in.len && r->in.p[r->pos] == ',') {
            r->pos++;
            req_ws(r);
            continue;
        }

        if (r->pos < r->in.len && r->in.p[r->pos] == ']') {
            r->pos++;
            break;
        }

        return req_syntax(r, "expecting ',' or ']'");
    }

    return req_put(&r->out, "]", 1) == 0 ? ATTEST_REQ_OK : req_nomem(r);
}


/* a value at r->pos (whitespace skipped), written to the arena */
static attest_req_err_t
req_value(attest_reqhash_t *r, int depth)
{
    const char  *lit = NULL;

    if (r->pos >= r->in.len) {
        return req_syntax(r, "expecting value");
    }

    switch (r->in.p[r->pos]) {

    case '"':
        return req_string(r, 0);

    case '{':
    case '[':
        if (depth >= ATTEST_REQ_MAX_DEPTH) {
            return req_fail(r, ATTEST_REQ_TOO_DEEP,
                            "nested deeper than %d at byte %zu",
                            ATTEST_REQ_MAX_DEPTH, r->pos);
        }

        return r->in.p[r->pos] == '{' ? req_object(r, depth + 1)
                                       : req_array(r, depth + 1);

    case 'n':
        lit = "null";
        break;

    case 't':
        lit = "true";
        break;

    case 'f':
        lit = "false";
        break;

    case 'N':
        lit = "NaN";
        break;

    case 'I':
        lit = "Infinity";
        break;

    case '-':
        if (req_lit(r, "-Infinity")) {
            return req_put(&r->out, "-Infinity", 9) == 0 ? ATTEST_REQ_OK
                                                           : req_nomem(r);
        }

        return req_number(r);

    default:
        return req_number(r);
    }

    if (!req_lit(r, lit)) {
        return req_syntax(r, "expecting value");
    }

    if (req_put(&r->out, lit, strlen(lit)) != 0) {
        return req_nomem(r);
    }

    return ATTEST_REQ_OK;
}


/* a canonical value's JSON kind, from its first byte */
static int
req_is_int(const uint8_t *v, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if (!(v[i] == '-' || (v[i] >= '0' && v[i] <= '9'))) {
            return 0;
        }
    }

    return len > 0;
}


/*
 * the content of a canonical string value when it is plain printable
 * ASCII (no escape): the only strings the number and bool fields take
 */
static int
req_plain_string(const uint8_t *v, size_t len, const uint8_t **s,
    size_t *slen)
{
    if (len < 2 || v[0] != '"' || memchr(v, '\\', len) != NULL) {
        return 0;
    }

    *s = v + 1;
    *slen = len - 2;

    return 1;
}


static int
req_ieq(const uint8_t *s, size_t len, const char *word)
{
    size_t  i;

    if (strlen(word) != len) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if ((s[i] | 0x20) != word[i]) {
            return 0;
        }
    }

    return 1;
}


/*
 * a float field's string, as pydantic-core parses it (Rust's f64 grammar):
 * [+-]? (digits [. digits*] | . digits) ([eE] [+-]? digits)?, or
 * [+-]? inf | infinity | nan in any case.  Whitespace and "_" are left
 * out: pydantic versions differ there.
 */
static int
req_float_string(const uint8_t *s, size_t len)
{
    size_t  i = 0, d = 0;

    if (i < len && (s[i] == '+' || s[i] == '-')) {
        i++;
    }

    if (req_ieq(s + i, len - i, "inf") || req_ieq(s + i, len - i, "infinity")
        || req_ieq(s + i, len - i, "nan"))
    {
        return 1;
    }

    while (i < len && s[i] >= '0' && s[i] <= '9') {
        i++;
        d++;
    }

    if (i < len && s[i] == '.') {
        i++;

        while (i < len && s[i] >= '0' && s[i] <= '9') {
            i++;
            d++;
        }
    }

    if (d == 0) {
        return 0;
    }

    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;

        if (i < len && (s[i] == '+' || s[i] == '-')) {
            i++;
        }

        if (i == len || s[i] < '0' || s[i] > '9') {
            return 0;
        }

        while (i < len && s[i] >= '0' && s[i] <= '9') {
            i++;
        }
    }

    return i == len;
}


/* a float field: a bool, a plain number string or an int becomes a float */
static attest_req_err_t
req_coerce_float(attest_reqhash_t *r, const char *name, const uint8_t *v,
    size_t len)
{
    req_buf_t      *c = &r->canon;
    const uint8_t  *s;
    size_t          slen;
    double          x;

    if (v[0] == 't' || v[0] == 'f') {
        /* bool -> 1.0 / 0.0 */
        return req_put(c, v[0] == 't' ? "1.0" : "0.0", 3) == 0
               ? ATTEST_REQ_OK : req_nomem(r);
    }

    if (v[0] == '"') {
        if (!req_plain_string(v, len, &s, &slen)
            || !req_float_string(s, slen))
        {
            return req_fail(r, ATTEST_REQ_FIELD_FORM,
                            "%s: string not a plain number", name);
        }

        if (req_strtod(r, s, slen, &x) != ATTEST_REQ_OK) {
            return r->err;
        }

        return req_put_double(r, c, x);
    }

    if (v[0] == '[' || v[0] == '{') {
        return req_fail(r, ATTEST_REQ_FIELD_TYPE, "%s: float expected",
                        name);
    }

    if (!req_is_int(v, len)) {
        /* already a float's repr */
        return req_put(c, v, len) == 0 ? ATTEST_REQ_OK : req_nomem(r);
    }

    /* float(int): correctly rounded, OverflowError refused */
    if (req_strtod(r, v, len, &x) != ATTEST_REQ_OK) {
        return r->err;
    }

    if (isinf(x)) {
        return req_fail(r, ATTEST_REQ_FIELD_TYPE,
                        "%s: integer too large for a float", name);
    }

    return req_put_double(r, c, x);
}


/* an int field: a bool, a short integer string or a whole float */
static attest_req_err_t
req_coerce_int(attest_reqhash_t *r, const char *name, const uint8_t *v,
    size_t len)
{
    req_buf_t      *c = &r->canon;
    const uint8_t  *s;
    size_t          slen, i;
    double          x;
    char            num[32];

    if (v[0] == 't' || v[0] == 'f') {
        return req_put(c, v[0] == 't' ? "1" : "0", 1) == 0
               ? ATTEST_REQ_OK : req_nomem(r);
    }

    if (v[0] == '"') {
        /* [+-]?[0-9]{1,18}: an i64 in every pydantic v2 */
        if (!req_plain_string(v, len, &s, &slen)) {
            goto int_form;
        }

        i = (slen > 0 && (s[0] == '+' || s[0] == '-'));

        if (slen - i < 1 || slen - i > 18) {
            goto int_form;
        }

        for (size_t j = i; j < slen; j++) {
            if (s[j] < '0' || s[j] > '9') {
                goto int_form;
            }
        }

        memcpy(num, s, slen);
        num[slen] = '\0';
        slen = (size_t) snprintf(num, sizeof(num), "%lld",
                                 strtoll(num, NULL, 10));

        return req_put(c, num, slen) == 0 ? ATTEST_REQ_OK : req_nomem(r);
    }

    if (v[0] == '[' || v[0] == '{') {
        return req_fail(r, ATTEST_REQ_FIELD_TYPE,
                        "%s: integer expected", name);
    }

    if (req_is_int(v, len)) {
        return req_put(c, v, len) == 0 ? ATTEST_REQ_OK : req_nomem(r);
    }

    if (req_strtod(r, v, len, &x) != ATTEST_REQ_OK) {
        return r->err;
    }

    if (!isfinite(x)) {
        return req_fail(r, ATTEST_REQ_FIELD_TYPE,
                        "%s: finite number expected", name);
    }

    /*
     * pydantic-core: no fraction, then i64::MIN < x < i64::MAX as f64;
     * out of that range every double is whole, so the range first,
     * and the cast is defined
     */
    if (!(x > -9223372036854775808.0 && x < 9223372036854775808.0)) {
        return req_fail(r, ATTEST_REQ_FIELD_TYPE,
                        "%s: integer out of range", name);
    }

    if (x != (double) (long long) x) {
        return req_fail(r, ATTEST_REQ_FIELD_TYPE,
                        "%s: integer expected, got a fraction", name);
    }

    slen = (size_t) snprintf(num, sizeof(num), "%lld", (long long) x);

    return req_put(c, num, slen) == 0 ? ATTEST_REQ_OK : req_nomem(r);

int_form:

    return req_fail(r, ATTEST_REQ_FIELD_FORM,
                    "%s: string not a plain integer", name);
}


/* a bool field: yes/no words, 0 and 1 (int or float) become a bool */
static attest_req_err_t
req_coerce_bool(attest_reqhash_t *r, const char *name, const uint8_t *v,
    size_t len)
{
    static const char  *yes[] = { "1", "on", "t", "true", "y", "yes" };
    static const char  *no[] = { "0", "off", "f", "false", "n", "no" };
    req_buf_t          *c = &r->canon;
    const uint8_t      *s;
    size_t              slen, i;
    double              x;
    int                 b = -1;

    if (v[0] == 't' || v[0] == 'f') {
        return req_put(c, v, len) == 0 ? ATTEST_REQ_OK : req_nomem(r);
    }

    if (v[0] == '"') {
        if (req_plain_string(v, len, &s, &slen)) {
            for (i = 0; i < 6; i++) {
                if (req_ieq(s, slen, yes[i])) {
                    b = 1;
                } else if (req_ieq(s, slen, no[i])) {
                    b = 0;
                }
            }
        }

    } else if (v[0] == '[' || v[0] == '{') {
        b = -1;

    } else if (req_is_int(v, len)) {
        if (len == 1 && (v[0] == '0' || v[0] == '1')) {
            b = v[0] == '1';
        }

    } else {
        if (req_strtod(r, v, len, &x) != ATTEST_REQ_OK) {
            return r->err;
        }

        if (x == 0.0 || x == 1.0) {
            b = x == 1.0;
        }
    }

    if (b < 0) {
        return req_fail(r, ATTEST_REQ_FIELD_TYPE,
                        "%s: boolean expected", name);
    }

    return req_put(c, b ? "true" : "false", b ? 4 : 5) == 0
           ? ATTEST_REQ_OK : req_nomem(r);
}


/*
 * one declared field's final value v (canonical, not null) coerced as
 * pydantic v2 lax mode does for Python input, written to canon
 */
static attest_req_err_t
req_coerce(attest_reqhash_t *r, const char *name, req_kind_t kind,
    const uint8_t *v, size_t len)
{
    switch (kind) {

    case REQ_ANY:
        break;

    case REQ_LIST:
        if (v[0] != '[') {
            return req_fail(r, ATTEST_REQ_FIELD_TYPE, "%s: list expected",
                            name);
        }
        break;

    case REQ_STR:
        if (v[0] != '"') {
            return req_fail(r, ATTEST_REQ_FIELD_TYPE, "%s: string expected",
                            name);
        }
        break;

    case REQ_FLOAT:
        return req_coerce_float(r, name, v, len);

    case REQ_INT:
        return req_coerce_int(r, name, v, len);

    case REQ_BOOL:
        return req_coerce_bool(r, name, v, len);
    }

    return req_put(&r->canon, v, len) == 0 ? ATTEST_REQ_OK : req_nomem(r);
}


/* the top-level members m[0..n) in the model's order, into canon */
static attest_req_err_t
req_top(attest_reqhash_t *r, req_member_t *m, size_t n)
{
    req_buf_t      *c = &r->canon;
    size_t          i, d, ndup, *last, klen;
    const uint8_t  *key, *v;
    size_t          vlen, mark;
    int             found, declared;

    last = malloc((n ? n : 1) * sizeof(size_t));
    if (last == NULL) {
        return req_nomem(r);
    }

    if (req_dedup(r, m, n, last, &ndup) != ATTEST_REQ_OK
        || req_reserve(c, r->out.len + 64) != 0
        || req_put(c, "{", 1) != 0)
    {
        free(last);
        return r->err ? r->err : req_nomem(r);
    }

    for (d = 0; d < REQ_NDECLARED; d++) {
        const char  *name = req_declared[d].name;

        found = 0;

        for (i = 0; i < n; i++) {
            key = r->out.p + m[i].key_off;
            klen = m[i].key_len;

            if (last[i] != (size_t) -1 && klen == strlen(name) + 2
                && memcmp(key + 1, name, klen - 2) == 0)
            {
                found = 1;
                break;
            }
        }

        if (!found) {
            if (strcmp(name, "stream") != 0) {
                continue;
            }

            /* stream: Optional[bool] = False */
            v = (const uint8_t *) "false";
            vlen = 5;

        } else {
            v = r->out.p + m[last[i]].val_off;
            vlen = m[last[i]].val_len;
        }

        if (vlen == 4 && memcmp(v, "null", 4) == 0) {
            continue;
        }

        if ((c->len > 1 && req_put(c, ",", 1) != 0)
            || req_put(c, "\"", 1) != 0 || req_put(c, name, strlen(name)) != 0
            || req_put(c, "\":", 2) != 0)
        {
            goto nomem;
        }

        mark = c->len;

        if (req_coerce(r, name, req_declared[d].kind, v, vlen)
            != ATTEST_REQ_OK)
        {
            free(last);
            return r->err;
        }

        if (strcmp(name, "model") == 0) {
            r->has_model = 1;
            r->model_off = mark + 1;
            r->model_len = c->len - mark - 2;

        } else if (strcmp(name, "stream") == 0) {
            r->stream = c->p[mark] == 't';
        }
    }

    for (i = 0; i < n; i++) {
        if (last[i] == (size_t) -1) {
            continue;
        }

        key = r->out.p + m[i].key_off;
        klen = m[i].key_len;
        v = r->out.p + m[last[i]].val_off;
        vlen = m[last[i]].val_len;

        declared = 0;

        for (d = 0; d < REQ_NDECLARED; d++) {
            if (klen == strlen(req_declared[d].name) + 2
                && memcmp(key + 1, req_declared[d].name, klen - 2) == 0)
            {
                declared = 1;
                break;
            }
        }

        if (declared) {
            continue;
        }

        /* pydantic reads extra names as Rust strings: string_unicode */
        if (req_key_lone(r->out.p + m[i].key_off, klen, 0)) {
            free(last);
            return req_fail(r, ATTEST_REQ_KEY_SURROGATE,
                            "extra field name with a lone surrogate: %.*s",
                            (int) (klen < 40 ? klen : 40), key);
        }

        if (vlen == 4 && memcmp(v, "null", 4) == 0) {
            continue;
        }

        if ((c->len > 1 && req_put(c, ",", 1) != 0)
            || req_put(c, key, klen) != 0 || req_put(c, ":", 1) != 0
            || req_put(c, v, vlen) != 0)
        {
            goto nomem;
        }
    }

    free(last);

    return req_put(c, "}", 1) == 0 ? ATTEST_REQ_OK : req_nomem(r);

nomem:

    free(last);
    return req_nomem(r);
}


static attest_req_err_t
req_parse(attest_reqhash_t *r)
{
    if (req_check_encoding(r) != ATTEST_REQ_OK) {
        return r->err;
    }

    /* the canonical form is about the body's size: one allocation */
    if (req_reserve(&r->out, r->in.len + r->in.len / 8 + 64) != 0) {
        req_nomem(r);
        goto failed;
    }

    req_ws(r);

    if (r->pos < r->in.len && r->in.p[r->pos] == '{') {
        if (req_object(r, 1) != ATTEST_REQ_OK) {
            goto failed;
        }

    } else if (req_value(r, 0) != ATTEST_REQ_OK) {
        goto failed;

    } else {
        r->nmem = (size_t) -1;
    }

    req_ws(r);

    if (r->pos != r->in.len) {
        req_syntax(r, "extra data");
        goto failed;
    }

    if (r->nmem == (size_t) -1) {
        r->nmem = 0;
        req_fail(r, ATTEST_REQ_NOT_OBJECT, "not a JSON object");
        goto failed;
    }

    /*
     * the whole body is parsed, so its UTF-8 is checked; its buffer takes
     * the canonical form (about the arena's size), one allocation less
     */
    if (r->in.cap < r->out.len + 64) {
        free(r->in.p);
        memset(&r->in, 0, sizeof(req_buf_t));
    }

    r->canon = r->in;
    r->canon.len = 0;
    memset(&r->in, 0, sizeof(req_buf_t));

    return req_top(r, r->mem, r->nmem);

failed:

    /* json.loads decodes the whole body first: invalid UTF-8 comes first */
    req_check_utf8(r, r->in.len >= 3 && r->in.p[0] == 0xef
                      && r->in.p[1] == 0xbb && r->in.p[2] == 0xbf ? 3 : 0);

    return r->err;
}


attest_req_err_t
attest_reqhash_final(attest_reqhash_t *r, uint8_t hash[32])
{
    static locale_t  c_locale;
    locale_t         old = (locale_t) 0;
    unsigned int     n;

    memset(hash, 0, 32);

    if (r->err != ATTEST_REQ_OK) {
        return r->err;
    }

    if (r->done) {
        return req_fail(r, ATTEST_REQ_STATE, "final called twice");
    }

    r->done = 1;

    /* strtod and snprintf must read and write "." whatever the locale */
    if (c_locale == (locale_t) 0) {
        c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t) 0);
    }

    if (c_locale != (locale_t) 0) {
        old = uselocale(c_locale);
    }

    req_parse(r);

    if (c_locale != (locale_t) 0) {
        uselocale(old);
    }

    /* the parse's scratch stays for attest_reqhash_reset() */
    r->nmem = 0;

    if (r->err != ATTEST_REQ_OK) {
        return r->err;
    }

    if (EVP_Digest(r->canon.p, r->canon.len, hash, &n, EVP_sha256(), NULL)
        != 1)
    {
        memset(hash, 0, 32);
        return req_fail(r, ATTEST_REQ_NOMEM, "SHA-256 failed");
    }

    return ATTEST_REQ_OK;
}


const uint8_t *
attest_reqhash_canonical(attest_reqhash_t *r, size_t *len)
{
    if (!r->done || r->err != ATTEST_REQ_OK) {
        *len = 0;
        return NULL;
    }

    *len = r->canon.len;

    return r->canon.p;
}


const char *
attest_reqhash_model(attest_reqhash_t *r, size_t *len)
{
    if (!r->done || r->err != ATTEST_REQ_OK || !r->has_model) {
        *len = 0;
        return NULL;
    }

    *len = r->model_len;

    return (const char *) r->canon.p + r->model_off;
}


int
attest_reqhash_stream(attest_reqhash_t *r)
{
    return r->done && r->err == ATTEST_REQ_OK && r->stream;
}


const char *
attest_reqhash_error(attest_reqhash_t *r)
{
    return r->err == ATTEST_REQ_OK ? "ok" : r->msg;
}


const char *
attest_reqhash_errname(attest_req_err_t err)
{
    switch (err) {
    case ATTEST_REQ_OK:          return "ok";
    case ATTEST_REQ_NOMEM:       return "nomem";
    case ATTEST_REQ_TOO_LARGE:   return "too_large";
    case ATTEST_REQ_ENCODING:    return "encoding";
    case ATTEST_REQ_UTF8:        return "utf8";
    case ATTEST_REQ_SYNTAX:      return "syntax";
    case ATTEST_REQ_TOO_DEEP:    return "too_deep";
    case ATTEST_REQ_INT_DIGITS:  return "int_digits";
    case ATTEST_REQ_NOT_OBJECT:  return "not_object";
    case ATTEST_REQ_FIELD_TYPE:  return "field_type";
    case ATTEST_REQ_FIELD_FORM:  return "field_form";
    case ATTEST_REQ_KEY_SURROGATE:  return "key_surrogate";
    case ATTEST_REQ_STATE:       return "state";
    }

    return "unknown";
}
