/*
 * Unit tests for src/config: every option and alias, every value syntax,
 * every error message (each must name the option), defaults, repeatable
 * options, refused options, validation, hd_config_free, ini files (ini.c),
 * UWSGI_* / HERD_* variables (env.c), --print-config, and that
 * docs/options.md matches the table. Ini files are written to a fresh
 * directory under /tmp, removed at the end.
 *
 * A plain runner: prints failures as they happen and "N passed, N failed"
 * last; exits 1 on any failure. Meant to be clean under ASan/LSan.
 *
 *   test_config                      run the tests
 *   test_config --options-markdown   print docs/options.md (to regenerate it)
 */
#include "config/config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef HD_DOCS_OPTIONS_MD
#define HD_DOCS_OPTIONS_MD "docs/options.md"
#endif

/* The stub the py module provides for real. */
const char *hd_py_version_string(void)
{
    return "3.99.0 (test build)";
}

static int passed, failed;
static const char *runner = "test_config"; /* argv[0], for messages */

#define CHECK(cond) check((cond), __LINE__, "%s", #cond)
#define CHECKF(cond, ...) check((cond), __LINE__, __VA_ARGS__)

static bool check(bool ok, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static bool check(bool ok, int line, const char *fmt, ...)
{
    if (ok) {
        passed++;
        return true;
    }
    failed++;
    va_list ap;
    va_start(ap, fmt);
    printf("FAIL test_config.c:%d: ", line);
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    fflush(stdout);
    return false;
}

/* ---- capturing stdout and stderr ------------------------------------------ */

static char out_buf[1 << 16], err_buf[1 << 12];

/* Reads all of f (rewound) into buf as a C string. */
static void slurp(FILE *f, char *buf, size_t size)
{
    size_t n = 0;
    ssize_t r;
    lseek(fileno(f), 0, SEEK_SET);
    while (n + 1 < size && (r = read(fileno(f), buf + n, size - 1 - n)) > 0)
        n += (size_t)r;
    buf[n] = '\0';
}

typedef struct {
    FILE *out, *err;
    int saved_out, saved_err;
} capture_t;

static void capture_begin(capture_t *c)
{
    fflush(stdout);
    fflush(stderr);
    c->out = tmpfile();
    c->err = tmpfile();
    if (!c->out || !c->err) {
        perror("tmpfile");
        exit(2);
    }
    c->saved_out = dup(1);
    c->saved_err = dup(2);
    dup2(fileno(c->out), 1);
    dup2(fileno(c->err), 2);
}

static void capture_end(capture_t *c)
{
    dup2(c->saved_out, 1);
    dup2(c->saved_err, 2);
    close(c->saved_out);
    close(c->saved_err);
    slurp(c->out, out_buf, sizeof(out_buf));
    slurp(c->err, err_buf, sizeof(err_buf));
    fclose(c->out);
    fclose(c->err);
}

/* The environment hd_config_parse sees: empty unless a test sets one, so
   that the tests do not depend on the runner's UWSGI_* / HERD_* variables. */
static char *empty_env[] = {NULL};
static char **test_env = empty_env;

/* hd_config_init + hd_config_parse on "herd" plus args (NULL-ended) and
   test_env, with stdout and stderr captured into out_buf and err_buf. */
static int parse_args(hd_config_t *cfg, const char *const *args)
{
    char *argv[64];
    int argc = 0;
    argv[argc++] = "herd";
    for (; *args && argc < 63; args++)
        argv[argc++] = (char *)*args;
    argv[argc] = NULL;

    capture_t c;
    hd_config_init(cfg);
    capture_begin(&c);
    int rc = hd_config_parse(cfg, argc, argv, test_env);
    capture_end(&c);
    return rc;
}

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})
#define BASE "--http-socket", ":8000", "--wsgi-file", "app.py"

/* Parses, expecting success and silence; the caller frees cfg. */
#define OK(cfg, ...) expect_ok(__LINE__, (cfg), ARGS(__VA_ARGS__))

static bool expect_ok(int line, hd_config_t *cfg, const char *const *args)
{
    int rc = parse_args(cfg, args);
    bool ok = check(rc == 0, line, "parse returned %d, want 0; stderr: %s", rc, err_buf);
    ok &= check(err_buf[0] == '\0' && out_buf[0] == '\0', line,
                "unexpected output: stdout '%s' stderr '%s'", out_buf, err_buf);
    return ok;
}

/* Parses, expecting -1 and exactly msg + "\n" on stderr, nothing on stdout. */
#define ERR(msg, ...) expect_err(__LINE__, (msg), ARGS(__VA_ARGS__))

static void expect_err(int line, const char *msg, const char *const *args)
{
    hd_config_t cfg;
    int rc = parse_args(&cfg, args);
    char want[1024];
    snprintf(want, sizeof(want), "%s\n", msg);
    check(rc == -1, line, "parse returned %d, want -1 (%s)", rc, msg);
    check(strcmp(err_buf, want) == 0, line, "stderr\n  got:  %s  want: %s", err_buf, want);
    check(out_buf[0] == '\0', line, "unexpected stdout: %s", out_buf);
    hd_config_free(&cfg);
}

/* ---- defaults --------------------------------------------------------------- */

static void test_defaults(void)
{
    hd_config_t c;
    hd_config_init(&c);
    CHECK(c.sockets == NULL && c.nsockets == 0);
    CHECK(c.wsgi_file == NULL && c.module == NULL && c.callable == NULL);
    CHECK(c.processes == 1);
    CHECK(c.threads == 1);
    CHECK(!c.lazy_apps && !c.master && !c.enable_threads && !c.die_on_term);
    CHECK(!c.disable_logging && !c.gc_freeze);
    CHECK(c.chdir == NULL && c.home == NULL);
    CHECK(c.pythonpath == NULL && c.npythonpath == 0);
    CHECK(c.env == NULL && c.nenv == 0);
    CHECK(c.listen_backlog == 1024);
    CHECK(c.buffer_size == 8192);
    CHECK(c.limit_post == 0);
    CHECK(c.socket_timeout == 30);
    CHECK(c.http_keepalive == 5);
    CHECK(c.worker_reload_mercy == 60);
    CHECK(c.spawn_timeout == 60);
    hd_config_free(&c);

    /* A minimal command line changes nothing else. */
    if (OK(&c, BASE)) {
        CHECK(c.nsockets == 1 && c.processes == 1 && c.buffer_size == 8192);
        CHECK(c.callable == NULL && c.module == NULL);
        CHECK(strcmp(c.wsgi_file, "app.py") == 0);
    }
    hd_config_free(&c);
}

/* ---- numbers ------------------------------------------------------------------ */

typedef struct {
    const char *spellings[6]; /* "--processes", "--workers", "-p" */
    size_t off;
    char kind; /* 'i' int, 's' size_t, 'l' int64_t */
    long long min, max;
    const char *max_text; /* for out-of-range messages */
} num_case_t;

#define F(f) offsetof(hd_config_t, f)

static const num_case_t num_cases[] = {
    {{"--processes", "--workers", "-p"}, F(processes), 'i', 1, 1024, "1024"},
    {{"--threads"}, F(threads), 'i', 1, 1024, "1024"},
    {{"--listen", "-l"}, F(listen_backlog), 'i', 1, 65535, "65535"},
    {{"--buffer-size", "-b"}, F(buffer_size), 's', 1024, 1048576, "1048576"},
    {{"--limit-post"}, F(limit_post), 'l', 0, -1, NULL},
    {{"--socket-timeout", "-z"}, F(socket_timeout), 'i', 1, 86400, "86400"},
    {{"--http-keepalive"}, F(http_keepalive), 'i', 0, 3600, "3600"},
    {{"--worker-reload-mercy", "--reload-mercy"}, F(worker_reload_mercy), 'i', 1, 86400, "86400"},
    {{"--spawn-timeout"}, F(spawn_timeout), 'i', 1, 86400, "86400"},
};

static long long num_get(const hd_config_t *c, const num_case_t *nc)
{
    const char *p = (const char *)c + nc->off;
    if (nc->kind == 'i')
        return *(const int *)p;
    if (nc->kind == 's')
        return (long long)*(const size_t *)p;
    return *(const int64_t *)p;
}

/* Parses BASE + spelling + value in every form for that spelling. */
static void num_expect(const num_case_t *nc, const char *sp, const char *value, long long want)
{
    hd_config_t c;
    char joined[128];
    bool is_long = sp[1] == '-';

    if (OK(&c, BASE, sp, value))
        CHECKF(num_get(&c, nc) == want, "%s %s: got %lld want %lld", sp, value, num_get(&c, nc),
               want);
    hd_config_free(&c);

    snprintf(joined, sizeof(joined), is_long ? "%s=%s" : "%s%s", sp, value);
    if (OK(&c, BASE, joined))
        CHECKF(num_get(&c, nc) == want, "%s: got %lld want %lld", joined, num_get(&c, nc), want);
    hd_config_free(&c);
}

