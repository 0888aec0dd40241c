/*
 * process/master: the table of worker slots and the policy around it.
 *
 * The loop runs in a supervisor thread that never touches Python; the main
 * thread forks on its request (process/forker.h). It waits on a signalfd,
 * the workers' notification pipe, the forker's results and a 100 ms tick.
 * Signals are data: SIGCHLD reaps, TERM/INT stop gracefully, QUIT stops
 * now, HUP reloads, TTIN/TTOU add or remove a worker. A fork waits for the
 * GIL (a Python thread of the master may keep it for seconds): meanwhile
 * the slot is "forking" and everything else goes on. Once a stop began the
 * forker drops what it was asked, and a worker forked anyway is killed.
 *
 * Respawn: a worker that dies is replaced at once, unless it keeps dying
 * right after start (before ready, or by itself within a second): from the
 * third time in a row with a back-off doubling from 100 ms to 12.8 s, logged,
 * never blocking the loop. A worker that cannot load the app stops the master.
 *
 * Recycling (--max-requests, --max-worker-lifetime, --reload-on-rss) and
 * reload (SIGHUP) never drop capacity: the replacement is forked first and
 * the old worker is told to stop (gracefully) only once the new one serves.
 * A slot therefore holds up to two processes: pid (current) and old_pid.
 */
#include "process/process.h"

#include "core/log.h"
#include "process/forker.h"
#include "process/scoreboard.h"
#include "py/py.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct hd_slot_s {
    pid_t pid;          /* the current process, 0: none */
    bool forking;       /* asked the forker for a process (then pid is 0) */
    double fork_asked;  /* when */
    bool fork_slow;     /* said that the fork waits for the GIL */
    bool ready;
    bool wanted;        /* the slot should have a worker */
    double spawned_at;
    double respawn_at;  /* back-off: not before this time */
    int quick_deaths;   /* consecutive deaths right after start */
    const char *reason; /* why the master killed it, for the log */
    pid_t old_pid;      /* being replaced: stopped once pid is ready */
    const char *old_reason;
    bool old_told;      /* SIGTERM sent to old_pid */
    double old_deadline;
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
    int chain_next;  /* chain reload: next slot to replace, 0: none */
    bool reload_pending; /* a reload by re-exec waits for a fork under way */
    double last_rss;
    bool notified_ready; /* systemd told READY=1 */
    struct timespec touch_mtime; /* --touch-reload's file, as last seen */
    double last_touch;
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
        n += (m->slots[i].pid > 0) + (m->slots[i].old_pid > 0);
    return n;
}

/* Asks the forker for a worker in slot id; hd_master_forked learns how it
   went. Never waits (the fork may wait for the GIL). */
static void hd_master_spawn(hd_master_t *m, int id)
{
    hd_slot_t *s = &m->slots[id];
    if (hd_forker_request(id) < 0) {
        hd_log_errno("cannot ask for the fork of worker %d", id);
        s->respawn_at = hd_mono() + 1.0;
        return;
    }
    s->forking = true;
    s->fork_asked = hd_mono();
    s->fork_slow = false;
}

/* The forker's result for slot id: pid > 0 forked, < 0 failed (err), 0
   dropped because a stop began. */
static void hd_master_forked(hd_master_t *m, int id, pid_t pid, int err)
{
    hd_slot_t *s = &m->slots[id];
    s->forking = false;
    if (pid == 0)
        return;
    if (pid < 0) {
        errno = err;
        hd_log_errno("fork() failed for worker %d", id);
        s->respawn_at = hd_mono() + 1.0;
        return;
    }
    s->pid = pid;
    s->ready = false;
    s->reason = NULL;
    s->spawned_at = hd_mono();
    if (m->state != HD_RUNNING || !s->wanted) {
        /* Asked for before a stop (or SIGTTOU), forked just after it: it
           never served, nobody waits for it. */
        s->reason = m->state != HD_RUNNING ? "stop" : "SIGTTOU";
        hd_log(HD_LOG_INFO, "worker %d spawned (pid %d) after the %s: killing it", id, (int)pid,
               m->state != HD_RUNNING ? "stop began" : "slot was removed");
        kill(pid, SIGKILL);
        return;
    }
    hd_score_t *sc = hd_score(id);
    if (sc != NULL) {
        atomic_store(&sc->pid, (int)pid);
        for (int t = 0; t < m->cfg->threads; t++)
            atomic_store(&sc->threads[t].start_ms, 0);
    }
    hd_log(HD_LOG_INFO, "worker %d spawned (pid %d)", id, (int)pid);
}

