/*
 * py/embed: the interpreter's life in herd: initialisation, app loading,
 * the fork protocol (DESIGN.md section 2), worker thread states and exit.
 */
#include "py/internal.h"
#include "py/py.h"

#include "core/log.h"
#include "py/helpers.py.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

PyObject *hd_py_app;
PyObject *hd_py_helpers;
const hd_config_t *hd_py_cfg;
int hd_py_worker_id;

/* The master's main thread state (T0): detached while the master idles. */
static PyThreadState *hd_py_main_tstate;

/* This OS thread's state while it is detached (worker threads). */
static __thread PyThreadState *hd_py_tls_tstate;

const char *hd_py_version_string(void)
{
    static char buf[256];
    const char *v = Py_GetVersion(); /* "3.11.2 (main, ...) [GCC ...]" */
    size_t n = strcspn(v, " ");
#ifdef Py_DEBUG
    const char *kind = "debug build";
#else
    const char *kind = "release build";
#endif
#ifdef HD_PYTHON_EXE
    snprintf(buf, sizeof(buf), "%.*s, %s, %s", (int)n, v, HD_PYTHON_EXE, kind);
#else
    snprintf(buf, sizeof(buf), "%.*s, %s", (int)n, v, kind);
#endif
    return buf;
}

void hd_py_log_exception(const char *what)
{
    hd_log(HD_LOG_ERR, "%s; Python traceback follows", what);
    /* PyErr_PrintEx(0): print through sys.stderr without keeping the
       exception alive in sys.last_*. */
    PyErr_PrintEx(0);
}

PyObject *hd_py_helper_call(const char *name, PyObject *args)
{
    PyObject *fn = PyObject_GetAttrString(hd_py_helpers, name);
    if (fn == NULL)
        return NULL;
    PyObject *r = PyObject_CallObject(fn, args);
    Py_DECREF(fn);
    return r;
}

static int hd_py_status_ok(PyStatus st, const char *what)
{
    if (PyStatus_Exception(st)) {
        hd_log(HD_LOG_ERR, "Python initialisation failed (%s): %s%s%s", what,
               st.func ? st.func : "", st.func ? ": " : "", st.err_msg ? st.err_msg : "?");
        return 0;
    }
    return 1;
}

