/* server/sched: the run queue and the threads' roles (see sched.h). */
#include "server/sched.h"

#include <time.h>

int hd_sched_init(hd_sched_t *q, int nthreads)
{
    pthread_condattr_t ca;
    q->head = q->tail = NULL;
    q->nthreads = nthreads;
    q->parked = q->called = 0;
    q->polling = q->watcher = false;
    atomic_store(&q->ticking, false);
    atomic_store(&q->busy, 0);
    atomic_store(&q->progress, 0);
    if (pthread_mutex_init(&q->lock, NULL) != 0 || pthread_cond_init(&q->call, NULL) != 0 ||
        pthread_condattr_init(&ca) != 0)
        return -1;
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(&q->alarm, &ca);
    pthread_condattr_destroy(&ca);
    return rc == 0 ? 0 : -1;
}

void hd_sched_push(hd_sched_t *q, hd_sched_item_t *it)
{
    it->next = NULL;
    pthread_mutex_lock(&q->lock);
    if (q->tail != NULL)
        q->tail->next = it;
    else
        q->head = it;
    q->tail = it;
    pthread_mutex_unlock(&q->lock);
}

hd_sched_item_t *hd_sched_pop(hd_sched_t *q)
{
    pthread_mutex_lock(&q->lock);
    hd_sched_item_t *it = q->head;
    if (it != NULL) {
        q->head = it->next;
        if (q->head == NULL)
            q->tail = NULL;
    }
    pthread_mutex_unlock(&q->lock);
    return it;
}

bool hd_sched_queued(hd_sched_t *q)
{
    pthread_mutex_lock(&q->lock);
    bool any = q->head != NULL;
    pthread_mutex_unlock(&q->lock);
    return any;
}

hd_sched_role_e hd_sched_idle(hd_sched_t *q)
{
    pthread_mutex_lock(&q->lock);
    if (!q->polling) {
        q->polling = true;
        pthread_mutex_unlock(&q->lock);
        return HD_SCHED_POLL;
    }
    q->parked++;
    while (q->called == 0)
        pthread_cond_wait(&q->call, &q->lock);
    q->called--;
    q->parked--;
    pthread_mutex_unlock(&q->lock);
    return HD_SCHED_WATCH;
}

void hd_sched_polled(hd_sched_t *q)
{
    pthread_mutex_lock(&q->lock);
    q->polling = false;
    pthread_mutex_unlock(&q->lock);
}

void hd_sched_watch(hd_sched_t *q)
{
    int quiet = 0;
    pthread_mutex_lock(&q->lock);
    unsigned last = atomic_load(&q->progress);
    for (;;) {
        if (atomic_load(&q->ticking)) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            ts.tv_nsec += HD_SCHED_TICK_MS * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            /* Nobody signals a ticking watcher: any earlier return is
               spurious, and a tick must be whole. */
            while (pthread_cond_timedwait(&q->alarm, &q->lock, &ts) == 0)
                ;
        } else {
            pthread_cond_wait(&q->alarm, &q->lock);
            quiet = 0;
            last = atomic_load(&q->progress);
            continue;
        }
        unsigned now = atomic_load(&q->progress);
        if (atomic_load(&q->busy) == 0) {
            last = now;
            if (++quiet < HD_SCHED_QUIET_TICKS)
                continue;
            /* Asleep until an app call begins. Seen by hd_sched_enter
               (which counts itself busy before it looks), or busy is seen
               here: either way no call goes unwatched. */
            atomic_store(&q->ticking, false);
            if (atomic_load(&q->busy) > 0)
                atomic_store(&q->ticking, true);
            continue;
        }
        quiet = 0;
        if (now == last)
            break;
        last = now;
    }
    pthread_mutex_unlock(&q->lock);
}

void hd_sched_take_over(hd_sched_t *q)
{
    pthread_mutex_lock(&q->lock);
    q->watcher = false;
    atomic_store(&q->ticking, false); /* the next hd_sched_enter calls a new one */
    pthread_mutex_unlock(&q->lock);
}

void hd_sched_enter(hd_sched_t *q)
{
    atomic_fetch_add(&q->busy, 1);
    atomic_fetch_add(&q->progress, 1);
    if (q->nthreads == 1 || atomic_load(&q->ticking))
        return;
    pthread_mutex_lock(&q->lock);
    if (q->watcher) {
        if (!atomic_load(&q->ticking)) {
            atomic_store(&q->ticking, true);
            pthread_cond_signal(&q->alarm);
        }
    } else if (q->parked > q->called) {
        q->called++;
        q->watcher = true;
        atomic_store(&q->ticking, true);
        pthread_cond_signal(&q->call);
    }
    pthread_mutex_unlock(&q->lock);
}

void hd_sched_leave(hd_sched_t *q)
{
    atomic_fetch_sub(&q->busy, 1);
    atomic_fetch_add(&q->progress, 1);
}
