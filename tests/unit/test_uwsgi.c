/*
 * Unit tests for proto/uwsgi: the packet parser, hd_uwsgi_get, the mapping
 * to hd_http_request_t, the URL scheme and the writer. A plain runner: one
 * line per failure, then "N passed, N failed" last; exit 1 on failure.
 *
 * Every input is parsed from a heap buffer of its exact size, so that
 * AddressSanitizer (make SANITIZE=1 test-unit) sees any read past it. Every
 * valid packet is also checked at every split point (each strict prefix of
 * the head is HD_AGAIN; a buffer filled in two pieces gives the same parse),
 * every invalid one at every prefix (HD_AGAIN or the same error).
 *
 *   test_uwsgi --write-seeds DIR   writes the fuzzer's seed corpus
 *                                  (fuzz/corpus/fuzz_uwsgi) and exits:
 *                                  raw packets, and KEY=VALUE lines for the
 *                                  fuzzer's structured mode
 */
#include "proto/uwsgi.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runner.h"

static int str_eq(hd_str_t s, const char *lit)
{
    return s.len == strlen(lit) && (s.len == 0 || memcmp(s.base, lit, s.len) == 0);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL) {
        perror("malloc");
        exit(2);
    }
    return p;
}

/* A copy of raw[0..len) in a heap block of exactly len bytes. */
static char *exact(const char *raw, size_t len)
{
    char *b = xmalloc(len);
    if (len > 0)
        memcpy(b, raw, len);
    return b;
}

/* ---- building packets ----------------------------------------------------- */

typedef struct {
    const char *k, *v; /* NUL-terminated; k == NULL ends a list */
} kv_t;

#define MAXKV 64
#define BIG (HD_UWSGI_MAX_PACKET + 64)

static size_t count_kv(const kv_t *kv)
{
    size_t n = 0;
    while (n < MAXKV && kv[n].k != NULL)
        n++;
    return n;
}

/* Writes the packet for kv into out (at least BIG bytes); returns its size. */
static size_t build(char *out, const kv_t *kv)
{
    hd_uwsgi_var_t vars[MAXKV];
    size_t n = count_kv(kv);
    for (size_t i = 0; i < n; i++) {
        vars[i].key = (hd_str_t){kv[i].k, strlen(kv[i].k)};
        vars[i].value = (hd_str_t){kv[i].v, strlen(kv[i].v)};
    }
    return hd_uwsgi_write_packet(out, BIG, vars, n);
}

/* ---- parser helpers -------------------------------------------------------- */

#define MAXV 16384 /* more than the 13107 vars a 64 KiB block can hold */

typedef struct {
    hd_uwsgi_packet_t p;
    hd_uwsgi_var_t vars[MAXV];
    int ret, status;
} parsed_t;

static parsed_t *new_parsed(void)
{
    return xmalloc(sizeof(parsed_t));
}

static int parse(const char *buf, size_t len, size_t max_vars, size_t max_size, parsed_t *out)
{
    memset(&out->p, 0, sizeof(out->p));
    out->p.vars = out->vars;
    out->status = 0;
    out->ret = hd_uwsgi_parse(buf, len, &out->p, max_vars, max_size, &out->status);
    return out->ret;
}

static int slice_eq(hd_str_t a, const char *abase, hd_str_t b, const char *bbase)
{
    return a.len == b.len && (a.len == 0 || a.base - abase == b.base - bbase);
}

/* Same result; slices at the same offsets of their own buffers. */
static int same_parse(const parsed_t *a, const char *abuf, const parsed_t *b, const char *bbuf)
{
    if (a->ret != b->ret)
        return 0;
    if (a->ret == HD_ERROR)
        return a->status == b->status && a->p.error == b->p.error;
    if (a->ret < 0)
        return 1;
    if (a->p.modifier1 != b->p.modifier1 || a->p.modifier2 != b->p.modifier2
        || a->p.datasize != b->p.datasize || a->p.num_vars != b->p.num_vars)
        return 0;
    for (size_t i = 0; i < a->p.num_vars; i++) {
        if (!slice_eq(a->vars[i].key, abuf, b->vars[i].key, bbuf)
            || !slice_eq(a->vars[i].value, abuf, b->vars[i].value, bbuf))
            return 0;
    }
    return 1;
}

/*
 * The vars tile buf[4..ret) in order: each key's length field right before
 * it, each value's right after the key, nothing left over; keys non-empty.
 */
static int vars_tile(const parsed_t *p, const char *buf)
{
    size_t pos = 4;
    if (p->ret < 4 || (size_t)p->ret != 4 + p->p.datasize)
        return 0;
    for (size_t i = 0; i < p->p.num_vars; i++) {
        hd_str_t k = p->vars[i].key, v = p->vars[i].value;
        if (k.len == 0 || k.base != buf + pos + 2 || v.base != k.base + k.len + 2)
            return 0;
        pos += 4 + k.len + v.len;
        if (pos > (size_t)p->ret)
            return 0;
    }
    return pos == (size_t)p->ret;
}

/*
 * The prefix and split properties for raw[0..len), whose parse is *full:
 * each strict prefix of the head is HD_AGAIN (valid) or HD_AGAIN / the same
 * error (invalid); a buffer filled in two pieces, at any split, parses like
 * the whole; and so does every prefix that holds the whole head.
 */
static void check_splits(const char *raw, size_t len, size_t max_vars, size_t max_size,
                         const parsed_t *full)
{
    parsed_t *p = new_parsed();
    size_t head = full->ret >= 0 ? (size_t)full->ret : len;

    for (size_t k = 0; k <= len; k++) {
        char *buf = exact(raw, k); /* the first read */
        parse(buf, k, max_vars, max_size, p);
        if (k < head || (full->ret < 0 && k < len)) {
            if (full->ret >= 0)
                CHECK(p->ret == HD_AGAIN, "prefix of %zu bytes: %d, not HD_AGAIN", k, p->ret);
            else
                CHECK(p->ret == HD_AGAIN || (p->ret == HD_ERROR && p->status == full->status
                                             && p->p.error == full->p.error),
                      "prefix of %zu bytes: %d/%d, not HD_AGAIN or %d", k, p->ret, p->status,
                      full->status);
        } else {
            CHECK(same_parse(p, buf, full, raw), "prefix of %zu bytes parses differently", k);
        }
        free(buf);
        buf = xmalloc(len ? len : 1);
        memcpy(buf, raw, k);
        memcpy(buf + k, raw + k, len - k); /* the second read */
        parse(buf, len, max_vars, max_size, p);
        CHECK(same_parse(p, buf, full, raw), "split at %zu parses differently", k);
        if (p->ret >= 0)
            CHECK(vars_tile(p, buf), "split at %zu: vars do not tile the block", k);
        free(buf);
    }
    free(p);
}

