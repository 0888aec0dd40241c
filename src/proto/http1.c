/*
 * proto/http1: HTTP/1.x request-head parser and chunked decoder (RFC 9112).
 *
 * The head parser is one left-to-right pass over the whole head, redone from
 * the start on every call (the caller keeps no state). It stops at the first
 * byte that makes the input invalid, so for any input every prefix gives
 * either HD_AGAIN or the same error as the whole. Checks that depend on
 * several fields (Content-Length with Transfer-Encoding, the coding list)
 * are made once the empty line has been seen.
 *
 * Policy where RFC 9112 leaves a choice (tests/unit/test_http1.c tests each):
 * - Empty lines (CRLF) before the request-line are skipped (RFC 9112 §2.2)
 *   and counted in the bytes consumed.
 * - The method is any token, case preserved (methods are case-sensitive).
 * - request-target: origin-form ("/..."), absolute-form ("scheme://authority
 *   ..."; userinfo tolerated), "*" only with OPTIONS, authority-form
 *   ("host:port") only and always with CONNECT. A fragment ("#...") is
 *   tolerated in the raw target and dropped from path and query.
 * - "HTTP/" DIGIT "." DIGIT only; HTTP/1.0 and HTTP/1.1 are served, any other
 *   well-formed version (0.9, 1.2, 2.0) is 505.
 * - Content-Length: 1*DIGIT (leading zeros allowed), at most INT64_MAX, and
 *   at most one field line: any second Content-Length is 400, even with the
 *   same value, and so is the list form "5, 5" (as nginx and Gunicorn do).
 * - Transfer-Encoding: the only coding accepted is a single "chunked", in
 *   HTTP/1.1, without Content-Length. Empty list elements are ignored (RFC
 *   9110 §5.6.1). 400 when chunked is missing, not final, repeated, has
 *   parameters, the list is malformed, the request is HTTP/1.0 or also has a
 *   Content-Length; 501 when chunked is final but another coding precedes it
 *   ("gzip, chunked", "identity, chunked": herd decodes none of them, and
 *   "identity" has not been a transfer coding since RFC 7230).
 * - A second Host or Content-Type field is 400 (RFC 9112 §3.2 for Host;
 *   both map to one CGI variable, so two values are ambiguous). A missing
 *   Host in HTTP/1.1 is tolerated.
 * - Connection is a comma list of case-insensitive tokens; "close" wins over
 *   "keep-alive". Expect "100-continue" (any case, as a list member) sets
 *   expect_continue; other expectations are ignored.
 */
#include "proto/http1.h"

#include <limits.h>
#include <string.h>

/* Character classes, one bit each, for the byte-scanning loops. */
enum {
    CT_TCHAR = 1,  /* token: field names, methods, codings (RFC 9110 §5.6.2) */
    CT_VALUE = 2,  /* field-vchar, obs-text, SP, HTAB: field values */
    CT_TARGET = 4, /* request-target bytes: VCHAR and obs-text, no SP/CTL/DEL */
    CT_REG = 8,    /* URI unreserved and sub-delims (RFC 3986 reg-name) */
    CT_HEX = 16    /* HEXDIG, either case */
};

static const unsigned char ctype[256] = {
     0,  0,  0,  0,  0,  0,  0,  0,  0,  2,  0,  0,  0,  0,  0,  0, /* 00 */
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0, /* 10 */
     2, 15,  6,  7, 15,  7, 15, 15, 14, 14, 15, 15, 14, 15, 15,  6, /* 20 */
    31, 31, 31, 31, 31, 31, 31, 31, 31, 31,  6, 14,  6, 14,  6,  6, /* 30 */
     6, 31, 31, 31, 31, 31, 31, 15, 15, 15, 15, 15, 15, 15, 15, 15, /* 40 */
    15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15,  6,  6,  6,  7, 15, /* 50 */
     7, 31, 31, 31, 31, 31, 31, 15, 15, 15, 15, 15, 15, 15, 15, 15, /* 60 */
    15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15,  6,  7,  6, 15,  0, /* 70 */
     6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6, /* 80 */
     6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6, /* 90 */
     6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6, /* a0 */
     6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6, /* b0 */
     6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6, /* c0 */
     6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6, /* d0 */
     6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6, /* e0 */
     6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6, /* f0 */
};