int hd_py_init(const hd_config_t *cfg)
{
    PyConfig pc;
    PyStatus st;
    char path[4096];

    hd_py_cfg = cfg;
    for (size_t i = 0; i < cfg->nenv; i++) {
        const char *eq = strchr(cfg->env[i], '=');
        char key[256];
        size_t kl = (size_t)(eq - cfg->env[i]);
        if (kl >= sizeof(key))
            kl = sizeof(key) - 1;
        memcpy(key, cfg->env[i], kl);
        key[kl] = '\0';
        setenv(key, eq + 1, 1);
    }

    hd_py_modules_register();

    PyConfig_InitPythonConfig(&pc);
    /* herd owns the process's signals: Python installs no handlers (no
       SIGINT -> KeyboardInterrupt); herd ignores SIGPIPE itself. */
    pc.install_signal_handlers = 0;
    pc.parse_argv = 0;
    st = PyConfig_SetBytesString(&pc, &pc.program_name, "herd");
    if (!hd_py_status_ok(st, "program name"))
        goto fail;
    if (cfg->home) {
        /* A virtualenv: let CPython's own path logic find pyvenv.cfg next to
           the environment's interpreter, exactly as when it runs directly. */
        snprintf(path, sizeof(path), "%s/bin/python3", cfg->home);
        if (access(path, X_OK) != 0)
            snprintf(path, sizeof(path), "%s/bin/python", cfg->home);
        if (access(path, X_OK) != 0) {
            hd_log(HD_LOG_ERR, "--home %s: no bin/python3 or bin/python there", cfg->home);
            goto fail;
        }
        st = PyConfig_SetBytesString(&pc, &pc.executable, path);
        if (!hd_py_status_ok(st, "--home"))
            goto fail;
    }
    {
        char *argv0 = "herd";
        st = PyConfig_SetBytesArgv(&pc, 1, &argv0);
        if (!hd_py_status_ok(st, "argv"))
            goto fail;
    }
    st = Py_InitializeFromConfig(&pc);
    if (!hd_py_status_ok(st, "Py_InitializeFromConfig"))
        goto fail;
    PyConfig_Clear(&pc);
    hd_py_main_tstate = PyThreadState_Get();

    /* sys.path: --pythonpath entries first (in order), then the working
       directory, as uWSGI does. */
    PyObject *sys_path = PySys_GetObject("path"); /* borrowed */
    if (sys_path == NULL || !PyList_Check(sys_path))
        return -1;
    if (getcwd(path, sizeof(path)) != NULL) {
        PyObject *p = PyUnicode_DecodeFSDefault(path);
        if (p == NULL || PyList_Insert(sys_path, 0, p) < 0) {
            Py_XDECREF(p);
            hd_py_log_exception("cannot extend sys.path");
            return -1;
        }
        Py_DECREF(p);
    }
    for (size_t i = cfg->npythonpath; i > 0; i--) {
        PyObject *p = PyUnicode_DecodeFSDefault(cfg->pythonpath[i - 1]);
        if (p == NULL || PyList_Insert(sys_path, 0, p) < 0) {
            Py_XDECREF(p);
            hd_py_log_exception("cannot extend sys.path");
            return -1;
        }
        Py_DECREF(p);
    }

    PyObject *code = Py_CompileString(hd_py_helpers_src, "<herd>", Py_file_input);
    if (code == NULL) {
        hd_py_log_exception("internal helpers failed to compile");
        return -1;
    }
    hd_py_helpers = PyImport_ExecCodeModule("_herd_internal", code);
    Py_DECREF(code);
    if (hd_py_helpers == NULL) {
        hd_py_log_exception("internal helpers failed to load");
        return -1;
    }
    if (hd_py_wsgi_init() < 0) {
        hd_py_log_exception("WSGI types failed to initialise");
        return -1;
    }
    return 0;
fail:
    PyConfig_Clear(&pc);
    return -1;
}

int hd_py_load_app(const hd_config_t *cfg)
{
    PyObject *args = Py_BuildValue("(zzz)", cfg->wsgi_file, cfg->module, cfg->callable);
    if (args == NULL) {
        hd_py_log_exception("cannot load the app");
        return -1;
    }
    PyObject *app = hd_py_helper_call("load_app", args);
    Py_DECREF(args);
    if (app == NULL) {
        char what[512];
        snprintf(what, sizeof(what), "cannot load the app from %s",
                 cfg->wsgi_file ? cfg->wsgi_file : cfg->module);
        hd_py_log_exception(what);
        return -1;
    }
    Py_XSETREF(hd_py_app, app);
    return 0;
}

void hd_py_master_ready(const hd_config_t *cfg)
{
    if (cfg->gc_freeze) {
        /* Move everything allocated so far to the permanent generation, so
           that the collector never writes to those pages and they stay
           shared copy-on-write between the workers. */
        PyObject *gc = PyImport_ImportModule("gc");
        PyObject *r = gc ? PyObject_CallMethod(gc, "collect", NULL) : NULL;
        Py_XDECREF(r);
        r = gc ? PyObject_CallMethod(gc, "freeze", NULL) : NULL;
        if (r == NULL)
            hd_py_log_exception("gc.freeze() failed");
        Py_XDECREF(r);
        Py_XDECREF(gc);
    }
    hd_py_main_tstate = PyEval_SaveThread();
}

