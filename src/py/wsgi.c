/*
 * py/wsgi: one WSGI call (PEP 3333) per request: the environ, start_response
 * and write(), iterating the response and always calling its close().
 *
 * Speed matters here (it runs for every request): environ keys are interned
 * once, constant entries come from a template dict copied per request, and
 * HTTP_* keys are cached per header name as sent.
 */
#include "py/input.h"
#include "py/internal.h"
#include "py/py.h"

#include "core/log.h"
#include "server/conn.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* ---- interned keys and constant values --------------------------------- */

static PyObject *k_request_method, *k_script_name, *k_path_info, *k_query_string,
    *k_content_type, *k_content_length, *k_server_name, *k_server_port, *k_server_protocol,
    *k_remote_addr, *k_remote_port, *k_request_uri, *k_wsgi_input, *k_wsgi_errors;
static PyObject *v_http11, *v_http10, *v_get, *v_post, *v_head, *v_empty;
static PyObject *hd_env_template; /* constant wsgi.* entries */
static PyObject *hd_sys_dict, *k_stderr; /* sys.__dict__: wsgi.errors is sys.stderr now */
/* Method names, interned once: PyObject_CallMethod(o, "read", ...) makes a
   new str per call, and CPython's method cache, keyed by the name object,
   then keeps one such str per call in a new slot until the cache is full
   (test_leaks saw ~180 blocks appear over the first 2,000 file_wrapper
   responses). */
static PyObject *s_close, *s_read, *s_fileno, *s_tell;

/* getattr without raising AttributeError: 1 found (*out new), 0 absent,
   -1 error. */
static int hd_lookup_attr(PyObject *o, PyObject *name, PyObject **out)
{
#if PY_VERSION_HEX >= 0x030D0000
    return PyObject_GetOptionalAttr(o, name, out);
#else
    return _PyObject_LookupAttr(o, name, out);
#endif
}

static PyObject *hd_intern(const char *s)
{
    return PyUnicode_InternFromString(s);
}

/* ---- HTTP_* key cache: header name bytes as sent -> interned key ------- */

#define HD_KEYCACHE_SIZE 512 /* power of two; at most half is filled */
typedef struct {
    char name[48];
    unsigned char len;
    PyObject *key;
} hd_keyslot_t;

/* Header name bytes as sent -> interned environ key. Bounded, so that a
   client sending random names cannot grow it: past half full, keys are
   made per request instead. */
typedef struct {
    hd_keyslot_t slots[HD_KEYCACHE_SIZE];
    unsigned used;
} hd_keycache_t;

static hd_keycache_t hd_httpkeys; /* "User-Agent" -> "HTTP_USER_AGENT" */
static hd_keycache_t hd_rawkeys;  /* uwsgi vars: the name is the key */

static uint32_t hd_hash(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

/* New reference to the cached key for name, or NULL (no exception). */
static PyObject *hd_keycache_find(hd_keycache_t *kc, const char *name, size_t len)
{
    if (len >= sizeof(kc->slots[0].name))
        return NULL;
    for (uint32_t i = hd_hash(name, len) & (HD_KEYCACHE_SIZE - 1); kc->slots[i].key != NULL;
         i = (i + 1) & (HD_KEYCACHE_SIZE - 1)) {
        hd_keyslot_t *e = &kc->slots[i];
        if (e->len == len && memcmp(e->name, name, len) == 0) {
            Py_INCREF(e->key);
            return e->key;
        }
    }
    return NULL;
}

/* Interns *key and remembers it for name, if there is room. */
static void hd_keycache_add(hd_keycache_t *kc, const char *name, size_t len, PyObject **key)
{
    if (len >= sizeof(kc->slots[0].name) || kc->used >= HD_KEYCACHE_SIZE / 2)
        return;
    PyUnicode_InternInPlace(key);
    uint32_t i = hd_hash(name, len) & (HD_KEYCACHE_SIZE - 1);
    while (kc->slots[i].key != NULL)
        i = (i + 1) & (HD_KEYCACHE_SIZE - 1);
    memcpy(kc->slots[i].name, name, len);
    kc->slots[i].len = (unsigned char)len;
    kc->slots[i].key = *key;
    Py_INCREF(*key);
    kc->used++;
}

/* New reference to "HTTP_NAME" for a header name, or NULL (and no exception)
   when the name must not reach the app (contains '_': it would be
   indistinguishable from the dash form, a spoofing vector). */
static PyObject *hd_http_key(const char *name, size_t len, bool *drop)
{
    char buf[5 + 256];
    PyObject *key = hd_keycache_find(&hd_httpkeys, name, len);
    *drop = false;
    if (key != NULL)
        return key;
    if (memchr(name, '_', len) != NULL) {
        *drop = true;
        return NULL;
    }
    char *kb = len <= 256 ? buf : PyMem_Malloc(5 + len);
    if (kb == NULL)
        return PyErr_NoMemory();
    memcpy(kb, "HTTP_", 5);
    for (size_t j = 0; j < len; j++) {
        char ch = name[j];
        kb[5 + j] = ch == '-' ? '_' : (ch >= 'a' && ch <= 'z') ? (char)(ch - 32) : ch;
    }
    key = PyUnicode_DecodeLatin1(kb, (Py_ssize_t)(5 + len), NULL);
    if (kb != buf)
        PyMem_Free(kb);
    if (key != NULL)
        hd_keycache_add(&hd_httpkeys, name, len, &key);
    return key;
}

/* New reference to an environ key given as is (uwsgi vars). */
static PyObject *hd_raw_key(const char *name, size_t len)
{
    PyObject *key = hd_keycache_find(&hd_rawkeys, name, len);
    if (key != NULL)
        return key;
    key = PyUnicode_DecodeLatin1(name, (Py_ssize_t)len, NULL);
    if (key != NULL)
        hd_keycache_add(&hd_rawkeys, name, len, &key);
    return key;
}

static bool hd_ieq(const char *a, size_t alen, const char *b)
{
    size_t blen = strlen(b);
    if (alen != blen)
        return false;
    for (size_t i = 0; i < alen; i++) {
        char x = a[i], y = b[i];
        if (x >= 'A' && x <= 'Z')
            x = (char)(x + 32);
        if (x != y)
            return false;
    }
    return true;
}

static int hd_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)(c | 0x20);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

