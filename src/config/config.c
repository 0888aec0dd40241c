/*
 * config: see config.h.
 *
 * Every option is one row of hd_options[] below: its uWSGI name and aliases,
 * the kind of value it takes, the hd_config_t field it sets, its default and
 * its help line. Everything else here is driven from that table: the
 * command-line parser, --help, --version and docs/options.md
 * (--options-markdown).
 *
 * opt_apply() is the only place a value lands in the config, whatever its
 * source: the command line, ini files (ini.c) and UWSGI_* / HERD_* variables
 * (env.c) all go through it, naming the source in errors ("herd: app.ini:12:
 * processes: 'x' is not a number"). It also records where each value came
 * from, for --print-config. hd_config_parse() sets the order: environment
 * first, then argv with each --ini file applied where it stands.
 *
 * Messages go to stderr (errors) or stdout (--help, --version), each message
 * in one write(2); nothing here logs through core/log, so that this module
 * links alone into its unit test.
 */
#include "config/config.h"
#include "config/config_int.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* ---- the table ---------------------------------------------------------- */

typedef enum {
    OPT_FLAG,     /* bool field; no value, or =BOOL */
    OPT_INT,      /* int field; plain decimal in [min, max] */
    OPT_SIZE,     /* size_t field; decimal with optional k/m/g suffix */
    OPT_SIZE64,   /* int64_t field; same syntax as OPT_SIZE */
    OPT_STR,      /* char * field; the last one given wins */
    OPT_LIST,     /* char ** field plus a size_t count; each use appends */
    OPT_SOCKET,   /* appends {value, proto} to cfg->sockets */
    OPT_INI,      /* reads an ini file (ini.c) and applies its options */
    OPT_NOOP,     /* uWSGI flag for what herd always does: accepted, no field */
    OPT_REFUSED,  /* uWSGI option herd does not do: refused with help as reason */
    OPT_HELP,     /* actions: print something, the parse returns 1 */
    OPT_VERSION,
    OPT_MARKDOWN,
    OPT_PRINT_CONFIG /* flag: after parsing, print the config as ini; parse returns 1 */
} opt_kind_e;

typedef enum {
    SEC_GENERAL, /* --help, --version: listed before the sections */
    SEC_SOCKETS,
    SEC_APPLICATION,
    SEC_PROCESSES,
    SEC_HTTP,
    SEC_LOGGING,
    SEC_COMPAT,
    SEC_COUNT
} opt_section_e;

static const char *const hd_section_names[SEC_COUNT] = {
    "General", "Sockets", "Application", "Processes", "HTTP", "Logging", "Compatibility",
};

#define OPT_MAX_ALIASES 4
#define OPT_HIDDEN 0x1     /* not in --help nor the docs */
#define OPT_REPEATABLE 0x2 /* set by the LIST and SOCKET macros */

typedef struct hd_opt_s {
    const char *name;                          /* uWSGI's name, without "--" */
    const char *aliases[OPT_MAX_ALIASES];      /* more long names */
    char short_name;                           /* 'p' for -p, or 0 */
    opt_kind_e kind;
    opt_section_e section;
    size_t off;                                /* the field in hd_config_t */
    size_t count_off;                          /* OPT_LIST: its size_t count */
    long long min, max, def;                   /* numbers: range and default */
    hd_proto_e proto;                          /* OPT_SOCKET */
    /* Extra syntax check for strings: NULL when value is acceptable, else
       what it should look like ("KEY=VALUE"). */
    const char *(*check)(const char *value);
    const char *arg;                           /* placeholder in help: N, ADDR */
    const char *help;                          /* one line; the reason if refused */
    unsigned flags;
} hd_opt_t;

static const char *check_env(const char *value);
static const char *check_mode(const char *value);
static const char *check_plugins(const char *value);
static const char *check_module(const char *value);

#define FIELD(f) .off = offsetof(hd_config_t, f)
#define FLAG(f) .kind = OPT_FLAG, FIELD(f)
#define INT(f, lo, hi, d) .kind = OPT_INT, FIELD(f), .min = (lo), .max = (hi), .def = (d)
#define SIZE(f, lo, hi, d) .kind = OPT_SIZE, FIELD(f), .min = (lo), .max = (hi), .def = (d)
#define SIZE64(f, lo, hi, d) .kind = OPT_SIZE64, FIELD(f), .min = (lo), .max = (hi), .def = (d)
#define STR(f) .kind = OPT_STR, FIELD(f)
#define LIST(f, n) .kind = OPT_LIST, FIELD(f), .count_off = offsetof(hd_config_t, n), \
                   .flags = OPT_REPEATABLE
#define SOCKET(p) .kind = OPT_SOCKET, .proto = (p), .flags = OPT_REPEATABLE
#define NOOP .kind = OPT_NOOP
#define REFUSED(why) .kind = OPT_REFUSED, .section = SEC_COMPAT, .help = (why)

#define SECONDS_MAX 86400 /* a day: anything longer is a typo */

