/*
 * libFuzzer target for proto/uwsgi: hd_uwsgi_parse, hd_uwsgi_get,
 * hd_uwsgi_to_request, hd_uwsgi_url_scheme and hd_uwsgi_write_packet.
 *
 * Two input modes, chosen by the first byte:
 *   0x00   the input is a raw packet (its first byte is modifier1 = 0)
 *   other  the rest is "KEY=VALUE" lines ('\n'-separated; a line without
 *          '=' is a key with an empty value), written into a packet with
 *          the writer: this reaches hd_uwsgi_to_request with well-formed
 *          packets far more often than raw bytes would.
 * Invariants checked (abort on violation):
 *   - the result is HD_AGAIN, HD_ERROR with a known status and a reason, or
 *     4 + datasize <= len with vars that tile the block in order, keys
 *     non-empty and made of 0x21..0x7e but '=';
 *   - the writer gives back the same bytes from the parsed vars;
 *   - prefixes: each strict prefix of a valid head is HD_AGAIN, a prefix of
 *     an invalid input HD_AGAIN or the same error; longer inputs parse alike;
 *   - tighter max_vars / max_size give exactly 431 / 413 or the same parse;
 *   - hd_uwsgi_get returns the last var of that key;
 *   - hd_uwsgi_to_request gives slices inside the head (or empty), headers
 *     named by their key minus "HTTP_", a content length of -1 or the
 *     CONTENT_LENGTH digits, the hop facts 0; or 400/431 with a reason.
 * Each parse reads from a heap copy of exactly the bytes it is given, so
 * ASan catches any read past them.
 */
#include "proto/uwsgi.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXV 16384 /* more than a 65535-byte block can hold (13107) */
#define MAXH 64

