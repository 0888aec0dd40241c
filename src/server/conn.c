/*
 * server/conn: see conn.h for the threading model. Per connection the
 * lifecycle is
 *
 *   accept -> IDLE --(edge)--> BUSY: read head -> [app] -> write -> keep-alive?
 *                 <--(drained)--                                  -> close
 *
 * A thread that gets an edge for a connection another thread owns marks it
 * PENDING; the owner sees that before going IDLE and reads again, so no edge
 * is lost and no connection is ever served by two threads.
 */
#include "server/conn.h"

#include "core/log.h"
#include "process/scoreboard.h"
#include "py/py.h"
#include "server/sched.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

enum { HD_CONN_FREE = 0, HD_CONN_IDLE, HD_CONN_BUSY, HD_CONN_PENDING };

/* What the epoll data says: the kind in the high half, fd / index in the low. */
#define HD_EV_CONN 0ULL
#define HD_EV_LISTENER 1ULL
#define HD_EV_SIGNAL 2ULL

#define HD_BODY_AREA 16384 /* room after the head for body bytes */
#define HD_DRAIN_MAX (1024 * 1024) /* unread body drained to keep a connection */
#define HD_ACCEPT_MAX 64 /* connections accepted per listener event */

typedef struct hd_thread_s {
    hd_server_t *srv;
    int id;
    bool gil;         /* holds the GIL (server/sched.h): waits drop it */
    char *out;        /* response head being built */
    size_t out_len, out_cap;
    hd_conn_t *cur;   /* the connection whose app call is running */
    hd_score_thread_t *score; /* this thread's scoreboard entry */
    time_t date_at;   /* the second date[] was made for */
    char date[40];    /* "Date: Wed, 25 Nov 2026 04:27:12 GMT\r\n" */
    size_t date_len;
} hd_thread_t;

struct hd_conn_s {
    hd_sched_item_t run; /* in the run queue (claimed, waiting for a thread) */
    _Atomic int state;
    int fd;
    hd_server_t *srv;
    hd_thread_t *thr; /* the owner while BUSY */
    const hd_listener_t *listener;

    char *buf; /* head, then body bytes and pipelined requests */
    size_t cap, len;
    size_t head_len;  /* this request's head, at buf[0..head_len) */
    size_t body_pos;  /* first unconsumed byte after the head */
    bool read_full;   /* the last read filled the buffer: the socket may hold more */
    int64_t head_start; /* ms: when the current head's first byte came (0: none) */
    int64_t idle_since; /* ms: since when the connection waits for a request */

    /* request body */
    int64_t body_left; /* Content-Length bytes not yet given to the app */
    bool chunked;
    hd_chunked_t ck;
    bool body_done;
    bool body_failed;
    int client_error;  /* 400/413: the body was malformed or too large */
    bool continue_due; /* client sent Expect: 100-continue, we have not answered */
    size_t pend_off, pend_len; /* decoded chunk bytes in buf not yet handed out */
    uint64_t body_total;

    /* response */
    int status;
    bool head_pending; /* formatted in thr->out, not sent yet */
    bool head_sent;
    bool resp_chunked;
    bool no_body;      /* HEAD, 1xx, 204, 304 */
    bool app_te;       /* the app set Transfer-Encoding itself */
    int64_t resp_cl;   /* the app's Content-Length, -1 if none */
    uint64_t resp_sent; /* body bytes sent */
    size_t resp_head_bytes;
    int resp_nheaders;
    bool close_after;
    bool keep_alive;

    char remote_addr[INET6_ADDRSTRLEN];
    char remote_port[8];
    struct timespec t_start;
    uint64_t nreq;
    hd_request_t req;
};

struct hd_server_s {
    const hd_config_t *cfg;
    hd_listener_t *ls;
    size_t nls;
    int worker_id;
    int epfd;
    int sigfd;
    hd_conn_t **conns; /* indexed by fd */
    size_t nconns;
    _Atomic int hwm;   /* highest fd seen + 1 */
    _Atomic int active;
    _Atomic bool stopping;
    pthread_mutex_t sweep_lock;
    int64_t last_sweep; /* ms */
    _Atomic uint64_t requests;
    size_t head_max;
    hd_thread_t *threads;
    int attached;           /* threads 1..T-1 with a Python thread state */
    pthread_mutex_t attach_lock;
    pthread_cond_t attach_done;
    hd_sched_t sched;
    hd_score_t *score;      /* this worker's scoreboard slot */
    int notify_fd;          /* the master's pipe */
    uint64_t recycle_at;    /* --max-requests for this worker, 0: never */
    _Atomic bool recycle_sent;
};

static void hd_conn_close(hd_conn_t *c);
static void hd_server_stop(hd_server_t *s, hd_thread_t *t);
static void hd_server_check_exit(hd_server_t *s, hd_thread_t *t);

/* Monotonic milliseconds. Timeouts are measured in ms, never in whole
   seconds: truncation would close an idle keep-alive connection up to a
   second early, inside a proxy's (shorter) reuse window. */
static int64_t hd_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const hd_request_t *hd_conn_request(hd_conn_t *c)
{
    return &c->req;
}

bool hd_conn_head_sent(hd_conn_t *c)
{
    return c->head_sent;
}

void hd_conn_set_close(hd_conn_t *c)
{
    c->close_after = true;
}

int hd_conn_client_error(hd_conn_t *c)
{
    return c->client_error;
}

/* ---- waiting and raw I/O ------------------------------------------------- */

/* Waits until fd is ready for events, up to --socket-timeout, without the
   GIL; counted as busy, so the watcher gives waiting work to another thread
   (sched.h). Returns 0, or -1 on timeout. */
static int hd_conn_wait(hd_conn_t *c, short events)
{
    struct pollfd p = {.fd = c->fd, .events = events};
    int ms = c->srv->cfg->socket_timeout * 1000, rc;
    hd_sched_enter(&c->srv->sched);
    if (c->thr->gil)
        hd_py_gil_drop();
    do {
        rc = poll(&p, 1, ms);
    } while (rc < 0 && errno == EINTR);
    if (c->thr->gil)
        hd_py_gil_take();
    hd_sched_leave(&c->srv->sched);
    if (rc <= 0)
        return -1;
    return 0;
}

/* After a failed socket call: true if it should be tried again (EINTR, or
   EAGAIN and the socket became ready in time); false marks the connection
   for closing. */