static const hd_opt_t hd_options[] = {
    /* General */
    {.name = "help", .short_name = 'h', .kind = OPT_HELP, .section = SEC_GENERAL,
     .help = "print this help and exit"},
    {.name = "version", .kind = OPT_VERSION, .section = SEC_GENERAL,
     .help = "print herd's version and the embedded Python's, and exit"},
    {.name = "options-markdown", .kind = OPT_MARKDOWN, .section = SEC_GENERAL,
     .flags = OPT_HIDDEN, .help = "print docs/options.md and exit"},
    {.name = "ini", .kind = OPT_INI, .section = SEC_GENERAL, .arg = "FILE[:SECTION]",
     .flags = OPT_REPEATABLE,
     .help = "apply the options of FILE's [uwsgi] and [herd] sections (or [SECTION]) "
             "here: later options override them (docs/configuration.md)"},
    {.name = "print-config", .aliases = {"show-config"}, .kind = OPT_PRINT_CONFIG,
     .section = SEC_GENERAL,
     .help = "print the resulting config as an ini file and exit (uWSGI's "
             "--show-config prints and runs)"},

    /* Sockets */
    {.name = "http-socket", .aliases = {"http", "http11-socket"}, SOCKET(HD_PROTO_HTTP),
     .section = SEC_SOCKETS, .arg = "ADDR",
     .help = "serve HTTP/1.1 on ADDR: host:port, :port, [::1]:port or a unix socket path"},
    {.name = "socket", .aliases = {"uwsgi-socket"}, .short_name = 's', SOCKET(HD_PROTO_UWSGI),
     .section = SEC_SOCKETS, .arg = "ADDR",
     .help = "serve the uwsgi protocol (nginx's uwsgi_pass) on ADDR"},
    {.name = "listen", .short_name = 'l', INT(listen_backlog, 1, 65535, 1024),
     .section = SEC_SOCKETS, .arg = "N", .help = "listen backlog of each socket"},

    /* Application */
    {.name = "wsgi-file", .aliases = {"file"}, STR(wsgi_file), .section = SEC_APPLICATION,
     .arg = "FILE", .help = "load the WSGI app from this Python file"},
    {.name = "module", .aliases = {"wsgi"}, .short_name = 'w', STR(module),
     .check = check_module, .section = SEC_APPLICATION, .arg = "MOD[:CALLABLE]",
     .help = "import the WSGI app from module MOD (\"pkg.app\" or \"pkg.app:application\")"},
    {.name = "callable", STR(callable), .section = SEC_APPLICATION, .arg = "NAME",
     .help = "name of the WSGI callable (default: application, then app)"},
    {.name = "chdir", STR(chdir), .section = SEC_APPLICATION, .arg = "DIR",
     .help = "change to DIR before loading the app"},
    {.name = "pythonpath", .aliases = {"python-path", "pp"}, LIST(pythonpath, npythonpath),
     .section = SEC_APPLICATION, .arg = "DIR", .help = "add DIR to sys.path"},
    {.name = "home", .aliases = {"virtualenv", "venv", "pyhome"}, .short_name = 'H', STR(home),
     .section = SEC_APPLICATION, .arg = "DIR", .help = "use the virtualenv at DIR"},
    {.name = "env", LIST(env, nenv), .check = check_env, .section = SEC_APPLICATION,
     .arg = "KEY=VALUE", .help = "set environment variable KEY before loading the app"},

    /* Processes */
    {.name = "master", .short_name = 'M', FLAG(master), .section = SEC_PROCESSES,
     .help = "run a master process (accepted: herd always has one)"},
    {.name = "processes", .aliases = {"workers"}, .short_name = 'p', INT(processes, 1, 1024, 1),
     .section = SEC_PROCESSES, .arg = "N", .help = "number of worker processes"},
    {.name = "threads", INT(threads, 1, 1024, 1), .section = SEC_PROCESSES, .arg = "N",
     .help = "threads per worker"},
    {.name = "lazy-apps", FLAG(lazy_apps), .section = SEC_PROCESSES,
     .help = "load the app in each worker after fork instead of once in the master"},
    {.name = "worker-reload-mercy", .aliases = {"reload-mercy"},
     INT(worker_reload_mercy, 1, SECONDS_MAX, 60), .section = SEC_PROCESSES, .arg = "N",
     .help = "seconds a stopping worker gets to finish its requests before it is killed"},
    {.name = "spawn-timeout", INT(spawn_timeout, 1, SECONDS_MAX, 60), .section = SEC_PROCESSES,
     .arg = "N",
     .help = "herd's own: seconds a new worker has to become ready before it is killed "
             "and respawned"},
    {.name = "gc-freeze", FLAG(gc_freeze), .section = SEC_PROCESSES,
     .help = "herd's own: call gc.freeze() before the first fork, so that objects "
             "loaded in the master stay shared"},

    {.name = "max-requests", .aliases = {"max-requests-per-worker"},
     INT(max_requests, 0, INT32_MAX, 0), .section = SEC_PROCESSES, .arg = "N",
     .help = "recycle a worker after it has served N requests (0: never)"},
    {.name = "max-requests-delta", INT(max_requests_delta, 0, INT32_MAX, 0),
     .section = SEC_PROCESSES, .arg = "N",
     .help = "worker i recycles after max-requests + (i-1)*N requests, so that workers "
             "do not all recycle at once"},
    {.name = "max-worker-lifetime", INT(max_worker_lifetime, 0, INT32_MAX, 0),
     .section = SEC_PROCESSES, .arg = "N",
     .help = "recycle a worker after N seconds (0: never)"},
    {.name = "reload-on-rss", INT(reload_on_rss, 0, INT32_MAX, 0), .section = SEC_PROCESSES,
     .arg = "N", .help = "recycle a worker whose resident memory exceeds N MiB (0: never)"},
    {.name = "harakiri", INT(harakiri, 0, SECONDS_MAX, 0), .section = SEC_PROCESSES,
     .arg = "N",
     .help = "a request running longer than N seconds is stopped: its traceback is "
             "logged, the client gets 504 if possible, the worker is replaced (0: never)"},
    {.name = "chain-reload", FLAG(chain_reload), .section = SEC_PROCESSES,
     .help = "herd's own: SIGHUP replaces one worker at a time, each new one serving "
             "before the old one leaves"},

    /* HTTP */
    {.name = "buffer-size", .short_name = 'b', SIZE(buffer_size, 1024, 1048576, 8192),
     .section = SEC_HTTP, .arg = "N",
     .help = "max bytes of a request head; uWSGI's default is 4096"},
    {.name = "limit-post", SIZE64(limit_post, 0, INT64_MAX, 0), .section = SEC_HTTP, .arg = "N",
     .help = "max bytes of a request body, 0 = unlimited; a larger body gets 413"},
    {.name = "socket-timeout", .short_name = 'z', INT(socket_timeout, 1, SECONDS_MAX, 30),
     .section = SEC_HTTP, .arg = "N",
     .help = "seconds a client may take to send each part of a request or take each "
             "part of the response"},
    {.name = "http-keepalive", INT(http_keepalive, 0, 3600, 5), .section = SEC_HTTP, .arg = "N",
     .help = "seconds an idle keep-alive connection stays open; 0 disables keep-alive"},

    /* Deployment */
    {.name = "chmod-socket", STR(chmod_socket), .check = check_mode, .section = SEC_SOCKETS,
     .arg = "MODE",
     .help = "octal permissions of unix sockets, e.g. 660 (uWSGI's bare --chmod-socket "
             "is --chmod-socket=666 here)"},
    {.name = "chown-socket", STR(chown_socket), .section = SEC_SOCKETS, .arg = "USER[:GROUP]",
     .help = "owner of unix sockets"},
    {.name = "uid", STR(uid), .section = SEC_PROCESSES, .arg = "USER",
     .help = "run as this user (name or number) once the sockets are bound"},
    {.name = "gid", STR(gid), .section = SEC_PROCESSES, .arg = "GROUP",
     .help = "run as this group (name or number) once the sockets are bound"},
    {.name = "pidfile", STR(pidfile), .section = SEC_PROCESSES, .arg = "FILE",
     .help = "write the master's pid to FILE (removed at exit)"},
    {.name = "daemonize", STR(daemonize), .section = SEC_PROCESSES, .arg = "LOGFILE",
     .help = "detach from the terminal and log to LOGFILE (prefer systemd)"},
    {.name = "touch-reload", STR(touch_reload), .section = SEC_PROCESSES, .arg = "FILE",
     .help = "reload (as SIGHUP) when FILE's modification time changes"},
    {.name = "vacuum", NOOP, .section = SEC_COMPAT,
     .help = "accepted: herd always removes its unix sockets and pid file at exit"},
    {.name = "thunder-lock", NOOP, .section = SEC_COMPAT,
     .help = "accepted, no effect: herd's workers need no accept lock"},
    {.name = "need-app", NOOP, .section = SEC_COMPAT,
     .help = "accepted: herd always stops when the app cannot be loaded"},
    {.name = "post-buffering", SIZE(post_buffering, 0, 1LL << 40, 0), .section = SEC_COMPAT,
     .arg = "N", .help = "accepted, no effect: herd streams request bodies to the app"},
    {.name = "strict", NOOP, .section = SEC_COMPAT,
     .help = "accepted: herd always refuses unknown options"},
    {.name = "plugins", .aliases = {"plugin"}, STR(plugins), .check = check_plugins,
     .section = SEC_COMPAT, .arg = "NAME",
     .help = "accepted for python plugins (python, python3, python311, ...): Python is "
             "built in; any other plugin is refused"},

    /* Logging */
    {.name = "logto", STR(logto), .section = SEC_LOGGING, .arg = "FILE",
     .help = "log to FILE instead of stderr (reopened on SIGUSR1, for logrotate)"},
    {.name = "disable-logging", .short_name = 'L', FLAG(disable_logging), .section = SEC_LOGGING,
     .help = "no access log line per request (errors are still logged)"},

    /* Compatibility: accepted */
    {.name = "enable-threads", .short_name = 'T', FLAG(enable_threads), .section = SEC_COMPAT,
     .help = "accepted: Python threads always work in herd"},
    {.name = "die-on-term", FLAG(die_on_term), .section = SEC_COMPAT,
     .help = "accepted: SIGTERM always stops herd"},
    {.name = "py-call-osafterfork", NOOP, .section = SEC_COMPAT,
     .help = "accepted, no effect: herd always runs CPython's fork protocol "
             "(PyOS_BeforeFork, PyOS_AfterFork_*)"},
    {.name = "py-call-uwsgi-fork-hooks", NOOP, .section = SEC_COMPAT,
     .help = "accepted, no effect: os.register_at_fork hooks always run"},
    {.name = "single-interpreter", NOOP, .section = SEC_COMPAT,
     .help = "accepted, no effect: herd always runs one interpreter"},

    /* Compatibility: refused, with the reason */
    {.name = "lazy", REFUSED("its reload semantics differ from --lazy-apps; use --lazy-apps to "
                             "load the app in each worker")},
    {.name = "http-to", REFUSED("herd has no HTTP router; serve HTTP directly with "
                                "--http-socket")},
    {.name = "https", REFUSED("herd does not terminate TLS; put a TLS proxy in front of "
                              "--http-socket")},
    {.name = "emperor", REFUSED("herd runs one app; manage several with systemd or another "
                                "supervisor")},
    {.name = "spooler", REFUSED("herd has no spooler; use a task queue")},
    {.name = "mule", REFUSED("herd has no mules; run background work in its own process")},
    {.name = "cheaper", REFUSED("herd runs a fixed number of workers; set --processes")},
    {.name = "cheaper-algo", REFUSED("herd runs a fixed number of workers; set --processes")},
    {.name = "cheaper-initial", REFUSED("herd runs a fixed number of workers; set --processes")},
    {.name = "cheaper-step", REFUSED("herd runs a fixed number of workers; set --processes")},
    {.name = "static-map", REFUSED("herd does not serve static files; use your proxy or the "
                                   "app (e.g. WhiteNoise)")},
    {.name = "stats", REFUSED("the stats server is not implemented yet")},
};

