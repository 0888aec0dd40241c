/*
 * Unit tests for server/sched: the run queue, and the roles a worker's
 * threads take (poller, parked, watcher) with the watcher's take-over rule.
 * Real threads; every wait is bounded (a deadline, then a failure). A plain
 * runner: one line per failure, then "N passed, N failed" last.
 */
#include "server/sched.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "runner.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void nap_ms(int ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Waits (bounded) until *flag is set; returns whether it was. */
static bool wait_flag(_Atomic int *flag, double seconds)
{
    double end_at = now() + seconds;
    while (!atomic_load(flag) && now() < end_at)
        nap_ms(1);
    return atomic_load(flag) != 0;
}

/* Waits (bounded) until n threads are parked in hd_sched_idle. */
static bool wait_parked(hd_sched_t *q, int n)
{
    double end_at = now() + 5.0;
    for (;;) {
        pthread_mutex_lock(&q->lock);
        int parked = q->parked;
        pthread_mutex_unlock(&q->lock);
        if (parked >= n)
            return true;
        if (now() >= end_at)
            return false;
        nap_ms(1);
    }
}

/* ---- the queue ------------------------------------------------------------ */

static void test_queue_fifo(void)
{
    hd_sched_t q;
    hd_sched_item_t it[3];
    begin("queue is FIFO and empties");
    CHECK(hd_sched_init(&q, 1) == 0, "init failed");
    CHECK(!hd_sched_queued(&q), "new queue not empty");
    for (int i = 0; i < 3; i++)
        hd_sched_push(&q, &it[i]);
    CHECK(hd_sched_queued(&q), "queue empty after push");
    for (int i = 0; i < 3; i++) {
        hd_sched_item_t *got = hd_sched_pop(&q);
        CHECK(got == &it[i], "pop %d: got item %ld", i, got ? (long)(got - it) : -1L);
    }
    CHECK(hd_sched_pop(&q) == NULL, "pop from an empty queue");
    hd_sched_push(&q, &it[1]); /* reusable after emptying */
    CHECK(hd_sched_pop(&q) == &it[1] && hd_sched_pop(&q) == NULL, "push after empty");
    end();
}

/* ---- roles ---------------------------------------------------------------- */

typedef struct {
    hd_sched_t *q;
    _Atomic int role; /* what hd_sched_idle returned, 0 while parked */
    _Atomic int watched; /* hd_sched_watch returned */
} idler_t;

static void *idler(void *arg)
{
    idler_t *x = arg;
    int role = hd_sched_idle(x->q);
    atomic_store(&x->role, role);
    if (role == HD_SCHED_WATCH) {
        hd_sched_watch(x->q);
        atomic_store(&x->watched, 1);
    }
    return NULL;
}

/* The usual start: two threads; this one becomes the poller, the idler
   parks, then this one got work (it is the runner now). */
static void start_runner_and_parked(hd_sched_t *q, idler_t *x, pthread_t *th)
{
    hd_sched_init(q, 2);
    CHECK(hd_sched_idle(q) == HD_SCHED_POLL, "first idle thread is not the poller");
    pthread_create(th, NULL, idler, x);
    CHECK(wait_parked(q, 1), "second idle thread did not park");
    CHECK(atomic_load(&x->role) == 0, "second idle thread returned (role %d)", atomic_load(&x->role));
    hd_sched_polled(q);
}

static void test_one_poller_others_parked(void)
{
    hd_sched_t q;
    idler_t x = {.q = &q};
    pthread_t th;
    begin("the first idle thread polls, the next parks until an app call needs a watcher");
    start_runner_and_parked(&q, &x, &th);
    hd_sched_enter(&q); /* the runner runs the app: a parked thread is called to watch */
    CHECK(wait_flag(&x.role, 5.0), "parked thread not called");
    CHECK(atomic_load(&x.role) == HD_SCHED_WATCH, "called thread's role %d", atomic_load(&x.role));
    /* the app call stays where it is: the watcher reports the stall */
    CHECK(wait_flag(&x.watched, 5.0), "watcher never reported a stalled app call");
    hd_sched_take_over(&q);
    hd_sched_leave(&q);
    pthread_join(th, NULL);
    end();
}