/* Parses raw[0..len) from an exact buffer into *p and checks its splits. */
static int parse_checked(const char *raw, size_t len, size_t max_vars, size_t max_size,
                         parsed_t *p)
{
    char *buf = exact(raw, len);
    parse(buf, len, max_vars, max_size, p);
    /* rebase the slices onto raw so they stay valid after free */
    for (size_t i = 0; p->ret >= 0 && i < p->p.num_vars; i++) {
        p->vars[i].key.base = raw + (p->vars[i].key.base - buf);
        p->vars[i].value.base = raw + (p->vars[i].value.base - buf);
    }
    free(buf);
    check_splits(raw, len, max_vars, max_size, p);
    return p->ret;
}

/* ---- nginx's stock uwsgi_params ------------------------------------------ */

/*
 * /etc/nginx/uwsgi_params as Debian's nginx-common ships it, evaluated for
 * "GET /a%20b/?x=1&y=%2F" over TLS, then the client's headers as nginx adds
 * them (HTTP_ + upper case, '-' -> '_'). nginx sends CONTENT_TYPE and
 * CONTENT_LENGTH empty for a bodiless request (no if_not_empty on them).
 */
#define NGINX_PARAMS                                                          \
    {"QUERY_STRING", "x=1&y=%2F"}, {"REQUEST_METHOD", "GET"},                 \
        {"CONTENT_TYPE", ""}, {"CONTENT_LENGTH", ""},                         \
        {"REQUEST_URI", "/a%20b/?x=1&y=%2F"}, {"PATH_INFO", "/a b/"},         \
        {"DOCUMENT_ROOT", "/usr/share/nginx/html"},                           \
        {"SERVER_PROTOCOL", "HTTP/1.1"}, {"REQUEST_SCHEME", "https"},         \
        {"HTTPS", "on"}, {"REMOTE_ADDR", "203.0.113.7"},                      \
        {"REMOTE_PORT", "51234"}, {"SERVER_PORT", "443"},                     \
        {"SERVER_NAME", "example.com"}
#define NGINX_HEADERS                                                         \
    {"HTTP_HOST", "example.com"}, {"HTTP_USER_AGENT", "curl/8.5.0"},          \
        {"HTTP_ACCEPT", "*/*"}

static const kv_t nginx_get[] = {NGINX_PARAMS, NGINX_HEADERS, {NULL, NULL}};

static void test_nginx_packet(void)
{
    char *raw = xmalloc(BIG);
    parsed_t *p = new_parsed();
    size_t n = build(raw, nginx_get);
    size_t nv = count_kv(nginx_get);

    begin("nginx stock uwsgi_params packet");
    CHECK(n > 4, "writer failed");
    CHECK(parse_checked(raw, n, MAXV, HD_UWSGI_DEFAULT_BUFFER_SIZE, p) == (int)n,
          "ret %d, want %zu", p->ret, n);
    CHECK(p->p.modifier1 == 0 && p->p.modifier2 == 0 && p->p.datasize == n - 4,
          "header %u/%zu/%u", p->p.modifier1, p->p.datasize, p->p.modifier2);
    CHECK(p->p.num_vars == nv, "%zu vars, want %zu", p->p.num_vars, nv);
    for (size_t i = 0; i < nv && i < p->p.num_vars; i++) {
        CHECK(str_eq(p->vars[i].key, nginx_get[i].k) && str_eq(p->vars[i].value, nginx_get[i].v),
              "var %zu is not %s", i, nginx_get[i].k);
        const hd_str_t *v = hd_uwsgi_get(&p->p, nginx_get[i].k);
        CHECK(v != NULL && str_eq(*v, nginx_get[i].v), "get(%s)", nginx_get[i].k);
    }
    end();

    /* the body follows the head in the same read: it is not consumed */
    begin("nginx packet followed by its body");
    static const kv_t post[] = {{"REQUEST_METHOD", "POST"}, {"REQUEST_URI", "/upload"},
                                {"PATH_INFO", "/upload"},
                                {"CONTENT_TYPE", "application/x-www-form-urlencoded"},
                                {"CONTENT_LENGTH", "11"}, {"HTTP_CONTENT_LENGTH", "11"},
                                {NULL, NULL}};
    n = build(raw, post);
    memcpy(raw + n, "a=1&b=hello", 11);
    CHECK(parse_checked(raw, n + 11, MAXV, HD_UWSGI_DEFAULT_BUFFER_SIZE, p) == (int)n,
          "ret %d, want %zu", p->ret, n);
    CHECK(p->p.num_vars == 6, "%zu vars", p->p.num_vars);
    end();

    free(p);
    free(raw);
}

/* ---- valid packets -------------------------------------------------------- */

typedef struct {
    const char *name;
    kv_t vars[MAXKV];
} ok_case_t;

static const ok_case_t ok_cases[] = {
    {"one var", {{"A", "b"}}},
    {"empty value", {{"CONTENT_TYPE", ""}}},
    {"empty values everywhere", {{"A", ""}, {"B", ""}, {"C", ""}}},
    {"empty value last", {{"REQUEST_METHOD", "GET"}, {"QUERY_STRING", ""}}},
    {"duplicates kept in order", {{"HTTP_COOKIE", "a=1"}, {"HTTP_COOKIE", "b=2"}, {"X", "y"}}},
    {"edge key bytes", {{"!", "lowest"}, {"~", "highest"}, {"wsgi.url_scheme", "https"},
                        {"x-lower-Case_1", "v"}, {"<>?@[]^`{|}", "punct"}}},
    {"value bytes are opaque", {{"K", "a b\tc\x7f\x80\xff=;\r\n"}}},
};

/* A packet written byte by byte, independent of the writer. */
static const char hand_packet[] = "\0\x0c\0\0"          /* datasize 12 */
                                  "\x01\0A\x01\0b"      /* A=b */
                                  "\x02\0XY\0\0";       /* XY= */

