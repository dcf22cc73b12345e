/*
 * Microbenchmarks of the core's two hot functions, linked against
 * build/libattest.a (make bench-core):
 *
 *   - attest_keccak256: microseconds per Keccak-f[1600] permutation (a
 *     64-byte input is one permutation; the 158-byte EIP-191 message of a
 *     signed response is two), and MB/s on 8 KiB inputs;
 *   - attest_jsonhash: GB/s on response bodies of two shapes (long strings;
 *     many short tokens), next to EVP SHA-256 alone over the same bytes;
 *   - attest_eth_recover: microseconds per signer recovery (secp256k1
 *     public-key recovery and the key's address), the floor of verifying
 *     one signed response;
 *   - the SSE accumulator (attest_sse_feed, every line of a 500-event
 *     stream, then attest_sse_hash): ns per event and MB/s, on a stream
 *     made like the agent's or, with -s FILE, on a recorded one
 *     (bench/profile-sse.sh leaves one in build/bench/stream-500.sse);
 *   - attest_reqhash (request binding): ns per body byte, whole (new,
 *     update, final, free; then one canonicalizer reset for each body, as
 *     the module's workers do), on chat requests of three shapes (plain
 *     prose; the prompt of bench.pl's section (d); dense escapes and
 *     non-ASCII).
 *
 * The same run then asks `openssl speed` for its SHA3-256 (assembly
 * Keccak) and SHA-256 figures on 8 KiB blocks, for comparison.  Each
 * figure is the median of RUNS timed runs; the spread is min..max.
 *
 *   build/bench/bench_core [-q] [-s FILE] [-w DIR]
 *       -q: shorter runs, no openssl speed; -s: the SSE row on a
 *       recorded stream too; -w DIR: also write the request bodies to
 *       DIR/req-*.json (for timing the Python reference on the same bytes)
 *   build/bench/bench_core -r        only the recovery figure, one line:
 *                                    "recover_us MEDIAN MIN MAX" (for
 *                                    bench/bench.pl, section e)
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <secp256k1.h>
#include <secp256k1_recovery.h>

#include "attest_eth.h"
#include "attest_jsonhash.h"
#include "attest_keccak.h"
#include "attest_sse.h"
#include "attest_reqhash.h"


#define RUNS  7


static double  target_s = 0.25;     /* seconds per timed run */


static double
now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);

    return ts.tv_sec + ts.tv_nsec / 1e9;
}


static int
cmp_double(const void *a, const void *b)
{
    double  x = *(const double *) a, y = *(const double *) b;

    return x < y ? -1 : x > y;
}


typedef void (*bench_fn)(const uint8_t *p, size_t len, uint8_t *sink);


/*
 * Seconds per call of fn(p, len): calibrated so that a run lasts about
 * target_s; median of RUNS runs in *med, fastest and slowest in *lo, *hi.
 */
static void
time_calls(bench_fn fn, const uint8_t *p, size_t len, double *med,
    double *lo, double *hi)
{
    int      r;
    double   t, s[RUNS];
    size_t   i, n;
    uint8_t  sink[32];

    memset(sink, 0, sizeof(sink));

    for (n = 1; ; n *= 2) {
        t = now();
        for (i = 0; i < n; i++) {
            fn(p, len, sink);
        }
        t = now() - t;

        if (t > target_s / 8) {
            n = (size_t) (n * target_s / t) + 1;
            break;
        }
    }

    for (r = 0; r < RUNS; r++) {
        t = now();
        for (i = 0; i < n; i++) {
            fn(p, len, sink);
        }
        s[r] = (now() - t) / n;
    }

    qsort(s, RUNS, sizeof(double), cmp_double);

    *med = s[RUNS / 2];
    *lo = s[0];
    *hi = s[RUNS - 1];

    /* keep the results observable */
    if (sink[0] == 0x5a && sink[1] == 0xa5 && sink[2] == 0x5a) {
        fputc('.', stderr);
    }
}


static void
run_keccak(const uint8_t *p, size_t len, uint8_t *sink)
{
    uint8_t  d[32];

    attest_keccak256(p, len, d);
    sink[0] ^= d[0];
}


