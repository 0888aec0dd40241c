/*
 * py/module: the modules herd gives to applications.
 *   herd:            postfork(fn) decorator, worker_id(), numproc, version
 *   uwsgi:           worker_id(), numproc, post_fork_hook list, opt  (the subset of
 *                    uWSGI's module that fork-aware apps use)
 *   uwsgidecorators: postfork(fn)
 * Post-fork hooks run in each worker after the fork, before it serves, in
 * registration order (then os.register_at_fork hooks have already run).
 */
#include "py/internal.h"

static PyObject *hd_py_hooks; /* list of callables (owned) */

PyObject *hd_py_postfork_hooks(void)
{
    if (hd_py_hooks == NULL)
        hd_py_hooks = PyList_New(0);
    return hd_py_hooks;
}

static PyObject *hd_mod_postfork(PyObject *self, PyObject *fn)
{
    if (!PyCallable_Check(fn)) {
        PyErr_SetString(PyExc_TypeError, "postfork() takes a callable");
        return NULL;
    }
    PyObject *hooks = hd_py_postfork_hooks();
    if (hooks == NULL || PyList_Append(hooks, fn) < 0)
        return NULL;
    Py_INCREF(fn);
    return fn; /* a decorator: gives the function back */
}

static PyObject *hd_mod_worker_id(PyObject *self, PyObject *unused)
{
    return PyLong_FromLong(hd_py_worker_id);
}

static PyMethodDef hd_herd_methods[] = {
    {"postfork", hd_mod_postfork, METH_O,
     "Decorator: run fn() in every worker after fork, before it serves."},
    {"worker_id", hd_mod_worker_id, METH_NOARGS,
     "The worker's id (1..N), 0 in the master."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef hd_herd_def = {PyModuleDef_HEAD_INIT, "herd",
                                         "herd's API for applications.", -1, hd_herd_methods,
                                         NULL, NULL, NULL, NULL};

static int hd_mod_add_common(PyObject *m)
{
    int numproc = hd_py_cfg ? hd_py_cfg->processes : 1;
    if (PyModule_AddIntConstant(m, "numproc", numproc) < 0)
        return -1;
    if (PyModule_AddStringConstant(m, "version", HD_VERSION) < 0)
        return -1;
    return 0;
}

static PyObject *hd_herd_init(void)
{
    PyObject *m = PyModule_Create(&hd_herd_def);
    if (m && hd_mod_add_common(m) < 0)
        Py_CLEAR(m);
    return m;
}

static PyMethodDef hd_uwsgi_methods[] = {
    {"worker_id", hd_mod_worker_id, METH_NOARGS, "The worker's id (1..N), 0 in the master."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef hd_uwsgi_def = {
    PyModuleDef_HEAD_INIT, "uwsgi",
    "herd's compatibility subset of uWSGI's uwsgi module (worker_id, numproc, opt).", -1,
    hd_uwsgi_methods, NULL, NULL, NULL, NULL};

static PyObject *hd_uwsgi_init(void)
{
    PyObject *m = PyModule_Create(&hd_uwsgi_def);
    if (m == NULL)
        return NULL;
    if (hd_mod_add_common(m) < 0 || PyModule_AddObject(m, "opt", PyDict_New()) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}

static PyMethodDef hd_uwsgidec_methods[] = {
    {"postfork", hd_mod_postfork, METH_O,
     "Decorator: run fn() in every worker after fork, before it serves."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef hd_uwsgidec_def = {
    PyModuleDef_HEAD_INIT, "uwsgidecorators",
    "herd's compatibility subset of uWSGI's uwsgidecorators (postfork).", -1,
    hd_uwsgidec_methods, NULL, NULL, NULL, NULL};

static PyObject *hd_uwsgidec_init(void)
{
    return PyModule_Create(&hd_uwsgidec_def);
}

void hd_py_modules_register(void)
{
    PyImport_AppendInittab("herd", hd_herd_init);
    PyImport_AppendInittab("uwsgi", hd_uwsgi_init);
    PyImport_AppendInittab("uwsgidecorators", hd_uwsgidec_init);
}