static bool hd_conn_retry(hd_conn_t *c, short events)
{
    if (errno == EINTR || (errno == EAGAIN && hd_conn_wait(c, events) == 0))
        return true;
    c->close_after = true;
    return false;
}

static int hd_conn_writev_all(hd_conn_t *c, struct iovec *iov, int cnt)
{
    while (cnt > 0) {
        ssize_t n = writev(c->fd, iov, cnt);
        if (n < 0) {
            if (hd_conn_retry(c, POLLOUT))
                continue;
            return -1;
        }
        while (cnt > 0 && (size_t)n >= iov->iov_len) {
            n -= (ssize_t)iov->iov_len;
            iov++;
            cnt--;
        }
        if (cnt > 0) {
            iov->iov_base = (char *)iov->iov_base + n;
            iov->iov_len -= (size_t)n;
        }
    }
    return 0;
}

/* Answers an error before (or instead of) the app, then closes. */
static void hd_conn_send_error(hd_conn_t *c, int status)
{
    char buf[256];
    const char *reason = hd_http_reason(status);
    int n = snprintf(buf, sizeof(buf),
                     "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n%s\n",
                     status, reason, strlen(reason) + 1, reason);
    struct iovec iov = {buf, (size_t)n};
    c->status = status;
    hd_conn_writev_all(c, &iov, 1);
    c->close_after = true;
}

/* ---- request body ---------------------------------------------------------- */

static int hd_conn_send_continue(hd_conn_t *c)
{
    static const char msg[] = "HTTP/1.1 100 Continue\r\n\r\n";
    struct iovec iov = {(void *)msg, sizeof(msg) - 1};
    c->continue_due = false;
    return hd_conn_writev_all(c, &iov, 1);
}

/* Reads more raw body bytes into buf after body_pos; 0 on EOF, -1 error. */
static ssize_t hd_conn_fill_body(hd_conn_t *c, const char **err)
{
    if (c->body_pos == c->len) /* all consumed: reuse the body area */
        c->body_pos = c->len = c->head_len;
    for (;;) {
        ssize_t n = read(c->fd, c->buf + c->len, c->cap - c->len);
        if (n > 0) {
            c->len += (size_t)n;
            return n;
        }
        if (n == 0) {
            *err = "client closed the connection";
            return -1;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN) {
            if (hd_conn_wait(c, POLLIN) == 0)
                continue;
            *err = "timed out waiting for the client";
            return -1;
        }
        *err = strerror(errno);
        return -1;
    }
}

ssize_t hd_conn_read_body(hd_conn_t *c, char *dst, size_t n, const char **err)
{
    if (c->body_failed) {
        *err = "the request body is broken";
        return -1;
    }
    if (c->body_done || n == 0)
        return 0;
    if (c->continue_due && c->body_pos == c->len && hd_conn_send_continue(c) < 0) {
        *err = "cannot write 100 Continue";
        c->body_failed = true;
        return -1;
    }
    if (!c->chunked) {
        if ((int64_t)n > c->body_left)
            n = (size_t)c->body_left;
        size_t avail = c->len - c->body_pos;
        if (avail > 0) {
            if (n > avail)
                n = avail;
            memcpy(dst, c->buf + c->body_pos, n);
            c->body_pos += n;
        } else if (n >= 4096) {
            /* Large reads go straight into the app's buffer. */
            ssize_t r;
            for (;;) {
                r = read(c->fd, dst, n);
                if (r > 0)
                    break;
                if (r < 0 && errno == EINTR)
                    continue;
                if (r < 0 && errno == EAGAIN && hd_conn_wait(c, POLLIN) == 0)
                    continue;
                *err = r == 0 ? "client closed the connection"
                              : errno == EAGAIN ? "timed out waiting for the client"
                                                : strerror(errno);
                c->body_failed = true;
                c->close_after = true;
                return -1;
            }
            n = (size_t)r;
        } else {
            if (hd_conn_fill_body(c, err) < 0) {
                c->body_failed = true;
                c->close_after = true;
                return -1;
            }
            return hd_conn_read_body(c, dst, n, err);
        }
        c->body_left -= (int64_t)n;
        c->body_total += n;
        if (c->body_left == 0)
            c->body_done = true;
        return (ssize_t)n;
    }

    /* chunked: decode what is buffered, reading more when it runs out */
    for (;;) {
        if (c->pend_len > 0) {
            size_t k = c->pend_len < n ? c->pend_len : n;
            memcpy(dst, c->buf + c->pend_off, k);
            c->pend_off += k;
            c->pend_len -= k;
            return (ssize_t)k;
        }
        size_t avail = c->len - c->body_pos, consumed = 0, off = 0, dlen = 0;
        if (avail > 0) {
            int rc = hd_chunked_decode(&c->ck, c->buf + c->body_pos, avail, &consumed, &off, &dlen);
            if (rc == HD_ERROR) {
                *err = "invalid chunked encoding";
                c->client_error = 400;
                c->body_failed = true;
                c->close_after = true;
                return -1;
            }
            if (rc == HD_CHUNK_DATA) {
                c->pend_off = c->body_pos + off;
                c->pend_len = dlen;
                c->body_pos += consumed;
                c->body_total += dlen;
                if (c->srv->cfg->limit_post > 0 &&
                    c->body_total > (uint64_t)c->srv->cfg->limit_post) {
                    *err = "the request body is larger than --limit-post";
                    c->client_error = 413;
                    c->body_failed = true;
                    c->close_after = true;
                    return -1;
                }
                continue;
            }
            c->body_pos += consumed;
            if (rc == HD_CHUNK_DONE) {
                c->body_done = true;
                return 0;
            }
            if (consumed > 0 || c->body_pos < c->len)
                continue;
        }
        /* need more bytes: keep the undecoded tail at the front of the area */
        if (c->body_pos < c->len && c->body_pos > c->head_len) {
            memmove(c->buf + c->head_len, c->buf + c->body_pos, c->len - c->body_pos);
            c->len -= c->body_pos - c->head_len;
            c->body_pos = c->head_len;
        }
        if (c->len == c->cap && c->body_pos != c->len) {
            *err = "chunk line too long";
            c->client_error = 400;
            c->body_failed = true;
            c->close_after = true;
            return -1;
        }
        if (hd_conn_fill_body(c, err) < 0) {
            c->body_failed = true;
            c->close_after = true;
            return -1;
        }
    }
}

