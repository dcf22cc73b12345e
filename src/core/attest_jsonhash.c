/*
 * The non-streaming response hash (PROTOCOL.md section 2).
 *
 * The agent hashes json.dumps(obj, separators=(",", ":")) but sends
 * json.dumps(obj): the same bytes with one space after every "," and ":"
 * that stands outside a string.  Dropping exactly that one space while
 * hashing gives the agent's input back without parsing or keeping the
 * body.  Anything else (a second space, a newline, raw non-ASCII) is
 * hashed unchanged: such a body did not come from Python's json.dumps and
 * must not match.
 */

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

/* -DATTEST_JSONHASH_PORTABLE builds (and tests) the table version */
#if defined(__SSE2__) && !defined(ATTEST_JSONHASH_PORTABLE)
#define ATTEST_JSONHASH_SSE2  1
#include <emmintrin.h>
#endif

#include "attest_jsonhash.h"


/*
 * AVX-512 (BW and VBMI2), where the CPU has it, checked at run time: a
 * block is classified with five compares into mask registers, and a block
 * with dropped spaces is compacted whole (vpcompressb), not run by run.
 */
#if defined(__x86_64__) && defined(__GNUC__) \
    && !defined(ATTEST_JSONHASH_PORTABLE)
#define ATTEST_JSONHASH_AVX512  1
#include <immintrin.h>
#define ATTEST_JSONHASH_TARGET                                                \
    __attribute__((target("avx512f,avx512bw,avx512vbmi2")))
#endif


/*
 * Speed (issue 16): the compacted body is hashed in long runs and the
 * bytes are examined 64 at a time, as bit masks, instead of one by one:
 *
 *  - a block of 64 bytes gives masks of its '"', '\\', ',' or ':' and ' '
 *    bytes (SSE2 compares, or a table without SSE2);
 *  - the escaped bytes follow odd runs of backslashes (a carry-propagating
 *    addition finds them); which bytes are inside a string is then a
 *    prefix XOR of the unescaped quotes, and the dropped spaces are the
 *    ' ' right after a ',' or ':' outside a string;
 *  - that holds while every backslash of the block is inside a string, as
 *    in anything json.dumps writes.  A backslash outside a string (not
 *    JSON, but it must hash by the same rule) sends that block to the
 *    byte-at-a-time loop, which gives the same drops and state;
 *  - inside a long string only '"' and '\\' matter: whole blocks of it
 *    pass with two compares a byte;
 *  - the bytes between dropped spaces are hashed as they stand: long runs
 *    straight from the caller's buffer, short ones gathered in buf first,
 *    so that OpenSSL sees a few large updates;
 *  - with AVX-512 (below) a block is classified in five compares, and a
 *    block with dropped spaces is compacted into buf in one instruction
 *    rather than run by run: bodies of short tokens then hash at nearly
 *    SHA-256's speed.  The state and the drops are computed as without.
 */

#define ATTEST_JSONHASH_BUF     4096
/* a run this long goes to OpenSSL directly rather than through buf */
#define ATTEST_JSONHASH_DIRECT  256
/* update() works through its input in pieces of this size */
#define ATTEST_JSONHASH_PIECE   8192

/* the bits of the even byte positions of a block */
#define ATTEST_JSONHASH_EVEN    0x5555555555555555ULL


/* where the bytes so far leave the rule: each 0 or 1 */
typedef struct {
    unsigned  in_string;
    unsigned  escape;          /* the previous string byte was a backslash */
    unsigned  after_sep;       /* the previous byte was a "," or ":" outside */
} attest_jsonhash_state_t;


struct attest_jsonhash_s {
    EVP_MD_CTX               *md;
    size_t                    n;        /* compacted bytes waiting in buf */
    attest_jsonhash_state_t   st;
    unsigned                  failed:1; /* an EVP call failed: final zeros */
    unsigned                  done:1;
    /* slack for the fixed-size copies of short runs */
    uint8_t      buf[ATTEST_JSONHASH_BUF + 64];
};


/* the bytes of one block that matter, a bit per byte (bit i: byte i) */
typedef struct {
    uint64_t  quote;
    uint64_t  bslash;
    uint64_t  sep;             /* ',' or ':' */
    uint64_t  space;
} attest_jsonhash_masks_t;


#ifdef ATTEST_JSONHASH_AVX512

/* -1: not looked yet; 0 or 1: whether the CPU has what the above needs */
static int  attest_jsonhash_wide = -1;


