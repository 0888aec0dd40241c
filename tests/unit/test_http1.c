/*
 * Unit tests for proto/http1: the request-head parser, the chunked decoder
 * and the small writers. A plain runner: one line per failure, a summary of
 * the Gunicorn corpus, then "N passed, N failed" last; exit 1 on failure.
 *
 * Every valid head is also checked at every split point (each strict prefix
 * is HD_AGAIN; a buffer filled in two pieces gives the same parse), every
 * invalid one at every prefix (HD_AGAIN or the same error), and every
 * chunked body one-shot, byte by byte and at every two-piece split.
 *
 * The corpus (tests/unit/corpus/http-requests-gunicorn, from Gunicorn's test
 * suite) is compiled in by gen_http_corpus.py. Each case is run the way a
 * connection would: parse a head within the head buffer, read the body by
 * Content-Length or with the chunked decoder, go on with the next pipelined
 * request while keep-alive holds. Options naming a Gunicorn setting herd does
 * not have are skipped (corpus_option()), and the cases where herd
 * deliberately differs from Gunicorn are listed in corpus_differs[] with the
 * reason; the runner prints both lists.
 */
#include "proto/http1.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "http_corpus.h"

#include "runner.h"

static int str_eq(hd_str_t s, const char *lit)
{
    return s.len == strlen(lit) && memcmp(s.base, lit, s.len) == 0;
}

/* ---- head parser helpers ------------------------------------------------- */

#define MAXH 128

typedef struct {
    hd_http_request_t req;
    hd_http_header_t hdrs[MAXH];
    int ret, status;
} parsed_t;

static int parse(const char *buf, size_t len, size_t max_headers, parsed_t *out)
{
    memset(out, 0, sizeof(*out));
    out->req.headers = out->hdrs;
    out->ret = hd_http_parse_request(buf, len, &out->req, max_headers, &out->status);
    return out->ret;
}

static int slice_eq(hd_str_t a, const char *abase, hd_str_t b, const char *bbase)
{
    return a.len == b.len && (a.len == 0 || a.base - abase == b.base - bbase);
}

/* Same result, slices at the same offsets of their own buffers. */
static int same_parse(const parsed_t *a, const char *abuf, const parsed_t *b, const char *bbuf)
{
    if (a->ret != b->ret)
        return 0;
    if (a->ret == HD_ERROR)
        return a->status == b->status;
    if (a->ret < 0)
        return 1;
    const hd_http_request_t *x = &a->req, *y = &b->req;
    if (!slice_eq(x->method, abuf, y->method, bbuf) || !slice_eq(x->target, abuf, y->target, bbuf)
        || !slice_eq(x->path, abuf, y->path, bbuf) || !slice_eq(x->query, abuf, y->query, bbuf)
        || x->minor_version != y->minor_version || x->num_headers != y->num_headers
        || x->content_length != y->content_length || x->chunked != y->chunked
        || x->keep_alive != y->keep_alive || x->expect_continue != y->expect_continue)
        return 0;
    for (size_t i = 0; i < x->num_headers; i++) {
        if (!slice_eq(x->headers[i].name, abuf, y->headers[i].name, bbuf)
            || !slice_eq(x->headers[i].value, abuf, y->headers[i].value, bbuf))
            return 0;
    }
    return 1;
}

/* Every slice lies inside buf[0..len). */
static int slices_inside(const parsed_t *p, const char *buf, size_t len)
{
    const hd_str_t *s[4] = {&p->req.method, &p->req.target, &p->req.path, &p->req.query};
    for (int i = 0; i < 4; i++) {
        if (s[i]->base < buf || s[i]->base + s[i]->len > buf + len)
            return 0;
    }
    for (size_t i = 0; i < p->req.num_headers; i++) {
        hd_str_t n = p->req.headers[i].name, v = p->req.headers[i].value;
        if (n.len == 0 || n.base < buf || n.base + n.len > buf + len || v.base < buf
            || v.base + v.len > buf + len)
            return 0;
    }
    return 1;
}

/*
 * The prefix and split properties, for a head parsed from raw[0..len) with
 * result *full: each strict prefix of the head is HD_AGAIN (valid) or
 * HD_AGAIN / the same error (invalid); a buffer filled in two pieces, at any
 * split, parses like the whole.
 */
static void check_splits(const char *raw, size_t len, size_t max_headers, const parsed_t *full)
{
    char *buf = malloc(len + 1);
    parsed_t *p = malloc(sizeof(*p));
    size_t head = full->ret >= 0 ? (size_t)full->ret : len;

    for (size_t k = 0; k <= len; k++) {
        memcpy(buf, raw, k); /* the first read */
        parse(buf, k, max_headers, p);
        if (k < head || (full->ret < 0 && k < len)) {
            if (full->ret >= 0)
                CHECK(p->ret == HD_AGAIN, "prefix of %zu bytes: %d, not HD_AGAIN", k, p->ret);
            else
                CHECK(p->ret == HD_AGAIN || (p->ret == HD_ERROR && p->status == full->status),
                      "prefix of %zu bytes: %d/%d, not HD_AGAIN or %d", k, p->ret, p->status,
                      full->status);
        } else {
            CHECK(same_parse(p, buf, full, raw), "prefix of %zu bytes parses differently", k);
        }
        memcpy(buf + k, raw + k, len - k); /* the second read */
        parse(buf, len, max_headers, p);
        CHECK(same_parse(p, buf, full, raw), "split at %zu parses differently", k);
        if (p->ret >= 0)
            CHECK(slices_inside(p, buf, (size_t)p->ret), "split at %zu: slice outside the head",
                  k);
    }
    free(p);
    free(buf);
}

/* ---- hand-written heads -------------------------------------------------- */

#define RAW(s) .raw = s, .len = sizeof(s) - 1

typedef struct {
    const char *name;
    const char *raw;
    size_t len;
    int head_len;     /* expected return; 0: the whole raw */
    size_t max_headers; /* 0: MAXH */
    const char *method, *target, *path, *query;
    int minor;
    int64_t content_length; /* 0 stands for "absent" (-1) unless has_cl */
    int has_cl, chunked, keep_alive, expect_continue;
    size_t num_headers;
    const char *headers[6][2];
} ok_case_t;