/* ---- response ------------------------------------------------------------ */

static int hd_out_reserve(hd_thread_t *t, size_t more)
{
    if (t->out_len + more <= t->out_cap)
        return 0;
    size_t cap = t->out_cap ? t->out_cap : 1024;
    while (cap < t->out_len + more)
        cap *= 2;
    char *p = realloc(t->out, cap);
    if (p == NULL)
        return -1;
    t->out = p;
    t->out_cap = cap;
    return 0;
}

static void hd_out_add(hd_thread_t *t, const char *s, size_t n)
{
    if (hd_out_reserve(t, n) == 0) {
        memcpy(t->out + t->out_len, s, n);
        t->out_len += n;
    }
}

/* "Name: value\r\n" in one reservation. */
static void hd_out_header(hd_thread_t *t, const char *name, size_t nl, const char *value,
                          size_t vl)
{
    if (hd_out_reserve(t, nl + vl + 4) < 0)
        return;
    char *p = t->out + t->out_len;
    memcpy(p, name, nl);
    p[nl] = ':';
    p[nl + 1] = ' ';
    memcpy(p + nl + 2, value, vl);
    p[nl + 2 + vl] = '\r';
    p[nl + 3 + vl] = '\n';
    t->out_len += nl + vl + 4;
}

/* A header name against a lower-case literal (a token: letters, '-'). */
#define hd_name_is(a, alen, lower) \
    ((alen) == sizeof(lower) - 1 && hd_name_eq((a), (lower), sizeof(lower) - 1))

static bool hd_name_eq(const char *a, const char *lower, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((a[i] | 0x20) != lower[i])
            return false;
    return true;
}

static bool hd_value_has_token(const char *v, size_t n, const char *tok)
{
    size_t tl = strlen(tok);
    for (size_t i = 0; i + tl <= n; i++) {
        if (strncasecmp(v + i, tok, tl) == 0)
            return true;
    }
    return false;
}

int hd_conn_start(hd_conn_t *c, const char *status, size_t status_len,
                  const hd_header_out_t *h, size_t n)
{
    hd_thread_t *t = c->thr;
    t->out_len = 0;
    c->status = (status[0] - '0') * 100 + (status[1] - '0') * 10 + (status[2] - '0');
    c->resp_cl = -1;
    c->app_te = false;
    c->resp_nheaders = (int)n;
    hd_out_add(t, c->req.http.minor_version == 1 ? "HTTP/1.1 " : "HTTP/1.0 ", 9);
    hd_out_add(t, status, status_len);
    hd_out_add(t, "\r\n", 2);
    for (size_t i = 0; i < n; i++) {
        if (hd_name_is(h[i].name, h[i].name_len, "content-length")) {
            /* 1 to 18 digits (no overflow), optional whitespace around */
            const char *v = h[i].value, *e = v + h[i].value_len;
            while (v < e && (*v == ' ' || *v == '\t'))
                v++;
            while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
                e--;
            if (e == v || e - v > 18)
                return -1;
            int64_t cl = 0;
            for (; v < e; v++) {
                if (*v < '0' || *v > '9')
                    return -1;
                cl = cl * 10 + (*v - '0');
            }
            c->resp_cl = cl;
        } else if (hd_name_is(h[i].name, h[i].name_len, "connection")) {
            if (hd_value_has_token(h[i].value, h[i].value_len, "close"))
                c->close_after = true;
            continue; /* hop-by-hop: herd writes its own */
        } else if (hd_name_is(h[i].name, h[i].name_len, "transfer-encoding")) {
            c->app_te = true;
        }
        hd_out_header(t, h[i].name, h[i].name_len, h[i].value, h[i].value_len);
    }
    c->no_body = c->req.is_head || c->status < 200 || c->status == 204 || c->status == 304;
    c->head_pending = true;
    return 0;
}

/* Completes the head with framing and connection headers. total: the whole
   body's length when known (last chunk given at once), else -1. */
