/*
 * A small HTTP/1.1 load generator for bench/run.sh: no dependency beyond
 * libc, fast enough that the client is not what the benchmark measures.
 *
 *   loadgen rps -p PORT -u PATH [-b BODYFILE] [-c CONNS] [-d SECONDS]
 *               [-n REQUESTS] [-H 'Name: value']...
 *       CONNS keep-alive connections POST the request back to back for
 *       SECONDS (or, with -n, until REQUESTS have been sent); prints one
 *       JSON line: requests (200 answers), errors (transport failures and
 *       non-200 answers), sent, rps, latency mean/p50/p90/p99 (ms) and
 *       body bytes.
 *
 *   loadgen stream -p PORT -u PATH [-b BODYFILE] [-t TIMEOUT]
 *               [-H 'Name: value']...
 *       one request, its response read as fast as it comes; prints one
 *       JSON line: status, ttfb_ms (first response byte), total_ms (last
 *       chunk), bytes, events (SSE "data: {...}" events), done_ms (the
 *       "data: [DONE]" event, -1 if none), error_event (an "event: error"
 *       arrived), attest (the status in the module's ": attest status="
 *       comment, "" if none) and times_ms, the arrival time of each data
 *       event.
 *
 *   loadgen time [-r RUNS] -- COMMAND [ARG]...
 *       runs COMMAND (stdin, stdout and stderr on /dev/null) RUNS times,
 *       one after the other; prints one JSON line: runs, failed (runs
 *       that did not exit 0) and ms, the wall time of each run from
 *       just before the spawn to the end of its wait.
 *
 * Times count from the moment the request was written.  Responses are
 * framed by Content-Length or chunked encoding; SSE events are found in
 * the de-chunked body.
 */

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>


#define LG_HEAD_MAX    16384
#define LG_READ_SIZE   65536
#define LG_MAX_CONNS   256
#define LG_MAX_HEADERS 16
#define LG_LINE_KEEP   64


typedef enum {
    LG_HEAD = 0,
    LG_BODY_LENGTH,
    LG_BODY_CLOSE,
    LG_CHUNK_SIZE,
    LG_CHUNK_DATA,
    LG_CHUNK_CRLF,
    LG_TRAILER,
    LG_DONE
} lg_state_e;


/* incremental parser of one response */
typedef struct {
    lg_state_e  state;
    char        head[LG_HEAD_MAX];
    size_t      head_len;
    int         status;
    int         close;
    int64_t     left;          /* Content-Length or chunk bytes left */
    char        line[32];      /* chunk size or trailer line */
    size_t      line_len;
    uint64_t    body_bytes;
} lg_resp_t;


/* SSE event scanner, stream mode only */
typedef struct {
    char        line[LG_LINE_KEEP];  /* first bytes of the current line */
    size_t      line_len;            /* full length of the current line */
    int         data_json;
    int         data_done;
    int         event_named;
    int         event_error;
    uint64_t    events;
    double     *times;
    size_t      ntimes;
    size_t      cap;
    double      done_ms;
    int         error_event;
    char        attest[32];          /* status of ": attest status=..." */
} lg_sse_t;


typedef struct {
    int         fd;
    int         busy;          /* a request is in flight */
    size_t      sent;
    double      start;
    lg_resp_t   resp;
} lg_conn_t;


static const char  *lg_host = "127.0.0.1";
static int          lg_port;
static const char  *lg_path = "/";
static char        *lg_body;
static size_t       lg_body_len;
static const char  *lg_headers[LG_MAX_HEADERS];
static int          lg_nheaders;
static char        *lg_request;
static size_t       lg_request_len;


static double
lg_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}


static void
lg_die(const char *what)
{
    fprintf(stderr, "loadgen: %s: %s\n", what, strerror(errno));
    exit(2);
}


static void
lg_usage(void)
{
    fprintf(stderr,
            "usage: loadgen rps|stream -p PORT -u PATH [-b BODYFILE] "
            "[-c CONNS] [-d SECONDS | -n REQUESTS] [-t TIMEOUT] "
            "[-H 'Name: value']...\n"
            "       loadgen time [-r RUNS] -- COMMAND [ARG]...\n");
    exit(2);
}