static void test_ok_cases(void)
{
    char *raw = xmalloc(BIG);
    parsed_t *p = new_parsed();

    for (size_t c = 0; c < sizeof(ok_cases) / sizeof(ok_cases[0]); c++) {
        const ok_case_t *t = &ok_cases[c];
        size_t n = build(raw, t->vars), nv = count_kv(t->vars);
        begin(t->name);
        CHECK(parse_checked(raw, n, MAXV, HD_UWSGI_MAX_PACKET, p) == (int)n, "ret %d", p->ret);
        CHECK(p->p.num_vars == nv, "%zu vars, want %zu", p->p.num_vars, nv);
        for (size_t i = 0; i < nv && i < p->p.num_vars; i++)
            CHECK(str_eq(p->vars[i].key, t->vars[i].k) && str_eq(p->vars[i].value, t->vars[i].v),
                  "var %zu", i);
        end();
    }

    begin("hand-written packet (and the writer writes the same bytes)");
    size_t hn = sizeof(hand_packet) - 1;
    CHECK(parse_checked(hand_packet, hn, MAXV, 64, p) == (int)hn, "ret %d", p->ret);
    CHECK(p->p.num_vars == 2 && str_eq(p->vars[0].key, "A") && str_eq(p->vars[0].value, "b")
              && str_eq(p->vars[1].key, "XY") && str_eq(p->vars[1].value, ""),
          "vars");
    static const kv_t hand_kv[] = {{"A", "b"}, {"XY", ""}, {NULL, NULL}};
    CHECK(build(raw, hand_kv) == hn && memcmp(raw, hand_packet, hn) == 0, "writer bytes differ");
    end();

    begin("no vars (datasize 0)");
    CHECK(parse_checked("\0\0\0\0", 4, MAXV, 4, p) == 4 && p->p.num_vars == 0, "ret %d", p->ret);
    end();

    begin("modifier2 is recorded, not refused");
    CHECK(parse_checked("\0\0\0\x07", 4, MAXV, 64, p) == 4 && p->p.modifier2 == 7, "ret %d",
          p->ret);
    end();

    /* 13107 vars of 5 bytes ("K" = "") fill the 65535-byte block exactly. */
    begin("the largest packet: 13107 vars, 65539 bytes, max_size exactly");
    hd_uwsgi_var_t *many = xmalloc(13107 * sizeof(*many));
    for (size_t i = 0; i < 13107; i++)
        many[i] = (hd_uwsgi_var_t){{"K", 1}, {"", 0}};
    size_t n = hd_uwsgi_write_packet(raw, BIG, many, 13107);
    CHECK(n == HD_UWSGI_MAX_PACKET, "written %zu", n);
    char *buf = exact(raw, n);
    CHECK(parse(buf, n, 13107, n, p) == (int)n && p->p.num_vars == 13107, "ret %d", p->ret);
    CHECK(vars_tile(p, buf), "vars do not tile");
    CHECK(parse(buf, n, 13106, n, p) == HD_ERROR && p->status == 431, "one var short: %d/%d",
          p->ret, p->status);
    CHECK(parse(buf, n, 13107, n - 1, p) == HD_ERROR && p->status == 413, "one byte short: %d/%d",
          p->ret, p->status);
    CHECK(parse(buf, n - 1, 13107, n, p) == HD_AGAIN, "one byte missing: %d", p->ret);
    free(buf);
    free(many);
    end();

    begin("one var with a 65530-byte value");
    char *big = xmalloc(65530);
    memset(big, 'v', 65530);
    hd_uwsgi_var_t one = {{"K", 1}, {big, 65530}};
    n = hd_uwsgi_write_packet(raw, BIG, &one, 1);
    CHECK(n == HD_UWSGI_MAX_PACKET, "written %zu", n);
    buf = exact(raw, n);
    CHECK(parse(buf, n, 1, HD_UWSGI_MAX_PACKET, p) == (int)n && p->vars[0].value.len == 65530,
          "ret %d", p->ret);
    free(buf);
    free(big);
    end();

    begin("max_size: exactly the packet, one less, the default buffer size");
    n = build(raw, nginx_get);
    buf = exact(raw, n);
    CHECK(parse(buf, n, MAXV, n, p) == (int)n, "exact: %d", p->ret);
    CHECK(parse(buf, n, MAXV, n - 1, p) == HD_ERROR && p->status == 413 && p->p.datasize == n - 4,
          "one less: %d/%d", p->ret, p->status);
    CHECK(parse(buf, 4, MAXV, n - 1, p) == HD_ERROR && p->status == 413,
          "refused from the 4-byte header alone: %d/%d", p->ret, p->status);
    free(buf);
    end();

    begin("max_vars: exactly, one less, zero");
    n = build(raw, nginx_get);
    size_t nv = count_kv(nginx_get);
    buf = exact(raw, n);
    CHECK(parse(buf, n, nv, BIG, p) == (int)n, "exact: %d", p->ret);
    CHECK(parse(buf, n, nv - 1, BIG, p) == HD_ERROR && p->status == 431, "one less: %d/%d",
          p->ret, p->status);
    CHECK(parse(buf, n, 0, BIG, p) == HD_ERROR && p->status == 431, "zero: %d/%d", p->ret,
          p->status);
    CHECK(parse("\0\0\0\0", 4, 0, BIG, p) == 4, "zero vars with max_vars 0: %d", p->ret);
    free(buf);
    end();

    free(p);
    free(raw);
}

/* ---- invalid packets ------------------------------------------------------ */

#define RAW(s) .raw = s, .len = sizeof(s) - 1
#define ERR(code, msg) .status = code, .error = msg

typedef struct {
    const char *name;
    const char *raw;
    size_t len;
    int status;
    const char *error; /* a substring of p->error */
    size_t max_vars, max_size; /* 0: MAXV, HD_UWSGI_MAX_PACKET */
} err_case_t;

static const err_case_t err_cases[] = {
    {"modifier1 1", RAW("\x01\0\0\0"), ERR(501, "modifier1")},
    {"modifier1 30 (uWSGI PATH_INFO management)", RAW("\x1e\x05\0\0\x01\0A\0\0"),
     ERR(501, "modifier1")},
    {"modifier1 255", RAW("\xff"), ERR(501, "modifier1")},
    {"larger than max_size", RAW("\0\x05\0\0\x01\0A\0\0"), ERR(413, "buffer size"), .max_size = 8},
    {"datasize 65535 over the 4096 default", RAW("\0\xff\xff\0"), ERR(413, "buffer size"),
     .max_size = 4096},
    {"key length overruns by 1", RAW("\0\x05\0\0\x04\0ABC"), ERR(400, "key length overruns")},
    {"key length overruns by 1 (bytes present)", RAW("\0\x05\0\0\x04\0ABCD\0\0"),
     ERR(400, "key length overruns")},
    {"key length 0xffff", RAW("\0\x05\0\0\xff\xff" "ABC"), ERR(400, "key length overruns")},
    {"value length overruns by 1", RAW("\0\x06\0\0\x01\0A\x02\0b"),
     ERR(400, "value length overruns")},
    {"value length overruns by 1 (bytes present)", RAW("\0\x06\0\0\x01\0A\x02\0bc\0\0"),
     ERR(400, "value length overruns")},
    {"value length 0xffff", RAW("\0\x05\0\0\x01\0A\xff\xff"), ERR(400, "value length overruns")},
    {"second var overruns", RAW("\0\x0b\0\0\x01\0A\x01\0b\x01\0C\x01\0"),
     ERR(400, "value length overruns")},
    {"key length cut (1 byte left)", RAW("\0\x01\0\0\x01"), ERR(400, "key length cut")},
    {"key length cut after a var", RAW("\0\x07\0\0\x01\0A\x01\0b\x01"), ERR(400, "key length cut")},
    {"value length missing", RAW("\0\x03\0\0\x01\0A"), ERR(400, "value length cut")},
    {"value length cut (1 byte left)", RAW("\0\x04\0\0\x01\0A\0"), ERR(400, "value length cut")},
    {"empty key", RAW("\0\x04\0\0\0\0\0\0"), ERR(400, "empty key")},
    {"empty key after a var", RAW("\0\x0a\0\0\x01\0A\x01\0b\0\0\0\0"), ERR(400, "empty key")},
    {"key with a space", RAW("\0\x06\0\0\x02\0A \0\0"), ERR(400, "key byte")},
    {"key with '='", RAW("\0\x06\0\0\x02\0A=\0\0"), ERR(400, "key byte")},
    {"key with NUL", RAW("\0\x06\0\0\x02\0A\0\0\0"), ERR(400, "key byte")},
    {"key with LF", RAW("\0\x06\0\0\x02\0A\n\0\0"), ERR(400, "key byte")},
    {"key with DEL", RAW("\0\x06\0\0\x02\0A\x7f\0\0"), ERR(400, "key byte")},
    {"key with 0x80", RAW("\0\x06\0\0\x02\0A\x80\0\0"), ERR(400, "key byte")},
    {"key with 0xff", RAW("\0\x06\0\0\x02\0\xff" "A\0\0"), ERR(400, "key byte")},
    {"more vars than max_vars", RAW("\0\x0f\0\0\x01\0A\0\0\x01\0B\0\0\x01\0C\0\0"),
     ERR(431, "more vars"), .max_vars = 2},
};

