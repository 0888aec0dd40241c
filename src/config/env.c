/*
 * config/env: options from environment variables, as uWSGI takes them:
 * UWSGI_<NAME>=VALUE sets option NAME (upper case, '-' written '_':
 * UWSGI_HTTP_SOCKET=:8000), and HERD_<NAME> does the same. hd_config_parse
 * applies them before the command line, so the command line overrides them.
 *
 * The rules (docs/configuration.md has them for users):
 * - a variable naming no option is ignored, without a word: environments
 *   carry UWSGI_* for other purposes (uWSGI's own UWSGI_RELOADS, Docker
 *   images' UWSGI_VERSION=2.0.21) and herd's own HERD_BIN, HERD_REEXEC_FDS;
 *   so are the actions help, version and options-markdown, which would
 *   otherwise print and exit because of a stray UWSGI_VERSION;
 * - one variable is one value, never split: one entry of a repeatable
 *   option (uWSGI: "several values ... are not supported with this method");
 * - when HERD_ variables set an option, its UWSGI_ variables are ignored
 *   (for a repeatable option too: HERD_ replaces, it does not append);
 * - two variables of one prefix for one non-repeatable option (UWSGI_WORKERS
 *   and UWSGI_PROCESSES) are an error: the environment has no order to
 *   pick the last by;
 * - ini first (UWSGI_INI=/app/uwsgi.ini), then the other options in table
 *   order, so the other variables override the file they come with;
 * - an empty value turns a flag on (UWSGI_MASTER=), as in uWSGI; options
 *   taking a value refuse it.
 * Errors name the variable: "herd: environment UWSGI_PROCESSES: processes:
 * 'x' is not a number".
 */
#include "config/config_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ENV_NAME_MAX 128

typedef struct {
    const char *var;         /* "UWSGI_PROCESSES=4", as in the environment */
    int varlen;              /* of "UWSGI_PROCESSES" */
    const char *value;       /* "4" */
    char name[ENV_NAME_MAX]; /* "processes" */
    hd_config_optinfo_t info;
    bool herd;               /* HERD_, not UWSGI_ */
} env_opt_t;

/* Is var "UWSGI_NAME=..." or "HERD_NAME=..." with NAME an option's? Fills *e. */
static bool env_match(const char *var, env_opt_t *e)
{
    const char *eq = strchr(var, '=');
    size_t prefix;
    if (!eq)
        return false;
    if (strncmp(var, "UWSGI_", 6) == 0)
        prefix = 6;
    else if (strncmp(var, "HERD_", 5) == 0)
        prefix = 5;
    else
        return false;
    size_t n = (size_t)(eq - var) - prefix;
    if (n == 0 || n >= ENV_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = var[prefix + i];
        if (c >= 'A' && c <= 'Z')
            e->name[i] = (char)(c - 'A' + 'a');
        else if (c >= '0' && c <= '9')
            e->name[i] = c;
        else if (c == '_')
            e->name[i] = '-';
        else
            return false; /* lower case or punctuation: not ours */
    }
    e->name[n] = '\0';
    if (hd_config_find(e->name, false, &e->info) < 0 || e->info.is_action)
        return false;
    e->var = var;
    e->varlen = (int)(eq - var);
    e->value = eq + 1;
    e->herd = prefix == 5;
    return true;
}

/* The order of application: ini first, then the table's. */
static int env_rank(const env_opt_t *e)
{
    return e->info.is_ini ? -1 : e->info.index;
}

int hd_env_apply(hd_config_t *cfg, char **env)
{
    env_opt_t *opts = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;

    /* The matching variables, sorted by rank; environment order within. */
    for (char **v = env; *v; v++) {
        env_opt_t e;
        if (!env_match(*v, &e))
            continue;
        if (n == cap) {
            size_t want = cap ? cap * 2 : 8;
            env_opt_t *grown = realloc(opts, want * sizeof(*grown));
            if (!grown) {
                free(opts);
                return hd_config_fail(NULL, NULL, "environment: out of memory");
            }
            opts = grown;
            cap = want;
        }
        size_t at = n;
        while (at > 0 && env_rank(&opts[at - 1]) > env_rank(&e))
            at--;
        memmove(&opts[at + 1], &opts[at], (n - at) * sizeof(*opts));
        opts[at] = e;
        n++;
    }

    for (size_t i = 0; i < n && rc == 0;) {
        /* opts[i..end) set one option; HERD_ ones, if any, win. */
        size_t end = i;
        bool herd = false;
        while (end < n && opts[end].info.index == opts[i].info.index)
            herd |= opts[end++].herd;

        const env_opt_t *first = NULL;
        for (size_t k = i; k < end && rc == 0; k++) {
            const env_opt_t *e = &opts[k];
            if (e->herd != herd)
                continue;
            if (first && !e->info.repeatable) {
                rc = hd_config_fail(NULL, NULL, "environment: %.*s and %.*s both set %s; unset one",
                                    first->varlen, first->var, e->varlen, e->var, e->info.name);
                break;
            }
            if (!first)
                first = e;
            char source[ENV_NAME_MAX + 32];
            snprintf(source, sizeof(source), "environment %.*s", e->varlen, e->var);
            const char *value = e->value[0] || e->info.takes_value ? e->value : NULL;
            rc = hd_config_apply_opt(cfg, e->info.index, e->name, value, source);
        }
        i = end;
    }
    free(opts);
    return rc;
}

const char *hd_config_getenv(char **env, const char *name)
{
    size_t n = strlen(name);
    for (; *env; env++)
        if (strncmp(*env, name, n) == 0 && (*env)[n] == '=')
            return *env + n + 1;
    return NULL;
}
