/*
 * proto/http1: a pure HTTP/1.x request-head parser, chunked body decoder and
 * the few response-writing helpers the server needs (RFC 9112).
 *
 * Pure means: bytes in, slices out. No allocation, no I/O, no globals, no
 * Python. Every hd_str_t handed back points into the caller's buffer, so it
 * is valid only as long as that buffer is not moved or overwritten.
 *
 * Return codes follow picohttpparser: >= 0 bytes consumed, HD_AGAIN (-2) when
 * the input is a valid prefix and more bytes are needed, HD_ERROR (-1) when
 * the input is malformed (then *status says which 4xx/5xx to answer).
 *
 * Strictness (anti request-smuggling): bare LF, obs-fold, whitespace before
 * the colon, Content-Length together with Transfer-Encoding, conflicting
 * duplicate Content-Length, Transfer-Encoding other than a final "chunked",
 * invalid chunk sizes and control characters in field values are refused.
 */
#ifndef HD_PROTO_HTTP1_H
#define HD_PROTO_HTTP1_H

#include <stddef.h>
#include <stdint.h>

#define HD_OK 0
#define HD_ERROR (-1)
#define HD_AGAIN (-2)

typedef struct hd_str_s {
    const char *base;
    size_t len;
} hd_str_t;

typedef struct hd_http_header_s {
    hd_str_t name;  /* as sent (case preserved), never empty */
    hd_str_t value; /* leading/trailing SP/HTAB stripped; may be empty */
} hd_http_header_t;

typedef struct hd_http_request_s {
    hd_str_t method;
    hd_str_t target; /* the raw request-target, as sent */
    hd_str_t path;   /* target's path: origin-form up to '?' or '#';
                        absolute-form: the path after the authority ("" -> "/"
                        is NOT done here: path.len may be 0); "*" for
                        asterisk-form; the authority for CONNECT */
    hd_str_t query;  /* after the first '?', up to '#'; len 0 if none */
    int minor_version; /* HTTP/1.<minor>; only 0 and 1 are accepted */

    hd_http_header_t *headers; /* caller-provided array */
    size_t num_headers;        /* out: how many were filled */

    /* Framing and connection facts derived from the headers: */
    int64_t content_length; /* -1 when absent */
    unsigned chunked : 1;   /* Transfer-Encoding: chunked (final coding) */
    unsigned keep_alive : 1; /* 1.1 unless "Connection: close";
                                1.0 only with "Connection: keep-alive" */
    unsigned expect_continue : 1; /* "Expect: 100-continue" */
} hd_http_request_t;

/*
 * Parses one request head (request line + header fields + empty line) from
 * buf[0..len). max_headers is the capacity of req->headers.
 * Returns the number of bytes of the head (including the final CRLF CRLF,
 * and any empty lines before the request-line, which are skipped),
 * HD_AGAIN if buf is a valid prefix of a head, or HD_ERROR with *status set:
 *   400 malformed / ambiguous framing, 431 more than max_headers fields,
 *   501 a transfer coding other than chunked (before a final chunked),
 *   505 a well-formed version other than HTTP/1.0 and HTTP/1.1.
 * Every strict prefix of a valid head gives HD_AGAIN, and every prefix of an
 * invalid one gives HD_AGAIN or the same error; parsing is done from the
 * start each call (the caller keeps no parser state), so a head may arrive
 * in any number of pieces. *req is filled only on success (on HD_AGAIN and
 * HD_ERROR its fields are unspecified). http1.c's header comment lists the
 * policy choices (duplicate Content-Length, codings, target forms).
 */
int hd_http_parse_request(const char *buf, size_t len, hd_http_request_t *req,
                          size_t max_headers, int *status);

/*
 * For a head that is still incomplete when the caller's buffer is full:
 * the status to answer. 414 if the request line itself has not ended yet,
 * 431 otherwise.
 */
int hd_http_overflow_status(const char *buf, size_t len);

/* Chunked transfer-coding decoder state; zero it (or hd_chunked_init) per body. */
typedef struct hd_chunked_s {
    int state;
    uint64_t remaining;   /* bytes left in the current chunk (in the trailer
                             section: which forbidden names still match) */
    size_t line_len;      /* bytes in the current size/trailer line, <= 4096 */
    size_t trailer_bytes; /* total trailer bytes seen, <= 8192 */
} hd_chunked_t;

void hd_chunked_init(hd_chunked_t *d);

/*
 * Decodes from buf[0..len). Returns:
 *   HD_CHUNK_DATA  (1): body bytes are at buf[*data_off .. *data_off+*data_len)
 *   HD_AGAIN          : all input consumed, more needed (*consumed == len)
 *   HD_CHUNK_DONE  (2): last-chunk and trailers consumed; body complete
 *                       (bytes after it, e.g. a pipelined request, are left)
 *   HD_ERROR          : malformed chunk size, line, or terminator; sticky
 * *consumed is always set: how many bytes of buf the caller may drop (for
 * HD_CHUNK_DATA it includes the data slice). Resumable at every byte.
 * Strict: hex size without sign or whitespace, at most 16 significant
 * digits; extensions (after optional BWS and ';') skipped but free of CTLs;
 * CRLF only; trailer fields checked as field lines and dropped, refused if
 * they name a framing/routing field (Content-Length, Host, ...).
 */
#define HD_CHUNK_DATA 1
#define HD_CHUNK_DONE 2
int hd_chunked_decode(hd_chunked_t *d, const char *buf, size_t len,
                      size_t *consumed, size_t *data_off, size_t *data_len);

/* Writes "<hex size>\r\n" into out (at least 20 bytes); returns its length. */
size_t hd_chunked_write_size(char *out, size_t size);

/* Reason phrase for a status code ("OK", "Not Found", ...; "Unknown" else). */
const char *hd_http_reason(int status);

#endif