static void
run_jsonhash(const uint8_t *p, size_t len, uint8_t *sink)
{
    uint8_t  d[32];

    attest_jsonhash(p, len, d);
    sink[0] ^= d[0];
}


static void
run_sha256(const uint8_t *p, size_t len, uint8_t *sink)
{
    uint8_t       d[32];
    unsigned int  n;

    EVP_Digest(p, len, d, &n, EVP_sha256(), NULL);
    sink[0] ^= d[0];
}


/* a signature made once by make_signature(), recovered again and again */
static uint8_t  rec_digest[32];
static uint8_t  rec_sig[ATTEST_ETH_SIG_LEN];


static void
run_recover(const uint8_t *p, size_t len, uint8_t *sink)
{
    uint8_t       addr[ATTEST_ETH_ADDR_LEN];
    attest_err_t  err;

    if (attest_eth_recover(rec_digest, rec_sig, addr, &err) != ATTEST_OK) {
        fprintf(stderr, "bench_core: recovery failed\n");
        exit(1);
    }
    sink[0] ^= addr[0];
}


/*
 * Signs a fixed digest with a fixed key (libsecp256k1, recoverable
 * signature r || s || v, as the agent sends it) and checks that
 * attest_eth_recover finds the key's address.
 */
static void
make_signature(void)
{
    int                                     recid;
    size_t                                  i, n;
    uint8_t                                 key[32], pub[65];
    uint8_t                                 a1[ATTEST_ETH_ADDR_LEN];
    uint8_t                                 a2[ATTEST_ETH_ADDR_LEN];
    attest_err_t                            err;
    secp256k1_pubkey                        pk;
    secp256k1_context                      *ctx;
    secp256k1_ecdsa_recoverable_signature   rs;

    for (i = 0; i < 32; i++) {
        key[i] = (uint8_t) (i + 1);
        rec_digest[i] = (uint8_t) (i * 37 + 11);
    }

    ctx = secp256k1_context_create(SECP256K1_CONTEXT_SIGN);
    n = sizeof(pub);

    if (ctx == NULL
        || !secp256k1_ecdsa_sign_recoverable(ctx, &rs, rec_digest, key,
                                             NULL, NULL)
        || !secp256k1_ecdsa_recoverable_signature_serialize_compact(ctx,
                                                       rec_sig, &recid, &rs)
        || !secp256k1_ec_pubkey_create(ctx, &pk, key)
        || !secp256k1_ec_pubkey_serialize(ctx, pub, &n, &pk,
                                          SECP256K1_EC_UNCOMPRESSED))
    {
        fprintf(stderr, "bench_core: signing failed\n");
        exit(1);
    }

    rec_sig[64] = (uint8_t) recid;
    secp256k1_context_destroy(ctx);

    attest_eth_pubkey_address(pub + 1, a1);

    if (attest_eth_recover(rec_digest, rec_sig, a2, &err) != ATTEST_OK
        || memcmp(a1, a2, sizeof(a1)) != 0)
    {
        fprintf(stderr, "bench_core: recovery does not find the signer\n");
        exit(1);
    }
}


static void
report_recover(void)
{
    double  med, lo, hi;

    time_calls(run_recover, NULL, 0, &med, &lo, &hi);
    printf("  attest_eth_recover            %7.2f us/signature"
           "    (%.2f..%.2f)\n", med * 1e6, lo * 1e6, hi * 1e6);
}


static void
run_reqhash(const uint8_t *p, size_t len, uint8_t *sink)
{
    uint8_t            d[32];
    attest_reqhash_t  *r;

    r = attest_reqhash_new(len);
    if (r == NULL
        || attest_reqhash_update(r, p, len) != ATTEST_REQ_OK
        || attest_reqhash_final(r, d) != ATTEST_REQ_OK)
    {
        fprintf(stderr, "bench_core: reqhash refused a bench body: %s\n",
                r ? attest_reqhash_error(r) : "nomem");
        exit(1);
    }

    attest_reqhash_free(r);
    sink[0] ^= d[0];
}


/*
 * the same through one canonicalizer reset for each body, as a worker
 * does (attest_reqhash_reset): no allocation, no fresh pages per body
 */
