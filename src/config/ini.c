/*
 * config/ini: uWSGI ini files, read by --ini FILE[:SECTION], a bare
 * "FILE.ini" argument, "ini = FILE" inside a file and UWSGI_INI / HERD_INI.
 *
 * A file is read whole (at most INI_MAX_BYTES) and cut into lines in its
 * buffer. The lines of the section asked for, or of [uwsgi] then [herd] when
 * none is, become entries; each entry's value is then expanded (%d, %(key),
 * $(VAR), ...) and applied through hd_config_apply_opt in order, with
 * "FILE:LINE" as the source in messages. Keys are option names or aliases,
 * '_' allowed for '-'. A key that is not an option is a placeholder if some
 * %(key) uses it, else an error once the file is done.
 *
 * Where uWSGI's behaviour is loose or surprising, herd decides (the user's
 * version of these rules is docs/configuration.md):
 * - a missing section, an unknown key, an unknown placeholder, an unset
 *   $(VAR) and a '[' line without ']' are errors, not warnings or "";
 * - %(name) is the last value of key name in this file's sections read
 *   (uWSGI: the first value set anywhere so far), then in the files that
 *   included this one, then HERD_NAME / UWSGI_NAME in the environment;
 * - "%%" is '%' and "%$" is '$', so that --print-config can write any value;
 * - relative paths in "ini = FILE" are relative to the working directory, as
 *   in uWSGI (write %dother.ini for "next to this file"); "ini = :SECTION"
 *   reads another section of this file.
 */
#include "config/config_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define INI_MAX_BYTES (1 << 20) /* a bigger config file is a mistake */
#define INI_MAX_DEPTH 8         /* files including files: deeper is a loop */
#define INI_MAX_NEST 16         /* placeholders using placeholders: deeper is a loop */
#define INI_VAR_MAX 128         /* HERD_<NAME> for %(name) */

typedef struct {
    int line;
    int group;    /* 0: [uwsgi] or the section asked for; 1: [herd] */
    char *key;    /* in the file's buffer, trimmed */
    char *value;  /* likewise; NULL when the line has no '=' */
    bool setph;   /* from "set-ph = key=value": a placeholder only */
    bool unknown; /* not an option: an error unless a %(key) used it */
    bool used;    /* a %(key) used it */
} ini_entry_t;

typedef struct ini_file_s {
    struct ini_file_s *parent; /* the file whose "ini = ..." read this one */
    hd_config_t *cfg;
    int depth;         /* 0 for a file given on the command line or in a variable */
    char *path;        /* as given: messages and %o */
    char *buf;         /* the file, NUL-terminated; entries point into it */
    ini_entry_t *entries;
    size_t nentries;
    /* Magic variables: %p %d %s %n %e %c */
    char *abs;         /* absolute path */
    char *dir;         /* its directory, with the trailing '/' */
    const char *base;  /* the file name, in abs */
    char *stem;        /* the file name without its extension */
    const char *ext;   /* the extension without the '.', or "" */
    char *dirname;     /* the name of the directory */
} ini_file_t;

/* "herd: FILE:LINE: [WHAT: ]message"; returns -1. */
static int ini_fail(const ini_file_t *f, int line, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int ini_fail(const ini_file_t *f, int line, const char *what, const char *fmt, ...)
{
    char where[PATH_MAX + 16], text[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    snprintf(where, sizeof(where), "%s:%d", f->path, line);
    return hd_config_fail(where, what, "%s", text);
}

/* ---- reading and cutting --------------------------------------------------- */

/* Reads path whole into a new NUL-terminated *out. 0, or -1 with a message
   naming what asked for the file. */
static int ini_slurp(const char *path, const char *what, const char *source, char **out,
                     size_t *outlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0)
        return hd_config_fail(source, what, "cannot read '%s': %s", path, strerror(errno));
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        close(fd);
        return hd_config_fail(source, what, "cannot read '%s': %s", path, strerror(EISDIR));
    }

    size_t len = 0, cap = 4096;
    char *buf = malloc(cap);
    while (buf) {
        if (len > INI_MAX_BYTES) {
            free(buf);
            close(fd);
            return hd_config_fail(source, what, "'%s' is larger than %d bytes: not a config file?",
                                  path, INI_MAX_BYTES);
        }
        if (len + 1 == cap) {
            char *grown = realloc(buf, cap * 2);
            if (!grown)
                break;
            buf = grown;
            cap *= 2;
        }
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int err = errno;
            free(buf);
            close(fd);
            return hd_config_fail(source, what, "cannot read '%s': %s", path, strerror(err));
        }
        if (n == 0) {
            close(fd);
            buf[len] = '\0';
            *out = buf;
            *outlen = len;
            return 0;
        }
        len += (size_t)n;
    }
    free(buf);
    close(fd);
    return hd_config_fail(source, what, "out of memory");
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

