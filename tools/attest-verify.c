/*
 * attest-verify: the verification core on the command line, for operators
 * who want to know offline why a response or a report was rejected.
 *
 *   attest-verify response --signer 0xADDR --headers FILE --body FILE
 *       [--image-digest sha256:HEX]
 *   attest-verify report --nonce HEX [--gpu-root FILE] [--cpu-root FILE]
 *       [--report-data nonce|address_nonce] [--image-digest D]... FILE
 *   attest-verify pin [--nonce HEX] [--gpu-root FILE] [--cpu-root FILE]
 *       [--report-data nonce|address_nonce] FILE...          (av_pin.c)
 *   attest-verify gpu --nonce HEX --root FILE EVIDENCE CERTS (av_gpu.c)
 *   attest-verify tdx --root FILE [--report-data HEX] [--mrtd HEX] QUOTE
 *   attest-verify request [--max-size BYTES] FILE|-        (av_request.c)
 *   attest-verify --help | --version                          (av_help.c)
 *
 * Exit 0 and "verified", exit 1 and "failed: <reason>", exit 2 on usage.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "attest_codec.h"
#include "attest_eth.h"
#include "attest_jsonhash.h"
#include "attest_sig.h"
#include "attest_sse.h"
#include "attest_verify.h"
#include "cli.h"


#define CLI_USAGE_ALL                                                         \
    "attest-verify response|report|pin|gpu|tdx|request ...\n"                \
    "  response --signer 0xADDR --headers FILE --body FILE "                 \
    "[--image-digest D]\n"                                                    \
    "  report --nonce HEX [--gpu-root FILE] [--cpu-root FILE] "               \
    "[--report-data nonce|address_nonce] [--image-digest D]... FILE\n"       \
    "  pin [--nonce HEX] [--gpu-root FILE] [--cpu-root FILE] FILE...\n"      \
    "  gpu --nonce HEX --root FILE EVIDENCE CERTS\n"                          \
    "  tdx --root FILE [--report-data HEX] [--mrtd HEX] QUOTE\n"              \
    "  request [--max-size BYTES] FILE|-"

#define CLI_USAGE_RESPONSE                                                    \
    "attest-verify response --signer 0xADDR --headers FILE --body FILE "     \
    "[--image-digest sha256:HEX]"

#define CLI_USAGE_REPORT                                                      \
    "attest-verify report --nonce HEX [--gpu-root FILE] [--cpu-root FILE] "  \
    "[--report-data nonce|address_nonce] [--image-digest D]... FILE"


/*
 * The value of header name in curl -D output: the last occurrence wins,
 * so that a "100 Continue" block before the real one does not matter.
 * Trims the value in place.
 */
static void
cli_header(char *headers, size_t len, const char *name, attest_str_t *out)
{
    char    *p, *end, *eol, *colon, *v, *ve;
    size_t   nlen;

    out->data = NULL;
    out->len = 0;
    nlen = strlen(name);

    p = headers;
    end = headers + len;

    while (p < end) {
        eol = memchr(p, '\n', end - p);
        if (eol == NULL) {
            eol = end;
        }

        colon = memchr(p, ':', eol - p);

        if (colon && (size_t) (colon - p) == nlen
            && strncasecmp(p, name, nlen) == 0)
        {
            v = colon + 1;
            ve = eol;

            while (v < ve && (*v == ' ' || *v == '\t')) {
                v++;
            }

            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' '
                              || ve[-1] == '\t'))
            {
                ve--;
            }

            out->data = v;
            out->len = ve - v;
        }

        p = eol + 1;
    }
}


static int
cli_is_stream(const attest_str_t *ct, const uint8_t *body, size_t len)
{
    if (ct->data && ct->len >= 17
        && strncasecmp(ct->data, "text/event-stream", 17) == 0)
    {
        return 1;
    }

    return ct->data == NULL && len >= 5 && memcmp(body, "data:", 5) == 0;
}


/*
 * The stream's verdict is the core's (attest_sse_finish), as in the
 * module: read up to "data: [DONE]", where the module decides too.
 */
static attest_reason_t
cli_verify_stream(const uint8_t *body, size_t len,
    const attest_signer_t *signer, attest_err_t *err)
{
    size_t              n;
    attest_sse_t       *sse;
    attest_reason_t     rc;
    attest_sse_line_t   line;

    /* longer than any line of the body: no line is too long */
    sse = attest_sse_new(len + 1);
    if (sse == NULL) {
        return attest_fail(err, ATTEST_BODY_TOO_LARGE, "out of memory");
    }

    while (len && !attest_sse_done(sse)) {
        n = attest_sse_feed(sse, body, len, &line);
        body += n;
        len -= n;
    }

    rc = attest_sse_finish(sse, signer, err);

    attest_sse_free(sse);

    return rc;
}


