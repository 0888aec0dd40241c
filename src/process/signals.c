/* process/signals: which signals herd owns, and how they are kept. */
#include "process/process.h"

#include <pthread.h>
#include <signal.h>
#include <stddef.h>

static const int hd_signals[] = {SIGCHLD, SIGTERM, SIGINT, SIGQUIT, SIGHUP,
                                 SIGTTIN, SIGTTOU, SIGUSR1, SIGUSR2};

void hd_signals_block(void)
{
    sigset_t set;
    sigemptyset(&set);
    for (size_t i = 0; i < sizeof(hd_signals) / sizeof(hd_signals[0]); i++)
        sigaddset(&set, hd_signals[i]);
    /* Before any thread exists: every thread (Python's too) inherits the mask,
       so signals are only ever read from a signalfd by herd's own loops. */
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

void hd_signals_reset(void)
{
    /* A blocked signal whose disposition is SIG_IGN is discarded instead of
       queued for the signalfd; the app's signal.signal() calls at import
       must not take SIGTERM and friends away from the master. */
    for (size_t i = 0; i < sizeof(hd_signals) / sizeof(hd_signals[0]); i++)
        signal(hd_signals[i], SIG_DFL);
}
