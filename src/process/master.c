/*
 * process/master: the table of worker slots and the policy around it.
 *
 * The loop waits on a signalfd, the readiness pipe and a 100 ms tick. Signal
 * handling is data: SIGCHLD reaps, TERM/INT stop gracefully, QUIT stops now,
 * HUP replaces every worker, TTIN/TTOU add or remove one.
 * Respawn policy: a worker that dies is replaced at once, unless it died
 * before being ready or within a second of its start, again and again: then
 * with a back-off doubling from 100 ms to 10 s (logged; never blocking the
 * loop). A worker that reports it cannot load the app stops the master.
 */
#include "process/process.h"

#include "core/log.h"
#include "py/py.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define HD_MAX_WORKERS 1024

typedef struct hd_slot_s {
    pid_t pid;          /* 0: no process */
    bool ready;
    bool wanted;        /* the slot should have a worker */
    bool retiring;      /* told to stop (reload, TTOU, watchdog): not a crash */
    double spawned_at;
    double respawn_at;  /* back-off: not before this time */
    int quick_deaths;   /* consecutive deaths right after start */
    const char *reason; /* why the master killed it, for the log */
} hd_slot_t;

typedef enum { HD_RUNNING, HD_STOPPING, HD_QUITTING } hd_mstate_e;

typedef struct hd_master_s {
    const hd_config_t *cfg;
    hd_listener_t *ls;
    size_t nls;
    hd_slot_t slots[HD_MAX_WORKERS + 1]; /* 1-based */
    int nwanted;
    int epfd, sigfd, ready_r, ready_w;
    hd_mstate_e state;
    double deadline; /* of a stop */
    int exit_code;
} hd_master_t;

static double hd_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int hd_master_alive(hd_master_t *m)
{
    int n = 0;
    for (int i = 1; i <= HD_MAX_WORKERS; i++)
        n += m->slots[i].pid > 0;
    return n;
}

static void hd_master_spawn(hd_master_t *m, int id)
{
    hd_slot_t *s = &m->slots[id];
    pid_t pid = hd_py_fork();
    if (pid == 0) {
        int close_fds[] = {m->epfd, m->sigfd, m->ready_r};
        hd_worker_main(m->cfg, m->ls, m->nls, id, m->ready_w, close_fds, 3);
    }
    if (pid < 0) {
        hd_log_errno("fork() failed for worker %d", id);
        s->respawn_at = hd_mono() + 1.0;
        return;
    }
    s->pid = pid;
    s->ready = false;
    s->retiring = false;
    s->reason = NULL;
    s->spawned_at = hd_mono();
    hd_log(HD_LOG_INFO, "worker %d spawned (pid %d)", id, (int)pid);
}

static void hd_master_kill(hd_master_t *m, int sig)
{
    for (int i = 1; i <= HD_MAX_WORKERS; i++)
        if (m->slots[i].pid > 0)
            kill(m->slots[i].pid, sig);
}

static void hd_master_stop(hd_master_t *m, hd_mstate_e how, const char *why)
{
    if (m->state == HD_QUITTING || (m->state == HD_STOPPING && how == HD_STOPPING))
        return;
    m->state = how;
    if (how == HD_STOPPING) {
        hd_log(HD_LOG_INFO, "%s: graceful stop, waiting up to %d s for in-flight requests", why,
               m->cfg->worker_reload_mercy);
        m->deadline = hd_mono() + m->cfg->worker_reload_mercy;
        hd_master_kill(m, SIGTERM);
    } else {
        hd_log(HD_LOG_INFO, "%s: immediate stop", why);
        m->deadline = hd_mono() + 2.0;
        hd_master_kill(m, SIGQUIT);
    }
    /* Stop accepting: once the workers close their copies too, the
       listening sockets are gone. */
    for (size_t i = 0; i < m->nls; i++)
        if (m->ls[i].fd >= 0) {
            close(m->ls[i].fd);
            m->ls[i].fd = -1;
        }
}

static void hd_master_reap(hd_master_t *m)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        int id = 0;
        for (int i = 1; i <= HD_MAX_WORKERS; i++)
            if (m->slots[i].pid == pid)
                id = i;
        if (id == 0)
            continue; /* not ours (a grandchild re-parented to us) */
        hd_slot_t *s = &m->slots[id];
        double now = hd_mono(), lived = now - s->spawned_at;
        char how[64];
        if (WIFEXITED(status))
            snprintf(how, sizeof(how), "exited with code %d", WEXITSTATUS(status));
        else
            snprintf(how, sizeof(how), "killed by signal %d", WTERMSIG(status));
        hd_log(HD_LOG_INFO, "worker %d (pid %d) %s after %.1f s%s%s", id, (int)pid, how, lived,
               s->reason ? ": " : "", s->reason ? s->reason : "");
        s->pid = 0;
        if (m->state != HD_RUNNING || !s->wanted)
            continue;
        if (WIFEXITED(status) && WEXITSTATUS(status) == HD_EXIT_NOAPP) {
            hd_log(HD_LOG_ERR, "worker %d could not load the app (traceback above): stopping herd",
                   id);
            m->exit_code = 1;
            hd_master_stop(m, HD_QUITTING, "app load failure");
            continue;
        }
        if (s->retiring) {
            s->respawn_at = now; /* replaced on purpose: at once */
            continue;
        }
        if (!s->ready || lived < 1.0) {
            s->quick_deaths++;
            double delay = 0.1 * (double)(1 << (s->quick_deaths < 8 ? s->quick_deaths - 1 : 7));
            if (delay > 10.0)
                delay = 10.0;
            s->respawn_at = now + delay;
            if (s->quick_deaths > 1)
                hd_log(HD_LOG_WARN, "worker %d died %d times in a row right after start: "
                                    "respawning in %.1f s", id, s->quick_deaths, delay);
        } else {
            s->quick_deaths = 0;
            s->respawn_at = now;
        }
    }
}