#define HD_NOPTIONS (sizeof(hd_options) / sizeof(hd_options[0]))

static bool opt_takes_value(const hd_opt_t *o)
{
    switch (o->kind) {
    case OPT_INT:
    case OPT_SIZE:
    case OPT_SIZE64:
    case OPT_STR:
    case OPT_LIST:
    case OPT_SOCKET:
    case OPT_INI:
        return true;
    default:
        return false;
    }
}

/* Is name[0..len) opt_name? With underscores, '_' in name matches '-'. */
static bool name_is(const char *opt_name, const char *name, size_t len, bool underscores)
{
    if (strlen(opt_name) != len)
        return false;
    for (size_t i = 0; i < len; i++)
        if (name[i] != opt_name[i] && !(underscores && name[i] == '_' && opt_name[i] == '-'))
            return false;
    return true;
}

static const hd_opt_t *opt_find(const char *name, size_t len, bool underscores)
{
    for (size_t i = 0; i < HD_NOPTIONS; i++) {
        const hd_opt_t *o = &hd_options[i];
        if (name_is(o->name, name, len, underscores))
            return o;
        for (int a = 0; a < OPT_MAX_ALIASES && o->aliases[a]; a++)
            if (name_is(o->aliases[a], name, len, underscores))
                return o;
    }
    return NULL;
}

/* Does the option set a field of hd_config_t (which --print-config shows)? */
static bool opt_holds_value(const hd_opt_t *o)
{
    return o->kind == OPT_FLAG || (opt_takes_value(o) && o->kind != OPT_INI);
}

/* The option whose name or alias is name[0..len), or NULL. */
static const hd_opt_t *opt_find_long(const char *name, size_t len)
{
    return opt_find(name, len, false);
}

int hd_config_find(const char *name, bool underscores, hd_config_optinfo_t *info)
{
    const hd_opt_t *o = opt_find(name, strlen(name), underscores);
    if (!o)
        return -1;
    info->index = (int)(o - hd_options);
    info->name = o->name;
    info->takes_value = opt_takes_value(o);
    info->repeatable = (o->flags & OPT_REPEATABLE) != 0;
    info->is_ini = o->kind == OPT_INI;
    info->is_action = o->kind == OPT_HELP || o->kind == OPT_VERSION || o->kind == OPT_MARKDOWN;
    return 0;
}

static const hd_opt_t *opt_find_short(char c)
{
    for (size_t i = 0; i < HD_NOPTIONS; i++)
        if (hd_options[i].short_name == c)
            return &hd_options[i];
    return NULL;
}

/* ---- output ------------------------------------------------------------- */

static void write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return; /* nowhere left to report it */
        }
        buf += n;
        len -= (size_t)n;
    }
}

/* A buffered writer for --help and the docs: few write(2)s, no stdio. */
typedef struct {
    int fd;
    size_t len;
    char buf[8192];
} out_t;

static void out_flush(out_t *out)
{
    write_all(out->fd, out->buf, out->len);
    out->len = 0;
}