/* Every result the forker has written. With the forker lock held that is
   every worker forked so far: called before reading anything a new worker
   may have caused (its readiness, its exit). */
static void hd_master_results(hd_master_t *m)
{
    hd_fork_result_t r;
    while (hd_forker_result(&r))
        if (r.id >= 1 && r.id <= HD_MAX_WORKERS)
            hd_master_forked(m, r.id, r.pid, r.err);
}

static int hd_master_forking(hd_master_t *m)
{
    int n = 0;
    for (int i = 1; i <= HD_MAX_WORKERS; i++)
        n += m->slots[i].forking;
    return n;
}

/* Starts replacing worker id: a new process is forked now, the old one is
   stopped when the new one is ready (hd_master_notify). */
static void hd_master_replace(hd_master_t *m, int id, const char *reason)
{
    hd_slot_t *s = &m->slots[id];
    if (m->state != HD_RUNNING || s->old_pid != 0 || s->forking)
        return;
    if (s->pid == 0) {
        s->respawn_at = 0; /* nothing to replace: spawn at the next tick */
        return;
    }
    hd_log(HD_LOG_INFO, "worker %d (pid %d): replacing it (%s)", id, (int)s->pid, reason);
    s->old_pid = s->pid;
    s->old_reason = reason;
    s->old_told = false;
    s->pid = 0;
    if (!s->ready) {
        /* Never served: nothing to hand over. */
        kill(s->old_pid, SIGKILL);
        s->old_told = true;
        s->old_deadline = hd_mono() + 5.0;
    }
    hd_master_spawn(m, id);
}

static void hd_master_kill(hd_master_t *m, int sig)
{
    for (int i = 1; i <= HD_MAX_WORKERS; i++) {
        if (m->slots[i].pid > 0)
            kill(m->slots[i].pid, sig);
        if (m->slots[i].old_pid > 0)
            kill(m->slots[i].old_pid, sig);
    }
}

static void hd_master_stop(hd_master_t *m, hd_mstate_e how, const char *why)
{
    if (m->state == HD_QUITTING || (m->state == HD_STOPPING && how == HD_STOPPING))
        return;
    m->state = how;
    hd_forker_cancel(); /* before the kills: nothing forked after them */
    hd_sd_notify("STOPPING=1");
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

static const char *hd_exit_reason(int status)
{
    if (WIFEXITED(status) && WEXITSTATUS(status) == HD_EXIT_HARAKIRI)
        return "harakiri";
    if (WIFEXITED(status) && WEXITSTATUS(status) == HD_EXIT_NOAPP)
        return "could not load the app";
    if (WIFSIGNALED(status))
        return "crash";
    return NULL;
}

static void hd_master_notify(hd_master_t *m);

static void hd_master_reap(hd_master_t *m)
{
    int status;
    pid_t pid;
    /* A worker writes its messages before it exits: read them first, so
       that a recycled worker's exit is known as one (not as a crash). This
       reads the forker's results too: a worker may die before its own
       result is read, and waitpid() would not know it as ours. */
    hd_master_notify(m);
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        int id = 0;
        bool old = false;
        for (int i = 1; i <= HD_MAX_WORKERS && id == 0; i++) {
            if (m->slots[i].pid == pid)
                id = i;
            else if (m->slots[i].old_pid == pid)
                id = i, old = true;
        }
        if (id == 0)
            continue; /* not ours (a grandchild re-parented to us) */
        hd_slot_t *s = &m->slots[id];
        double now = hd_mono(), lived = now - s->spawned_at;
        const char *reason = old ? s->old_reason : s->reason;
        char how[64];
        if (reason == NULL && m->state != HD_RUNNING)
            reason = "stop";
        if (reason == NULL)
            reason = hd_exit_reason(status);
        if (WIFEXITED(status))
            snprintf(how, sizeof(how), "exited with code %d", WEXITSTATUS(status));
        else
            snprintf(how, sizeof(how), "killed by signal %d", WTERMSIG(status));
        hd_score_t *sc = hd_score(id);
        if (old) {
            hd_log(HD_LOG_INFO, "worker %d (pid %d) %s: %s", id, (int)pid, how,
                   reason ? reason : "replaced");
            s->old_pid = 0;
            continue;
        }
        hd_log(HD_LOG_INFO, "worker %d (pid %d) %s after %.1f s%s%s", id, (int)pid, how, lived,
               reason ? ": " : "", reason ? reason : "");
        s->pid = 0;
        if (sc != NULL) {
            snprintf(sc->last_exit, sizeof(sc->last_exit), "%.30s%s%.30s", how, reason ? ": " : "",
                     reason ? reason : "");
            atomic_fetch_add(&sc->respawns, 1);
        }
        if (m->state != HD_RUNNING || !s->wanted)
            continue;
        if (WIFEXITED(status) && WEXITSTATUS(status) == HD_EXIT_NOAPP) {
            hd_log(HD_LOG_ERR, "worker %d could not load the app (traceback above): stopping herd",
                   id);
            m->exit_code = 1;
            hd_master_stop(m, HD_QUITTING, "app load failure");
            continue;
        }
        bool killed = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
        if (!s->ready || (lived < 1.0 && !killed)) {
            /* A crash loop: dying before ready, or crashing or exiting within
               a second of the start. A ready worker killed from outside
               (kill -9, the OOM killer) is no loop. The first two are
               respawned at once, then back off. */
            s->quick_deaths++;
            double delay = 0;
            if (s->quick_deaths > 2) {
                int k = s->quick_deaths - 3;
                delay = 0.1 * (double)(1 << (k < 7 ? k : 7));
                hd_log(HD_LOG_WARN, "worker %d died %d times in a row right after start: "
                                    "respawning in %.1f s", id, s->quick_deaths, delay);
            }
            s->respawn_at = now + delay;
        } else {
            s->quick_deaths = 0;
            s->respawn_at = now;
        }
    }
}