static void hd_master_signal(hd_master_t *m)
{
    struct signalfd_siginfo si;
    while (read(m->sigfd, &si, sizeof(si)) == sizeof(si)) {
        switch (si.ssi_signo) {
        case SIGCHLD:
            hd_master_reap(m);
            break;
        case SIGTERM:
            hd_master_stop(m, HD_STOPPING, "SIGTERM");
            break;
        case SIGINT:
            hd_master_stop(m, HD_STOPPING, "SIGINT");
            break;
        case SIGQUIT:
            hd_master_stop(m, HD_QUITTING, "SIGQUIT");
            break;
        case SIGHUP:
            if (m->state != HD_RUNNING)
                break;
            hd_log(HD_LOG_INFO, "SIGHUP: replacing every worker gracefully");
            for (int i = 1; i <= HD_MAX_WORKERS; i++)
                if (m->slots[i].pid > 0) {
                    m->slots[i].retiring = true;
                    m->slots[i].reason = "reload";
                    kill(m->slots[i].pid, SIGHUP);
                }
            break;
        case SIGTTIN:
            if (m->state == HD_RUNNING && m->nwanted < HD_MAX_WORKERS) {
                m->nwanted++;
                m->slots[m->nwanted].wanted = true;
                m->slots[m->nwanted].respawn_at = 0;
                hd_log(HD_LOG_INFO, "SIGTTIN: %d workers", m->nwanted);
            }
            break;
        case SIGTTOU:
            if (m->state == HD_RUNNING && m->nwanted > 1) {
                hd_slot_t *s = &m->slots[m->nwanted];
                s->wanted = false;
                if (s->pid > 0) {
                    s->reason = "SIGTTOU";
                    kill(s->pid, SIGTERM);
                }
                m->nwanted--;
                hd_log(HD_LOG_INFO, "SIGTTOU: %d workers", m->nwanted);
            }
            break;
        default:
            break;
        }
    }
}

static void hd_master_ready(hd_master_t *m)
{
    int msg[2];
    while (read(m->ready_r, msg, sizeof(msg)) == sizeof(msg)) {
        int id = msg[0];
        if (id < 1 || id > HD_MAX_WORKERS || m->slots[id].pid != msg[1])
            continue;
        m->slots[id].ready = true;
        hd_log(HD_LOG_INFO, "worker %d ready (pid %d)", id, msg[1]);
    }
}

/* The tick: respawns that are due, the spawn watchdog, stop deadlines. */
static void hd_master_tick(hd_master_t *m)
{
    double now = hd_mono();
    if (m->state == HD_RUNNING) {
        for (int i = 1; i <= m->nwanted; i++) {
            hd_slot_t *s = &m->slots[i];
            if (s->pid == 0 && s->wanted && now >= s->respawn_at)
                hd_master_spawn(m, i);
            else if (s->pid > 0 && !s->ready && s->reason == NULL &&
                     now - s->spawned_at > m->cfg->spawn_timeout) {
                hd_log(HD_LOG_ERR, "worker %d (pid %d) not ready %d s after fork (stuck on a "
                                   "lock held at fork, or a slow import?): killing it",
                       i, (int)s->pid, m->cfg->spawn_timeout);
                s->reason = "spawn timeout";
                kill(s->pid, SIGKILL);
            }
        }
    } else if (now >= m->deadline && hd_master_alive(m) > 0) {
        hd_log(HD_LOG_WARN, "%d worker(s) still busy at the stop deadline: killing them",
               hd_master_alive(m));
        hd_master_kill(m, SIGKILL);
        m->deadline = now + 5.0;
    }
}

int hd_master_run(const hd_config_t *cfg, hd_listener_t *ls, size_t nls)
{
    static hd_master_t m;
    sigset_t set;
    int pipefd[2];

    m.cfg = cfg;
    m.ls = ls;
    m.nls = nls;
    m.nwanted = cfg->processes;
    for (int i = 1; i <= m.nwanted; i++)
        m.slots[i].wanted = true;

    pthread_sigmask(SIG_BLOCK, NULL, &set); /* the mask hd_signals_block set */
    m.sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    m.epfd = epoll_create1(EPOLL_CLOEXEC);
    if (m.sigfd < 0 || m.epfd < 0 || pipe2(pipefd, O_CLOEXEC) < 0) {
        hd_log_errno("master setup failed");
        return 1;
    }
    m.ready_r = pipefd[0];
    m.ready_w = pipefd[1];
    fcntl(m.ready_r, F_SETFL, O_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = m.sigfd};
    epoll_ctl(m.epfd, EPOLL_CTL_ADD, m.sigfd, &ev);
    ev.data.fd = m.ready_r;
    epoll_ctl(m.epfd, EPOLL_CTL_ADD, m.ready_r, &ev);

    for (;;) {
        hd_master_tick(&m);
        if (m.state != HD_RUNNING && hd_master_alive(&m) == 0)
            break;
        struct epoll_event evs[4];
        int n = epoll_wait(m.epfd, evs, 4, 100);
        if (n < 0 && errno != EINTR) {
            hd_log_errno("epoll_wait() failed in the master");
            break;
        }
        for (int i = 0; i < n; i++) {
            if (evs[i].data.fd == m.sigfd)
                hd_master_signal(&m);
            else
                hd_master_ready(&m);
        }
    }
    for (size_t i = 0; i < nls; i++)
        hd_listen_close(&ls[i], true);
    hd_log(HD_LOG_INFO, "bye (exit code %d)", m.exit_code);
    return m.exit_code;
}