#define IS(c, cls) (ctype[(unsigned char)(c)] & (cls))

/*
 * Skips 8 bytes at a time while none is below lo (0x20: a CTL, 0x21: also
 * SP) or DEL, i.e. runs of field-value / request-target bytes; the byte loop
 * after it finishes the job (and judges HTAB). The test is the classic
 * "has a byte less than n" (exact as a yes/no) and "has a zero byte" on
 * x ^ DEL; bytes >= 0x80 (obs-text) pass.
 */
static inline const char *skip8(const char *p, const char *end, uint64_t lo)
{
    const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
    const uint64_t del = 0x7f7f7f7f7f7f7f7full;

    while (end - p >= 8) {
        uint64_t x, y;
        memcpy(&x, p, 8);
        y = x ^ del;
        if (((x - ones * lo) & ~x & high) | ((y - ones) & ~y & high))
            break;
        p += 8;
    }
    return p;
}

/*
 * Case-insensitive compare of n bytes of s with lit, which is lower case and
 * made of letters, digits and '-' only. OR-ing 0x20 folds only letters for
 * such a lit, given that s holds no control bytes (names and values are
 * validated before they are compared).
 */
static inline int lower_eq(const char *s, const char *lit, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (((unsigned char)s[i] | 0x20) != (unsigned char)lit[i])
            return 0;
    }
    return 1;
}

#define LIT_EQ(s, n, lit) ((n) == sizeof(lit) - 1 && lower_eq((s), (lit), sizeof(lit) - 1))

static inline int is_digit(char c)
{
    return (unsigned)((unsigned char)c - '0') < 10u;
}

static inline int is_alpha(char c)
{
    return (unsigned)(((unsigned char)c | 0x20) - 'a') < 26u;
}

static inline int hex_value(unsigned char c)
{
    if ((unsigned)(c - '0') < 10u)
        return c - '0';
    c |= 0x20;
    if ((unsigned)(c - 'a') < 6u)
        return c - 'a' + 10;
    return -1;
}

/* ---- request-target ---------------------------------------------------- */

/* pct-encoded = "%" HEXDIG HEXDIG at s (s < e, *s == '%'); returns 3 or 0. */
static size_t pct_len(const char *s, const char *e)
{
    return (e - s >= 3 && IS(s[1], CT_HEX) && IS(s[2], CT_HEX)) ? 3 : 0;
}

/*
 * RFC 3986 authority in [s, e): [ userinfo "@" ] host [ ":" port ].
 * authority_form (CONNECT): no userinfo, and the port is required.
 * The host must not be empty (RFC 9110 §4.2.1). Returns 0 or -1.
 */
static int check_authority(const char *s, const char *e, int authority_form)
{
    const char *at = NULL;

    for (const char *q = s; q < e; q++) {
        if (*q == '@')
            at = q;
    }
    if (at) {
        if (authority_form)
            return -1;
        while (s < at) {
            if (*s == '%') {
                size_t n = pct_len(s, at);
                if (!n)
                    return -1;
                s += n;
            } else if (IS(*s, CT_REG) || *s == ':') {
                s++;
            } else {
                return -1;
            }
        }
        s = at + 1;
    }

    if (s < e && *s == '[') { /* IP-literal: IPv6address / IPvFuture */
        const char *h = ++s;
        while (s < e && (IS(*s, CT_REG) || *s == ':'))
            s++;
        if (s == e || *s != ']' || s == h)
            return -1;
        s++;
    } else {
        const char *h = s;
        while (s < e && *s != ':') {
            if (*s == '%') {
                size_t n = pct_len(s, e);
                if (!n)
                    return -1;
                s += n;
            } else if (IS(*s, CT_REG)) {
                s++;
            } else {
                return -1;
            }
        }
        if (s == h)
            return -1;
    }

    if (s == e)
        return authority_form ? -1 : 0;
    if (*s++ != ':')
        return -1;
    if (authority_form && s == e)
        return -1;
    for (; s < e; s++) {
        if (!is_digit(*s))
            return -1;
    }
    return 0;
}