static const ok_case_t ok_cases[] = {
    {"simple GET", RAW("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), .method = "GET", .target = "/",
     .path = "/", .query = "", .minor = 1, .keep_alive = 1, .num_headers = 1,
     .headers = {{"Host", "a"}}},
    {"no headers", RAW("GET /x HTTP/1.0\r\n\r\n"), .method = "GET", .target = "/x", .path = "/x",
     .query = "", .minor = 0},
    {"head then body bytes", RAW("POST /p HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"),
     .head_len = 39, .method = "POST", .target = "/p", .path = "/p", .query = "", .minor = 1,
     .has_cl = 1, .content_length = 5, .keep_alive = 1, .num_headers = 1,
     .headers = {{"Content-Length", "5"}}},
    {"head then pipelined request", RAW("GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n"),
     .head_len = 19, .method = "GET", .target = "/1", .path = "/1", .query = "", .minor = 1,
     .keep_alive = 1},
    {"empty lines before the request-line", RAW("\r\n\r\nGET / HTTP/1.1\r\n\r\n"),
     .method = "GET", .target = "/", .path = "/", .query = "", .minor = 1, .keep_alive = 1},
    {"query and fragment", RAW("GET /a/b?x=1&y=%20#frag HTTP/1.1\r\n\r\n"), .method = "GET",
     .target = "/a/b?x=1&y=%20#frag", .path = "/a/b", .query = "x=1&y=%20", .minor = 1,
     .keep_alive = 1},
    {"fragment before '?'", RAW("GET /a#f?x HTTP/1.1\r\n\r\n"), .method = "GET",
     .target = "/a#f?x", .path = "/a", .query = "", .minor = 1, .keep_alive = 1},
    {"empty query", RAW("GET /? HTTP/1.1\r\n\r\n"), .method = "GET", .target = "/?", .path = "/",
     .query = "", .minor = 1, .keep_alive = 1},
    {"second '?' stays in the query", RAW("GET /p?a?b HTTP/1.1\r\n\r\n"), .method = "GET",
     .target = "/p?a?b", .path = "/p", .query = "a?b", .minor = 1, .keep_alive = 1},
    {"obs-text and quotes in the target", RAW("GET /\303\240%20\"q\" HTTP/1.0\r\n\r\n"),
     .method = "GET", .target = "/\303\240%20\"q\"", .path = "/\303\240%20\"q\"", .query = "",
     .minor = 0},
    {"absolute-form", RAW("GET http://host:80/p?q HTTP/1.1\r\n\r\n"), .method = "GET",
     .target = "http://host:80/p?q", .path = "/p", .query = "q", .minor = 1, .keep_alive = 1},
    {"absolute-form without path", RAW("GET http://host HTTP/1.1\r\n\r\n"), .method = "GET",
     .target = "http://host", .path = "", .query = "", .minor = 1, .keep_alive = 1},
    {"absolute-form query without path", RAW("GET https://h?q=1 HTTP/1.1\r\n\r\n"),
     .method = "GET", .target = "https://h?q=1", .path = "", .query = "q=1", .minor = 1,
     .keep_alive = 1},
    {"absolute-form IPv6 and userinfo", RAW("GET http://u:p%41@[::1]:8080/x HTTP/1.1\r\n\r\n"),
     .method = "GET", .target = "http://u:p%41@[::1]:8080/x", .path = "/x", .query = "",
     .minor = 1, .keep_alive = 1},
    {"absolute-form scheme chars, empty port",
     RAW("GET svn+ssh.x-y://h.example:/ HTTP/1.1\r\n\r\n"),
     .method = "GET", .target = "svn+ssh.x-y://h.example:/", .path = "/", .query = "", .minor = 1,
     .keep_alive = 1},
    {"asterisk-form", RAW("OPTIONS * HTTP/1.1\r\n\r\n"), .method = "OPTIONS", .target = "*",
     .path = "*", .query = "", .minor = 1, .keep_alive = 1},
    {"authority-form", RAW("CONNECT example.com:443 HTTP/1.1\r\n\r\n"), .method = "CONNECT",
     .target = "example.com:443", .path = "example.com:443", .query = "", .minor = 1,
     .keep_alive = 1},
    {"authority-form IPv6", RAW("CONNECT [::1]:443 HTTP/1.1\r\n\r\n"), .method = "CONNECT",
     .target = "[::1]:443", .path = "[::1]:443", .query = "", .minor = 1, .keep_alive = 1},
    {"extension method", RAW("M-SEARCH /x HTTP/1.1\r\n\r\n"), .method = "M-SEARCH",
     .target = "/x", .path = "/x", .query = "", .minor = 1, .keep_alive = 1},
    {"lower-case method kept as sent", RAW("get /x HTTP/1.1\r\n\r\n"), .method = "get",
     .target = "/x", .path = "/x", .query = "", .minor = 1, .keep_alive = 1},
    {"OPTIONS with origin-form", RAW("OPTIONS /x HTTP/1.1\r\n\r\n"), .method = "OPTIONS",
     .target = "/x", .path = "/x", .query = "", .minor = 1, .keep_alive = 1},
    {"field value trimming",
     RAW("GET / HTTP/1.1\r\nA:v\r\nB:  \t v w \t \r\nC:\r\nD: \t \r\nE: \303\251\tx\r\n\r\n"),
     .method = "GET", .target = "/", .path = "/", .query = "", .minor = 1, .keep_alive = 1,
     .num_headers = 5,
     .headers = {{"A", "v"}, {"B", "v w"}, {"C", ""}, {"D", ""}, {"E", "\303\251\tx"}}},
    {"all tchars in a name", RAW("GET / HTTP/1.1\r\n!#$%&'*+-.^_`|~09azAZ: x\r\n\r\n"),
     .method = "GET", .target = "/", .path = "/", .query = "", .minor = 1, .keep_alive = 1,
     .num_headers = 1, .headers = {{"!#$%&'*+-.^_`|~09azAZ", "x"}}},
    {"repeated ordinary fields kept in order",
     RAW("GET / HTTP/1.1\r\nX: 1\r\nx: 2\r\nCookie: a\r\nCookie: b\r\n\r\n"), .method = "GET",
     .target = "/", .path = "/", .query = "", .minor = 1, .keep_alive = 1, .num_headers = 4,
     .headers = {{"X", "1"}, {"x", "2"}, {"Cookie", "a"}, {"Cookie", "b"}}},
    {"HTTP/1.1 keep-alive by default", RAW("GET / HTTP/1.1\r\nConnection: Upgrade\r\n\r\n"),
     .method = "GET", .target = "/", .path = "/", .query = "", .minor = 1, .keep_alive = 1,
     .num_headers = 1, .headers = {{"Connection", "Upgrade"}}},
    {"HTTP/1.1 Connection: close", RAW("GET / HTTP/1.1\r\nConnection: CLOSE\r\n\r\n"),
     .method = "GET", .target = "/", .path = "/", .query = "", .minor = 1, .keep_alive = 0,
     .num_headers = 1, .headers = {{"Connection", "CLOSE"}}},
    {"Connection list with close", RAW("GET / HTTP/1.1\r\nConnection: te ,\tclose , x\r\n\r\n"),
     .method = "GET", .target = "/", .path = "/", .query = "", .minor = 1, .keep_alive = 0,
     .num_headers = 1, .headers = {{"Connection", "te ,\tclose , x"}}},
    {"Connection on two lines",
     RAW("GET / HTTP/1.0\r\nConnection: x\r\nConnection: Keep-Alive\r\n\r\n"), .method = "GET",
     .target = "/", .path = "/", .query = "", .minor = 0, .keep_alive = 1, .num_headers = 2,
     .headers = {{"Connection", "x"}, {"Connection", "Keep-Alive"}}},
    {"close wins over keep-alive", RAW("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n"),
     .method = "GET", .target = "/", .path = "/", .query = "", .minor = 0, .keep_alive = 0,
     .num_headers = 1, .headers = {{"Connection", "keep-alive, close"}}},
    {"not a close token", RAW("GET / HTTP/1.1\r\nConnection: closed, keep-alivex\r\n\r\n"),
     .method = "GET", .target = "/", .path = "/", .query = "", .minor = 1, .keep_alive = 1,
     .num_headers = 1, .headers = {{"Connection", "closed, keep-alivex"}}},
    {"HTTP/1.0 closes by default", RAW("GET / HTTP/1.0\r\nKeep-Alive: 300\r\n\r\n"),
     .method = "GET", .target = "/", .path = "/", .query = "", .minor = 0, .keep_alive = 0,
     .num_headers = 1, .headers = {{"Keep-Alive", "300"}}},
    {"Expect: 100-continue",
     RAW("PUT /u HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\n"),
     .method = "PUT", .target = "/u", .path = "/u", .query = "", .minor = 1, .has_cl = 1,
     .content_length = 3, .keep_alive = 1, .expect_continue = 1, .num_headers = 2,
     .headers = {{"Expect", "100-Continue"}, {"Content-Length", "3"}}},
    {"other expectation ignored", RAW("PUT /u HTTP/1.1\r\nexpect: 100-continuex\r\n\r\n"),
     .method = "PUT", .target = "/u", .path = "/u", .query = "", .minor = 1, .keep_alive = 1,
     .num_headers = 1, .headers = {{"expect", "100-continuex"}}},
    {"Content-Length leading zeros and OWS",
     RAW("POST / HTTP/1.1\r\ncontent-LENGTH: \t0012 \r\n\r\n"),
     .method = "POST", .target = "/", .path = "/", .query = "", .minor = 1, .has_cl = 1,
     .content_length = 12, .keep_alive = 1, .num_headers = 1,
     .headers = {{"content-LENGTH", "0012"}}},
    {"Content-Length zero", RAW("POST / HTTP/1.0\r\nContent-Length: 0\r\n\r\n"), .method = "POST",
     .target = "/", .path = "/", .query = "", .minor = 0, .has_cl = 1, .content_length = 0,
     .num_headers = 1, .headers = {{"Content-Length", "0"}}},
    {"Content-Length INT64_MAX",
     RAW("POST / HTTP/1.1\r\nContent-Length: 9223372036854775807\r\n\r\n"),
     .method = "POST", .target = "/", .path = "/", .query = "", .minor = 1, .has_cl = 1,
     .content_length = INT64_MAX, .keep_alive = 1, .num_headers = 1,
     .headers = {{"Content-Length", "9223372036854775807"}}},
    {"Transfer-Encoding: chunked", RAW("POST / HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n"),
     .method = "POST", .target = "/", .path = "/", .query = "", .minor = 1, .chunked = 1,
     .keep_alive = 1, .num_headers = 1, .headers = {{"Transfer-Encoding", "Chunked"}}},
    {"chunked with empty list elements",
     RAW("POST / HTTP/1.1\r\nTransfer-Encoding: , chunked ,\r\n\r\n"), .method = "POST",
     .target = "/", .path = "/", .query = "", .minor = 1, .chunked = 1, .keep_alive = 1,
     .num_headers = 1, .headers = {{"Transfer-Encoding", ", chunked ,"}}},
    {"exactly max_headers fields", RAW("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\n\r\n"), .max_headers = 2,
     .method = "GET", .target = "/", .path = "/", .query = "", .minor = 1, .keep_alive = 1,
     .num_headers = 2, .headers = {{"A", "1"}, {"B", "2"}}},
};

static void test_ok_cases(void)
{
    parsed_t *p = malloc(sizeof(*p));

    for (size_t i = 0; i < sizeof(ok_cases) / sizeof(ok_cases[0]); i++) {
        const ok_case_t *c = &ok_cases[i];
        size_t maxh = c->max_headers ? c->max_headers : MAXH;
        int want = c->head_len ? c->head_len : (int)c->len;
        const hd_http_request_t *r = &p->req;

        begin(c->name);
        parse(c->raw, c->len, maxh, p);
        CHECK(p->ret == want, "returned %d (status %d), want %d", p->ret, p->status, want);
        if (p->ret >= 0) {
            CHECK(str_eq(r->method, c->method), "method '%.*s'", (int)r->method.len,
                  r->method.base);
            CHECK(str_eq(r->target, c->target), "target '%.*s'", (int)r->target.len,
                  r->target.base);
            CHECK(str_eq(r->path, c->path), "path '%.*s'", (int)r->path.len, r->path.base);
            CHECK(str_eq(r->query, c->query), "query '%.*s'", (int)r->query.len, r->query.base);
            CHECK(r->minor_version == c->minor, "minor %d", r->minor_version);
            CHECK(r->content_length == (c->has_cl ? c->content_length : -1), "content_length %lld",
                  (long long)r->content_length);
            CHECK(r->chunked == (unsigned)c->chunked, "chunked %u", r->chunked);
            CHECK(r->keep_alive == (unsigned)c->keep_alive, "keep_alive %u", r->keep_alive);
            CHECK(r->expect_continue == (unsigned)c->expect_continue, "expect_continue %u",
                  r->expect_continue);
            CHECK(r->num_headers == c->num_headers, "%zu headers", r->num_headers);
            for (size_t h = 0; h < c->num_headers && h < r->num_headers; h++) {
                CHECK(str_eq(r->headers[h].name, c->headers[h][0]), "header %zu name '%.*s'", h,
                      (int)r->headers[h].name.len, r->headers[h].name.base);
                CHECK(str_eq(r->headers[h].value, c->headers[h][1]), "header %zu value '%.*s'", h,
                      (int)r->headers[h].value.len, r->headers[h].value.base);
            }
            CHECK(slices_inside(p, c->raw, (size_t)p->ret), "slice outside the head");
        }
        check_splits(c->raw, c->len, maxh, p);
        end();
    }
    free(p);
}

typedef struct {
    const char *name;
    const char *raw;
    size_t len;
    int status;
    size_t max_headers; /* 0: MAXH */
} err_case_t;

static const err_case_t err_cases[] = {
    /* line endings */
    {"bare LF ends the request-line", RAW("GET / HTTP/1.1\n\r\n"), 400},
    {"bare LF inside the request-line", RAW("GET\n/\nHTTP/1.1\r\n\r\n"), 400},
    {"bare LF ends a field line", RAW("GET / HTTP/1.1\r\nA: b\nC: d\r\n\r\n"), 400},
    {"bare LF ends the head", RAW("GET / HTTP/1.1\r\nA: b\r\n\n"), 400},
    {"bare LF head end, no fields", RAW("GET / HTTP/1.1\r\n\n"), 400},
    {"bare CR in a value", RAW("GET / HTTP/1.1\r\nA: b\rc\r\n\r\n"), 400},
    {"CR CR LF", RAW("GET / HTTP/1.1\r\r\n\r\n"), 400},
    {"bare CR before the request-line", RAW("\rGET / HTTP/1.1\r\n\r\n"), 400},
    {"bare LF before the request-line", RAW("\nGET / HTTP/1.1\r\n\r\n"), 400},
    {"final CR not followed by LF", RAW("GET / HTTP/1.1\r\n\rX"), 400},
    /* field lines */
    {"obs-fold SP", RAW("GET / HTTP/1.1\r\nLong: one\r\n two\r\n\r\n"), 400},
    {"obs-fold HTAB", RAW("GET / HTTP/1.1\r\nLong: one\r\n\ttwo\r\n\r\n"), 400},
    {"whitespace before the first field", RAW("GET / HTTP/1.1\r\n Host: a\r\n\r\n"), 400},
    {"SP before the colon", RAW("GET / HTTP/1.1\r\nContent-Length : 3\r\n\r\n"), 400},
    {"HTAB before the colon", RAW("GET / HTTP/1.1\r\nHost\t: a\r\n\r\n"), 400},
    {"empty field name", RAW("GET / HTTP/1.1\r\n: a\r\n\r\n"), 400},
    {"no colon", RAW("GET / HTTP/1.1\r\nHost\r\n\r\n"), 400},
    {"non-token name", RAW("GET / HTTP/1.1\r\nA(b): c\r\n\r\n"), 400},
    {"NUL in a name", RAW("GET / HTTP/1.1\r\nA\000b: c\r\n\r\n"), 400},
    {"obs-text in a name", RAW("GET / HTTP/1.1\r\nA\303\237: c\r\n\r\n"), 400},
    {"NUL in a value", RAW("GET / HTTP/1.1\r\nA: b\000c\r\n\r\n"), 400},
    {"BEL in a value", RAW("GET / HTTP/1.1\r\nA: b\007c\r\n\r\n"), 400},
    {"DEL in a value", RAW("GET / HTTP/1.1\r\nA: b\177c\r\n\r\n"), 400},
    {"ESC in a value", RAW("GET / HTTP/1.1\r\nA: \033[0m\r\n\r\n"), 400},
    /* request-line */
    {"empty method", RAW(" / HTTP/1.1\r\n\r\n"), 400},
    {"non-token method", RAW("GE(T / HTTP/1.1\r\n\r\n"), 400},
    {"colon in method", RAW("GET: / HTTP/1.1\r\n\r\n"), 400},
    {"NUL in method", RAW("GET\000 / HTTP/1.1\r\n\r\n"), 400},
    {"obs-text in method", RAW("GET\303\237 / HTTP/1.1\r\n\r\n"), 400},
    {"HTAB separator", RAW("GET\t/ HTTP/1.1\r\n\r\n"), 400},
    {"two SP after method", RAW("GET  / HTTP/1.1\r\n\r\n"), 400},
    {"two SP after target", RAW("GET /  HTTP/1.1\r\n\r\n"), 400},
    {"SP after version", RAW("GET / HTTP/1.1 \r\n\r\n"), 400},
    {"missing target", RAW("GET HTTP/1.1\r\n\r\n"), 400},
    {"HTTP/0.9 request", RAW("GET /\r\n\r\n"), 400},
    {"CTL in target", RAW("GET /a\001b HTTP/1.1\r\n\r\n"), 400},
    {"DEL in target", RAW("GET /a\177 HTTP/1.1\r\n\r\n"), 400},
    {"lower-case protocol", RAW("GET / http/1.1\r\n\r\n"), 400},
    {"other protocol", RAW("GET / FTP/1.1\r\n\r\n"), 400},
    {"two-digit minor", RAW("GET / HTTP/1.10\r\n\r\n"), 400},
    {"two-digit major", RAW("GET / HTTP/11.1\r\n\r\n"), 400},
    {"no minor", RAW("GET / HTTP/1\r\n\r\n"), 400},
    {"HTTP/111", RAW("GET / HTTP/111\r\n\r\n"), 400},
    {"HTTP/0.99", RAW("GET / HTTP/0.99\r\n\r\n"), 400},
    {"junk after version", RAW("GET / HTTP/1.1x\r\n\r\n"), 400},
    {"HTTP/1.2", RAW("GET / HTTP/1.2\r\n\r\n"), 505},
    {"HTTP/2.0", RAW("GET / HTTP/2.0\r\n\r\n"), 505},
    {"HTTP/0.9", RAW("GET / HTTP/0.9\r\n\r\n"), 505},
    {"HTTP/9.9", RAW("GET / HTTP/9.9\r\nHost: a\r\n\r\n"), 505},
    /* request-target forms */
    {"asterisk without OPTIONS", RAW("GET * HTTP/1.1\r\n\r\n"), 400},
    {"asterisk with more", RAW("OPTIONS *x HTTP/1.1\r\n\r\n"), 400},
    {"relative target", RAW("GET foo/bar HTTP/1.1\r\n\r\n"), 400},
    {"authority-form without CONNECT", RAW("GET example.com:443 HTTP/1.1\r\n\r\n"), 400},
    {"scheme without //", RAW("GET http:/x HTTP/1.1\r\n\r\n"), 400},
    {"scheme starting with a digit", RAW("GET 1http://h/ HTTP/1.1\r\n\r\n"), 400},
    {"empty host", RAW("GET http:///x HTTP/1.1\r\n\r\n"), 400},
    {"empty host with port", RAW("GET http://:80/x HTTP/1.1\r\n\r\n"), 400},
    {"bad host character", RAW("PUT s://]ufd/: HTTP/1.1\r\n\r\n"), 400},
    {"bad port", RAW("GET http://h:8x/ HTTP/1.1\r\n\r\n"), 400},
    {"bad pct-encoding in host", RAW("GET http://h%zz/ HTTP/1.1\r\n\r\n"), 400},
    {"unclosed IP-literal", RAW("GET http://[::1/ HTTP/1.1\r\n\r\n"), 400},
    {"empty IP-literal", RAW("GET http://[]/ HTTP/1.1\r\n\r\n"), 400},
    {"CONNECT with origin-form", RAW("CONNECT / HTTP/1.1\r\n\r\n"), 400},
    {"CONNECT with asterisk", RAW("CONNECT * HTTP/1.1\r\n\r\n"), 400},
    {"CONNECT with absolute-form", RAW("CONNECT http://h:1/ HTTP/1.1\r\n\r\n"), 400},
    {"CONNECT without port", RAW("CONNECT example.com HTTP/1.1\r\n\r\n"), 400},
    {"CONNECT with empty port", RAW("CONNECT example.com: HTTP/1.1\r\n\r\n"), 400},
    {"CONNECT with userinfo", RAW("CONNECT u@h:443 HTTP/1.1\r\n\r\n"), 400},
    {"CONNECT without host", RAW("CONNECT :443 HTTP/1.1\r\n\r\n"), 400},
    /* Content-Length */
    {"Content-Length -1", RAW("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"), 400},
    {"Content-Length +1", RAW("POST / HTTP/1.1\r\nContent-Length: +1\r\n\r\n"), 400},
    {"Content-Length -0", RAW("POST / HTTP/1.1\r\nContent-Length: -0\r\n\r\n"), 400},
    {"Content-Length hex", RAW("POST / HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n"), 400},
    {"Content-Length decimal point", RAW("POST / HTTP/1.1\r\nContent-Length: 1.0\r\n\r\n"), 400},
    {"Content-Length inner space", RAW("POST / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n"), 400},
    {"Content-Length empty", RAW("POST / HTTP/1.1\r\nContent-Length: \r\n\r\n"), 400},
    {"Content-Length list form", RAW("POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n"), 400},
    {"Content-Length identical duplicate",
     RAW("POST / HTTP/1.1\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\n"), 400},
    {"Content-Length conflicting duplicate",
     RAW("POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 2\r\n\r\n"), 400},
    {"Content-Length INT64_MAX + 1",
     RAW("POST / HTTP/1.1\r\nContent-Length: 9223372036854775808\r\n\r\n"), 400},
    {"Content-Length 20 digits",
     RAW("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n"), 400},
    /* Transfer-Encoding */
    {"Content-Length then Transfer-Encoding",
     RAW("POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"), 400},
    {"Transfer-Encoding then Content-Length",
     RAW("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"), 400},
    {"Transfer-Encoding in HTTP/1.0", RAW("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
     400},
    {"gzip alone", RAW("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n"), 400},
    {"identity alone", RAW("POST / HTTP/1.1\r\nTransfer-Encoding: identity\r\n\r\n"), 400},
    {"chunked not final", RAW("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"), 400},
    {"chunked not final over two lines",
     RAW("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n"), 400},
    {"chunked twice", RAW("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n"), 400},
    {"chunked twice over two lines",
     RAW("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"),
     400},
    {"chunked with a parameter", RAW("POST / HTTP/1.1\r\nTransfer-Encoding: chunked;x=1\r\n\r\n"),
     400},
    {"chunked then junk", RAW("POST / HTTP/1.1\r\nTransfer-Encoding: chunked x\r\n\r\n"), 400},
    {"malformed coding", RAW("POST / HTTP/1.1\r\nTransfer-Encoding: g(z), chunked\r\n\r\n"), 400},
    {"empty Transfer-Encoding", RAW("POST / HTTP/1.1\r\nTransfer-Encoding: \r\n\r\n"), 400},
    {"Transfer-Encoding: ,", RAW("POST / HTTP/1.1\r\nTransfer-Encoding: ,\r\n\r\n"), 400},
    {"gzip, chunked", RAW("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"), 501},
    {"identity, chunked", RAW("POST / HTTP/1.1\r\nTransfer-Encoding: identity,chunked\r\n\r\n"),
     501},
    {"gzip;q=1, chunked", RAW("POST / HTTP/1.1\r\nTransfer-Encoding: gzip;q=1, chunked\r\n\r\n"),
     501},
    {"gzip then chunked over two lines",
     RAW("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n"), 501},
    /* singleton fields */
    {"two Host fields", RAW("GET / HTTP/1.1\r\nHost: a\r\nHOST: b\r\n\r\n"), 400},
    {"two Host fields, same value", RAW("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"), 400},
    {"two Content-Type fields",
     RAW("POST / HTTP/1.1\r\nContent-Type: a/b\r\nContent-Type: c/d\r\n\r\n"), 400},
    /* limits */
    {"one field over max_headers", RAW("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"), 431, 2},
    {"max_headers 0", RAW("GET / HTTP/1.1\r\nA: 1\r\n\r\n"), 431, (size_t)-1},
};

static void test_err_cases(void)
{
    parsed_t *p = malloc(sizeof(*p));

    for (size_t i = 0; i < sizeof(err_cases) / sizeof(err_cases[0]); i++) {
        const err_case_t *c = &err_cases[i];
        size_t maxh = c->max_headers == (size_t)-1 ? 0 : c->max_headers ? c->max_headers : MAXH;

        begin(c->name);
        parse(c->raw, c->len, maxh, p);
        CHECK(p->ret == HD_ERROR && p->status == c->status, "returned %d status %d, want %d",
              p->ret, p->status, c->status);
        check_splits(c->raw, c->len, maxh, p);
        end();
    }
    free(p);
}

/*
 * Every byte value at every offset of a long target and a long field value
 * (the scanners skip several bytes at a time): accepted exactly when the
 * grammar allows it, refused with 400 otherwise.
 */
static void test_byte_classes(void)
{
    parsed_t *p = malloc(sizeof(*p));
    char buf[128];

    begin("every byte in a target and a field value");
    for (int c = 0; c < 256; c++) {
        int value_ok = c == '\t' || (c >= 0x20 && c != 0x7f);
        int target_ok = c > 0x20 && c != 0x7f;
        for (size_t at = 0; at < 24; at++) {
            /* "GET /<24 bytes> HTTP/1.1\r\nX: a<24 bytes>b\r\n\r\n" */
            size_t n = 0;
            memcpy(buf, "GET /", 5);
            n = 5;
            memset(buf + n, 'a', 24);
            buf[n + at] = (char)c;
            n += 24;
            memcpy(buf + n, " HTTP/1.1\r\nX: a", 15);
            n += 15;
            memset(buf + n, 'v', 24);
            n += 24;
            memcpy(buf + n, "b\r\n\r\n", 5);
            n += 5;
            parse(buf, n, MAXH, p);
            if (c == ' ' || c == '?' || c == '#') /* target separators: checked elsewhere */
                ;
            else if (target_ok)
                CHECK(p->ret == (int)n, "target byte 0x%02x at %zu: %d", c, at, p->ret);
            else
                CHECK(p->ret == HD_ERROR && p->status == 400, "target byte 0x%02x at %zu: %d",
                      c, at, p->ret);

            memset(buf + 5, 'a', 24); /* the target clean again, the value dirty */
            buf[5 + 24 + 15 + at] = (char)c;
            parse(buf, n, MAXH, p);
            if (value_ok) {
                CHECK(p->ret == (int)n, "value byte 0x%02x at %zu: %d", c, at, p->ret);
                CHECK(p->req.num_headers == 1 && p->req.headers[0].value.len == 26,
                      "value byte 0x%02x at %zu: value length %zu", c, at,
                      p->req.headers[0].value.len);
            } else if (c == '\r') {
                CHECK(p->ret == HD_ERROR, "value byte CR at %zu: %d", at, p->ret);
            } else {
                CHECK(p->ret == HD_ERROR && p->status == 400, "value byte 0x%02x at %zu: %d",
                      c, at, p->ret);
            }
        }
    }
    end();
    free(p);
}

static void test_overflow_status(void)
{
    static const struct {
        const char *raw;
        int status;
    } cases[] = {
        {"", 414},
        {"GET /aaaaaaaaaa", 414},
        {"GET /aaaaaaaaaa HTTP/1.1\r", 414},
        {"\r\n\r\nGET /aaa", 414},
        {"GET / HTTP/1.1\r\n", 431},
        {"GET / HTTP/1.1\r\nX: aaaaaaaa", 431},
    };

    begin("hd_http_overflow_status");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int s = hd_http_overflow_status(cases[i].raw, strlen(cases[i].raw));
        CHECK(s == cases[i].status, "'%s': %d", cases[i].raw, s);
    }
    end();
}

static void test_reason(void)
{
    static const struct {
        int status;
        const char *reason;
    } cases[] = {
        {100, "Continue"}, {101, "Switching Protocols"}, {200, "OK"}, {201, "Created"},
        {202, "Accepted"}, {204, "No Content"}, {206, "Partial Content"},
        {301, "Moved Permanently"}, {302, "Found"}, {304, "Not Modified"},
        {307, "Temporary Redirect"}, {308, "Permanent Redirect"}, {400, "Bad Request"},
        {403, "Forbidden"}, {404, "Not Found"}, {405, "Method Not Allowed"},
        {408, "Request Timeout"}, {411, "Length Required"}, {413, "Content Too Large"},
        {414, "URI Too Long"}, {417, "Expectation Failed"},
        {431, "Request Header Fields Too Large"}, {500, "Internal Server Error"},
        {501, "Not Implemented"}, {502, "Bad Gateway"}, {503, "Service Unavailable"},
        {504, "Gateway Timeout"}, {505, "HTTP Version Not Supported"}, {0, "Unknown"},
        {299, "Unknown"}, {999, "Unknown"},
    };

    begin("hd_http_reason");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *r = hd_http_reason(cases[i].status);
        CHECK(r && strcmp(r, cases[i].reason) == 0, "%d: '%s'", cases[i].status, r);
    }
    for (int s = 100; s < 600; s++) {
        const char *r = hd_http_reason(s);
        CHECK(r && *r && !strchr(r, '\r') && !strchr(r, '\n'), "%d: bad phrase", s);
    }
    end();
}

