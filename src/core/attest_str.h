/*
 * A borrowed string of known length, as the core passes configuration
 * values and header fields: no ownership, no NUL terminator required.
 */

#ifndef ATTEST_STR_H
#define ATTEST_STR_H

#include <stddef.h>


typedef struct {
    const char  *data;              /* NULL: absent */
    size_t       len;
} attest_str_t;

#endif /* ATTEST_STR_H */
