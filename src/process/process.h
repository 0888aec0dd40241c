/*
 * process: the master and its workers. The master never serves requests: it
 * forks the workers (always through hd_py_fork), reaps and respawns them,
 * watches new workers become ready, and turns signals into policy. Nothing
 * here knows HTTP.
 */
#ifndef HD_PROCESS_H
#define HD_PROCESS_H

#include <stddef.h>

#include "config/config.h"
#include "net/listen.h"

#define HD_MAX_WORKERS 1024

/* main() sets these: the command line, for reload by re-execution, and the
   ceiling SIGTTIN may raise the worker count to (the scoreboard's size). */
extern char **hd_master_argv;
extern int hd_master_max_workers;

/* Runs the master until shutdown; returns the process exit code. */
int hd_master_run(const hd_config_t *cfg, hd_listener_t *ls, size_t nls);

/* In a freshly forked worker (GIL held): never returns. ready_fd is the
   write end of the master's readiness pipe; close_fds are master-only
   descriptors the worker must not keep. */
void hd_worker_main(const hd_config_t *cfg, hd_listener_t *ls, size_t nls, int id,
                    int ready_fd, const int *close_fds, size_t nclose)
    __attribute__((noreturn));

/* The signals herd handles; blocked in every thread, read with signalfd. */
void hd_signals_block(void);
/* Resets their dispositions (an app may have set SIG_IGN at import). */
void hd_signals_reset(void);

#endif