static void test_err_cases(void)
{
    parsed_t *p = new_parsed();

    for (size_t c = 0; c < sizeof(err_cases) / sizeof(err_cases[0]); c++) {
        const err_case_t *t = &err_cases[c];
        begin(t->name);
        parse_checked(t->raw, t->len, t->max_vars ? t->max_vars : MAXV,
                      t->max_size ? t->max_size : HD_UWSGI_MAX_PACKET, p);
        CHECK(p->ret == HD_ERROR && p->status == t->status, "got %d/%d, want %d", p->ret,
              p->status, t->status);
        CHECK(p->p.error != NULL && strstr(p->p.error, t->error) != NULL, "error \"%s\"",
              p->p.error ? p->p.error : "(null)");
        end();
    }

    begin("every modifier1 but 0 is 501 and named");
    for (int m = 1; m < 256; m++) {
        char raw[4] = {(char)m, 0, 0, 0};
        char *buf = exact(raw, 1);
        parse(buf, 1, MAXV, BIG, p);
        CHECK(p->ret == HD_ERROR && p->status == 501 && p->p.modifier1 == m, "modifier1 %d: %d/%d",
              m, p->ret, p->status);
        free(buf);
        buf = exact(raw, 4);
        parse(buf, 4, MAXV, BIG, p);
        CHECK(p->ret == HD_ERROR && p->status == 501, "modifier1 %d, 4 bytes", m);
        free(buf);
    }
    end();

    begin("the empty buffer is HD_AGAIN");
    CHECK(parse("", 0, MAXV, BIG, p) == HD_AGAIN, "%d", p->ret);
    end();

    free(p);
}

/* ---- overruns at every position ------------------------------------------- */

/*
 * For the nginx packet, at every var and for both its key length and its
 * value length: the length set to one more than what is left of the block
 * must be refused as an overrun whatever follows; the length set to exactly
 * what is left, to 0xffff, and to the original +1 / -1, must give an error or
 * a parse whose vars tile the block, with every prefix consistent. Then
 * datasize one less and one more. ASan checks no byte past the buffer is read.
 */
static void test_overruns(void)
{
    char *raw = xmalloc(BIG), *mut = xmalloc(BIG);
    parsed_t *p = new_parsed(), *q = new_parsed();
    size_t n = build(raw, nginx_get);
    char *buf = exact(raw, n);

    parse(buf, n, MAXV, BIG, q);
    begin("overrun sweep: lengths past the block at every var");
    for (size_t i = 0; i < q->p.num_vars; i++) {
        for (int field = 0; field < 2; field++) {
            hd_str_t s = field == 0 ? q->vars[i].key : q->vars[i].value;
            size_t lenpos = (size_t)(s.base - buf) - 2, left = n - (lenpos + 2);
            size_t tries[] = {left + 1, left, 0xffff, s.len + 1, s.len ? s.len - 1 : 0};
            for (size_t t = 0; t < sizeof(tries) / sizeof(tries[0]); t++) {
                if (tries[t] > 0xffff)
                    continue;
                memcpy(mut, raw, n);
                mut[lenpos] = (char)(tries[t] & 0xff);
                mut[lenpos + 1] = (char)(tries[t] >> 8);
                size_t before = (size_t)case_failed;
                parse_checked(mut, n, MAXV, BIG, p);
                if (tries[t] > left) {
                    CHECK(p->ret == HD_ERROR && p->status == 400 && strstr(p->p.error, "overrun"),
                          "var %zu %s length %zu (left %zu): %d/%d", i, field ? "value" : "key",
                          tries[t], left, p->ret, p->status);
                } else {
                    CHECK(p->ret == HD_ERROR || p->ret == (int)n,
                          "var %zu %s length %zu: %d", i, field ? "value" : "key", tries[t],
                          p->ret);
                }
                if ((size_t)case_failed != before)
                    break;
            }
        }
    }
    end();

    begin("datasize one less and one more");
    memcpy(mut, raw, n);
    mut[1] = (char)((n - 5) & 0xff), mut[2] = (char)((n - 5) >> 8);
    parse_checked(mut, n, MAXV, BIG, p);
    CHECK(p->ret == HD_ERROR && p->status == 400, "one less: %d/%d", p->ret, p->status);
    memcpy(mut, raw, n);
    mut[1] = (char)((n - 3) & 0xff), mut[2] = (char)((n - 3) >> 8);
    mut[n] = 'x';
    parse_checked(mut, n + 1, MAXV, BIG, p);
    CHECK(p->ret == HD_ERROR && p->status == 400 && strstr(p->p.error, "key length cut"),
          "one more: %d/%d", p->ret, p->status);
    /* the block cannot hold a key length, so this is known without the byte */
    char *short_buf = exact(mut, n);
    CHECK(parse(short_buf, n, MAXV, BIG, p) == HD_ERROR && p->status == 400,
          "one more, byte not in: %d", p->ret);
    free(short_buf);
    end();

    /* Every byte replaced by a few values: never a crash, never a bad slice. */
    begin("single-byte mutations at every position");
    static const int subst[] = {0x00, 0x01, 0x20, 0x3d, 0x7f, 0x80, 0xff};
    for (size_t pos = 0; pos < n; pos++) {
        for (size_t s = 0; s < sizeof(subst) / sizeof(subst[0]); s++) {
            memcpy(mut, raw, n);
            mut[pos] = (char)subst[s];
            char *m = exact(mut, n);
            parse(m, n, MAXV, BIG, p);
            CHECK(p->ret == HD_AGAIN || p->ret == HD_ERROR || vars_tile(p, m),
                  "byte %zu = %02x: %d", pos, subst[s], p->ret);
            CHECK(p->ret != HD_ERROR || (p->p.error != NULL && p->status >= 400),
                  "byte %zu = %02x: error without a reason", pos, subst[s]);
            free(m);
        }
    }
    end();

    free(buf);
    free(q);
    free(p);
    free(mut);
    free(raw);
}

/* ---- hd_uwsgi_get ---------------------------------------------------------- */