/* SIGHUP. With a preloaded app the master re-executes itself (same pid,
   same listening sockets, fresh interpreter, the app imported anew); the
   new master adopts the running workers and replaces them. With
   --lazy-apps new workers import the app themselves: just replace them. */
static void hd_master_reload(hd_master_t *m)
{
    bool reexec = !m->cfg->lazy_apps && hd_master_argv != NULL;
    if (m->state != HD_RUNNING) {
        m->reload_pending = false;
        return;
    }
    if (reexec && hd_master_forking(m) > 0) {
        /* The new image must know every worker, and only the forker may
           exec (forker.h): wait for the fork under way (it may be waiting
           for the GIL). hd_master_loop comes back here. */
        if (!m->reload_pending)
            hd_log(HD_LOG_INFO, "reload: waiting for the fork under way to re-execute");
        m->reload_pending = true;
        return;
    }
    m->reload_pending = false;
    hd_sd_notify("RELOADING=1");
    m->notified_ready = false;
    if (reexec) {
        char fds[256] = "", pids[8192] = "";
        size_t fo = 0, po = 0;
        for (size_t i = 0; i < m->nls; i++) {
            int fl = fcntl(m->ls[i].fd, F_GETFD);
            fcntl(m->ls[i].fd, F_SETFD, fl & ~FD_CLOEXEC);
            /* "k": a socket systemd owns, never to be unlinked or chmod-ed */
            fo += (size_t)snprintf(fds + fo, sizeof(fds) - fo, "%s%d%s", i ? "," : "",
                                   m->ls[i].fd, m->ls[i].keep_path ? "k" : "");
        }
        for (int i = 1; i <= HD_MAX_WORKERS && po < sizeof(pids) - 64; i++) {
            if (m->slots[i].pid > 0)
                po += (size_t)snprintf(pids + po, sizeof(pids) - po, "%s%d:%d", po ? "," : "", i,
                                       (int)m->slots[i].pid);
            if (m->slots[i].old_pid > 0)
                po += (size_t)snprintf(pids + po, sizeof(pids) - po, "%s%d:%d", po ? "," : "", i,
                                       (int)m->slots[i].old_pid);
        }
        setenv("HERD_REEXEC_FDS", fds, 1);
        setenv("HERD_REEXEC_WORKERS", pids, 1);
        hd_log(HD_LOG_INFO, "SIGHUP: reloading: re-executing the master to import the app "
                            "anew; the workers are replaced once the new ones serve");
        /* From the main thread: the workers' death signal is bound to the
           thread that forked them, which must survive the exec. */
        hd_forker_release();
        hd_forker_exec(hd_master_argv);
        int saved = errno;
        hd_forker_hold();
        errno = saved;
        hd_log_errno("execv(/proc/self/exe) failed: replacing the workers without re-import");
        unsetenv("HERD_REEXEC_FDS");
        unsetenv("HERD_REEXEC_WORKERS");
    }
    if (m->cfg->chain_reload) {
        hd_log(HD_LOG_INFO, "SIGHUP: chain reload, one worker at a time");
        m->chain_next = 1;
        hd_master_replace(m, 1, "chain reload");
        return;
    }
    hd_log(HD_LOG_INFO, "SIGHUP: replacing every worker");
    for (int i = 1; i <= m->nwanted; i++)
        hd_master_replace(m, i, "reload");
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
            hd_master_reload(m);
            break;
        case SIGUSR1:
            hd_log_reopen();
            hd_master_kill(m, SIGUSR1);
            break;
        case SIGTTIN:
            if (m->state == HD_RUNNING && m->nwanted < HD_MAX_WORKERS &&
                m->nwanted < hd_master_max_workers) {
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

static void hd_master_notify(hd_master_t *m)
{
    hd_msg_t msg;
    hd_master_results(m); /* a worker may be ready before its result is read */
    while (read(m->ready_r, &msg, sizeof(msg)) == sizeof(msg)) {
        int id = msg.id;
        if (id < 1 || id > HD_MAX_WORKERS)
            continue;
        hd_slot_t *s = &m->slots[id];
        if (msg.type == HD_MSG_RECYCLE && s->pid == msg.pid) {
            hd_master_replace(m, id, "max-requests");
            continue;
        }
        if (msg.type != HD_MSG_READY || s->pid != msg.pid)
            continue;
        s->ready = true;
        hd_log(HD_LOG_INFO, "worker %d ready (pid %d)", id, msg.pid);
        if (s->old_pid > 0 && !s->old_told) {
            kill(s->old_pid, SIGTERM); /* graceful: finishes what it serves */
            s->old_told = true;
            s->old_deadline = hd_mono() + m->cfg->worker_reload_mercy;
        }
        if (!m->notified_ready) {
            int ready = 0;
            for (int i = 1; i <= m->nwanted; i++)
                ready += m->slots[i].pid > 0 && m->slots[i].ready;
            if (ready == m->nwanted) {
                char st[128];
                snprintf(st, sizeof(st), "READY=1\nSTATUS=%d worker%s serving\nMAINPID=%d",
                         ready, ready == 1 ? "" : "s", (int)getpid());
                hd_sd_notify(st);
                m->notified_ready = true;
            }
        }
        if (m->chain_next == id) {
            m->chain_next = id + 1 <= m->nwanted ? id + 1 : 0;
            if (m->chain_next)
                hd_master_replace(m, m->chain_next, "chain reload");
            else
                hd_log(HD_LOG_INFO, "chain reload done");
        }
    }
}

static long hd_rss_kb(pid_t pid)
{
    char path[64];
    long size = 0, rss = 0;
    snprintf(path, sizeof(path), "/proc/%d/statm", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    if (fscanf(f, "%ld %ld", &size, &rss) != 2)
        rss = -1;
    fclose(f);
    return rss < 0 ? -1 : rss * (sysconf(_SC_PAGESIZE) / 1024);
}

/* The tick: respawns that are due, watchdogs, recycling, stop deadlines. */
static void hd_master_tick(hd_master_t *m)
{
    double now = hd_mono();
    const hd_config_t *cfg = m->cfg;
    bool rss_due = now - m->last_rss >= 1.0;
    if (rss_due)
        m->last_rss = now;

    if (cfg->touch_reload && m->state == HD_RUNNING && now - m->last_touch >= 1.0) {
        struct stat st;
        m->last_touch = now;
        if (stat(cfg->touch_reload, &st) == 0) {
            bool changed = m->touch_mtime.tv_sec != 0 &&
                           (st.st_mtim.tv_sec != m->touch_mtime.tv_sec ||
                            st.st_mtim.tv_nsec != m->touch_mtime.tv_nsec);
            m->touch_mtime = st.st_mtim;
            if (changed) {
                hd_log(HD_LOG_INFO, "%s was touched (--touch-reload)", cfg->touch_reload);
                hd_master_reload(m);
                return;
            }
        }
    }
    if (m->state != HD_RUNNING) {
        if (now >= m->deadline && hd_master_alive(m) > 0) {
            hd_log(HD_LOG_WARN, "%d worker(s) still busy at the stop deadline: killing them",
                   hd_master_alive(m));
            hd_master_kill(m, SIGKILL);
            m->deadline = now + 5.0;
        }
        return;
    }
    for (int i = 1; i <= HD_MAX_WORKERS; i++) {
        hd_slot_t *s = &m->slots[i];
        if (s->old_pid > 0 && s->old_told && now > s->old_deadline) {
            hd_log(HD_LOG_WARN, "worker %d (pid %d) still busy %d s after being told to stop: "
                                "killing it", i, (int)s->old_pid, cfg->worker_reload_mercy);
            kill(s->old_pid, SIGKILL);
            s->old_deadline = now + 5.0;
        }
        if (s->forking && !s->fork_slow && now - s->fork_asked >= 1.0) {
            s->fork_slow = true;
            hd_log(HD_LOG_WARN, "worker %d: the fork has waited %.1f s for the GIL: a Python thread "
                                "of the master holds it (a long call into C?)",
                   i, now - s->fork_asked);
        }
        if (i > m->nwanted)
            continue;
        if (s->pid == 0 && s->wanted && !s->forking && now >= s->respawn_at) {
            hd_master_spawn(m, i);
            continue;
        }
        if (s->pid == 0)
            continue;
        if (!s->ready) {
            if (s->reason == NULL && now - s->spawned_at > cfg->spawn_timeout) {
                hd_log(HD_LOG_ERR, "worker %d (pid %d) not ready %d s after fork (stuck on a "
                                   "lock held at fork, or a slow import?): killing it",
                       i, (int)s->pid, cfg->spawn_timeout);
                s->reason = "spawn timeout";
                kill(s->pid, SIGKILL);
            }
            continue;
        }
        if (s->old_pid != 0)
            continue; /* already being replaced */
        if (cfg->max_worker_lifetime > 0 && now - s->spawned_at > cfg->max_worker_lifetime) {
            hd_master_replace(m, i, "max-worker-lifetime");
            continue;
        }
        hd_score_t *sc = hd_score(i);
        if (rss_due && sc != NULL) {
            long kb = hd_rss_kb(s->pid);
            atomic_store(&sc->rss_kb, kb);
            if (cfg->reload_on_rss > 0 && kb > (long)cfg->reload_on_rss * 1024) {
                hd_log(HD_LOG_INFO, "worker %d (pid %d) uses %ld MiB (--reload-on-rss %d)", i,
                       (int)s->pid, kb / 1024, cfg->reload_on_rss);
                hd_master_replace(m, i, "reload-on-rss");
                continue;
            }
        }
        /* --harakiri backstop: the worker's own watchdog acts first; if the
           worker is wedged beyond it, kill it from here. */
        if (cfg->harakiri > 0 && sc != NULL && s->reason == NULL) {
            int64_t nowms = hd_score_now_ms();
            for (int t = 0; t < cfg->threads; t++) {
                int64_t st = atomic_load(&sc->threads[t].start_ms);
                if (st != 0 && nowms - st > (int64_t)cfg->harakiri * 1000 + 5000) {
                    hd_log(HD_LOG_ERR, "worker %d (pid %d) did not stop itself for --harakiri: "
                                       "killing it", i, (int)s->pid);
                    s->reason = "harakiri";
                    kill(s->pid, SIGKILL);
                    break;
                }
            }
        }
    }
}

/* Workers of a previous master image (reload by re-exec): they become the
   old half of their slots and are stopped when their replacements serve. */
static void hd_master_adopt(hd_master_t *m)
{
    const char *w = getenv("HERD_REEXEC_WORKERS");
    if (w == NULL)
        return;
    while (*w) {
        int id = 0, pid = 0, n = 0;
        if (sscanf(w, "%d:%d%n", &id, &pid, &n) != 2)
            break;
        w += n;
        if (*w == ',')
            w++;
        if (id < 1 || id > HD_MAX_WORKERS || pid <= 0)
            continue;
        hd_slot_t *s = &m->slots[id];
        if (s->old_pid != 0) {
            kill(pid, SIGTERM); /* a third generation: stop it now, reaped unnamed */
            continue;
        }
        s->old_pid = pid;
        s->old_reason = "reload";
        s->old_told = false;
        if (id > m->nwanted) {
            /* its slot gets no new worker: stop it now */
            kill(pid, SIGTERM);
            s->old_told = true;
            s->old_deadline = hd_mono() + m->cfg->worker_reload_mercy;
        }
    }
    unsetenv("HERD_REEXEC_WORKERS");
}

char **hd_master_argv;
int hd_master_max_workers = HD_MAX_WORKERS;

/* The supervisor thread's stack: the loop's deepest frame is a few tens of
   KiB (reload's lists, a log line); room for sanitizer builds. */
#define HD_MASTER_STACK (2u << 20)

/* In a new worker, on the forker (the main) thread, GIL held. */
static void hd_master_child(void *arg, int id)
{
    hd_master_t *m = arg;
    int close_fds[] = {m->epfd, m->sigfd, m->ready_r};
    hd_worker_main(m->cfg, m->ls, m->nls, id, m->ready_w, close_fds, 3);
}

/* The supervisor thread: the master's loop, then the process's exit. It
   holds the forker lock except while it waits in epoll_wait. */
static void *hd_master_loop(void *arg)
{
    hd_master_t *m = arg;
    int resfd = hd_forker_result_fd();

    hd_forker_hold();
    for (;;) {
        if (m->reload_pending && hd_master_forking(m) == 0)
            hd_master_reload(m);
        hd_master_tick(m);
        if (m->state != HD_RUNNING && hd_master_alive(m) == 0) {
            hd_master_results(m); /* forked after the stop: killed, then reaped */
            if (hd_master_alive(m) == 0)
                break;
        }
        struct epoll_event evs[4];
        hd_forker_release();
        int n = epoll_wait(m->epfd, evs, 4, 100);
        int saved = errno;
        hd_forker_hold();
        if (n < 0 && saved != EINTR) {
            errno = saved;
            hd_log_errno("epoll_wait() failed in the master");
            break;
        }
        for (int i = 0; i < n; i++) {
            if (evs[i].data.fd == m->sigfd)
                hd_master_signal(m);
            else if (evs[i].data.fd == resfd)
                hd_master_results(m);
            else
                hd_master_notify(m);
        }
    }
    for (size_t i = 0; i < m->nls; i++)
        hd_listen_close(&m->ls[i], true);
    hd_log(HD_LOG_INFO, "bye (exit code %d)", m->exit_code);
    /* Exit from here, with the forker lock held: nothing is forked any
       more, and the main thread may be waiting for the GIL (a master thread
       in a long C call) for a fork nobody needs. The master never finalises
       Python (its threads may hold references anywhere): exit() needs no
       GIL. */
    hd_pidfile_remove();
    exit(m->exit_code);
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
    if (hd_scoreboard_init(hd_master_max_workers, cfg->threads) < 0)
        return 1;
    hd_master_adopt(&m);
    struct stat tst;
    if (cfg->touch_reload && stat(cfg->touch_reload, &tst) == 0)
        m.touch_mtime = tst.st_mtim;

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
    if (hd_forker_init() < 0)
        return 1;
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = m.sigfd};
    epoll_ctl(m.epfd, EPOLL_CTL_ADD, m.sigfd, &ev);
    ev.data.fd = m.ready_r;
    epoll_ctl(m.epfd, EPOLL_CTL_ADD, m.ready_r, &ev);
    ev.data.fd = hd_forker_result_fd();
    epoll_ctl(m.epfd, EPOLL_CTL_ADD, ev.data.fd, &ev);

    /* The supervisor inherits this thread's signal mask: herd's signals
       stay blocked in every thread and are read from m.sigfd. */
    pthread_attr_t attr;
    pthread_t tid;
    int rc = pthread_attr_init(&attr);
    if (rc == 0)
        rc = pthread_attr_setstacksize(&attr, HD_MASTER_STACK);
    if (rc == 0)
        rc = pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (rc == 0)
        rc = pthread_create(&tid, &attr, hd_master_loop, &m);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        errno = rc;
        hd_log_errno("pthread_create() failed for the master's loop");
        return 1;
    }
    hd_forker_run(hd_master_child, &m);
}