static void hd_conn_frame(hd_conn_t *c, int64_t total)
{
    hd_thread_t *t = c->thr;
    bool v11 = c->req.http.minor_version == 1;
    char line[64];

    if (c->srv->stopping || !c->keep_alive)
        c->close_after = true;
    /* Known now that the connection cannot be reused: the client still
       waits for "100 Continue", or more body is left than we would drain.
       Saying so in the head keeps a proxy from reusing it. */
    if (c->continue_due || (!c->chunked && c->body_left > HD_DRAIN_MAX))
        c->close_after = true;
    c->resp_chunked = false;
    if (c->app_te) {
        c->close_after = true; /* the app frames its own body: end it by closing */
    } else if (c->resp_cl < 0 && !(c->status < 200 || c->status == 204 || c->status == 304)) {
        if (total >= 0 && !c->req.is_head) {
            c->resp_cl = total;
            char *e = line + sizeof(line), *p = e;
            uint64_t v = (uint64_t)total;
            *--p = '\n';
            *--p = '\r';
            do
                *--p = (char)('0' + v % 10);
            while ((v /= 10) != 0);
            hd_out_add(t, "Content-Length: ", 16);
            hd_out_add(t, p, (size_t)(e - p));
        } else if (c->req.is_head) {
            /* HEAD: no body follows whatever the framing */
        } else if (v11) {
            c->resp_chunked = true;
            hd_out_add(t, "Transfer-Encoding: chunked\r\n", 28);
        } else {
            c->close_after = true; /* HTTP/1.0: the body ends at close */
        }
    }
    time_t now = time(NULL);
    if (now != t->date_at) {
        struct tm tm;
        gmtime_r(&now, &tm);
        t->date_len = strftime(t->date, sizeof(t->date), "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
        t->date_at = now;
    }
    hd_out_add(t, t->date, t->date_len);
    if (c->close_after)
        hd_out_add(t, "Connection: close\r\n", 19);
    else if (!v11)
        hd_out_add(t, "Connection: keep-alive\r\n", 24);
    hd_out_add(t, "\r\n", 2);
    c->resp_head_bytes = t->out_len;
}

int hd_conn_write(hd_conn_t *c, const char *data, size_t len, bool last)
{
    struct iovec iov[4];
    int cnt = 0;
    char chunk_hdr[24];

    if (c->head_pending) {
        hd_conn_frame(c, last ? (int64_t)len : -1);
        iov[cnt].iov_base = c->thr->out;
        iov[cnt++].iov_len = c->thr->out_len;
        c->head_pending = false;
        c->head_sent = true;
    }
    if (c->no_body)
        len = 0;
    if (c->resp_cl >= 0 && c->resp_sent + len > (uint64_t)c->resp_cl)
        len = (size_t)((uint64_t)c->resp_cl - c->resp_sent); /* never more than announced */
    if (len > 0) {
        if (c->resp_chunked) {
            iov[cnt].iov_base = chunk_hdr;
            iov[cnt++].iov_len = hd_chunked_write_size(chunk_hdr, len);
        }
        iov[cnt].iov_base = (void *)data;
        iov[cnt++].iov_len = len;
        if (c->resp_chunked) {
            iov[cnt].iov_base = "\r\n";
            iov[cnt++].iov_len = 2;
        }
    }
    if (cnt == 0)
        return 0;
    if (hd_conn_writev_all(c, iov, cnt) < 0)
        return -1;
    c->resp_sent += len; /* the access log counts what the client got */
    return 0;
}

int hd_conn_sendfile(hd_conn_t *c, int fd, off_t offset, size_t count)
{
    if (c->resp_cl >= 0 && (uint64_t)c->resp_cl < count)
        count = (size_t)c->resp_cl;
    if (c->head_pending) {
        struct iovec iov;
        hd_conn_frame(c, c->resp_cl >= 0 ? c->resp_cl : (int64_t)count);
        iov.iov_base = c->thr->out;
        iov.iov_len = c->thr->out_len;
        c->head_pending = false;
        c->head_sent = true;
        if (hd_conn_writev_all(c, &iov, 1) < 0)
            return -1;
    }
    if (c->no_body)
        return 0;
    if (c->resp_chunked) {
        /* cannot happen: the head above announced the length */
        c->close_after = true;
        return -1;
    }
    while (count > 0) {
        ssize_t n = sendfile(c->fd, fd, &offset, count);
        if (n > 0) {
            count -= (size_t)n;
            c->resp_sent += (uint64_t)n;
            continue;
        }
        if (n == 0) /* the file shrank: the length we announced is wrong */
            break;
        if (hd_conn_retry(c, POLLOUT))
            continue;
        return -1;
    }
    if (count > 0)
        c->close_after = true;
    return 0;
}

int hd_conn_finish(hd_conn_t *c)
{
    if (c->head_pending)
        return hd_conn_write(c, "", 0, true);
    if (c->resp_chunked) {
        struct iovec iov = {"0\r\n\r\n", 5};
        return hd_conn_writev_all(c, &iov, 1);
    }
    if (c->resp_cl >= 0 && c->resp_sent < (uint64_t)c->resp_cl && !c->no_body)
        c->close_after = true; /* the app sent less than it announced */
    return 0;
}

/* ---- access log ---------------------------------------------------------- */

static void hd_conn_log_access(hd_conn_t *c, uint64_t nreq)
{
    struct timespec now;
    char date[64], line[2048];
    time_t wall = time(NULL);
    struct tm tm;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long ms = (now.tv_sec - c->t_start.tv_sec) * 1000 + (now.tv_nsec - c->t_start.tv_nsec) / 1000000;
    localtime_r(&wall, &tm);
    strftime(date, sizeof(date), "%a %b %e %H:%M:%S %Y", &tm);
    const hd_http_request_t *h = &c->req.http;
    int tl = h->target.len > 1024 ? 1024 : (int)h->target.len;
    /* Behind nginx the client is nginx's REMOTE_ADDR, as uWSGI logs it. */
    char raddr[64];
    const char *remote = c->remote_addr[0] ? c->remote_addr : "-";
    const hd_str_t *ra = c->req.uwsgi ? hd_uwsgi_get(c->req.uwsgi, "REMOTE_ADDR") : NULL;
    if (ra != NULL && ra->len > 0 && ra->len < sizeof(raddr)) {
        memcpy(raddr, ra->base, ra->len);
        raddr[ra->len] = '\0';
        remote = raddr;
    }
    int n = snprintf(line, sizeof(line),
                     "[pid: %d|app: 0|req: %llu/%llu] %s () {%zu vars in %zu bytes} [%s] %.*s %.*s "
                     "=> generated %llu bytes in %ld msecs (HTTP/1.%d %d) %d headers in %zu bytes "
                     "(1 switches on core %d)\n",
                     (int)getpid(), (unsigned long long)c->nreq, (unsigned long long)nreq,
                     remote, h->num_headers + 14, c->head_len,
                     date, (int)h->method.len, h->method.base, tl, h->target.base,
                     (unsigned long long)c->resp_sent, ms, h->minor_version, c->status,
                     c->resp_nheaders, c->resp_head_bytes, c->thr->id);
    if (n > 0)
        hd_log_raw(line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

/* ---- the GIL ------------------------------------------------------------ */

/* A thread takes the GIL to run the app and keeps it from one request to
   the next while it has work (sched.h). */
static void hd_thread_gil_take(hd_thread_t *t)
{
    if (!t->gil) {
        hd_py_gil_take();
        t->gil = true;
    }
}

static void hd_thread_gil_drop(hd_thread_t *t)
{
    if (t->gil) {
        t->gil = false;
        hd_py_gil_drop();
    }
}

/* ---- one request ------------------------------------------------------- */

/* Runs the request whose head is buf[0..head_len). Returns true to keep the
   connection (the next request's bytes, if any, are then at buf[0..len)). */
static bool hd_conn_serve(hd_conn_t *c)
{
    hd_server_t *s = c->srv;
    const hd_http_request_t *h = &c->req.http;

    c->body_pos = c->head_len;
    c->chunked = h->chunked;
    c->body_left = h->chunked ? -1 : (h->content_length > 0 ? h->content_length : 0);
    c->body_done = !h->chunked && c->body_left == 0;
    c->body_failed = false;
    c->client_error = 0;
    c->body_total = 0;
    hd_chunked_init(&c->ck);
    c->pend_len = 0;
    c->continue_due = h->expect_continue && h->minor_version == 1 && !c->body_done;
    c->req.is_head = h->method.len == 4 && memcmp(h->method.base, "HEAD", 4) == 0;
    c->keep_alive = h->keep_alive && s->cfg->http_keepalive > 0;
    c->close_after = false;
    c->head_pending = c->head_sent = false;
    c->resp_sent = 0;
    c->resp_head_bytes = 0;
    c->resp_nheaders = 0;
    c->status = 0;
    clock_gettime(CLOCK_MONOTONIC, &c->t_start);
    c->nreq++;
    uint64_t nreq = atomic_fetch_add(&s->requests, 1) + 1;
    bool recycle = s->recycle_at > 0 && nreq >= s->recycle_at;
    if (recycle)
        c->close_after = true; /* the last response says so */

    if (s->cfg->limit_post > 0 && h->content_length > s->cfg->limit_post) {
        hd_conn_send_error(c, 413);
    } else {
        hd_score_thread_t *st = c->thr->score;
        if (st != NULL) {
            /* "METHOD target", truncated: no printf on this path. */
            size_t cap = sizeof(st->what) - 1;
            size_t ml = h->method.len < cap ? h->method.len : cap;
            memcpy(st->what, h->method.base, ml);
            size_t o = ml;
            if (o < cap)
                st->what[o++] = ' ';
            size_t tl = h->target.len < cap - o ? h->target.len : cap - o;
            memcpy(st->what + o, h->target.base, tl);
            st->what[o + tl] = '\0';
            st->fd = c->fd;
            c->thr->cur = c;
            atomic_store(&st->start_ms, hd_score_now_ms());
        }
        hd_thread_gil_take(c->thr);
        hd_sched_enter(&s->sched);
        hd_py_wsgi_handle(c);
        hd_sched_leave(&s->sched);
        if (st != NULL) {
            atomic_store(&st->start_ms, 0);
            c->thr->cur = NULL;
        }
    }
    if (s->score != NULL)
        atomic_fetch_add(&s->score->requests, 1);
    if (recycle && !atomic_exchange(&s->recycle_sent, true)) {
        /* Ask the master for a replacement (forked at once) and stop
           accepting; what is in flight finishes, queued connections wait in
           the shared backlog for the new worker. */
        hd_msg_t msg = {HD_MSG_RECYCLE, s->worker_id, (int)getpid()};
        hd_log(HD_LOG_INFO, "served %llu requests (--max-requests): recycling",
               (unsigned long long)nreq);
        if (write(s->notify_fd, &msg, sizeof(msg)) != sizeof(msg))
            hd_log_errno("cannot ask the master for a replacement");
        hd_server_stop(s, c->thr);
    }
    if (!s->cfg->disable_logging)
        hd_conn_log_access(c, nreq);

    if (c->close_after || !c->keep_alive || s->stopping)
        return false;
    if (c->continue_due)
        return false; /* the client may or may not send the body: close */
    if (!c->body_done) {
        /* Drain what the app did not read, within reason, to keep the
           connection; a large rest is cheaper to drop with the connection. */
        char scratch[16384];
        const char *err;
        uint64_t drained = 0;
        for (;;) {
            ssize_t n = hd_conn_read_body(c, scratch, sizeof(scratch), &err);
            if (n < 0)
                return false;
            if (n == 0)
                break;
            drained += (uint64_t)n;
            if (drained > HD_DRAIN_MAX)
                return false;
        }
    }
    /* Keep the pipelined rest, drop this request. */
    size_t rest = c->len - c->body_pos;
    memmove(c->buf, c->buf + c->body_pos, rest);
    c->len = rest;
    c->head_len = 0;
    c->head_start = rest > 0 ? hd_now() : 0;
    return true;
}

/* Parses the request head in buf with the listener's protocol. */
static int hd_conn_parse(hd_conn_t *c, int *status)
{
    c->req.http.headers = c->req.headers;
    c->req.uwsgi = NULL;
    if (c->listener->proto != HD_PROTO_UWSGI)
        return hd_http_parse_request(c->buf, c->len, &c->req.http, HD_MAX_HEADERS, status);

    hd_uwsgi_packet_t *p = &c->req.upkt;
    p->vars = c->req.uvars;
    int rc = hd_uwsgi_parse(c->buf, c->len, p, HD_MAX_UWSGI_VARS, c->srv->head_max, status);
    if (rc == HD_ERROR) {
        if (*status == 413)
            hd_log(HD_LOG_WARN, "uwsgi packet of %zu bytes from %s is larger than --buffer-size "
                                "%zu: refused (raise --buffer-size)",
                   p->datasize + 4, c->listener->name, c->srv->head_max);
        else
            hd_log(HD_LOG_WARN, "bad uwsgi packet on %s: %s", c->listener->name,
                   p->error ? p->error : "malformed");
        return HD_ERROR;
    }
    if (rc == HD_AGAIN)
        return rc;
    if (hd_uwsgi_to_request(p, &c->req.http, c->req.headers, HD_MAX_HEADERS, status) < 0) {
        hd_log(HD_LOG_WARN, "bad uwsgi request on %s: %s", c->listener->name,
               p->error ? p->error : "malformed");
        return HD_ERROR;
    }
    c->req.uwsgi = p;
    return rc;
}

/* Owner's work on a connection: read, parse, serve, until the socket is
   drained. Returns false if the connection was closed. */
static bool hd_conn_process(hd_conn_t *c)
{
    hd_server_t *s = c->srv;
    bool need_read = true; /* we are here because of an edge: bytes may wait */

    for (;;) {
        if (need_read) {
            if (c->len == c->cap) {
                hd_conn_send_error(c, hd_http_overflow_status(c->buf, c->len));
                hd_conn_close(c);
                return false;
            }
            size_t room = c->cap - c->len;
            ssize_t n = read(c->fd, c->buf + c->len, room);
            if (n == 0) {
                hd_conn_close(c);
                return false;
            }
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                if (errno == EAGAIN) {
                    c->read_full = false;
                    return true;
                }
                hd_conn_close(c);
                return false;
            }
            if (c->len == 0)
                c->head_start = hd_now();
            c->len += (size_t)n;
            c->read_full = (size_t)n == room;
        }
        if (c->len == 0)
            return true;

        int status = 400;
        int rc = hd_conn_parse(c, &status);
        if (rc == HD_ERROR) {
            hd_conn_send_error(c, status);
            hd_conn_close(c);
            return false;
        }
        if (rc == HD_AGAIN) {
            if (c->len >= s->head_max) {
                hd_conn_send_error(c, hd_http_overflow_status(c->buf, c->len));
                hd_conn_close(c);
                return false;
            }
            if (!c->read_full)
                return true; /* drained: the next edge brings more */
            need_read = true;
            continue;
        }
        if ((size_t)rc > s->head_max) {
            hd_conn_send_error(c, hd_http_overflow_status(c->buf, s->head_max));
            hd_conn_close(c);
            return false;
        }
        c->head_len = (size_t)rc;
        if (!hd_conn_serve(c)) {
            hd_conn_close(c);
            return false;
        }
        c->idle_since = hd_now();
        /* Pipelined bytes are parsed first; else read only if the socket may
           still hold bytes that came before our last read. */
        need_read = c->len == 0 ? c->read_full : false;
        if (c->len == 0 && !c->read_full)
            return true;
    }
}

/* ---- connection table ----------------------------------------------------- */

static void hd_conn_close(hd_conn_t *c)
{
    hd_server_t *s = c->srv;
    int fd = c->fd;
    /* close() with unread bytes in the socket sends a reset, which can
       destroy the response still in flight to the client: discard what has
       arrived (non-blocking, bounded) first. */
    for (int i = 0; i < 16; i++)
        if (read(fd, c->buf, c->cap) <= 0)
            break;
    free(c->buf);
    c->buf = NULL;
    c->len = c->cap = 0;
    c->fd = -1;
    atomic_store(&c->state, HD_CONN_FREE);
    close(fd);
    atomic_fetch_sub(&s->active, 1);
}

/* Claims the connection for this thread: true if we own it now. */
static bool hd_conn_claim(hd_conn_t *c)
{
    int st = HD_CONN_IDLE;
    if (atomic_compare_exchange_strong(&c->state, &st, HD_CONN_BUSY))
        return true;
    if (st == HD_CONN_BUSY)
        atomic_compare_exchange_strong(&c->state, &st, HD_CONN_PENDING);
    return false;
}

/* Gives the connection back; false if another edge came meanwhile (we keep
   it and must read again). */
static bool hd_conn_release(hd_conn_t *c)
{
    int st = HD_CONN_BUSY;
    if (atomic_compare_exchange_strong(&c->state, &st, HD_CONN_IDLE))
        return true;
    atomic_store(&c->state, HD_CONN_BUSY); /* was PENDING */
    return false;
}

static void hd_conn_run(hd_thread_t *t, hd_conn_t *c)
{
    c->thr = t;
    for (;;) {
        if (!hd_conn_process(c))
            break;
        if (hd_conn_release(c))
            break;
        c->read_full = true; /* an edge came while we worked: read again */
    }
    hd_server_check_exit(t->srv, t);
}

/* How many connections to take from the shared queue now: as many as this
   worker has idle threads, and at least its share of what waits there.
   Idle workers sit in epoll_wait and take new connections at once; a busy
   one comes here only between requests, so taking one at a time would let
   a burst of k clients wait k rounds of every open connection's request
   (measured: 0.4 s for the last of 64 Flask clients on one worker). Taking
   a share, not all, keeps a burst spread over the workers. */
static int hd_server_accept_budget(hd_server_t *s, hd_listener_t *l)
{
    int budget = s->cfg->threads - atomic_load(&s->sched.busy);
    int procs = s->cfg->processes > 0 ? s->cfg->processes : 1;
    int queued = hd_listen_queued(l);
    int share = queued > 0 ? (queued + procs - 1) / procs : procs == 1 ? HD_ACCEPT_MAX : 0;
    if (share > budget)
        budget = share;
    return budget < 1 ? 1 : budget > HD_ACCEPT_MAX ? HD_ACCEPT_MAX : budget;
}

/* Accepts up to hd_server_accept_budget connections. The first one is
   returned claimed (BUSY) for the caller to queue. */
static hd_conn_t *hd_server_accept(hd_server_t *s, hd_listener_t *l)
{
    hd_conn_t *first = NULL;
    for (int budget = hd_server_accept_budget(s, l); budget > 0; budget--) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        /* Counted before accept4(): a stopping worker must not exit while a
           connection it has taken is not counted yet. */
        atomic_fetch_add(&s->active, 1);
        int fd = accept4(l->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            atomic_fetch_sub(&s->active, 1);
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno != EAGAIN)
                hd_log_errno("accept4() on %s failed", l->name);
            return first;
        }
        if ((size_t)fd >= s->nconns) {
            hd_log(HD_LOG_WARN, "connection fd %d over the table size %zu: refused", fd,
                   s->nconns);
            close(fd);
            atomic_fetch_sub(&s->active, 1);
            continue;
        }
        hd_conn_t *c = s->conns[fd];
        if (c == NULL) {
            c = calloc(1, sizeof(*c));
            if (c == NULL) {
                close(fd);
                atomic_fetch_sub(&s->active, 1);
                continue;
            }
            s->conns[fd] = c;
        }
        c->buf = malloc(s->head_max + HD_BODY_AREA);
        if (c->buf == NULL) {
            close(fd);
            atomic_fetch_sub(&s->active, 1);
            continue;
        }
        c->cap = s->head_max + HD_BODY_AREA;
        c->len = c->head_len = 0;
        c->fd = fd;
        c->srv = s;
        c->listener = l;
        c->read_full = false;
        c->nreq = 0;
        c->head_start = 0;
        c->idle_since = hd_now();
        c->req.listener = l;
        c->req.remote_addr = c->remote_addr;
        c->req.remote_port = c->remote_port;
        c->remote_addr[0] = c->remote_port[0] = '\0';
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *a = (struct sockaddr_in *)&ss;
            inet_ntop(AF_INET, &a->sin_addr, c->remote_addr, sizeof(c->remote_addr));
            snprintf(c->remote_port, sizeof(c->remote_port), "%u", ntohs(a->sin_port));
        } else if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &a->sin6_addr, c->remote_addr, sizeof(c->remote_addr));
            snprintf(c->remote_port, sizeof(c->remote_port), "%u", ntohs(a->sin6_port));
        }
        int h = atomic_load(&s->hwm);
        while (fd + 1 > h && !atomic_compare_exchange_weak(&s->hwm, &h, fd + 1))
            ;
        atomic_store(&c->state, first == NULL ? HD_CONN_BUSY : HD_CONN_IDLE);
        struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.u64 = (uint64_t)fd};
        if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
            hd_log_errno("epoll_ctl(ADD) failed for a connection");
            if (first == NULL || hd_conn_claim(c))
                hd_conn_close(c);
            continue;
        }
        if (first == NULL)
            first = c;
    }
    return first;
}

