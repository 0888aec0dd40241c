/*
 * process/scoreboard: one shared-memory region (mmap MAP_SHARED, made by the
 * master before the first fork) with a slot per worker and, inside it, a
 * sub-slot per thread. A worker writes only its own slot; the master reads
 * all of them (deadlines, recycling, stats). Fields are atomics or written
 * before a release store of the field readers check first.
 */
#ifndef HD_PROCESS_SCOREBOARD_H
#define HD_PROCESS_SCOREBOARD_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct hd_score_thread_s {
    _Atomic int64_t start_ms; /* monotonic ms the current request began; 0: idle */
    int fd;                   /* its connection */
    char what[120];           /* "GET /path" of the current request */
} hd_score_thread_t;

typedef struct hd_score_s {
    _Atomic int pid;
    _Atomic uint64_t requests;  /* served by this process */
    _Atomic int64_t rss_kb;     /* written by the master */
    _Atomic int respawns;
    char last_exit[64];         /* written by the master */
    hd_score_thread_t threads[]; /* cfg->threads of them */
} hd_score_t;

/* Worker -> master messages on the notification pipe (atomic: < PIPE_BUF). */
typedef struct hd_msg_s {
    int type; /* HD_MSG_* */
    int id;
    int pid;
} hd_msg_t;
#define HD_MSG_READY 1   /* serving */
#define HD_MSG_RECYCLE 2 /* reached --max-requests: replace me */

/* Exit code of a worker that stopped itself for --harakiri. */
#define HD_EXIT_HARAKIRI 23

/* Maps the region for nworkers slots (1-based ids) of nthreads threads. */
int hd_scoreboard_init(int nworkers, int nthreads);

/* The slot of worker id (1..nworkers). */
hd_score_t *hd_score(int id);

/* Monotonic milliseconds, the scoreboard's clock. */
int64_t hd_score_now_ms(void);

#endif