static attest_reqhash_t  *reqhash_kept;

static void
run_reqhash_kept(const uint8_t *p, size_t len, uint8_t *sink)
{
    uint8_t  d[32];
    size_t   n;

    if (reqhash_kept == NULL) {
        reqhash_kept = attest_reqhash_new(len);
    }

    attest_reqhash_reset(reqhash_kept, len, 4 << 20);

    if (attest_reqhash_update(reqhash_kept, p, len) != ATTEST_REQ_OK
        || attest_reqhash_final(reqhash_kept, d) != ATTEST_REQ_OK
        || attest_reqhash_canonical(reqhash_kept, &n) == NULL)
    {
        fprintf(stderr, "bench_core: reqhash refused a bench body: %s\n",
                attest_reqhash_error(reqhash_kept));
        exit(1);
    }

    sink[0] ^= d[0];
}


/* a deterministic generator, so every run hashes the same bodies */
static uint64_t  rng_state = 0x2545f4914f6cdd1dULL;


static uint32_t
rng(uint32_t n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;

    return (uint32_t) (rng_state % n);
}


typedef struct {
    uint8_t  *p;
    size_t    len;
    size_t    cap;
} buf_t;


static void
put(buf_t *b, const char *s, size_t len)
{
    if (b->len + len > b->cap) {
        b->cap = (b->len + len) * 2;
        b->p = realloc(b->p, b->cap);
        if (b->p == NULL) {
            perror("realloc");
            exit(1);
        }
    }

    memcpy(b->p + b->len, s, len);
    b->len += len;
}


static void
puts_(buf_t *b, const char *s)
{
    put(b, s, strlen(s));
}


/*
 * A chat completion as the agent sends it (json.dumps defaults: ", " and
 * ": "), whose message content is size bytes of model prose: words, a
 * "\n" escape every line or so, now and then a \" or a \u escape.
 */
static void
body_long_strings(buf_t *b, size_t size)
{
    static const char  *words[] = {
        "the", "model", "attestation", "report", "is", "verified", "by",
        "a", "signature", "over", "each", "response", "and", "its",
        "hash,", "which", "covers", "every", "byte:", "GPU", "evidence",
        "TDX", "quote", "nonce", "of", "in", "to", "that", "with", "for"
    };

    size_t  line;

    puts_(b, "{\"id\": \"chatcmpl-5f0c1e2d3a4b\", \"object\": "
          "\"chat.completion\", \"created\": 1764547200, \"model\": "
          "\"meta-llama/Llama-3.3-70B-Instruct\", \"choices\": [{\"index\": "
          "0, \"message\": {\"role\": \"assistant\", \"content\": \"");

    line = 0;

    while (b->len < size) {
        switch (rng(40)) {
        case 0:
            puts_(b, "\\\"quoted\\\" ");
            break;
        case 1:
            puts_(b, "caf\\u00e9 ");
            break;
        default:
            puts_(b, words[rng(sizeof(words) / sizeof(words[0]))]);
            puts_(b, " ");
        }

        if (b->len - line > 60 + rng(40)) {
            puts_(b, "\\n");
            line = b->len;
        }
    }

    puts_(b, "\", \"tool_calls\": []}, \"logprobs\": null, \"finish_reason\": "
          "\"stop\", \"stop_reason\": null}], \"usage\": {\"prompt_tokens\": "
          "37, \"total_tokens\": 1290, \"completion_tokens\": 1253}, "
          "\"prompt_logprobs\": null}");
}


/*
 * The same completion with logprobs: after a short content, one small
 * object per token, as vLLM sends them: many short strings, numbers and
 * separators, each ", " and ": " one space to drop.
 */