/* Closes connections that idled or stalled too long (all idle ones when
   stopping). One thread at a time, at most once a second unless forced. */
static void hd_server_sweep(hd_server_t *s, hd_thread_t *t, bool force)
{
    int64_t now = hd_now();
    if (!force && now - s->last_sweep < 1000)
        return;
    if (pthread_mutex_trylock(&s->sweep_lock) != 0)
        return;
    s->last_sweep = now;
    int hwm = atomic_load(&s->hwm);
    for (int fd = 0; fd < hwm; fd++) {
        hd_conn_t *c = s->conns[fd];
        if (c == NULL || atomic_load(&c->state) != HD_CONN_IDLE)
            continue;
        bool expired;
        int status = 0;
        if (s->stopping) /* idle keep-alive at once; a fresh one gets 1 s to ask */
            expired = c->len == 0 && (c->nreq > 0 || now - c->idle_since >= 1000);
        else if (c->len > 0) {
            expired = now - c->head_start >= (int64_t)s->cfg->socket_timeout * 1000;
            status = 408;
        } else if (c->nreq == 0)
            expired = now - c->idle_since >= (int64_t)s->cfg->socket_timeout * 1000;
        else
            expired = now - c->idle_since >= (int64_t)s->cfg->http_keepalive * 1000;
        if (expired && hd_conn_claim(c)) {
            if (status) {
                c->thr = t; /* the sweeping thread waits, without the GIL */
                hd_conn_send_error(c, status);
            }
            hd_conn_close(c);
        }
    }
    pthread_mutex_unlock(&s->sweep_lock);
}