/* Sets path and query from [s, e), which starts a path (or is empty). */
static void split_path(hd_http_request_t *req, const char *s, const char *e)
{
    const char *q = s;

    while (q < e && *q != '?' && *q != '#')
        q++;
    req->path.base = s;
    req->path.len = (size_t)(q - s);
    if (q < e && *q == '?') {
        const char *f = ++q;
        while (f < e && *f != '#')
            f++;
        req->query.base = q;
        req->query.len = (size_t)(f - q);
    } else {
        req->query.base = q;
        req->query.len = 0;
    }
}

/* Classifies req->target (RFC 9112 §3.2) and fills path and query. */
static int parse_target(hd_http_request_t *req)
{
    const char *s = req->target.base, *e = s + req->target.len;
    const char *m = req->method.base;
    size_t mlen = req->method.len;
    int is_connect = mlen == 7 && memcmp(m, "CONNECT", 7) == 0;

    if (is_connect) {
        if (check_authority(s, e, 1) < 0)
            return -1;
        req->path = req->target;
        req->query.base = e;
        req->query.len = 0;
        return 0;
    }
    if (*s == '/') {
        split_path(req, s, e);
        return 0;
    }
    if (e - s == 1 && *s == '*') {
        if (!(mlen == 7 && memcmp(m, "OPTIONS", 7) == 0))
            return -1;
        req->path = req->target;
        req->query.base = e;
        req->query.len = 0;
        return 0;
    }

    /* absolute-form: scheme "://" authority path-abempty [ "?" query ] */
    const char *p = s;
    if (!is_alpha(*p))
        return -1;
    while (p < e && (is_alpha(*p) || is_digit(*p) || *p == '+' || *p == '-' || *p == '.'))
        p++;
    if (e - p < 3 || p[0] != ':' || p[1] != '/' || p[2] != '/')
        return -1;
    p += 3;
    const char *a = p;
    while (p < e && *p != '/' && *p != '?' && *p != '#')
        p++;
    if (check_authority(a, p, 0) < 0)
        return -1;
    split_path(req, p, e); /* p is at '/', '?', '#' or e: path may be empty */
    return 0;
}

/* ---- field values with list syntax --------------------------------------- */

/*
 * Calls out the elements of a comma list in [s, e) one by one, OWS trimmed,
 * empty elements skipped (RFC 9110 §5.6.1). *s is advanced; returns 0 at the
 * end of the list.
 */
static int next_element(const char **s, const char *e, const char **es, size_t *elen)
{
    const char *p = *s;

    for (;;) {
        while (p < e && (*p == ' ' || *p == '\t' || *p == ','))
            p++;
        if (p == e) {
            *s = p;
            return 0;
        }
        const char *b = p;
        while (p < e && *p != ',')
            p++;
        const char *t = p;
        while (t > b && (t[-1] == ' ' || t[-1] == '\t'))
            t--;
        *es = b;
        *elen = (size_t)(t - b);
        *s = p;
        return 1;
    }
}

/* Framing facts gathered while the fields go by, judged at the end. */
typedef struct {
    unsigned cl_seen : 1;
    unsigned te_seen : 1;
    unsigned te_bad : 1;       /* malformed element, or chunked with parameters */
    unsigned te_other : 1;     /* a coding other than chunked */
    unsigned te_last_chunked : 1;
    unsigned te_chunked : 2;   /* how many times chunked appeared, saturating at 2 */
    unsigned conn_close : 1;
    unsigned conn_keep_alive : 1;
    unsigned host_seen : 1;
    unsigned ctype_seen : 1;
} framing_t;