static void out_puts(out_t *out, const char *s)
{
    size_t n = strlen(s);
    if (out->len + n > sizeof(out->buf))
        out_flush(out);
    if (n > sizeof(out->buf)) {
        write_all(out->fd, s, n);
        return;
    }
    memcpy(out->buf + out->len, s, n);
    out->len += n;
}

static void out_printf(out_t *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void out_printf(out_t *out, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    out_puts(out, line);
}

/* Writes "herd: [SOURCE: ]WHAT: message\n" to stderr in one write. WHAT is
   the option as the user wrote it, or NULL for messages about no option.
   Returns -1, so that callers can "return opt_fail(...)". */
static int opt_fail(const char *source, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int opt_vfail(const char *source, const char *what, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

static int opt_fail(const char *source, const char *what, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    opt_vfail(source, what, fmt, ap);
    va_end(ap);
    return -1;
}

int hd_config_fail(const char *source, const char *what, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    opt_vfail(source, what, fmt, ap);
    va_end(ap);
    return -1;
}

static int opt_vfail(const char *source, const char *what, const char *fmt, va_list ap)
{
    char text[768], msg[1024];
    vsnprintf(text, sizeof(text), fmt, ap);
    /* sizeof(msg) - 1: room for the newline even when truncated. */
    int n = snprintf(msg, sizeof(msg) - 1, "herd: %s%s%s%s%s", source ? source : "",
                     source ? ": " : "", what ? what : "", what ? ": " : "", text);
    if (n < 0)
        return -1;
    if ((size_t)n > sizeof(msg) - 2)
        n = (int)sizeof(msg) - 2;
    msg[n++] = '\n';
    write_all(2, msg, (size_t)n);
    return -1;
}

/* ---- values ------------------------------------------------------------- */

static const char *check_mode(const char *value)
{
    size_t n = strlen(value);
    if (n < 1 || n > 4 || strspn(value, "01234567") != n)
        return "an octal mode like 660";
    return NULL;
}

/* uWSGI configs name the python plugin ("python3", "0:python3",
   "python311,logfile"): accept Python's, refuse others. */
static const char *check_plugins(const char *value)
{
    const char *p = value;
    while (*p) {
        size_t n = strcspn(p, ", ");
        const char *name = p;
        const char *colon = memchr(p, ':', n);
        if (colon) {
            n -= (size_t)(colon + 1 - p);
            name = colon + 1;
        }
        if (n < 6 || strncmp(name, "python", 6) != 0 ||
            strspn(name + 6, "0123456789") != n - 6)
            return "a python plugin (python, python3, python311): other uWSGI plugins are not "
                   "part of herd";
        p = name + n;
        p += strspn(p, ", ");
    }
    return NULL;
}

static const char *check_env(const char *value)
{
    const char *eq = strchr(value, '=');
    return eq && eq != value ? NULL : "KEY=VALUE";
}

static const char *check_module(const char *value)
{
    const char *colon = strchr(value, ':');
    if (!colon)
        return NULL;
    if (colon == value || colon[1] == '\0' || strchr(colon + 1, ':'))
        return "MOD or MOD:CALLABLE";
    return NULL;
}

/* true/false, 1/0, yes/no, on/off, any case: 0 and *out set, or -1. */
static int parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "1", "yes", "on"};
    static const char *const no[] = {"false", "0", "no", "off"};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

/*
 * A plain decimal with an optional leading '-' and, if suffixes, one of
 * k/m/g (any case, times 1024, 1024^2, 1024^3). Returns 0 with *out set,
 * 1 when the value is beyond long long (out of any range), -1 when it is
 * not a number.
 */
static int parse_number(const char *s, bool suffixes, long long *out)
{
    const char *p = s;
    bool neg = *p == '-';
    if (neg)
        p++;
    if (*p < '0' || *p > '9')
        return -1;
    unsigned long long v = 0;
    bool big = false;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (v > (ULLONG_MAX - 9) / 10)
            big = true;
        else
            v = v * 10 + (unsigned)(*p - '0');
    }
    if (suffixes && *p) {
        unsigned shift = 0;
        switch (*p) {
        case 'k': case 'K': shift = 10; break;
        case 'm': case 'M': shift = 20; break;
        case 'g': case 'G': shift = 30; break;
        default: return -1;
        }
        p++;
        if (v > (ULLONG_MAX >> shift))
            big = true;
        else
            v <<= shift;
    }
    if (*p)
        return -1;
    if (big || v > (unsigned long long)LLONG_MAX)
        return 1;
    *out = neg ? -(long long)v : (long long)v;
    return 0;
}

/* Appends a copy of s to the array *arr of *n strings: 0, or -1 on ENOMEM. */
static int list_append(char ***arr, size_t *n, const char *s)
{
    char *copy = strdup(s);
    char **grown = copy ? realloc(*arr, (*n + 1) * sizeof(**arr)) : NULL;
    if (!grown) {
        free(copy);
        return -1;
    }
    grown[(*n)++] = copy;
    *arr = grown;
    return 0;
}

static int socket_append(hd_config_t *cfg, const char *addr, hd_proto_e proto)
{
    char *copy = strdup(addr);
    hd_socket_spec_t *grown =
        copy ? realloc(cfg->sockets, (cfg->nsockets + 1) * sizeof(*grown)) : NULL;
    if (!grown) {
        free(copy);
        return -1;
    }
    grown[cfg->nsockets].addr = copy;
    grown[cfg->nsockets].proto = proto;
    cfg->nsockets++;
    cfg->sockets = grown;
    return 0;
}

static void print_help(void);
static void print_version(void);

struct hd_config_priv_s *hd_config_priv(hd_config_t *cfg)
{
    if (!cfg->priv)
        cfg->priv = calloc(1, sizeof(*cfg->priv));
    return cfg->priv;
}

char **hd_config_environ(const hd_config_t *cfg)
{
    static char *empty[] = {NULL};
    if (cfg->priv && cfg->priv->have_envp)
        return cfg->priv->envp ? cfg->priv->envp : empty;
    return environ;
}

/* Remembers that a value of option o came from source (NULL: the command
   line), for --print-config. 0, or -1 when out of memory. */
static int origin_add(hd_config_t *cfg, const hd_opt_t *o, const char *source)
{
    struct hd_config_priv_s *priv = hd_config_priv(cfg);
    char *copy = source ? strdup(source) : NULL;
    hd_config_origin_t *grown =
        priv && (copy || !source)
            ? realloc(priv->origins, (priv->norigins + 1) * sizeof(*grown))
            : NULL;
    if (!grown) {
        free(copy);
        return -1;
    }
    grown[priv->norigins].index = (int)(o - hd_options);
    grown[priv->norigins].source = copy;
    priv->norigins++;
    priv->origins = grown;
    return 0;
}

static int opt_store(hd_config_t *cfg, const hd_opt_t *o, const char *what, const char *value,
                     const char *source);

/*
 * Applies option o with value (NULL when none was given; only options that
 * take no value accept that). what is the option as the user wrote it
 * ("--workers", "-p", or an ini key), source where ("app.ini:12") or NULL
 * for the command line; both only for messages.
 * Returns 0 applied, 1 help/version printed, -1 error (message written).
 */
static int opt_apply(hd_config_t *cfg, const hd_opt_t *o, const char *what, const char *value,
                     const char *source)
{
    int rc = opt_store(cfg, o, what, value, source);
    if (rc != 0 || !opt_holds_value(o))
        return rc;
    if (origin_add(cfg, o, source) < 0)
        return opt_fail(source, what, "out of memory");
    return 0;
}

/* opt_apply without the bookkeeping. */
static int opt_store(hd_config_t *cfg, const hd_opt_t *o, const char *what, const char *value,
                     const char *source)
{
    char *field = (char *)cfg + o->off;
    bool on = true;
    long long n = 0;
    int rc;

    if (o->kind == OPT_REFUSED)
        return opt_fail(source, what, "not supported by herd: %s", o->help);

    if (!opt_takes_value(o)) {
        if (value && parse_bool(value, &on) < 0)
            return opt_fail(source, what,
                            "'%s' is not a boolean (true/false, 1/0, yes/no, on/off)", value);
        switch (o->kind) {
        case OPT_FLAG:
            *(bool *)field = on;
            return 0;
        case OPT_HELP:
            if (on)
                print_help();
            return on ? 1 : 0;
        case OPT_VERSION:
            if (on)
                print_version();
            return on ? 1 : 0;
        case OPT_MARKDOWN:
            if (on)
                hd_config_write_markdown(1);
            return on ? 1 : 0;
        case OPT_PRINT_CONFIG:
            if (!hd_config_priv(cfg))
                return opt_fail(source, what, "out of memory");
            cfg->priv->print_config = on;
            return 0;
        default: /* OPT_NOOP */
            return 0;
        }
    }

    if (!value)
        return opt_fail(source, what, "missing value (%s %s)", what, o->arg);
    if (*value == '\0')
        return opt_fail(source, what, "empty value (%s %s)", what, o->arg);

    switch (o->kind) {
    case OPT_INT:
    case OPT_SIZE:
    case OPT_SIZE64:
        rc = parse_number(value, o->kind != OPT_INT, &n);
        if (rc < 0)
            return opt_fail(source, what, "'%s' is not %s", value,
                            o->kind == OPT_INT ? "a number" : "a size (N, Nk, Nm or Ng)");
        if (rc > 0 || n < o->min || n > o->max) {
            if (o->max == INT64_MAX)
                return opt_fail(source, what, "'%s' is out of range (%lld or more)", value,
                                o->min);
            return opt_fail(source, what, "'%s' is out of range (%lld..%lld)", value, o->min,
                            o->max);
        }
        if (o->kind == OPT_INT)
            *(int *)field = (int)n;
        else if (o->kind == OPT_SIZE)
            *(size_t *)field = (size_t)n;
        else
            *(int64_t *)field = (int64_t)n;
        return 0;
    default:
        break;
    }

    if (o->check) {
        const char *want = o->check(value);
        if (want)
            return opt_fail(source, what, "'%s' is not %s", value, want);
    }

    switch (o->kind) {
    case OPT_STR: {
        char *copy = strdup(value);
        if (!copy)
            return opt_fail(source, what, "out of memory");
        free(*(char **)field);
        *(char **)field = copy;
        return 0;
    }
    case OPT_LIST:
        if (list_append((char ***)field, (size_t *)((char *)cfg + o->count_off), value) < 0)
            return opt_fail(source, what, "out of memory");
        return 0;
    case OPT_SOCKET:
        if (socket_append(cfg, value, o->proto) < 0)
            return opt_fail(source, what, "out of memory");
        return 0;
    case OPT_INI:
        return hd_ini_read(cfg, value, what, source);
    default:
        return opt_fail(source, what, "internal error: unhandled option kind %d", (int)o->kind);
    }
}

int hd_config_apply(hd_config_t *cfg, const char *name, const char *value, const char *source)
{
    const hd_opt_t *o = opt_find_long(name, strlen(name));
    if (!o)
        return opt_fail(source, NULL, "unknown option '%s' (see herd --help)", name);
    return opt_apply(cfg, o, name, value, source);
}

int hd_config_apply_opt(hd_config_t *cfg, int index, const char *what, const char *value,
                        const char *source)
{
    if (index < 0 || (size_t)index >= HD_NOPTIONS)
        return opt_fail(source, what, "internal error: no option %d", index);
    return opt_apply(cfg, &hd_options[index], what, value, source);
}

/* ---- init, validate, free ----------------------------------------------- */

void hd_config_init(hd_config_t *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    for (size_t i = 0; i < HD_NOPTIONS; i++) {
        const hd_opt_t *o = &hd_options[i];
        char *field = (char *)cfg + o->off;
        if (o->kind == OPT_INT)
            *(int *)field = (int)o->def;
        else if (o->kind == OPT_SIZE)
            *(size_t *)field = (size_t)o->def;
        else if (o->kind == OPT_SIZE64)
            *(int64_t *)field = (int64_t)o->def;
    }
}

int hd_config_validate(hd_config_t *cfg)
{
    if (cfg->nsockets == 0)
        return opt_fail(NULL, NULL, "no socket given: use --http-socket ADDR");
    if (cfg->wsgi_file && cfg->module)
        return opt_fail(NULL, NULL, "both --wsgi-file and --module given: use only one");
    if (!cfg->wsgi_file && !cfg->module)
        return opt_fail(NULL, NULL, "no app given: use --wsgi-file FILE or --module MOD");

    char *colon = cfg->module ? strchr(cfg->module, ':') : NULL;
    if (colon) {
        /* "pkg.app:name" names the callable: move it to cfg->callable. */
        if (cfg->callable && strcmp(cfg->callable, colon + 1) != 0)
            return opt_fail(NULL, NULL, "--module '%s' names callable '%s' but --callable is '%s'",
                            cfg->module, colon + 1, cfg->callable);
        if (!cfg->callable) {
            cfg->callable = strdup(colon + 1);
            if (!cfg->callable)
                return opt_fail(NULL, NULL, "out of memory");
        }
        *colon = '\0';
    }
    return 0;
}

static void free_list(char ***arr, size_t *n)
{
    for (size_t i = 0; i < *n; i++)
        free((*arr)[i]);
    free(*arr);
    *arr = NULL;
    *n = 0;
}

void hd_config_free(hd_config_t *cfg)
{
    for (size_t i = 0; i < cfg->nsockets; i++)
        free(cfg->sockets[i].addr);
    free(cfg->sockets);
    /* Every string and list field is some row's: free them from the table
       (a field is set to NULL once freed, so rows sharing one are fine). */
    for (size_t i = 0; i < HD_NOPTIONS; i++) {
        const hd_opt_t *o = &hd_options[i];
        char *field = (char *)cfg + o->off;
        if (o->kind == OPT_STR) {
            free(*(char **)field);
            *(char **)field = NULL;
        } else if (o->kind == OPT_LIST) {
            free_list((char ***)field, (size_t *)((char *)cfg + o->count_off));
        }
    }
    if (cfg->priv) {
        for (size_t i = 0; i < cfg->priv->norigins; i++)
            free(cfg->priv->origins[i].source);
        free(cfg->priv->origins);
        free(cfg->priv->last_ini);
        free(cfg->priv);
    }
    memset(cfg, 0, sizeof(*cfg));
}

/* ---- the command line --------------------------------------------------- */

/* Does a separate argument look like an option rather than a value?
   ("--x", "-x"; but "-1" and "-" are values.) */
static bool looks_like_option(const char *arg)
{
    if (arg[0] != '-')
        return false;
    if (arg[1] == '-')
        return true;
    return (arg[1] >= 'a' && arg[1] <= 'z') || (arg[1] >= 'A' && arg[1] <= 'Z');
}

/* One "--name[=value]" at argv[*i]; may consume argv[*i + 1]. */
static int parse_long(hd_config_t *cfg, int argc, char **argv, int *i)
{
    const char *name = argv[*i] + 2;
    const char *eq = strchr(name, '=');
    size_t len = eq ? (size_t)(eq - name) : strlen(name);
    const hd_opt_t *o = opt_find_long(name, len);
    char what[128];

    snprintf(what, sizeof(what), "--%.*s", (int)len, name);
    if (!o)
        return opt_fail(NULL, NULL, "unknown option '%s' (see herd --help)", what);

    const char *value = eq ? eq + 1 : NULL;
    if (!eq && opt_takes_value(o) && *i + 1 < argc && !looks_like_option(argv[*i + 1]))
        value = argv[++*i];
    return opt_apply(cfg, o, what, value, NULL);
}

/* One "-x", "-xVALUE", "-x VALUE" or a cluster of flags "-MT" at argv[*i]. */
static int parse_short(hd_config_t *cfg, int argc, char **argv, int *i)
{
    const char *arg = argv[*i];
    for (size_t j = 1; arg[j]; j++) {
        const hd_opt_t *o = opt_find_short(arg[j]);
        char what[3] = {'-', arg[j], '\0'};
        if (!o)
            return opt_fail(NULL, NULL, "unknown option '%s' (see herd --help)", what);
        if (!opt_takes_value(o)) {
            int rc = opt_apply(cfg, o, what, NULL, NULL);
            if (rc != 0)
                return rc;
            continue;
        }
        const char *value = NULL;
        if (arg[j + 1])
            value = &arg[j + 1];
        else if (*i + 1 < argc && !looks_like_option(argv[*i + 1]))
            value = argv[++*i];
        return opt_apply(cfg, o, what, value, NULL);
    }
    return 0;
}

/* Is a bare argument an ini file, "FILE.ini" or "FILE.ini:SECTION"? uWSGI
   reads those as --ini (and other bare arguments as other config formats). */
static bool is_ini_arg(const char *arg)
{
    const char *colon = strrchr(arg, ':');
    size_t len = colon && !strchr(colon, '/') ? (size_t)(colon - arg) : strlen(arg);
    return len > 4 && memcmp(arg + len - 4, ".ini", 4) == 0;
}

static void print_config(const hd_config_t *cfg);

/* hd_config_parse once the environment is in place. */
static int parse_all(hd_config_t *cfg, int argc, char **argv)
{
    int rc = hd_env_apply(cfg, hd_config_environ(cfg));
    if (rc != 0)
        return rc;

    bool options_done = false;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!options_done && strcmp(arg, "--") == 0) {
            options_done = true;
            continue;
        }
        if (!options_done && arg[0] != '-' && is_ini_arg(arg))
            rc = hd_ini_read(cfg, arg, NULL, NULL);
        else if (options_done || arg[0] != '-' || arg[1] == '\0')
            return opt_fail(NULL, NULL, "unexpected argument '%s'", arg);
        else if (arg[1] == '-')
            rc = parse_long(cfg, argc, argv, &i);
        else
            rc = parse_short(cfg, argc, argv, &i);
        if (rc != 0)
            return rc;
    }
    if (hd_config_validate(cfg) < 0)
        return -1;
    if (cfg->priv && cfg->priv->print_config) {
        print_config(cfg);
        return 1;
    }
    return 0;
}