static void test_numbers(void)
{
    char msg[256], v[32];
    for (size_t i = 0; i < sizeof(num_cases) / sizeof(num_cases[0]); i++) {
        const num_case_t *nc = &num_cases[i];
        for (int s = 0; nc->spellings[s]; s++) {
            const char *sp = nc->spellings[s];
            num_expect(nc, sp, nc->kind == 'i' ? "7" : "2048", nc->kind == 'i' ? 7 : 2048);
            snprintf(v, sizeof(v), "%lld", nc->min);
            num_expect(nc, sp, v, nc->min);
            if (nc->max > 0) {
                snprintf(v, sizeof(v), "%lld", nc->max);
                num_expect(nc, sp, v, nc->max);
                snprintf(v, sizeof(v), "%lld", nc->max + 1);
                snprintf(msg, sizeof(msg), "herd: %s: '%s' is out of range (%lld..%s)", sp, v,
                         nc->min, nc->max_text);
                ERR(msg, sp, v);
            }
            snprintf(v, sizeof(v), "%lld", nc->min - 1);
            if (nc->max > 0)
                snprintf(msg, sizeof(msg), "herd: %s: '%s' is out of range (%lld..%s)", sp, v,
                         nc->min, nc->max_text);
            else
                snprintf(msg, sizeof(msg), "herd: %s: '%s' is out of range (%lld or more)", sp,
                         v, nc->min);
            ERR(msg, sp, v);

            snprintf(msg, sizeof(msg), "herd: %s: 'abc' is not %s", sp,
                     nc->kind == 'i' ? "a number" : "a size (N, Nk, Nm or Ng)");
            ERR(msg, sp, "abc");
            snprintf(msg, sizeof(msg), "herd: %s: missing value (%s N)", sp, sp);
            ERR(msg, sp);
        }
    }

    /* Plain decimal only for numbers. */
    ERR("herd: --processes: '+4' is not a number", "--processes", "+4");
    ERR("herd: --processes: ' 4' is not a number", "--processes", " 4");
    ERR("herd: --processes: '4 ' is not a number", "--processes", "4 ");
    ERR("herd: --processes: '0x10' is not a number", "--processes", "0x10");
    ERR("herd: --processes: '4.0' is not a number", "--processes", "4.0");
    ERR("herd: --processes: '4k' is not a number", "--processes", "4k");
    ERR("herd: --processes: '-' is not a number", "--processes", "-");
    ERR("herd: --processes: 'abc' is not a number", "--processes=abc");
    ERR("herd: -p: 'abc' is not a number", "-pabc");
    ERR("herd: --workers: '0' is out of range (1..1024)", "--workers", "0");
    ERR("herd: --processes: '99999999999999999999999' is out of range (1..1024)", "--processes",
        "99999999999999999999999");
    ERR("herd: --processes: '-99999999999999999999999' is out of range (1..1024)", "--processes",
        "-99999999999999999999999");
    ERR("herd: --processes: empty value (--processes N)", "--processes=");
    ERR("herd: -p: empty value (-p N)", "-p", "");

    hd_config_t c;
    if (OK(&c, BASE, "--processes", "08"))
        CHECK(c.processes == 8);
    hd_config_free(&c);
    if (OK(&c, BASE, "--http-keepalive", "0"))
        CHECK(c.http_keepalive == 0);
    hd_config_free(&c);

    /* Sizes: k/m/g suffixes, any case, times 1024. */
    if (OK(&c, BASE, "--buffer-size", "64k"))
        CHECK(c.buffer_size == 65536);
    hd_config_free(&c);
    if (OK(&c, BASE, "-b", "64K"))
        CHECK(c.buffer_size == 65536);
    hd_config_free(&c);
    if (OK(&c, BASE, "-b1m"))
        CHECK(c.buffer_size == 1048576);
    hd_config_free(&c);
    if (OK(&c, BASE, "--buffer-size=1M"))
        CHECK(c.buffer_size == 1048576);
    hd_config_free(&c);
    if (OK(&c, BASE, "--limit-post", "1g"))
        CHECK(c.limit_post == 1073741824LL);
    hd_config_free(&c);
    if (OK(&c, BASE, "--limit-post", "100"))
        CHECK(c.limit_post == 100);
    hd_config_free(&c);
    if (OK(&c, BASE, "--limit-post", "0"))
        CHECK(c.limit_post == 0);
    hd_config_free(&c);
    if (OK(&c, BASE, "--limit-post", "9223372036854775807"))
        CHECK(c.limit_post == INT64_MAX);
    hd_config_free(&c);
    ERR("herd: --buffer-size: '2m' is out of range (1024..1048576)", "--buffer-size", "2m");
    ERR("herd: --buffer-size: '1023' is out of range (1024..1048576)", "--buffer-size", "1023");
    ERR("herd: --buffer-size: '10x' is not a size (N, Nk, Nm or Ng)", "--buffer-size", "10x");
    ERR("herd: --buffer-size: 'k' is not a size (N, Nk, Nm or Ng)", "--buffer-size", "k");
    ERR("herd: --buffer-size: '64kb' is not a size (N, Nk, Nm or Ng)", "--buffer-size", "64kb");
    ERR("herd: --buffer-size: '1.5m' is not a size (N, Nk, Nm or Ng)", "--buffer-size", "1.5m");
    ERR("herd: --limit-post: '-1' is out of range (0 or more)", "--limit-post", "-1");
    ERR("herd: --limit-post: '99999999999g' is out of range (0 or more)", "--limit-post",
        "99999999999g");
    ERR("herd: --limit-post: '9223372036854775808' is out of range (0 or more)", "--limit-post",
        "9223372036854775808");
}

/* ---- flags ---------------------------------------------------------------------- */

typedef struct {
    const char *spellings[4];
    size_t off; /* (size_t)-1: accepted no-op without a field */
} flag_case_t;

#define NOFIELD ((size_t)-1)

static const flag_case_t flag_cases[] = {
    {{"--master", "-M"}, F(master)},
    {{"--lazy-apps"}, F(lazy_apps)},
    {{"--enable-threads", "-T"}, F(enable_threads)},
    {{"--die-on-term"}, F(die_on_term)},
    {{"--disable-logging", "-L"}, F(disable_logging)},
    {{"--gc-freeze"}, F(gc_freeze)},
    {{"--py-call-osafterfork"}, NOFIELD},
    {{"--py-call-uwsgi-fork-hooks"}, NOFIELD},
    {{"--single-interpreter"}, NOFIELD},
};

static bool flag_get(const hd_config_t *c, const flag_case_t *fc)
{
    return fc->off == NOFIELD ? false : *(const bool *)((const char *)c + fc->off);
}

static void test_flags(void)
{
    static const char *const yes[] = {"true", "1", "yes", "on", "TRUE", "Yes", "ON"};
    static const char *const no[] = {"false", "0", "no", "off", "FALSE", "No", "Off"};
    char arg[128], msg[256];
    hd_config_t c;

    for (size_t i = 0; i < sizeof(flag_cases) / sizeof(flag_cases[0]); i++) {
        const flag_case_t *fc = &flag_cases[i];
        for (int s = 0; fc->spellings[s]; s++) {
            const char *sp = fc->spellings[s];
            if (OK(&c, BASE, sp))
                CHECKF(fc->off == NOFIELD || flag_get(&c, fc), "%s did not set its field", sp);
            hd_config_free(&c);

            /* A flag never takes the next argument as its value. */
            snprintf(msg, sizeof(msg), "herd: unexpected argument 'yes'");
            ERR(msg, BASE, sp, "yes");
            ERR("herd: unexpected argument 'false'", BASE, sp, "false");

            if (sp[1] != '-')
                continue;
            for (size_t k = 0; k < sizeof(yes) / sizeof(yes[0]); k++) {
                snprintf(arg, sizeof(arg), "%s=%s", sp, yes[k]);
                if (OK(&c, BASE, arg))
                    CHECKF(fc->off == NOFIELD || flag_get(&c, fc), "%s", arg);
                hd_config_free(&c);
                snprintf(arg, sizeof(arg), "%s=%s", sp, no[k]);
                if (OK(&c, BASE, sp, arg)) /* the later one wins */
                    CHECKF(!flag_get(&c, fc), "%s", arg);
                hd_config_free(&c);
            }
            snprintf(arg, sizeof(arg), "%s=maybe", sp);
            snprintf(msg, sizeof(msg),
                     "herd: %s: 'maybe' is not a boolean (true/false, 1/0, yes/no, on/off)", sp);
            ERR(msg, arg);
            snprintf(arg, sizeof(arg), "%s=", sp);
            snprintf(msg, sizeof(msg),
                     "herd: %s: '' is not a boolean (true/false, 1/0, yes/no, on/off)", sp);
            ERR(msg, arg);
        }
    }

    /* Short flags combine, and a value-taking one ends the cluster. */
    if (OK(&c, BASE, "-MTL")) {
        CHECK(c.master && c.enable_threads && c.disable_logging);
    }
    hd_config_free(&c);
    if (OK(&c, BASE, "-Mp4")) {
        CHECK(c.master && c.processes == 4);
    }
    hd_config_free(&c);
    if (OK(&c, BASE, "-TMp", "3")) {
        CHECK(c.master && c.enable_threads && c.processes == 3);
    }
    hd_config_free(&c);
    ERR("herd: unknown option '-Q' (see herd --help)", BASE, "-MQ");
    ERR("herd: unknown option '-=' (see herd --help)", BASE, "-M=true");
}

/* ---- strings, lists, sockets --------------------------------------------------- */

static void test_strings(void)
{
    static const struct {
        const char *spellings[6];
        size_t off;
        const char *placeholder;
    } cases[] = {
        {{"--wsgi-file", "--file"}, F(wsgi_file), "FILE"},
        {{"--callable"}, F(callable), "NAME"},
        {{"--chdir"}, F(chdir), "DIR"},
        {{"--home", "--virtualenv", "--venv", "--pyhome", "-H"}, F(home), "DIR"},
    };
    char arg[128], msg[256];
    hd_config_t c;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        for (int s = 0; cases[i].spellings[s]; s++) {
            const char *sp = cases[i].spellings[s];
            bool is_long = sp[1] == '-';
            if (OK(&c, "--http-socket", ":1", "--wsgi-file", "w.py", sp, "/some/val"))
                CHECKF(strcmp(*(char **)((char *)&c + cases[i].off), "/some/val") == 0, "%s", sp);
            hd_config_free(&c);

            snprintf(arg, sizeof(arg), is_long ? "%s=/x=y" : "%s/x=y", sp);
            if (OK(&c, "--http-socket", ":1", "--wsgi-file", "w.py", arg))
                CHECKF(strcmp(*(char **)((char *)&c + cases[i].off), "/x=y") == 0, "%s", arg);
            hd_config_free(&c);

            /* The last one wins (and the first is freed: see ASan). */
            if (OK(&c, "--http-socket", ":1", "--wsgi-file", "w.py", sp, "a", sp, "b"))
                CHECKF(strcmp(*(char **)((char *)&c + cases[i].off), "b") == 0, "%s", sp);
            hd_config_free(&c);

            snprintf(msg, sizeof(msg), "herd: %s: missing value (%s %s)", sp, sp,
                     cases[i].placeholder);
            ERR(msg, sp);
            ERR(msg, sp, "--master");
            ERR(msg, sp, "-M");
            snprintf(msg, sizeof(msg), "herd: %s: empty value (%s %s)", sp, sp,
                     cases[i].placeholder);
            ERR(msg, sp, "");
        }
    }

    /* A value may start with '-' if it does not look like an option. */
    if (OK(&c, BASE, "--chdir", "-"))
        CHECK(strcmp(c.chdir, "-") == 0);
    hd_config_free(&c);
    if (OK(&c, BASE, "--chdir", "-1dir"))
        CHECK(strcmp(c.chdir, "-1dir") == 0);
    hd_config_free(&c);
    if (OK(&c, BASE, "--chdir=--weird"))
        CHECK(strcmp(c.chdir, "--weird") == 0);
    hd_config_free(&c);
}

