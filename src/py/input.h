/* py/input: wsgi.input (see input.c). */
#ifndef HD_PY_INPUT_H
#define HD_PY_INPUT_H

#include "py/internal.h"
#include "server/conn.h"

#include <stdbool.h>

typedef struct hd_input_s {
    PyObject_HEAD
    hd_conn_t *conn; /* NULL once the request is over */
    char *rbuf;      /* line buffer (PyMem), HD_INPUT_CHUNK bytes */
    size_t rlen, roff;
    bool eof;
} hd_input_t;

extern PyTypeObject hd_input_type;

/* New reference; conn may be NULL. */
hd_input_t *hd_input_new(hd_conn_t *conn);

/* Re-arms a cached object for another request (or detaches with NULL). */
void hd_input_reset(hd_input_t *self, hd_conn_t *conn);

#endif
