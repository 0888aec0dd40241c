/* process/worker: a worker's life from fork to serving (see process.h). */
#include "process/process.h"

#include "core/log.h"
#include "process/scoreboard.h"
#include "py/py.h"
#include "server/conn.h"

#include <signal.h>
#include <stdio.h>
#include <unistd.h>

void hd_worker_main(const hd_config_t *cfg, hd_listener_t *ls, size_t nls, int id, int ready_fd,
                    const int *close_fds, size_t nclose)
{
    char role[32];

    snprintf(role, sizeof(role), "worker %d", id);
    hd_log_set_role(role);
    /* No orphans: the forker set PR_SET_PDEATHSIG right after fork() and
       checked that the master was still there (process/forker.c). */
    for (size_t i = 0; i < nclose; i++)
        close(close_fds[i]);

    if (hd_py_worker_init(cfg, id) < 0)
        _exit(HD_EXIT_NOAPP);
    hd_server_t *s = hd_server_init(cfg, ls, nls, id, ready_fd);
    if (s == NULL)
        _exit(1);
    hd_score_t *sc = hd_score(id);
    if (sc != NULL) {
        atomic_store(&sc->pid, (int)getpid());
        atomic_store(&sc->requests, 0);
    }
    hd_py_worker_release();
    hd_server_start(s); /* ready means every thread serves */

    hd_msg_t msg = {HD_MSG_READY, id, (int)getpid()};
    if (write(ready_fd, &msg, sizeof(msg)) != sizeof(msg))
        hd_log_errno("cannot report readiness to the master");
    hd_server_run(s);
}