static void
lg_read_file(const char *path)
{
    int          fd;
    ssize_t      n;
    size_t       got;
    struct stat  st;

    fd = open(path, O_RDONLY);
    if (fd == -1 || fstat(fd, &st) == -1) {
        lg_die(path);
    }

    lg_body = malloc(st.st_size + 1);
    if (lg_body == NULL) {
        lg_die("malloc");
    }

    for (got = 0; got < (size_t) st.st_size; got += n) {
        n = read(fd, lg_body + got, st.st_size - got);
        if (n <= 0) {
            lg_die(path);
        }
    }

    lg_body_len = got;
    close(fd);
}


static void
lg_build_request(void)
{
    int     i;
    size_t  cap, len;

    cap = 512 + strlen(lg_path) + lg_body_len;
    for (i = 0; i < lg_nheaders; i++) {
        cap += strlen(lg_headers[i]) + 2;
    }

    lg_request = malloc(cap);
    if (lg_request == NULL) {
        lg_die("malloc");
    }

    len = snprintf(lg_request, cap,
                   "POST %s HTTP/1.1\r\nHost: %s:%d\r\n"
                   "Content-Type: application/json\r\n"
                   "Content-Length: %zu\r\n",
                   lg_path, lg_host, lg_port, lg_body_len);

    for (i = 0; i < lg_nheaders; i++) {
        len += snprintf(lg_request + len, cap - len, "%s\r\n",
                        lg_headers[i]);
    }

    len += snprintf(lg_request + len, cap - len, "\r\n");
    memcpy(lg_request + len, lg_body, lg_body_len);
    lg_request_len = len + lg_body_len;
}


static int
lg_connect(void)
{
    int                 fd, one;
    struct sockaddr_in  sin;

    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd == -1) {
        lg_die("socket");
    }

    one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons(lg_port);
    inet_pton(AF_INET, lg_host, &sin.sin_addr);

    if (connect(fd, (struct sockaddr *) &sin, sizeof(sin)) == -1
        && errno != EINPROGRESS)
    {
        close(fd);
        return -1;
    }

    return fd;
}


static void
lg_resp_init(lg_resp_t *r)
{
    r->state = LG_HEAD;
    r->head_len = 0;
    r->status = 0;
    r->close = 0;
    r->left = 0;
    r->line_len = 0;
    r->body_bytes = 0;
}


/* case-insensitive search of a header's value in the raw head */
static const char *
lg_header(lg_resp_t *r, const char *name)
{
    char    *p, *end;
    size_t   n;

    n = strlen(name);
    end = r->head + r->head_len;

    for (p = strstr(r->head, "\r\n"); p && p + 2 + n < end;
         p = strstr(p + 2, "\r\n"))
    {
        if (strncasecmp(p + 2, name, n) == 0 && p[2 + n] == ':') {
            p += 3 + n;
            while (*p == ' ' || *p == '\t') {
                p++;
            }
            return p;
        }
    }

    return NULL;
}


static int
lg_parse_head(lg_resp_t *r)
{
    const char  *v;

    r->head[r->head_len] = '\0';

    if (sscanf(r->head, "HTTP/1.%*d %d", &r->status) != 1) {
        return -1;
    }

    v = lg_header(r, "Connection");
    r->close = (v != NULL && strncasecmp(v, "close", 5) == 0);

    v = lg_header(r, "Transfer-Encoding");
    if (v != NULL && strncasecmp(v, "chunked", 7) == 0) {
        r->state = LG_CHUNK_SIZE;
        return 0;
    }

    v = lg_header(r, "Content-Length");
    if (v != NULL) {
        r->left = strtoll(v, NULL, 10);
        r->state = r->left ? LG_BODY_LENGTH : LG_DONE;
        return 0;
    }

    r->state = LG_BODY_CLOSE;
    r->close = 1;
    return 0;
}


