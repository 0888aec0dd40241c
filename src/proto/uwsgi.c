/*
 * proto/uwsgi: uwsgi packet parser, vars-to-request mapping and writer.
 *
 * The parser is one left-to-right pass, redone from the start on every call.
 * Each length is checked against the end of the vars block (4 + datasize)
 * before anything after it is looked at, and against the bytes received
 * only after that, so an overrun is refused as soon as its length field is
 * in, whatever follows (Apache's mod_proxy_uwsgi read past its buffer on
 * such lengths: CVE-2020-11984). Errors are found in byte order, hence every
 * prefix of an input gives HD_AGAIN or the error the whole input gives.
 *
 * Policy (tests/unit/test_uwsgi.c tests each):
 * - modifier1 must be 0 (a WSGI request); 501 otherwise, decided on the
 *   first byte. uWSGI's other modifiers (30: PATH_INFO management, 5: PSGI,
 *   ...) pick other plugins or rewrite vars, which herd does not do.
 *   modifier2 is recorded and ignored, as uWSGI does for modifier1 0.
 * - The size limit is checked as soon as datasize is known, before the
 *   vars arrive: a frontend that sends 64 KiB of vars to a 4 KiB server is
 *   refused at once, not after buffering.
 * - Keys: non-empty, bytes 0x21..0x7e except '='. CGI variable names are
 *   tokens; space, controls and 8-bit bytes mean a broken or hostile
 *   frontend, and '=' would make "KEY=VALUE" renderings (the environ block
 *   of a CGI child, uWSGI's UWSGI_SETENV) ambiguous. Case is kept and not
 *   folded: CGI names are case-sensitive.
 * - Values are opaque bytes at this layer; hd_uwsgi_to_request checks the
 *   few it interprets.
 * - Duplicate keys are kept (old nginx sends one HTTP_COOKIE per Cookie
 *   line; "include uwsgi_params" followed by an override sends a param
 *   twice). Lookups take the last one, as uWSGI and PHP-FPM do; only two
 *   different CONTENT_LENGTH values are refused, since they make the body
 *   framing ambiguous.
 * - Nothing here trusts X-Forwarded-* (uWSGI takes HTTP_X_FORWARDED_PROTO
 *   and HTTP_X_FORWARDED_SSL as the scheme): a client can send those
 *   headers through nginx, so honouring them is a proxy-trust policy
 *   decision for the server, not a protocol fact.
 */
#include "proto/uwsgi.h"

#include <stdint.h>
#include <string.h>

static inline size_t get_u16(const char *s)
{
    return (size_t)(unsigned char)s[0] | (size_t)(unsigned char)s[1] << 8;
}

static inline int key_char(unsigned char c)
{
    return c > 0x20 && c < 0x7f && c != '=';
}

static int fail(hd_uwsgi_packet_t *p, int *status, int code, const char *why)
{
    *status = code;
    p->error = why;
    return HD_ERROR;
}

/* ---- the packet ---------------------------------------------------------- */

int hd_uwsgi_parse(const char *buf, size_t len, hd_uwsgi_packet_t *p, size_t max_vars,
                   size_t max_size, int *status)
{
    p->num_vars = 0;
    p->error = NULL;
    if (len < 1)
        return HD_AGAIN;
    p->modifier1 = (uint8_t)buf[0];
    if (p->modifier1 != 0)
        return fail(p, status, 501, "unsupported modifier1 (only 0, a WSGI request, is served)");
    if (len < HD_UWSGI_HEADER_SIZE)
        return HD_AGAIN;
    p->datasize = get_u16(buf + 1);
    p->modifier2 = (uint8_t)buf[3];

    size_t end = HD_UWSGI_HEADER_SIZE + p->datasize; /* end of the vars block */
    if (end > max_size)
        return fail(p, status, 413, "packet larger than the buffer size");

    /* Invariant: pos <= end and pos <= len. */
    size_t pos = HD_UWSGI_HEADER_SIZE;
    while (pos < end) {
        if (p->num_vars == max_vars)
            return fail(p, status, 431, "more vars than the server accepts");

        if (end - pos < 2)
            return fail(p, status, 400, "key length cut by the end of the vars block");
        if (len - pos < 2)
            return HD_AGAIN;
        size_t klen = get_u16(buf + pos);
        pos += 2;
        if (klen == 0)
            return fail(p, status, 400, "empty key");
        if (klen > end - pos)
            return fail(p, status, 400, "key length overruns the vars block");
        size_t have = len - pos < klen ? len - pos : klen;
        for (size_t i = 0; i < have; i++) {
            if (!key_char((unsigned char)buf[pos + i]))
                return fail(p, status, 400, "key byte outside 0x21..0x7e or '='");
        }
        if (have < klen)
            return HD_AGAIN;
        hd_uwsgi_var_t *v = &p->vars[p->num_vars];
        v->key.base = buf + pos;
        v->key.len = klen;
        pos += klen;

        if (end - pos < 2)
            return fail(p, status, 400, "value length cut by the end of the vars block");
        if (len - pos < 2)
            return HD_AGAIN;
        size_t vlen = get_u16(buf + pos);
        pos += 2;
        if (vlen > end - pos)
            return fail(p, status, 400, "value length overruns the vars block");
        if (len - pos < vlen)
            return HD_AGAIN;
        v->value.base = buf + pos;
        v->value.len = vlen;
        pos += vlen;
        p->num_vars++;
    }
    return (int)end;
}

