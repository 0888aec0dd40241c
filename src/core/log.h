/*
 * core/log: herd's log lines, to stderr (fd 2), one write(2) per line so that
 * lines from the master, workers and threads never interleave mid-line.
 * Line format: "YYYY-mm-dd HH:MM:SS herd[PID] ROLE: message".
 * Safe to call from any thread; not async-signal-safe (never called from a
 * signal handler: herd's handlers only record).
 */
#ifndef HD_CORE_LOG_H
#define HD_CORE_LOG_H

#include <stddef.h>

#define HD_LOG_ERR 0
#define HD_LOG_WARN 1
#define HD_LOG_INFO 2

/* The role shown in every line: "master" or "worker 3". */
void hd_log_set_role(const char *role);

void hd_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Logs fmt plus ": strerror(errno)", for failed system calls. */
void hd_log_errno(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* --logto / --daemonize: from now on fd 2 (and 1) write to path, appending.
   Returns 0 or -1 (logged to the old stderr). */
int hd_log_open(const char *path);

/* Reopens the file given to hd_log_open (SIGUSR1, after logrotate moved it);
   does nothing without one. */
void hd_log_reopen(void);

/* Writes a preformatted line (no prefix added; a '\n' is appended if absent). */
void hd_log_raw(const char *line, size_t len);

#endif
