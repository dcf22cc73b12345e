/*
 * attest-verify gpu: one NVIDIA Hopper evidence entry (SPDM bytes + PEM
 * chain) checked offline against a pinned root and our nonce, optionally
 * against pinned driver and VBIOS versions.
 *
 *     attest-verify gpu --nonce HEX --root FILE [--driver VERSION]
 *         [--vbios VERSION] EVIDENCE CERTS
 *
 * EVIDENCE is a file holding the SPDM bytes as hex, base64 (as in the
 * report's "evidence") or raw bytes; CERTS a file holding the PEM chain or
 * its base64 (as in the report's "certificate").  argv[0] is the
 * subcommand name.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest_codec.h"
#include "attest_gpu.h"
#include "cli.h"


#define AV_GPU_USAGE                                                          \
    "attest-verify gpu --nonce HEX --root FILE [--driver VERSION] "          \
    "[--vbios VERSION] EVIDENCE CERTS"


/* a file's content, decoded from hex or base64 when it is either */
static uint8_t *
av_gpu_load(const char *path, size_t *len)
{
    size_t    raw_len;
    uint8_t  *raw, *out;

    raw = cli_read_file(path, &raw_len);
    if (raw == NULL) {
        return NULL;
    }

    out = cli_decode_blob(raw, raw_len, len);
    free(raw);

    if (out == NULL) {
        fprintf(stderr, "%s: cannot decode\n", path);
    }

    return out;
}


int
cli_cmd_gpu(int argc, char **argv)
{
    int                 i, rc;
    char                fwid[97];
    size_t              root_len, ev_len, certs_len;
    uint8_t             nonce[32], *root_pem, *ev, *certs;
    const char         *root_path, *ev_path, *certs_path, *driver, *vbios;
    attest_err_t        err;
    attest_reason_t     reason;
    attest_gpu_info_t   info;
    attest_gpu_root_t  *root;

    root_path = NULL;
    ev_path = NULL;
    certs_path = NULL;
    driver = NULL;
    vbios = NULL;
    rc = -1;

    for (i = 1; i < argc; i++) {

        if (strcmp(argv[i], "--nonce") == 0 && i + 1 < argc) {
            rc = cli_parse_nonce(argv[++i], nonce);

            if (rc != 0) {
                fprintf(stderr, "--nonce: 32 bytes of hex\n");
                return cli_usage(AV_GPU_USAGE);
            }

        } else if (strcmp(argv[i], "--root") == 0 && i + 1 < argc) {
            root_path = argv[++i];

        } else if (strcmp(argv[i], "--driver") == 0 && i + 1 < argc) {
            driver = argv[++i];

        } else if (strcmp(argv[i], "--vbios") == 0 && i + 1 < argc) {
            vbios = argv[++i];

        } else if (argv[i][0] == '-' || certs_path != NULL) {
            return cli_usage(AV_GPU_USAGE);

        } else if (ev_path == NULL) {
            ev_path = argv[i];

        } else {
            certs_path = argv[i];
        }
    }

    if (rc != 0 || root_path == NULL || certs_path == NULL) {
        return cli_usage(AV_GPU_USAGE);
    }

    root_pem = cli_read_file(root_path, &root_len);
    if (root_pem == NULL) {
        return CLI_USAGE;
    }

    attest_err_clear(&err);
    root = attest_gpu_root_load(root_pem, root_len, &err);
    free(root_pem);

    if (root == NULL) {
        fprintf(stderr, "%s: %s\n", root_path, err.detail);
        return CLI_USAGE;
    }

    ev = av_gpu_load(ev_path, &ev_len);
    certs = ev ? av_gpu_load(certs_path, &certs_len) : NULL;

    if (certs == NULL) {
        free(ev);
        attest_gpu_root_free(root);
        return CLI_USAGE;
    }

    attest_err_clear(&err);

    reason = attest_gpu_verify_entry(root, nonce, ev, ev_len, certs,
                                     certs_len, &info, &err);

    free(ev);
    free(certs);
    attest_gpu_root_free(root);

    if (reason == ATTEST_OK && driver != NULL
        && strcmp(info.driver, driver) != 0)
    {
        reason = attest_fail(&err, ATTEST_GPU_VERSION_NOT_ALLOWED,
                             "driver %s, pinned %s", info.driver, driver);
    }

    if (reason == ATTEST_OK && vbios != NULL
        && strcmp(info.vbios, vbios) != 0)
    {
        reason = attest_fail(&err, ATTEST_GPU_VERSION_NOT_ALLOWED,
                             "VBIOS %s, pinned %s", info.vbios, vbios);
    }

    if (reason != ATTEST_OK) {
        return cli_failed(&err);
    }

    printf("verified\n");
    printf("driver: %s\n", info.driver[0] ? info.driver : "none");
    printf("vbios: %s\n", info.vbios[0] ? info.vbios : "none");

    if (info.has_fwid) {
        attest_hex_encode(info.fwid, 48, fwid);
        printf("fwid: %s\n", fwid);

    } else {
        printf("fwid: none\n");
    }

    return CLI_VERIFIED;
}