static void hd_server_check_exit(hd_server_t *s, hd_thread_t *t)
{
    if (s->stopping && atomic_load(&s->active) == 0) {
        hd_thread_gil_drop(t);
        hd_py_worker_exit(0);
    }
}

static void hd_server_stop(hd_server_t *s, hd_thread_t *t)
{
    if (atomic_exchange(&s->stopping, true))
        return;
    /* Deregistered, not closed: another thread may be inside accept4() on
       them right now; the master keeps the sockets open for the others. */
    for (size_t i = 0; i < s->nls; i++)
        epoll_ctl(s->epfd, EPOLL_CTL_DEL, s->ls[i].fd, NULL);
    hd_log(HD_LOG_INFO, "stopping: %d connection(s) open", atomic_load(&s->active));
    hd_server_sweep(s, t, true);
}

static void hd_server_signal(hd_server_t *s, hd_thread_t *t)
{
    struct signalfd_siginfo si;
    while (read(s->sigfd, &si, sizeof(si)) == sizeof(si)) {
        switch (si.ssi_signo) {
        case SIGTERM:
        case SIGINT:
        case SIGHUP:
            hd_server_stop(s, t);
            break;
        case SIGQUIT:
            _exit(0);
        case SIGUSR1:
            hd_log_reopen();
            break;
        default:
            break;
        }
    }
}