/* ---- chunked ------------------------------------------------------------- */

/*
 * Decodes raw[0..len) as a caller would: the bytes arrive first `first`, then
 * `step` at a time; the decoder sees the not yet consumed bytes. Appends the
 * body to body (capacity cap). Returns the last result; *used: bytes
 * consumed in all. Checks the slice contract on the way.
 */
static int dechunk(const char *raw, size_t len, size_t first, size_t step, char *body,
                   size_t cap, size_t *body_len, size_t *used)
{
    hd_chunked_t d;
    size_t pos = 0, avail = first < len ? first : len;

    hd_chunked_init(&d);
    *body_len = 0;
    for (;;) {
        size_t c = (size_t)-1, off = (size_t)-1, dl = (size_t)-1, n = avail - pos;
        int r = hd_chunked_decode(&d, raw + pos, n, &c, &off, &dl);

        CHECK(c <= n, "consumed %zu of %zu", c, n);
        if (r == HD_CHUNK_DATA) {
            CHECK(dl > 0 && off + dl == c, "data %zu+%zu, consumed %zu", off, dl, c);
            if (dl > 0 && off + dl <= n && *body_len + dl <= cap) {
                memcpy(body + *body_len, raw + pos + off, dl);
                *body_len += dl;
            }
            pos += c;
            continue;
        }
        if (r == HD_AGAIN)
            CHECK(c == n, "HD_AGAIN consumed %zu of %zu", c, n);
        else
            CHECK(r == HD_CHUNK_DONE || r == HD_ERROR, "result %d", r);
        pos += c;
        if (r != HD_AGAIN || avail == len) {
            *used = pos;
            return r;
        }
        avail = len - avail < step ? len : avail + step;
    }
}

