/*
 * herd: a pre-forking WSGI server. main() turns the command line into a
 * config, prepares the master and runs it. The order matters:
 *   config -> log file / daemonize -> chdir -> signals blocked (before any
 *   thread) -> sockets (inherited from a reloading master or systemd, or
 *   bound) -> pid file -> privileges dropped -> Python and the app -> master.
 */
#include "config/config.h"
#include "core/log.h"
#include "net/listen.h"
#include "process/process.h"
#include "py/py.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *hd_proto_name(int proto)
{
    return proto == HD_PROTO_UWSGI ? "uwsgi" : "http";
}

/* The i-th listening socket handed over by a reloading master
   (HERD_REEXEC_FDS="3,4k": "k" marks systemd's), or -1. */
static int hd_reexec_fd(size_t i, bool *keep)
{
    const char *p = getenv("HERD_REEXEC_FDS");
    while (p != NULL && *p) {
        char *end;
        long fd = strtol(p, &end, 10);
        if (end == p)
            return -1;
        bool k = *end == 'k';
        end += k;
        if (i-- == 0) {
            if (keep)
                *keep = k;
            return (int)fd;
        }
        p = *end == ',' ? end + 1 : end;
    }
    return -1;
}

/* systemd socket activation: the sockets are fds 3 .. 3+LISTEN_FDS-1. */
static int hd_systemd_fds(void)
{
    const char *pid = getenv("LISTEN_PID"), *n = getenv("LISTEN_FDS");
    if (pid == NULL || n == NULL || atoi(pid) != (int)getpid())
        return 0;
    return atoi(n) > 0 ? atoi(n) : 0;
}

/* Opens (or adopts) every configured socket. systemd's sockets are matched
   to the configured ones by unix path or port, else taken in order. */
static int hd_open_sockets(const hd_config_t *cfg, hd_listener_t *ls)
{
    int nsd = hd_systemd_fds();
    hd_listener_t sd[64];
    bool used[64] = {false};
    if (nsd > 64)
        nsd = 64;
    for (int j = 0; j < nsd; j++)
        if (hd_listen_adopt(&sd[j], 3 + j, HD_PROTO_HTTP) < 0)
            return -1;

    for (size_t i = 0; i < cfg->nsockets; i++) {
        const char *addr = cfg->sockets[i].addr;
        int proto = cfg->sockets[i].proto;
        bool keep = false;
        int fd = hd_reexec_fd(i, &keep);
        if (fd >= 0) {
            if (hd_listen_adopt(&ls[i], fd, proto) < 0)
                return -1;
            ls[i].keep_path = keep;
            ls[i].adopted = true;
            continue;
        }
        int pick = -1;
        for (int j = 0; j < nsd && pick < 0; j++) {
            const char *colon = strrchr(addr, ':');
            if (used[j])
                continue;
            if (sd[j].is_unix ? strcmp(sd[j].name, addr) == 0
                              : colon && strcmp(sd[j].server_port, colon + 1) == 0)
                pick = j;
        }
        for (int j = 0; j < nsd && pick < 0; j++)
            if (!used[j])
                pick = j;
        if (pick >= 0) {
            used[pick] = true;
            ls[i] = sd[pick];
            ls[i].proto = proto;
            ls[i].keep_path = true;
            ls[i].adopted = true;
            hd_log(HD_LOG_INFO, "using the socket systemd passed as fd %d for %s", ls[i].fd,
                   addr);
            continue;
        }
        if (hd_listen_open(&ls[i], addr, proto, cfg->listen_backlog) < 0)
            return -1;
    }
    for (int j = 0; j < nsd; j++)
        if (!used[j]) {
            hd_log(HD_LOG_WARN, "systemd passed fd %d (%s) but no socket option names it: "
                                "closed", sd[j].fd, sd[j].name);
            hd_listen_close(&sd[j], false);
        }
    /* Sockets a previous image had but this config no longer names. */
    for (size_t i = cfg->nsockets; hd_reexec_fd(i, NULL) >= 0; i++)
        close(hd_reexec_fd(i, NULL));
    unsetenv("HERD_REEXEC_FDS");
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");

    uid_t uid = 0;
    gid_t gid = 0;
    if (cfg->chown_socket && hd_owner_parse(cfg->chown_socket, &uid, &gid) < 0) {
        hd_log(HD_LOG_ERR, "--chown-socket %s: no such user or group", cfg->chown_socket);
        return -1;
    }
    /* Only sockets bound here: inherited ones keep what they were given
       (after a reload the master may no longer be allowed to change them). */
    for (size_t i = 0; i < cfg->nsockets; i++)
        if (!ls[i].adopted && hd_listen_permissions(&ls[i], cfg->chmod_socket, uid, gid,
                                                      cfg->chown_socket != NULL) < 0)
            return -1;
    return 0;
}

