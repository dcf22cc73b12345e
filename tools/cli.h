/*
 * Shared pieces of the attest-verify command-line tool.  Each subcommand
 * lives in its own file; main() in attest-verify.c dispatches.
 *
 * Exit codes: 0 verified, 1 failed (prints "failed: <reason>" and one
 * sentence), 2 usage error.
 */

#ifndef ATTEST_CLI_H
#define ATTEST_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "attest_reason.h"
#include "attest_report.h"
#include "attest_tdx.h"


#define CLI_VERIFIED  0
#define CLI_FAILED    1
#define CLI_USAGE     2

/* whole file, NUL-terminated (not counted in *len); NULL + message */
uint8_t *cli_read_file(const char *path, size_t *len);

/*
 * Whole file: mapped when it is a regular one (*mapped 1, no NUL after
 * it), else read as above; release with cli_release_file()
 */
uint8_t *cli_map_file(const char *path, size_t *len, int *mapped);
void cli_release_file(uint8_t *p, size_t len, int mapped);

/*
 * Decodes text that may be hex (optional 0x, whitespace ignored), base64,
 * or else raw bytes as they are.  Returns a malloc'd buffer.
 */
uint8_t *cli_decode_blob(const uint8_t *in, size_t len, size_t *out_len);

/* parses exactly 32 bytes of hex (optional 0x); 0 or -1 */
int cli_parse_nonce(const char *hex, uint8_t nonce[32]);

/* prints "failed: <reason>", the sentence and the detail; returns 1 */
int cli_failed(const attest_err_t *err);

/* prints "usage: ..." to stderr; returns 2 */
int cli_usage(const char *usage);

/*
 * Loads a pinned root (gpu: NVIDIA, else Intel) from a PEM file into
 * *root; 0, or -1 after a message on stderr.
 */
int cli_load_root(const char *path, int gpu, void **root);

/*
 * The verified TDX quote of a parsed report: what the policy's result
 * does not keep (RTMRs).  0, or -1 when the report has no quote or it
 * does not verify.
 */
int cli_report_tdx(const attest_report_t *r, const attest_tdx_root_t *root,
    time_t now, attest_tdx_info_t *info);

/* "name: <hex>" on stdout */
void cli_print_hex(const char *name, const uint8_t *p, size_t n);

int cli_help(void);                         /* av_help.c: exit 0 */
int cli_version(void);

int cli_cmd_gpu(int argc, char **argv);     /* av_gpu.c */
int cli_cmd_tdx(int argc, char **argv);     /* av_tdx.c */
int cli_cmd_request(int argc, char **argv); /* av_request.c */
int cli_cmd_pin(int argc, char **argv);     /* av_pin.c */

#endif /* ATTEST_CLI_H */