static void test_get(void)
{
    static const kv_t kv[] = {{"PATH_INFO", "/first"}, {"X", "1"}, {"PATH_INFO", "/last"},
                              {"PATH", "p"}, {NULL, NULL}};
    char *raw = xmalloc(BIG);
    parsed_t *p = new_parsed();
    size_t n = build(raw, kv);
    const hd_str_t *v;

    begin("hd_uwsgi_get: last wins, exact and case-sensitive");
    CHECK(parse(raw, n, MAXV, BIG, p) == (int)n, "parse %d", p->ret);
    v = hd_uwsgi_get(&p->p, "PATH_INFO");
    CHECK(v != NULL && str_eq(*v, "/last"), "PATH_INFO");
    v = hd_uwsgi_get(&p->p, "PATH");
    CHECK(v != NULL && str_eq(*v, "p"), "PATH");
    CHECK(hd_uwsgi_get(&p->p, "path_info") == NULL, "case folded");
    CHECK(hd_uwsgi_get(&p->p, "PATH_INF") == NULL, "prefix matched");
    CHECK(hd_uwsgi_get(&p->p, "PATH_INFOX") == NULL, "longer key matched");
    CHECK(hd_uwsgi_get(&p->p, "") == NULL, "empty key matched");
    end();

    free(p);
    free(raw);
}

/* ---- hd_uwsgi_to_request ---------------------------------------------------- */

#define MAXH 16

typedef struct {
    const char *name;
    kv_t vars[MAXKV];
    int status; /* 0: HD_OK */
    const char *error; /* on error: a substring of p->error */
    const char *method, *target, *path, *query, *scheme;
    int64_t content_length; /* 0 stands for -1 unless has_cl */
    int has_cl;
    size_t num_headers;
    const char *headers[6][2];
    size_t max_headers; /* 0: MAXH */
} req_case_t;

#define MIN_GET {"REQUEST_METHOD", "GET"}, {"REQUEST_URI", "/"}

