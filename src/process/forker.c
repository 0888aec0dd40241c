/* process/forker: the master's main thread forks on request (see forker.h). */
#include "process/forker.h"

#include "core/log.h"
#include "py/py.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/prctl.h>
#include <unistd.h>

typedef enum { HD_FORKER_FORK = 1, HD_FORKER_EXEC } hd_forker_op_e;

typedef struct hd_forker_msg_s {
    int op; /* hd_forker_op_e */
    int id;
} hd_forker_msg_t;

/* Requests: supervisor -> forker; results: forker -> supervisor. Both are
   short of PIPE_BUF (atomic) and never fill their pipe: at most one request
   per slot is outstanding (HD_MAX_WORKERS * 12 bytes < 64 KiB). */
static int hd_forker_req_r = -1, hd_forker_req_w = -1;
static int hd_forker_res_r = -1, hd_forker_res_w = -1;

static pthread_mutex_t hd_forker_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_bool hd_forker_cancelled;
static char **_Atomic hd_forker_argv;

/* The request being served, and the master's pid (for the child's check). */
static int hd_forker_id;
static pid_t hd_forker_master;

int hd_forker_init(void)
{
    int req[2], res[2];
    if (pipe2(req, O_CLOEXEC) < 0) {
        hd_log_errno("pipe2() failed for the forker's requests");
        return -1;
    }
    if (pipe2(res, O_CLOEXEC) < 0) {
        hd_log_errno("pipe2() failed for the forker's results");
        close(req[0]);
        close(req[1]);
        return -1;
    }
    hd_forker_req_r = req[0];
    hd_forker_req_w = req[1];
    hd_forker_res_r = res[0];
    hd_forker_res_w = res[1];
    /* The supervisor never waits on a pipe in its loop. */
    fcntl(hd_forker_req_w, F_SETFL, O_NONBLOCK);
    fcntl(hd_forker_res_r, F_SETFL, O_NONBLOCK);
    return 0;
}

int hd_forker_result_fd(void)
{
    return hd_forker_res_r;
}

static int hd_forker_send(int op, int id)
{
    hd_forker_msg_t q = {op, id};
    ssize_t n;
    do
        n = write(hd_forker_req_w, &q, sizeof(q));
    while (n < 0 && errno == EINTR);
    if (n >= 0 && n != (ssize_t)sizeof(q))
        errno = EIO; /* cannot happen: writes under PIPE_BUF are whole */
    return n == (ssize_t)sizeof(q) ? 0 : -1;
}

int hd_forker_request(int id)
{
    return hd_forker_send(HD_FORKER_FORK, id);
}

bool hd_forker_result(hd_fork_result_t *r)
{
    ssize_t n;
    do
        n = read(hd_forker_res_r, r, sizeof(*r));
    while (n < 0 && errno == EINTR);
    return n == (ssize_t)sizeof(*r);
}

void hd_forker_cancel(void)
{
    atomic_store(&hd_forker_cancelled, true);
}

void hd_forker_hold(void)
{
    pthread_mutex_lock(&hd_forker_lock);
}

void hd_forker_release(void)
{
    pthread_mutex_unlock(&hd_forker_lock);
}

int hd_forker_exec(char **argv)
{
    hd_fork_result_t r;
    struct pollfd p = {.fd = hd_forker_res_r, .events = POLLIN};
    atomic_store(&hd_forker_argv, argv);
    if (hd_forker_send(HD_FORKER_EXEC, 0) < 0)
        return -1;
    /* No fork is outstanding: the forker is idle and execs at once. This
       thread ends with the exec; an answer means execv() failed. */
    for (;;) {
        if (poll(&p, 1, -1) < 0 && errno != EINTR)
            return -1;
        if (hd_forker_result(&r)) {
            errno = r.err;
            return -1;
        }
        if (errno != EAGAIN && errno != EINTR)
            return -1;
    }
}

/* The forker's answer to one request (blocking: see the pipe's bound). */
static void hd_forker_reply(int id, int pid, int err)
{
    hd_fork_result_t r = {id, pid, err};
    ssize_t n;
    do
        n = write(hd_forker_res_w, &r, sizeof(r));
    while (n < 0 && errno == EINTR);
    if (n != (ssize_t)sizeof(r))
        hd_log_errno("forker: cannot report the fork of worker %d", id);
}

/* hd_py_fork's hooks (hd_py_fork_ops_t). */

static bool hd_forker_wanted(void *arg)
{
    return !atomic_load(&hd_forker_cancelled);
}

static bool hd_forker_enter(void *arg)
{
    pthread_mutex_lock(&hd_forker_lock);
    if (atomic_load(&hd_forker_cancelled)) {
        pthread_mutex_unlock(&hd_forker_lock);
        return false;
    }
    return true;
}

static void hd_forker_leave(void *arg, pid_t pid, int err)
{
    if (pid != 0) {
        /* Reported before the lock is released: a supervisor holding the
           lock knows every worker forked so far. */
        hd_forker_reply(hd_forker_id, pid > 0 ? (int)pid : -1, err);
        pthread_mutex_unlock(&hd_forker_lock);
        return;
    }
    /* The child: this thread held the lock at fork (its only user here). */
    pthread_mutex_unlock(&hd_forker_lock);
    /* No orphan, even if the master exits from its supervisor thread while
       this fork was under way: the death signal is bound to the thread that
       forked, the master's main thread, which ends only with the master. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != hd_forker_master)
        _exit(1);
}

void hd_forker_run(hd_forker_child_fn child, void *arg)
{
    const hd_py_fork_ops_t ops = {
        .wanted = hd_forker_wanted, .enter = hd_forker_enter, .leave = hd_forker_leave};
    hd_forker_master = getpid();
    for (;;) {
        hd_forker_msg_t q;
        ssize_t n = read(hd_forker_req_r, &q, sizeof(q));
        if (n != (ssize_t)sizeof(q)) {
            if (n < 0 && errno == EINTR)
                continue;
            /* Cannot happen: this process holds the write end. */
            hd_log_errno("forker: read() of a request failed");
            sleep(1);
            continue;
        }
        if (q.op == HD_FORKER_EXEC) {
            char **argv = atomic_load(&hd_forker_argv);
            execv("/proc/self/exe", argv);
            hd_forker_reply(0, -1, errno);
            continue;
        }
        if (atomic_load(&hd_forker_cancelled)) {
            hd_forker_reply(q.id, 0, 0);
            continue;
        }
        hd_forker_id = q.id;
        pid_t pid = hd_py_fork(&ops);
        if (pid == 0) {
            close(hd_forker_req_r);
            close(hd_forker_req_w);
            close(hd_forker_res_r);
            close(hd_forker_res_w);
            child(arg, q.id);
            _exit(1); /* not reached */
        }
        if (pid < 0 && errno == ECANCELED)
            hd_forker_reply(q.id, 0, 0);
        /* otherwise hd_forker_leave has reported it */
    }
}
