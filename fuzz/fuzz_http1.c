/*
 * libFuzzer target for proto/http1. Aborts when an invariant breaks:
 * - the head parser returns HD_AGAIN, HD_ERROR (with a 4xx/5xx status) or a
 *   length <= len, and every slice it returns lies inside the head;
 * - every prefix of the input gives HD_AGAIN or the result of the whole
 *   (every strict prefix of a valid head is HD_AGAIN; of an invalid one,
 *   HD_AGAIN or the same error);
 * - with a smaller header capacity the result is the same, or 431 exactly
 *   when the fields do not fit;
 * - the chunked decoder, run over the bytes after a chunked head (and, on
 *   its own, over the whole input), returns in-bounds slices and the same
 *   body, result and consumed count whether the bytes arrive at once or in
 *   pieces whose sizes are derived from the data.
 */
#include "proto/http1.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXH 64

#define ASSERT(cond)                                                              \
    do {                                                                          \
        if (!(cond)) {                                                            \
            fprintf(stderr, "fuzz_http1: %s:%d: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                              \
        }                                                                         \
    } while (0)

static void check_slice(hd_str_t s, const char *buf, size_t len)
{
    ASSERT(s.base >= buf && s.base <= buf + len && s.len <= (size_t)(buf + len - s.base));
}

/* A small PRNG seeded from the data, for piece sizes. */
static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/*
 * Decodes buf[0..len) with pieces of random size (max_piece 0: all at once).
 * Writes the body to out (capacity len) and returns the final result
 * (HD_CHUNK_DONE, HD_ERROR or HD_AGAIN when the input ran out).
 */
static int dechunk(const char *buf, size_t len, uint64_t seed, size_t max_piece, char *out,
                   size_t *out_len, size_t *used)
{
    hd_chunked_t d;
    size_t pos = 0, avail = len;

    if (max_piece)
        avail = (size_t)(rng_next(&seed) % (max_piece + 1));
    if (avail > len)
        avail = len;
    hd_chunked_init(&d);
    *out_len = 0;
    for (;;) {
        size_t n = avail - pos, c = (size_t)-1, off = (size_t)-1, dl = (size_t)-1;
        int r = hd_chunked_decode(&d, buf + pos, n, &c, &off, &dl);

        ASSERT(c <= n);
        if (r == HD_CHUNK_DATA) {
            ASSERT(dl > 0 && off < n && dl <= n - off && off + dl == c);
            ASSERT(*out_len + dl <= len);
            memcpy(out + *out_len, buf + pos + off, dl);
            *out_len += dl;
            pos += c;
            continue;
        }
        ASSERT(r == HD_AGAIN || r == HD_CHUNK_DONE || r == HD_ERROR);
        if (r == HD_AGAIN)
            ASSERT(c == n);
        pos += c;
        if (r != HD_AGAIN || avail == len) {
            *used = pos;
            return r;
        }
        avail += 1 + (size_t)(rng_next(&seed) % (max_piece ? max_piece : 1));
        if (avail > len)
            avail = len;
    }
}

static void check_chunked(const char *buf, size_t len, uint64_t seed)
{
    char *a = malloc(len + 1), *b = malloc(len + 1);
    size_t alen, blen, aused, bused;
    int ra = dechunk(buf, len, seed, 0, a, &alen, &aused);
    int rb = dechunk(buf, len, seed, 1 + (size_t)(seed % 16), b, &blen, &bused);

    /* a byte-wise state machine: the pieces cannot change the outcome, nor
       the byte an error is found at */
    ASSERT(ra == rb);
    ASSERT(aused <= len && aused == bused);
    ASSERT(alen == blen && memcmp(a, b, alen) == 0);
    free(a);
    free(b);
}

static int parse_max(const char *buf, size_t len, hd_http_request_t *req, hd_http_header_t *h,
                     size_t max_headers, int *status)
{
    memset(req, 0, sizeof(*req));
    req->headers = h;
    *status = 0;
    return hd_http_parse_request(buf, len, req, max_headers, status);
}

static int parse(const char *buf, size_t len, hd_http_request_t *req, hd_http_header_t *h,
                 int *status)
{
    return parse_max(buf, len, req, h, MAXH, status);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* a copy of exactly size bytes, so ASan sees any read past the end */
    char *buf = malloc(size ? size : 1);
    hd_http_header_t h[MAXH], h2[MAXH];
    hd_http_request_t req, req2;
    int status, status2, r;
    uint64_t seed = 0x9e3779b97f4a7c15ull;

    memcpy(buf, data, size);
    for (size_t i = 0; i < size; i++)
        seed = (seed ^ (uint8_t)buf[i]) * 0x100000001b3ull;
    if (!seed)
        seed = 1;

    r = parse(buf, size, &req, h, &status);
    ASSERT(r == HD_AGAIN || r == HD_ERROR || (r > 0 && (size_t)r <= size));
    if (r == HD_ERROR)
        ASSERT(status == 400 || status == 431 || status == 501 || status == 505);
    if (r == HD_AGAIN) {
        int o = hd_http_overflow_status(buf, size);
        ASSERT(o == 414 || o == 431);
    }
    if (r > 0) {
        size_t head = (size_t)r;
        check_slice(req.method, buf, head);
        check_slice(req.target, buf, head);
        check_slice(req.path, buf, head);
        check_slice(req.query, buf, head);
        ASSERT(req.method.len > 0 && req.target.len > 0);
        ASSERT(req.minor_version == 0 || req.minor_version == 1);
        ASSERT(req.num_headers <= MAXH);
        for (size_t i = 0; i < req.num_headers; i++) {
            check_slice(req.headers[i].name, buf, head);
            check_slice(req.headers[i].value, buf, head);
            ASSERT(req.headers[i].name.len > 0);
        }
        ASSERT(!(req.chunked && req.content_length >= 0));
        ASSERT(req.content_length >= -1);
    }

    /* prefixes: all of them for small inputs, a sample for large ones */
    size_t stop = r > 0 ? (size_t)r : size;
    size_t stride = stop <= 1024 ? 1 : stop / 512;
    for (size_t k = 0; k < stop; k += stride) {
        int r2 = parse(buf, k, &req2, h2, &status2);
        if (r > 0)
            ASSERT(r2 == HD_AGAIN);
        else if (r == HD_AGAIN)
            ASSERT(r2 == HD_AGAIN);
        else
            ASSERT(r2 == HD_AGAIN || (r2 == HD_ERROR && status2 == status));
    }

    /* the same head with more bytes after it parses the same */
    if (r > 0 && (size_t)r < size) {
        int r2 = parse(buf, (size_t)r, &req2, h2, &status2);
        ASSERT(r2 == r && req2.num_headers == req.num_headers
               && req2.content_length == req.content_length && req2.chunked == req.chunked
               && req2.keep_alive == req.keep_alive);
    }

    /* a smaller header capacity: 431 exactly when the fields do not fit */
    {
        size_t m = (size_t)(seed % 8);
        int r3 = parse_max(buf, size, &req2, h2, m, &status2);
        if (r > 0 && req.num_headers > m)
            ASSERT(r3 == HD_ERROR && status2 == 431);
        else if (r > 0)
            ASSERT(r3 == r && req2.num_headers == req.num_headers);
        else if (r == HD_ERROR)
            ASSERT(r3 == HD_ERROR && (status2 == status || status2 == 431));
        else
            ASSERT(r3 == HD_AGAIN || (r3 == HD_ERROR && status2 == 431));
    }

    if (r > 0 && req.chunked)
        check_chunked(buf + r, size - (size_t)r, seed);
    check_chunked(buf, size, seed);

    free(buf);
    return 0;
}