static int str_is(hd_str_t s, const char *lit, size_t n)
{
    return s.len == n && memcmp(s.base, lit, n) == 0;
}

const hd_str_t *hd_uwsgi_get(const hd_uwsgi_packet_t *p, const char *key)
{
    size_t n = strlen(key);
    for (size_t i = p->num_vars; i-- > 0;) {
        if (str_is(p->vars[i].key, key, n))
            return &p->vars[i].value;
    }
    return NULL;
}

/* ---- to a request -------------------------------------------------------- */

static inline int is_digit(char c)
{
    return (unsigned)((unsigned char)c - '0') < 10u;
}

static inline int is_alpha(char c)
{
    return (unsigned)(((unsigned char)c | 0x20) - 'a') < 26u;
}

/* tchar (RFC 9110 §5.6.2). */
static int is_tchar(unsigned char c)
{
    if (is_alpha((char)c) || is_digit((char)c))
        return 1;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int is_token(hd_str_t s)
{
    if (s.len == 0)
        return 0;
    for (size_t i = 0; i < s.len; i++) {
        if (!is_tchar((unsigned char)s.base[i]))
            return 0;
    }
    return 1;
}

/* A request-target's bytes: VCHAR and obs-text, no SP, CTL or DEL. */
static int is_target(hd_str_t s)
{
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.base[i];
        if (c <= 0x20 || c == 0x7f)
            return 0;
    }
    return 1;
}

/* A field value's bytes: no CTL but HTAB, no DEL (as proto/http1 keeps them). */
static int is_field_value(hd_str_t s)
{
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.base[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return 0;
    }
    return 1;
}

/* "HTTP/" 1*DIGIT [ "." 1*DIGIT ], e.g. nginx's HTTP/1.0, HTTP/2.0, HTTP/3.0. */
static int is_protocol(hd_str_t s)
{
    size_t i = 5, d;
    if (s.len < 6 || memcmp(s.base, "HTTP/", 5) != 0)
        return 0;
    for (d = i; i < s.len && is_digit(s.base[i]); i++)
        ;
    if (i == d)
        return 0;
    if (i == s.len)
        return 1;
    if (s.base[i++] != '.')
        return 0;
    for (d = i; i < s.len && is_digit(s.base[i]); i++)
        ;
    return i > d && i == s.len;
}

/* URI scheme (RFC 3986 §3.1). */
static int is_scheme(hd_str_t s)
{
    if (s.len == 0 || !is_alpha(s.base[0]))
        return 0;
    for (size_t i = 1; i < s.len; i++) {
        char c = s.base[i];
        if (!is_alpha(c) && !is_digit(c) && c != '+' && c != '-' && c != '.')
            return 0;
    }
    return 1;
}

/* 1*DIGIT <= INT64_MAX into *out; 0 if not. */
static int parse_length(hd_str_t s, int64_t *out)
{
    int64_t v = 0;
    if (s.len == 0)
        return 0;
    for (size_t i = 0; i < s.len; i++) {
        if (!is_digit(s.base[i]))
            return 0;
        int d = s.base[i] - '0';
        if (v > (INT64_MAX - d) / 10)
            return 0;
        v = v * 10 + d;
    }
    *out = v;
    return 1;
}

static int same_str(hd_str_t a, hd_str_t b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.base, b.base, a.len) == 0);
}

#define GET(p, lit) hd_uwsgi_get((p), (lit))