static void
body_short_tokens(buf_t *b, size_t size)
{
    static const char  *toks[] = {
        "The", " model", " is", " verified", ",", " and", " the", " hash",
        " covers", " it", ".", "\\n", " GPU", " T", "DX", " \\\"", "1",
        " by"
    };

    char         tmp[64];
    const char  *t;
    size_t       i, n;

    puts_(b, "{\"id\": \"chatcmpl-5f0c1e2d3a4b\", \"object\": "
          "\"chat.completion\", \"created\": 1764547200, \"model\": "
          "\"m\", \"choices\": [{\"index\": 0, \"message\": {\"role\": "
          "\"assistant\", \"content\": \"The model is verified.\"}, "
          "\"logprobs\": {\"content\": [");

    for (i = 0; b->len < size; i++) {
        t = toks[rng(sizeof(toks) / sizeof(toks[0]))];

        puts_(b, i ? ", {\"token\": \"" : "{\"token\": \"");
        puts_(b, t);
        /* a fraction of 6 digits ending in 1..9: as Python's repr prints */
        n = (size_t) snprintf(tmp, sizeof(tmp), "\", \"logprob\": -%u.%05u%u",
                              rng(3), rng(100000), 1 + rng(9));
        put(b, tmp, n);
        n = (size_t) snprintf(tmp, sizeof(tmp), ", \"bytes\": [%u, %u]",
                              32 + rng(90), 32 + rng(90));
        put(b, tmp, n);
        puts_(b, ", \"top_logprobs\": []}");
    }

    puts_(b, "]}, \"finish_reason\": \"stop\"}], \"usage\": "
          "{\"prompt_tokens\": 37, \"completion_tokens\": 1253}}");
}


/* the accumulator on a whole stream: every line fed, the hash taken */
static void
run_sse(const uint8_t *p, size_t len, uint8_t *sink)
{
    size_t              n;
    uint8_t             d[32];
    attest_sse_t       *s;
    attest_sse_line_t   line;

    s = attest_sse_new(65536);
    if (s == NULL) {
        return;
    }

    while (len) {
        n = attest_sse_feed(s, p, len, &line);
        p += n;
        len -= n;
    }

    attest_sse_hash(s, d);
    attest_sse_free(s);
    sink[0] ^= d[0];
}


/*
 * A stream as the agent sends vLLM's: events of one chat.completion.chunk
 * each (a token of content, now and then a non-ASCII one), the signature
 * event, then "data: [DONE]"
 */
static void
stream_agent(buf_t *b, size_t events)
{
    static const char  *toks[] = {
        "The", " model", " is", " verified", ",", " and", " the", " hash",
        " covers", " it", ".", "\\n", " GPU", " T", "DX", " \\\"", "1",
        " caf\xc3\xa9", " \xf0\x9f\x91\x8b", " by"
    };

    size_t  i;

    for (i = 0; i < events; i++) {
        puts_(b, "data: {\"id\":\"chatcmpl-646e26dff52ce2b44ea8c17a8a2217e9"
              "\",\"object\":\"chat.completion.chunk\",\"created\":"
              "1796334168,\"model\":\"meta-llama/Llama-3.3-70B-Instruct\","
              "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"");
        puts_(b, toks[rng(sizeof(toks) / sizeof(toks[0]))]);
        puts_(b, "\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n");
    }

    puts_(b, "event: signature\ndata: {\"text\": \"dc2badd93663daf81b749100"
          "76a78adc366321aac86d86507714a6f7bd367195:d5c67dde02acfbac79faea4b"
          "199ce7905975ac875b926a03c3206e58114dedb9\", \"signature\": \"0x0f"
          "9dfd1b8e707aeec92da075b3bc6d7f93f1674233ad0504ae4e06ccca1a2e2677"
          "6bc8e8351e3d9f9ab677378466f1d8048659183c11865e62b6a08f776812051b"
          "\", \"signing_address\": \"0xB47B09fc833B347a46aC7DB7f16a24d8A2"
          "0c572B\", \"signing_algo\": \"ecdsa\"}\n\ndata: [DONE]\n\n");
}


static void
report_sse(const char *name, const uint8_t *p, size_t len)
{
    size_t              n, off, events;
    double              med, lo, hi, smed, slo, shi;
    attest_sse_t       *s;
    attest_sse_line_t   line;

    /* the events: data lines hashed */
    s = attest_sse_new(65536);
    if (s == NULL) {
        return;
    }

    events = 0;

    for (off = 0; off < len; off += n) {
        n = attest_sse_feed(s, p + off, len - off, &line);
        events += (line.type == ATTEST_SSE_DATA);
    }

    attest_sse_free(s);

    if (events == 0) {
        printf("  %s: no data events\n", name);
        return;
    }

    time_calls(run_sse, p, len, &med, &lo, &hi);
    time_calls(run_sha256, p, len, &smed, &slo, &shi);

    printf("  %-28s %4zu events %7zu B  %6.1f ns/event (%.1f..%.1f)"
           "  %6.1f MB/s  sha256 alone %6.1f ns/event\n",
           name, events, len, med * 1e9 / events, lo * 1e9 / events,
           hi * 1e9 / events, len / med / 1e6, smed * 1e9 / events);
}


static uint8_t *
read_file(const char *path, size_t *len)
{
    long      n;
    FILE     *f;
    uint8_t  *p;

    f = fopen(path, "rb");
    if (f == NULL) {
        perror(path);
        exit(1);
    }

    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);

    p = malloc(n > 0 ? (size_t) n : 1);
    if (p == NULL || n < 0 || fread(p, 1, (size_t) n, f) != (size_t) n) {
        perror(path);
        exit(1);
    }

    fclose(f);
    *len = (size_t) n;

    return p;
}