static void test_lists(void)
{
    hd_config_t c;
    if (OK(&c, BASE, "--pythonpath", "/a", "--python-path", "/b", "--pp", "/c", "--pythonpath=/d",
           "--pp=/e")) {
        CHECK(c.npythonpath == 5);
        if (c.npythonpath == 5) {
            CHECK(strcmp(c.pythonpath[0], "/a") == 0);
            CHECK(strcmp(c.pythonpath[1], "/b") == 0);
            CHECK(strcmp(c.pythonpath[2], "/c") == 0);
            CHECK(strcmp(c.pythonpath[3], "/d") == 0);
            CHECK(strcmp(c.pythonpath[4], "/e") == 0);
        }
    }
    hd_config_free(&c);
    CHECK(c.pythonpath == NULL && c.npythonpath == 0);

    if (OK(&c, BASE, "--env", "A=1", "--env=B=", "--env", "C=x=y", "--env", "D= spaced ")) {
        CHECK(c.nenv == 4);
        if (c.nenv == 4) {
            CHECK(strcmp(c.env[0], "A=1") == 0);
            CHECK(strcmp(c.env[1], "B=") == 0);
            CHECK(strcmp(c.env[2], "C=x=y") == 0);
            CHECK(strcmp(c.env[3], "D= spaced ") == 0);
        }
    }
    hd_config_free(&c);

    ERR("herd: --env: 'FOO' is not KEY=VALUE", "--env", "FOO");
    ERR("herd: --env: '=x' is not KEY=VALUE", "--env", "=x");
    ERR("herd: --env: '=' is not KEY=VALUE", "--env==");
    ERR("herd: --env: empty value (--env KEY=VALUE)", "--env", "");
    ERR("herd: --env: missing value (--env KEY=VALUE)", "--env");
    ERR("herd: --pythonpath: missing value (--pythonpath DIR)", "--pythonpath");
    ERR("herd: --pp: empty value (--pp DIR)", "--pp=");
    /* An error after some values were added: freed by hd_config_free. */
    ERR("herd: --env: 'X' is not KEY=VALUE", "--env", "A=1", "--pp", "/a", "--env", "X");
}

static void test_sockets(void)
{
    hd_config_t c;
    if (OK(&c, "--wsgi-file", "a.py", "--http-socket", ":1", "--http", "127.0.0.1:2",
           "--http11-socket", "[::1]:3", "--socket", ":4", "--uwsgi-socket", ":5", "-s", ":6",
           "-s:7", "--http=/tmp/x.sock", "--socket=/run/y.sock")) {
        static const char *const addrs[] = {":1", "127.0.0.1:2", "[::1]:3", ":4", ":5",
                                            ":6", ":7", "/tmp/x.sock", "/run/y.sock"};
        static const hd_proto_e protos[] = {HD_PROTO_HTTP, HD_PROTO_HTTP, HD_PROTO_HTTP,
                                            HD_PROTO_UWSGI, HD_PROTO_UWSGI, HD_PROTO_UWSGI,
                                            HD_PROTO_UWSGI, HD_PROTO_HTTP, HD_PROTO_UWSGI};
        CHECK(c.nsockets == 9);
        for (size_t i = 0; i < 9 && i < c.nsockets; i++) {
            CHECKF(strcmp(c.sockets[i].addr, addrs[i]) == 0, "socket %zu: %s", i,
                   c.sockets[i].addr);
            CHECKF(c.sockets[i].proto == protos[i], "socket %zu proto %d", i,
                   (int)c.sockets[i].proto);
        }
    }
    hd_config_free(&c);
    CHECK(c.sockets == NULL && c.nsockets == 0);

    /* uwsgi sockets alone satisfy "at least one socket" here; the server
       decides what it serves. */
    if (OK(&c, "-s", ":9", "--wsgi-file", "a.py"))
        CHECK(c.nsockets == 1 && c.sockets[0].proto == HD_PROTO_UWSGI);
    hd_config_free(&c);

    ERR("herd: --http-socket: missing value (--http-socket ADDR)", "--http-socket", "--module",
        "app");
    ERR("herd: --http: empty value (--http ADDR)", "--http=");
    ERR("herd: -s: missing value (-s ADDR)", "-s");
    ERR("herd: --socket: missing value (--socket ADDR)", "--socket", "-p4");
}

/* ---- the app: --wsgi-file, --module, --callable ------------------------------- */

static void test_app(void)
{
    hd_config_t c;
    const char *const mods[] = {"--module", "--wsgi", "-w"};
    char arg[64];
    for (int i = 0; i < 3; i++) {
        if (OK(&c, "--http-socket", ":1", mods[i], "pkg.app"))
            CHECKF(strcmp(c.module, "pkg.app") == 0 && c.callable == NULL, "%s", mods[i]);
        hd_config_free(&c);
        snprintf(arg, sizeof(arg), i < 2 ? "%s=pkg.app:application" : "%spkg.app:application",
                 mods[i]);
        if (OK(&c, "--http-socket", ":1", arg)) {
            CHECKF(strcmp(c.module, "pkg.app") == 0, "%s: module '%s'", arg, c.module);
            CHECKF(c.callable && strcmp(c.callable, "application") == 0, "%s", arg);
        }
        hd_config_free(&c);
    }

    if (OK(&c, "--http-socket", ":1", "--module", "a:b", "--callable", "b"))
        CHECK(strcmp(c.module, "a") == 0 && strcmp(c.callable, "b") == 0);
    hd_config_free(&c);
    if (OK(&c, "--http-socket", ":1", "--callable", "make", "--module", "a"))
        CHECK(strcmp(c.module, "a") == 0 && strcmp(c.callable, "make") == 0);
    hd_config_free(&c);
    if (OK(&c, "--http-socket", ":1", "--wsgi-file", "x.py", "--callable", "app2"))
        CHECK(strcmp(c.wsgi_file, "x.py") == 0 && strcmp(c.callable, "app2") == 0);
    hd_config_free(&c);
    if (OK(&c, "--http-socket", ":1", "--module", "a:b", "--module", "c"))
        CHECK(strcmp(c.module, "c") == 0 && c.callable == NULL);
    hd_config_free(&c);

    ERR("herd: --module 'a:b' names callable 'b' but --callable is 'c'", "--http-socket", ":1",
        "--module", "a:b", "--callable", "c");
    ERR("herd: --module: 'a:' is not MOD or MOD:CALLABLE", "--module", "a:");
    ERR("herd: --module: ':b' is not MOD or MOD:CALLABLE", "--module", ":b");
    ERR("herd: -w: 'a:b:c' is not MOD or MOD:CALLABLE", "-w", "a:b:c");
    ERR("herd: --callable: empty value (--callable NAME)", "--callable=");
    ERR("herd: -w: missing value (-w MOD[:CALLABLE])", "-w");
}

/* ---- validation ---------------------------------------------------------------------- */

static void test_validation(void)
{
    ERR("herd: no socket given: use --http-socket ADDR", NULL);
    ERR("herd: no socket given: use --http-socket ADDR", "--wsgi-file", "a.py");
    ERR("herd: no app given: use --wsgi-file FILE or --module MOD", "--http-socket", ":1");
    ERR("herd: no app given: use --wsgi-file FILE or --module MOD", "--http-socket", ":1",
        "--callable", "app");
    ERR("herd: both --wsgi-file and --module given: use only one", "--http-socket", ":1",
        "--wsgi-file", "a.py", "--module", "a");

    /* hd_config_validate alone, as a caller with several sources uses it. */
    hd_config_t c;
    capture_t cap;
    hd_config_init(&c);
    capture_begin(&cap);
    int rc1 = hd_config_validate(&c);
    int rc2 = hd_config_apply(&c, "http-socket", ":1", NULL);
    int rc3 = hd_config_apply(&c, "module", "m:f", NULL);
    int rc4 = hd_config_validate(&c);
    int rc5 = hd_config_validate(&c); /* idempotent */
    capture_end(&cap);
    CHECK(rc1 == -1 && rc2 == 0 && rc3 == 0 && rc4 == 0 && rc5 == 0);
    CHECK(strcmp(err_buf, "herd: no socket given: use --http-socket ADDR\n") == 0);
    CHECK(strcmp(c.module, "m") == 0 && strcmp(c.callable, "f") == 0);
    hd_config_free(&c);
}

/* ---- deployment options ------------------------------------------------------ */

static void test_deploy_options(void)
{
    hd_config_t c;
    CHECK(parse_args(&c, ARGS(BASE, "--chmod-socket=660", "--chown-socket", "www:www", "--uid",
                              "www", "--gid", "33", "--pidfile", "/run/h.pid", "--daemonize",
                              "/tmp/h.log", "--logto", "/tmp/l.log", "--touch-reload", "/tmp/t",
                              "--vacuum", "--thunder-lock", "--need-app", "--post-buffering", "8192",
                              "--plugins", "0:python3,python311")) == 0);
    CHECK(strcmp(c.chmod_socket, "660") == 0 && strcmp(c.chown_socket, "www:www") == 0);
    CHECK(strcmp(c.uid, "www") == 0 && strcmp(c.gid, "33") == 0);
    CHECK(strcmp(c.pidfile, "/run/h.pid") == 0 && strcmp(c.daemonize, "/tmp/h.log") == 0);
    CHECK(strcmp(c.logto, "/tmp/l.log") == 0 && strcmp(c.touch_reload, "/tmp/t") == 0);
    hd_config_free(&c);
    CHECK(parse_args(&c, ARGS(BASE, "--chmod-socket=rw")) == -1);
    CHECK(strstr(err_buf, "--chmod-socket: 'rw' is not an octal mode like 660") != NULL);
    hd_config_free(&c);
    CHECK(parse_args(&c, ARGS(BASE, "--plugin", "php")) == -1);
    CHECK(strstr(err_buf, "--plugin: 'php' is not a python plugin") != NULL);
    hd_config_free(&c);
}

/* ---- refused and unknown options, bare arguments ---------------------------- */

