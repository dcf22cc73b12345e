/*
 * attest-verify pin: the pinning directives that accept one or more
 * verified attestation reports, ready to paste into nginx.conf.
 *
 *     attest-verify pin [--nonce HEX] [--gpu-root FILE] [--cpu-root FILE]
 *         [--report-data nonce|address_nonce] FILE...
 *
 * Each report is verified first, as "attest-verify report" does: values
 * are only printed from evidence that verified against a root, so a pin
 * never comes from a forged quote.  Several reports (several machines of a
 * fleet) give each directive every value seen.  argv[0] is the subcommand
 * name.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "attest_codec.h"
#include "attest_eth.h"
#include "attest_verify.h"
#include "cli.h"


#define AV_PIN_USAGE                                                          \
    "attest-verify pin [--nonce HEX] [--gpu-root FILE] [--cpu-root FILE] "   \
    "[--report-data nonce|address_nonce] FILE..."

#define AV_PIN_VALUES  64           /* distinct values per directive */

typedef struct {
    size_t   n;
    char    *v[AV_PIN_VALUES];
} av_pin_set_t;

typedef struct {
    av_pin_set_t  digests;
    av_pin_set_t  drivers;
    av_pin_set_t  vbios;
    av_pin_set_t  mrtd;
    av_pin_set_t  rtmr[4];
    av_pin_set_t  signers;
    int           no_digest;        /* a report without image_digest */
    int           unbound;          /* a signer outside report_data */
    int           own_nonce;        /* a report checked with its nonce */
} av_pin_t;


/* adds a copy of v unless present; -1 when full or out of memory */
static int
av_pin_add(av_pin_set_t *s, const char *v)
{
    size_t  i;

    if (v[0] == '\0') {
        return 0;
    }

    for (i = 0; i < s->n; i++) {
        if (strcmp(s->v[i], v) == 0) {
            return 0;
        }
    }

    if (s->n == AV_PIN_VALUES || (s->v[s->n] = strdup(v)) == NULL) {
        fprintf(stderr, "pin: too many distinct values\n");
        return -1;
    }

    s->n++;

    return 0;
}


static int
av_pin_add_hex(av_pin_set_t *s, const uint8_t *p, size_t n)
{
    char  buf[2 * 48 + 1];

    attest_hex_encode(p, n, buf);

    return av_pin_add(s, buf);
}


static void
av_pin_set_free(av_pin_set_t *s)
{
    while (s->n) {
        free(s->v[--s->n]);
    }
}


/*
 * "name v;" or, for several values, one per line; index >= 0 comes
 * before the values (attest_tdx_rtmr's register)
 */
static void
av_pin_print(const char *name, int index, const av_pin_set_t *s)
{
    char    head[64];
    size_t  i;

    if (s->n == 0) {
        return;
    }

    if (index >= 0) {
        snprintf(head, sizeof(head), "%s %d", name, index);

    } else {
        snprintf(head, sizeof(head), "%s", name);
    }

    if (s->n == 1) {
        printf("%s %s;\n", head, s->v[0]);
        return;
    }

    printf("%s\n", head);

    for (i = 0; i < s->n; i++) {
        printf("    %s%s\n", s->v[i], i + 1 == s->n ? ";" : "");
    }
}


/* one report: verified, then its values added; exit code */
static int
av_pin_report(av_pin_t *pin, const attest_policy_t *p, const char *path,
    const uint8_t *nonce)
{
    int                i, rc;
    char               addr[43];
    size_t             len;
    uint8_t           *json;
    attest_err_t       err;
    attest_report_t    r;
    attest_result_t    res;
    attest_tdx_info_t  info;

    json = cli_read_file(path, &len);
    if (json == NULL) {
        return CLI_USAGE;
    }

    memset(&r, 0, sizeof(r));
    attest_err_clear(&err);
    rc = CLI_VERIFIED;

    if (attest_report_parse(json, len, p->report_max, &r, &err) != ATTEST_OK)
    {
        printf("%s:\n", path);
        rc = cli_failed(&err);
        goto done;
    }

    if (nonce == NULL) {
        nonce = r.nonce;
        pin->own_nonce = 1;
    }

    if (attest_verify_report(p, json, len, nonce, time(NULL), &res, &err)
        != ATTEST_OK)
    {
        printf("%s:\n", path);
        rc = cli_failed(&err);
        goto done;
    }

    attest_eth_format_address(res.signing_address, addr);

    if (av_pin_add(&pin->signers, addr) != 0) {
        rc = CLI_USAGE;
        goto done;
    }

    if (res.has_image_digest) {
        rc = av_pin_add(&pin->digests, res.image_digest);

    } else {
        pin->no_digest = 1;
    }

    if (rc == 0 && res.gpu == ATTEST_EV_VERIFIED) {
        rc = av_pin_add(&pin->drivers, res.gpu_driver)
             | av_pin_add(&pin->vbios, res.gpu_vbios);
    }

    if (rc == 0 && res.cpu == ATTEST_EV_VERIFIED) {
        if (cli_report_tdx(&r, p->cpu_root, time(NULL), &info) != 0) {
            fprintf(stderr, "%s: cannot read the verified quote again\n",
                    path);
            rc = CLI_USAGE;
            goto done;
        }

        rc = av_pin_add_hex(&pin->mrtd, info.mrtd, 48);

        for (i = 0; rc == 0 && i < 4; i++) {
            rc = av_pin_add_hex(&pin->rtmr[i], info.rtmr[i], 48);
        }

        pin->unbound |= !res.bound;
    }

    if (rc != 0) {
        rc = CLI_USAGE;
    }

done:

    attest_report_free(&r);
    free(json);

    return rc;
}