int hd_uwsgi_to_request(hd_uwsgi_packet_t *p, hd_http_request_t *req, hd_http_header_t *hdrs,
                        size_t max, int *status)
{
    static const char empty[] = "";
    const hd_str_t *method = GET(p, "REQUEST_METHOD");
    const hd_str_t *uri = GET(p, "REQUEST_URI");
    const hd_str_t *path_info = GET(p, "PATH_INFO");
    const hd_str_t *query = GET(p, "QUERY_STRING");
    const hd_str_t *proto = GET(p, "SERVER_PROTOCOL");
    const hd_str_t *scheme = GET(p, "UWSGI_SCHEME");
    const hd_str_t *cl = NULL;

    req->headers = hdrs;
    req->num_headers = 0;
    req->minor_version = 0;
    req->content_length = -1;
    req->chunked = 0;
    req->keep_alive = 0;
    req->expect_continue = 0;

    if (method == NULL)
        return fail(p, status, 400, "no REQUEST_METHOD var (is uwsgi_params included?)");
    if (!is_token(*method))
        return fail(p, status, 400, "REQUEST_METHOD is not a token");
    req->method = *method;

    if (uri != NULL && uri->len == 0)
        uri = NULL;
    if (uri != NULL && !is_target(*uri))
        return fail(p, status, 400, "REQUEST_URI has a space or control byte");
    if (uri == NULL && path_info == NULL)
        return fail(p, status, 400, "neither REQUEST_URI nor PATH_INFO");
    req->target = uri != NULL ? *uri : *path_info;

    /* The raw URI's path and query: up to '?' / after '?', up to '#'. */
    hd_str_t uri_path = {empty, 0}, uri_query = {empty, 0};
    if (uri != NULL) {
        const char *s = uri->base, *e = s + uri->len;
        const char *f = memchr(s, '#', uri->len);
        if (f != NULL)
            e = f;
        const char *q = memchr(s, '?', (size_t)(e - s));
        uri_path.base = s;
        uri_path.len = (size_t)((q != NULL ? q : e) - s);
        if (q != NULL) {
            uri_query.base = q + 1;
            uri_query.len = (size_t)(e - (q + 1));
        }
    }
    req->path = path_info != NULL ? *path_info : uri_path;
    req->query = query != NULL ? *query : uri_query;

    if (proto != NULL && proto->len > 0 && !is_protocol(*proto))
        return fail(p, status, 400, "SERVER_PROTOCOL is not HTTP/<digits>[.<digits>]");
    if (scheme != NULL && scheme->len > 0 && !is_scheme(*scheme))
        return fail(p, status, 400, "UWSGI_SCHEME is not a URI scheme");

    for (size_t i = 0; i < p->num_vars; i++) {
        const hd_uwsgi_var_t *v = &p->vars[i];
        if (str_is(v->key, "CONTENT_LENGTH", 14)) {
            if (cl != NULL && !same_str(*cl, v->value))
                return fail(p, status, 400, "two different CONTENT_LENGTH vars");
            cl = &v->value;
        } else if (v->key.len >= 5 && memcmp(v->key.base, "HTTP_", 5) == 0) {
            hd_str_t name = {v->key.base + 5, v->key.len - 5};
            if (!is_token(name))
                return fail(p, status, 400, "HTTP_ var name is not a token");
            if (!is_field_value(v->value))
                return fail(p, status, 400, "HTTP_ var value has a control byte");
            if (req->num_headers == max)
                return fail(p, status, 431, "more HTTP_ vars than the server accepts");
            hdrs[req->num_headers].name = name;
            hdrs[req->num_headers].value = v->value;
            req->num_headers++;
        }
    }
    if (cl != NULL && cl->len > 0 && !parse_length(*cl, &req->content_length))
        return fail(p, status, 400, "CONTENT_LENGTH is not 1*DIGIT up to 2^63-1");
    return HD_OK;
}

hd_str_t hd_uwsgi_url_scheme(const hd_uwsgi_packet_t *p)
{
    static const char http[] = "http", https[] = "https";
    const hd_str_t *s = GET(p, "UWSGI_SCHEME");
    if (s != NULL && s->len > 0)
        return *s;
    s = GET(p, "HTTPS");
    if (s != NULL
        && ((s->len == 2 && (s->base[0] | 0x20) == 'o' && (s->base[1] | 0x20) == 'n')
            || (s->len == 1 && s->base[0] == '1')))
        return (hd_str_t){https, 5};
    return (hd_str_t){http, 4};
}

/* ---- writer -------------------------------------------------------------- */

static char *put_u16(char *o, size_t v)
{
    o[0] = (char)(v & 0xff);
    o[1] = (char)(v >> 8);
    return o + 2;
}

size_t hd_uwsgi_write_packet(char *out, size_t cap, const hd_uwsgi_var_t *vars, size_t n)
{
    size_t datasize = 0;
    for (size_t i = 0; i < n; i++) {
        if (vars[i].key.len > 0xffff || vars[i].value.len > 0xffff)
            return 0;
        datasize += 4 + vars[i].key.len + vars[i].value.len;
        if (datasize > 0xffff)
            return 0;
    }
    if (cap < HD_UWSGI_HEADER_SIZE + datasize)
        return 0;
    char *o = out;
    *o++ = 0;
    o = put_u16(o, datasize);
    *o++ = 0;
    for (size_t i = 0; i < n; i++) {
        o = put_u16(o, vars[i].key.len);
        if (vars[i].key.len > 0)
            memcpy(o, vars[i].key.base, vars[i].key.len);
        o += vars[i].key.len;
        o = put_u16(o, vars[i].value.len);
        if (vars[i].value.len > 0)
            memcpy(o, vars[i].value.base, vars[i].value.len);
        o += vars[i].value.len;
    }
    return (size_t)(o - out);
}