int main(int argc, char **argv)
{
    static hd_config_t cfg;
    hd_listener_t *ls;
    char socks[512] = "";
    bool reexec = getenv("HERD_REEXEC_FDS") != NULL;

    hd_master_argv = argv;
    hd_config_init(&cfg);
    int rc = hd_config_parse_argv(&cfg, argc, argv);
    if (rc != 0) {
        hd_config_free(&cfg);
        return rc > 0 ? 0 : 2;
    }

    if (cfg.daemonize && !reexec) {
        if (hd_daemonize(cfg.daemonize) < 0)
            return 1;
    } else if (cfg.logto || cfg.daemonize) {
        if (hd_log_open(cfg.logto ? cfg.logto : cfg.daemonize) < 0)
            return 1;
    }
    if (cfg.chdir && chdir(cfg.chdir) < 0) {
        hd_log_errno("--chdir %s failed", cfg.chdir);
        return 1;
    }
    hd_signals_block();

    ls = calloc(cfg.nsockets, sizeof(*ls));
    if (ls == NULL || hd_open_sockets(&cfg, ls) < 0)
        return 1;
    for (size_t i = 0; i < cfg.nsockets; i++) {
        size_t used = strlen(socks);
        snprintf(socks + used, sizeof(socks) - used, "%s%s://%s", used ? " " : "",
                 hd_proto_name(ls[i].proto), ls[i].name);
    }
    hd_log(HD_LOG_INFO, "herd %s (Python %s) starting: master pid %d, %d worker%s x %d thread%s, "
                        "%s app, sockets: %s",
           HD_VERSION, hd_py_version_string(), (int)getpid(), cfg.processes,
           cfg.processes == 1 ? "" : "s", cfg.threads, cfg.threads == 1 ? "" : "s",
           cfg.lazy_apps ? "lazy" : "preloaded", socks);
    for (size_t i = 0; i < cfg.nsockets; i++)
        hd_log(HD_LOG_INFO, "listening on %s (%s)", ls[i].name, hd_proto_name(ls[i].proto));

    /* A reloading master re-executes with the same pid, already as --uid:
       the pid file is right and the privileges are gone. */
    if (reexec) {
        if (cfg.pidfile)
            hd_pidfile_adopt(cfg.pidfile);
    } else {
        if (cfg.pidfile && hd_pidfile_write(cfg.pidfile) < 0)
            goto fail;
        if (hd_drop_privileges(cfg.uid, cfg.gid) < 0)
            goto fail;
    }
    if (hd_py_init(&cfg) < 0)
        goto fail;
    if (!cfg.lazy_apps) {
        if (hd_py_load_app(&cfg) < 0)
            goto fail;
        hd_log(HD_LOG_INFO, "app loaded from %s in the master",
               cfg.wsgi_file ? cfg.wsgi_file : cfg.module);
    }
    hd_signals_reset();
    hd_py_master_ready(&cfg);

    rc = hd_master_run(&cfg, ls, cfg.nsockets);
    hd_pidfile_remove();
    hd_config_free(&cfg);
    free(ls);
    return rc;
fail:
    for (size_t i = 0; i < cfg.nsockets; i++)
        hd_listen_close(&ls[i], true);
    hd_pidfile_remove();
    return 1;
}