typedef struct {
    const char *name;
    const char *raw;
    size_t len;
    int result;       /* HD_CHUNK_DONE, HD_ERROR or HD_AGAIN (incomplete) */
    const char *body; /* DONE: the decoded body */
    size_t used;      /* DONE: bytes consumed; 0 means all */
} chunk_case_t;

#define DONE(b) HD_CHUNK_DONE, b
#define BAD HD_ERROR, NULL
#define MORE HD_AGAIN, NULL

static const chunk_case_t chunk_cases[] = {
    {"one chunk", RAW("5\r\nhello\r\n0\r\n\r\n"), DONE("hello")},
    {"two chunks", RAW("5\r\nhello\r\n6\r\n world\r\n000\r\n\r\n"), DONE("hello world")},
    {"empty body", RAW("0\r\n\r\n"), DONE("")},
    {"hex either case", RAW("a\r\n0123456789\r\nA\r\n0123456789\r\n0\r\n\r\n"),
     DONE("01234567890123456789")},
    {"leading zeros", RAW("0005\r\nhello\r\n0000000000000000000000\r\n\r\n"), DONE("hello")},
    {"zero-padded to 16 digits", RAW("0000000000000001\r\nx\r\n0\r\n\r\n"), DONE("x")},
    {"extensions", RAW("5;a=b;c\r\nhello\r\n6; blah ; x=\"y z\"\r\n world\r\n0;last\r\n\r\n"),
     DONE("hello world")},
    {"BWS before an extension", RAW("5 \t ;a\r\nhello\r\n0\r\n\r\n"), DONE("hello")},
    {"extension with obs-text and HTAB", RAW("5;a=\"\303\251\tb\"\r\nhello\r\n0\r\n\r\n"),
     DONE("hello")},
    {"CRLF inside the data", RAW("4\r\n\r\n\r\n\r\n0\r\n\r\n"), DONE("\r\n\r\n")},
    {"trailers", RAW("5\r\nhello\r\n0\r\nVary: *\r\nX-Sum:\r\nX-T: a\tb \303\251\r\n\r\n"),
     DONE("hello")},
    {"trailers like forbidden names", RAW("0\r\nHosts: a\r\nT: b\r\nContent-Lengthx: 1\r\n"
                                          "Con: c\r\nTEX: d\r\nContent-Type: e\r\n\r\n"),
     DONE("")},
    {"stops after the body", RAW("1\r\na\r\n0\r\n\r\nGET / HTTP/1.1\r\n\r\n"), DONE("a"), 11},
    {"incomplete: no final CRLF", RAW("5\r\nhello\r\n0\r\n"), MORE},
    {"incomplete: in the data", RAW("5\r\nhel"), MORE},
    {"incomplete: huge chunk", RAW("ffffffffffffffff\r\nabc"), MORE},
    {"empty size line", RAW("\r\nhello\r\n0\r\n\r\n"), BAD},
    {"leading SP", RAW(" 5\r\nhello\r\n0\r\n\r\n"), BAD},
    {"trailing SP", RAW("5 \r\nhello\r\n0\r\n\r\n"), BAD},
    {"trailing SP on the last chunk", RAW("5\r\nhello\r\n0 \r\n\r\n"), BAD},
    {"extension without size", RAW(";a=b\r\nhello\r\n0\r\n\r\n"), BAD},
    {"SP then extension without size", RAW(" ;a=b\r\nhello\r\n0\r\n\r\n"), BAD},
    {"minus", RAW("-5\r\nhello\r\n0\r\n\r\n"), BAD},
    {"plus", RAW("+5\r\nhello\r\n0\r\n\r\n"), BAD},
    {"0x prefix", RAW("0x5\r\nhello\r\n0\r\n\r\n"), BAD},
    {"underscore", RAW("5\r\nhello\r\n6_0\r\n world\r\n0\r\n\r\n"), BAD},
    {"non-hex", RAW("g\r\n"), BAD},
    {"17 significant digits", RAW("10000000000000000\r\n"), BAD},
    {"bare LF after the size", RAW("5\nhello\r\n0\r\n\r\n"), BAD},
    {"bare LF after an extension", RAW("5;a\n;\r\nhello\r\n0\r\n\r\n"), BAD},
    {"bare CR in an extension", RAW("5;ext=val\rue\r\nhello\r\n0\r\n\r\n"), BAD},
    {"CTL in an extension", RAW("5;a\001\r\nhello\r\n0\r\n\r\n"), BAD},
    {"data longer than its size", RAW("5\r\nhelloX\r\n0\r\n\r\n"), BAD},
    {"data followed by a bare LF", RAW("5\r\nhello\n0\r\n\r\n"), BAD},
    {"data followed by CR only", RAW("5\r\nhello\r0\r\n\r\n"), BAD},
    {"last chunk followed by a bare LF", RAW("0\r\n\n"), BAD},
    {"trailer with a bare LF", RAW("0\r\nX: y\n\r\n"), BAD},
    {"trailer obs-fold", RAW("0\r\nX: y\r\n z\r\n\r\n"), BAD},
    {"trailer without colon", RAW("0\r\nX\r\n\r\n"), BAD},
    {"trailer SP before colon", RAW("0\r\nX : y\r\n\r\n"), BAD},
    {"trailer with NUL", RAW("0\r\nX: a\000b\r\n\r\n"), BAD},
    {"trailer Content-Length", RAW("5\r\nhello\r\n0\r\nContent-Length: 99\r\n\r\n"), BAD},
    {"trailer Host", RAW("0\r\nHOST: evil\r\n\r\n"), BAD},
    {"trailer Transfer-Encoding", RAW("0\r\ntransfer-encoding: chunked\r\n\r\n"), BAD},
    {"trailer TE", RAW("0\r\nTe: trailers\r\n\r\n"), BAD},
    {"trailer Connection", RAW("0\r\nConnection: close\r\n\r\n"), BAD},
    {"trailer Trailer", RAW("0\r\nTrailer: x\r\n\r\n"), BAD},
};