static PyObject *hd_str(const char *s, size_t len);

/* PATH_INFO: the percent-decoded path as latin-1 str (PEP 3333). */
static PyObject *hd_path_info(const char *p, size_t len)
{
    char stack[2048];
    stack[0] = 0;
    char *out = len <= sizeof(stack) ? stack : PyMem_Malloc(len);
    size_t o = 0;
    if (out == NULL)
        return PyErr_NoMemory();
    for (size_t i = 0; i < len; i++) {
        int h, l;
        if (p[i] == '%' && i + 2 < len && (h = hd_hexval(p[i + 1])) >= 0 &&
            (l = hd_hexval(p[i + 2])) >= 0) {
            out[o++] = (char)(h * 16 + l);
            i += 2;
        } else {
            out[o++] = p[i];
        }
    }
    PyObject *r = hd_str(out, o);
    if (out != stack)
        PyMem_Free(out);
    return r;
}

/* ---- value memo: short environ values as sent -> str ------------------ */

/* Most environ values repeat from one request to the next: the Host header,
   the client's address, the listener's name and port, User-Agent, Accept,
   the path of a hot endpoint. A direct-mapped table (GIL-protected) keeps
   the last str made for each slot, so a repeated value costs a hash and a
   compare instead of an allocation, a scan and a free. str is immutable:
   sharing one between requests is invisible to apps. Bounded: HD_MEMO_SIZE
   values of at most HD_MEMO_MAX bytes. */
#define HD_MEMO_SIZE 256 /* power of two */
#define HD_MEMO_MAX 56
typedef struct {
    unsigned char len;
    char bytes[HD_MEMO_MAX];
    PyObject *str;
} hd_memo_t;

static hd_memo_t hd_memo[HD_MEMO_SIZE];

/* The slot of a value: from its length and its first and last 8 bytes (a
   collision only costs a miss: the bytes are compared whole). */
static unsigned hd_memo_slot(const char *s, size_t len)
{
    uint64_t a = 0, b = 0;
    memcpy(&a, s, len < 8 ? len : 8);
    if (len > 8)
        memcpy(&b, s + len - 8, 8);
    uint64_t h = (a ^ (b * 0x9E3779B97F4A7C15ull) ^ len) * 0xC2B2AE3D27D4EB4Full;
    return (unsigned)(h >> 56) & (HD_MEMO_SIZE - 1);
}

/* New reference to the str of latin-1 bytes s[0..len), or NULL. */
static PyObject *hd_str(const char *s, size_t len)
{
    if (len == 0) {
        Py_INCREF(v_empty);
        return v_empty;
    }
    if (len > HD_MEMO_MAX)
        return PyUnicode_DecodeLatin1(s, (Py_ssize_t)len, NULL);
    hd_memo_t *m = &hd_memo[hd_memo_slot(s, len)];
    if (m->str != NULL && m->len == len && memcmp(m->bytes, s, len) == 0) {
        Py_INCREF(m->str);
        return m->str;
    }
    PyObject *v = PyUnicode_DecodeLatin1(s, (Py_ssize_t)len, NULL);
    if (v == NULL)
        return NULL;
    Py_XSETREF(m->str, v);
    Py_INCREF(v);
    m->len = (unsigned char)len;
    memcpy(m->bytes, s, len);
    return v;
}

static int hd_set_str(PyObject *env, PyObject *key, const char *s, size_t len)
{
    PyObject *v = hd_str(s, len);
    if (v == NULL)
        return -1;
    int rc = PyDict_SetItem(env, key, v);
    Py_DECREF(v);
    return rc;
}

/* A value that differs from one connection to the next (the client's port):
   not memoised, where it would only push out values that repeat. */
static int hd_set_unique(PyObject *env, PyObject *key, const char *s, size_t len)
{
    PyObject *v = PyUnicode_DecodeLatin1(s, (Py_ssize_t)len, NULL);
    if (v == NULL)
        return -1;
    int rc = PyDict_SetItem(env, key, v);
    Py_DECREF(v);
    return rc;
}

/* Appends ", value" to an existing header entry ("; value" for Cookie, as
   RFC 9113 joins cookies: ", " would glue two cookies into one value). */
