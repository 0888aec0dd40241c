/*
 * config: herd's options. One table (config.c) defines every option once:
 * its uWSGI name and aliases, its type, default and help. The command line,
 * --help and docs/options.md all come from that table.
 *
 * Option names are uWSGI's: existing command lines must work unchanged.
 */
#ifndef HD_CONFIG_H
#define HD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    HD_PROTO_HTTP = 1, /* --http-socket / --http */
    HD_PROTO_UWSGI = 2 /* --socket / --uwsgi-socket (not yet served) */
} hd_proto_e;

typedef struct hd_socket_spec_s {
    char *addr; /* as given: "host:port", ":port", "[::1]:port", "/path" */
    hd_proto_e proto;
} hd_socket_spec_t;

typedef struct hd_config_s {
    hd_socket_spec_t *sockets; /* in command-line order */
    size_t nsockets;

    char *wsgi_file;  /* --wsgi-file / --file */
    char *module;     /* --module / -w / --wsgi: "pkg.mod" or "pkg.mod:callable";
                         after hd_config_parse_argv always "pkg.mod": the
                         ":callable" part has moved to callable */
    char *callable;   /* --callable; NULL means "application", then "app" */

    int processes; /* --processes / --workers / -p; default 1 */
    int threads;   /* --threads; default 1 */
    bool lazy_apps;  /* --lazy-apps */
    bool master;     /* --master / -M: accepted, herd always has a master */
    bool enable_threads; /* --enable-threads / -T: accepted, always on */
    bool die_on_term;    /* --die-on-term: accepted (SIGTERM is already a stop) */
    bool disable_logging; /* --disable-logging / -L: no access log lines */

    char *chdir;        /* --chdir: before loading the app */
    char **pythonpath;  /* --pythonpath / --python-path / --pp, repeatable */
    size_t npythonpath;
    char *home;         /* --home / --virtualenv / --venv / -H */
    char **env;         /* --env KEY=VAL, repeatable (validated: has '=') */
    size_t nenv;

    int listen_backlog;     /* --listen / -l; default 1024 */
    size_t buffer_size;     /* --buffer-size / -b: max request head bytes; default 8192 */
    int64_t limit_post;     /* --limit-post: max body bytes, 0 = unlimited (413) */
    int socket_timeout;     /* --socket-timeout / -z: seconds a client may take to
                               send a head/body chunk or take our bytes; default 30 */
    int http_keepalive;     /* --http-keepalive: idle keep-alive seconds; default 5;
                               0 disables keep-alive */
    int worker_reload_mercy; /* --worker-reload-mercy / --reload-mercy: seconds a
                                stopping worker gets to finish; default 60 */
    int spawn_timeout;      /* --spawn-timeout: seconds a new worker has to report
                               ready before it is killed; default 60 */
    bool gc_freeze;         /* --gc-freeze: gc.freeze() before the first fork */

    /* Supervision (0 = off) */
    int max_requests;        /* --max-requests: recycle a worker after N requests */
    int max_requests_delta;  /* --max-requests-delta: worker i recycles after
                                max_requests + (i-1)*delta, so they do not all go at once */
    int max_worker_lifetime; /* --max-worker-lifetime: recycle after N seconds */
    int reload_on_rss;       /* --reload-on-rss: recycle when RSS exceeds N MiB */
    int harakiri;            /* --harakiri: a request running N seconds is stopped */
    bool chain_reload;       /* --chain-reload: SIGHUP replaces one worker at a time */

    /* Deployment */
    char *chmod_socket; /* --chmod-socket MODE: octal mode of unix sockets */
    char *chown_socket; /* --chown-socket USER[:GROUP] of unix sockets */
    char *uid;          /* --uid USER|N: drop to it after binding */
    char *gid;          /* --gid GROUP|N */
    char *pidfile;      /* --pidfile FILE: the master's pid (removed at exit) */
    char *daemonize;    /* --daemonize LOGFILE: detach, log there */
    char *logto;        /* --logto FILE: log there (reopened on SIGUSR1) */
    char *touch_reload; /* --touch-reload FILE: reload when its mtime changes */
    char *plugins;      /* --plugins python3: accepted for python plugins only */
    size_t post_buffering; /* --post-buffering N: accepted, no effect (bodies stream) */

    /* The config module's own state (where each value came from, for
       --print-config; the parse in progress); NULL until an option is
       applied, freed by hd_config_free. */
    struct hd_config_priv_s *priv;
} hd_config_t;

/* Fills cfg with the defaults. */
void hd_config_init(hd_config_t *cfg);

/*
 * Builds the config from the environment and argv (argv[0] is skipped), in
 * this order, later values overriding earlier ones:
 *   1. UWSGI_<NAME> then HERD_<NAME> variables of envp (NAME upper case,
 *      '-' as '_': UWSGI_PROCESSES=4, HERD_HTTP_SOCKET=:8000); variables
 *      naming no option are ignored (HERD_BIN, UWSGI_RELOADS, ...);
 *   2. argv, left to right; "--ini FILE[:SECTION]" (or a bare "FILE.ini")
 *      applies the file's options where it stands, so later arguments
 *      override them.
 * envp is the environment to read (NULL for none); $(VAR) in ini files is
 * looked up there too. docs/configuration.md has the rules.
 * argv accepts "--name value", "--name=value", "-x value", "-xvalue";
 * boolean flags take no value, or "=true/false/1/0/yes/no/on/off".
 * Repeatable options append.
 * Returns  0: parsed, run the server;
 *          1: --help, --version or --print-config was printed to stdout,
 *             exit 0;
 *         -1: error, a message naming the option (and the file and line,
 *             or the variable) was written to stderr ("herd: --processes:
 *             'abc' is not a number"), exit 2.
 * Also validates the result: at least one socket, exactly one of
 * --wsgi-file / --module, numbers in range.
 */
int hd_config_parse(hd_config_t *cfg, int argc, char **argv, char **envp);

/* hd_config_parse with the process environment (environ). */
int hd_config_parse_argv(hd_config_t *cfg, int argc, char **argv);

/*
 * Applies one option, whatever its source (the command line, ini files and
 * UWSGI_* / HERD_* variables all end here; "ini" reads a file).
 * name is a long name or alias without "--" ("processes", "workers"); value
 * is NULL when none was given (only flags accept that, meaning true).
 * source names where it came from, for messages ("app.ini:12" gives
 * "herd: app.ini:12: processes: 'x' is not a number"); NULL means the
 * command line. Returns 0, 1 (help/version printed) or -1 (message written
 * to stderr), as hd_config_parse_argv. Does not validate the whole config.
 */
int hd_config_apply(hd_config_t *cfg, const char *name, const char *value, const char *source);

/*
 * The checks hd_config_parse_argv ends with, for callers that apply options
 * from several sources: at least one socket, exactly one of --wsgi-file and
 * --module, and --module's ":callable" moved to callable (an error if
 * --callable names another). Returns 0, or -1 with a message on stderr.
 */
int hd_config_validate(hd_config_t *cfg);

/* Frees everything hd_config_parse_argv allocated. cfg stays valid whatever
   the parse returned, so free it in every case; freeing twice is harmless. */
void hd_config_free(hd_config_t *cfg);

/* Writes docs/options.md-style Markdown for every option to fd. */
void hd_config_write_markdown(int fd);

/* The version string, e.g. "0.1.0". */
#define HD_VERSION "0.1.0"

/* Provided by the py module: "3.11.2 (main, ...)" of the linked interpreter,
   used by --version. Declared here so config stays free of Python.h. */
const char *hd_py_version_string(void);

#endif