static void check_chunked(const char *name, const char *raw, size_t len, int result,
                          const char *body, size_t used)
{
    char *out = malloc(len + 1);
    size_t blen, u, want_used = used ? used : len;
    char label[160];

    begin(name);
    /* one shot, byte by byte, then every two-piece split */
    for (size_t k = 0; k <= len + 1; k++) {
        size_t first = k <= len ? k : 1, step = k <= len ? len : 1;
        int r = dechunk(raw, len, first, step, out, len, &blen, &u);

        if (k <= len)
            snprintf(label, sizeof(label), "split at %zu", k);
        else
            snprintf(label, sizeof(label), "byte by byte");
        CHECK(r == result, "%s: result %d, want %d", label, r, result);
        if (result == HD_CHUNK_DONE && r == result) {
            CHECK(u == want_used, "%s: consumed %zu, want %zu", label, u, want_used);
            CHECK(blen == strlen(body) && memcmp(out, body, blen) == 0, "%s: body '%.*s'",
                  label, (int)blen, out);
        }
        if (result == HD_AGAIN && r == result)
            CHECK(u == len, "%s: consumed %zu of %zu", label, u, len);
    }
    end();
    free(out);
}

static void test_chunked_cases(void)
{
    for (size_t i = 0; i < sizeof(chunk_cases) / sizeof(chunk_cases[0]); i++) {
        const chunk_case_t *c = &chunk_cases[i];
        check_chunked(c->name, c->raw, c->len, c->result, c->body, c->used);
    }
}