static void test_refused(void)
{
    static const char *const refused[] = {
        "lazy",    "http-to", "https", "emperor", "spooler",
        "mule",    "cheaper", "static-map", "stats",
    };
    char arg[64], prefix[128];
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        char eq[80];
        snprintf(arg, sizeof(arg), "--%s", refused[i]);
        snprintf(eq, sizeof(eq), "--%s=x", refused[i]);
        /* Alone, with a value after it, and with "=value": refused alike. */
        for (int f = 0; f < 3; f++) {
            hd_config_t c;
            int rc = f == 0 ? parse_args(&c, ARGS(arg))
                     : f == 1 ? parse_args(&c, ARGS(BASE, arg, "value"))
                              : parse_args(&c, ARGS(BASE, eq));
            snprintf(prefix, sizeof(prefix), "herd: %s: not supported by herd: ", arg);
            CHECKF(rc == -1, "%s: rc %d", arg, rc);
            CHECKF(strncmp(err_buf, prefix, strlen(prefix)) == 0, "%s: %s", arg, err_buf);
            /* One line, with a reason after the prefix. */
            CHECKF(strlen(err_buf) > strlen(prefix) + 10 && strchr(err_buf, '\n') ==
                   err_buf + strlen(err_buf) - 1, "%s: %s", arg, err_buf);
            hd_config_free(&c);
        }
    }
    ERR("herd: --lazy: not supported by herd: its reload semantics differ from --lazy-apps; "
        "use --lazy-apps to load the app in each worker",
        "--lazy");

    ERR("herd: unknown option '--foo' (see herd --help)", BASE, "--foo");
    ERR("herd: unknown option '--foo' (see herd --help)", "--foo=1");
    ERR("herd: unknown option '--proc' (see herd --help)", "--proc", "4"); /* no prefixes */
    ERR("herd: unknown option '---' (see herd --help)", "---");
    ERR("herd: unknown option '-Q' (see herd --help)", "-Q");
    ERR("herd: unknown option '--' (see herd --help)", "--=x");
    /* An option name is matched whole, not as "name=" inside a value. */
    ERR("herd: unknown option '--Processes' (see herd --help)", "--Processes", "4");

    /* A bare FILE.ini is --ini FILE.ini, as in uWSGI (test_ini); others are refused. */
    ERR("herd: cannot read '/nonexistent/app.ini': No such file or directory", BASE,
        "/nonexistent/app.ini");
    ERR("herd: unexpected argument 'app.ini.bak'", BASE, "app.ini.bak");
    ERR("herd: unexpected argument '.ini'", BASE, ".ini");
    ERR("herd: unexpected argument 'x'", "x", BASE);
    ERR("herd: unexpected argument '-'", BASE, "-");
    ERR("herd: unexpected argument '--master'", BASE, "--", "--master");

    hd_config_t c;
    if (OK(&c, BASE, "--")) /* a bare "--" at the end is fine */
        CHECK(c.nsockets == 1);
    hd_config_free(&c);
}

/* ---- --help, --version, --options-markdown ------------------------------------ */

/* Every name herd knows, primary and aliases: --help and the docs show them all. */
static const char *const all_names[] = {
    "--help", "--version", "--http-socket", "--http", "--http11-socket", "--socket",
    "--uwsgi-socket", "--listen", "--wsgi-file", "--file", "--module", "--wsgi", "--callable",
    "--chdir", "--pythonpath", "--python-path", "--pp", "--home", "--virtualenv", "--venv",
    "--pyhome", "--env", "--master", "--processes", "--workers", "--threads", "--lazy-apps",
    "--worker-reload-mercy", "--reload-mercy", "--spawn-timeout", "--gc-freeze",
    "--buffer-size", "--limit-post", "--socket-timeout", "--http-keepalive",
    "--disable-logging", "--enable-threads", "--die-on-term", "--py-call-osafterfork",
    "--py-call-uwsgi-fork-hooks", "--single-interpreter", "--ini", "--print-config",
    "--show-config", "-h", "-s", "-l", "-w", "-H", "-M",
    "-p", "-b", "-z", "-L", "-T",
};

/* Does text contain name as a whole option name (not a prefix of a longer one)? */
static bool has_name(const char *text, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = text; (p = strstr(p, name)) != NULL; p++) {
        char before = p == text ? ' ' : p[-1];
        char after = p[n];
        bool name_char = (after >= 'a' && after <= 'z') || after == '-' ||
                         (after >= '0' && after <= '9');
        if ((before == ' ' || before == '`' || before == '\n') && !name_char)
            return true;
    }
    return false;
}

static void test_help(void)
{
    hd_config_t c;
    const char *const forms[] = {"--help", "-h", "--help=true"};
    for (int f = 0; f < 3; f++) {
        int rc = parse_args(&c, ARGS(forms[f]));
        CHECKF(rc == 1, "%s: rc %d", forms[f], rc);
        CHECKF(err_buf[0] == '\0', "%s: stderr %s", forms[f], err_buf);
        CHECK(strncmp(out_buf, "Usage: herd [OPTIONS]\n", 22) == 0);
        hd_config_free(&c);
    }

    parse_args(&c, ARGS("--help"));
    hd_config_free(&c);
    static const char *const sections[] = {"\nSockets:\n", "\nApplication:\n",
                                           "\nProcesses:\n", "\nHTTP:\n", "\nLogging:\n",
                                           "\nCompatibility:\n"};
    const char *last = out_buf;
    for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
        const char *at = strstr(out_buf, sections[i]);
        CHECKF(at != NULL && at > last, "help section %s missing or out of order", sections[i]);
        if (at)
            last = at;
    }
    for (size_t i = 0; i < sizeof(all_names) / sizeof(all_names[0]); i++)
        CHECKF(has_name(out_buf, all_names[i]), "--help does not show %s", all_names[i]);
    CHECK(has_name(out_buf, "--https") && has_name(out_buf, "--lazy"));
    CHECK(strstr(out_buf, "options-markdown") == NULL);
    CHECK(strstr(out_buf, "4096") != NULL); /* --buffer-size: uWSGI's default */
    size_t widest = 0;
    for (const char *p = out_buf; *p;) {
        size_t n = strcspn(p, "\n");
        if (n > widest)
            widest = n;
        p += n + (p[n] == '\n');
    }
    CHECKF(widest <= 79, "--help has a line of %zu columns", widest);

    /* Printed as soon as it is seen: before validation, after earlier errors. */
    CHECK(parse_args(&c, ARGS("--help", "--foo")) == 1);
    hd_config_free(&c);
    CHECK(parse_args(&c, ARGS("--foo", "--help")) == -1);
    hd_config_free(&c);
    CHECK(parse_args(&c, ARGS("-Mh")) == 1 && c.master);
    hd_config_free(&c);
    /* --help=false asks for nothing. */
    if (OK(&c, BASE, "--help=false", "--version=no"))
        CHECK(c.nsockets == 1);
    hd_config_free(&c);
    ERR("herd: --help: 'please' is not a boolean (true/false, 1/0, yes/no, on/off)",
        "--help=please");

    int rc = parse_args(&c, ARGS("--version"));
    CHECK(rc == 1);
    CHECKF(strcmp(out_buf, "herd " HD_VERSION " (Python 3.99.0 (test build))\n") == 0, "%s",
           out_buf);
    CHECK(err_buf[0] == '\0');
    hd_config_free(&c);

    rc = parse_args(&c, ARGS("--options-markdown"));
    CHECK(rc == 1);
    CHECK(strncmp(out_buf, "# herd options\n", 15) == 0);
    for (size_t i = 0; i < sizeof(all_names) / sizeof(all_names[0]); i++)
        CHECKF(has_name(out_buf, all_names[i]), "the docs do not show %s", all_names[i]);
    CHECK(strstr(out_buf, "`--https`") != NULL);
    CHECK(strstr(out_buf, "options-markdown`") == NULL);
    CHECK(strstr(out_buf, "## Refused") != NULL);
    hd_config_free(&c);
}

/* ---- hd_config_apply: the entry point for .ini files and variables ------------- */

static void test_apply(void)
{
    hd_config_t c;
    capture_t cap;
    int rc;

    hd_config_init(&c);
    capture_begin(&cap);
    rc = hd_config_apply(&c, "processes", "x", "app.ini:12");
    capture_end(&cap);
    CHECK(rc == -1);
    CHECKF(strcmp(err_buf, "herd: app.ini:12: processes: 'x' is not a number\n") == 0, "%s",
           err_buf);

    capture_begin(&cap);
    rc = hd_config_apply(&c, "foo", "1", "app.ini:3");
    capture_end(&cap);
    CHECK(rc == -1);
    CHECKF(strcmp(err_buf, "herd: app.ini:3: unknown option 'foo' (see herd --help)\n") == 0,
           "%s", err_buf);

    capture_begin(&cap);
    rc = hd_config_apply(&c, "https", ":443", "UWSGI_HTTPS");
    capture_end(&cap);
    CHECK(rc == -1);
    CHECKF(strncmp(err_buf, "herd: UWSGI_HTTPS: https: not supported by herd: ", 49) == 0, "%s",
           err_buf);

    capture_begin(&cap);
    rc = hd_config_apply(&c, "processes", "x", NULL);
    capture_end(&cap);
    CHECKF(strcmp(err_buf, "herd: processes: 'x' is not a number\n") == 0, "%s", err_buf);

    /* Huge sources and values are cut, but the message stays one line. */
    static char huge[5000];
    memset(huge, 'x', sizeof(huge) - 1);
    capture_begin(&cap);
    rc = hd_config_apply(&c, "processes", huge, huge);
    capture_end(&cap);
    size_t elen = strlen(err_buf);
    CHECK(rc == -1 && elen > 100 && elen <= 1024);
    CHECK(strncmp(err_buf, "herd: xxx", 9) == 0 && strchr(err_buf, '\n') == err_buf + elen - 1);
    ERR("herd: --processes: 'xxxx' is not a number", "--processes", "xxxx");

    capture_begin(&cap);
    int ok = 0;
    ok += hd_config_apply(&c, "workers", "3", "a.ini:1") == 0;
    ok += hd_config_apply(&c, "master", NULL, "a.ini:2") == 0;
    ok += hd_config_apply(&c, "lazy-apps", "true", "a.ini:3") == 0;
    ok += hd_config_apply(&c, "enable-threads", "off", "a.ini:4") == 0;
    ok += hd_config_apply(&c, "pp", "/x", "a.ini:5") == 0;
    ok += hd_config_apply(&c, "pythonpath", "/y", "a.ini:6") == 0;
    ok += hd_config_apply(&c, "http", ":80", "a.ini:7") == 0;
    ok += hd_config_apply(&c, "buffer-size", "32k", "a.ini:8") == 0;
    ok += hd_config_apply(&c, "py-call-osafterfork", "true", "a.ini:9") == 0;
    /* Short names are for the command line only. */
    ok += hd_config_apply(&c, "p", "2", "a.ini:10") == -1;
    capture_end(&cap);
    CHECKF(ok == 10, "%d of 10 applied as expected; stderr %s", ok, err_buf);
    CHECK(strcmp(err_buf, "herd: a.ini:10: unknown option 'p' (see herd --help)\n") == 0);
    CHECK(c.processes == 3 && c.master && c.lazy_apps && !c.enable_threads);
    CHECK(c.npythonpath == 2 && c.nsockets == 1 && c.buffer_size == 32768);
    hd_config_free(&c);
}