ATTEST_JSONHASH_TARGET
static void
attest_jsonhash_classify_wide(const uint8_t *p, attest_jsonhash_masks_t *m)
{
    __m512i  v;

    v = _mm512_loadu_si512((const void *) p);

    m->quote = _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8('"'));
    m->bslash = _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8('\\'));
    m->sep = _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8(','))
             | _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8(':'));
    m->space = _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8(' '));
}


/* the bytes of the 64 at p whose bit is set in keep, to dst (64 bytes) */
ATTEST_JSONHASH_TARGET
static size_t
attest_jsonhash_compress(uint8_t *dst, const uint8_t *p, uint64_t keep)
{
    __m512i  v;

    v = _mm512_maskz_compress_epi8(keep, _mm512_loadu_si512((const void *) p));
    _mm512_storeu_si512((void *) dst, v);

    return (size_t) __builtin_popcountll(keep);
}

#endif


attest_jsonhash_t *
attest_jsonhash_new(void)
{
    attest_jsonhash_t  *h;

    /* not calloc: buf needs no zeroing */
    h = malloc(sizeof(attest_jsonhash_t));
    if (h == NULL) {
        return NULL;
    }

    h->n = 0;
    h->st.in_string = 0;
    h->st.escape = 0;
    h->st.after_sep = 0;
    h->failed = 0;
    h->done = 0;

#ifdef ATTEST_JSONHASH_AVX512
    if (attest_jsonhash_wide < 0) {
        attest_jsonhash_wide = __builtin_cpu_supports("avx512bw")
                               && __builtin_cpu_supports("avx512vbmi2");
    }
#endif

    h->md = EVP_MD_CTX_new();
    if (h->md == NULL) {
        free(h);
        return NULL;
    }

    if (EVP_DigestInit_ex(h->md, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(h->md);
        free(h);
        return NULL;
    }

    return h;
}


static void
attest_jsonhash_put(attest_jsonhash_t *h, const uint8_t *p, size_t len)
{
    if (len && EVP_DigestUpdate(h->md, p, len) != 1) {
        h->failed = 1;
    }
}


static void
attest_jsonhash_flush(attest_jsonhash_t *h)
{
    attest_jsonhash_put(h, h->buf, h->n);
    h->n = 0;
}


/*
 * Hashes the run p[0..len) through buf, whose first out bytes are taken;
 * returns the new out.  end: where the caller's buffer holding the run
 * ends.  Most runs of a body of short tokens take one fixed-size copy.
 */
static inline size_t
attest_jsonhash_run(attest_jsonhash_t *h, size_t out, const uint8_t *p,
    size_t len, const uint8_t *end)
{
    if (len <= 32 && end - p >= 32) {
        if (out >= ATTEST_JSONHASH_BUF) {
            attest_jsonhash_put(h, h->buf, out);
            out = 0;
        }

        memcpy(h->buf + out, p, 32);
        return out + len;
    }

    if (len >= ATTEST_JSONHASH_DIRECT || out + len > ATTEST_JSONHASH_BUF) {
        attest_jsonhash_put(h, h->buf, out);
        out = 0;

        if (len >= ATTEST_JSONHASH_DIRECT) {
            attest_jsonhash_put(h, p, len);
            return 0;
        }
    }

    memcpy(h->buf + out, p, len);
    return out + len;
}


#ifdef ATTEST_JSONHASH_SSE2

/* bits 16 * k .. 16 * k + 15 of a mask: the bytes of v equal to c's */
#define ATTEST_JSONHASH_EQ(v, c, k)                                           \
    ((uint64_t) (uint16_t) _mm_movemask_epi8(_mm_cmpeq_epi8(v, c)) << (16 * k))

#define ATTEST_JSONHASH_EQ2(v, c, d, k)                                       \
    ((uint64_t) (uint16_t) _mm_movemask_epi8(                                 \
         _mm_or_si128(_mm_cmpeq_epi8(v, c), _mm_cmpeq_epi8(v, d)))            \
     << (16 * k))

#endif


/* all four masks of the 64 bytes at p */
static inline void
attest_jsonhash_classify(const uint8_t *p, attest_jsonhash_masks_t *m)
{
#ifdef ATTEST_JSONHASH_SSE2
    __m128i  v0, v1, v2, v3, vq, vb, vc, vk, vs;

    vq = _mm_set1_epi8('"');
    vb = _mm_set1_epi8('\\');
    vc = _mm_set1_epi8(',');
    vk = _mm_set1_epi8(':');
    vs = _mm_set1_epi8(' ');

    v0 = _mm_loadu_si128((const __m128i *) p);
    v1 = _mm_loadu_si128((const __m128i *) (p + 16));
    v2 = _mm_loadu_si128((const __m128i *) (p + 32));
    v3 = _mm_loadu_si128((const __m128i *) (p + 48));

    m->quote = ATTEST_JSONHASH_EQ(v0, vq, 0) | ATTEST_JSONHASH_EQ(v1, vq, 1)
               | ATTEST_JSONHASH_EQ(v2, vq, 2) | ATTEST_JSONHASH_EQ(v3, vq, 3);
    m->bslash = ATTEST_JSONHASH_EQ(v0, vb, 0) | ATTEST_JSONHASH_EQ(v1, vb, 1)
                | ATTEST_JSONHASH_EQ(v2, vb, 2)
                | ATTEST_JSONHASH_EQ(v3, vb, 3);
    m->sep = ATTEST_JSONHASH_EQ2(v0, vc, vk, 0)
             | ATTEST_JSONHASH_EQ2(v1, vc, vk, 1)
             | ATTEST_JSONHASH_EQ2(v2, vc, vk, 2)
             | ATTEST_JSONHASH_EQ2(v3, vc, vk, 3);
    m->space = ATTEST_JSONHASH_EQ(v0, vs, 0) | ATTEST_JSONHASH_EQ(v1, vs, 1)
               | ATTEST_JSONHASH_EQ(v2, vs, 2) | ATTEST_JSONHASH_EQ(v3, vs, 3);

#else
    /* bit 0 '"', 1 '\\', 2 ',' or ':', 3 ' ' */
    static const uint8_t  cls[256] = {
        [' '] = 8, ['"'] = 1, [','] = 4, [':'] = 4, ['\\'] = 2
    };

    int       i;
    unsigned  k;

    m->quote = m->bslash = m->sep = m->space = 0;

    for (i = 0; i < 64; i++) {
        k = cls[p[i]];

        m->quote |= (uint64_t) (k & 1) << i;
        m->bslash |= (uint64_t) ((k >> 1) & 1) << i;
        m->sep |= (uint64_t) ((k >> 2) & 1) << i;
        m->space |= (uint64_t) (k >> 3) << i;
    }
#endif
}


/* the quote and backslash masks of the 64 bytes at p */
static inline void
attest_jsonhash_classify_string(const uint8_t *p, uint64_t *quote,
    uint64_t *bslash)
{
#ifdef ATTEST_JSONHASH_SSE2
    __m128i  v0, v1, v2, v3, vq, vb;

    vq = _mm_set1_epi8('"');
    vb = _mm_set1_epi8('\\');

    v0 = _mm_loadu_si128((const __m128i *) p);
    v1 = _mm_loadu_si128((const __m128i *) (p + 16));
    v2 = _mm_loadu_si128((const __m128i *) (p + 32));
    v3 = _mm_loadu_si128((const __m128i *) (p + 48));

    *quote = ATTEST_JSONHASH_EQ(v0, vq, 0) | ATTEST_JSONHASH_EQ(v1, vq, 1)
             | ATTEST_JSONHASH_EQ(v2, vq, 2) | ATTEST_JSONHASH_EQ(v3, vq, 3);
    *bslash = ATTEST_JSONHASH_EQ(v0, vb, 0) | ATTEST_JSONHASH_EQ(v1, vb, 1)
              | ATTEST_JSONHASH_EQ(v2, vb, 2) | ATTEST_JSONHASH_EQ(v3, vb, 3);
#else
    attest_jsonhash_masks_t  m;

    attest_jsonhash_classify(p, &m);
    *quote = m.quote;
    *bslash = m.bslash;
#endif
}


/*
 * The escaped bytes of a block whose backslashes all stand in strings,
 * backslashes themselves left out: a byte is escaped when the backslash
 * run before it has odd length.  escape: byte 0 is escaped by the block
 * before.  A run starting at bit s is found by adding bit s to it, which
 * carries to the bit after its end, s + length: the byte there is escaped
 * when that end has the other parity than s.  *out: a run through bit 63
 * escapes byte 0 of the next block.
 */
static inline uint64_t
attest_jsonhash_escaped(uint64_t bslash, unsigned escape, unsigned *out)
{
    uint64_t  b, starts, even, odd;

    b = bslash & ~(uint64_t) escape;
    starts = b & ~(b << 1);

    even = b + (starts & ATTEST_JSONHASH_EVEN);
    odd = b + (starts & ~ATTEST_JSONHASH_EVEN);

    *out = odd < b;

    return (even & ~b & ~ATTEST_JSONHASH_EVEN)
           | (odd & ~b & ATTEST_JSONHASH_EVEN) | escape;
}


/* bit i of the result: the parity of bits 0..i of x */
static inline uint64_t
attest_jsonhash_prefix_xor(uint64_t x)
{
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;

    return x;
}


/*
 * The dropped spaces of the n (1..64) bytes at p, as a mask, by the masks;
 * -1 (state untouched) when a backslash stands outside a string, where
 * the masks would treat it as an escaper.  The bytes from p + n to
 * p + 64 must be readable and must be none of '"', '\\', ',', ':', ' '.
 */
static inline int
attest_jsonhash_block(attest_jsonhash_state_t *st, const uint8_t *p,
    unsigned n, uint64_t *drops)
{
    unsigned                 carry;
    uint64_t                 esc, quote, in, before, sep;
    attest_jsonhash_masks_t  m;

#ifdef ATTEST_JSONHASH_AVX512
    if (attest_jsonhash_wide > 0) {
        attest_jsonhash_classify_wide(p, &m);

    } else {
        attest_jsonhash_classify(p, &m);
    }
#else
    attest_jsonhash_classify(p, &m);
#endif

    /* most blocks of JSON have no backslash at all */
    carry = 0;
    esc = (m.bslash | st->escape)
          ? attest_jsonhash_escaped(m.bslash, st->escape, &carry) : 0;

    /* in: in a string after byte i; before: in a string before byte i */
    quote = m.quote & ~esc;
    in = attest_jsonhash_prefix_xor(quote) ^ (0 - (uint64_t) st->in_string);
    before = in ^ quote;

    if (m.bslash & ~before) {
        return -1;
    }

    /* a space right after a ',' or ':' outside a string */
    sep = m.sep & ~before;
    *drops = ((sep << 1) | st->after_sep) & m.space;

    st->in_string = (in >> (n - 1)) & 1;
    st->escape = n == 64 ? carry : (esc >> n) & 1;
    st->after_sep = (sep >> (n - 1)) & 1;

    return 0;
}


/* the same for any bytes, the rule spelled out byte by byte */
static uint64_t
attest_jsonhash_bytes(attest_jsonhash_state_t *st, const uint8_t *p,
    unsigned n)
{
    unsigned  i;
    uint8_t   c;
    uint64_t  drops;

    drops = 0;

    for (i = 0; i < n; i++) {
        c = p[i];

        if (st->in_string) {
            if (st->escape) {
                st->escape = 0;

            } else if (c == '\\') {
                st->escape = 1;

            } else if (c == '"') {
                st->in_string = 0;
            }

            continue;
        }

        if (st->after_sep) {
            st->after_sep = 0;

            if (c == ' ') {
                drops |= 1ULL << i;
                continue;
            }
        }

        if (c == '"') {
            st->in_string = 1;

        } else if (c == ',' || c == ':') {
            st->after_sep = 1;
        }
    }

    return drops;
}


/*
 * Inside a string, whole blocks up to the one holding its closing quote,
 * whose position it returns; end - 63 or later when the bytes run out
 * first.  Backslashes in a string are escapers, so no fallback here.
 */
static inline const uint8_t *
attest_jsonhash_string(attest_jsonhash_state_t *st, const uint8_t *p,
    const uint8_t *end)
{
    unsigned  carry;
    uint64_t  quote, bslash;

    while (end - p >= 64) {
        attest_jsonhash_classify_string(p, &quote, &bslash);
        quote &= ~attest_jsonhash_escaped(bslash, st->escape, &carry);

        if (quote) {
            /* the block goes on from the closing quote, not escaped */
            st->escape = 0;
            return p + __builtin_ctzll(quote);
        }

        st->escape = carry;
        p += 64;
    }

    return p;
}


/*
 * The bytes from p to end, in a caller's buffer that goes on to last;
 * a run is never longer than this piece, so it is hashed while its
 * bytes are still in the L1 cache.
 */
static void
attest_jsonhash_piece(attest_jsonhash_t *h, const uint8_t *p,
    const uint8_t *end, const uint8_t *last)
{
    size_t                   out, len;
    unsigned                 n, i;
    uint8_t                  tail[64];
    uint64_t                 drops;
    const uint8_t           *run, *blk;
    attest_jsonhash_state_t  st;

    /* locals, in registers: stores into buf may alias anything in h */
    st = h->st;
    out = h->n;
    run = p;             /* the start of the run not hashed yet */

    while (p < end) {

        if (st.in_string) {
            p = attest_jsonhash_string(&st, p, end);

            if (p == end) {
                break;
            }
        }

        if (end - p >= 64) {
            n = 64;
            blk = p;

        } else {
            /* the last bytes, padded with zeros, which match nothing */
            n = (unsigned) (end - p);
            memset(tail, 0, sizeof(tail));
            memcpy(tail, p, n);
            blk = tail;
        }

        if (attest_jsonhash_block(&st, blk, n, &drops) != 0) {
            drops = attest_jsonhash_bytes(&st, p, n);
        }

#ifdef ATTEST_JSONHASH_AVX512
        if (drops && attest_jsonhash_wide > 0) {
            /* the run up to this block, then the block compacted */
            out = p > run ? attest_jsonhash_run(h, out, run, p - run, last)
                          : out;

            if (out > ATTEST_JSONHASH_BUF - 64) {
                attest_jsonhash_put(h, h->buf, out);
                out = 0;
            }

            out += attest_jsonhash_compress(h->buf + out, blk,
                                            ~drops & (n == 64 ? ~0ULL
                                                      : (1ULL << n) - 1));
            run = p + n;
            drops = 0;
        }
#endif

        /* a run ends at each dropped space */
        if (drops) {
            /* the first may have begun blocks ago */
            i = __builtin_ctzll(drops);
            out = attest_jsonhash_run(h, out, run, p + i - run, last);
            run = p + i + 1;
            drops &= drops - 1;

            if (drops && last - p >= 128 && out <= ATTEST_JSONHASH_BUF - 64) {
                /*
                 * the others lie in this block, under 64 bytes each and in
                 * all: they fit in buf, and 64 bytes from any of them are
                 * readable, so each is one or two fixed-size copies: 16
                 * bytes take most runs between separators
                 */
                do {
                    i = __builtin_ctzll(drops);
                    len = p + i - run;
                    memcpy(h->buf + out, run, 16);

                    if (len > 16) {
                        memcpy(h->buf + out + 16, run + 16, 48);
                    }

                    out += len;
                    run = p + i + 1;
                    drops &= drops - 1;
                } while (drops);
            }

            while (drops) {
                i = __builtin_ctzll(drops);
                out = attest_jsonhash_run(h, out, run, p + i - run, last);
                run = p + i + 1;
                drops &= drops - 1;
            }
        }

        p += n;
    }

    h->n = attest_jsonhash_run(h, out, run, end - run, last);
    h->st = st;
}


void
attest_jsonhash_update(attest_jsonhash_t *h, const uint8_t *p, size_t len)
{
    size_t  n;

    if (h == NULL || h->done || h->failed) {
        return;
    }

    while (len) {
        n = len < ATTEST_JSONHASH_PIECE ? len : ATTEST_JSONHASH_PIECE;
        attest_jsonhash_piece(h, p, p + n, p + len);
        p += n;
        len -= n;
    }
}


void
attest_jsonhash_final(attest_jsonhash_t *h, uint8_t out[32])
{
    unsigned int  n;

    if (h == NULL || h->done || h->failed) {
        /* cannot report here; an all-zero digest matches no response */
        memset(out, 0, 32);

    } else {
        attest_jsonhash_flush(h);

        if (h->failed || EVP_DigestFinal_ex(h->md, out, &n) != 1 || n != 32) {
            h->failed = 1;
            memset(out, 0, 32);
        }
    }

    if (h != NULL) {
        h->done = 1;
    }
}


void
attest_jsonhash_free(attest_jsonhash_t *h)
{
    if (h == NULL) {
        return;
    }

    EVP_MD_CTX_free(h->md);
    free(h);
}


int
attest_jsonhash(const uint8_t *p, size_t len, uint8_t out[32])
{
    int                 rc;
    attest_jsonhash_t  *h;

    h = attest_jsonhash_new();
    if (h == NULL) {
        memset(out, 0, 32);
        return -1;
    }

    attest_jsonhash_update(h, p, len);
    attest_jsonhash_final(h, out);

    rc = h->failed ? -1 : 0;

    attest_jsonhash_free(h);

    return rc;
}