/* s[0..strlen) without blanks at either end (cut in place). */
static char *trim(char *s)
{
    while (is_blank(*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && is_blank(s[n - 1]))
        s[--n] = '\0';
    return s;
}

static int entry_add(ini_file_t *f, int line, int group, char *key, char *value, bool setph)
{
    ini_entry_t *grown = realloc(f->entries, (f->nentries + 1) * sizeof(*grown));
    if (!grown)
        return hd_config_fail(NULL, NULL, "out of memory");
    grown[f->nentries++] = (ini_entry_t){
        .line = line, .group = group, .key = key, .value = value, .setph = setph};
    f->entries = grown;
    return 0;
}

/*
 * Cuts f->buf (len bytes) into lines and keeps the entries of section (NULL:
 * [uwsgi] then [herd]), [uwsgi]'s first. Lines outside them are skipped,
 * except that a broken section header is an error anywhere.
 */
static int ini_split(ini_file_t *f, size_t len, const char *section, const char *what,
                     const char *source)
{
    char *p = f->buf, *end = f->buf + len;
    int line = 0, group = -1;
    bool found = false;

    if (len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) /* a UTF-8 byte order mark */
        p += 3;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *eol = nl ? nl : end;
        line++;
        if (memchr(p, '\0', (size_t)(eol - p)))
            return ini_fail(f, line, NULL, "a NUL byte: is this a text file?");
        *eol = '\0';
        char *s = trim(p);
        p = nl ? nl + 1 : end;

        if (*s == '\0' || *s == ';' || *s == '#')
            continue;
        if (*s == '[') {
            size_t n = strlen(s);
            if (s[n - 1] != ']')
                return ini_fail(f, line, NULL, "'%s': a section header needs a closing ']'", s);
            s[n - 1] = '\0';
            s++;
            if (section)
                group = strcmp(s, section) == 0 ? 0 : -1;
            else
                group = strcmp(s, "uwsgi") == 0 ? 0 : strcmp(s, "herd") == 0 ? 1 : -1;
            found |= group >= 0;
            continue;
        }
        if (group < 0)
            continue;

        char *key = s, *value = NULL, *eq = strchr(s, '=');
        bool setph = false;
        if (eq) {
            *eq = '\0';
            key = trim(s);
            value = trim(eq + 1);
        }
        if (*key == '\0')
            return ini_fail(f, line, NULL, "a value without a name before its '='");
        if (strcmp(key, "set-placeholder") == 0 || strcmp(key, "set-ph") == 0) {
            /* "set-ph = name=value" defines placeholder name. */
            char *eq2 = value ? strchr(value, '=') : NULL;
            if (!eq2 || eq2 == value)
                return ini_fail(f, line, key, "'%s' is not NAME=VALUE", value ? value : "");
            *eq2 = '\0';
            key = trim(value);
            value = trim(eq2 + 1);
            setph = true;
        }
        if (entry_add(f, line, group, key, value, setph) < 0)
            return -1;
    }

    if (!found) {
        if (section)
            return hd_config_fail(source, what, "'%s' has no [%s] section", f->path, section);
        return hd_config_fail(source, what, "'%s' has no [uwsgi] or [herd] section", f->path);
    }

    /* [uwsgi] first, then [herd]: a stable partition. */
    size_t first = 0;
    for (size_t i = 0; i < f->nentries; i++)
        if (f->entries[i].group == 0) {
            ini_entry_t e = f->entries[i];
            memmove(&f->entries[first + 1], &f->entries[first], (i - first) * sizeof(e));
            f->entries[first++] = e;
        }
    return 0;
}

