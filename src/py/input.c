/*
 * py/input: wsgi.input, a file-like object that streams the request body
 * from the connection (Content-Length or chunked, de-chunked by server/) and
 * never reads past it. read(n), read(), readline(n), readlines(hint) and
 * iteration by lines. Valid only during its request: afterwards reads
 * return b"".
 */
#include "py/input.h"

#include <string.h>

#define HD_INPUT_CHUNK 8192

/* Fills self's line buffer; returns bytes added, 0 at end of body, -1 with an
   exception set. */
static Py_ssize_t hd_input_fill(hd_input_t *self)
{
    if (self->conn == NULL || self->eof)
        return 0;
    if (self->rbuf == NULL) {
        self->rbuf = PyMem_Malloc(HD_INPUT_CHUNK);
        if (self->rbuf == NULL) {
            PyErr_NoMemory();
            return -1;
        }
    }
    if (self->roff > 0 && self->roff == self->rlen)
        self->roff = self->rlen = 0;
    if (self->rlen == HD_INPUT_CHUNK) {
        /* Compact: keep the unread tail at the front. */
        memmove(self->rbuf, self->rbuf + self->roff, self->rlen - self->roff);
        self->rlen -= self->roff;
        self->roff = 0;
        if (self->rlen == HD_INPUT_CHUNK)
            return 0; /* full: the caller takes what is there */
    }
    const char *err = NULL;
    ssize_t n = hd_conn_read_body(self->conn, self->rbuf + self->rlen,
                                  HD_INPUT_CHUNK - self->rlen, &err);
    if (n < 0) {
        PyErr_Format(PyExc_OSError, "reading the request body failed: %s", err ? err : "?");
        return -1;
    }
    if (n == 0)
        self->eof = true;
    self->rlen += (size_t)n;
    return n;
}

/* read(size=-1) */
static PyObject *hd_input_read(hd_input_t *self, PyObject *const *args, Py_ssize_t nargs)
{
    Py_ssize_t want = -1;
    if (nargs > 1) {
        PyErr_SetString(PyExc_TypeError, "read() takes at most one argument");
        return NULL;
    }
    if (nargs == 1 && args[0] != Py_None) {
        want = PyLong_AsSsize_t(args[0]);
        if (want == -1 && PyErr_Occurred())
            return NULL;
    }
    size_t avail = self->rlen - self->roff;
    if (want >= 0 && (size_t)want <= avail) {
        PyObject *r = PyBytes_FromStringAndSize(self->rbuf ? self->rbuf + self->roff : "", want);
        self->roff += (size_t)want;
        return r;
    }

    /* Read straight into a bytes object, growing it when size is unknown. */
    Py_ssize_t cap = want >= 0 ? want : (Py_ssize_t)(avail + 16384);
    PyObject *out = PyBytes_FromStringAndSize(NULL, cap);
    if (out == NULL)
        return NULL;
    Py_ssize_t len = 0;
    if (avail > 0) {
        memcpy(PyBytes_AS_STRING(out), self->rbuf + self->roff, avail);
        len = (Py_ssize_t)avail;
        self->roff = self->rlen = 0;
    }
    while (self->conn != NULL && !self->eof && (want < 0 || len < want)) {
        if (len == cap) {
            cap = cap * 2;
            if (_PyBytes_Resize(&out, cap) < 0)
                return NULL;
        }
        const char *err = NULL;
        ssize_t n = hd_conn_read_body(self->conn, PyBytes_AS_STRING(out) + len,
                                      (size_t)(cap - len), &err);
        if (n < 0) {
            Py_DECREF(out);
            PyErr_Format(PyExc_OSError, "reading the request body failed: %s", err ? err : "?");
            return NULL;
        }
        if (n == 0)
            self->eof = true;
        len += n;
    }
    if (len != cap && _PyBytes_Resize(&out, len) < 0)
        return NULL;
    return out;
}

