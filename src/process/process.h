/*
 * process: the master and its workers. The master never serves requests: it
 * forks the workers (always through hd_py_fork, on its main thread: see
 * forker.h), reaps and respawns them, watches new workers become ready, and
 * turns signals into policy. Nothing here knows HTTP.
 */
#ifndef HD_PROCESS_H
#define HD_PROCESS_H

#include <stddef.h>
#include <sys/types.h>

#include "config/config.h"
#include "net/listen.h"

#define HD_MAX_WORKERS 1024

/* main() sets these: the command line, for reload by re-execution, and the
   ceiling SIGTTIN may raise the worker count to (the scoreboard's size). */
extern char **hd_master_argv;
extern int hd_master_max_workers;

/* Runs the master until shutdown, GIL released: the loop in a supervisor
   thread, forks on this (the main) thread (forker.h). The supervisor exits
   the process (removing the pid file) with the exit code; returns (1) only
   if the master cannot be set up. */
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

/* daemon.c: the operating-system side of starting up. Each returns 0, or
   -1 with the reason logged. */
int hd_daemonize(const char *logfile);
int hd_pidfile_write(const char *path);
/* After a reload by re-exec: the file is already ours (same pid). */
void hd_pidfile_adopt(const char *path);
void hd_pidfile_remove(void);
/* "user[:group]" (names or numbers) to ids. */
int hd_owner_parse(const char *spec, uid_t *uid, gid_t *gid);
/* --uid/--gid; warns when running as root without them. */
int hd_drop_privileges(const char *user, const char *group);
/* systemd's READY=1 / STATUS=... / STOPPING=1, when $NOTIFY_SOCKET is set. */
void hd_sd_notify(const char *state);

#endif