static void parse_te(framing_t *f, const char *s, const char *e)
{
    const char *el;
    size_t n;

    f->te_seen = 1;
    while (next_element(&s, e, &el, &n)) {
        size_t tok = 0;
        while (tok < n && IS(el[tok], CT_TCHAR))
            tok++;
        size_t rest = tok;
        while (rest < n && (el[rest] == ' ' || el[rest] == '\t'))
            rest++;
        if (tok == 0 || (rest < n && el[rest] != ';')) {
            f->te_bad = 1;
            f->te_last_chunked = 0;
        } else if (LIT_EQ(el, tok, "chunked")) {
            if (tok != n)
                f->te_bad = 1; /* chunked takes no parameters */
            if (f->te_chunked < 2)
                f->te_chunked++;
            f->te_last_chunked = 1;
        } else {
            f->te_other = 1;
            f->te_last_chunked = 0;
        }
    }
}

static void parse_connection(framing_t *f, const char *s, const char *e)
{
    const char *el;
    size_t n;

    while (next_element(&s, e, &el, &n)) {
        if (LIT_EQ(el, n, "close"))
            f->conn_close = 1;
        else if (LIT_EQ(el, n, "keep-alive"))
            f->conn_keep_alive = 1;
    }
}

static int is_100_continue(const char *s, const char *e)
{
    const char *el;
    size_t n;

    while (next_element(&s, e, &el, &n)) {
        if (LIT_EQ(el, n, "100-continue"))
            return 1;
    }
    return 0;
}

/* Content-Length = 1*DIGIT, at most INT64_MAX. Returns -1 if invalid. */
static int64_t parse_content_length(const char *s, size_t n)
{
    int64_t v = 0;

    if (n == 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned char)s[i] - '0';
        if (d > 9 || v > (INT64_MAX - (int64_t)d) / 10)
            return -1;
        v = v * 10 + (int64_t)d;
    }
    return v;
}

/* ---- the head ------------------------------------------------------------ */