static int
cli_cmd_response(int argc, char **argv)
{
    int                  i, rc, mapped;
    char                *headers, *digest;
    size_t               hlen, blen;
    uint8_t             *body, signer_addr[20], hash[32];
    const char          *signer_s, *headers_path, *body_path;
    attest_err_t         err;
    attest_text_t        text;
    attest_str_t         ct;
    attest_reason_t      reason;
    attest_signer_t      signer;
    attest_sig_fields_t  f;

    signer_s = NULL;
    headers_path = NULL;
    body_path = NULL;
    digest = NULL;

    for (i = 1; i < argc; i++) {
        if (i + 1 >= argc) {
            return cli_usage(CLI_USAGE_RESPONSE);
        }

        if (strcmp(argv[i], "--signer") == 0) {
            signer_s = argv[++i];

        } else if (strcmp(argv[i], "--headers") == 0) {
            headers_path = argv[++i];

        } else if (strcmp(argv[i], "--body") == 0) {
            body_path = argv[++i];

        } else if (strcmp(argv[i], "--image-digest") == 0) {
            digest = argv[++i];

        } else {
            return cli_usage(CLI_USAGE_RESPONSE);
        }
    }

    if (signer_s == NULL || headers_path == NULL || body_path == NULL) {
        return cli_usage(CLI_USAGE_RESPONSE);
    }

    if (attest_eth_parse_address(signer_s, strlen(signer_s), signer_addr)
        != 0)
    {
        fprintf(stderr, "--signer: expected 0x and 40 hex digits\n");
        return cli_usage(CLI_USAGE_RESPONSE);
    }

    headers = (char *) cli_read_file(headers_path, &hlen);
    if (headers == NULL) {
        return CLI_USAGE;
    }

    /* mapped, hashed in place */
    body = cli_map_file(body_path, &blen, &mapped);
    if (body == NULL) {
        free(headers);
        return CLI_USAGE;
    }

    signer.address = signer_addr;
    signer.image_digest = digest;
    signer.image_digest_len = digest ? strlen(digest) : 0;

    attest_err_clear(&err);
    cli_header(headers, hlen, "content-type", &ct);

    if (cli_is_stream(&ct, body, blen)) {
        reason = cli_verify_stream(body, blen, &signer, &err);

    } else {
        cli_header(headers, hlen, "text", &f.text);
        cli_header(headers, hlen, "signature", &f.signature);
        cli_header(headers, hlen, "signing_address", &f.signing_address);
        cli_header(headers, hlen, "signing_algo", &f.signing_algo);
        cli_header(headers, hlen, "image_digest", &f.image_digest);

        reason = attest_sig_verify(&f, &signer, &text, &err);

        if (reason == ATTEST_OK) {
            if (attest_jsonhash(body, blen, hash) != 0) {
                reason = attest_fail(&err, ATTEST_BODY_MISMATCH,
                                     "cannot hash the body");

            } else {
                reason = attest_sig_check_body(&text, hash, &err);
            }
        }
    }

    free(headers);
    cli_release_file(body, blen, mapped);

    if (reason != ATTEST_OK) {
        return cli_failed(&err);
    }

    printf("verified\n");
    printf("checked: signing_algo, signature recovers to signing_address, "
           "signer is %s, %sresponse hash matches the body\n", signer_s,
           digest ? "image digest, " : "");

    rc = CLI_VERIFIED;

    return rc;
}


/* the whole MRTD and RTMR0..3 of a verified report, for pinning */
static void
cli_report_measurements(const uint8_t *json, size_t len, const void *root)
{
    int                i;
    char               name[8];
    attest_err_t       err;
    attest_report_t    r;
    attest_tdx_info_t  info;

    memset(&r, 0, sizeof(r));
    attest_err_clear(&err);

    if (attest_report_parse(json, len, len, &r, &err) == ATTEST_OK
        && cli_report_tdx(&r, root, time(NULL), &info) == 0)
    {
        cli_print_hex("mrtd", info.mrtd, 48);

        for (i = 0; i < 4; i++) {
            snprintf(name, sizeof(name), "rtmr%d", i);
            cli_print_hex(name, info.rtmr[i], 48);
        }
    }

    attest_report_free(&r);
}