/* readline(size=-1): up to and including b"\n", at most size bytes. */
static PyObject *hd_input_readline_impl(hd_input_t *self, Py_ssize_t limit)
{
    PyObject *acc = NULL; /* bytes gathered when a line spans refills */
    for (;;) {
        size_t avail = self->rlen - self->roff;
        const char *start = self->rbuf ? self->rbuf + self->roff : "";
        size_t take = avail;
        Py_ssize_t have = acc ? PyBytes_GET_SIZE(acc) : 0;
        bool done = false;
        const char *nl = avail ? memchr(start, '\n', avail) : NULL;
        if (nl) {
            take = (size_t)(nl - start) + 1;
            done = true;
        }
        if (limit >= 0 && have + (Py_ssize_t)take >= limit) {
            take = (size_t)(limit - have);
            done = true;
        }
        if (take > 0 || done) {
            if (acc == NULL && done) {
                self->roff += take;
                return PyBytes_FromStringAndSize(start, (Py_ssize_t)take);
            }
            PyObject *part = PyBytes_FromStringAndSize(start, (Py_ssize_t)take);
            if (part == NULL) {
                Py_XDECREF(acc);
                return NULL;
            }
            self->roff += take;
            if (acc == NULL)
                acc = part;
            else {
                PyBytes_ConcatAndDel(&acc, part);
                if (acc == NULL)
                    return NULL;
            }
            if (done)
                return acc;
        }
        Py_ssize_t n = hd_input_fill(self);
        if (n < 0) {
            Py_XDECREF(acc);
            return NULL;
        }
        if (n == 0 && self->rlen == self->roff)
            return acc ? acc : PyBytes_FromStringAndSize("", 0);
    }
}

static PyObject *hd_input_readline(hd_input_t *self, PyObject *const *args, Py_ssize_t nargs)
{
    Py_ssize_t limit = -1;
    if (nargs > 1) {
        PyErr_SetString(PyExc_TypeError, "readline() takes at most one argument");
        return NULL;
    }
    if (nargs == 1 && args[0] != Py_None) {
        limit = PyLong_AsSsize_t(args[0]);
        if (limit == -1 && PyErr_Occurred())
            return NULL;
    }
    return hd_input_readline_impl(self, limit);
}

static PyObject *hd_input_readlines(hd_input_t *self, PyObject *const *args, Py_ssize_t nargs)
{
    Py_ssize_t hint = -1, total = 0;
    if (nargs > 1) {
        PyErr_SetString(PyExc_TypeError, "readlines() takes at most one argument");
        return NULL;
    }
    if (nargs == 1 && args[0] != Py_None) {
        hint = PyLong_AsSsize_t(args[0]);
        if (hint == -1 && PyErr_Occurred())
            return NULL;
    }
    PyObject *list = PyList_New(0);
    if (list == NULL)
        return NULL;
    for (;;) {
        PyObject *line = hd_input_readline_impl(self, -1);
        if (line == NULL) {
            Py_DECREF(list);
            return NULL;
        }
        Py_ssize_t n = PyBytes_GET_SIZE(line);
        if (n == 0) {
            Py_DECREF(line);
            return list;
        }
        if (PyList_Append(list, line) < 0) {
            Py_DECREF(line);
            Py_DECREF(list);
            return NULL;
        }
        Py_DECREF(line);
        total += n;
        if (hint > 0 && total >= hint)
            return list;
    }
}

static PyObject *hd_input_iternext(hd_input_t *self)
{
    PyObject *line = hd_input_readline_impl(self, -1);
    if (line != NULL && PyBytes_GET_SIZE(line) == 0) {
        Py_DECREF(line);
        return NULL; /* StopIteration */
    }
    return line;
}

static void hd_input_dealloc(hd_input_t *self)
{
    PyMem_Free(self->rbuf);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef hd_input_methods[] = {
    {"read", (PyCFunction)(void (*)(void))hd_input_read, METH_FASTCALL, "read(size=-1)"},
    {"readline", (PyCFunction)(void (*)(void))hd_input_readline, METH_FASTCALL,
     "readline(size=-1)"},
    {"readlines", (PyCFunction)(void (*)(void))hd_input_readlines, METH_FASTCALL,
     "readlines(hint=-1)"},
    {NULL, NULL, 0, NULL}};

PyTypeObject hd_input_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "herd.Input",
    .tp_basicsize = sizeof(hd_input_t),
    .tp_dealloc = (destructor)hd_input_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "wsgi.input: the request body, streamed.",
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = (iternextfunc)hd_input_iternext,
    .tp_methods = hd_input_methods,
};

hd_input_t *hd_input_new(hd_conn_t *conn)
{
    hd_input_t *self = PyObject_New(hd_input_t, &hd_input_type);
    if (self == NULL)
        return NULL;
    self->conn = conn;
    self->rbuf = NULL;
    self->rlen = self->roff = 0;
    self->eof = false;
    return self;
}

void hd_input_reset(hd_input_t *self, hd_conn_t *conn)
{
    self->conn = conn;
    self->rlen = self->roff = 0;
    self->eof = false;
}
