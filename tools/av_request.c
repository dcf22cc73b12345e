/*
 * attest-verify request: the canonical form of a chat completion request
 * body as io.net's agent hashes it (PROTOCOL.md section 2), and its hash,
 * the request half of the signed text.
 *
 *     attest-verify request [--max-size BYTES] FILE|-
 *
 * Prints "request_hash: HEX", "model: M" (when set), "stream: true|false"
 * and "canonical: TEXT".  A body the agent would refuse, or that the
 * canonicalizer does not reproduce, fails with request_invalid and the
 * canonicalizer's own reason.  argv[0] is the subcommand name.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest_codec.h"
#include "attest_reason.h"
#include "attest_reqhash.h"
#include "cli.h"


#define AV_REQUEST_USAGE                                                      \
    "attest-verify request [--max-size BYTES] FILE|-"

/* the default limit: far over nginx's client_max_body_size default */
#define AV_REQUEST_MAX  (64 * 1024 * 1024)


/* feeds the file (or stdin) in 64 KiB reads: the incremental API */
static int
av_request_feed(attest_reqhash_t *r, const char *path)
{
    FILE     *f;
    uint8_t   buf[65536];
    size_t    n;
    int       rc = 0;

    f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (f == NULL) {
        perror(path);
        return -1;
    }

    while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
        if (attest_reqhash_update(r, buf, n) != ATTEST_REQ_OK) {
            break;
        }
    }

    if (ferror(f)) {
        perror(path);
        rc = -1;
    }

    if (f != stdin) {
        fclose(f);
    }

    return rc;
}


int
cli_cmd_request(int argc, char **argv)
{
    int                i;
    char              *end, hex[65];
    const char        *path = NULL, *model;
    const uint8_t     *canon;
    size_t             max = AV_REQUEST_MAX, len;
    unsigned long long v;
    uint8_t            hash[32];
    attest_reqhash_t  *r;
    attest_req_err_t   rc;
    attest_err_t       err;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--max-size") == 0 && i + 1 < argc) {
            v = strtoull(argv[++i], &end, 10);
            if (*end != '\0' || v == 0 || argv[i][0] == '-') {
                return cli_usage(AV_REQUEST_USAGE);
            }

            max = (size_t) v;

        } else if (argv[i][0] != '-' || strcmp(argv[i], "-") == 0) {
            if (path != NULL) {
                return cli_usage(AV_REQUEST_USAGE);
            }

            path = argv[i];

        } else {
            return cli_usage(AV_REQUEST_USAGE);
        }
    }

    if (path == NULL) {
        return cli_usage(AV_REQUEST_USAGE);
    }

    r = attest_reqhash_new(max);
    if (r == NULL) {
        fprintf(stderr, "out of memory\n");
        return CLI_FAILED;
    }

    if (av_request_feed(r, path) != 0) {
        attest_reqhash_free(r);
        return CLI_USAGE;
    }

    rc = attest_reqhash_final(r, hash);

    if (rc != ATTEST_REQ_OK) {
        memset(&err, 0, sizeof(err));
        err.reason = ATTEST_REQUEST_INVALID;
        snprintf(err.detail, sizeof(err.detail), "%s: %s",
                 attest_reqhash_errname(rc), attest_reqhash_error(r));
        attest_reqhash_free(r);
        return cli_failed(&err);
    }

    attest_hex_encode(hash, 32, hex);
    printf("request_hash: %s\n", hex);

    model = attest_reqhash_model(r, &len);
    if (model != NULL) {
        printf("model: %.*s\n", (int) len, model);
    }

    printf("stream: %s\n", attest_reqhash_stream(r) ? "true" : "false");

    canon = attest_reqhash_canonical(r, &len);
    printf("canonical: ");
    fwrite(canon, 1, len, stdout);
    printf("\n");

    attest_reqhash_free(r);

    return CLI_VERIFIED;
}