static void
av_pin_output(const av_pin_t *pin, const attest_policy_t *p)
{
    int     i;
    size_t  j;

    printf("# attest-verify pin: the values of %zu verified signer(s)\n",
           pin->signers.n);

    for (j = 0; j < pin->signers.n; j++) {
        printf("#   signer %s (not pinned: a new key at each agent start)\n",
               pin->signers.v[j]);
    }

    if (pin->own_nonce) {
        printf("# nonce: each report's own, so its freshness was not "
               "checked (--nonce checks it)\n");
    }

    printf("\n# the container image; with io.net's agent today it is in "
           "the report,\n# not in the hardware quote\n");

    if (pin->no_digest) {
        printf("# a report names no image digest: pinning one rejects "
               "it\n");
    }

    av_pin_print("attest_image_digest", -1, &pin->digests);

    printf("\n");

    if (p->gpu_root == NULL) {
        printf("# GPU: no --gpu-root, no verified driver or VBIOS "
               "version\n");

    } else {
        printf("# GPU driver and VBIOS, from the NVIDIA evidence\n");
        av_pin_print("attest_gpu_driver", -1, &pin->drivers);
        av_pin_print("attest_gpu_vbios", -1, &pin->vbios);
    }

    printf("\n");

    if (p->cpu_root == NULL) {
        printf("# TDX: no --cpu-root, no verified measurement\n");
        return;
    }

    printf("# TDX measurements, from the Intel quote: MRTD (the TD's "
           "firmware),\n# RTMR0..3 (firmware config, kernel, command "
           "line, run time).  Keep\n# those equal on all your machines; "
           "RTMR3 is often extended at run time\n");
    av_pin_print("attest_tdx_mrtd", -1, &pin->mrtd);

    for (i = 0; i < 4; i++) {
        av_pin_print("attest_tdx_rtmr", i, &pin->rtmr[i]);
    }

    if (pin->unbound) {
        printf("# binding: report (report_data = nonce): the signer is not "
               "in the quote\n");
    }
}


int
cli_cmd_pin(int argc, char **argv)
{
    int               i, rc, nfiles, have_nonce;
    void             *gpu_root, *cpu_root;
    uint8_t           nonce[32];
    av_pin_t          pin;
    attest_policy_t   p;

    memset(&p, 0, sizeof(p));
    memset(&pin, 0, sizeof(pin));
    p.report_max = 64 * 1024 * 1024;

    gpu_root = NULL;
    cpu_root = NULL;
    have_nonce = 0;
    nfiles = 0;
    rc = CLI_USAGE;

    /* options first, anywhere on the line; the files after */
    for (i = 1; i < argc; i++) {
        if (argv[i][0] != '-') {
            nfiles++;
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

        } else {
            goto usage;
        }
    }

    /* one nonce is one fetch: it cannot be the nonce of several reports */
    if (nfiles == 0 || (have_nonce && nfiles > 1)) {
        goto usage;
    }

    for (i = 1; i < argc; i++) {
        if (argv[i][0] == '-') {
            i++;
            continue;
        }

        rc = av_pin_report(&pin, &p, argv[i], have_nonce ? nonce : NULL);

        if (rc != CLI_VERIFIED) {
            goto done;
        }
    }

    av_pin_output(&pin, &p);
    rc = CLI_VERIFIED;
    goto done;

usage:

    rc = cli_usage(AV_PIN_USAGE);

done:

    av_pin_set_free(&pin.digests);
    av_pin_set_free(&pin.drivers);
    av_pin_set_free(&pin.vbios);
    av_pin_set_free(&pin.mrtd);
    av_pin_set_free(&pin.signers);

    for (i = 0; i < 4; i++) {
        av_pin_set_free(&pin.rtmr[i]);
    }

    attest_gpu_root_free(gpu_root);
    attest_tdx_root_free(cpu_root);

    return rc;
}