int hd_config_parse(hd_config_t *cfg, int argc, char **argv, char **envp)
{
    if (!hd_config_priv(cfg))
        return opt_fail(NULL, NULL, "out of memory");
    cfg->priv->have_envp = true;
    cfg->priv->envp = envp;
    int rc = parse_all(cfg, argc, argv);
    cfg->priv->have_envp = false; /* envp may not outlive the call */
    cfg->priv->envp = NULL;
    return rc;
}

int hd_config_parse_argv(hd_config_t *cfg, int argc, char **argv)
{
    return hd_config_parse(cfg, argc, argv, environ);
}

/* ---- --help, --version, docs -------------------------------------------- */

/* "-p, --processes, --workers" (Markdown: each name in backquotes). */
static void opt_names(const hd_opt_t *o, bool md, char *buf, size_t size)
{
    const char *q = md ? "`" : "";
    size_t n = 0;
    if (o->short_name)
        n += (size_t)snprintf(buf + n, size - n, "%s-%c%s, ", q, o->short_name, q);
    else if (!md)
        n += (size_t)snprintf(buf + n, size - n, "    ");
    n += (size_t)snprintf(buf + n, size - n, "%s--%s%s", q, o->name, q);
    for (int a = 0; a < OPT_MAX_ALIASES && o->aliases[a] && n < size; a++)
        n += (size_t)snprintf(buf + n, size - n, ", %s--%s%s", q, o->aliases[a], q);
}

