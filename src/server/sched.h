/*
 * server/sched: what each thread of a worker does, so that threads cost an
 * app that never blocks nothing, and an app that blocks gets them.
 *
 * Connections with work (an epoll edge, claimed) wait in one FIFO run
 * queue. The thread that holds the GIL, the runner, keeps it from one
 * request to the next while there is work, fetching more with a
 * non-blocking epoll_wait when the queue runs dry: per request one read()
 * and one writev(), per batch one epoll_wait, and no GIL hand-off. It lets
 * the GIL go only to wait: for a socket, inside the app (any blocking call
 * there releases it), or when the worker has nothing left to do; it is
 * then the poller, the one thread in a blocking epoll_wait.
 *
 * Other threads must not take events while a runner works: each would cost
 * a wake-up and a GIL hand-off per request (measured before this design:
 * five futex calls and one epoll_wait per request with 4 threads, and a
 * third fewer requests per second than with one). They are parked, except
 * one watcher. While some thread is in the app, the watcher looks every
 * HD_SCHED_TICK_MS at the count of app calls begun and ended: when it has
 * not moved (every thread in the app is blocked, or computes for that
 * long) and work waits, it takes the GIL and runs that work, and a parked
 * thread becomes the watcher. The GIL is free at once if the runner is
 * blocked; a computing runner gives it up after CPython's switch interval,
 * as between any Python threads. A watcher that saw no app call for a
 * while sleeps until the next one begins.
 *
 * The queue holds claimed connections only (server/conn.c's state BUSY), so
 * a connection is still served by one thread at a time.
 */
#ifndef HD_SERVER_SCHED_H
#define HD_SERVER_SCHED_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

/* How long every thread in the app may make no progress before work that
   waits is given to another thread: what a blocked request can add to the
   wait of the next one. */
#define HD_SCHED_TICK_MS 1
/* Ticks without any thread in the app before the watcher sleeps. */
#define HD_SCHED_QUIET_TICKS 100

typedef struct hd_sched_item_s {
    struct hd_sched_item_s *next;
} hd_sched_item_t;

typedef struct hd_sched_s {
    pthread_mutex_t lock;
    pthread_cond_t call;          /* parked threads: one is called to watch */
    pthread_cond_t alarm;         /* the watcher's ticks, and its wake-up */
    hd_sched_item_t *head, *tail; /* the run queue */
    int nthreads;
    int parked;                   /* threads waiting in hd_sched_idle */
    int called;                   /* of them, asked to be the watcher */
    bool polling;                 /* a thread is in the blocking epoll_wait */
    bool watcher;                 /* a thread watches, or is called to */
    _Atomic bool ticking;         /* the watcher ticks (not asleep) */
    _Atomic int busy;             /* threads in the app */
    _Atomic unsigned progress;    /* app calls begun and ended */
} hd_sched_t;

/* What an idle thread is to do (hd_sched_idle). */
typedef enum { HD_SCHED_POLL = 1, HD_SCHED_WATCH } hd_sched_role_e;

/* For nthreads threads. Returns 0, or -1 with errno. */
int hd_sched_init(hd_sched_t *q, int nthreads);

void hd_sched_push(hd_sched_t *q, hd_sched_item_t *it);
hd_sched_item_t *hd_sched_pop(hd_sched_t *q); /* NULL: the queue is empty */
bool hd_sched_queued(hd_sched_t *q);           /* is work waiting? */

/*
 * A thread without the GIL and without work: returns HD_SCHED_POLL if it is
 * now the poller (then epoll_wait, then hd_sched_polled), else parks it
 * until it is called to be the watcher (HD_SCHED_WATCH: hd_sched_watch).
 */
hd_sched_role_e hd_sched_idle(hd_sched_t *q);
void hd_sched_polled(hd_sched_t *q);

/*
 * The watcher: returns when every thread in the app has made no progress
 * for a tick. The caller then looks for work without waiting (a
 * non-blocking epoll_wait), and either calls hd_sched_take_over and runs
 * it with the GIL, or calls hd_sched_watch again.
 */
void hd_sched_watch(hd_sched_t *q);
void hd_sched_take_over(hd_sched_t *q);

/* Around anything a thread with work may block in: every app call, every
   wait for a socket (with or without the GIL). */
void hd_sched_enter(hd_sched_t *q);
void hd_sched_leave(hd_sched_t *q);

#endif