/* Fills the magic variables from f->path. 0, or -1 with a message. */
static int ini_magic(ini_file_t *f, const char *what, const char *source)
{
    const char *p = f->path;
    if (p[0] == '/') {
        f->abs = strdup(p);
    } else {
        char cwd[PATH_MAX];
        if (!getcwd(cwd, sizeof(cwd)))
            return hd_config_fail(source, what, "'%s': getcwd() failed: %s", p, strerror(errno));
        while (p[0] == '.' && p[1] == '/') /* "./app.ini" */
            for (p += 2; *p == '/'; p++)
                ;
        size_t n = strlen(cwd) + strlen(p) + 2;
        f->abs = malloc(n);
        if (f->abs)
            snprintf(f->abs, n, "%s%s%s", cwd, strcmp(cwd, "/") == 0 ? "" : "/", p);
    }
    if (!f->abs)
        return hd_config_fail(source, what, "out of memory");

    const char *slash = strrchr(f->abs, '/');
    f->base = slash + 1;
    f->dir = strndup(f->abs, (size_t)(f->base - f->abs));
    const char *dot = strrchr(f->base, '.');
    bool has_ext = dot && dot != f->base;
    f->ext = has_ext ? dot + 1 : "";
    f->stem = has_ext ? strndup(f->base, (size_t)(dot - f->base)) : strdup(f->base);
    /* The last component of dir: "/srv/app/" gives "app", "/" gives "". */
    const char *d_end = slash, *d = slash;
    while (d > f->abs && d[-1] != '/')
        d--;
    f->dirname = strndup(d, (size_t)(d_end - d));
    if (!f->dir || !f->stem || !f->dirname)
        return hd_config_fail(source, what, "out of memory");
    return 0;
}

/* ---- placeholders ---------------------------------------------------------- */

typedef struct {
    char *s;
    size_t len, cap;
    bool oom;
} sbuf_t;