static void
lg_sse_line_end(lg_sse_t *s, double t)
{
    size_t  i, n;

    if (s->line_len == 0) {
        /* a blank line ends an event */
        if (s->data_done) {
            s->done_ms = t;

        } else if (s->data_json && !s->event_named) {
            if (s->ntimes == s->cap) {
                s->cap = s->cap ? s->cap * 2 : 256;
                s->times = realloc(s->times, s->cap * sizeof(double));
                if (s->times == NULL) {
                    lg_die("realloc");
                }
            }
            s->times[s->ntimes++] = t;
            s->events++;
        }

        if (s->event_error) {
            s->error_event = 1;
        }

        s->data_json = 0;
        s->data_done = 0;
        s->event_named = 0;
        s->event_error = 0;
        return;
    }

    if (s->line_len >= 7 && memcmp(s->line, "data: {", 7) == 0) {
        s->data_json = 1;

    } else if (s->line_len >= 12 && memcmp(s->line, "data: [DONE]", 12) == 0)
    {
        s->data_done = 1;

    } else if (s->line_len >= 6 && memcmp(s->line, "event:", 6) == 0) {
        s->event_named = 1;
        if (s->line_len >= 12 && memcmp(s->line + 6, " error", 6) == 0) {
            s->event_error = 1;
        }

    } else if (s->line_len >= 16
               && memcmp(s->line, ": attest status=", 16) == 0)
    {
        /* the module's verdict comment, before "data: [DONE]" */
        n = s->line_len < LG_LINE_KEEP ? s->line_len : LG_LINE_KEEP;
        for (i = 16; i < n && i - 16 < sizeof(s->attest) - 1; i++) {
            if (s->line[i] == ' ') {
                break;
            }
            s->attest[i - 16] = s->line[i];
        }
        s->attest[i - 16] = '\0';
    }

    s->line_len = 0;
}


static void
lg_sse_feed(lg_sse_t *s, const char *p, size_t n, double t)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (p[i] == '\n') {
            lg_sse_line_end(s, t);
            continue;
        }

        if (p[i] == '\r') {
            continue;
        }

        if (s->line_len < LG_LINE_KEEP) {
            s->line[s->line_len] = p[i];
        }
        s->line_len++;
    }
}


/*
 * Feeds received bytes to the parser; body bytes go to the SSE scanner
 * when there is one.  Returns 1 when the response is complete, 0 when
 * more is needed, -1 on a malformed response.
 */
static int
lg_resp_feed(lg_resp_t *r, const char *p, size_t n, lg_sse_t *sse, double t)
{
    char    *crlf;
    size_t   take, i;

    while (n > 0 && r->state != LG_DONE) {

        switch (r->state) {

        case LG_HEAD:
            take = LG_HEAD_MAX - 1 - r->head_len;
            if (take == 0) {
                return -1;
            }
            take = n < take ? n : take;
            memcpy(r->head + r->head_len, p, take);
            r->head[r->head_len + take] = '\0';

            /* the terminator may straddle the previous read */
            i = r->head_len > 3 ? r->head_len - 3 : 0;
            crlf = strstr(r->head + i, "\r\n\r\n");
            if (crlf == NULL) {
                r->head_len += take;
                p += take;
                n -= take;
                break;
            }

            take = crlf + 4 - (r->head + r->head_len);
            r->head_len = crlf + 4 - r->head;
            p += take;
            n -= take;
            if (lg_parse_head(r) != 0) {
                return -1;
            }
            break;

        case LG_BODY_LENGTH:
        case LG_CHUNK_DATA:
            take = (size_t) r->left < n ? (size_t) r->left : n;
            if (sse) {
                lg_sse_feed(sse, p, take, t);
            }
            r->body_bytes += take;
            r->left -= take;
            p += take;
            n -= take;
            if (r->left == 0) {
                r->state = (r->state == LG_BODY_LENGTH) ? LG_DONE
                                                        : LG_CHUNK_CRLF;
                r->line_len = 0;
            }
            break;

        case LG_BODY_CLOSE:
            if (sse) {
                lg_sse_feed(sse, p, n, t);
            }
            r->body_bytes += n;
            n = 0;
            break;

        case LG_CHUNK_CRLF:
        case LG_CHUNK_SIZE:
        case LG_TRAILER:
            /* line-oriented states: collect up to "\n" */
            if (*p != '\n') {
                if (r->line_len < sizeof(r->line) - 1) {
                    r->line[r->line_len++] = *p;
                }
                p++;
                n--;
                break;
            }
            p++;
            n--;
            r->line[r->line_len] = '\0';
            if (r->line_len > 0 && r->line[r->line_len - 1] == '\r') {
                r->line[--r->line_len] = '\0';
            }

            if (r->state == LG_CHUNK_CRLF) {
                if (r->line_len != 0) {
                    return -1;
                }
                r->state = LG_CHUNK_SIZE;

            } else if (r->state == LG_CHUNK_SIZE) {
                if (r->line_len == 0) {
                    return -1;
                }
                r->left = strtoll(r->line, NULL, 16);
                r->state = r->left ? LG_CHUNK_DATA : LG_TRAILER;

            } else if (r->line_len == 0) {
                r->state = LG_DONE;
            }

            r->line_len = 0;
            break;

        case LG_DONE:
            break;
        }
    }

    return r->state == LG_DONE;
}


