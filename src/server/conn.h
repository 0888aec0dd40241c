/*
 * server/conn: a worker's connections and its I/O threads. This is the only
 * place that joins the protocol parsers (proto/) to Python (py/).
 *
 * Threads: a worker runs T identical threads around one epoll instance and
 * one run queue; server/sched.h says which thread polls, runs or waits.
 * Sockets are registered once, edge-triggered; a connection is owned by at
 * most one thread at a time (an atomic state: IDLE, BUSY, BUSY_PENDING), so
 * an idle keep-alive connection or a client still sending its head occupies
 * no thread. A thread reads a whole request head, without waiting, then
 * runs the app on it (py/wsgi.c) and writes the response.
 *
 * While the app runs, py/ reads the body and writes the response through the
 * hd_conn_* calls below. They are called with the GIL held; they drop it only
 * when they must wait for the socket.
 */
#ifndef HD_SERVER_CONN_H
#define HD_SERVER_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "config/config.h"
#include "net/listen.h"
#include "proto/http1.h"
#include "proto/uwsgi.h"

#define HD_MAX_HEADERS 100
#define HD_MAX_UWSGI_VARS 256

typedef struct hd_conn_s hd_conn_t;

/* What py/ sees of a request: the parsed head and where it came from. */
typedef struct hd_request_s {
    hd_http_request_t http; /* method, path, query, headers, framing */
    hd_http_header_t headers[HD_MAX_HEADERS];
    const hd_listener_t *listener;
    const char *remote_addr; /* "127.0.0.1", or "" for unix sockets */
    const char *remote_port;
    bool is_head;            /* method is HEAD: the body is not sent */
    /* uwsgi protocol: the packet (its CGI vars are the environ), else NULL */
    const hd_uwsgi_packet_t *uwsgi;
    hd_uwsgi_packet_t upkt;
    hd_uwsgi_var_t uvars[HD_MAX_UWSGI_VARS];
} hd_request_t;

/* One header the app gave start_response: latin-1 bytes, already checked
   for CR/LF/NUL by py/. */
typedef struct hd_header_out_s {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
} hd_header_out_t;

const hd_request_t *hd_conn_request(hd_conn_t *c);

/*
 * Reads up to n body bytes into buf (de-chunked; sends "100 Continue" first
 * when the client asked for it). Returns the count, 0 at the end of the body,
 * or -1 on a client error or timeout (then *err says why).
 */
ssize_t hd_conn_read_body(hd_conn_t *c, char *buf, size_t n, const char **err);

/*
 * Starts the response: status is "200 OK" (checked by py/: three digits, a
 * space, a reason). The head is only formatted here; it is sent with the
 * first body bytes, or by hd_conn_finish. Returns 0, or -1 if the app's
 * Content-Length is not a number (nothing is sent then).
 */
int hd_conn_start(hd_conn_t *c, const char *status, size_t status_len,
                  const hd_header_out_t *headers, size_t nheaders);

/* Has the head gone to the client (so a 500 is no longer possible)? */
bool hd_conn_head_sent(hd_conn_t *c);

/*
 * Sends body bytes (framed as the head says: Content-Length, chunked or
 * close-delimited; nothing for HEAD). last: no more body will follow, which
 * lets a response without Content-Length get one instead of chunking.
 * Returns 0, or -1 when the client is gone or too slow (the connection will
 * be closed).
 */
int hd_conn_write(hd_conn_t *c, const char *data, size_t len, bool last);

/* Sends count bytes of fd from offset with sendfile(2) (count is the rest of
   the file if the app gave no Content-Length). Returns 0 or -1 as above. */
int hd_conn_sendfile(hd_conn_t *c, int fd, off_t offset, size_t count);

/* Ends the response (sends the head if not yet sent, the last chunk). */
int hd_conn_finish(hd_conn_t *c);

/* 400 or 413 when reading the body failed because of the client (malformed
   chunked coding, body over --limit-post), else 0: py/ answers that status
   instead of a 500. */
int hd_conn_client_error(hd_conn_t *c);

/* Marks the connection to be closed after this response (app error, ...). */
void hd_conn_set_close(hd_conn_t *c);

/* Per-worker server: run by process/worker.c after the app is loaded. */
typedef struct hd_server_s hd_server_t;

/* Sets up epoll, signalfd and the connection table. notify_fd is the
   master's pipe (hd_msg_t messages). Returns NULL on error. */
hd_server_t *hd_server_init(const hd_config_t *cfg, hd_listener_t *listeners,
                            size_t nlisteners, int worker_id, int notify_fd);

/* Starts threads 2..T (and the --harakiri watchdog); returns once each has
   its Python thread state. The caller has released the GIL. */
void hd_server_start(hd_server_t *s);

/* Runs thread 1 on the calling thread; never returns (the worker exits
   through hd_py_worker_exit). */
void hd_server_run(hd_server_t *s) __attribute__((noreturn));

#endif