/* ---- hd_config_free ---------------------------------------------------------------- */

static void test_free(void)
{
    hd_config_t c;
    if (OK(&c, "--http-socket", ":1", "-s", ":2", "--module", "a:b", "--chdir", "/", "--home",
           "/v", "--pp", "/p", "--env", "A=1", "--callable", "b"))
        CHECK(c.nsockets == 2);
    hd_config_free(&c);
    CHECK(c.sockets == NULL && c.module == NULL && c.callable == NULL && c.chdir == NULL);
    CHECK(c.home == NULL && c.pythonpath == NULL && c.env == NULL && c.nenv == 0);
    hd_config_free(&c); /* twice is harmless */

    /* Freed after an error part-way (ASan's leak check sees the rest). */
    ERR("herd: --threads: '0' is out of range (1..1024)", "--http-socket", ":1", "--module", "m",
        "--chdir", "/", "--env", "A=1", "--threads", "0");
    ERR("herd: --module 'a:b' names callable 'b' but --callable is 'c'", "--http-socket", ":1",
        "--module", "a:b", "--callable", "c", "--pp", "/x");

    /* A fresh init needs no free, and init after free is clean. */
    hd_config_init(&c);
    hd_config_free(&c);
    hd_config_init(&c);
    CHECK(c.processes == 1);
}

/* ---- ini files, the environment, --print-config --------------------------------- */

/* Tests with an environment: parse with env as test_env. */
#define ENV(...) ((char *[]){__VA_ARGS__, NULL})
#define OK_ENV(cfg, env, ...) expect_ok_env(__LINE__, (cfg), (env), ARGS(__VA_ARGS__))
#define ERR_ENV(msg, env, ...) expect_err_env(__LINE__, (msg), (env), ARGS(__VA_ARGS__))

static bool expect_ok_env(int line, hd_config_t *cfg, char **env, const char *const *args)
{
    test_env = env;
    bool ok = expect_ok(line, cfg, args);
    test_env = empty_env;
    return ok;
}

static void expect_err_env(int line, const char *msg, char **env, const char *const *args)
{
    test_env = env;
    expect_err(line, msg, args);
    test_env = empty_env;
}

/* Parses expecting -1 and a message starting with prefix and containing part. */
#define ERR_LIKE(prefix, part, ...) expect_err_like(__LINE__, (prefix), (part), ARGS(__VA_ARGS__))

static void expect_err_like(int line, const char *prefix, const char *part,
                            const char *const *args)
{
    hd_config_t cfg;
    int rc = parse_args(&cfg, args);
    check(rc == -1, line, "parse returned %d, want -1 (%s)", rc, prefix);
    check(strncmp(err_buf, prefix, strlen(prefix)) == 0 && strstr(err_buf, part) &&
              strchr(err_buf, '\n') == err_buf + strlen(err_buf) - 1,
          line, "stderr\n  got:  %s  want: %s...%s...", err_buf, prefix, part);
    hd_config_free(&cfg);
}

/* The temporary directory and the files written there (removed by tmp_clean). */
static char tmp_dir[64];
static char tmp_paths[64][128];
static int tmp_count;

/* Writes len bytes of content to tmp_dir/name; returns the path. */
static const char *tmp_write_n(const char *name, const char *content, size_t len)
{
    if (tmp_count == 64) {
        printf("too many temporary files\n");
        exit(2);
    }
    char *path = tmp_paths[tmp_count];
    snprintf(path, sizeof(tmp_paths[0]), "%s/%s", tmp_dir, name);
    for (int i = 0; i < tmp_count; i++)
        if (strcmp(tmp_paths[i], path) == 0)
            path = tmp_paths[i]; /* rewritten: listed once */
    if (path == tmp_paths[tmp_count])
        tmp_count++;
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(content, 1, len, f) != len || fclose(f) != 0) {
        perror(path);
        exit(2);
    }
    return path;
}

static const char *tmp_write(const char *name, const char *content)
{
    return tmp_write_n(name, content, strlen(content));
}

static void tmp_clean(void)
{
    for (int i = 0; i < tmp_count; i++)
        unlink(tmp_paths[i]);
    if (tmp_dir[0] && rmdir(tmp_dir) < 0)
        printf("rmdir %s: %s\n", tmp_dir, strerror(errno));
}

static bool list_is(char **list, size_t n, const char *const *want)
{
    size_t k = 0;
    for (; want[k]; k++)
        if (k >= n || strcmp(list[k], want[k]) != 0)
            return false;
    return k == n;
}
#define LIST_IS(list, n, ...) list_is((list), (n), ARGS(__VA_ARGS__))

static void test_ini_basics(void)
{
    hd_config_t c;
    const char *ini = tmp_write("basic.ini",
                                "; a comment\n"
                                "# another\n"
                                "ignored = before any section\n"
                                "\n"
                                "[uwsgi]\n"
                                "http-socket = :8000\n"
                                "  wsgi-file=app.py  \n"
                                "processes\t=\t3\r\n"
                                "master\n"
                                "enable-threads =\n"
                                "lazy-apps = yes\n"
                                "die-on-term = off\n"
                                "env = A=1 ; not a comment\n"
                                "chdir = /srv/a#b\n"
                                "pythonpath = /p1\n"
                                "pp = /p2\n"
                                "workers = 4\n"
                                "buffer_size = 16k\n"
                                "socket_timeout = 9\n"
                                "socket = :9001\n"
                                "http = :9002\n"
                                "[other]\n"
                                "processes = 99\n"
                                "bogus = never read\n");
    if (OK(&c, "--ini", ini)) {
        CHECK(c.nsockets == 3 && strcmp(c.sockets[0].addr, ":8000") == 0 &&
              c.sockets[0].proto == HD_PROTO_HTTP);
        CHECK(c.nsockets == 3 && strcmp(c.sockets[1].addr, ":9001") == 0 &&
              c.sockets[1].proto == HD_PROTO_UWSGI);
        CHECK(c.nsockets == 3 && strcmp(c.sockets[2].addr, ":9002") == 0 &&
              c.sockets[2].proto == HD_PROTO_HTTP);
        CHECK(strcmp(c.wsgi_file, "app.py") == 0);
        CHECK(c.processes == 4); /* the last of processes and its alias */
        CHECK(c.master && c.enable_threads && c.lazy_apps && !c.die_on_term);
        CHECK(LIST_IS(c.env, c.nenv, "A=1 ; not a comment"));
        CHECK(strcmp(c.chdir, "/srv/a#b") == 0);
        CHECK(LIST_IS(c.pythonpath, c.npythonpath, "/p1", "/p2"));
        CHECK(c.buffer_size == 16384 && c.socket_timeout == 9);
    }
    hd_config_free(&c);

    /* --ini=FILE, a bare FILE.ini, FILE:SECTION, a bare FILE.ini:SECTION. */
    char arg[256];
    snprintf(arg, sizeof(arg), "--ini=%s", ini);
    if (OK(&c, arg))
        CHECK(c.processes == 4);
    hd_config_free(&c);
    if (OK(&c, ini))
        CHECK(c.processes == 4 && c.nsockets == 3);
    hd_config_free(&c);

    const char *sec = tmp_write("sections.ini",
                                "[prod]\nhttp-socket = :1\nmodule = prod.app\nprocesses = 8\n"
                                "[uwsgi]\nhttp-socket = :2\nmodule = dev.app\n"
                                "[prod]\nthreads = 2\n"); /* a section may come back */
    snprintf(arg, sizeof(arg), "%s:prod", sec);
    if (OK(&c, "--ini", arg))
        CHECK(c.nsockets == 1 && strcmp(c.module, "prod.app") == 0 && c.processes == 8 &&
              c.threads == 2 && c.callable == NULL);
    hd_config_free(&c);
    if (OK(&c, arg))
        CHECK(c.processes == 8 && strcmp(c.module, "prod.app") == 0);
    hd_config_free(&c);
    snprintf(arg, sizeof(arg), "%s:", sec); /* an empty section: the default */
    if (OK(&c, "--ini", arg))
        CHECK(c.nsockets == 1 && strcmp(c.sockets[0].addr, ":2") == 0 && c.processes == 1);
    hd_config_free(&c);
    /* "--ini :SECTION": the last file --ini read. */
    if (OK(&c, "--ini", sec, "--ini", ":prod"))
        CHECK(c.nsockets == 2 && strcmp(c.module, "prod.app") == 0 && c.processes == 8);
    hd_config_free(&c);

    /* [herd] alone; [uwsgi] and [herd] both: [uwsgi]'s first, so [herd] wins
       wherever it stands in the file. */
    const char *herd = tmp_write("herd.ini", "[herd]\nhttp-socket = :3\nwsgi-file = h.py\n");
    if (OK(&c, "--ini", herd))
        CHECK(c.nsockets == 1 && strcmp(c.wsgi_file, "h.py") == 0);
    hd_config_free(&c);
    const char *both = tmp_write("both.ini", "[herd]\nprocesses = 5\ngc-freeze = true\n"
                                             "pp = /herd\n"
                                             "[uwsgi]\nprocesses = 2\npp = /uwsgi\n"
                                             "http-socket = :4\nwsgi-file = b.py\n");
    if (OK(&c, "--ini", both)) {
        CHECK(c.processes == 5 && c.gc_freeze);
        CHECK(LIST_IS(c.pythonpath, c.npythonpath, "/uwsgi", "/herd"));
    }
    hd_config_free(&c);
    /* A named section reads only that one. */
    snprintf(arg, sizeof(arg), "%s:uwsgi", both);
    if (OK(&c, "--ini", arg))
        CHECK(c.processes == 2 && !c.gc_freeze && c.npythonpath == 1);
    hd_config_free(&c);
}

static void test_ini_order(void)
{
    hd_config_t c;
    const char *a = tmp_write("order-a.ini", "[uwsgi]\nprocesses = 3\npp = /ini-a\n"
                                             "http-socket = :10\n");
    const char *b = tmp_write("order-b.ini", "[uwsgi]\nprocesses = 7\npp = /ini-b\n"
                                             "module = b:app\n");

    /* Options apply where --ini stands: later ones override the file. */
    if (OK(&c, BASE, "--processes", "2", "--ini", a))
        CHECK(c.processes == 3);
    hd_config_free(&c);
    if (OK(&c, BASE, "--ini", a, "--processes", "2"))
        CHECK(c.processes == 2);
    hd_config_free(&c);
    if (OK(&c, "--wsgi-file", "w.py", "--pp", "/first", "--ini", a, "--pp", "/last"))
        CHECK(LIST_IS(c.pythonpath, c.npythonpath, "/first", "/ini-a", "/last") &&
              c.nsockets == 1);
    hd_config_free(&c);
    /* Several files, in order. */
    if (OK(&c, "--ini", a, "--ini", b)) {
        CHECK(c.processes == 7 && strcmp(c.module, "b") == 0 && strcmp(c.callable, "app") == 0);
        CHECK(LIST_IS(c.pythonpath, c.npythonpath, "/ini-a", "/ini-b"));
    }
    hd_config_free(&c);
    if (OK(&c, b, "-p", "9", a))
        CHECK(c.processes == 3);
    hd_config_free(&c);
    /* An error in a later argument still fails the parse after a file. */
    ERR("herd: --threads: 'x' is not a number", "--ini", a, "--threads", "x");
}