static void sb_add(sbuf_t *b, const char *p, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *grown = realloc(b->s, cap);
        if (!grown) {
            b->oom = true;
            return;
        }
        b->s = grown;
        b->cap = cap;
    }
    memcpy(b->s + b->len, p, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void sb_puts(sbuf_t *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

static int ini_expand(ini_file_t *f, ini_entry_t *e, int nest, char **out);

/* The last entry of f with key name[0..len), or NULL. */
static ini_entry_t *ini_find(ini_file_t *f, const char *name, size_t len)
{
    for (size_t i = f->nentries; i-- > 0;)
        if (strlen(f->entries[i].key) == len && memcmp(f->entries[i].key, name, len) == 0)
            return &f->entries[i];
    return NULL;
}

/* Appends the value of %(name) to b, as found from f, for entry e (messages). */
static int ini_placeholder(ini_file_t *f, ini_entry_t *e, const char *name, size_t len, int nest,
                           sbuf_t *b)
{
    if (memchr(name, ' ', len))
        return ini_fail(f, e->line, e->key, "%%(%.*s): placeholder arithmetic is not supported",
                        (int)len, name);
    if (nest >= INI_MAX_NEST)
        return ini_fail(f, e->line, e->key,
                        "%%(%.*s): placeholders nest more than %d deep (one uses itself?)",
                        (int)len, name, INI_MAX_NEST);

    for (ini_file_t *g = f; g; g = g->parent) {
        ini_entry_t *def = ini_find(g, name, len);
        if (!def)
            continue;
        for (size_t i = 0; i < g->nentries; i++) /* earlier values of the name too */
            if (strcmp(g->entries[i].key, def->key) == 0)
                g->entries[i].used = true;
        if (!def->value) /* "master" alone: uWSGI's value is "" too */
            return 0;
        char *sub;
        if (ini_expand(g, def, nest + 1, &sub) < 0)
            return -1;
        sb_puts(b, sub);
        free(sub);
        return 0;
    }

    /* HERD_NAME, then UWSGI_NAME, as the option variables are named. */
    char var[INI_VAR_MAX];
    bool valid = len + 6 < sizeof(var);
    for (size_t i = 0; valid && i < len; i++) {
        char c = name[i];
        valid = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '_' || c == '-';
    }
    for (int k = 0; valid && k < 2; k++) {
        size_t n = (size_t)snprintf(var, sizeof(var), "%s", k == 0 ? "HERD_" : "UWSGI_");
        for (size_t i = 0; i < len; i++) {
            char c = name[i];
            var[n++] = c == '-' ? '_' : (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
        }
        var[n] = '\0';
        const char *v = hd_config_getenv(hd_config_environ(f->cfg), var);
        if (v) {
            sb_puts(b, v);
            return 0;
        }
    }
    return ini_fail(f, e->line, e->key,
                    "unknown placeholder %%(%.*s): no key '%.*s' in the file, nor variable "
                    "HERD_... or UWSGI_... of that name",
                    (int)len, name, (int)len, name);
}

/*
 * Expands entry e of file f into a new string *out:
 *   %d %p %s %n %e %c %o  the file's magic variables (uWSGI's meanings)
 *   %(name)              a placeholder (ini_placeholder)
 *   $(VAR)               environment variable VAR
 *   %% and %$            '%' and '$'
 * nest counts placeholders being expanded around this one. 0, or -1 with a
 * message naming e's line.
 */
static int ini_expand(ini_file_t *f, ini_entry_t *e, int nest, char **out)
{
    sbuf_t b = {0};
    const char *v = e->value;

    while (*v) {
        if (*v == '$' && v[1] == '(') {
            const char *close = strchr(v + 2, ')');
            if (!close) {
                ini_fail(f, e->line, e->key, "'$(' without a closing ')' (write %%$ for a '$')");
                goto fail;
            }
            char *name = strndup(v + 2, (size_t)(close - v - 2));
            const char *val = name ? hd_config_getenv(hd_config_environ(f->cfg), name) : NULL;
            if (!name)
                b.oom = true;
            else if (!val) {
                ini_fail(f, e->line, e->key, "$(%s): environment variable %s is not set", name,
                         name);
                free(name);
                goto fail;
            } else
                sb_puts(&b, val);
            free(name);
            v = close + 1;
            continue;
        }
        if (*v != '%') {
            size_t n = strcspn(v, "%$");
            sb_add(&b, v, n ? n : 1); /* a '$' not starting "$(" is itself */
            v += n ? n : 1;
            continue;
        }

        const char *magic = NULL;
        switch (v[1]) {
        case '%': magic = "%"; break;
        case '$': magic = "$"; break;
        case 'd': magic = f->dir; break;
        case 'p': magic = f->abs; break;
        case 's': magic = f->base; break;
        case 'n': magic = f->stem; break;
        case 'e': magic = f->ext; break;
        case 'c': magic = f->dirname; break;
        case 'o': magic = f->path; break;
        case '(': {
            const char *close = strchr(v + 2, ')');
            if (!close) {
                ini_fail(f, e->line, e->key, "'%%(' without a closing ')' (write %%%% for a '%%')");
                goto fail;
            }
            if (close == v + 2) {
                ini_fail(f, e->line, e->key, "an empty placeholder %%()");
                goto fail;
            }
            if (ini_placeholder(f, e, v + 2, (size_t)(close - v - 2), nest, &b) < 0)
                goto fail;
            v = close + 1;
            continue;
        }
        case '\0':
            ini_fail(f, e->line, e->key, "a '%%' ends the value (write %%%% for a '%%')");
            goto fail;
        default:
            ini_fail(f, e->line, e->key, "unknown placeholder %%%c (write %%%% for a '%%')", v[1]);
            goto fail;
        }
        sb_puts(&b, magic);
        v += 2;
    }

    if (!b.s && !b.oom)
        sb_add(&b, "", 0);
    if (b.oom) {
        ini_fail(f, e->line, e->key, "out of memory");
        goto fail;
    }
    *out = b.s;
    return 0;
fail:
    free(b.s);
    return -1;
}

/* ---- applying ---------------------------------------------------------------- */

static int ini_load(hd_config_t *cfg, const char *spec, const char *what, const char *source,
                    ini_file_t *parent);

/* Applies f's entries in order, then reports a key that is neither an
   option nor a placeholder some %(key) used. Returns as hd_config_apply. */
static int ini_apply(ini_file_t *f)
{
    char where[PATH_MAX + 16];
    for (size_t i = 0; i < f->nentries; i++) {
        ini_entry_t *e = &f->entries[i];
        hd_config_optinfo_t info;
        if (e->setph)
            continue;
        if (hd_config_find(e->key, true, &info) < 0) {
            e->unknown = true;
            continue;
        }

        char *value = NULL;
        int rc;
        if (e->value && ini_expand(f, e, 0, &value) < 0)
            return -1;
        if (value && !*value && !info.takes_value) { /* "master =": on, as in uWSGI */
            free(value);
            value = NULL;
        }
        snprintf(where, sizeof(where), "%s:%d", f->path, e->line);
        if (!info.is_ini)
            rc = hd_config_apply_opt(f->cfg, info.index, e->key, value, where);
        else if (!value || !*value)
            rc = ini_fail(f, e->line, e->key, "%s value (%s FILE[:SECTION])",
                          value ? "empty" : "missing", e->key);
        else
            rc = ini_load(f->cfg, value, e->key, where, f);
        free(value);
        if (rc != 0)
            return rc;
    }
    for (size_t i = 0; i < f->nentries; i++)
        if (f->entries[i].unknown && !f->entries[i].used)
            return ini_fail(f, f->entries[i].line, NULL,
                            "unknown option '%s' (see herd --help), and no %%(%s) uses it",
                            f->entries[i].key, f->entries[i].key);
    return 0;
}

/* Reads spec "FILE[:SECTION]" and applies it; parent is the including file
   (NULL at the top). what and source name who asked, for messages about
   the file as a whole. */
static int ini_load(hd_config_t *cfg, const char *spec, const char *what, const char *source,
                    ini_file_t *parent)
{
    ini_file_t f = {.parent = parent, .cfg = cfg, .depth = parent ? parent->depth + 1 : 0};
    const char *section = NULL;
    size_t len = strlen(spec), buflen = 0;
    int rc = -1;

    if (f.depth >= INI_MAX_DEPTH)
        return hd_config_fail(source, what, "'%s': ini files include each other more than %d deep "
                              "(a loop?)", spec, INI_MAX_DEPTH);

    /* "FILE:SECTION", unless what follows the ':' is a path. */
    const char *colon = strrchr(spec, ':');
    if (colon && !strchr(colon, '/')) {
        len = (size_t)(colon - spec);
        section = colon[1] ? colon + 1 : NULL;
    }
    if (len > 0) {
        f.path = strndup(spec, len);
    } else {
        const char *last = parent ? parent->path : cfg->priv ? cfg->priv->last_ini : NULL;
        if (!last)
            return hd_config_fail(source, what, "'%s': no ini file was read before to take a "
                                  "section from", spec);
        f.path = strdup(last);
    }
    if (!f.path)
        return hd_config_fail(source, what, "out of memory");

    if (ini_slurp(f.path, what, source, &f.buf, &buflen) < 0)
        goto out;
    if (!parent) {
        struct hd_config_priv_s *priv = hd_config_priv(cfg);
        char *copy = strdup(f.path);
        if (!priv || !copy) {
            free(copy);
            hd_config_fail(source, what, "out of memory");
            goto out;
        }
        free(priv->last_ini);
        priv->last_ini = copy;
    }
    if (ini_magic(&f, what, source) < 0 || ini_split(&f, buflen, section, what, source) < 0)
        goto out;
    rc = ini_apply(&f);
out:
    free(f.entries);
    free(f.buf);
    free(f.path);
    free(f.abs);
    free(f.dir);
    free(f.stem);
    free(f.dirname);
    return rc;
}

int hd_ini_read(hd_config_t *cfg, const char *spec, const char *what, const char *source)
{
    return ini_load(cfg, spec, what, source, NULL);
}