/* "1..1024, default 1" or "default 0" for numbers, "" otherwise. */
static void opt_range(const hd_opt_t *o, char *buf, size_t size)
{
    buf[0] = '\0';
    if (o->kind != OPT_INT && o->kind != OPT_SIZE && o->kind != OPT_SIZE64)
        return;
    if (o->max == INT64_MAX)
        snprintf(buf, size, "default %lld", o->def);
    else
        snprintf(buf, size, "%lld..%lld, default %lld", o->min, o->max, o->def);
}

#define HELP_COL 32
#define HELP_WIDTH 79

/* Writes text from column col, wrapped at HELP_WIDTH, and a newline. */
static void out_wrapped(out_t *out, size_t col, const char *text)
{
    size_t at = col;
    while (*text) {
        size_t word = strcspn(text, " ");
        if (at > col && at + 1 + word > HELP_WIDTH) {
            out_printf(out, "\n%*s", (int)col, "");
            at = col;
        } else if (at > col) {
            out_puts(out, " ");
            at++;
        }
        out_printf(out, "%.*s", (int)word, text);
        at += word;
        text += word;
        text += strspn(text, " ");
    }
    out_puts(out, "\n");
}

static void help_option(out_t *out, const hd_opt_t *o)
{
    char left[160], range[96], text[512];
    opt_names(o, false, left, sizeof(left));
    if (opt_takes_value(o)) {
        size_t n = strlen(left);
        snprintf(left + n, sizeof(left) - n, " %s", o->arg);
    }
    opt_range(o, range, sizeof(range));
    snprintf(text, sizeof(text), "%s%s%s%s%s", o->help, range[0] ? " (" : "", range,
             range[0] ? ")" : "", (o->flags & OPT_REPEATABLE) ? "; repeatable" : "");

    out_printf(out, "  %s", left);
    size_t at = 2 + strlen(left);
    if (at + 2 > HELP_COL) {
        out_puts(out, "\n");
        at = 0;
    }
    out_printf(out, "%*s", (int)(HELP_COL - at), "");
    out_wrapped(out, HELP_COL, text);
}

