/* py/internal.h: shared between the files of py/ only. */
#ifndef HD_PY_INTERNAL_H
#define HD_PY_INTERNAL_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "config/config.h"

extern PyObject *hd_py_app;        /* the WSGI callable (owned) */
extern PyObject *hd_py_helpers;    /* the _herd_internal module (owned) */
extern const hd_config_t *hd_py_cfg;
extern int hd_py_worker_id;        /* 0 in the master */

/* module.c: the herd, uwsgi and uwsgidecorators modules. */
void hd_py_modules_register(void);
PyObject *hd_py_postfork_hooks(void); /* borrowed list */

/* wsgi.c: types and interned strings, created once after init. */
int hd_py_wsgi_init(void);

/* Calls _herd_internal.NAME(*args) (new reference, NULL on error). */
PyObject *hd_py_helper_call(const char *name, PyObject *args);

/* Logs the current exception (with traceback) after a context line. */
void hd_py_log_exception(const char *what);

#endif