static int
lg_cmp_double(const void *a, const void *b)
{
    double  x = *(const double *) a, y = *(const double *) b;

    return (x > y) - (x < y);
}


static double
lg_pct(double *v, size_t n, double p)
{
    size_t  i;

    if (n == 0) {
        return -1;
    }

    i = (size_t) (p * (n - 1) + 0.5);
    return v[i];
}


/*
 * Writes what is left of the request and reads what has come of the
 * response.  Returns 1 when the response is complete, 0 when the socket
 * has nothing more for now, -1 when the connection failed.
 */
static int
lg_conn_io(lg_conn_t *c, char *buf)
{
    int      rc;
    ssize_t  n;

    while (c->sent < lg_request_len) {
        n = write(c->fd, lg_request + c->sent, lg_request_len - c->sent);
        if (n == -1) {
            /* still connecting, or the socket buffer is full */
            return (errno == EAGAIN || errno == EINPROGRESS) ? 0 : -1;
        }
        c->sent += n;
    }

    for ( ;; ) {
        n = read(c->fd, buf, LG_READ_SIZE);

        if (n > 0) {
            rc = lg_resp_feed(&c->resp, buf, n, NULL, 0);
            if (rc != 0) {
                return rc;
            }
            continue;
        }

        if (n == -1 && errno == EAGAIN) {
            return 0;
        }

        /* eof or error: a complete response only when framed by it */
        if (n == 0 && c->resp.state == LG_BODY_CLOSE) {
            c->resp.state = LG_DONE;
            return 1;
        }

        return -1;
    }
}


/* the results of the rps mode */
static double    *lg_lat;
static size_t     lg_nlat;
static size_t     lg_lat_cap;
static uint64_t   lg_errors;
static uint64_t   lg_bytes;
static uint64_t   lg_sent;
static uint64_t   lg_limit;         /* -n: requests to send, 0: no limit */


/* records a finished request (rc 1) or a failed connection (rc -1) */
static void
lg_conn_done(lg_conn_t *c, int rc)
{
    if (rc == 1 && c->resp.status == 200) {
        if (lg_nlat == lg_lat_cap) {
            lg_lat_cap = lg_lat_cap ? lg_lat_cap * 2 : 65536;
            lg_lat = realloc(lg_lat, lg_lat_cap * sizeof(double));
            if (lg_lat == NULL) {
                lg_die("realloc");
            }
        }
        lg_lat[lg_nlat++] = lg_now() - c->start;
        lg_bytes += c->resp.body_bytes;

    } else {
        lg_errors++;
    }

    c->busy = 0;

    if (rc == -1 || c->resp.close) {
        close(c->fd);
        c->fd = -1;
    }
}


/* closed-loop load: every connection sends its next request as soon as
 * the previous answer is complete */