static void print_help(void)
{
    out_t out = {.fd = 1};
    out_puts(&out,
             "Usage: herd [OPTIONS]\n"
             "herd, a pre-forking WSGI server. Option names are uWSGI's.\n"
             "Values: --name VALUE, --name=VALUE, -x VALUE, -xVALUE. Flags take no value,\n"
             "or --name=BOOL (true/false, 1/0, yes/no, on/off). Sizes take k/m/g suffixes.\n"
             "Options also come from ini files (--ini app.ini, or just app.ini) and from\n"
             "UWSGI_NAME / HERD_NAME variables (HERD_PROCESSES=4); the command line wins.\n"
             "\n");
    for (int s = 0; s < SEC_COUNT; s++) {
        if (s != SEC_GENERAL)
            out_printf(&out, "\n%s:\n", hd_section_names[s]);
        for (size_t i = 0; i < HD_NOPTIONS; i++) {
            const hd_opt_t *o = &hd_options[i];
            if ((int)o->section == s && o->kind != OPT_REFUSED && !(o->flags & OPT_HIDDEN))
                help_option(&out, o);
        }
    }

    /* Refused options: names only here, the reasons are in the docs and in
       the message herd prints when one is given. */
    char names[1024];
    size_t n = 0;
    names[0] = '\0';
    for (size_t i = 0; i < HD_NOPTIONS && n < sizeof(names); i++)
        if (hd_options[i].kind == OPT_REFUSED)
            n += (size_t)snprintf(names + n, sizeof(names) - n, "%s--%s", n ? ", " : "",
                                  hd_options[i].name);
    out_puts(&out, "\n  Refused with a reason (not supported by herd):\n    ");
    out_wrapped(&out, 4, names);
    out_puts(&out, "\nThe full list, with what herd does with each option: docs/options.md\n");
    out_flush(&out);
}

static void print_version(void)
{
    const char *py = hd_py_version_string();
    char line[512];
    int n = snprintf(line, sizeof(line), "herd " HD_VERSION " (Python %s)\n", py ? py : "unknown");
    if (n >= (int)sizeof(line))
        n = (int)sizeof(line) - 1;
    write_all(1, line, (size_t)n);
}

/* ---- --print-config ----------------------------------------------------- */

/* Where the nth value of option o came from (nth SIZE_MAX: the last one), or
   NULL if not recorded (callable taken from --module by validation). The
   socket options share one list, so they count together. */
static const hd_config_origin_t *origin_find(const hd_config_t *cfg, const hd_opt_t *o,
                                             size_t nth)
{
    const hd_config_origin_t *found = NULL;
    for (size_t i = 0; cfg->priv && i < cfg->priv->norigins; i++) {
        const hd_opt_t *from = &hd_options[cfg->priv->origins[i].index];
        if (from != o && !(from->kind == OPT_SOCKET && o->kind == OPT_SOCKET))
            continue;
        found = &cfg->priv->origins[i];
        if (nth-- == 0)
            break;
    }
    return found;
}

/* Writes "; SOURCE" and "name = value" with '%' and "$(" escaped, so that
   the ini reader gives value back. A value the reader would change
   (blanks at an end are trimmed, lines end at a line break) is only named. */
static void config_line(out_t *out, const hd_config_origin_t *from, const char *name,
                        const char *value)
{
    if (from) {
        out_puts(out, "; ");
        out_puts(out, from->source ? from->source : "command line");
        out_puts(out, "\n");
    }
    size_t len = strlen(value);
    if (len == 0 || strchr(" \t\r", value[0]) || strchr(" \t\r", value[len - 1]) ||
        strpbrk(value, "\r\n")) {
        out_printf(out, "; %s: its value cannot be written in an ini file (blanks at an end, "
                        "or a line break)\n", name);
        return;
    }
    out_printf(out, "%s = ", name);
    for (const char *p = value; *p; p++) {
        char c[2] = {*p, '\0'};
        if (*p == '%')
            out_puts(out, "%%");
        else if (*p == '$' && p[1] == '(')
            out_puts(out, "%$");
        else
            out_puts(out, c);
    }
    out_puts(out, "\n");
}

/* Prints every option that differs from its default, as an ini file that
   --ini reads back to the same config. */
