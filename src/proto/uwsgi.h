/*
 * proto/uwsgi: a pure parser for the uwsgi binary protocol (what nginx's
 * uwsgi_pass and Apache's mod_proxy_uwsgi speak), a mapping of its vars to
 * the hd_http_request_t the rest of the server already handles, and a
 * writer for tests and tools.
 *
 * Wire format (all integers little-endian):
 *   u8 modifier1 | u16 datasize | u8 modifier2        the 4-byte header
 *   datasize bytes of vars: repeated
 *     u16 keysize | key | u16 valsize | value         exactly filling datasize
 *   the request body: CONTENT_LENGTH bytes, streamed by the caller
 * One request per connection: the frontend reads the response until the
 * connection closes (or Content-Length bytes); nginx does not decode a
 * chunked response from a uwsgi upstream.
 *
 * Pure means as in proto/http1: bytes in, slices out; no allocation, I/O or
 * globals. Every hd_str_t handed back points into the caller's buffer
 * (except the few static strings named below), valid while that buffer is.
 * Return codes: >= 0 bytes consumed (or HD_OK), HD_AGAIN, HD_ERROR with
 * *status set. uwsgi.c's header comment lists the policy choices.
 */
#ifndef HD_PROTO_UWSGI_H
#define HD_PROTO_UWSGI_H

#include <stddef.h>
#include <stdint.h>

#include "proto/http1.h"

#define HD_UWSGI_HEADER_SIZE 4
#define HD_UWSGI_MAX_PACKET (HD_UWSGI_HEADER_SIZE + 65535) /* datasize is a u16 */
#define HD_UWSGI_DEFAULT_BUFFER_SIZE 4096                  /* uWSGI's --buffer-size */

typedef struct hd_uwsgi_var_s {
    hd_str_t key;   /* never empty; bytes 0x21..0x7e except '=' */
    hd_str_t value; /* any bytes, may be empty */
} hd_uwsgi_var_t;

typedef struct hd_uwsgi_packet_s {
    uint8_t modifier1; /* 0: a WSGI request, the only kind served */
    uint8_t modifier2; /* recorded, not interpreted */
    size_t datasize;   /* size of the vars block; the head is 4 + datasize */
    hd_uwsgi_var_t *vars; /* in: the caller's array; out: in packet order */
    size_t num_vars;      /* out: how many were filled */
    const char *error;    /* out, on HD_ERROR: a static phrase for the log,
                             e.g. "key length overruns the vars block" */
} hd_uwsgi_packet_t;

/*
 * Parses one packet head (header + vars block) from buf[0..len); bytes after
 * it (the body) are left alone. max_vars is the capacity of p->vars,
 * max_size the caller's limit on 4 + datasize (herd's --buffer-size).
 * Returns 4 + datasize when the whole head is in, HD_AGAIN if buf is a valid
 * prefix of a head, or HD_ERROR with *status and p->error set:
 *   400  malformed: a key or value length that overruns datasize (cf.
 *        CVE-2020-11984), a length field cut by the end of the block, an
 *        empty key, a key byte outside 0x21..0x7e or '='
 *   413  4 + datasize > max_size; the only error with this status, so the
 *        caller can log "packet of N bytes is larger than --buffer-size"
 *        with N = 4 + p->datasize
 *   431  more than max_vars vars
 *   501  modifier1 other than 0 (p->modifier1 says which)
 * p->modifier1 is set once buf holds 1 byte, modifier2 and datasize once it
 * holds 4, on every result: on HD_AGAIN the caller may wait for
 * 4 + p->datasize bytes before calling again. Every strict prefix of a valid
 * head gives HD_AGAIN; every prefix of an invalid one gives HD_AGAIN or the
 * same error (each error is found as soon as the bytes that prove it are
 * in). Parsing restarts from the first byte on each call (no state is kept).
 * Duplicate keys are all returned, in order.
 */
int hd_uwsgi_parse(const char *buf, size_t len, hd_uwsgi_packet_t *p, size_t max_vars,
                   size_t max_size, int *status);

/*
 * The value of the LAST var named exactly key (case-sensitive), or NULL.
 * Last wins as in uWSGI and PHP-FPM, so that an nginx location can
 * override a param set by "include uwsgi_params".
 */