static int
cli_cmd_report(int argc, char **argv)
{
    int               i, rc, have_nonce;
    char              addr[43], text[160];
    void             *gpu_root, *cpu_root;
    size_t            len, ndigests;
    uint8_t          *json, nonce[32];
    const char       *path;
    attest_err_t      err;
    attest_str_t      digests[16];
    attest_reason_t   reason;
    attest_policy_t   p;
    attest_result_t   res;

    memset(&p, 0, sizeof(p));
    p.report_max = 64 * 1024 * 1024;

    path = NULL;
    have_nonce = 0;
    gpu_root = NULL;
    cpu_root = NULL;
    ndigests = 0;
    rc = CLI_USAGE;

    for (i = 1; i < argc; i++) {
        if (argv[i][0] != '-') {
            if (path) {
                goto usage;
            }

            path = argv[i];
            continue;
        }

        if (i + 1 >= argc) {
            goto usage;
        }

        if (strcmp(argv[i], "--nonce") == 0) {
            if (cli_parse_nonce(argv[++i], nonce) != 0) {
                fprintf(stderr, "--nonce: expected 32 bytes of hex\n");
                goto usage;
            }

            have_nonce = 1;

        } else if (strcmp(argv[i], "--gpu-root") == 0) {
            if (gpu_root || cli_load_root(argv[++i], 1, &gpu_root) != 0) {
                goto done;
            }

            p.gpu = ATTEST_EVIDENCE_REQUIRED;
            p.gpu_root = gpu_root;

        } else if (strcmp(argv[i], "--cpu-root") == 0) {
            if (cpu_root || cli_load_root(argv[++i], 0, &cpu_root) != 0) {
                goto done;
            }

            p.cpu = ATTEST_EVIDENCE_REQUIRED;
            p.cpu_root = cpu_root;

        } else if (strcmp(argv[i], "--report-data") == 0) {
            i++;

            if (strcmp(argv[i], "nonce") == 0) {
                p.report_data = ATTEST_TDX_RD_NONCE;

            } else if (strcmp(argv[i], "address_nonce") == 0) {
                p.report_data = ATTEST_TDX_RD_ADDRESS_NONCE;

            } else {
                goto usage;
            }

        } else if (strcmp(argv[i], "--image-digest") == 0) {
            i++;

            if (ndigests == sizeof(digests) / sizeof(digests[0])
                || attest_digest_valid(argv[i], strlen(argv[i])) != 0)
            {
                fprintf(stderr, "--image-digest: sha256:<64 hex>\n");
                goto usage;
            }

            digests[ndigests].data = argv[i];
            digests[ndigests].len = strlen(argv[i]);
            ndigests++;

        } else {
            goto usage;
        }
    }

    if (path == NULL || !have_nonce) {
        goto usage;
    }

    p.image_digests = digests;
    p.n_image_digests = ndigests;

    json = cli_read_file(path, &len);
    if (json == NULL) {
        goto done;
    }

    attest_err_clear(&err);

    reason = attest_verify_report(&p, json, len, nonce, time(NULL), &res,
                                  &err);

    if (reason != ATTEST_OK) {
        free(json);
        rc = cli_failed(&err);
        goto done;
    }

    attest_eth_format_address(res.signing_address, addr);

    printf("verified\n");
    printf("nonce: matches\n");
    printf("signing_address: %s\n", addr);
    printf("image_digest: %s%s\n",
           res.has_image_digest ? res.image_digest : "(none)",
           ndigests ? " (allowed)" : " (not checked)");

    attest_result_gpu_text(&res, text, sizeof(text));
    printf("gpu: %s\n", text);

    attest_result_cpu_text(&res, text, sizeof(text));
    printf("cpu: %s\n", text);

    if (res.cpu == ATTEST_EV_VERIFIED) {
        cli_report_measurements(json, len, cpu_root);
        printf("binding: %s\n", res.bound ? "quote" : "report");
    }

    free(json);
    rc = CLI_VERIFIED;
    goto done;

usage:

    rc = cli_usage(CLI_USAGE_REPORT);

done:

    attest_gpu_root_free(gpu_root);
    attest_tdx_root_free(cpu_root);

    return rc;
}


static const struct {
    const char  *name;
    int        (*run)(int argc, char **argv);
} cli_cmds[] = {
    { "response", cli_cmd_response },
    { "report",   cli_cmd_report },
    { "pin",      cli_cmd_pin },
    { "gpu",      cli_cmd_gpu },
    { "tdx",      cli_cmd_tdx },
    { "request",  cli_cmd_request },
};


static int
cli_is_help(const char *arg)
{
    return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0
           || strcmp(arg, "help") == 0;
}


int
main(int argc, char **argv)
{
    size_t  i;

    if (argc >= 2 && cli_is_help(argv[1])) {
        return cli_help();
    }

    if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
        return cli_version();
    }

    /* "attest-verify report --help": the same text */
    if (argc >= 3 && cli_is_help(argv[2])) {
        return cli_help();
    }

    for (i = 0; argc >= 2 && i < sizeof(cli_cmds) / sizeof(cli_cmds[0]);
         i++)
    {
        if (strcmp(argv[1], cli_cmds[i].name) == 0) {
            return cli_cmds[i].run(argc - 1, argv + 1);
        }
    }

    return cli_usage(CLI_USAGE_ALL);
}