static void print_config(const hd_config_t *cfg)
{
    out_t out = {.fd = 1};
    bool sockets_done = false;
    char num[32];

    out_puts(&out, "# herd " HD_VERSION " --print-config: options that differ from their "
                   "defaults,\n# each after where it came from. Read back with --ini FILE.\n"
                   "[uwsgi]\n");
    for (size_t i = 0; i < HD_NOPTIONS; i++) {
        const hd_opt_t *o = &hd_options[i];
        const char *field = (const char *)cfg + o->off;
        long long n;
        switch (o->kind) {
        case OPT_FLAG:
            if (*(const bool *)field)
                config_line(&out, origin_find(cfg, o, SIZE_MAX), o->name, "true");
            break;
        case OPT_INT:
        case OPT_SIZE:
        case OPT_SIZE64:
            n = o->kind == OPT_INT    ? *(const int *)field
                : o->kind == OPT_SIZE ? (long long)*(const size_t *)field
                                      : (long long)*(const int64_t *)field;
            if (n != o->def) {
                snprintf(num, sizeof(num), "%lld", n);
                config_line(&out, origin_find(cfg, o, SIZE_MAX), o->name, num);
            }
            break;
        case OPT_STR:
            if (*(char *const *)field)
                config_line(&out, origin_find(cfg, o, SIZE_MAX), o->name, *(char *const *)field);
            break;
        case OPT_LIST: {
            char *const *list = *(char **const *)field;
            size_t count = *(const size_t *)((const char *)cfg + o->count_off);
            for (size_t k = 0; k < count; k++)
                config_line(&out, origin_find(cfg, o, k), o->name, list[k]);
            break;
        }
        case OPT_SOCKET:
            /* All sockets at the first socket row, in their order. */
            for (size_t k = 0; !sockets_done && k < cfg->nsockets; k++) {
                const hd_opt_t *as = o; /* the first row of the socket's protocol */
                for (size_t j = i; j < HD_NOPTIONS; j++)
                    if (hd_options[j].kind == OPT_SOCKET &&
                        hd_options[j].proto == cfg->sockets[k].proto) {
                        as = &hd_options[j];
                        break;
                    }
                config_line(&out, origin_find(cfg, o, k), as->name, cfg->sockets[k].addr);
            }
            sockets_done = true;
            break;
        default:
            break;
        }
    }
    out_flush(&out);
}

/* Markdown table cell text: '|' escaped. */
static void out_md_cell(out_t *out, const char *s)
{
    char c[2] = {0, 0};
    for (; *s; s++) {
        c[0] = *s;
        out_puts(out, *s == '|' ? "\\|" : c);
    }
}

void hd_config_write_markdown(int fd)
{
    out_t out = {.fd = fd};
    char names[256], range[96];

    out_puts(&out,
             "# herd options\n"
             "\n"
             "<!-- Generated from the option table in src/config/config.c by\n"
             "     `herd --options-markdown > docs/options.md`; do not edit by hand.\n"
             "     The unit tests fail when this file is stale. -->\n"
             "\n"
             "herd takes uWSGI's option names, so an existing uWSGI command line works\n"
             "unchanged as long as it uses options herd knows. Each uWSGI option herd\n"
             "knows has one of three fates:\n"
             "\n"
             "- **used**: herd does what the option says (the sections below);\n"
             "- **accepted**: a uWSGI flag asking for something herd always does, such as\n"
             "  `--enable-threads` or `--py-call-osafterfork`: herd takes it and behaves the\n"
             "  same with or without it (see [Compatibility](#compatibility));\n"
             "- **refused**: a uWSGI feature herd does not have (yet): herd stops at once\n"
             "  with a one-line reason rather than run without it (see\n"
             "  [Refused](#refused)).\n"
             "\n"
             "Any other option is an error: `herd: unknown option '--foo' (see herd --help)`.\n"
             "\n"
             "Values: `--name VALUE`, `--name=VALUE`, `-x VALUE`, `-xVALUE`; short flags\n"
             "combine (`-MT`). Flags take no value, or `--name=BOOL` with true/false, 1/0,\n"
             "yes/no or on/off; a flag never takes the next argument as its value. An\n"
             "option's value is never taken from a next argument that looks like an option\n"
             "(`--x` or `-x`): write `--name=VALUE` for such a value. Numbers are plain\n"
             "decimals; sizes also take a `k`, `m` or `g` suffix (times 1024). A\n"
             "repeatable option adds a value each time it is given; for any other option\n"
             "the last value given wins.\n"
             "\n"
             "The same options can be given in ini files (`--ini app.ini`, or a bare\n"
             "`app.ini` argument) and in `UWSGI_NAME` / `HERD_NAME` environment variables\n"
             "(`HERD_PROCESSES=4`, `UWSGI_HTTP_SOCKET=:8000`): the environment first, then\n"
             "the command line from left to right with each ini file's options where\n"
             "`--ini` stands, later values overriding earlier ones.\n"
             "[configuration.md](configuration.md) has the rules: sections, placeholders\n"
             "(`%d`, `%(name)`, `$(VAR)`), includes, `--print-config`. Any other bare\n"
             "argument is refused.\n"
             "\n"
             "After parsing herd checks that at least one socket is given and exactly one\n"
             "of `--wsgi-file` and `--module`. `--module pkg.app:name` sets the callable\n"
             "to `name`; it is an error if `--callable` names another one.\n");

    for (int s = SEC_GENERAL; s < SEC_COUNT; s++) {
        out_printf(&out, "\n## %s\n\n", hd_section_names[s]);
        out_puts(&out, "| Option | Value | Default | Description |\n|---|---|---|---|\n");
        for (size_t i = 0; i < HD_NOPTIONS; i++) {
            const hd_opt_t *o = &hd_options[i];
            if ((int)o->section != s || o->kind == OPT_REFUSED || (o->flags & OPT_HIDDEN))
                continue;
            opt_names(o, true, names, sizeof(names));
            out_printf(&out, "| %s | ", names);
            if (opt_takes_value(o)) {
                out_puts(&out, "`");
                out_md_cell(&out, o->arg);
                out_puts(&out, "`");
            }
            if (o->kind == OPT_INT || o->kind == OPT_SIZE || o->kind == OPT_SIZE64) {
                if (o->max == INT64_MAX)
                    out_printf(&out, " (%lld or more)", o->min);
                else
                    out_printf(&out, " (%lld..%lld)", o->min, o->max);
            }
            opt_range(o, range, sizeof(range));
            out_printf(&out, " | %s | ",
                       range[0] ? strstr(range, "default ") + strlen("default ") : "");
            out_md_cell(&out, o->help);
            if (o->flags & OPT_REPEATABLE)
                out_puts(&out, "; repeatable");
            out_puts(&out, " |\n");
        }
    }

    out_puts(&out, "\n## Refused\n\n"
                   "uWSGI options herd does not support. Given one, herd prints\n"
                   "`herd: --NAME: not supported by herd: REASON` and exits with status 2.\n\n"
                   "| Option | Why |\n|---|---|\n");
    for (size_t i = 0; i < HD_NOPTIONS; i++) {
        const hd_opt_t *o = &hd_options[i];
        if (o->kind != OPT_REFUSED)
            continue;
        opt_names(o, true, names, sizeof(names));
        out_printf(&out, "| %s | ", names);
        out_md_cell(&out, o->help);
        out_puts(&out, " |\n");
    }
    out_flush(&out);
}