const hd_str_t *hd_uwsgi_get(const hd_uwsgi_packet_t *p, const char *key);

/*
 * Fills *req from a parsed packet so the server can serve it like an HTTP
 * request. hdrs (capacity max) receives the headers; req->headers = hdrs.
 * Returns HD_OK, or HD_ERROR with *status (400, or 431 for more than max
 * HTTP_* vars) and p->error set (p is written only there).
 *   method      REQUEST_METHOD; required, a token
 *   target      REQUEST_URI (raw, still percent-encoded; VCHAR/obs-text
 *               only) if present and non-empty, else PATH_INFO
 *   path        PATH_INFO verbatim if present. nginx sends $document_uri:
 *               ALREADY PERCENT-DECODED and normalised, so the server must
 *               not decode it again (decoding "%2525" twice gives "%").
 *               Without PATH_INFO: REQUEST_URI up to '?' or '#', encoded.
 *               At least one of the two must be present.
 *   query       QUERY_STRING if present, else REQUEST_URI after '?' (up to
 *               '#'), else empty
 *   minor_version 0, keep_alive 0, chunked 0, expect_continue 0: these
 *               describe the hop to the frontend, which is what the
 *               connection code frames the response by: one request per
 *               connection, a body ended by Content-Length or close, never
 *               chunked, and no "100 Continue" (the frontend handled it).
 *               The client's protocol is SERVER_PROTOCOL, checked to be
 *               empty or "HTTP/" DIGITs ["." DIGITs], and left as a var.
 *   content_length CONTENT_LENGTH: -1 when absent or empty (nginx sends it
 *               empty for a bodiless request), else 1*DIGIT <= INT64_MAX;
 *               400 for anything else, and for two CONTENT_LENGTH vars with
 *               different values (the body framing must be unambiguous)
 *   headers     every HTTP_* var in packet order, duplicates kept: name is
 *               the key minus "HTTP_" (e.g. "USER_AGENT": upper case, '_'
 *               for '-', exactly as nginx wrote it; a token, never empty),
 *               value verbatim (no CTL or DEL but HTAB). The server maps
 *               a name back to its environ key by prefixing "HTTP_"
 *               unchanged; it must NOT drop names containing '_' (every
 *               uwsgi header name with a '-' arrives that way; nginx already
 *               drops client headers with a real '_' unless
 *               underscores_in_headers is on).
 * CONTENT_TYPE, CONTENT_LENGTH and every other non-HTTP_ var (SERVER_NAME,
 * SERVER_PORT, REMOTE_ADDR, REMOTE_PORT, DOCUMENT_ROOT, REQUEST_SCHEME,
 * HTTPS, SCRIPT_NAME, ...) stay in the packet. Recommended environ, as
 * uWSGI builds it: the HTTP environ from *req, then every non-HTTP_ var set
 * verbatim over it in packet order (so PATH_INFO, SERVER_NAME, REMOTE_ADDR
 * are the frontend's, not the socket's), then wsgi.url_scheme from
 * hd_uwsgi_url_scheme().
 */
int hd_uwsgi_to_request(hd_uwsgi_packet_t *p, hd_http_request_t *req, hd_http_header_t *hdrs,
                        size_t max, int *status);

/*
 * wsgi.url_scheme, as uWSGI decides it: UWSGI_SCHEME if present and
 * non-empty (a slice of it; hd_uwsgi_to_request refuses one that is not
 * ALPHA *(ALPHA / DIGIT / "+" / "-" / ".")), else "https" if HTTPS is "on"
 * or "1" (any case), else "http" (static strings). REQUEST_SCHEME and
 * HTTP_X_FORWARDED_PROTO are not looked at.
 */
hd_str_t hd_uwsgi_url_scheme(const hd_uwsgi_packet_t *p);

/*
 * Writes a packet with modifier1 = modifier2 = 0 and the n vars into
 * out[0..cap). Returns its size (4 + datasize), or 0 if it does not fit in
 * cap, a key or value is longer than 65535 bytes, or datasize would be.
 * Keys are written as given (not validated), so tests can build bad ones.
 */
size_t hd_uwsgi_write_packet(char *out, size_t cap, const hd_uwsgi_var_t *vars, size_t n);

#endif
