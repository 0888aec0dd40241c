/*
 * herd: a pre-forking WSGI server. main() turns the command line into a
 * config, prepares the master (sockets, Python, the app) and runs it.
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
   (HERD_REEXEC_FDS="3,4"), or -1. */
static int hd_inherited_fd(size_t i)
{
    const char *p = getenv("HERD_REEXEC_FDS");
    while (p != NULL && *p) {
        char *end;
        long fd = strtol(p, &end, 10);
        if (end == p)
            return -1;
        if (i-- == 0)
            return (int)fd;
        p = *end == ',' ? end + 1 : end;
    }
    return -1;
}

int main(int argc, char **argv)
{
    static hd_config_t cfg;
    hd_listener_t *ls;
    char socks[512] = "";

    hd_master_argv = argv;
    hd_config_init(&cfg);
    int rc = hd_config_parse_argv(&cfg, argc, argv);
    if (rc != 0)
        return rc > 0 ? 0 : 2;

    if (cfg.chdir && chdir(cfg.chdir) < 0) {
        hd_log_errno("--chdir %s failed", cfg.chdir);
        return 1;
    }
    hd_signals_block();

    ls = calloc(cfg.nsockets, sizeof(*ls));
    if (ls == NULL)
        return 1;
    for (size_t i = 0; i < cfg.nsockets; i++) {
        int fd = hd_inherited_fd(i);
        if (fd >= 0 ? hd_listen_adopt(&ls[i], fd, cfg.sockets[i].proto) < 0
                    : hd_listen_open(&ls[i], cfg.sockets[i].addr, cfg.sockets[i].proto,
                                     cfg.listen_backlog) < 0)
            return 1;
        size_t used = strlen(socks);
        snprintf(socks + used, sizeof(socks) - used, "%s%s://%s", used ? " " : "",
                 hd_proto_name(ls[i].proto), ls[i].name);
    }
    /* Sockets a previous image had but this config no longer names. */
    for (size_t i = cfg.nsockets; hd_inherited_fd(i) >= 0; i++)
        close(hd_inherited_fd(i));
    unsetenv("HERD_REEXEC_FDS");
    hd_log(HD_LOG_INFO, "herd %s (Python %s) starting: master pid %d, %d worker%s x %d thread%s, "
                        "%s app, sockets: %s",
           HD_VERSION, hd_py_version_string(), (int)getpid(), cfg.processes,
           cfg.processes == 1 ? "" : "s", cfg.threads, cfg.threads == 1 ? "" : "s",
           cfg.lazy_apps ? "lazy" : "preloaded", socks);
    for (size_t i = 0; i < cfg.nsockets; i++)
        hd_log(HD_LOG_INFO, "listening on %s (%s)", ls[i].name, hd_proto_name(ls[i].proto));

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
    hd_config_free(&cfg);
    free(ls);
    return rc;
fail:
    for (size_t i = 0; i < cfg.nsockets; i++)
        hd_listen_close(&ls[i], true);
    return 1;
}