/* Queues the work of n events (sched.h). */
static void hd_server_dispatch(hd_server_t *s, hd_thread_t *t, struct epoll_event *evs, int n)
{
    for (int i = 0; i < n; i++) {
        uint64_t kind = evs[i].data.u64 >> 32;
        uint32_t low = (uint32_t)evs[i].data.u64;
        if (kind == HD_EV_LISTENER) {
            hd_conn_t *c = hd_server_accept(s, &s->ls[low]);
            if (c != NULL)
                hd_sched_push(&s->sched, &c->run);
        } else if (kind == HD_EV_SIGNAL) {
            hd_server_signal(s, t);
        } else {
            hd_conn_t *c = low < s->nconns ? s->conns[low] : NULL;
            if (c != NULL && hd_conn_claim(c))
                hd_sched_push(&s->sched, &c->run);
        }
    }
}

/* The watcher (sched.h): once the threads in the app stall and work waits,
   it takes the GIL and becomes a runner. */
static void hd_thread_watch(hd_thread_t *t)
{
    hd_server_t *s = t->srv;
    struct epoll_event evs[64];
    for (;;) {
        hd_sched_watch(&s->sched);
        int n = epoll_wait(s->epfd, evs, 64, 0);
        if (n > 0)
            hd_server_dispatch(s, t, evs, n);
        if (hd_sched_queued(&s->sched))
            break;
    }
    hd_sched_take_over(&s->sched);
    hd_thread_gil_take(t);
}

/* Every thread: run queued connections; out of work, a runner (GIL held)
   looks for more without waiting, then lets the GIL go and polls, or parks
   until it is called to watch (sched.h). */
static void *hd_server_thread(void *arg)
{
    hd_thread_t *t = arg;
    hd_server_t *s = t->srv;
    struct epoll_event evs[64];

    if (t->id > 0) {
        hd_py_thread_attach();
        pthread_mutex_lock(&s->attach_lock);
        s->attached++;
        pthread_cond_signal(&s->attach_done);
        pthread_mutex_unlock(&s->attach_lock);
    }
    for (;;) {
        hd_sched_item_t *it = hd_sched_pop(&s->sched);
        if (it != NULL) {
            hd_conn_run(t, (hd_conn_t *)((char *)it - offsetof(hd_conn_t, run)));
            continue;
        }
        int n;
        if (t->gil) {
            n = epoll_wait(s->epfd, evs, 64, 0);
            if (n > 0) {
                hd_server_dispatch(s, t, evs, n);
                hd_server_sweep(s, t, false);
                continue;
            }
            hd_thread_gil_drop(t);
        }
        hd_server_sweep(s, t, false);
        hd_server_check_exit(s, t);
        if (hd_sched_idle(&s->sched) == HD_SCHED_WATCH) {
            hd_thread_watch(t);
            continue;
        }
        n = epoll_wait(s->epfd, evs, 64, s->stopping ? 100 : 1000);
        int saved = errno;
        hd_sched_polled(&s->sched);
        if (n < 0 && saved != EINTR) {
            errno = saved;
            hd_log_errno("epoll_wait() failed");
            hd_py_worker_exit(1);
        }
        if (n > 0)
            hd_server_dispatch(s, t, evs, n);
    }
    return NULL;
}