int hd_http_parse_request(const char *buf, size_t len, hd_http_request_t *req,
                          size_t max_headers, int *status)
{
    const char *p = buf, *end, *start;
    framing_t f;
    size_t nh = 0;
    int dummy;

    if (!status)
        status = &dummy;
    if (len > INT_MAX)
        len = INT_MAX; /* the return value is an int; no head is that long */
    end = buf + len;
    memset(&f, 0, sizeof(f));
    req->num_headers = 0;
    req->content_length = -1;
    req->chunked = 0;
    req->keep_alive = 0;
    req->expect_continue = 0;
    req->minor_version = -1;
    req->method.base = req->target.base = req->path.base = req->query.base = buf;
    req->method.len = req->target.len = req->path.len = req->query.len = 0;

    /* RFC 9112 §2.2: ignore empty lines received before the request-line. */
    while (p < end && *p == '\r') {
        if (p + 1 == end)
            return HD_AGAIN;
        if (p[1] != '\n')
            goto bad;
        p += 2;
    }

    /* request-line = method SP request-target SP HTTP-version CRLF */
    start = p;
    while (p < end && IS(*p, CT_TCHAR))
        p++;
    if (p == end)
        return HD_AGAIN;
    if (*p != ' ' || p == start)
        goto bad;
    req->method.base = start;
    req->method.len = (size_t)(p - start);

    start = ++p;
    p = skip8(p, end, 0x21);
    while (p < end && IS(*p, CT_TARGET))
        p++;
    if (p == end)
        return HD_AGAIN;
    if (*p != ' ' || p == start)
        goto bad;
    req->target.base = start;
    req->target.len = (size_t)(p - start);
    p++;

    {
        static const char pattern[] = "HTTP/0.0\r\n"; /* '0' stands for any DIGIT */
        size_t avail = (size_t)(end - p), n = avail < 10 ? avail : 10;
        for (size_t i = 0; i < n; i++) {
            if (pattern[i] == '0' ? !is_digit(p[i]) : p[i] != pattern[i])
                goto bad;
        }
        if (avail < 10)
            return HD_AGAIN;
        if (p[5] != '1' || p[7] > '1') {
            *status = 505;
            return HD_ERROR;
        }
        req->minor_version = p[7] - '0';
        p += 10;
    }

    if (parse_target(req) < 0)
        goto bad;

    /* *( field-line CRLF ) CRLF */
    for (;;) {
        const char *name, *vs, *ve;
        size_t nlen;

        if (p == end)
            return HD_AGAIN;
        if (*p == '\r') {
            if (p + 1 == end)
                return HD_AGAIN;
            if (p[1] != '\n')
                goto bad;
            p += 2;
            break;
        }

        /* field-name ":" ; a leading SP/HTAB (obs-fold), whitespace before
           the colon or any non-token byte stops here */
        name = p;
        while (p < end && IS(*p, CT_TCHAR))
            p++;
        if (p == end)
            return HD_AGAIN;
        if (*p != ':' || p == name)
            goto bad;
        nlen = (size_t)(p - name);
        if (nh == max_headers) {
            *status = 431;
            return HD_ERROR;
        }
        p++;

        /* OWS field-value OWS CRLF */
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        vs = p;
        p = skip8(p, end, 0x20);
        while (p < end && IS(*p, CT_VALUE))
            p++;
        if (p == end)
            return HD_AGAIN;
        if (*p != '\r')
            goto bad; /* bare LF, NUL, other CTL, DEL */
        if (p + 1 == end)
            return HD_AGAIN;
        if (p[1] != '\n')
            goto bad;
        ve = p;
        while (ve > vs && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        p += 2;

        req->headers[nh].name.base = name;
        req->headers[nh].name.len = nlen;
        req->headers[nh].value.base = vs;
        req->headers[nh].value.len = (size_t)(ve - vs);
        nh++;
        req->num_headers = nh;

        switch (nlen) {
        case 4:
            if (lower_eq(name, "host", 4)) {
                if (f.host_seen)
                    goto bad;
                f.host_seen = 1;
            }
            break;
        case 6:
            if (lower_eq(name, "expect", 6) && is_100_continue(vs, ve))
                req->expect_continue = 1;
            break;
        case 10:
            if (lower_eq(name, "connection", 10))
                parse_connection(&f, vs, ve);
            break;
        case 12:
            if (lower_eq(name, "content-type", 12)) {
                if (f.ctype_seen)
                    goto bad;
                f.ctype_seen = 1;
            }
            break;
        case 14:
            if (lower_eq(name, "content-length", 14)) {
                if (f.cl_seen)
                    goto bad;
                f.cl_seen = 1;
                req->content_length = parse_content_length(vs, (size_t)(ve - vs));
                if (req->content_length < 0)
                    goto bad;
            }
            break;
        case 17:
            if (lower_eq(name, "transfer-encoding", 17))
                parse_te(&f, vs, ve);
            break;
        default:
            break;
        }
    }

    if (f.te_seen) {
        if (req->minor_version == 0 || f.cl_seen || f.te_bad || !f.te_last_chunked
            || f.te_chunked != 1)
            goto bad;
        if (f.te_other) {
            *status = 501;
            return HD_ERROR;
        }
        req->chunked = 1;
    }
    if (req->minor_version == 1)
        req->keep_alive = !f.conn_close;
    else
        req->keep_alive = f.conn_keep_alive && !f.conn_close;
    return (int)(p - buf);

bad:
    *status = 400;
    return HD_ERROR;
}

int hd_http_overflow_status(const char *buf, size_t len)
{
    const char *p = buf, *end = buf + len;

    while (end - p >= 2 && p[0] == '\r' && p[1] == '\n')
        p += 2;
    return memchr(p, '\n', (size_t)(end - p)) ? 431 : 414;
}

/* ---- chunked body ------------------------------------------------------- */

#define CHUNK_LINE_MAX 4096    /* a size line with extensions, or a trailer line, before CRLF */
#define CHUNK_TRAILER_MAX 8192 /* the whole trailer section */

enum {
    CH_SIZE_START = 0, /* a zeroed hd_chunked_t starts here */
    CH_SIZE,           /* in the hex digits */
    CH_SIZE_WS,        /* BWS after the size: only ';' may follow */
    CH_EXT,            /* in chunk extensions, skipped up to CR */
    CH_SIZE_LF,
    CH_DATA,
    CH_DATA_CR,
    CH_DATA_LF,
    CH_TRAILER_START, /* at the start of a trailer line (or the final CRLF) */
    CH_TRAILER_NAME,
    CH_TRAILER_VALUE,
    CH_TRAILER_LF,
    CH_END_LF,
    CH_DONE,
    CH_ERROR
};

/*
 * Trailer fields refused in a trailer section: those that frame the message,
 * route it or manage the connection (RFC 9110 §6.5.1). herd hands no
 * trailers to the application, but refusing these keeps a proxy in front of
 * it that merges trailers into the header section from being fooled. Other
 * fields (Content-Type included, which Gunicorn accepts too) are dropped.
 * While a trailer name goes by, d->remaining holds a bit per entry whose
 * prefix still matches.
 */
static const char *const trailer_forbidden[] = {
    "content-length", "transfer-encoding", "trailer", "host", "connection",
    "keep-alive",     "upgrade",           "te",      "expect",
};
#define TRAILER_FORBIDDEN_N (sizeof(trailer_forbidden) / sizeof(trailer_forbidden[0]))

static uint64_t trailer_match(uint64_t mask, size_t pos, unsigned char c)
{
    c |= 0x20; /* c is a tchar: this folds letters only, as in lower_eq */
    for (size_t i = 0; mask >> i; i++) {
        if ((mask >> i & 1) && (unsigned char)trailer_forbidden[i][pos] != c)
            mask &= ~((uint64_t)1 << i); /* a shorter name stops at its NUL */
    }
    return mask;
}

void hd_chunked_init(hd_chunked_t *d)
{
    memset(d, 0, sizeof(*d));
}

int hd_chunked_decode(hd_chunked_t *d, const char *buf, size_t len,
                      size_t *consumed, size_t *data_off, size_t *data_len)
{
    size_t i = 0;
    int v;

    *data_off = 0;
    *data_len = 0;
    *consumed = 0;
    if (d->state == CH_DONE)
        return HD_CHUNK_DONE;
    if (d->state == CH_ERROR)
        return HD_ERROR; /* sticky: the body's framing is lost */
    while (i < len) {
        unsigned char c = (unsigned char)buf[i];

        if (d->state >= CH_TRAILER_START && d->state <= CH_END_LF
            && ++d->trailer_bytes > CHUNK_TRAILER_MAX)
            goto bad;

        switch (d->state) {
        case CH_SIZE_START:
            if ((v = hex_value(c)) < 0)
                goto bad;
            d->remaining = (uint64_t)v;
            d->line_len = 1;
            d->state = CH_SIZE;
            i++;
            continue;
        case CH_SIZE:
            if ((v = hex_value(c)) >= 0) {
                if (d->remaining >> 60)
                    goto bad; /* more than 16 significant digits */
                d->remaining = d->remaining << 4 | (uint64_t)v;
            } else if (c == '\r') {
                d->state = CH_SIZE_LF;
                i++;
                continue;
            } else if (c == ';') {
                d->state = CH_EXT;
            } else if (c == ' ' || c == '\t') {
                d->state = CH_SIZE_WS;
            } else {
                goto bad;
            }
            break;
        case CH_SIZE_WS:
            if (c == ';')
                d->state = CH_EXT;
            else if (c != ' ' && c != '\t')
                goto bad;
            break;
        case CH_EXT:
            if (c == '\r') {
                d->state = CH_SIZE_LF;
                i++;
                continue;
            }
            if (!IS(c, CT_VALUE))
                goto bad; /* CTLs other than HTAB, bare LF */
            break;
        case CH_SIZE_LF:
            if (c != '\n')
                goto bad;
            i++;
            if (d->remaining == 0) {
                d->state = CH_TRAILER_START;
                d->trailer_bytes = 0;
            } else {
                d->state = CH_DATA;
            }
            continue;
        case CH_DATA: {
            size_t n = len - i;
            if ((uint64_t)n > d->remaining)
                n = (size_t)d->remaining;
            d->remaining -= n;
            if (d->remaining == 0)
                d->state = CH_DATA_CR;
            *data_off = i;
            *data_len = n;
            *consumed = i + n;
            return HD_CHUNK_DATA;
        }
        case CH_DATA_CR:
            if (c != '\r')
                goto bad;
            d->state = CH_DATA_LF;
            i++;
            continue;
        case CH_DATA_LF:
            if (c != '\n')
                goto bad;
            d->state = CH_SIZE_START;
            i++;
            continue;
        case CH_TRAILER_START:
            if (c == '\r') {
                d->state = CH_END_LF;
            } else if (IS(c, CT_TCHAR)) {
                d->remaining = trailer_match(((uint64_t)1 << TRAILER_FORBIDDEN_N) - 1, 0, c);
                d->line_len = 1;
                d->state = CH_TRAILER_NAME;
            } else {
                goto bad; /* obs-fold, bare LF, a line without a name */
            }
            i++;
            continue;
        case CH_TRAILER_NAME:
            if (IS(c, CT_TCHAR)) {
                if (d->remaining)
                    d->remaining = trailer_match(d->remaining, d->line_len, c);
            } else if (c == ':') {
                for (size_t k = 0; k < TRAILER_FORBIDDEN_N; k++) {
                    if ((d->remaining >> k & 1) && trailer_forbidden[k][d->line_len] == '\0')
                        goto bad;
                }
                d->state = CH_TRAILER_VALUE;
            } else {
                goto bad;
            }
            break;
        case CH_TRAILER_VALUE:
            if (c == '\r') {
                d->state = CH_TRAILER_LF;
                i++;
                continue;
            }
            if (!IS(c, CT_VALUE))
                goto bad;
            break;
        case CH_TRAILER_LF:
            if (c != '\n')
                goto bad;
            d->state = CH_TRAILER_START;
            i++;
            continue;
        case CH_END_LF:
            if (c != '\n')
                goto bad;
            d->state = CH_DONE;
            d->remaining = 0;
            *consumed = i + 1;
            return HD_CHUNK_DONE;
        default:
            goto bad;
        }
        /* a byte that stays on a size or trailer line, before its CR */
        if (++d->line_len > CHUNK_LINE_MAX)
            goto bad;
        i++;
    }
    *consumed = len;
    return HD_AGAIN;

bad:
    d->state = CH_ERROR;
    *consumed = i;
    return HD_ERROR;
}

size_t hd_chunked_write_size(char *out, size_t size)
{
    static const char digits[] = "0123456789abcdef";
    char tmp[sizeof(size_t) * 2];
    size_t n = 0, i;

    do {
        tmp[n++] = digits[size & 15];
        size >>= 4;
    } while (size);
    for (i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    out[n] = '\r';
    out[n + 1] = '\n';
    return n + 2;
}

const char *hd_http_reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 102: return "Processing";
    case 103: return "Early Hints";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 203: return "Non-Authoritative Information";
    case 204: return "No Content";
    case 205: return "Reset Content";
    case 206: return "Partial Content";
    case 207: return "Multi-Status";
    case 300: return "Multiple Choices";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 305: return "Use Proxy";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 402: return "Payment Required";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 407: return "Proxy Authentication Required";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 421: return "Misdirected Request";
    case 422: return "Unprocessable Content";
    case 425: return "Too Early";
    case 426: return "Upgrade Required";
    case 428: return "Precondition Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 451: return "Unavailable For Legal Reasons";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}
