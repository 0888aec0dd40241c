/*
 * config internals, shared by the files of src/config only:
 *   config.c  the option table, hd_config_apply, argv, --help, the docs,
 *             --print-config;
 *   ini.c     ini files (--ini, "ini = ..." inside a file, UWSGI_INI);
 *   env.c     UWSGI_<NAME> and HERD_<NAME> variables.
 * ini.c and env.c know options only through hd_config_find and apply them
 * only through hd_config_apply_opt, so every value still lands in one place.
 */
#ifndef HD_CONFIG_INT_H
#define HD_CONFIG_INT_H

#include "config/config.h"

#include <stdbool.h>
#include <stddef.h>

/* Where one applied value came from (for --print-config comments). */
typedef struct hd_config_origin_s {
    int index;    /* the option's row in the table */
    char *source; /* "app.ini:3", "environment UWSGI_PROCESSES"; NULL: command line */
} hd_config_origin_t;

struct hd_config_priv_s {
    hd_config_origin_t *origins; /* one per value applied, in order */
    size_t norigins;
    bool print_config;  /* --print-config / --show-config was given */
    char *last_ini;     /* the last ini file read: "--ini :SECTION" reads it again */
    bool have_envp;     /* inside hd_config_parse: envp below is the environment */
    char **envp;        /* (NULL: an empty one); else environ */
};

/* cfg->priv, allocated on first use; NULL when out of memory. */
struct hd_config_priv_s *hd_config_priv(hd_config_t *cfg);

/* What ini.c and env.c need to know about an option. */
typedef struct hd_config_optinfo_s {
    int index;        /* its row in the table: aliases share it */
    const char *name; /* its primary name ("processes" for "workers") */
    bool takes_value; /* false for flags and actions */
    bool repeatable;  /* each use appends (lists, sockets, ini) */
    bool is_ini;      /* "ini": ini.c reads the file itself, to count nesting */
    bool is_action;   /* help, version, options-markdown: print and stop */
} hd_config_optinfo_t;

/* Looks up a long name or alias (no "--"). With underscores, '_' matches '-'
   too ("max_requests"), as ini keys may be written. 0 and *info, or -1. */
int hd_config_find(const char *name, bool underscores, hd_config_optinfo_t *info);

/* hd_config_apply for the option at row index, named what (as the user wrote
   it) in messages. Same returns as hd_config_apply. */
int hd_config_apply_opt(hd_config_t *cfg, int index, const char *what, const char *value,
                        const char *source);

/* Writes "herd: [SOURCE: ][WHAT: ]message\n" to stderr; returns -1. */
int hd_config_fail(const char *source, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The environment options and $(VAR) are read from: hd_config_parse's envp
   while it runs, else environ. Never NULL. */
char **hd_config_environ(const hd_config_t *cfg);

/* The value of variable name in env, or NULL. */
const char *hd_config_getenv(char **env, const char *name);

/* ini.c: applies the options of spec, "FILE[:SECTION]" (an empty FILE: the
   last file read), as the "ini" option does; what and source name the
   option that asked, for messages about the file as a whole. Returns as
   hd_config_apply. */
int hd_ini_read(hd_config_t *cfg, const char *spec, const char *what, const char *source);

/* env.c: applies the UWSGI_* and HERD_* variables of env. Returns as
   hd_config_apply. */
int hd_env_apply(hd_config_t *cfg, char **env);

#endif