pid_t hd_py_fork(const hd_py_fork_ops_t *ops)
{
    static const hd_py_fork_ops_t none;
    pid_t pid;
    int saved;

    if (ops == NULL)
        ops = &none;
    /* 1. Re-attach the master's main thread state: take the GIL from any
          Python thread of the master, so that none of them holds it at fork.
          This may wait as long as such a thread keeps the GIL in a C call:
          the master's loop runs elsewhere (process/forker.h). */
    PyEval_RestoreThread(hd_py_main_tstate);
    if (ops->wanted != NULL && !ops->wanted(ops->arg)) {
        hd_py_main_tstate = PyEval_SaveThread();
        errno = ECANCELED;
        return -1;
    }

    PyObject *msg = hd_py_helper_call("master_threads", NULL);
    if (msg == NULL)
        PyErr_Clear();
    else if (PyUnicode_Check(msg))
        hd_log(HD_LOG_WARN, "%s", PyUnicode_AsUTF8(msg));
    Py_XDECREF(msg);

    /* 2. at-fork "before" hooks and the interpreter's fork-sensitive locks. */
    PyOS_BeforeFork();
    /* 3. No Python API between here and PyOS_AfterFork_*. */
    if (ops->enter != NULL && !ops->enter(ops->arg)) {
        PyOS_AfterFork_Parent();
        hd_py_main_tstate = PyEval_SaveThread();
        errno = ECANCELED;
        return -1;
    }
    pid = fork();
    saved = errno;
    if (ops->leave != NULL)
        ops->leave(ops->arg, pid, pid < 0 ? saved : 0);
    if (pid == 0) {
        /* 4c. First thing in the child: a GIL owned by this thread, the other
               threads' states dropped, locks re-initialised, at-fork hooks. */
        PyOS_AfterFork_Child();
        PyObject *r = hd_py_helper_call("fix_stdio", NULL);
        if (r == NULL)
            hd_py_log_exception("cannot re-create sys.stdout/sys.stderr after fork");
        Py_XDECREF(r);
        return 0; /* GIL held by this (the main) thread */
    }
    /* 4p. The parent releases the locks, runs after_in_parent hooks, and
           lets its Python threads run again. */
    PyOS_AfterFork_Parent();
    hd_py_main_tstate = PyEval_SaveThread();
    errno = saved;
    return pid;
}

int hd_py_worker_init(const hd_config_t *cfg, int worker_id)
{
    hd_py_worker_id = worker_id;
    if (cfg->lazy_apps && hd_py_load_app(cfg) < 0)
        return -1;
    if (cfg->harakiri > 0) {
        PyObject *h = hd_py_helper_call("setup_harakiri", NULL);
        if (h == NULL)
            hd_py_log_exception("cannot set up --harakiri tracebacks");
        Py_XDECREF(h);
    }
    PyObject *args = Py_BuildValue("(O)", hd_py_postfork_hooks());
    PyObject *r = args ? hd_py_helper_call("run_postfork", args) : NULL;
    Py_XDECREF(args);
    if (r == NULL) {
        hd_py_log_exception("a postfork hook failed");
        return -1;
    }
    Py_DECREF(r);
    return 0;
}

void hd_py_worker_release(void)
{
    hd_py_tls_tstate = PyEval_SaveThread();
}

void hd_py_thread_attach(void)
{
    /* Creates and binds a thread state for this C thread (PyGILState knows
       it, for C extensions that call PyGILState_Ensure), then detaches. */
    PyGILState_Ensure();
    hd_py_tls_tstate = PyEval_SaveThread();
}

void hd_py_gil_drop(void)
{
    hd_py_tls_tstate = PyEval_SaveThread();
}

void hd_py_gil_take(void)
{
    PyEval_RestoreThread(hd_py_tls_tstate);
}

void hd_py_worker_exit(int code)
{
    PyEval_RestoreThread(hd_py_tls_tstate);
    PyObject *r = hd_py_helper_call("worker_exit", NULL);
    if (r == NULL)
        hd_py_log_exception("an atexit handler failed");
    Py_XDECREF(r);
    /* No Py_Finalize: other threads of this worker (the app's, herd's) may
       hold references anywhere; the process ends here. */
    _exit(code);
}