typedef struct {
    hd_sched_t *q;
    _Atomic int stop;
} worker_t;

/* A runner that keeps serving app calls of 0.2 ms (a fifth of a tick): the
   watcher always sees one in the app, and never the same one twice. */
static void *runner(void *arg)
{
    worker_t *w = arg;
    while (!atomic_load(&w->stop)) {
        hd_sched_enter(w->q);
        double until = now() + 0.0002;
        while (now() < until)
            ;
        hd_sched_leave(w->q);
    }
    return NULL;
}

static void test_watcher_keeps_out_while_calls_progress(void)
{
    hd_sched_t q;
    idler_t x = {.q = &q};
    worker_t w = {.q = &q};
    pthread_t th, rt;
    begin("the watcher does not take over while app calls end, and does once one is stuck");
    start_runner_and_parked(&q, &x, &th);
    pthread_create(&rt, NULL, runner, &w);
    CHECK(wait_flag(&x.role, 5.0), "no watcher called");
    CHECK(atomic_load(&x.role) == HD_SCHED_WATCH, "called thread's role %d", atomic_load(&x.role));
    nap_ms(100 * HD_SCHED_TICK_MS); /* a hundred ticks of progress */
    CHECK(!atomic_load(&x.watched), "the watcher took over from a runner that made progress");
    atomic_store(&w.stop, 1);
    pthread_join(rt, NULL);
    hd_sched_enter(&q); /* a call that blocks */
    CHECK(wait_flag(&x.watched, 5.0), "the watcher never took over from a stuck call in 5 s");
    hd_sched_take_over(&q);
    hd_sched_leave(&q);
    pthread_join(th, NULL);
    end();
}

static void test_watcher_sleeps_when_quiet_and_wakes(void)
{
    hd_sched_t q;
    idler_t x = {.q = &q};
    pthread_t th;
    begin("a watcher with no app call for a while sleeps; the next call wakes it");
    start_runner_and_parked(&q, &x, &th);
    hd_sched_enter(&q);
    hd_sched_leave(&q); /* called a watcher; then nothing runs */
    CHECK(wait_flag(&x.role, 5.0), "no watcher called");
    CHECK(atomic_load(&x.role) == HD_SCHED_WATCH, "called thread's role %d", atomic_load(&x.role));
    double end_at = now() + 5.0;
    while (atomic_load(&q.ticking) && now() < end_at)
        nap_ms(5);
    CHECK(!atomic_load(&q.ticking), "the watcher kept ticking with no app call for 5 s");
    CHECK(!atomic_load(&x.watched), "the watcher took over with nothing in the app");
    hd_sched_enter(&q); /* wakes it: and it is stuck */
    CHECK(atomic_load(&q.ticking), "an app call did not wake the sleeping watcher");
    CHECK(wait_flag(&x.watched, 5.0), "the woken watcher never reported the stuck call");
    hd_sched_take_over(&q);
    hd_sched_leave(&q);
    pthread_join(th, NULL);
    end();
}

static void test_single_thread_has_no_watcher(void)
{
    hd_sched_t q;
    begin("with one thread, app calls never look for a watcher");
    hd_sched_init(&q, 1);
    CHECK(hd_sched_idle(&q) == HD_SCHED_POLL, "the only thread is not the poller");
    hd_sched_polled(&q);
    hd_sched_enter(&q);
    CHECK(!q.watcher && !atomic_load(&q.ticking), "a watcher was called with one thread");
    CHECK(atomic_load(&q.busy) == 1, "busy %d", atomic_load(&q.busy));
    hd_sched_leave(&q);
    CHECK(atomic_load(&q.busy) == 0 && atomic_load(&q.progress) == 2, "counters");
    CHECK(hd_sched_idle(&q) == HD_SCHED_POLL, "poller again after polling ended");
    end();
}

int main(void)
{
    test_queue_fifo();
    test_one_poller_others_parked();
    test_watcher_keeps_out_while_calls_progress();
    test_watcher_sleeps_when_quiet_and_wakes();
    test_single_thread_has_no_watcher();
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