static void test_chunked_limits(void)
{
    size_t n = 20000;
    char *b = malloc(n), *out = malloc(n);
    size_t blen, u, len;
    int r;

    /* a size line of exactly 4096 bytes passes, 4097 does not */
    begin("chunked size line limit");
    for (int over = 0; over < 2; over++) {
        len = 0;
        b[len++] = '1';
        b[len++] = ';';
        while (len < 4096u + (size_t)over)
            b[len++] = 'x';
        memcpy(b + len, "\r\nA\r\n0\r\n\r\n", 10);
        len += 10;
        r = dechunk(b, len, len, len, out, n, &blen, &u);
        CHECK(r == (over ? HD_ERROR : HD_CHUNK_DONE), "line %zu: %d", 4096u + (size_t)over, r);
        r = dechunk(b, len, 1, 1, out, n, &blen, &u);
        CHECK(r == (over ? HD_ERROR : HD_CHUNK_DONE), "byte by byte, line %zu: %d",
              4096u + (size_t)over, r);
    }
    /* leading zeros count against the line too */
    memset(b, '0', 5000);
    memcpy(b + 5000, "\r\n\r\n", 4);
    r = dechunk(b, 5004, 5004, 5004, out, n, &blen, &u);
    CHECK(r == HD_ERROR, "5000 zeros: %d", r);
    end();

    /* a trailer section of 8192 bytes (with the final CRLF) passes, 8193 does not */
    begin("chunked trailer limit");
    for (int over = 0; over < 2; over++) {
        size_t tlen = 8192 + (size_t)over, rem = tlen - 2, i = tlen;
        memcpy(b, "0\r\n", 3);
        len = 3;
        while (rem > 0) { /* lines "X:vvv...\r\n" under the 4096-byte line limit */
            size_t line = rem < 4000 ? rem : 4000;
            b[len] = 'X';
            b[len + 1] = ':';
            memset(b + len + 2, 'v', line - 4);
            memcpy(b + len + line - 2, "\r\n", 2);
            len += line;
            rem -= line;
        }
        memcpy(b + len, "\r\n", 2);
        len += 2;
        r = dechunk(b, len, len, len, out, n, &blen, &u);
        CHECK(r == (i > 8192 ? HD_ERROR : HD_CHUNK_DONE), "trailers of %zu bytes: %d", i, r);
    }
    end();

    /* write_size, and what it writes decodes back */
    begin("hd_chunked_write_size");
    {
        static const struct {
            size_t size;
            const char *out;
        } w[] = {{0, "0\r\n"}, {1, "1\r\n"}, {15, "f\r\n"}, {16, "10\r\n"}, {255, "ff\r\n"},
                 {0x12abcdef, "12abcdef\r\n"}};
        char buf[32];
        for (size_t i = 0; i < sizeof(w) / sizeof(w[0]); i++) {
            size_t l = hd_chunked_write_size(buf, w[i].size);
            CHECK(l == strlen(w[i].out) && memcmp(buf, w[i].out, l) == 0, "%zu: '%.*s'",
                  w[i].size, (int)l, buf);
        }
        size_t l = hd_chunked_write_size(buf, SIZE_MAX);
        CHECK(l <= 20 && l == sizeof(size_t) * 2 + 2, "SIZE_MAX: %zu bytes", l);
        memcpy(b, "0\r\n\r\n", 5); /* the last chunk */
        for (size_t s = 1; s < 70; s += 7) {
            len = hd_chunked_write_size(b, s);
            memset(b + len, 'z', s);
            len += s;
            memcpy(b + len, "\r\n0\r\n\r\n", 7);
            len += 7;
            r = dechunk(b, len, len, len, out, n, &blen, &u);
            CHECK(r == HD_CHUNK_DONE && blen == s, "round trip of %zu: %d, %zu", s, r, blen);
        }
    }
    end();

    begin("chunked decoder states are sticky");
    {
        hd_chunked_t d;
        size_t c, off, dl;
        hd_chunked_init(&d);
        r = hd_chunked_decode(&d, "0\r\n\r\nX", 6, &c, &off, &dl);
        CHECK(r == HD_CHUNK_DONE && c == 5, "done: %d %zu", r, c);
        r = hd_chunked_decode(&d, "X", 1, &c, &off, &dl);
        CHECK(r == HD_CHUNK_DONE && c == 0, "after done: %d %zu", r, c);
        hd_chunked_init(&d);
        r = hd_chunked_decode(&d, "z", 1, &c, &off, &dl);
        CHECK(r == HD_ERROR && c == 0, "error: %d %zu", r, c);
        r = hd_chunked_decode(&d, "0\r\n\r\n", 5, &c, &off, &dl);
        CHECK(r == HD_ERROR, "after error: %d", r);
        r = hd_chunked_decode(&d, "", 0, &c, &off, &dl);
        CHECK(r == HD_ERROR, "after error, no bytes: %d", r);
        memset(&d, 0, sizeof(d)); /* zeroing is as good as init */
        r = hd_chunked_decode(&d, "", 0, &c, &off, &dl);
        CHECK(r == HD_AGAIN && c == 0, "zeroed, no bytes: %d %zu", r, c);
        r = hd_chunked_decode(&d, "2\r\nab", 5, &c, &off, &dl);
        CHECK(r == HD_CHUNK_DATA && off == 3 && dl == 2 && c == 5, "zeroed: %d %zu %zu %zu", r,
              off, dl, c);
    }
    end();
    free(b);
    free(out);
}

