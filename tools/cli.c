/*
 * Helpers shared by the attest-verify subcommands (see cli.h).
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "attest_codec.h"
#include "attest_gpu.h"
#include "cli.h"


#define CLI_MAX_FILE  (64 * 1024 * 1024)


/*
 * One buffer and, for a regular file, one read: the size comes from
 * fstat (a body of 1 MiB is hashed straight from here, issue 16); a pipe
 * or a file that grows meanwhile doubles the buffer as it fills.
 */
uint8_t *
cli_read_file(const char *path, size_t *len)
{
    int           fd;
    size_t        n, cap;
    ssize_t       got;
    uint8_t      *buf, *p;
    struct stat   st;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        return NULL;
    }

    cap = 4096;

    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
        /* one byte more, so that the end is seen without growing */
        cap = st.st_size < CLI_MAX_FILE ? (size_t) st.st_size + 1
                                        : CLI_MAX_FILE;
    }

    n = 0;
    buf = malloc(cap + 1);

    while (buf != NULL) {
        if (n == cap) {
            if (cap >= CLI_MAX_FILE) {
                fprintf(stderr, "%s: too large\n", path);
                free(buf);
                close(fd);
                return NULL;
            }

            cap = cap < CLI_MAX_FILE / 2 ? cap * 2 : CLI_MAX_FILE;

            p = realloc(buf, cap + 1);
            if (p == NULL) {
                free(buf);
            }

            buf = p;
            continue;
        }

        got = read(fd, buf + n, cap - n);

        if (got > 0) {
            n += (size_t) got;
            continue;
        }

        if (got == -1 && errno == EINTR) {
            continue;
        }

        if (got == -1) {
            free(buf);
            buf = NULL;
        }

        break;
    }

    close(fd);

    if (buf == NULL) {
        fprintf(stderr, "%s: cannot read\n", path);
        return NULL;
    }

    buf[n] = '\0';
    *len = n;

    return buf;
}


/*
 * A regular file is mapped, read-only and populated at once: nothing is
 * copied and no fresh memory is touched (on a VM each fresh page can
 * cost a fault on the host), so a 1 MiB body is hashed straight from the
 * page cache.  Anything else (a pipe, an empty file) is read.
 */
uint8_t *
cli_map_file(const char *path, size_t *len, int *mapped)
{
    int           fd;
    void         *p;
    struct stat   st;

    *mapped = 0;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        return NULL;
    }

    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0
        && st.st_size < CLI_MAX_FILE)
    {
        p = mmap(NULL, (size_t) st.st_size, PROT_READ,
                 MAP_PRIVATE | MAP_POPULATE, fd, 0);

        if (p != MAP_FAILED) {
            close(fd);
            *mapped = 1;
            *len = (size_t) st.st_size;
            return p;
        }
    }

    close(fd);

    return cli_read_file(path, len);
}


void
cli_release_file(uint8_t *p, size_t len, int mapped)
{
    if (mapped) {
        munmap(p, len);

    } else {
        free(p);
    }
}


static int
cli_is_space(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}


uint8_t *
cli_decode_blob(const uint8_t *in, size_t len, size_t *out_len)
{
    size_t       i, n;
    char        *text;
    uint8_t     *out;
    const char  *t;

    /* text without whitespace, to try hex on */
    text = malloc(len + 1);
    if (text == NULL) {
        return NULL;
    }

    for (i = 0, n = 0; i < len; i++) {
        if (!cli_is_space(in[i])) {
            text[n++] = (char) in[i];
        }
    }

    t = text;
    attest_hex_strip_prefix(&t, &n);

    out = malloc(attest_base64_decoded_max(len) + n / 2 + 1);
    if (out == NULL) {
        free(text);
        return NULL;
    }

    if (n > 0 && attest_hex_decode(t, n, out) == 0) {
        *out_len = n / 2;
        free(text);
        return out;
    }

    free(text);

    if (len > 0 && attest_base64_decode((const char *) in, len, out, out_len)
                   == 0 && *out_len > 0)
    {
        return out;
    }

    /* raw bytes */
    memcpy(out, in, len);
    *out_len = len;

    return out;
}


int
cli_parse_nonce(const char *hex, uint8_t nonce[32])
{
    size_t  len;

    len = strlen(hex);
    attest_hex_strip_prefix(&hex, &len);

    if (len != 64) {
        return -1;
    }

    return attest_hex_decode(hex, len, nonce);
}


int
cli_failed(const attest_err_t *err)
{
    printf("failed: %s\n", attest_reason_name(err->reason));
    printf("%s\n", attest_reason_text(err->reason));

    if (err->detail[0] != '\0') {
        printf("check: %s\n", err->detail);
    }

    return CLI_FAILED;
}


int
cli_usage(const char *usage)
{
    fprintf(stderr, "usage: %s\n(attest-verify --help: every command and "
            "the input formats)\n", usage);

    return CLI_USAGE;
}


int
cli_load_root(const char *path, int gpu, void **root)
{
    size_t        len;
    uint8_t      *pem;
    attest_err_t  err;

    pem = cli_read_file(path, &len);
    if (pem == NULL) {
        return -1;
    }

    attest_err_clear(&err);

    *root = gpu ? (void *) attest_gpu_root_load(pem, len, &err)
                : (void *) attest_tdx_root_load(pem, len, &err);
    free(pem);

    if (*root == NULL) {
        fprintf(stderr, "%s: %s\n", path, err.detail);
        return -1;
    }

    return 0;
}


int
cli_report_tdx(const attest_report_t *r, const attest_tdx_root_t *root,
    time_t now, attest_tdx_info_t *info)
{
    attest_err_t  err;

    if (!r->cpu_present || root == NULL) {
        return -1;
    }

    attest_err_clear(&err);

    return attest_tdx_verify(root, r->cpu_quote, r->cpu_quote_len, now, info,
                             &err) == ATTEST_OK ? 0 : -1;
}


void
cli_print_hex(const char *name, const uint8_t *p, size_t n)
{
    char  buf[2 * 64 + 1];

    if (n > 64) {
        n = 64;
    }

    attest_hex_encode(p, n, buf);
    printf("%s: %s\n", name, buf);
}
