/*
 * The release of ngx_http_attest_module, shared by the nginx module (its
 * start-up log line) and attest-verify --version.  Bump it with a
 * CHANGELOG.md entry; scheme: semantic versioning, 0.y.z until the
 * directives are declared stable.
 */

#ifndef ATTEST_VERSION_H
#define ATTEST_VERSION_H

#define ATTEST_VERSION_MAJOR  0
#define ATTEST_VERSION_MINOR  1
#define ATTEST_VERSION_PATCH  0

#define ATTEST_VERSION        "0.1.0"

#endif /* ATTEST_VERSION_H */