static void
report_keccak(void)
{
    uint8_t  in[8192];
    size_t   i;
    double   med, lo, hi;

    for (i = 0; i < sizeof(in); i++) {
        in[i] = (uint8_t) (i * 131 + 7);
    }

    printf("Keccak-256 (attest_keccak256)\n");

    time_calls(run_keccak, in, 64, &med, &lo, &hi);
    printf("  64 B (1 permutation)          %7.3f us/permutation"
           "  (%.3f..%.3f)\n", med * 1e6, lo * 1e6, hi * 1e6);

    time_calls(run_keccak, in, 158, &med, &lo, &hi);
    printf("  158 B EIP-191 message (2)     %7.3f us/message"
           "      (%.3f..%.3f)\n", med * 1e6, lo * 1e6, hi * 1e6);

    /* 8192 bytes: 60 whole blocks of 136 and a padded last one */
    time_calls(run_keccak, in, 8192, &med, &lo, &hi);
    printf("  8 KiB (61 permutations)       %7.3f us/permutation"
           "  %6.1f MB/s\n", med * 1e6 / 61, 8192 / med / 1e6);
}


static void
report_jsonhash(const char *name, buf_t *b)
{
    double  med, lo, hi, smed, slo, shi;

    time_calls(run_jsonhash, b->p, b->len, &med, &lo, &hi);
    time_calls(run_sha256, b->p, b->len, &smed, &slo, &shi);

    printf("  %-28s %7zu B  jsonhash %5.2f GB/s (%.2f..%.2f)"
           "  sha256 %5.2f GB/s  ratio %.2f\n",
           name, b->len, b->len / med / 1e9, b->len / hi / 1e9,
           b->len / lo / 1e9, b->len / smed / 1e9, smed / med);
}


/*
 * Chat requests (the client's body, json.dumps defaults) whose user
 * message is about size bytes of text of one of three kinds:
 *
 *   REQ_PLAIN   ASCII prose, a "\n" escape at the end of each line: the
 *               canonical form is the body less its spaces;
 *   REQ_BENCH   bench.pl's section (d) prompt: a \" pair, a \n and two
 *               \u00xx escapes every 70 bytes;
 *   REQ_ESCAPE  dense escapes and non-ASCII: raw UTF-8 of 2, 3 and 4
 *               bytes (json.dumps writes each as \uXXXX, the astral ones
 *               as a surrogate pair), \uXXXX escapes in both cases, \",
 *               \\, \/, \t, \n and \u0001-style control characters.
 */
enum { REQ_PLAIN, REQ_BENCH, REQ_ESCAPE };

