/* process/scoreboard: see scoreboard.h. */
#include "process/scoreboard.h"

#include "core/log.h"

#include <stddef.h>
#include <sys/mman.h>
#include <time.h>

static char *hd_sb_base;
static size_t hd_sb_stride;
static int hd_sb_n;

int hd_scoreboard_init(int nworkers, int nthreads)
{
    hd_sb_stride = sizeof(hd_score_t) + (size_t)nthreads * sizeof(hd_score_thread_t);
    hd_sb_stride = (hd_sb_stride + 63) & ~(size_t)63; /* a cache line apart */
    hd_sb_n = nworkers;
    size_t size = hd_sb_stride * (size_t)(nworkers + 1);
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        hd_log_errno("mmap() of the scoreboard (%zu bytes) failed", size);
        return -1;
    }
    hd_sb_base = p;
    return 0;
}

hd_score_t *hd_score(int id)
{
    if (hd_sb_base == NULL || id < 0 || id > hd_sb_n)
        return NULL;
    return (hd_score_t *)(void *)(hd_sb_base + hd_sb_stride * (size_t)id);
}

int64_t hd_score_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
