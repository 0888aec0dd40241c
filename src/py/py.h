/*
 * py: everything that knows CPython. This header is what the rest of herd
 * sees of it: no Python.h here, no PyObject.
 *
 * Thread-state rules (DESIGN.md section 2):
 * - The master's main thread initialises Python and owns its main thread
 *   state; it holds the GIL only while loading the app and while forking.
 * - Every fork goes through hd_py_fork(), on that thread (process/forker.h);
 *   no other thread of the master calls into py/ once it runs.
 * - A worker thread attaches once (hd_py_thread_attach), then takes the
 *   GIL to run the app and keeps it while it has requests to serve; it
 *   drops it to wait for anything (server/sched.h).
 */
#ifndef HD_PY_PY_H
#define HD_PY_PY_H

#include <stdbool.h>
#include <sys/types.h>

#include "config/config.h"

struct hd_conn_s;

/* Exit code of a worker that could not load the app: the master stops. */
#define HD_EXIT_NOAPP 22

/* Initialises the interpreter (env, home, pythonpath); GIL held on return.
   Returns 0 or -1 (logged). */
int hd_py_init(const hd_config_t *cfg);

/* Imports the app and finds its callable; logs the traceback and returns -1
   on failure. GIL held. */
int hd_py_load_app(const hd_config_t *cfg);

/* After loading: gc.freeze() if asked; then the master releases the GIL. */
void hd_py_master_ready(const hd_config_t *cfg);

/* What the caller adds to the fork protocol; each hook may be NULL. */
typedef struct hd_py_fork_ops_s {
    /* GIL held, before PyOS_BeforeFork: false gives the fork up. */
    bool (*wanted)(void *arg);
    /* Right before fork(), after PyOS_BeforeFork: no Python API. false
       gives the fork up as a failed fork does (after_in_parent hooks run). */
    bool (*enter)(void *arg);
    /* Right after fork() in both processes, before PyOS_AfterFork_*: no
       Python API. pid and err: fork()'s result and errno. */
    void (*leave)(void *arg, pid_t pid, int err);
    void *arg;
} hd_py_fork_ops_t;

/*
 * The one fork of herd, from the master's main thread only: takes the GIL
 * with the master's main thread state (waiting for any Python thread of the
 * master that holds it), PyOS_BeforeFork, fork, PyOS_AfterFork_Parent +
 * release (parent) or PyOS_AfterFork_Child + stdio repair (child: returns 0
 * with the GIL held). ops may be NULL. Returns the pid, 0 in the child, -1
 * with errno on failure (ECANCELED: a hook gave the fork up).
 */
pid_t hd_py_fork(const hd_py_fork_ops_t *ops);

/* In a new worker, GIL held: sets the worker id, runs the post-fork hooks,
   loads the app with --lazy-apps. Returns 0 or -1 (logged). */
int hd_py_worker_init(const hd_config_t *cfg, int worker_id);

/* The worker's main thread releases the GIL before serving. */
void hd_py_worker_release(void);

/* Another worker thread: creates its thread state (then released). */
void hd_py_thread_attach(void);

/* Runs the app for the request on c; the caller holds the GIL. */
void hd_py_wsgi_handle(struct hd_conn_s *c);

/* A worker thread drops / takes the GIL (server/sched.h says when). */
void hd_py_gil_drop(void);
void hd_py_gil_take(void);

/* Runs atexit callbacks, flushes stdio and _exit(code)s the worker. */
void hd_py_worker_exit(int code) __attribute__((noreturn));

#endif
