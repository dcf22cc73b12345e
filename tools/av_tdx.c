/*
 * attest-verify tdx: one Intel TDX quote checked offline against a pinned
 * root, optionally its report_data and MRTD.
 *
 *     attest-verify tdx --root FILE [--report-data HEX] [--mrtd HEX]
 *         [--time UNIX_SECONDS] QUOTE
 *
 * QUOTE is a file holding the quote as raw bytes, hex or base64.
 * --report-data takes 64 bytes (the whole field) or 32 bytes (a nonce,
 * io.net layout nonce || 32 zero bytes).  argv[0] is the subcommand name.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "attest_codec.h"
#include "attest_tdx.h"
#include "cli.h"


#define AV_TDX_USAGE                                                          \
    "attest-verify tdx --root FILE [--report-data HEX] [--mrtd HEX] "        \
    "[--time UNIX_SECONDS] QUOTE"


/* exactly n bytes of hex, optional 0x; 0 or -1 */
static int
av_tdx_hex(const char *in, uint8_t *out, size_t n)
{
    size_t  len;

    len = strlen(in);
    attest_hex_strip_prefix(&in, &len);

    if (len != 2 * n) {
        return -1;
    }

    return attest_hex_decode(in, len, out);
}


static void
av_tdx_print_hex(const char *name, const uint8_t *p, size_t n)
{
    char  buf[129];

    attest_hex_encode(p, n, buf);
    printf("%s: %s\n", name, buf);
}


int
cli_cmd_tdx(int argc, char **argv)
{
    int                 i, rd_len, has_mrtd;
    char               *end, name[8];
    size_t              root_len, raw_len, quote_len;
    time_t              now;
    uint8_t            *root_pem, *raw, *quote, rd[64], mrtd[48];
    const char         *root_path, *quote_path;
    attest_err_t        err;
    attest_reason_t     reason;
    attest_tdx_info_t   info;
    attest_tdx_root_t  *root;

    root_path = NULL;
    quote_path = NULL;
    rd_len = 0;
    has_mrtd = 0;
    now = time(NULL);

    for (i = 1; i < argc; i++) {

        if (strcmp(argv[i], "--root") == 0 && i + 1 < argc) {
            root_path = argv[++i];

        } else if (strcmp(argv[i], "--report-data") == 0 && i + 1 < argc) {
            i++;

            if (av_tdx_hex(argv[i], rd, 64) == 0) {
                rd_len = 64;

            } else if (av_tdx_hex(argv[i], rd, 32) == 0) {
                rd_len = 32;

            } else {
                fprintf(stderr, "--report-data: 32 or 64 bytes of hex\n");
                return cli_usage(AV_TDX_USAGE);
            }

        } else if (strcmp(argv[i], "--mrtd") == 0 && i + 1 < argc) {
            if (av_tdx_hex(argv[++i], mrtd, 48) != 0) {
                fprintf(stderr, "--mrtd: 48 bytes of hex\n");
                return cli_usage(AV_TDX_USAGE);
            }

            has_mrtd = 1;

        } else if (strcmp(argv[i], "--time") == 0 && i + 1 < argc) {
            now = (time_t) strtoll(argv[++i], &end, 10);

            if (*argv[i] == '\0' || *end != '\0') {
                fprintf(stderr, "--time: seconds since the epoch\n");
                return cli_usage(AV_TDX_USAGE);
            }

        } else if (argv[i][0] == '-' || quote_path != NULL) {
            return cli_usage(AV_TDX_USAGE);

        } else {
            quote_path = argv[i];
        }
    }

    if (root_path == NULL || quote_path == NULL) {
        return cli_usage(AV_TDX_USAGE);
    }

    root_pem = cli_read_file(root_path, &root_len);
    if (root_pem == NULL) {
        return CLI_USAGE;
    }

    root = attest_tdx_root_load(root_pem, root_len, &err);
    free(root_pem);

    if (root == NULL) {
        fprintf(stderr, "%s: %s\n", root_path, err.detail);
        return CLI_USAGE;
    }

    raw = cli_read_file(quote_path, &raw_len);
    if (raw == NULL) {
        attest_tdx_root_free(root);
        return CLI_USAGE;
    }

    quote = cli_decode_blob(raw, raw_len, &quote_len);
    free(raw);

    if (quote == NULL) {
        attest_tdx_root_free(root);
        fprintf(stderr, "%s: cannot decode\n", quote_path);
        return CLI_USAGE;
    }

    attest_err_clear(&err);

    reason = attest_tdx_verify(root, quote, quote_len, now, &info, &err);

    free(quote);
    attest_tdx_root_free(root);

    if (reason == ATTEST_OK && rd_len != 0) {
        if (rd_len == 32) {
            reason = attest_tdx_check_report_data(&info, ATTEST_TDX_RD_NONCE,
                                                  rd, NULL, &err);

        } else if (memcmp(info.report_data, rd, 64) != 0) {
            reason = attest_fail(&err, ATTEST_REPORT_DATA_MISMATCH,
                                 "report_data differs from --report-data");
        }
    }

    if (reason == ATTEST_OK && has_mrtd && memcmp(info.mrtd, mrtd, 48) != 0)
    {
        reason = attest_fail(&err, ATTEST_MEASUREMENT_NOT_ALLOWED,
                             "MRTD differs from --mrtd");
    }

    if (reason != ATTEST_OK) {
        return cli_failed(&err);
    }

    printf("verified\n");
    printf("version: %d\n", info.version);
    av_tdx_print_hex("mrtd", info.mrtd, 48);

    for (i = 0; i < 4; i++) {
        snprintf(name, sizeof(name), "rtmr%d", i);
        av_tdx_print_hex(name, info.rtmr[i], 48);
    }

    av_tdx_print_hex("report_data", info.report_data, 64);
    av_tdx_print_hex("td_attributes", info.td_attributes, 8);
    printf("debug: %s\n", info.debug ? "yes" : "no");

    if (info.has_fmspc) {
        av_tdx_print_hex("fmspc", info.fmspc, 6);
    }

    return CLI_VERIFIED;
}