#define ASSERT(c)                                                                  \
    do {                                                                           \
        if (!(c)) {                                                                \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #c); \
            abort();                                                               \
        }                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static hd_uwsgi_var_t vars[MAXV], vars2[MAXV];
static char packet[HD_UWSGI_MAX_PACKET + 1];

typedef struct {
    hd_uwsgi_packet_t p;
    int rc, status;
} result_t;

static void parse_copy(const char *src, size_t len, size_t max_vars, size_t max_size,
                       hd_uwsgi_var_t *v, result_t *r)
{
    char *buf = malloc(len ? len : 1);
    memcpy(buf, src, len);
    memset(&r->p, 0, sizeof(r->p));
    r->p.vars = v;
    r->status = 0;
    r->rc = hd_uwsgi_parse(buf, len, &r->p, max_vars, max_size, &r->status);
    /* slices are compared by offset: rebase them onto src */
    for (size_t i = 0; r->rc >= 0 && i < r->p.num_vars; i++) {
        v[i].key.base = src + (v[i].key.base - buf);
        v[i].value.base = src + (v[i].value.base - buf);
    }
    free(buf);
}

static int same(const result_t *a, const result_t *b)
{
    if (a->rc != b->rc)
        return 0;
    if (a->rc == HD_ERROR)
        return a->status == b->status && a->p.error == b->p.error;
    if (a->rc == HD_AGAIN)
        return 1;
    if (a->p.num_vars != b->p.num_vars || a->p.datasize != b->p.datasize)
        return 0;
    for (size_t i = 0; i < a->p.num_vars; i++) {
        if (a->p.vars[i].key.base != b->p.vars[i].key.base
            || a->p.vars[i].key.len != b->p.vars[i].key.len
            || a->p.vars[i].value.base != b->p.vars[i].value.base
            || a->p.vars[i].value.len != b->p.vars[i].value.len)
            return 0;
    }
    return 1;
}

static int inside(hd_str_t s, const char *lo, const char *hi)
{
    return s.len == 0 || (s.base >= lo && s.base + s.len <= hi);
}

static void check_parse(const char *buf, size_t len, const result_t *r)
{
    if (r->rc == HD_AGAIN)
        return;
    if (r->rc == HD_ERROR) {
        ASSERT(r->status == 400 || r->status == 501); /* limits are generous here */
        ASSERT(r->p.error != NULL);
        ASSERT(r->status != 501 || (len >= 1 && r->p.modifier1 != 0));
        return;
    }
    size_t total = (size_t)r->rc;
    ASSERT(total >= 4 && total <= len && total == 4 + r->p.datasize);
    ASSERT(r->p.modifier1 == 0 && r->p.modifier2 == (uint8_t)buf[3]);
    size_t pos = 4;
    for (size_t i = 0; i < r->p.num_vars; i++) {
        const hd_uwsgi_var_t *v = &r->p.vars[i];
        ASSERT(v->key.len > 0 && v->key.base == buf + pos + 2);
        for (size_t j = 0; j < v->key.len; j++) {
            unsigned char c = (unsigned char)v->key.base[j];
            ASSERT(c > 0x20 && c < 0x7f && c != '=');
        }
        ASSERT(v->value.base == v->key.base + v->key.len + 2);
        pos += 4 + v->key.len + v->value.len;
        ASSERT(pos <= total);
    }
    ASSERT(pos == total);

    /* the writer gives the same bytes back (but modifier2, written as 0) */
    size_t n = hd_uwsgi_write_packet(packet, sizeof(packet), r->p.vars, r->p.num_vars);
    ASSERT(n == total);
    ASSERT(memcmp(packet, buf, 3) == 0 && memcmp(packet + 4, buf + 4, total - 4) == 0);
}

/* Prefix lengths to try: all for short inputs, a sample for long ones. */
static size_t prefixes(size_t len, size_t head, size_t *out)
{
    size_t n = 0;
    if (len <= 96) {
        for (size_t k = 0; k < len; k++)
            out[n++] = k;
        return n;
    }
    size_t cand[] = {0, 1, 2, 3, 4, 5, 6, 7, head > 0 ? head - 1 : 0, head, head + 1,
                     len / 2, len / 3, len - 1, len - 2};
    for (size_t i = 0; i < sizeof(cand) / sizeof(cand[0]); i++) {
        if (cand[i] < len)
            out[n++] = cand[i];
    }
    return n;
}

static void check_prefixes(const char *buf, size_t len, const result_t *full)
{
    size_t ks[128];
    size_t head = full->rc >= 0 ? (size_t)full->rc : len;
    size_t nk = prefixes(len, head, ks);
    result_t r;

    for (size_t i = 0; i < nk; i++) {
        size_t k = ks[i];
        parse_copy(buf, k, MAXV, HD_UWSGI_MAX_PACKET, vars2, &r);
        if (full->rc >= 0 && k < head)
            ASSERT(r.rc == HD_AGAIN);
        else if (full->rc >= 0)
            ASSERT(same(&r, full));
        else if (full->rc == HD_AGAIN)
            ASSERT(r.rc == HD_AGAIN);
        else
            ASSERT(r.rc == HD_AGAIN || same(&r, full));
    }
}

static void check_limits(const char *buf, size_t len, const result_t *full)
{
    result_t r;
    if (full->rc < 0)
        return;
    size_t mv = full->p.num_vars > 0 ? full->p.num_vars - 1 : 0;
    parse_copy(buf, len, mv, HD_UWSGI_MAX_PACKET, vars2, &r);
    if (full->p.num_vars > 0)
        ASSERT(r.rc == HD_ERROR && r.status == 431);
    else
        ASSERT(same(&r, full));
    parse_copy(buf, len, MAXV, (size_t)full->rc - 1, vars2, &r);
    ASSERT(r.rc == HD_ERROR && r.status == 413 && r.p.datasize == full->p.datasize);
    parse_copy(buf, len, full->p.num_vars, (size_t)full->rc, vars2, &r);
    ASSERT(same(&r, full));
}

static int key_is(hd_str_t k, const char *lit)
{
    return k.len == strlen(lit) && memcmp(k.base, lit, k.len) == 0;
}

static void check_get(hd_uwsgi_packet_t *p)
{
    char key[65536];
    size_t n = p->num_vars < 64 ? p->num_vars : 64;
    for (size_t i = 0; i < n; i++) {
        memcpy(key, p->vars[i].key.base, p->vars[i].key.len);
        key[p->vars[i].key.len] = '\0';
        const hd_str_t *v = hd_uwsgi_get(p, key);
        size_t j = p->num_vars;
        while (j-- > 0 && v != &p->vars[j].value)
            ;
        ASSERT(v != NULL && j < p->num_vars);
        ASSERT(j >= i && key_is(p->vars[j].key, key));
        for (size_t k = j + 1; k < p->num_vars; k++)
            ASSERT(!key_is(p->vars[k].key, key));
    }
}

static void check_request(hd_uwsgi_packet_t *p, const char *buf, size_t total)
{
    hd_http_request_t req;
    hd_http_header_t hdrs[MAXH];
    int status = 0;
    const char *lo = buf + 4, *hi = buf + total;

    int rc = hd_uwsgi_to_request(p, &req, hdrs, MAXH, &status);
    if (rc == HD_ERROR) {
        ASSERT(status == 400 || status == 431);
        ASSERT(p->error != NULL);
        return;
    }
    ASSERT(rc == HD_OK);
    ASSERT(req.method.len > 0 && inside(req.method, lo, hi));
    ASSERT(inside(req.target, lo, hi) && inside(req.path, lo, hi) && inside(req.query, lo, hi));
    ASSERT(req.minor_version == 0 && !req.keep_alive && !req.chunked && !req.expect_continue);
    ASSERT(req.headers == hdrs && req.num_headers <= MAXH);
    for (size_t i = 0; i < req.num_headers; i++) {
        ASSERT(hdrs[i].name.len > 0 && inside(hdrs[i].name, lo, hi));
        ASSERT(inside(hdrs[i].value, lo, hi));
        ASSERT(memcmp(hdrs[i].name.base - 5, "HTTP_", 5) == 0);
        for (size_t j = 0; j < hdrs[i].value.len; j++) {
            unsigned char c = (unsigned char)hdrs[i].value.base[j];
            ASSERT((c >= 0x20 || c == '\t') && c != 0x7f);
        }
    }
    const hd_str_t *cl = hd_uwsgi_get(p, "CONTENT_LENGTH");
    if (cl == NULL || cl->len == 0) {
        ASSERT(req.content_length == -1);
    } else {
        int64_t v = 0;
        for (size_t i = 0; i < cl->len; i++) {
            ASSERT(cl->base[i] >= '0' && cl->base[i] <= '9');
            v = v * 10 + (cl->base[i] - '0'); /* cannot overflow: accepted */
        }
        ASSERT(req.content_length == v);
    }
    hd_str_t sc = hd_uwsgi_url_scheme(p);
    ASSERT(sc.len > 0);
    ASSERT(key_is(sc, "http") || key_is(sc, "https") || inside(sc, lo, hi));
}

/*
 * Structured mode: "KEY=VALUE\n..." into a packet. Returns its size or 0;
 * *valid_keys says whether every key is one the parser accepts.
 */
static size_t build_from_lines(const char *s, size_t len, char *out, size_t cap,
                               int *valid_keys)
{
    size_t n = 0, i = 0;
    *valid_keys = 1;
    while (i < len && n < MAXV) {
        const char *line = s + i;
        const char *nl = memchr(line, '\n', len - i);
        size_t ll = nl ? (size_t)(nl - line) : len - i;
        const char *eq = memchr(line, '=', ll);
        size_t kl = eq ? (size_t)(eq - line) : ll;
        vars2[n].key = (hd_str_t){line, kl};
        vars2[n].value = eq ? (hd_str_t){eq + 1, ll - kl - 1} : (hd_str_t){line + ll, 0};
        for (size_t j = 0; j < kl; j++) {
            unsigned char c = (unsigned char)line[j];
            if (c <= 0x20 || c >= 0x7f) /* '=' cannot be in a key here */
                *valid_keys = 0;
        }
        if (kl == 0)
            *valid_keys = 0;
        n++;
        i += ll + 1;
    }
    return hd_uwsgi_write_packet(out, cap, vars2, n);
}

/* expect_ok: buf is a whole packet from the writer with valid keys. */
static void run(const char *buf, size_t len, int expect_ok)
{
    result_t full;
    parse_copy(buf, len, MAXV, HD_UWSGI_MAX_PACKET, vars, &full);
    ASSERT(!expect_ok || full.rc == (int)len);
    check_parse(buf, len, &full);
    check_prefixes(buf, len, &full);
    check_limits(buf, len, &full);
    if (full.rc >= 0) {
        check_get(&full.p);
        check_request(&full.p, buf, (size_t)full.rc);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char built[HD_UWSGI_MAX_PACKET];
    if (size == 0 || data[0] == 0) {
        run((const char *)data, size, 0);
        return 0;
    }
    int valid_keys;
    size_t n =
        build_from_lines((const char *)data + 1, size - 1, built, sizeof(built), &valid_keys);
    if (n == 0)
        return 0;
    char *exact = malloc(n);
    memcpy(exact, built, n);
    run(exact, n, valid_keys);
    free(exact);
    return 0;
}