static int
lg_rps(int conns, double seconds)
{
    int                  ep, i, nev, rc, busy;
    char                *buf;
    double               t0, deadline, now, sum;
    size_t               k;
    lg_conn_t           *c, *cs;
    struct epoll_event   ev, evs[LG_MAX_CONNS];

    ep = epoll_create1(0);
    buf = malloc(LG_READ_SIZE);
    cs = calloc(conns, sizeof(lg_conn_t));
    if (ep == -1 || buf == NULL || cs == NULL) {
        lg_die("setup");
    }

    for (i = 0; i < conns; i++) {
        cs[i].fd = -1;
    }

    t0 = lg_now();
    deadline = t0 + seconds * 1000.0;

    for ( ;; ) {
        now = lg_now();
        busy = 0;

        /* (re)start idle connections while time remains */
        for (i = 0; i < conns; i++) {
            c = &cs[i];

            if (!c->busy && now < deadline
                && (lg_limit == 0 || lg_sent < lg_limit))
            {
                if (c->fd == -1) {
                    c->fd = lg_connect();
                    if (c->fd == -1) {
                        lg_errors++;
                        continue;
                    }
                    ev.events = EPOLLIN | EPOLLOUT | EPOLLET;
                    ev.data.ptr = c;
                    if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) == -1) {
                        lg_die("epoll_ctl");
                    }
                }

                lg_sent++;
                c->busy = 1;
                c->sent = 0;
                c->start = lg_now();
                lg_resp_init(&c->resp);

                /* edge-triggered: a kept-alive socket is writable now and
                 * will not be reported again */
                rc = lg_conn_io(c, buf);
                if (rc != 0) {
                    lg_conn_done(c, rc);
                }
            }

            busy += c->busy;
        }

        if (busy == 0
            && (now >= deadline || (lg_limit && lg_sent >= lg_limit)))
        {
            break;
        }

        nev = epoll_wait(ep, evs, LG_MAX_CONNS, 20);
        if (nev == -1 && errno != EINTR) {
            lg_die("epoll_wait");
        }

        for (i = 0; i < nev; i++) {
            c = evs[i].data.ptr;
            if (!c->busy) {
                continue;
            }

            rc = lg_conn_io(c, buf);
            if (rc != 0) {
                lg_conn_done(c, rc);
            }
        }
    }

    now = lg_now();

    sum = 0;
    for (k = 0; k < lg_nlat; k++) {
        sum += lg_lat[k];
    }
    qsort(lg_lat, lg_nlat, sizeof(double), lg_cmp_double);

    printf("{\"requests\":%zu,\"errors\":%llu,\"sent\":%llu,"
           "\"seconds\":%.3f,"
           "\"rps\":%.1f,\"mean_ms\":%.3f,\"p50_ms\":%.3f,"
           "\"p90_ms\":%.3f,\"p99_ms\":%.3f,\"bytes\":%llu}\n",
           lg_nlat, (unsigned long long) lg_errors,
           (unsigned long long) lg_sent, (now - t0) / 1000.0,
           lg_nlat * 1000.0 / (now - t0), lg_nlat ? sum / lg_nlat : -1.0,
           lg_pct(lg_lat, lg_nlat, 0.5), lg_pct(lg_lat, lg_nlat, 0.9),
           lg_pct(lg_lat, lg_nlat, 0.99), (unsigned long long) lg_bytes);

    for (i = 0; i < conns; i++) {
        if (cs[i].fd != -1) {
            close(cs[i].fd);
        }
    }
    close(ep);
    free(cs);
    free(lg_lat);
    free(buf);
    return 0;
}


static int
lg_stream(double timeout)
{
    int                 fd, rc, first;
    char               *buf;
    double              t0, t, ttfb;
    size_t              i, sent;
    ssize_t             n;
    fd_set              rfds;
    lg_sse_t            sse;
    lg_resp_t          *r;
    struct timeval      tv;

    r = malloc(sizeof(lg_resp_t));
    buf = malloc(LG_READ_SIZE);
    if (r == NULL || buf == NULL) {
        lg_die("malloc");
    }

    memset(&sse, 0, sizeof(sse));
    sse.done_ms = -1;
    lg_resp_init(r);

    fd = lg_connect();
    if (fd == -1) {
        lg_die("connect");
    }

    /* blocking from here on: one request, read as it comes */
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);

    for (sent = 0; sent < lg_request_len; sent += n) {
        n = write(fd, lg_request + sent, lg_request_len - sent);
        if (n == -1) {
            lg_die("write");
        }
    }

    t0 = lg_now();
    ttfb = -1;
    first = 1;
    rc = 0;

    while (rc == 0) {
        FD_ZERO(&rfds);
        FD_SET(fd, &rfds);
        tv.tv_sec = (time_t) timeout;
        tv.tv_usec = (suseconds_t) ((timeout - tv.tv_sec) * 1e6);

        if (select(fd + 1, &rfds, NULL, NULL, &tv) <= 0) {
            rc = -2;
            break;
        }

        n = read(fd, buf, LG_READ_SIZE);
        t = lg_now() - t0;

        if (n <= 0) {
            if (r->state == LG_BODY_CLOSE) {
                rc = 1;
            } else {
                rc = -1;
            }
            break;
        }

        if (first) {
            ttfb = t;
            first = 0;
        }

        rc = lg_resp_feed(r, buf, n, &sse, t);
    }

    t = lg_now() - t0;
    close(fd);

    printf("{\"status\":%d,\"complete\":%s,\"timed_out\":%s,"
           "\"ttfb_ms\":%.3f,\"total_ms\":%.3f,\"bytes\":%llu,"
           "\"events\":%llu,\"done_ms\":%.3f,\"error_event\":%s,"
           "\"attest\":\"%s\",\"times_ms\":[",
           r->status, rc == 1 ? "true" : "false",
           rc == -2 ? "true" : "false", ttfb, t,
           (unsigned long long) r->body_bytes,
           (unsigned long long) sse.events, sse.done_ms,
           sse.error_event ? "true" : "false", sse.attest);

    for (i = 0; i < sse.ntimes; i++) {
        printf("%s%.3f", i ? "," : "", sse.times[i]);
    }
    printf("]}\n");

    free(sse.times);
    free(buf);
    free(r);
    return rc == 1 ? 0 : 1;
}