static void
body_request(buf_t *b, size_t size, int kind)
{
    static const char  *words[] = {
        "please", "summarize", "the", "following", "report", "and", "list",
        "every", "risk", "it", "names,", "with", "a", "short", "reason",
        "for", "each:", "GPU", "evidence", "quote", "nonce", "of", "in"
    };
    static const char  *esc[] = {
        "caf\xc3\xa9 ", "na\xc3\xafve ", "\xe4\xb8\xad\xe6\x96\x87 ",
        "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e ", "\xf0\x9f\x98\x80 ",
        "\xf0\x9f\x91\x8b\xf0\x9f\x8f\xbd ", "\\\"quoted\\\" ",
        "C:\\\\path\\\\file ", "a\\/b ", "\\t", "\\n", "\\u0001\\u001f ",
        "\\u00e9\\u00E8 ", "\\ud83d\\ude00 ", "\\u4e2d ", "\xd0\x9f\xd1\x80 ",
        "x\\by\\f ", "\xe2\x82\xac" "5 "
    };

    size_t  line, end;

    puts_(b, "{\"model\": \"meta-llama/Llama-3.3-70B-Instruct\", "
          "\"messages\": [{\"role\": \"system\", \"content\": "
          "\"You are a helpful assistant.\"}, {\"role\": \"user\", "
          "\"content\": \"");

    end = size > 160 ? size - 100 : 60;
    line = b->len;

    while (b->len < end) {
        switch (kind) {

        case REQ_PLAIN:
            puts_(b, words[rng(sizeof(words) / sizeof(words[0]))]);
            puts_(b, " ");

            if (b->len - line > 60 + rng(40)) {
                puts_(b, "\\n");
                line = b->len;
            }

            break;

        case REQ_BENCH:
            puts_(b, "The quick brown fox \\\"jumps\\\" over the lazy dog.\\n"
                  "caf\\u00e9 na\\u00efve 42 ");
            break;

        default:
            if (rng(3) == 0) {
                puts_(b, words[rng(sizeof(words) / sizeof(words[0]))]);
                puts_(b, " ");

            } else {
                puts_(b, esc[rng(sizeof(esc) / sizeof(esc[0]))]);
            }
        }
    }

    puts_(b, "\"}], \"temperature\": 0.7, \"max_tokens\": 512, "
          "\"top_p\": 0.95, \"stream\": false}");
}


static void
report_reqhash(const char *name, buf_t *b, const char *dir, const char *file)
{
    char               path[512];
    double             med, lo, hi, kmed, klo, khi;
    size_t             clen;
    uint8_t            d[32];
    FILE              *f;
    attest_reqhash_t  *r;

    r = attest_reqhash_new(b->len);
    if (r == NULL || attest_reqhash_update(r, b->p, b->len) != ATTEST_REQ_OK
        || attest_reqhash_final(r, d) != ATTEST_REQ_OK)
    {
        fprintf(stderr, "bench_core: %s refused\n", name);
        exit(1);
    }

    attest_reqhash_canonical(r, &clen);
    attest_reqhash_free(r);

    time_calls(run_reqhash, b->p, b->len, &med, &lo, &hi);
    time_calls(run_reqhash_kept, b->p, b->len, &kmed, &klo, &khi);

    printf("  %-25s %6zu -> %6zu B  %5.2f ns/B (%.2f..%.2f)"
           "  %5.2f ns/B (%.2f..%.2f) %6.1f us\n",
           name, b->len, clen, med * 1e9 / b->len, lo * 1e9 / b->len,
           hi * 1e9 / b->len, kmed * 1e9 / b->len, klo * 1e9 / b->len,
           khi * 1e9 / b->len, kmed * 1e6);

    if (dir == NULL) {
        return;
    }

    snprintf(path, sizeof(path), "%s/%s", dir, file);

    f = fopen(path, "wb");
    if (f == NULL || fwrite(b->p, 1, b->len, f) != b->len || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}


/* the 8 KiB figure of `openssl speed -evp md`, in bytes per second */
static double
openssl_speed(const char *md)
{
    char     cmd[256], line[1024], *p;
    FILE    *f;
    double   v;

    snprintf(cmd, sizeof(cmd),
             "openssl speed -seconds 2 -bytes 8192 -evp %s 2>/dev/null", md);

    f = popen(cmd, "r");
    if (f == NULL) {
        return -1;
    }

    v = -1;

    /* the result line: "sha3-256   506123.45k" (1000s of bytes/s) */
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, md, strlen(md)) == 0) {
            p = strrchr(line, ' ');
            if (p != NULL) {
                v = strtod(p + 1, NULL) * 1000;
            }
        }
    }

    pclose(f);

    return v;
}