static void test_ini_placeholders(void)
{
    hd_config_t c;
    char want[512], dir[128];
    snprintf(dir, sizeof(dir), "%s/", tmp_dir);
    const char *dirname = strrchr(tmp_dir, '/') + 1;
    static char *env[] = {"APP_ROOT=/from/env", "HERD_TIER=herd-tier", "UWSGI_TIER=uwsgi-tier",
                          "UWSGI_ONLY=u-only", "PERCENT=100%", NULL};

    const char *ini = tmp_write("magic.app.ini",
                                "[uwsgi]\n"
                                "http-socket = %d%n.sock\n"         /* .../magic.app.sock */
                                "wsgi-file = %p|%s|%n|%e|%c|%o\n"
                                "base = /srv/%n\n"
                                "src = %(base)/src\n"
                                "chdir = %(src)/x%%y%$(z)\n"
                                "pythonpath = $(APP_ROOT)/lib\n"
                                "pythonpath = $(PERCENT)\n"          /* not expanded again */
                                "pythonpath = %(tier)\n"             /* HERD_TIER wins */
                                "pythonpath = %(only)\n"             /* UWSGI_ONLY */
                                "pythonpath = %(callable)\n"         /* an option's key */
                                "pythonpath = 50%% $ $x $(APP_ROOT)$\n"
                                "callable = application\n"
                                "set-ph = answer=42\n"
                                "set-placeholder = greeting = hello world\n"
                                "env = A=%(answer) %(greeting)\n"
                                "home = %(late)\n"                   /* defined later: fine */
                                "late = first\n"
                                "late = last\n"                      /* the last one counts */
                                "[herd]\n"
                                "env = B=%(base)\n");                /* [herd] sees [uwsgi] */
    if (OK_ENV(&c, env, "--ini", ini)) {
        snprintf(want, sizeof(want), "%smagic.app.sock", dir);
        CHECKF(strcmp(c.sockets[0].addr, want) == 0, "%%d%%n: %s", c.sockets[0].addr);
        snprintf(want, sizeof(want), "%smagic.app.ini|magic.app.ini|magic.app|ini|%s|%s", dir,
                 dirname, ini);
        CHECKF(strcmp(c.wsgi_file, want) == 0, "magic: %s\n want %s", c.wsgi_file, want);
        CHECKF(strcmp(c.chdir, "/srv/magic.app/src/x%y$(z)") == 0, "%s", c.chdir);
        CHECKF(LIST_IS(c.pythonpath, c.npythonpath, "/from/env/lib", "100%", "herd-tier",
                       "u-only", "application", "50% $ $x /from/env$"),
               "pythonpath: %zu entries", c.npythonpath);
        CHECK(LIST_IS(c.env, c.nenv, "A=42 hello world", "B=/srv/magic.app"));
        CHECK(strcmp(c.home, "last") == 0);
    }
    hd_config_free(&c);

    /* %d of a relative path is absolute, and "./" is dropped. */
    char cwd[256], rel[256];
    if (getcwd(cwd, sizeof(cwd)) && chdir(tmp_dir) == 0) {
        if (OK_ENV(&c, env, "--ini", "./magic.app.ini"))
            CHECKF(strncmp(c.sockets[0].addr, dir, strlen(dir)) == 0, "%s", c.sockets[0].addr);
        hd_config_free(&c);
        snprintf(rel, sizeof(rel), "%s", "magic.app.ini");
        if (OK_ENV(&c, env, rel)) {
            snprintf(want, sizeof(want), "%smagic.app.ini|magic.app.ini|magic.app|ini|%s|%s",
                     dir, dirname, "magic.app.ini");
            CHECKF(strcmp(c.wsgi_file, want) == 0, "%s", c.wsgi_file);
        }
        hd_config_free(&c);
        CHECK(chdir(cwd) == 0);
    }

    /* A flag set with an empty placeholder is on; a value option refuses it. */
    const char *empty = tmp_write("empty.ini", "[uwsgi]\nnothing =\nmaster = %(nothing)\n"
                                               "http-socket = :1\nwsgi-file = a.py\n");
    if (OK(&c, "--ini", empty))
        CHECK(c.master);
    hd_config_free(&c);

    /* A placeholder defined in the including file, seen by the included one. */
    const char *inner = tmp_write("inner.ini", "[uwsgi]\nchdir = %(app_dir)/inner\n");
    char text[512];
    snprintf(text, sizeof(text),
             "[uwsgi]\napp_dir = /outer\nini = %s\nhttp-socket = :1\nwsgi-file = a.py\n", inner);
    const char *outer = tmp_write("outer.ini", text);
    if (OK(&c, "--ini", outer))
        CHECK(strcmp(c.chdir, "/outer/inner") == 0);
    hd_config_free(&c);
}

static void test_ini_includes(void)
{
    hd_config_t c;
    char text[512], msg[1024];
    const char *inc = tmp_write("inc.ini", "[uwsgi]\nprocesses = 3\npp = /inc\n"
                                           "[extra]\nthreads = 6\n");
    snprintf(text, sizeof(text),
             "[uwsgi]\nhttp-socket = :1\nwsgi-file = a.py\nprocesses = 2\npp = /before\n"
             "ini = %s\npp = /after\nini = %%dinc.ini:extra\nini = :local\n"
             "[local]\nlisten = 77\n",
             inc);
    const char *main_ini = tmp_write("main.ini", text);
    if (OK(&c, "--ini", main_ini)) {
        CHECK(c.processes == 3 && c.threads == 6 && c.listen_backlog == 77);
        CHECK(LIST_IS(c.pythonpath, c.npythonpath, "/before", "/inc", "/after"));
    }
    hd_config_free(&c);

    /* A file including itself stops at the depth limit. */
    const char *loop = tmp_write("loop.ini", "[uwsgi]\nini = %p\n");
    snprintf(msg, sizeof(msg),
             "herd: %s:2: ini: '%s': ini files include each other more than 8 deep (a loop?)",
             loop, loop);
    ERR(msg, "--ini", loop);
    const char *loop2 = tmp_write("loop2.ini", "[uwsgi]\nini = :uwsgi\n");
    snprintf(msg, sizeof(msg),
             "herd: %s:2: ini: ':uwsgi': ini files include each other more than 8 deep (a loop?)",
             loop2);
    ERR(msg, "--ini", loop2);

    const char *bad = tmp_write("badinc.ini", "[uwsgi]\nini = /nonexistent/x.ini\n");
    snprintf(msg, sizeof(msg),
             "herd: %s:2: ini: cannot read '/nonexistent/x.ini': No such file or directory", bad);
    ERR(msg, "--ini", bad);
    const char *empty = tmp_write("emptyinc.ini", "[uwsgi]\nini =\n");
    snprintf(msg, sizeof(msg), "herd: %s:2: ini: empty value (ini FILE[:SECTION])", empty);
    ERR(msg, "--ini", empty);
    const char *bare = tmp_write("bareinc.ini", "[uwsgi]\nini\n");
    snprintf(msg, sizeof(msg), "herd: %s:2: ini: missing value (ini FILE[:SECTION])", bare);
    ERR(msg, "--ini", bare);
    /* An error inside an included file names that file. */
    const char *broken = tmp_write("broken.ini", "[uwsgi]\n\nthreads = lots\n");
    snprintf(text, sizeof(text), "[uwsgi]\nini = %s\n", broken);
    const char *incbroken = tmp_write("incbroken.ini", text);
    snprintf(msg, sizeof(msg), "herd: %s:3: threads: 'lots' is not a number", broken);
    ERR(msg, "--ini", incbroken);
}