/* ---- the Gunicorn corpus ------------------------------------------------- */

#define HERD_BUFFER_SIZE 8192 /* --buffer-size default: the whole head must fit */
#define HERD_MAX_HEADERS 100  /* as Gunicorn's limit_request_fields default */

/*
 * Cases where herd deliberately differs from Gunicorn, and what herd does
 * instead; each is checked to do exactly that.
 */
enum { DIFF_REFUSED, DIFF_ACCEPTED, DIFF_MORE_HEADERS };
static const struct {
    const char *name;
    int kind;
    int status; /* DIFF_REFUSED */
    const char *reason;
} corpus_differs[] = {
    {"invalid/003c", DIFF_ACCEPTED, 0,
     "a method is any token (RFC 9110 9.1), case-sensitive and kept as sent; Gunicorn refuses "
     "lower case unless permit_unconventional_http_method"},
    {"invalid/006", DIFF_ACCEPTED, 0,
     "herd bounds the whole head by --buffer-size (8192 by default; 414 when the request-line "
     "does not fit), not the request-line at 4094 bytes"},
    {"valid/009", DIFF_REFUSED, 400,
     "Content-Length with Transfer-Encoding is refused whatever the coding; 'identity' is no "
     "transfer coding since RFC 7230"},
    {"valid/025", DIFF_REFUSED, 501,
     "herd decodes no coding but chunked (RFC 9112 6.1: 501); Gunicorn passes gzip to the app"},
    {"valid/025_line", DIFF_REFUSED, 501, "as valid/025: 'gzip,chunked' is 501"},
    {"valid/rfc9112_smuggle_gzip_chunked_01", DIFF_REFUSED, 501,
     "as valid/025: 'gzip, chunked' is 501"},
    {"valid/029", DIFF_REFUSED, 501,
     "'identity' then 'chunked': identity is an unknown coding (removed in RFC 7230), 501"},
    {"valid/030", DIFF_REFUSED, 501, "as valid/029"},
    {"valid/rfc9112_smuggle_te_identity_chunked_01", DIFF_REFUSED, 501,
     "as valid/029: 'identity, chunked' is 501"},
    {"valid/040", DIFF_MORE_HEADERS, 0,
     "the parser reports Transfer_Encoding and Content_Length as ordinary fields (they never "
     "frame the body); dropping '_' names is the WSGI environ layer's job"},
};

typedef struct {
    size_t buffer_size, max_headers;
    const char *skip; /* why the case cannot run, or NULL */
} corpus_env_t;

/* Maps one Gunicorn setting onto herd's, or says why the case is skipped. */
static void corpus_option(const corpus_option_t *o, corpus_env_t *env)
{
    long v = strtol(o->value, NULL, 10);

    if (strcmp(o->key, "limit_request_fields") == 0) {
        env->max_headers = (size_t)v;
    } else if (strcmp(o->key, "limit_request_line") == 0
               || strcmp(o->key, "limit_request_field_size") == 0) {
        long dflt = strcmp(o->key, "limit_request_line") == 0 ? 4094 : 8190;
        if (v > dflt)
            env->buffer_size = 32768; /* as a user raises --buffer-size */
        else if (v != 0)              /* 0: Gunicorn's default */
            env->skip = "no per-line or per-field limit: --buffer-size bounds the whole head";
    } else if (strcmp(o->key, "permit_unconventional_http_method") == 0) {
        /* herd always accepts any token as a method: run the case */
    } else if (strcmp(o->key, "casefold_http_method") == 0) {
        env->skip = "herd never rewrites the method";
    } else if (strcmp(o->key, "proxy_protocol") == 0) {
        env->skip = "no PROXY protocol support";
    } else if (strcmp(o->key, "permit_obsolete_folding") == 0) {
        env->skip = "obs-fold is always refused (400)";
    } else if (strcmp(o->key, "strip_header_spaces") == 0) {
        env->skip = "whitespace before ':' is always refused (400)";
    } else if (strcmp(o->key, "header_map") == 0) {
        env->skip = "'_' in field names is the WSGI environ layer's policy, not the parser's";
    } else if (strcmp(o->key, "forwarded_allow_ips") == 0) {
        env->skip = "X-Forwarded-* trust is not the parser's business";
    } else {
        env->skip = "unknown Gunicorn setting";
    }
}

typedef struct {
    int refused;     /* 0, or the status (HD_AGAIN for "incomplete at EOF") */
    const char *why; /* what refused it */
    size_t nreq;     /* requests that went through */
} corpus_run_t;

static int header_list_matches(const hd_http_request_t *r, const corpus_request_t *e,
                               int allow_extra)
{
    size_t j = 0;

    for (size_t i = 0; i < r->num_headers && j < e->num_headers; i++) {
        hd_str_t n = r->headers[i].name, v = r->headers[i].value;
        const corpus_header_t *h = &e->headers[j];
        if (n.len == strlen(h->name) && strncasecmp(n.base, h->name, n.len) == 0
            && v.len == h->value_len && memcmp(v.base, h->value, v.len) == 0)
            j++;
        else if (!allow_extra)
            return 0;
    }
    return j == e->num_headers && (allow_extra || r->num_headers == e->num_headers);
}

/* Runs one case as a connection would; compares with the expected requests
   when expect is non-NULL. */
