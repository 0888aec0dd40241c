/*
 * process/forker: who forks the workers, and how the master's loop asks.
 *
 * The master's main thread, which initialised Python and owns its main
 * thread state, is the forker: once the master is set up it only forks
 * (always through hd_py_fork) and, on a reload, re-executes the master. The
 * master's loop (master.c) runs in a supervisor thread that never touches
 * Python. It asks for a fork of slot N over a pipe and learns the outcome
 * from another pipe in its epoll set, so a Python thread of the master that
 * keeps the GIL in a long C call delays forks, never signals, reaping, kills
 * or the exit (DESIGN.md section 2).
 *
 * Why the main thread forks, not a new thread:
 * - A worker is then forked exactly as before: by the thread Python knows
 *   as its main thread, with the main thread state. Its only thread is the
 *   runtime's main thread and threading.main_thread() on every CPython.
 *   Forked from another thread, 3.11 and 3.12 name the worker's main thread
 *   "Dummy-1" if threading ever saw the forking thread (an at-fork hook that
 *   logs is enough).
 * - PR_SET_PDEATHSIG fires when the thread that forked a worker ends, and
 *   execve() from any other thread ends it: workers must be forked by the
 *   thread that re-executes the master on reload, and that thread must be
 *   the process's first (the one every image keeps).
 * - The worker keeps the main thread's stack (RLIMIT_STACK, growing).
 *
 * Every request gets exactly one result. The supervisor holds the forker
 * lock (hd_forker_hold) whenever it is not waiting in epoll_wait; the forker
 * takes it, with the GIL, only around fork() itself. So the supervisor is
 * never inside libc (a lock in localtime_r, setenv, stdio) when a worker is
 * forked, and once it holds the lock the result of every fork done so far
 * is already in the result pipe: after hd_forker_cancel no fork can begin.
 */
#ifndef HD_PROCESS_FORKER_H
#define HD_PROCESS_FORKER_H

#include <stdbool.h>
#include <sys/types.h>

typedef struct hd_fork_result_s {
    int id;  /* the slot asked for */
    int pid; /* > 0: forked; < 0: fork() failed (err); 0: dropped (stop) */
    int err;
} hd_fork_result_t;

/* In the child, on the forker thread with the GIL held: never returns. */
typedef void (*hd_forker_child_fn)(void *arg, int id);

/* Before the supervisor thread exists. Returns 0 or -1 (logged). */
int hd_forker_init(void);

/* The supervisor's side. */
int hd_forker_result_fd(void);               /* readable: a result waits */
int hd_forker_request(int id);               /* 0, or -1 with errno */
bool hd_forker_result(hd_fork_result_t *r);  /* next result; false: none yet */
void hd_forker_cancel(void);                 /* a stop began: fork nothing more */
void hd_forker_hold(void);
void hd_forker_release(void);
/* Has the forker re-execute the master (argv as main() got it). Only with
   no fork request outstanding and the forker lock released; returns only
   if execv() failed: -1 with errno. */
int hd_forker_exec(char **argv);

/* The main thread, from the end of the master's setup on: serves requests
   forever. The master exits from the supervisor thread. */
void hd_forker_run(hd_forker_child_fn child, void *arg) __attribute__((noreturn));

#endif