int
main(int argc, char **argv)
{
    int          i, quick, recover;
    size_t       rec_len;
    double       v, med, lo, hi;
    buf_t        b;
    uint8_t     *rec;
    const char  *rec_path, *dir;

    quick = 0;
    recover = 0;
    rec_path = NULL;
    dir = NULL;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-q") == 0) {
            quick = 1;

        } else if (strcmp(argv[i], "-r") == 0) {
            recover = 1;

        } else if (strcmp(argv[i], "-s") == 0 && i + 1 < argc) {
            rec_path = argv[++i];

        } else if (strcmp(argv[i], "-w") == 0 && i + 1 < argc) {
            dir = argv[++i];

        } else {
            fprintf(stderr,
                    "usage: bench_core [-q] [-s FILE] [-w DIR] | -r\n");
            return 2;
        }
    }

    if (quick) {
        target_s = 0.05;
    }

    make_signature();

    if (recover) {
        /* section e of bench/bench.pl: the verify floor, one line */
        target_s = 0.1;
        time_calls(run_recover, NULL, 0, &med, &lo, &hi);
        printf("recover_us %.3f %.3f %.3f\n", med * 1e6, lo * 1e6, hi * 1e6);
        return 0;
    }

    report_keccak();

    printf("\nSigner recovery, the verify floor (secp256k1)\n");
    report_recover();

    printf("\nResponse hash (attest_jsonhash) against EVP SHA-256 alone\n");

    memset(&b, 0, sizeof(b));
    body_long_strings(&b, 5700);
    report_jsonhash("long strings, 5.7 KB", &b);
    b.len = 0;
    body_long_strings(&b, 65536);
    report_jsonhash("long strings, 64 KiB", &b);
    b.len = 0;
    body_long_strings(&b, 1 << 20);
    report_jsonhash("long strings, 1 MiB", &b);
    b.len = 0;
    body_short_tokens(&b, 5700);
    report_jsonhash("short tokens, 5.7 KB", &b);
    b.len = 0;
    body_short_tokens(&b, 65536);
    report_jsonhash("short tokens, 64 KiB", &b);

    printf("\nSSE accumulator (attest_sse_feed every line, attest_sse_hash)"
           "\n");

    b.len = 0;
    stream_agent(&b, 500);
    report_sse("agent-like stream", b.p, b.len);

    printf("\nRequest hash (attest_reqhash), body -> canonical form; "
           "ns per body byte:\n  new, update, final, free each time | "
           "one reset each time (as a worker does), and its us per body\n");

    b.len = 0;
    body_request(&b, 4096, REQ_PLAIN);
    report_reqhash("plain prose, 4 KiB", &b, dir, "req-plain4.json");
    b.len = 0;
    body_request(&b, 102400, REQ_PLAIN);
    report_reqhash("plain prose, 100 KiB", &b, dir, "req-plain100.json");
    b.len = 0;
    body_request(&b, 102400, REQ_BENCH);
    report_reqhash("bench (d) prompt, 100 KiB", &b, dir, "req-bench100.json");
    b.len = 0;
    body_request(&b, 102400, REQ_ESCAPE);
    report_reqhash("escape-heavy, 100 KiB", &b, dir, "req-escape100.json");
    free(b.p);

    if (rec_path != NULL) {
        rec = read_file(rec_path, &rec_len);
        report_sse("recorded stream", rec, rec_len);
        free(rec);
    }

    if (quick) {
        return 0;
    }

    printf("\nopenssl speed, 8 KiB blocks (OpenSSL's assembly)\n");

    v = openssl_speed("sha3-256");
    if (v > 0) {
        /* 60 whole blocks and a padded one per 8 KiB block */
        printf("  sha3-256  %7.1f MB/s  %.3f us/permutation\n",
               v / 1e6, 8192 / v * 1e6 / 61);
    }

    v = openssl_speed("sha256");
    if (v > 0) {
        printf("  sha256    %7.2f GB/s\n", v / 1e9);
    }

    return 0;
}