static const req_case_t req_cases[] = {
    {"nginx stock params over TLS", {NGINX_PARAMS, NGINX_HEADERS}, .method = "GET",
     .target = "/a%20b/?x=1&y=%2F", .path = "/a b/", .query = "x=1&y=%2F", .scheme = "https",
     .num_headers = 3,
     .headers = {{"HOST", "example.com"}, {"USER_AGENT", "curl/8.5.0"}, {"ACCEPT", "*/*"}}},
    {"POST with a body",
     {{"REQUEST_METHOD", "POST"}, {"REQUEST_URI", "/u"}, {"PATH_INFO", "/u"},
      {"CONTENT_TYPE", "text/plain"}, {"CONTENT_LENGTH", "5"}, {"HTTP_CONTENT_TYPE", "text/plain"},
      {"HTTP_CONTENT_LENGTH", "5"}},
     .method = "POST", .target = "/u", .path = "/u", .query = "", .scheme = "http",
     .content_length = 5, .has_cl = 1, .num_headers = 2,
     .headers = {{"CONTENT_TYPE", "text/plain"}, {"CONTENT_LENGTH", "5"}}},
    {"extension method", {{"REQUEST_METHOD", "PROPFIND"}, {"PATH_INFO", "/dav"}},
     .method = "PROPFIND", .target = "/dav", .path = "/dav", .query = "", .scheme = "http"},
    {"no PATH_INFO: path and query from REQUEST_URI",
     {{"REQUEST_METHOD", "GET"}, {"REQUEST_URI", "/p%41th?q=1#frag"}}, .method = "GET",
     .target = "/p%41th?q=1#frag", .path = "/p%41th", .query = "q=1", .scheme = "http"},
    {"no PATH_INFO, no query", {MIN_GET}, .method = "GET", .target = "/", .path = "/", .query = "",
     .scheme = "http"},
    {"QUERY_STRING wins over REQUEST_URI's query",
     {{"REQUEST_METHOD", "GET"}, {"REQUEST_URI", "/p?a=1"}, {"QUERY_STRING", "b=2"}},
     .method = "GET", .target = "/p?a=1", .path = "/p", .query = "b=2", .scheme = "http"},
    {"empty QUERY_STRING wins too",
     {{"REQUEST_METHOD", "GET"}, {"REQUEST_URI", "/p?a=1"}, {"QUERY_STRING", ""}},
     .method = "GET", .target = "/p?a=1", .path = "/p", .query = "", .scheme = "http"},
    {"PATH_INFO only (no REQUEST_URI)", {{"REQUEST_METHOD", "GET"}, {"PATH_INFO", "/x y"}},
     .method = "GET", .target = "/x y", .path = "/x y", .query = "", .scheme = "http"},
    {"empty REQUEST_URI falls back to PATH_INFO",
     {{"REQUEST_METHOD", "GET"}, {"REQUEST_URI", ""}, {"PATH_INFO", "/z"}}, .method = "GET",
     .target = "/z", .path = "/z", .query = "", .scheme = "http"},
    {"SCRIPT_NAME mount: empty PATH_INFO",
     {{"REQUEST_METHOD", "GET"}, {"REQUEST_URI", "/app"}, {"SCRIPT_NAME", "/app"},
      {"PATH_INFO", ""}},
     .method = "GET", .target = "/app", .path = "", .query = "", .scheme = "http"},
    {"a later param overrides (last wins)",
     {{"REQUEST_METHOD", "GET"}, {"REQUEST_URI", "/a/b"}, {"PATH_INFO", "/a/b"},
      {"PATH_INFO", "/b"}},
     .method = "GET", .target = "/a/b", .path = "/b", .query = "", .scheme = "http"},
    {"SERVER_PROTOCOL HTTP/2.0 is fine", {MIN_GET, {"SERVER_PROTOCOL", "HTTP/2.0"}},
     .method = "GET", .target = "/", .path = "/", .query = "", .scheme = "http"},
    {"SERVER_PROTOCOL HTTP/3 and empty are fine",
     {MIN_GET, {"SERVER_PROTOCOL", ""}, {"SERVER_PROTOCOL", "HTTP/3"}}, .method = "GET",
     .target = "/", .path = "/", .query = "", .scheme = "http"},
    {"SERVER_PROTOCOL not HTTP", {MIN_GET, {"SERVER_PROTOCOL", "SPDY/3"}},
     ERR(400, "SERVER_PROTOCOL")},
    {"SERVER_PROTOCOL HTTP/1.", {MIN_GET, {"SERVER_PROTOCOL", "HTTP/1."}},
     ERR(400, "SERVER_PROTOCOL")},
    {"SERVER_PROTOCOL HTTP/1.1 with a space", {MIN_GET, {"SERVER_PROTOCOL", "HTTP/1.1 "}},
     ERR(400, "SERVER_PROTOCOL")},

    /* CONTENT_LENGTH */
    {"CONTENT_LENGTH empty is absent", {MIN_GET, {"CONTENT_LENGTH", ""}}, .method = "GET",
     .target = "/", .path = "/", .query = "", .scheme = "http"},
    {"CONTENT_LENGTH 0", {MIN_GET, {"CONTENT_LENGTH", "0"}}, .method = "GET", .target = "/",
     .path = "/", .query = "", .scheme = "http", .has_cl = 1},
    {"CONTENT_LENGTH leading zeros", {MIN_GET, {"CONTENT_LENGTH", "007"}}, .method = "GET",
     .target = "/", .path = "/", .query = "", .scheme = "http", .content_length = 7, .has_cl = 1},
    {"CONTENT_LENGTH INT64_MAX", {MIN_GET, {"CONTENT_LENGTH", "9223372036854775807"}},
     .method = "GET", .target = "/", .path = "/", .query = "", .scheme = "http",
     .content_length = INT64_MAX, .has_cl = 1},
    {"CONTENT_LENGTH same twice", {MIN_GET, {"CONTENT_LENGTH", "3"}, {"CONTENT_LENGTH", "3"}},
     .method = "GET", .target = "/", .path = "/", .query = "", .scheme = "http",
     .content_length = 3, .has_cl = 1},
    {"CONTENT_LENGTH INT64_MAX+1", {MIN_GET, {"CONTENT_LENGTH", "9223372036854775808"}},
     ERR(400, "CONTENT_LENGTH")},
    {"CONTENT_LENGTH 20 digits", {MIN_GET, {"CONTENT_LENGTH", "99999999999999999999"}},
     ERR(400, "CONTENT_LENGTH")},
    {"CONTENT_LENGTH -1", {MIN_GET, {"CONTENT_LENGTH", "-1"}}, ERR(400, "CONTENT_LENGTH")},
    {"CONTENT_LENGTH +5", {MIN_GET, {"CONTENT_LENGTH", "+5"}}, ERR(400, "CONTENT_LENGTH")},
    {"CONTENT_LENGTH leading space", {MIN_GET, {"CONTENT_LENGTH", " 5"}},
     ERR(400, "CONTENT_LENGTH")},
    {"CONTENT_LENGTH trailing space", {MIN_GET, {"CONTENT_LENGTH", "5 "}},
     ERR(400, "CONTENT_LENGTH")},
    {"CONTENT_LENGTH hex", {MIN_GET, {"CONTENT_LENGTH", "0x10"}}, ERR(400, "CONTENT_LENGTH")},
    {"CONTENT_LENGTH exponent", {MIN_GET, {"CONTENT_LENGTH", "1e3"}}, ERR(400, "CONTENT_LENGTH")},
    {"CONTENT_LENGTH list", {MIN_GET, {"CONTENT_LENGTH", "5, 5"}}, ERR(400, "CONTENT_LENGTH")},
    {"CONTENT_LENGTH two values", {MIN_GET, {"CONTENT_LENGTH", "5"}, {"CONTENT_LENGTH", "6"}},
     ERR(400, "two different CONTENT_LENGTH")},
    {"CONTENT_LENGTH empty then a value",
     {MIN_GET, {"CONTENT_LENGTH", ""}, {"CONTENT_LENGTH", "6"}},
     ERR(400, "two different CONTENT_LENGTH")},

    /* method, target */
    {"no REQUEST_METHOD", {{"REQUEST_URI", "/"}}, ERR(400, "REQUEST_METHOD")},
    {"empty REQUEST_METHOD", {{"REQUEST_METHOD", ""}, {"REQUEST_URI", "/"}},
     ERR(400, "REQUEST_METHOD")},
    {"REQUEST_METHOD with a space", {{"REQUEST_METHOD", "GE T"}, {"REQUEST_URI", "/"}},
     ERR(400, "REQUEST_METHOD")},
    {"REQUEST_METHOD with a slash", {{"REQUEST_METHOD", "GET/"}, {"REQUEST_URI", "/"}},
     ERR(400, "REQUEST_METHOD")},
    {"neither REQUEST_URI nor PATH_INFO", {{"REQUEST_METHOD", "GET"}}, ERR(400, "neither")},
    {"REQUEST_URI with a space", {{"REQUEST_METHOD", "GET"}, {"REQUEST_URI", "/a b"}},
     ERR(400, "REQUEST_URI")},
    {"REQUEST_URI with LF", {{"REQUEST_METHOD", "GET"}, {"REQUEST_URI", "/a\nb"}},
     ERR(400, "REQUEST_URI")},
    {"REQUEST_URI with DEL", {{"REQUEST_METHOD", "GET"}, {"REQUEST_URI", "/a\x7f"}},
     ERR(400, "REQUEST_URI")},
    {"REQUEST_URI with obs-text", {{"REQUEST_METHOD", "GET"}, {"REQUEST_URI", "/caf\xe9"}},
     .method = "GET", .target = "/caf\xe9", .path = "/caf\xe9", .query = "", .scheme = "http"},

    /* scheme */
    {"HTTPS=on", {MIN_GET, {"HTTPS", "on"}}, .method = "GET", .target = "/", .path = "/",
     .query = "", .scheme = "https"},
    {"HTTPS=ON", {MIN_GET, {"HTTPS", "ON"}}, .method = "GET", .target = "/", .path = "/",
     .query = "", .scheme = "https"},
    {"HTTPS=1", {MIN_GET, {"HTTPS", "1"}}, .method = "GET", .target = "/", .path = "/",
     .query = "", .scheme = "https"},
    {"HTTPS=off", {MIN_GET, {"HTTPS", "off"}}, .method = "GET", .target = "/", .path = "/",
     .query = "", .scheme = "http"},
    {"HTTPS empty", {MIN_GET, {"HTTPS", ""}}, .method = "GET", .target = "/", .path = "/",
     .query = "", .scheme = "http"},
    {"HTTPS=onx", {MIN_GET, {"HTTPS", "onx"}}, .method = "GET", .target = "/", .path = "/",
     .query = "", .scheme = "http"},
    {"REQUEST_SCHEME alone does not set the scheme", {MIN_GET, {"REQUEST_SCHEME", "https"}},
     .method = "GET", .target = "/", .path = "/", .query = "", .scheme = "http"},
    {"X-Forwarded-Proto is not trusted", {MIN_GET, {"HTTP_X_FORWARDED_PROTO", "https"}},
     .method = "GET", .target = "/", .path = "/", .query = "", .scheme = "http",
     .num_headers = 1, .headers = {{"X_FORWARDED_PROTO", "https"}}},
    {"UWSGI_SCHEME=https", {MIN_GET, {"UWSGI_SCHEME", "https"}}, .method = "GET", .target = "/",
     .path = "/", .query = "", .scheme = "https"},
    {"UWSGI_SCHEME wins over HTTPS", {MIN_GET, {"HTTPS", "on"}, {"UWSGI_SCHEME", "http"}},
     .method = "GET", .target = "/", .path = "/", .query = "", .scheme = "http"},
    {"empty UWSGI_SCHEME is ignored", {MIN_GET, {"HTTPS", "on"}, {"UWSGI_SCHEME", ""}},
     .method = "GET", .target = "/", .path = "/", .query = "", .scheme = "https"},
    {"UWSGI_SCHEME not a scheme", {MIN_GET, {"UWSGI_SCHEME", "ht tp"}}, ERR(400, "UWSGI_SCHEME")},
    {"UWSGI_SCHEME starting with a digit", {MIN_GET, {"UWSGI_SCHEME", "1http"}},
     ERR(400, "UWSGI_SCHEME")},

    /* headers */
    {"duplicate headers kept in order",
     {MIN_GET, {"HTTP_COOKIE", "a=1"}, {"HTTP_X", "v"}, {"HTTP_COOKIE", "b=2"}}, .method = "GET",
     .target = "/", .path = "/", .query = "", .scheme = "http", .num_headers = 3,
     .headers = {{"COOKIE", "a=1"}, {"X", "v"}, {"COOKIE", "b=2"}}},
    {"header values: empty, HTAB, obs-text",
     {MIN_GET, {"HTTP_A", ""}, {"HTTP_B", "x\ty"}, {"HTTP_C", "caf\xe9"}}, .method = "GET",
     .target = "/", .path = "/", .query = "", .scheme = "http", .num_headers = 3,
     .headers = {{"A", ""}, {"B", "x\ty"}, {"C", "caf\xe9"}}},
    {"not headers: HTTPS, HTTP, CONTENT_TYPE, lower-case http_x",
     {MIN_GET, {"HTTPS", "on"}, {"HTTP", "x"}, {"CONTENT_TYPE", "a/b"}, {"http_x", "y"}},
     .method = "GET", .target = "/", .path = "/", .query = "", .scheme = "https"},
    {"exactly max headers", {MIN_GET, {"HTTP_A", "1"}, {"HTTP_B", "2"}}, .method = "GET",
     .target = "/", .path = "/", .query = "", .scheme = "http", .num_headers = 2,
     .headers = {{"A", "1"}, {"B", "2"}}, .max_headers = 2},
    {"more than max headers", {MIN_GET, {"HTTP_A", "1"}, {"HTTP_B", "2"}, {"HTTP_C", "3"}},
     ERR(431, "more HTTP_"), .max_headers = 2},
    {"HTTP_ with an empty name", {MIN_GET, {"HTTP_", "x"}}, ERR(400, "token")},
    {"HTTP_ name not a token", {MIN_GET, {"HTTP_A(B)", "x"}}, ERR(400, "token")},
    {"HTTP_ value with LF", {MIN_GET, {"HTTP_A", "x\ny"}}, ERR(400, "control")},
    {"HTTP_ value with CR", {MIN_GET, {"HTTP_A", "x\r"}}, ERR(400, "control")},
    {"HTTP_ value with DEL", {MIN_GET, {"HTTP_A", "\x7f"}}, ERR(400, "control")},
};