static void test_ini_errors(void)
{
    char msg[1024], arg[256];
    const char *p;

#define INI_ERR(name, content, line, text)                                         \
    do {                                                                           \
        p = tmp_write(name, content);                                              \
        snprintf(msg, sizeof(msg), "herd: %s:%d: %s", p, line, text);              \
        ERR(msg, "--ini", p);                                                      \
    } while (0)

    INI_ERR("e1.ini", "[uwsgi]\nprocesses = x\n", 2, "processes: 'x' is not a number");
    INI_ERR("e2.ini", "[uwsgi]\n\n; c\nproceses = 4\n", 4,
            "unknown option 'proceses' (see herd --help), and no %(proceses) uses it");
    INI_ERR("e3.ini", "[uwsgi]\nbuffer_size = big\n", 2,
            "buffer_size: 'big' is not a size (N, Nk, Nm or Ng)");
    INI_ERR("e4.ini", "[uwsgi]\nmaster = maybe\n", 2,
            "master: 'maybe' is not a boolean (true/false, 1/0, yes/no, on/off)");
    INI_ERR("e5.ini", "[uwsgi]\nprocesses\n", 2, "processes: missing value (processes N)");
    INI_ERR("e6.ini", "[uwsgi]\nprocesses =  \n", 2, "processes: empty value (processes N)");
    INI_ERR("e7.ini", "[uwsgi]\nenv = NOEQUALS\n", 2, "env: 'NOEQUALS' is not KEY=VALUE");
    INI_ERR("e8.ini", "[uwsgi]\nworkers = 0\n", 2, "workers: '0' is out of range (1..1024)");
    INI_ERR("e9.ini", "[uwsgi]\nchdir = %(nope)/x\n", 2,
            "chdir: unknown placeholder %(nope): no key 'nope' in the file, nor variable "
            "HERD_... or UWSGI_... of that name");
    INI_ERR("e10.ini", "[uwsgi]\nchdir = %x\n", 2,
            "chdir: unknown placeholder %x (write %% for a '%')");
    INI_ERR("e11.ini", "[uwsgi]\nchdir = 100%\n", 2,
            "chdir: a '%' ends the value (write %% for a '%')");
    INI_ERR("e12.ini", "[uwsgi]\nchdir = %(base\n", 2,
            "chdir: '%(' without a closing ')' (write %% for a '%')");
    INI_ERR("e13.ini", "[uwsgi]\nchdir = %()\n", 2, "chdir: an empty placeholder %()");
    INI_ERR("e14.ini", "[uwsgi]\na = 1\nlisten = %(a + 1)\n", 3,
            "listen: %(a + 1): placeholder arithmetic is not supported");
    INI_ERR("e15.ini", "[uwsgi]\nchdir = $(HERD_TEST_UNSET_VAR)\n", 2,
            "chdir: $(HERD_TEST_UNSET_VAR): environment variable HERD_TEST_UNSET_VAR is not set");
    INI_ERR("e16.ini", "[uwsgi]\nchdir = $(HOME\n", 2,
            "chdir: '$(' without a closing ')' (write %$ for a '$')");
    INI_ERR("e17.ini", "[uwsgi]\nprocesses = 2\n[uwsgi\n", 3,
            "'[uwsgi': a section header needs a closing ']'");
    INI_ERR("e18.ini", "[uwsgi]\n = x\n", 2, "a value without a name before its '='");
    INI_ERR("e19.ini", "[uwsgi]\nset-ph = nothing\n", 2, "set-ph: 'nothing' is not NAME=VALUE");
    INI_ERR("e20.ini", "[uwsgi]\nset-placeholder = =x\n", 2,
            "set-placeholder: '=x' is not NAME=VALUE");
    INI_ERR("e21.ini", "[uwsgi]\nset-ph\n", 2, "set-ph: '' is not NAME=VALUE");
    /* The unknown key is reported after the rest applied, with its own line. */
    INI_ERR("e22.ini", "[uwsgi]\nbase = /x\nprocesses = 2\n", 2,
            "unknown option 'base' (see herd --help), and no %(base) uses it");
    /* A bad placeholder inside another placeholder names the line it is on. */
    INI_ERR("e23.ini", "[uwsgi]\nchdir = %(a)\na = %(b)/x\nb = %q\n", 4,
            "b: unknown placeholder %q (write %% for a '%')");
    INI_ERR("e24.ini", "[uwsgi]\nhttp-socket = :1\n[herd]\nemperor = /etc/vassals\n", 4,
            "emperor: not supported by herd: herd runs one app; manage several with systemd "
            "or another supervisor");
    INI_ERR("e25.ini", "[uwsgi]\nplugins = python3,php\n", 2,
            "plugins: 'python3,php' is not a python plugin (python, python3, python311): other "
            "uWSGI plugins are not part of herd");
    INI_ERR("e26.ini", "[uwsgi]\nhttp_to = x\n", 2,
            "http_to: not supported by herd: herd has no HTTP router; serve HTTP directly with "
            "--http-socket");

    /* Placeholders using each other stop at the nesting limit. */
    p = tmp_write("nest.ini", "[uwsgi]\nchdir = %(a)\na = %(b)\nb = %(a)\n");
    snprintf(msg, sizeof(msg), "herd: %s:", p);
    ERR_LIKE(msg, "placeholders nest more than 16 deep (one uses itself?)", "--ini", p);
    p = tmp_write("self.ini", "[uwsgi]\npythonpath = %(pythonpath):/x\n");
    snprintf(msg, sizeof(msg), "herd: %s:2: pythonpath: %%(pythonpath): placeholders nest", p);
    ERR_LIKE(msg, "(one uses itself?)", "--ini", p);

    p = tmp_write_n("nul.ini", "[uwsgi]\nprocesses = 2\0\n", 23);
    snprintf(msg, sizeof(msg), "herd: %s:2: a NUL byte: is this a text file?", p);
    ERR(msg, "--ini", p);

    /* Whole-file errors name the option that asked. */
    p = tmp_write("nosection.ini", "processes = 2\n[app]\nthreads = 2\n");
    snprintf(msg, sizeof(msg), "herd: --ini: '%s' has no [uwsgi] or [herd] section", p);
    ERR(msg, "--ini", p);
    snprintf(msg, sizeof(msg), "herd: '%s' has no [uwsgi] or [herd] section", p);
    ERR(msg, p);
    snprintf(arg, sizeof(arg), "%s:prod", p);
    snprintf(msg, sizeof(msg), "herd: --ini: '%s' has no [prod] section", p);
    ERR(msg, "--ini", arg);
    ERR("herd: --ini: cannot read '/nonexistent/x.ini': No such file or directory", "--ini",
        "/nonexistent/x.ini");
    snprintf(msg, sizeof(msg), "herd: --ini: cannot read '%s': Is a directory", tmp_dir);
    ERR(msg, "--ini", tmp_dir);
    ERR("herd: --ini: ':prod': no ini file was read before to take a section from", "--ini",
        ":prod");
    ERR("herd: --ini: empty value (--ini FILE[:SECTION])", "--ini=");
    ERR("herd: --ini: missing value (--ini FILE[:SECTION])", "--ini");

    /* Larger than 1 MiB. */
    size_t big_len = (1 << 20) + 10;
    char *big = malloc(big_len);
    if (big) {
        memset(big, ';', big_len);
        p = tmp_write_n("big.ini", big, big_len);
        free(big);
        snprintf(msg, sizeof(msg),
                 "herd: --ini: '%s' is larger than 1048576 bytes: not a config file?", p);
        ERR(msg, "--ini", p);
    }
#undef INI_ERR
}

static void test_environment(void)
{
    hd_config_t c;

    if (OK_ENV(&c, ENV("UWSGI_PROCESSES=4", "HERD_HTTP_SOCKET=:8000", "UWSGI_WSGI_FILE=a.py"),
               NULL))
        CHECK(c.processes == 4 && c.nsockets == 1 && strcmp(c.wsgi_file, "a.py") == 0);
    hd_config_free(&c);
    /* HERD_ wins over UWSGI_ whatever the order; the command line wins over both. */
    if (OK_ENV(&c, ENV("HERD_PROCESSES=5", "UWSGI_PROCESSES=4"), BASE))
        CHECK(c.processes == 5);
    hd_config_free(&c);
    if (OK_ENV(&c, ENV("UWSGI_PROCESSES=4", "HERD_WORKERS=5"), BASE))
        CHECK(c.processes == 5);
    hd_config_free(&c);
    if (OK_ENV(&c, ENV("UWSGI_PROCESSES=4", "HERD_PROCESSES=5"), BASE, "-p", "6"))
        CHECK(c.processes == 6);
    hd_config_free(&c);
    /* Aliases; flags with and without values; an empty flag is on. */
    if (OK_ENV(&c, ENV("UWSGI_WORKERS=3", "UWSGI_MASTER=1", "UWSGI_ENABLE_THREADS=",
                       "UWSGI_LAZY_APPS=false", "HERD_GC_FREEZE=on", "UWSGI_VENV=/v"),
               BASE))
        CHECK(c.processes == 3 && c.master && c.enable_threads && !c.lazy_apps && c.gc_freeze &&
              strcmp(c.home, "/v") == 0);
    hd_config_free(&c);
    /* A list takes one entry per variable, never split; the environment's
       come before the command line's; HERD_ replaces UWSGI_. */
    if (OK_ENV(&c, ENV("UWSGI_ENV=A=1 B=2", "UWSGI_PYTHONPATH=/u", "UWSGI_PP=/u2"), BASE, "--pp",
               "/cli")) {
        CHECK(LIST_IS(c.env, c.nenv, "A=1 B=2"));
        CHECK(LIST_IS(c.pythonpath, c.npythonpath, "/u", "/u2", "/cli"));
    }
    hd_config_free(&c);
    if (OK_ENV(&c, ENV("UWSGI_PYTHONPATH=/u", "HERD_PYTHONPATH=/h"), BASE))
        CHECK(LIST_IS(c.pythonpath, c.npythonpath, "/h"));
    hd_config_free(&c);
    if (OK_ENV(&c, ENV("UWSGI_SOCKET=:1", "UWSGI_HTTP=:2", "UWSGI_MODULE=m:f"), NULL)) {
        /* Table order: http-socket's row comes before socket's. */
        CHECK(c.nsockets == 2 && strcmp(c.sockets[0].addr, ":2") == 0 &&
              strcmp(c.sockets[1].addr, ":1") == 0);
        CHECK(strcmp(c.module, "m") == 0 && strcmp(c.callable, "f") == 0);
    }
    hd_config_free(&c);

    /* Variables naming no option are ignored: herd's own, uWSGI's, strays. */
    if (OK_ENV(&c, ENV("HERD_BIN=/x/herd", "HERD_REEXEC_FDS=3,4", "HERD_REEXEC_WORKERS=1",
                       "HERD_TEST_DIR=/tmp", "HERD_TEST_LIMIT=9", "HERD_TEST_TIMEOUT_SCALE=3",
                       "UWSGI_ORIGINAL_PROC_NAME=uwsgi", "UWSGI_RELOADS=2",
                       "UWSGI_VASSAL_FOO=1", "UWSGI_VERSION=2.0.21", "UWSGI_HELP=1",
                       "HERD_OPTIONS_MARKDOWN=1", "UWSGI_processes=9", "UWSGI_=x", "HERD_=",
                       "UWSGI_PROCESSES.X=1", "UWSGI_NOEQUALS", "PATH=/bin", "processes=9"),
               BASE))
        CHECK(c.processes == 1 && c.nsockets == 1);
    hd_config_free(&c);

    /* Errors name the variable. */
    ERR_ENV("herd: environment UWSGI_PROCESSES: processes: 'x' is not a number",
            ENV("UWSGI_PROCESSES=x"), BASE);
    ERR_ENV("herd: environment HERD_WORKERS: workers: '0' is out of range (1..1024)",
            ENV("HERD_WORKERS=0"), BASE);
    ERR_ENV("herd: environment HERD_CHDIR: chdir: empty value (chdir DIR)", ENV("HERD_CHDIR="),
            BASE);
    ERR_ENV("herd: environment UWSGI_MASTER: master: 'sure' is not a boolean (true/false, 1/0, "
            "yes/no, on/off)",
            ENV("UWSGI_MASTER=sure"), BASE);
    ERR_ENV("herd: environment UWSGI_ENV: env: 'X' is not KEY=VALUE", ENV("UWSGI_ENV=X"), BASE);
    ERR_ENV("herd: environment UWSGI_EMPEROR: emperor: not supported by herd: herd runs one app; "
            "manage several with systemd or another supervisor",
            ENV("UWSGI_EMPEROR=/etc/vassals"), BASE);
    ERR_ENV("herd: environment: UWSGI_WORKERS and UWSGI_PROCESSES both set processes; unset one",
            ENV("UWSGI_WORKERS=2", "UWSGI_PROCESSES=3"), BASE);
    /* ... unless HERD_ settles it. */
    if (OK_ENV(&c, ENV("UWSGI_WORKERS=2", "UWSGI_PROCESSES=3", "HERD_PROCESSES=4"), BASE))
        CHECK(c.processes == 4);
    hd_config_free(&c);
    /* The environment is read before the command line: its error comes first. */
    ERR_ENV("herd: environment UWSGI_THREADS: threads: 'x' is not a number",
            ENV("UWSGI_THREADS=x"), "--foo");

    /* UWSGI_INI: the file first, then the other variables, then argv. */
    const char *ini = tmp_write("env.ini", "[uwsgi]\nhttp-socket = :5\nwsgi-file = e.py\n"
                                           "processes = 3\nthreads = 3\nlisten = 3\n");
    char var[256], msg[512];
    snprintf(var, sizeof(var), "UWSGI_INI=%s", ini);
    if (OK_ENV(&c, ENV("UWSGI_THREADS=4", var, "HERD_LISTEN=5"), "--listen", "6"))
        CHECK(c.processes == 3 && c.threads == 4 && c.listen_backlog == 6 && c.nsockets == 1);
    hd_config_free(&c);
    /* A command-line --ini overrides the environment. */
    if (OK_ENV(&c, ENV("UWSGI_PROCESSES=4"), "--ini", ini))
        CHECK(c.processes == 3);
    hd_config_free(&c);
    ERR_ENV("herd: environment UWSGI_INI: ini: cannot read '/nonexistent/e.ini': No such file "
            "or directory",
            ENV("UWSGI_INI=/nonexistent/e.ini"), BASE);
    const char *bad = tmp_write("envbad.ini", "[uwsgi]\nthreads = x\n");
    snprintf(var, sizeof(var), "HERD_INI=%s", bad);
    snprintf(msg, sizeof(msg), "herd: %s:2: threads: 'x' is not a number", bad);
    ERR_ENV(msg, ENV(var), BASE);

    /* hd_config_parse_argv reads the process environment. */
    char *argv[] = {"herd", "--http-socket", ":1", "--wsgi-file", "a.py", NULL};
    capture_t cap;
    setenv("UWSGI_THREADS", "3", 1);
    setenv("HERD_BIN", "/nonexistent/herd", 1);
    hd_config_init(&c);
    capture_begin(&cap);
    int rc = hd_config_parse_argv(&c, 5, argv);
    capture_end(&cap);
    unsetenv("UWSGI_THREADS");
    CHECKF(rc == 0 && c.threads == 3, "rc %d threads %d: %s", rc, c.threads, err_buf);
    hd_config_free(&c);
}