static void corpus_run(const corpus_case_t *cc, const corpus_env_t *env, int more_headers,
                       corpus_run_t *run)
{
    const char *raw = cc->raw;
    size_t off = 0, len = cc->raw_len;
    parsed_t *p = malloc(sizeof(*p));
    char *body = malloc(len + 1);

    memset(run, 0, sizeof(*run));
    while (off < len) {
        size_t avail = len - off, lim = avail < env->buffer_size ? avail : env->buffer_size;
        size_t blen = 0, used = 0;
        int r = parse(raw + off, lim, env->max_headers, p);

        if (r == HD_AGAIN) {
            if (avail > env->buffer_size) {
                run->refused = hd_http_overflow_status(raw + off, lim);
                run->why = "head larger than the buffer";
            } else {
                run->refused = HD_AGAIN;
                run->why = "incomplete head at EOF";
            }
            break;
        }
        if (r == HD_ERROR) {
            run->refused = p->status;
            run->why = "head parser";
            break;
        }
        CHECK(slices_inside(p, raw + off, (size_t)r), "slice outside the head");
        check_splits(raw + off, (size_t)r, env->max_headers, p);
        off += (size_t)r;

        if (p->req.chunked) {
            /* one shot, and byte by byte: both must agree */
            size_t blen1, used1;
            char *body1 = malloc(len - off + 1);
            int d = dechunk(raw + off, len - off, len - off, len - off, body, len, &blen, &used);
            int d1 = dechunk(raw + off, len - off, 1, 1, body1, len, &blen1, &used1);
            CHECK(d == d1 && (d != HD_CHUNK_DONE || (blen == blen1 && used == used1
                                                     && memcmp(body, body1, blen) == 0)),
                  "chunked one-shot and byte-by-byte differ");
            free(body1);
            if (d != HD_CHUNK_DONE) {
                run->refused = d == HD_ERROR ? 400 : HD_AGAIN;
                run->why = d == HD_ERROR ? "chunked decoder" : "incomplete chunked body at EOF";
                break;
            }
        } else if (p->req.content_length > 0) {
            /* A body cut short by EOF is compared as far as it goes, as
               Gunicorn's harness does (valid/099 announces 17914 bytes and
               holds 8599); there is nothing after it to parse. */
            blen = used = (uint64_t)p->req.content_length < len - off
                              ? (size_t)p->req.content_length : len - off;
            memcpy(body, raw + off, blen);
        }
        off += used;

        if (cc->valid && run->nreq < cc->num_requests) {
            const corpus_request_t *e = &cc->requests[run->nreq];
            const hd_http_request_t *q = &p->req;
            CHECK(str_eq(q->method, e->method), "request %zu: method '%.*s', want '%s'",
                  run->nreq, (int)q->method.len, q->method.base, e->method);
            CHECK(str_eq(q->target, e->target), "request %zu: target '%.*s', want '%s'",
                  run->nreq, (int)q->target.len, q->target.base, e->target);
            CHECK(e->major == 1 && q->minor_version == e->minor, "request %zu: HTTP/1.%d",
                  run->nreq, q->minor_version);
            CHECK(header_list_matches(q, e, more_headers), "request %zu: %zu headers differ",
                  run->nreq, q->num_headers);
            CHECK(blen == e->body_len && memcmp(body, e->body, blen) == 0,
                  "request %zu: body of %zu bytes differs", run->nreq, blen);
        }
        run->nreq++;
        if (!p->req.keep_alive)
            break; /* the connection closes: later bytes are never read */
    }
    free(body);
    free(p);
}

static void test_corpus(void)
{
    size_t n_pass = 0, n_diff = 0, n_skip = 0, n_fail = 0;
    const char *skipped[CORPUS_NUM_CASES], *skip_why[CORPUS_NUM_CASES];
    const char *eof_only[CORPUS_NUM_CASES], *eof_why[CORPUS_NUM_CASES];
    size_t n_eof = 0;

    for (size_t i = 0; i < CORPUS_NUM_CASES; i++) {
        const corpus_case_t *cc = &corpus_cases[i];
        corpus_env_t env = {HERD_BUFFER_SIZE, HERD_MAX_HEADERS, NULL};
        corpus_run_t run;
        int diff = -1;
        char name[96];

        for (size_t o = 0; o < cc->num_options; o++)
            corpus_option(&cc->options[o], &env);
        if (env.skip) {
            skipped[n_skip] = cc->name;
            skip_why[n_skip++] = env.skip;
            continue;
        }
        for (size_t k = 0; k < sizeof(corpus_differs) / sizeof(corpus_differs[0]); k++) {
            if (strcmp(corpus_differs[k].name, cc->name) == 0)
                diff = (int)k;
        }

        snprintf(name, sizeof(name), "corpus %s", cc->name);
        begin(name);
        int kind = diff >= 0 ? corpus_differs[diff].kind : -1;
        corpus_run(cc, &env, kind == DIFF_MORE_HEADERS, &run);
        if (kind == DIFF_REFUSED) {
            CHECK(run.refused == corpus_differs[diff].status, "want %d from herd, got %d (%s)",
                  corpus_differs[diff].status, run.refused, run.why ? run.why : "accepted");
        } else if (kind == DIFF_ACCEPTED) {
            CHECK(!run.refused && run.nreq > 0, "want herd to accept it: refused %d by %s",
                  run.refused, run.why);
        } else if (cc->valid) {
            CHECK(!run.refused, "refused %d by %s", run.refused, run.why);
            CHECK(run.nreq == cc->num_requests, "%zu requests, want %zu", run.nreq,
                  cc->num_requests);
        } else {
            CHECK(run.refused, "accepted (%zu requests), Gunicorn: %s", run.nreq, cc->error);
        }
        if (case_failed)
            n_fail++;
        else if (diff >= 0)
            n_diff++;
        else
            n_pass++;
        if (run.refused == HD_AGAIN && !case_failed) {
            eof_only[n_eof] = cc->name;
            eof_why[n_eof++] = run.why;
        }
        if (getenv("HD_TEST_VERBOSE")) {
            if (run.refused)
                printf("  %-50s %-7s refused %d (%s)\n", cc->name,
                       cc->valid ? "valid" : "invalid", run.refused, run.why);
            else
                printf("  %-50s %-7s accepted, %zu request(s)\n", cc->name,
                       cc->valid ? "valid" : "invalid", run.nreq);
        }
        end();
    }

    printf("corpus http-requests-gunicorn: %zu cases, %zu passed as Gunicorn, %zu passed as "
           "deliberate differences, %zu skipped, %zu failed\n",
           (size_t)CORPUS_NUM_CASES, n_pass, n_diff, n_skip, n_fail);
    printf("  skipped (a Gunicorn setting herd does not have):\n");
    for (size_t i = 0; i < n_skip; i++)
        printf("    %-40s %s\n", skipped[i], skip_why[i]);
    printf("  refused only because the input ends there (the connection closes with the "
           "request unfinished; -2 in HD_TEST_VERBOSE=1 output):\n");
    for (size_t i = 0; i < n_eof; i++)
        printf("    %-40s %s\n", eof_only[i], eof_why[i]);
    printf("  deliberate differences (checked to behave as stated):\n");
    for (size_t k = 0; k < sizeof(corpus_differs) / sizeof(corpus_differs[0]); k++)
        printf("    %-40s %s\n", corpus_differs[k].name, corpus_differs[k].reason);
}

/* ---- speed, reported only ------------------------------------------------ */

static void bench(void)
{
    static const char get[] = "GET /index.html?page=1 HTTP/1.1\r\n"
                              "Host: www.example.com\r\n"
                              "User-Agent: Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0\r\n"
                              "Accept: text/html,application/xhtml+xml\r\n"
                              "Accept-Encoding: gzip, deflate\r\n"
                              "Connection: keep-alive\r\n\r\n";
    hd_http_header_t h[32];
    hd_http_request_t r;
    struct timespec a, b;
    int st, n = 200000;
    long sum = 0;

    r.headers = h;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < n; i++)
        sum += hd_http_parse_request(get, sizeof(get) - 1, &r, 32, &st);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double ns = ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / n;
    printf("speed: a %zu-byte GET head parses in %.0f ns (%ld)\n", sizeof(get) - 1, ns,
           sum / n);
}

int main(void)
{
    test_ok_cases();
    test_err_cases();
    test_byte_classes();
    test_overflow_status();
    test_reason();
    test_chunked_cases();
    test_chunked_limits();
    test_corpus();
    bench();
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