static void test_req_cases(void)
{
    char *raw = xmalloc(BIG);
    parsed_t *p = new_parsed();
    hd_http_header_t hdrs[MAXH];
    hd_http_request_t req;

    for (size_t c = 0; c < sizeof(req_cases) / sizeof(req_cases[0]); c++) {
        const req_case_t *t = &req_cases[c];
        size_t n = build(raw, t->vars);
        char *buf = exact(raw, n);
        int status = 0;
        begin(t->name);
        CHECK(parse(buf, n, MAXV, BIG, p) == (int)n, "parse: %d", p->ret);
        memset(&req, 0xa5, sizeof(req));
        int rc = hd_uwsgi_to_request(&p->p, &req, hdrs, t->max_headers ? t->max_headers : MAXH,
                                     &status);
        if (t->status != 0) {
            CHECK(rc == HD_ERROR && status == t->status, "got %d/%d, want %d", rc, status,
                  t->status);
            CHECK(rc != HD_ERROR || (p->p.error != NULL && strstr(p->p.error, t->error)),
                  "error \"%s\"", p->p.error ? p->p.error : "(null)");
        } else {
            CHECK(rc == HD_OK, "got %d/%d (%s)", rc, status, p->p.error ? p->p.error : "");
            if (rc == HD_OK) {
                CHECK(str_eq(req.method, t->method), "method %.*s", (int)req.method.len,
                      req.method.base);
                CHECK(str_eq(req.target, t->target), "target %.*s", (int)req.target.len,
                      req.target.base);
                CHECK(str_eq(req.path, t->path), "path %.*s", (int)req.path.len, req.path.base);
                CHECK(str_eq(req.query, t->query), "query %.*s", (int)req.query.len,
                      req.query.base);
                int64_t cl = t->has_cl ? t->content_length : -1;
                CHECK(req.content_length == cl, "content_length %lld, want %lld",
                      (long long)req.content_length, (long long)cl);
                CHECK(req.minor_version == 0 && !req.keep_alive && !req.chunked
                          && !req.expect_continue,
                      "hop facts %d/%d/%d/%d", req.minor_version, req.keep_alive, req.chunked,
                      req.expect_continue);
                CHECK(req.headers == hdrs && req.num_headers == t->num_headers, "%zu headers",
                      req.num_headers);
                for (size_t i = 0; i < t->num_headers && i < req.num_headers; i++)
                    CHECK(str_eq(hdrs[i].name, t->headers[i][0])
                              && str_eq(hdrs[i].value, t->headers[i][1]),
                          "header %zu: %.*s", i, (int)hdrs[i].name.len, hdrs[i].name.base);
                hd_str_t sc = hd_uwsgi_url_scheme(&p->p);
                CHECK(str_eq(sc, t->scheme), "scheme %.*s, want %s", (int)sc.len, sc.base,
                      t->scheme);
            }
        }
        free(buf);
        end();
    }

    /* Each stock param, alone over the minimum, is accepted and left as a var. */
    begin("each nginx stock param works on its own");
    static const kv_t stock[] = {NGINX_PARAMS, {NULL, NULL}};
    for (size_t i = 0; i < count_kv(stock); i++) {
        kv_t kv[] = {MIN_GET, stock[i], {NULL, NULL}};
        size_t n = build(raw, kv);
        int status = 0;
        CHECK(parse(raw, n, MAXV, BIG, p) == (int)n, "%s: parse", stock[i].k);
        CHECK(hd_uwsgi_to_request(&p->p, &req, hdrs, MAXH, &status) == HD_OK, "%s: %d (%s)",
              stock[i].k, status, p->p.error ? p->p.error : "");
        const hd_str_t *v = hd_uwsgi_get(&p->p, stock[i].k);
        CHECK(v != NULL && str_eq(*v, stock[i].v), "%s: get", stock[i].k);
        CHECK(req.num_headers == 0, "%s became a header", stock[i].k);
    }
    end();

    begin("to_request slices point into the packet");
    {
        size_t n = build(raw, nginx_get);
        char *buf = exact(raw, n);
        int status;
        parse(buf, n, MAXV, BIG, p);
        CHECK(hd_uwsgi_to_request(&p->p, &req, hdrs, MAXH, &status) == HD_OK, "rc");
        hd_str_t s[] = {req.method, req.target, req.path, req.query, hdrs[0].name, hdrs[0].value};
        for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++)
            CHECK(s[i].base >= buf + 4 && s[i].base + s[i].len <= buf + n, "slice %zu outside",
                  i);
        free(buf);
    }
    end();

    free(p);
    free(raw);
}