/* out_buf without its comment lines. */
static void strip_comments(const char *in, char *out, size_t size)
{
    size_t n = 0;
    while (*in) {
        size_t len = strcspn(in, "\n") + (in[strcspn(in, "\n")] == '\n');
        if (in[0] != ';' && in[0] != '#' && n + len < size) {
            memcpy(out + n, in, len);
            n += len;
        }
        in += len;
    }
    out[n] = '\0';
}

static void test_print_config(void)
{
    hd_config_t c, again;
    char msg[512];

    int rc = parse_args(&c, ARGS(BASE, "--print-config"));
    CHECK(rc == 1 && err_buf[0] == '\0');
    CHECKF(strstr(out_buf, "\n[uwsgi]\n; command line\nhttp-socket = :8000\n; command line\n"
                           "wsgi-file = app.py\n") != NULL,
           "%s", out_buf);
    CHECK(strstr(out_buf, "processes") == NULL); /* defaults are left out */
    CHECK(strstr(out_buf, "print-config =") == NULL && strstr(out_buf, "show-config") == NULL);
    hd_config_free(&c);
    CHECK(parse_args(&c, ARGS(BASE, "--show-config")) == 1 && strstr(out_buf, "[uwsgi]"));
    hd_config_free(&c);
    if (OK(&c, BASE, "--print-config=false"))
        CHECK(c.nsockets == 1);
    hd_config_free(&c);
    /* The config must be valid to be printed. */
    ERR("herd: no socket given: use --http-socket ADDR", "--print-config");
    test_env = ENV("HERD_PRINT_CONFIG=1");
    CHECK(parse_args(&c, ARGS(BASE)) == 1 && strstr(out_buf, "[uwsgi]"));
    test_env = empty_env;
    hd_config_free(&c);

    /* Round trip: everything from every source, printed, read back, printed
       again: the same options. */
    const char *ini = tmp_write("rt.ini", "[uwsgi]\nsocket = :7001\nprocesses = 4\n"
                                          "pythonpath = /ini/%%lib\nlimit-post = 1m\n"
                                          "[herd]\nchain-reload = true\n");
    char *env[] = {"UWSGI_THREADS=3", "HERD_PYTHONPATH=/env", "UWSGI_ENV=A=$(NOT_EXPANDED)",
                   "HERD_DISABLE_LOGGING=1", NULL};
    test_env = env;
    rc = parse_args(&c, ARGS("--http-socket", ":7000", "--ini", ini, "--http", "[::1]:7002",
                             "--module", "pkg.app:make", "--chdir", "/srv/100%", "--master",
                             "-b", "64k", "--env", "B=x=y", "--home", "/v", "--print-config"));
    test_env = empty_env;
    CHECKF(rc == 1 && err_buf[0] == '\0', "rc %d: %s", rc, err_buf);
    static char printed[1 << 16], reprinted[1 << 16];
    memcpy(printed, out_buf, sizeof(printed));
    snprintf(msg, sizeof(msg), "; %s:2\nsocket = :7001\n", ini);
    CHECKF(strstr(printed, "; command line\nhttp-socket = :7000\n") && strstr(printed, msg) &&
               strstr(printed, "; command line\nhttp-socket = [::1]:7002\n"),
           "sockets in order with their sources:\n%s", printed);
    CHECK(strstr(printed, "; environment UWSGI_THREADS\nthreads = 3\n") != NULL);
    CHECK(strstr(printed, "pythonpath = /env\n") && strstr(printed, "pythonpath = /ini/%%lib\n"));
    CHECK(strstr(printed, "env = A=%$(NOT_EXPANDED)\n") && strstr(printed, "chdir = /srv/100%%\n"));
    CHECK(strstr(printed, "module = pkg.app\n") && strstr(printed, "\ncallable = make\n"));
    CHECK(strstr(printed, "buffer-size = 65536\n") && strstr(printed, "limit-post = 1048576\n"));
    snprintf(msg, sizeof(msg), "; %s:7\nchain-reload = true\n", ini);
    CHECKF(strstr(printed, msg) != NULL, "%s", printed);

    const char *back = tmp_write("printed.ini", printed);
    if (OK(&again, "--ini", back)) {
        CHECK(again.nsockets == 3 && again.processes == 4 && again.threads == 3);
        CHECK(again.master && again.disable_logging && again.chain_reload);
        CHECK(strcmp(again.chdir, "/srv/100%") == 0 && strcmp(again.callable, "make") == 0);
        CHECK(LIST_IS(again.env, again.nenv, "A=$(NOT_EXPANDED)", "B=x=y"));
        CHECK(LIST_IS(again.pythonpath, again.npythonpath, "/env", "/ini/%lib"));
        CHECK(again.buffer_size == c.buffer_size && again.limit_post == c.limit_post);
        for (size_t i = 0; i < c.nsockets && i < again.nsockets; i++)
            CHECK(strcmp(c.sockets[i].addr, again.sockets[i].addr) == 0 &&
                  c.sockets[i].proto == again.sockets[i].proto);
    }
    hd_config_free(&again);
    rc = parse_args(&again, ARGS("--ini", back, "--print-config"));
    CHECK(rc == 1);
    strip_comments(printed, reprinted, sizeof(reprinted));
    memcpy(printed, reprinted, sizeof(printed));
    strip_comments(out_buf, reprinted, sizeof(reprinted));
    CHECKF(strcmp(printed, reprinted) == 0, "round trip differs:\n%s---\n%s", printed, reprinted);
    hd_config_free(&again);
    hd_config_free(&c);

    /* A value an ini file cannot hold is named, not written wrong. */
    rc = parse_args(&c, ARGS(BASE, "--env", "D= spaced ", "--print-config"));
    CHECK(rc == 1);
    CHECKF(strstr(out_buf, "; env: its value cannot be written in an ini file (blanks at an "
                           "end, or a line break)\n") != NULL &&
               strstr(out_buf, "\nenv =") == NULL,
           "%s", out_buf);
    hd_config_free(&c);
}

/* ---- docs/options.md ------------------------------------------------------------------- */

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    size_t r;
    while (buf && (r = fread(buf + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            char *grown = realloc(buf, cap * 2);
            if (!grown) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = grown;
            cap *= 2;
        }
    }
    fclose(f);
    *len = n;
    return buf;
}

static void test_docs_fresh(void)
{
    FILE *tmp = tmpfile();
    if (!CHECK(tmp != NULL))
        return;
    hd_config_write_markdown(fileno(tmp));
    fflush(tmp);
    long want_len = lseek(fileno(tmp), 0, SEEK_END);
    lseek(fileno(tmp), 0, SEEK_SET);
    char *want = malloc((size_t)want_len + 1);
    ssize_t got = want ? read(fileno(tmp), want, (size_t)want_len) : -1;
    fclose(tmp);

    size_t have_len = 0;
    char *have = read_file(HD_DOCS_OPTIONS_MD, &have_len);
    bool fresh = want && got == want_len && have && have_len == (size_t)want_len &&
                 memcmp(have, want, have_len) == 0;
    CHECKF(fresh,
           "%s is stale (or missing): regenerate it with\n"
           "    %s --options-markdown > docs/options.md\n"
           "  (or ./herd --options-markdown > docs/options.md)",
           HD_DOCS_OPTIONS_MD, runner);
    free(want);
    free(have);
}

int main(int argc, char **argv)
{
    runner = argv[0];
    if (argc > 1 && strcmp(argv[1], "--options-markdown") == 0) {
        hd_config_write_markdown(1);
        return 0;
    }

    test_defaults();
    test_numbers();
    test_flags();
    test_strings();
    test_lists();
    test_sockets();
    test_app();
    test_validation();
    test_deploy_options();
    test_refused();
    test_help();
    test_apply();
    test_free();

    snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/herd-test-config-XXXXXX");
    if (!mkdtemp(tmp_dir)) {
        perror("mkdtemp");
        return 2;
    }
    test_ini_basics();
    test_ini_order();
    test_ini_placeholders();
    test_ini_includes();
    test_ini_errors();
    test_environment();
    test_print_config();
    tmp_clean();

    test_docs_fresh();

    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