hd_server_t *hd_server_init(const hd_config_t *cfg, hd_listener_t *ls, size_t nls, int worker_id,
                            int notify_fd)
{
    hd_server_t *s = calloc(1, sizeof(*s));
    struct rlimit rl;
    sigset_t set;

    if (s == NULL)
        return NULL;
    s->cfg = cfg;
    s->ls = ls;
    s->nls = nls;
    s->worker_id = worker_id;
    s->head_max = cfg->buffer_size;
    s->notify_fd = notify_fd;
    s->score = hd_score(worker_id);
    if (cfg->max_requests > 0)
        s->recycle_at = (uint64_t)cfg->max_requests +
                        (uint64_t)(worker_id - 1) * (uint64_t)cfg->max_requests_delta;
    pthread_mutex_init(&s->sweep_lock, NULL);
    pthread_mutex_init(&s->attach_lock, NULL);
    pthread_cond_init(&s->attach_done, NULL);
    s->nconns = 65536;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        s->nconns = rl.rlim_cur < (1u << 20) ? rl.rlim_cur : (1u << 20);
    s->conns = calloc(s->nconns, sizeof(*s->conns));
    s->threads = calloc((size_t)cfg->threads, sizeof(*s->threads));
    s->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (s->conns == NULL || s->threads == NULL || s->epfd < 0) {
        hd_log_errno("worker setup failed");
        return NULL;
    }
    for (size_t i = 0; i < nls; i++) {
        /* Level-triggered, not EPOLLEXCLUSIVE: an exclusive wake-up can go to
           a worker about to be busy while an idle one never hears of the
           connection. Every idle worker wakes; one accepts. */
        struct epoll_event ev = {.events = EPOLLIN,
                                 .data.u64 = (HD_EV_LISTENER << 32) | i};
        if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, ls[i].fd, &ev) < 0) {
            hd_log_errno("epoll_ctl(ADD) failed for %s", ls[i].name);
            return NULL;
        }
    }
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGQUIT);
    sigaddset(&set, SIGUSR1);
    s->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (s->sigfd < 0) {
        hd_log_errno("signalfd() failed");
        return NULL;
    }
    struct epoll_event sev = {.events = EPOLLIN, .data.u64 = HD_EV_SIGNAL << 32};
    epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->sigfd, &sev);
    if (hd_sched_init(&s->sched, cfg->threads) < 0) {
        hd_log(HD_LOG_ERR, "worker setup failed: cannot set up the thread scheduler");
        return NULL;
    }
    return s;
}

/* --harakiri, inside the worker: a C thread that never touches Python and
   so cannot be stopped by a stuck request. It names the request, has
   faulthandler dump every thread's Python traceback (SIGUSR2, registered by
   py/), answers 504 if the head was not sent, and ends the worker; the
   master then replaces it. */
static void hd_server_harakiri(hd_server_t *s, int i, int64_t ran_ms)
{
    hd_thread_t *t = &s->threads[i];
    hd_score_thread_t *st = t->score;
    hd_conn_t *c = t->cur;
    sigset_t usr2;

    hd_log(HD_LOG_ERR, "harakiri: \"%s\" on thread %d has run for %.1f s (--harakiri %d): "
                       "Python tracebacks of every thread follow, then this worker is replaced",
           st->what, i, (double)ran_ms / 1000.0, s->cfg->harakiri);
    sigemptyset(&usr2);
    sigaddset(&usr2, SIGUSR2);
    pthread_sigmask(SIG_UNBLOCK, &usr2, NULL);
    pthread_kill(pthread_self(), SIGUSR2);
    if (c != NULL && !c->head_sent) {
        static const char msg[] = "HTTP/1.1 504 Gateway Timeout\r\nContent-Type: text/plain\r\n"
                                  "Content-Length: 16\r\nConnection: close\r\n\r\n"
                                  "Gateway Timeout\n";
        ssize_t w = write(st->fd, msg, sizeof(msg) - 1);
        (void)w;
    }
    shutdown(st->fd, SHUT_RDWR);
    _exit(HD_EXIT_HARAKIRI);
}

static void *hd_server_watchdog(void *arg)
{
    hd_server_t *s = arg;
    int64_t limit = (int64_t)s->cfg->harakiri * 1000;
    for (;;) {
        struct timespec ts = {0, 100 * 1000000};
        nanosleep(&ts, NULL);
        int64_t now = hd_score_now_ms();
        for (int i = 0; i < s->cfg->threads; i++) {
            int64_t start = atomic_load(&s->threads[i].score->start_ms);
            if (start != 0 && now - start > limit)
                hd_server_harakiri(s, i, now - start);
        }
    }
    return NULL;
}

void hd_server_start(hd_server_t *s)
{
    for (int i = 0; i < s->cfg->threads; i++) {
        s->threads[i].srv = s;
        s->threads[i].id = i;
        s->threads[i].score = s->score ? &s->score->threads[i] : NULL;
    }
    if (s->cfg->harakiri > 0 && s->score != NULL) {
        pthread_t wd;
        if (pthread_create(&wd, NULL, hd_server_watchdog, s) != 0)
            hd_log(HD_LOG_ERR, "cannot start the --harakiri watchdog thread");
        else
            pthread_detach(wd);
    }
    for (int i = 1; i < s->cfg->threads; i++) {
        pthread_t tid;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setstacksize(&attr, 8u << 20); /* Python recursion needs room */
        if (pthread_create(&tid, &attr, hd_server_thread, &s->threads[i]) != 0) {
            hd_log(HD_LOG_ERR, "cannot start worker thread %d", i);
            hd_py_worker_exit(1);
        }
        pthread_attr_destroy(&attr);
        pthread_detach(tid);
    }
    /* Each takes the GIL once to attach: released by the caller. */
    pthread_mutex_lock(&s->attach_lock);
    while (s->attached < s->cfg->threads - 1)
        pthread_cond_wait(&s->attach_done, &s->attach_lock);
    pthread_mutex_unlock(&s->attach_lock);
}

void hd_server_run(hd_server_t *s)
{
    hd_server_thread(&s->threads[0]);
    hd_py_worker_exit(1); /* not reached */
}