static int hd_join_header(PyObject *env, PyObject *key, PyObject *old, const char *s, size_t len)
{
    PyObject *v = PyUnicode_DecodeLatin1(s, (Py_ssize_t)len, NULL);
    if (v == NULL)
        return -1;
    bool cookie = PyUnicode_CompareWithASCIIString(key, "HTTP_COOKIE") == 0;
    PyObject *joined = PyUnicode_FromFormat(cookie ? "%U; %U" : "%U, %U", old, v);
    Py_DECREF(v);
    if (joined == NULL)
        return -1;
    int rc = PyDict_SetItem(env, key, joined);
    Py_DECREF(joined);
    return rc;
}

static PyObject *hd_build_environ(hd_conn_t *c, PyObject *input)
{
    const hd_request_t *r = hd_conn_request(c);
    const hd_http_request_t *h = &r->http;
    PyObject *env = PyDict_Copy(hd_env_template);
    if (env == NULL)
        return NULL;

    PyObject *m;
    if (h->method.len == 3 && memcmp(h->method.base, "GET", 3) == 0)
        m = v_get, Py_INCREF(m);
    else if (h->method.len == 4 && memcmp(h->method.base, "POST", 4) == 0)
        m = v_post, Py_INCREF(m);
    else if (h->method.len == 4 && memcmp(h->method.base, "HEAD", 4) == 0)
        m = v_head, Py_INCREF(m);
    else
        m = PyUnicode_DecodeLatin1(h->method.base, (Py_ssize_t)h->method.len, NULL);
    if (m == NULL || PyDict_SetItem(env, k_request_method, m) < 0) {
        Py_XDECREF(m);
        goto fail;
    }
    Py_DECREF(m);

    PyObject *uri = hd_str(h->target.base, h->target.len);
    if (uri == NULL || PyDict_SetItem(env, k_request_uri, uri) < 0) {
        Py_XDECREF(uri);
        goto fail;
    }
    /* PATH_INFO is REQUEST_URI itself when the target is a plain path (no
       query, nothing to decode): the common case, one str less. */
    PyObject *pi;
    if (h->path.base == h->target.base && h->path.len == h->target.len &&
        memchr(h->path.base, '%', h->path.len) == NULL) {
        pi = uri;
        Py_INCREF(pi);
    } else {
        pi = hd_path_info(h->path.base, h->path.len);
    }
    Py_DECREF(uri);
    if (pi == NULL || PyDict_SetItem(env, k_path_info, pi) < 0) {
        Py_XDECREF(pi);
        goto fail;
    }
    Py_DECREF(pi);
    if (hd_set_str(env, k_query_string, h->query.base, h->query.len) < 0)
        goto fail;
    if (PyDict_SetItem(env, k_server_protocol, h->minor_version == 1 ? v_http11 : v_http10) < 0)
        goto fail;
    if (hd_set_str(env, k_server_name, r->listener->server_name,
                   strlen(r->listener->server_name)) < 0 ||
        hd_set_str(env, k_server_port, r->listener->server_port,
                   strlen(r->listener->server_port)) < 0 ||
        hd_set_str(env, k_remote_addr, r->remote_addr, strlen(r->remote_addr)) < 0 ||
        hd_set_unique(env, k_remote_port, r->remote_port, strlen(r->remote_port)) < 0)
        goto fail;
    if (PyDict_SetItem(env, k_wsgi_input, input) < 0)
        goto fail;
    /* PySys_GetObject("stderr") would make a str of the name every time */
    PyObject *err = PyDict_GetItemWithError(hd_sys_dict, k_stderr); /* borrowed */
    if (err == NULL && PyErr_Occurred())
        goto fail;
    if (PyDict_SetItem(env, k_wsgi_errors, err ? err : Py_None) < 0)
        goto fail;

    if (r->uwsgi != NULL) {
        /* Behind nginx: the CGI vars as nginx sent them (PATH_INFO is
           already decoded, SERVER_NAME and REMOTE_ADDR are the client's
           side), normalised to PEP 3333. */
        const hd_uwsgi_packet_t *p = r->uwsgi;
        for (size_t i = 0; i < p->num_vars; i++) {
            const hd_str_t *k = &p->vars[i].key, *v = &p->vars[i].value;
            if (hd_ieq(k->base, k->len, "http_content_length") ||
                hd_ieq(k->base, k->len, "http_content_type"))
                continue; /* PEP 3333: only CONTENT_LENGTH / CONTENT_TYPE */
            if (v->len == 0 && (hd_ieq(k->base, k->len, "content_length") ||
                                hd_ieq(k->base, k->len, "content_type")))
                continue; /* nginx sends them empty on a GET */
            PyObject *key = hd_raw_key(k->base, k->len);
            if (key == NULL)
                goto fail;
            PyObject *old = k->len > 5 && memcmp(k->base, "HTTP_", 5) == 0
                                ? PyDict_GetItemWithError(env, key)
                                : NULL;
            int rc = old != NULL ? hd_join_header(env, key, old, v->base, v->len)
                     : PyErr_Occurred() ? -1
                                        : hd_set_str(env, key, v->base, v->len);
            Py_DECREF(key);
            if (rc < 0)
                goto fail;
        }
        hd_str_t scheme = hd_uwsgi_url_scheme(p);
        if (scheme.len != 4 || memcmp(scheme.base, "http", 4) != 0) {
            PyObject *sk = hd_intern("wsgi.url_scheme");
            int rc = sk ? hd_set_str(env, sk, scheme.base, scheme.len) : -1;
            Py_XDECREF(sk);
            if (rc < 0)
                goto fail;
        }
        return env;
    }

    for (size_t i = 0; i < h->num_headers; i++) {
        const hd_http_header_t *hh = &h->headers[i];
        PyObject *key;
        if (hd_ieq(hh->name.base, hh->name.len, "content-type")) {
            key = k_content_type;
            Py_INCREF(key);
        } else if (hd_ieq(hh->name.base, hh->name.len, "content-length")) {
            key = k_content_length;
            Py_INCREF(key);
        } else {
            bool drop;
            key = hd_http_key(hh->name.base, hh->name.len, &drop);
            if (key == NULL) {
                if (drop)
                    continue;
                goto fail;
            }
        }
        PyObject *old = PyDict_GetItemWithError(env, key); /* borrowed */
        int rc;
        if (old != NULL && key != k_content_length)
            rc = hd_join_header(env, key, old, hh->value.base, hh->value.len);
        else if (old == NULL && PyErr_Occurred())
            rc = -1;
        else
            rc = hd_set_str(env, key, hh->value.base, hh->value.len);
        Py_DECREF(key);
        if (rc < 0)
            goto fail;
    }
    return env;
fail:
    Py_DECREF(env);
    return NULL;
}

