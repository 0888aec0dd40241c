/* core/log: see log.h. */
#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char hd_log_role[32] = "master";

void hd_log_set_role(const char *role)
{
    snprintf(hd_log_role, sizeof(hd_log_role), "%s", role);
}

static void hd_log_write_all(const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(2, buf, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return; /* nowhere left to report it */
        }
        buf += n;
        len -= (size_t)n;
    }
}

static void hd_log_v(int level, const char *suffix, const char *fmt, va_list ap)
{
    char line[4096];
    time_t now = time(NULL);
    struct tm tm;
    size_t off;
    int n;

    localtime_r(&now, &tm);
    off = strftime(line, sizeof(line), "%Y-%m-%d %H:%M:%S", &tm);
    n = snprintf(line + off, sizeof(line) - off, " herd[%d] %s: %s", (int)getpid(),
                 hd_log_role, level == HD_LOG_ERR ? "error: " : level == HD_LOG_WARN ? "warning: " : "");
    if (n > 0)
        off += (size_t)n;
    if (off < sizeof(line)) {
        n = vsnprintf(line + off, sizeof(line) - off, fmt, ap);
        if (n > 0)
            off += (size_t)n;
    }
    if (off >= sizeof(line) - 64)
        off = sizeof(line) - 64; /* truncated; keep room for the suffix */
    if (suffix) {
        n = snprintf(line + off, sizeof(line) - off, ": %s", suffix);
        if (n > 0)
            off += (size_t)n;
    }
    if (off >= sizeof(line))
        off = sizeof(line) - 1;
    line[off++] = '\n';
    hd_log_write_all(line, off);
}

void hd_log(int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    hd_log_v(level, NULL, fmt, ap);
    va_end(ap);
}

void hd_log_errno(const char *fmt, ...)
{
    char err[128];
    int saved = errno;
    va_list ap;

    /* GNU strerror_r returns the message, which may not be err itself. */
    const char *msg = strerror_r(saved, err, sizeof(err));
    va_start(ap, fmt);
    hd_log_v(HD_LOG_ERR, msg, fmt, ap);
    va_end(ap);
    errno = saved;
}

static char hd_log_path[4096];

int hd_log_open(const char *path)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) {
        hd_log_errno("cannot open the log file %s", path);
        return -1;
    }
    dup2(fd, 1);
    dup2(fd, 2);
    close(fd);
    snprintf(hd_log_path, sizeof(hd_log_path), "%s", path);
    return 0;
}

void hd_log_reopen(void)
{
    char path[sizeof(hd_log_path)];
    memcpy(path, hd_log_path, sizeof(path)); /* hd_log_open rewrites it */
    if (path[0] != '\0' && hd_log_open(path) == 0)
        hd_log(HD_LOG_INFO, "log file %s reopened", path);
}

void hd_log_raw(const char *line, size_t len)
{
    if (len > 0 && line[len - 1] == '\n') {
        hd_log_write_all(line, len);
        return;
    }
    char buf[4096];
    if (len < sizeof(buf)) {
        memcpy(buf, line, len);
        buf[len] = '\n';
        hd_log_write_all(buf, len + 1);
    } else {
        hd_log_write_all(line, len);
        hd_log_write_all("\n", 1);
    }
}