/*
 * Wall time of a whole process, spawn to exit: posix_spawn (a vfork on
 * glibc) costs the parent next to nothing, so the time is the command's.
 */
static int
lg_time(int argc, char **argv)
{
    int                          i, runs, failed, status;
    pid_t                        pid;
    double                       t, *ms;
    posix_spawn_file_actions_t   fa;
    extern char                **environ;

    runs = 5;
    i = 2;

    while (i < argc && strcmp(argv[i], "--") != 0) {
        if (strcmp(argv[i], "-r") == 0 && i + 1 < argc) {
            runs = atoi(argv[i + 1]);
            i += 2;
            continue;
        }
        lg_usage();
    }

    if (i + 1 >= argc || runs < 1) {
        lg_usage();
    }

    argv += i + 1;

    ms = calloc(runs, sizeof(double));
    if (ms == NULL || posix_spawn_file_actions_init(&fa) != 0) {
        lg_die("setup");
    }

    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);

    failed = 0;

    for (i = 0; i < runs; i++) {
        t = lg_now();

        errno = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
        if (errno != 0) {
            lg_die(argv[0]);
        }

        while (waitpid(pid, &status, 0) == -1) {
            if (errno != EINTR) {
                lg_die("waitpid");
            }
        }

        ms[i] = lg_now() - t;
        failed += !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }

    printf("{\"runs\":%d,\"failed\":%d,\"ms\":[", runs, failed);
    for (i = 0; i < runs; i++) {
        printf("%s%.3f", i ? "," : "", ms[i]);
    }
    printf("]}\n");

    posix_spawn_file_actions_destroy(&fa);
    free(ms);
    return 0;
}


int
main(int argc, char **argv)
{
    int          opt, conns, stream;
    double       seconds, timeout;
    const char  *body;

    if (argc < 2) {
        lg_usage();
    }

    if (strcmp(argv[1], "time") == 0) {
        return lg_time(argc, argv);
    }

    if (strcmp(argv[1], "rps") == 0) {
        stream = 0;
    } else if (strcmp(argv[1], "stream") == 0) {
        stream = 1;
    } else {
        lg_usage();
    }

    conns = 1;
    seconds = 2;
    timeout = 60;
    body = NULL;

    optind = 2;
    while ((opt = getopt(argc, argv, "p:u:b:c:d:n:t:H:")) != -1) {
        switch (opt) {
        case 'p': lg_port = atoi(optarg); break;
        case 'u': lg_path = optarg; break;
        case 'b': body = optarg; break;
        case 'c': conns = atoi(optarg); break;
        case 'd': seconds = atof(optarg); break;
        case 'n': lg_limit = strtoull(optarg, NULL, 10); break;
        case 't': timeout = atof(optarg); break;
        case 'H':
            if (lg_nheaders == LG_MAX_HEADERS) {
                lg_usage();
            }
            lg_headers[lg_nheaders++] = optarg;
            break;
        default:
            lg_usage();
        }
    }

    if (lg_port <= 0 || conns < 1 || conns > LG_MAX_CONNS) {
        lg_usage();
    }

    if (lg_limit) {
        /* a count, not a time, ends the run */
        seconds = 1e9;
    }

    if (body) {
        lg_read_file(body);
    } else {
        lg_body = strdup("{}");
        lg_body_len = 2;
    }

    lg_build_request();

    opt = stream ? lg_stream(timeout) : lg_rps(conns, seconds);

    free(lg_request);
    free(lg_body);
    return opt;
}