/* ---- start_response and write() ---------------------------------------- */

typedef struct hd_responder_s {
    PyObject_HEAD
    hd_conn_t *conn;   /* NULL once the request is over */
    PyObject *status;  /* str, owned */
    PyObject *headers; /* list, owned */
    PyObject *write;   /* bound write(), owned, made once */
    bool committed;    /* head handed to the connection */
    bool failed;       /* the client is gone */
} hd_responder_t;

static PyTypeObject hd_responder_type;

/* Latin-1 bytes of a str, or NULL with TypeError/ValueError set. scan:
   refuse CR, LF and NUL (header injection). */
static const char *hd_latin1_scan(PyObject *s, const char *what, Py_ssize_t *len, bool scan);

static const char *hd_latin1(PyObject *s, const char *what, Py_ssize_t *len)
{
    return hd_latin1_scan(s, what, len, true);
}

static const char *hd_latin1_scan(PyObject *s, const char *what, Py_ssize_t *len, bool scan)
{
    if (!PyUnicode_Check(s)) {
        PyErr_Format(PyExc_TypeError, "%s must be str, not %.100s", what, Py_TYPE(s)->tp_name);
        return NULL;
    }
#if PY_VERSION_HEX < 0x030C0000
    if (PyUnicode_READY(s) < 0)
        return NULL;
#endif
    if (PyUnicode_KIND(s) != PyUnicode_1BYTE_KIND) {
        PyErr_Format(PyExc_ValueError, "%s must be latin-1: %R", what, s);
        return NULL;
    }
    static const unsigned char bad[256] = {['\0'] = 1, ['\n'] = 1, ['\r'] = 1};
    *len = PyUnicode_GET_LENGTH(s);
    const unsigned char *p = PyUnicode_1BYTE_DATA(s);
    unsigned char any = 0;
    for (Py_ssize_t i = 0; scan && i < *len; i++)
        any |= bad[p[i]];
    if (any) {
        PyErr_Format(PyExc_ValueError, "%s contains a control character: %R", what, s);
        return NULL;
    }
    return (const char *)p;
}

/* A header name must be a token (RFC 9110 tchar), not empty. */
static bool hd_bad_name(PyObject *o, const char *name, size_t n)
{
    static unsigned char tchar[256];
    if (!tchar['a']) {
        const char *extra = "!#$%&'*+-.^_`|~";
        for (int ch = '0'; ch <= '9'; ch++)
            tchar[ch] = 1;
        for (int ch = 'a'; ch <= 'z'; ch++)
            tchar[ch] = tchar[ch - 32] = 1;
        for (const char *e = extra; *e; e++)
            tchar[(unsigned char)*e] = 1;
    }
    for (size_t i = 0; i < n; i++)
        if (!tchar[(unsigned char)name[i]]) {
            PyErr_Format(PyExc_ValueError, "bad header name %R", o);
            return true;
        }
    if (n == 0)
        PyErr_Format(PyExc_ValueError, "bad header name %R", o);
    return n == 0;
}

static int hd_check_status(PyObject *status)
{
    Py_ssize_t n;
    const char *s = hd_latin1(status, "status", &n);
    if (s == NULL)
        return -1;
    if (n < 4 || s[0] < '1' || s[0] > '9' || s[1] < '0' || s[1] > '9' || s[2] < '0' ||
        s[2] > '9' || s[3] != ' ') {
        PyErr_Format(PyExc_ValueError, "status must look like '200 OK', not %R", status);
        return -1;
    }
    return 0;
}

static int hd_check_headers(PyObject *headers)
{
    if (!PyList_Check(headers)) {
        PyErr_Format(PyExc_TypeError, "headers must be a list, not %.100s",
                     Py_TYPE(headers)->tp_name);
        return -1;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(headers); i++) {
        PyObject *t = PyList_GET_ITEM(headers, i);
        Py_ssize_t n;
        if (!PyTuple_Check(t) || PyTuple_GET_SIZE(t) != 2) {
            PyErr_Format(PyExc_TypeError, "header %zd must be a (name, value) tuple", i);
            return -1;
        }
        /* Types here; the bytes are scanned once, when the head is built. */
        if (hd_latin1_scan(PyTuple_GET_ITEM(t, 0), "header name", &n, false) == NULL ||
            hd_latin1_scan(PyTuple_GET_ITEM(t, 1), "header value", &n, false) == NULL)
            return -1;
    }
    return 0;
}