/* ---- the writer ------------------------------------------------------------- */

static void test_writer(void)
{
    char *out = xmalloc(BIG);
    static const hd_uwsgi_var_t ab = {{"A", 1}, {"b", 1}};

    begin("writer: exact capacity, every smaller capacity refused");
    CHECK(hd_uwsgi_write_packet(out, 10, &ab, 1) == 10
              && memcmp(out, "\0\x06\0\0\x01\0A\x01\0b", 10) == 0,
          "bytes");
    for (size_t cap = 0; cap < 10; cap++)
        CHECK(hd_uwsgi_write_packet(out, cap, &ab, 1) == 0, "cap %zu accepted", cap);
    CHECK(hd_uwsgi_write_packet(out, 4, NULL, 0) == 4 && memcmp(out, "\0\0\0\0", 4) == 0,
          "no vars");
    end();

    begin("writer: lengths over 65535 refused");
    char *big = xmalloc(70000);
    memset(big, 'x', 70000);
    hd_uwsgi_var_t v = {{big, 65536}, {"", 0}};
    CHECK(hd_uwsgi_write_packet(out, BIG, &v, 1) == 0, "key of 65536");
    v = (hd_uwsgi_var_t){{"K", 1}, {big, 65536}};
    CHECK(hd_uwsgi_write_packet(out, BIG, &v, 1) == 0, "value of 65536");
    v = (hd_uwsgi_var_t){{"K", 1}, {big, 65531}};
    CHECK(hd_uwsgi_write_packet(out, BIG, &v, 1) == 0, "datasize 65536");
    v = (hd_uwsgi_var_t){{"K", 1}, {big, 65530}};
    CHECK(hd_uwsgi_write_packet(out, BIG, &v, 1) == HD_UWSGI_MAX_PACKET, "datasize 65535");
    free(big);
    end();

    free(out);
}

/* ---- random round trips ------------------------------------------------------ */

static uint64_t rng = 0x9e3779b97f4a7c15u;

static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

static void test_random(void)
{
    char *raw = xmalloc(BIG), *store = xmalloc(BIG);
    parsed_t *p = new_parsed();
    hd_uwsgi_var_t vars[64];

    begin("random var sets: write, parse, same vars; every split");
    for (int iter = 0; iter < 300; iter++) {
        size_t n = rnd(40), used = 0;
        for (size_t i = 0; i < n; i++) {
            size_t kl = 1 + rnd(20), vl = rnd(iter % 10 == 0 ? 600 : 30);
            char *k = store + used, *val = k + kl;
            for (size_t j = 0; j < kl; j++) {
                char c;
                do
                    c = (char)(0x21 + rnd(0x7f - 0x21));
                while (c == '=');
                k[j] = c;
            }
            for (size_t j = 0; j < vl; j++)
                val[j] = (char)rnd(256);
            used += kl + vl;
            vars[i] = (hd_uwsgi_var_t){{k, kl}, {val, vl}};
        }
        size_t len = hd_uwsgi_write_packet(raw, BIG, vars, n);
        CHECK(len >= 4, "iter %d: writer", iter);
        parse_checked(raw, len, MAXV, BIG, p);
        CHECK(p->ret == (int)len && p->p.num_vars == n, "iter %d: %d", iter, p->ret);
        for (size_t i = 0; p->ret > 0 && i < n; i++)
            CHECK(p->vars[i].key.len == vars[i].key.len
                      && memcmp(p->vars[i].key.base, vars[i].key.base, vars[i].key.len) == 0
                      && p->vars[i].value.len == vars[i].value.len
                      && (vars[i].value.len == 0
                          || memcmp(p->vars[i].value.base, vars[i].value.base, vars[i].value.len)
                                 == 0),
                  "iter %d: var %zu differs", iter, i);
        if (case_failed)
            break;
    }
    end();

    free(p);
    free(store);
    free(raw);
}

/* ---- seeds for the fuzzer ----------------------------------------------------- */

static int write_file(const char *dir, const char *name, const char *buf, size_t len)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(buf, 1, len, f) != len || fclose(f) != 0) {
        fprintf(stderr, "test_uwsgi: writing %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

static int write_seeds(const char *dir)
{
    char *raw = xmalloc(BIG);
    int rc = 0;
    size_t n;
    static const kv_t post[] = {{"REQUEST_METHOD", "POST"}, {"REQUEST_URI", "/u?a=1"},
                                {"PATH_INFO", "/u"}, {"QUERY_STRING", "a=1"},
                                {"CONTENT_TYPE", "text/plain"}, {"CONTENT_LENGTH", "5"},
                                {"UWSGI_SCHEME", "https"}, {"HTTP_COOKIE", "a=1"},
                                {"HTTP_COOKIE", "b=2"}, {NULL, NULL}};
    static const kv_t odd[] = {{"REQUEST_METHOD", "GET"}, {"PATH_INFO", ""},
                               {"SERVER_PROTOCOL", "HTTP/2.0"}, {"HTTPS", "1"},
                               {"CONTENT_LENGTH", "007"}, {"HTTP_X", "a\tb"}, {NULL, NULL}};

    n = build(raw, nginx_get);
    rc |= write_file(dir, "nginx-get", raw, n);
    n = build(raw, post);
    memcpy(raw + n, "hello", 5);
    rc |= write_file(dir, "post-with-body", raw, n + 5);
    n = build(raw, odd);
    rc |= write_file(dir, "odd-but-valid", raw, n);
    rc |= write_file(dir, "hand", hand_packet, sizeof(hand_packet) - 1);
    rc |= write_file(dir, "empty-vars", "\0\0\0\0", 4);
    for (size_t c = 0; c < sizeof(err_cases) / sizeof(err_cases[0]); c++) {
        char name[32];
        snprintf(name, sizeof(name), "err-%02zu", c);
        rc |= write_file(dir, name, err_cases[c].raw, err_cases[c].len);
    }
    for (size_t c = 0; c < sizeof(req_cases) / sizeof(req_cases[0]); c++) {
        char name[32];
        if (c % 4 == 0) {
            snprintf(name, sizeof(name), "req-%02zu", c);
            n = build(raw, req_cases[c].vars);
            rc |= write_file(dir, name, raw, n);
        }
        /* the fuzzer's structured mode: 0x01, then KEY=VALUE lines */
        n = 0;
        raw[n++] = 1;
        for (const kv_t *kv = req_cases[c].vars; kv->k != NULL; kv++)
            n += (size_t)snprintf(raw + n, BIG - n, "%s=%s\n", kv->k, kv->v);
        snprintf(name, sizeof(name), "lines-%02zu", c);
        rc |= write_file(dir, name, raw, n);
    }
    free(raw);
    return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--write-seeds") == 0)
        return write_seeds(argv[2]);
    if (argc != 1) {
        fprintf(stderr, "usage: %s [--write-seeds DIR]\n", argv[0]);
        return 2;
    }
    test_writer();
    test_nginx_packet();
    test_ok_cases();
    test_err_cases();
    test_overruns();
    test_get();
    test_req_cases();
    test_random();
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
