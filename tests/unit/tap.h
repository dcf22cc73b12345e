/*
 * A minimal TAP producer for the core's unit tests, so that prove runs
 * them beside the t/ suite.  Header-only: each test is one program.
 */

#ifndef ATTEST_TAP_H
#define ATTEST_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static int  tap_n;
static int  tap_failed;


static inline int
tap_ok(int cond, const char *fmt, ...)
{
    va_list  ap;

    tap_n++;

    printf("%sok %d - ", cond ? "" : "not ", tap_n);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");

    if (!cond) {
        tap_failed++;
    }

    fflush(stdout);

    return cond;
}


static inline void
tap_diag(const char *fmt, ...)
{
    va_list  ap;

    printf("# ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
}


#define ok(cond, ...)  tap_ok((cond) ? 1 : 0, __VA_ARGS__)

#define is_int(got, want, ...)                                               \
    do {                                                                      \
        long long  g_ = (long long) (got), w_ = (long long) (want);          \
        if (!tap_ok(g_ == w_, __VA_ARGS__)) {                                 \
            tap_diag("  got %lld, want %lld", g_, w_);                        \
        }                                                                     \
    } while (0)

#define is_str(got, want, ...)                                               \
    do {                                                                      \
        const char  *g_ = (got), *w_ = (want);                               \
        if (!tap_ok(g_ != NULL && strcmp(g_, w_) == 0, __VA_ARGS__)) {       \
            tap_diag("  got '%s', want '%s'", g_ ? g_ : "(null)", w_);        \
        }                                                                     \
    } while (0)


/* prints the plan at the end and the exit status prove expects */
static inline int
tap_done(void)
{
    printf("1..%d\n", tap_n);

    return tap_failed ? 1 : 0;
}


/* reads a whole file (tests only); NULL if it cannot */
static inline unsigned char *
tap_slurp(const char *path, size_t *len)
{
    FILE           *f;
    unsigned char  *buf;
    long            n;

    f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }

    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);

    buf = malloc(n + 1);
    if (buf == NULL || fread(buf, 1, n, f) != (size_t) n) {
        free(buf);
        fclose(f);
        return NULL;
    }

    buf[n] = '\0';
    fclose(f);
    *len = (size_t) n;

    return buf;
}


/* directory of test data: $ATTEST_TESTDATA or the vendored tests/testdata */
static inline const char *
tap_testdata(void)
{
    const char  *d = getenv("ATTEST_TESTDATA");

    return d ? d : "tests/testdata";
}


/* directory of generated vectors: $ATTEST_VECTORS or build/vectors */
static inline const char *
tap_vectors(void)
{
    const char  *d = getenv("ATTEST_VECTORS");

    return d ? d : "build/vectors";
}

/*
 * A generated vectors file, tap_vectors()/name, whole; on failure a failed
 * test says to run make vectors, and NULL comes back.
 */
static inline unsigned char *
tap_vector_file(const char *name, size_t *len)
{
    char            path[512];
    unsigned char  *file;

    snprintf(path, sizeof(path), "%s/%s", tap_vectors(), name);

    *len = 0;
    file = tap_slurp(path, len);

    if (!ok(file != NULL, "read %s", path)) {
        tap_diag("  run make vectors first");
    }

    return file;
}

#endif /* ATTEST_TAP_H */