/* start_response(status, response_headers, exc_info=None) */
static PyObject *hd_responder_call(hd_responder_t *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"status", "headers", "exc_info", NULL};
    PyObject *status, *headers, *exc_info = Py_None;
    Py_ssize_t n = PyTuple_GET_SIZE(args);
    if (self->conn == NULL || self->write == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "start_response() called after its request ended");
        return NULL;
    }
    if (kw == NULL && (n == 2 || n == 3)) { /* the usual call: no parsing */
        status = PyTuple_GET_ITEM(args, 0);
        headers = PyTuple_GET_ITEM(args, 1);
        if (n == 3)
            exc_info = PyTuple_GET_ITEM(args, 2);
    } else if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|O:start_response", kwlist, &status,
                                            &headers, &exc_info)) {
        return NULL;
    }
    if (exc_info != Py_None) {
        if (!PyTuple_Check(exc_info) || PyTuple_GET_SIZE(exc_info) != 3) {
            PyErr_SetString(PyExc_TypeError, "exc_info must be a 3-tuple");
            return NULL;
        }
        if (self->committed) {
            /* Too late to change the status: re-raise the app's error. */
            PyObject *t = PyTuple_GET_ITEM(exc_info, 0), *v = PyTuple_GET_ITEM(exc_info, 1),
                     *tb = PyTuple_GET_ITEM(exc_info, 2);
            Py_INCREF(t);
            Py_INCREF(v);
            Py_INCREF(tb);
            PyErr_Restore(t, v, tb == Py_None ? NULL : tb);
            if (tb == Py_None)
                Py_DECREF(tb);
            return NULL;
        }
    } else if (self->status != NULL) {
        PyErr_SetString(PyExc_AssertionError,
                        "start_response() called a second time without exc_info");
        return NULL;
    }
    if (hd_check_status(status) < 0 || hd_check_headers(headers) < 0)
        return NULL;
    Py_INCREF(status);
    Py_XSETREF(self->status, status);
    Py_INCREF(headers);
    Py_XSETREF(self->headers, headers);
    Py_INCREF(self->write);
    return self->write;
}

/* Hands the status and headers to the connection (formatting only). */
static int hd_responder_commit(hd_responder_t *self)
{
    hd_header_out_t stackh[32], *hs = stackh;
    Py_ssize_t n, slen;

    if (self->committed)
        return 0;
    if (self->status == NULL) {
        PyErr_SetString(PyExc_AssertionError,
                        "the app returned body data before calling start_response()");
        return -1;
    }
    n = PyList_GET_SIZE(self->headers);
    if (n > 32) {
        hs = PyMem_Malloc(sizeof(*hs) * (size_t)n);
        if (hs == NULL) {
            PyErr_NoMemory();
            return -1;
        }
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *t = PyList_GET_ITEM(self->headers, i);
        Py_ssize_t nl, vl;
        /* Checked in start_response; the list may have changed since. */
        if (!PyTuple_Check(t) || PyTuple_GET_SIZE(t) != 2 ||
            /* a token has no CR, LF or NUL: hd_bad_name is the only scan */
            (hs[i].name = hd_latin1_scan(PyTuple_GET_ITEM(t, 0), "header name", &nl, false)) ==
                NULL ||
            (hs[i].value = hd_latin1(PyTuple_GET_ITEM(t, 1), "header value", &vl)) == NULL ||
            hd_bad_name(PyTuple_GET_ITEM(t, 0), hs[i].name, (size_t)nl)) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_TypeError, "headers changed after start_response()");
            if (hs != stackh)
                PyMem_Free(hs);
            return -1;
        }
        hs[i].name_len = (size_t)nl;
        hs[i].value_len = (size_t)vl;
    }
    const char *st = (const char *)PyUnicode_1BYTE_DATA(self->status);
    slen = PyUnicode_GET_LENGTH(self->status);
    int rc = hd_conn_start(self->conn, st, (size_t)slen, hs, (size_t)n);
    if (hs != stackh)
        PyMem_Free(hs);
    if (rc < 0) {
        PyErr_SetString(PyExc_ValueError, "the Content-Length header must be a decimal number");
        return -1;
    }
    self->committed = true;
    return 0;
}

/* Sends one body chunk; -1 with an exception set on failure. */
static int hd_responder_send(hd_responder_t *self, const char *data, size_t len, bool last)
{
    if (self->conn == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "write() called after the request ended");
        return -1;
    }
    if (len == 0 && !last)
        return 0; /* PEP 3333: empty strings do not start the response */
    if (hd_responder_commit(self) < 0)
        return -1;
    if (self->failed || hd_conn_write(self->conn, data, len, last) < 0) {
        self->failed = true;
        PyErr_SetString(PyExc_OSError, "client disconnected");
        return -1;
    }
    return 0;
}

static PyObject *hd_responder_write(hd_responder_t *self, PyObject *data)
{
    Py_buffer view;
    if (!PyBytes_Check(data)) {
        PyErr_Format(PyExc_TypeError, "write() takes bytes, not %.100s", Py_TYPE(data)->tp_name);
        return NULL;
    }
    if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    int rc = hd_responder_send(self, view.buf, (size_t)view.len, false);
    PyBuffer_Release(&view);
    if (rc < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyMethodDef hd_responder_write_def = {"write", (PyCFunction)hd_responder_write, METH_O,
                                             "write(data): send body bytes now."};

static void hd_responder_dealloc(hd_responder_t *self)
{
    Py_CLEAR(self->status);
    Py_CLEAR(self->headers);
    Py_CLEAR(self->write);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyTypeObject hd_responder_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "herd.StartResponse",
    .tp_basicsize = sizeof(hd_responder_t),
    .tp_dealloc = (destructor)hd_responder_dealloc,
    .tp_call = (ternaryfunc)hd_responder_call,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "start_response(status, headers, exc_info=None)",
};

/* ---- wsgi.file_wrapper -------------------------------------------------- */

typedef struct hd_filewrapper_s {
    PyObject_HEAD
    PyObject *filelike;
    PyObject *blksize; /* int, owned */
} hd_filewrapper_t;

static PyObject *hd_filewrapper_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"filelike", "blksize", NULL};
    PyObject *f;
    Py_ssize_t blk = 65536;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|n:file_wrapper", kwlist, &f, &blk))
        return NULL;
    hd_filewrapper_t *self = (hd_filewrapper_t *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    self->blksize = PyLong_FromSsize_t(blk > 0 ? blk : 65536);
    if (self->blksize == NULL) {
        Py_DECREF(self);
        return NULL;
    }
    Py_INCREF(f);
    self->filelike = f;
    return (PyObject *)self;
}

static PyObject *hd_filewrapper_next(hd_filewrapper_t *self)
{
    PyObject *data = PyObject_CallMethodOneArg(self->filelike, s_read, self->blksize);
    if (data == NULL)
        return NULL;
    if (PyBytes_Check(data) && PyBytes_GET_SIZE(data) == 0) {
        Py_DECREF(data);
        return NULL;
    }
    return data;
}

static PyObject *hd_filewrapper_close(hd_filewrapper_t *self, PyObject *unused)
{
    PyObject *close;
    if (hd_lookup_attr(self->filelike, s_close, &close) < 0)
        return NULL;
    if (close == NULL)
        Py_RETURN_NONE;
    PyObject *r = PyObject_CallNoArgs(close);
    Py_DECREF(close);
    return r;
}

static void hd_filewrapper_dealloc(hd_filewrapper_t *self)
{
    Py_CLEAR(self->filelike);
    Py_CLEAR(self->blksize);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef hd_filewrapper_methods[] = {
    {"close", (PyCFunction)hd_filewrapper_close, METH_NOARGS, "close the file"},
    {NULL, NULL, 0, NULL}};

static PyTypeObject hd_filewrapper_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "herd.FileWrapper",
    .tp_basicsize = sizeof(hd_filewrapper_t),
    .tp_dealloc = (destructor)hd_filewrapper_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "wsgi.file_wrapper(filelike, blksize=65536): sent with sendfile(2) when possible.",
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = (iternextfunc)hd_filewrapper_next,
    .tp_methods = hd_filewrapper_methods,
    .tp_new = hd_filewrapper_new,
};

/* Sends a file wrapper with sendfile(2). Returns 1 if sent, 0 if the file is
   not a regular file with a descriptor (iterate instead), -1 on error. */
static int hd_send_filewrapper(hd_responder_t *resp, hd_filewrapper_t *fw)
{
    PyObject *fd_obj = PyObject_CallMethodNoArgs(fw->filelike, s_fileno);
    if (fd_obj == NULL) {
        PyErr_Clear();
        return 0;
    }
    int fd = (int)PyLong_AsLong(fd_obj);
    Py_DECREF(fd_obj);
    if (fd < 0) {
        PyErr_Clear();
        return 0;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
        return 0;
    /* Start where the file object stands (the app may have seek()ed). */
    off_t pos = 0;
    PyObject *tell = PyObject_CallMethodNoArgs(fw->filelike, s_tell);
    if (tell != NULL) {
        pos = (off_t)PyLong_AsLongLong(tell);
        Py_DECREF(tell);
    }
    if (PyErr_Occurred() || pos < 0) {
        PyErr_Clear();
        pos = 0;
    }
    if (pos > st.st_size)
        pos = st.st_size;
    if (hd_responder_commit(resp) < 0)
        return -1;
    if (hd_conn_sendfile(resp->conn, fd, pos, (size_t)(st.st_size - pos)) < 0) {
        resp->failed = true;
        PyErr_SetString(PyExc_OSError, "client disconnected");
        return -1;
    }
    return 1;
}

/* ---- one request ---------------------------------------------------------- */

static __thread hd_responder_t *hd_cached_resp;
static __thread hd_input_t *hd_cached_input;

static hd_responder_t *hd_responder_get(hd_conn_t *c)
{
    hd_responder_t *self = hd_cached_resp;
    if (self != NULL) {
        hd_cached_resp = NULL;
    } else {
        self = PyObject_New(hd_responder_t, &hd_responder_type);
        if (self == NULL)
            return NULL;
        self->status = self->headers = NULL;
        self->write = PyCFunction_New(&hd_responder_write_def, (PyObject *)self);
        if (self->write == NULL) {
            self->conn = NULL;
            Py_DECREF(self);
            return NULL;
        }
    }
    self->conn = c;
    self->committed = false;
    self->failed = false;
    return self;
}

/* The request is over: detach the objects; keep them for the next request
   unless the app still holds a reference to either. The responder and its
   bound write() refer to each other (ours + write's = 2 on the responder),
   and the type is not GC-tracked: when they are not kept, the cycle is
   broken here, or neither would ever be freed. */
static void hd_responder_put(hd_responder_t *self)
{
    self->conn = NULL;
    Py_CLEAR(self->status);
    Py_CLEAR(self->headers);
    if (hd_cached_resp == NULL && Py_REFCNT(self) == 2 && Py_REFCNT(self->write) == 1) {
        hd_cached_resp = self;
        return;
    }
    Py_CLEAR(self->write);
    Py_DECREF(self);
}

static hd_input_t *hd_input_get(hd_conn_t *c)
{
    hd_input_t *in = hd_cached_input;
    if (in != NULL) {
        hd_cached_input = NULL;
        hd_input_reset(in, c);
        return in;
    }
    return hd_input_new(c);
}

static void hd_input_put(hd_input_t *in)
{
    hd_input_reset(in, NULL);
    if (hd_cached_input == NULL && Py_REFCNT(in) == 1) {
        hd_cached_input = in;
        return;
    }
    Py_DECREF(in);
}

/* An error answer from herd itself: 500, or the client's 400/413. */
static void hd_send_error(hd_conn_t *c, int status)
{
    char line[64], body[64];
    const char *reason = hd_http_reason(status);
    int ln = snprintf(line, sizeof(line), "%d %s", status, reason);
    int bn = snprintf(body, sizeof(body), "%s\n", reason);
    hd_header_out_t h = {"Content-Type", 12, "text/plain; charset=utf-8", 25};
    hd_conn_set_close(c);
    hd_conn_start(c, line, (size_t)ln, &h, 1);
    hd_conn_write(c, body, (size_t)bn, true);
}

static void hd_send_500(hd_conn_t *c)
{
    hd_send_error(c, 500);
}

static void hd_log_app_error(hd_conn_t *c, const char *what)
{
    const hd_request_t *r = hd_conn_request(c);
    char ctx[512];
    snprintf(ctx, sizeof(ctx), "%s for %.*s %.*s", what, (int)r->http.method.len,
             r->http.method.base, (int)(r->http.target.len > 300 ? 300 : r->http.target.len),
             r->http.target.base);
    hd_py_log_exception(ctx);
}

/* Iterates the app's result and sends it; -1 with an exception set. */
static int hd_send_result(hd_responder_t *resp, PyObject *result)
{
    if (PyList_CheckExact(result) || PyTuple_CheckExact(result)) {
        Py_ssize_t n = PySequence_Fast_GET_SIZE(result);
        PyObject **items = PySequence_Fast_ITEMS(result);
        for (Py_ssize_t i = 0; i < n; i++) {
            if (!PyBytes_Check(items[i])) {
                PyErr_Format(PyExc_TypeError, "the app's iterable yielded %.100s, not bytes",
                             Py_TYPE(items[i])->tp_name);
                return -1;
            }
            if (hd_responder_send(resp, PyBytes_AS_STRING(items[i]),
                                  (size_t)PyBytes_GET_SIZE(items[i]), i == n - 1) < 0)
                return -1;
        }
        return 0;
    }
    if (Py_TYPE(result) == &hd_filewrapper_type) {
        int rc = hd_send_filewrapper(resp, (hd_filewrapper_t *)result);
        if (rc != 0)
            return rc < 0 ? -1 : 0;
    }
    PyObject *it = PyObject_GetIter(result);
    if (it == NULL)
        return -1;
    PyObject *item;
    while ((item = PyIter_Next(it)) != NULL) {
        if (!PyBytes_Check(item)) {
            PyErr_Format(PyExc_TypeError, "the app's iterable yielded %.100s, not bytes",
                         Py_TYPE(item)->tp_name);
            Py_DECREF(item);
            Py_DECREF(it);
            return -1;
        }
        int rc = hd_responder_send(resp, PyBytes_AS_STRING(item), (size_t)PyBytes_GET_SIZE(item),
                                   false);
        Py_DECREF(item);
        if (rc < 0) {
            Py_DECREF(it);
            return -1;
        }
    }
    Py_DECREF(it);
    return PyErr_Occurred() ? -1 : 0;
}

void hd_py_wsgi_handle(hd_conn_t *c)
{
    hd_input_t *input = hd_input_get(c);
    hd_responder_t *resp = input ? hd_responder_get(c) : NULL;
    PyObject *env = resp ? hd_build_environ(c, (PyObject *)input) : NULL;
    PyObject *result = NULL;
    int ok = 0;

    if (env == NULL) {
        hd_log_app_error(c, "cannot build the environ");
        hd_send_500(c);
        goto done;
    }
    PyObject *args[2] = {env, (PyObject *)resp};
    result = PyObject_Vectorcall(hd_py_app, args, 2, NULL);
    if (result == NULL && hd_conn_client_error(c)) {
        /* The app gave up on a body the client botched: the client's fault. */
        PyErr_Clear();
        hd_send_error(c, hd_conn_client_error(c));
        goto done;
    } else if (result == NULL) {
        hd_log_app_error(c, "the app raised an exception");
    } else {
        ok = hd_send_result(resp, result) == 0;
        if (!ok) {
            if (resp->failed)
                PyErr_Clear(); /* the client went away: nothing to report */
            else
                hd_log_app_error(c, "error while sending the app's response");
        }
        /* PEP 3333: close() is called whatever happened. Lists and tuples
           have none: no lookup (a failed one raises AttributeError, which
           costs more than the rest of a hello-world request). */
        PyObject *close = NULL;
        if (!PyList_CheckExact(result) && !PyTuple_CheckExact(result) &&
            hd_lookup_attr(result, s_close, &close) < 0) {
            PyErr_Clear();
        } else if (close != NULL) {
            PyObject *r = PyObject_CallNoArgs(close);
            Py_DECREF(close);
            if (r == NULL) {
                hd_log_app_error(c, "the response's close() raised");
                ok = 0;
            }
            Py_XDECREF(r);
        }
    }
    if (!ok) {
        if (!hd_conn_head_sent(c) && !resp->failed)
            hd_send_error(c, hd_conn_client_error(c) ? hd_conn_client_error(c) : 500);
        else
            hd_conn_set_close(c);
    } else if (hd_responder_commit(resp) < 0) {
        hd_log_app_error(c, "the app returned without calling start_response()");
        hd_send_500(c);
    } else if (hd_conn_finish(c) < 0) {
        hd_conn_set_close(c);
    }
done:
    Py_XDECREF(result);
    Py_XDECREF(env);
    if (resp)
        hd_responder_put(resp);
    if (input)
        hd_input_put(input);
}

int hd_py_wsgi_init(void)
{
    if (PyType_Ready(&hd_input_type) < 0 || PyType_Ready(&hd_responder_type) < 0 ||
        PyType_Ready(&hd_filewrapper_type) < 0)
        return -1;
#define K(var, s)                                                                          \
    if ((var = hd_intern(s)) == NULL)                                                      \
        return -1;
    K(k_request_method, "REQUEST_METHOD")
    K(k_script_name, "SCRIPT_NAME")
    K(k_path_info, "PATH_INFO")
    K(k_query_string, "QUERY_STRING")
    K(k_content_type, "CONTENT_TYPE")
    K(k_content_length, "CONTENT_LENGTH")
    K(k_server_name, "SERVER_NAME")
    K(k_server_port, "SERVER_PORT")
    K(k_server_protocol, "SERVER_PROTOCOL")
    K(k_remote_addr, "REMOTE_ADDR")
    K(k_remote_port, "REMOTE_PORT")
    K(k_request_uri, "REQUEST_URI")
    K(k_wsgi_input, "wsgi.input")
    K(k_wsgi_errors, "wsgi.errors")
    K(v_http11, "HTTP/1.1")
    K(v_http10, "HTTP/1.0")
    K(v_get, "GET")
    K(v_post, "POST")
    K(v_head, "HEAD")
    K(v_empty, "")
    K(s_close, "close")
    K(k_stderr, "stderr")
    K(s_read, "read")
    K(s_fileno, "fileno")
    K(s_tell, "tell")
#undef K
    PyObject *sys = PyImport_ImportModule("sys");
    if (sys == NULL)
        return -1;
    hd_sys_dict = PyModule_GetDict(sys); /* borrowed, alive as long as sys: kept */
    Py_INCREF(hd_sys_dict);
    Py_DECREF(sys);
    hd_env_template = PyDict_New();
    if (hd_env_template == NULL)
        return -1;
    PyObject *version = Py_BuildValue("(ii)", 1, 0);
    PyObject *scheme = hd_intern("http");
    int rc = version && scheme ? 0 : -1;
    rc |= PyDict_SetItemString(hd_env_template, "wsgi.version", version);
    rc |= PyDict_SetItemString(hd_env_template, "wsgi.url_scheme", scheme);
    rc |= PyDict_SetItemString(hd_env_template, "wsgi.multithread",
                               hd_py_cfg->threads > 1 ? Py_True : Py_False);
    rc |= PyDict_SetItemString(hd_env_template, "wsgi.multiprocess",
                               hd_py_cfg->processes > 1 ? Py_True : Py_False);
    rc |= PyDict_SetItemString(hd_env_template, "wsgi.run_once", Py_False);
    rc |= PyDict_SetItemString(hd_env_template, "wsgi.input_terminated", Py_True);
    rc |= PyDict_SetItemString(hd_env_template, "wsgi.file_wrapper",
                               (PyObject *)&hd_filewrapper_type);
    rc |= PyDict_SetItem(hd_env_template, k_script_name, v_empty);
    /* Keys every request sets, with placeholder values: the per-request copy
       is then sized for them and setting them replaces values in place
       (measured: fewer instructions than inserting into a growing dict). */
    PyObject *always[] = {k_request_method, k_path_info, k_query_string, k_request_uri,
                          k_server_protocol, k_server_name, k_server_port, k_remote_addr,
                          k_remote_port, k_wsgi_input, k_wsgi_errors};
    for (size_t i = 0; i < sizeof(always) / sizeof(always[0]); i++)
        rc |= PyDict_SetItem(hd_env_template, always[i], Py_None);
    Py_XDECREF(version);
    Py_XDECREF(scheme);
    return rc ? -1 : 0;
}
