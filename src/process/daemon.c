/*
 * process/daemon: the parts of starting up that belong to the operating
 * system: --daemonize, --pidfile, --uid/--gid, and systemd's notification
 * protocol (sd_notify, spoken directly: a datagram to $NOTIFY_SOCKET).
 */
#include "process/process.h"

#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

int hd_daemonize(const char *logfile)
{
    pid_t pid = fork();
    if (pid < 0) {
        hd_log_errno("fork() failed for --daemonize");
        return -1;
    }
    if (pid > 0)
        _exit(0);
    setsid();
    pid = fork(); /* no longer a session leader: never gets a terminal again */
    if (pid < 0)
        _exit(1);
    if (pid > 0)
        _exit(0);
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        dup2(fd, 0);
        close(fd);
    }
    return hd_log_open(logfile);
}

static char hd_pidfile_path[4096];

int hd_pidfile_write(const char *path)
{
    char buf[32];
    int n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || write(fd, buf, (size_t)n) != n) {
        hd_log_errno("cannot write the pid file %s", path);
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    snprintf(hd_pidfile_path, sizeof(hd_pidfile_path), "%s", path);
    return 0;
}

void hd_pidfile_adopt(const char *path)
{
    snprintf(hd_pidfile_path, sizeof(hd_pidfile_path), "%s", path);
}

void hd_pidfile_remove(void)
{
    char buf[32] = "";
    if (hd_pidfile_path[0] == '\0')
        return;
    /* Only our own: a new instance may have taken the file over. */
    FILE *f = fopen(hd_pidfile_path, "r");
    if (f != NULL) {
        if (fgets(buf, sizeof(buf), f) != NULL && atoi(buf) == (int)getpid())
            unlink(hd_pidfile_path);
        fclose(f);
    }
}

/* A user or group given by name or number. */
static int hd_lookup_uid(const char *s, uid_t *uid, gid_t *gid, const char **name)
{
    struct passwd *pw = getpwnam(s);
    char *end;
    if (pw == NULL) {
        long n = strtol(s, &end, 10);
        if (*s == '\0' || *end != '\0' || n < 0)
            return -1;
        pw = getpwuid((uid_t)n);
        *uid = (uid_t)n;
        *gid = pw ? pw->pw_gid : (gid_t)n;
        *name = pw ? pw->pw_name : NULL;
        return 0;
    }
    *uid = pw->pw_uid;
    *gid = pw->pw_gid;
    *name = pw->pw_name;
    return 0;
}

static int hd_lookup_gid(const char *s, gid_t *gid)
{
    struct group *gr = getgrnam(s);
    char *end;
    if (gr != NULL) {
        *gid = gr->gr_gid;
        return 0;
    }
    long n = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || n < 0)
        return -1;
    *gid = (gid_t)n;
    return 0;
}

int hd_owner_parse(const char *spec, uid_t *uid, gid_t *gid)
{
    char user[256];
    const char *colon = strchr(spec, ':');
    const char *name;
    size_t n = colon ? (size_t)(colon - spec) : strlen(spec);
    if (n >= sizeof(user))
        return -1;
    memcpy(user, spec, n);
    user[n] = '\0';
    if (hd_lookup_uid(user, uid, gid, &name) < 0)
        return -1;
    if (colon && hd_lookup_gid(colon + 1, gid) < 0)
        return -1;
    return 0;
}

int hd_drop_privileges(const char *user, const char *group)
{
    uid_t uid = 0;
    gid_t gid = 0, ugid = 0;
    const char *name = NULL;

    if (user == NULL && group == NULL) {
        if (geteuid() == 0)
            hd_log(HD_LOG_WARN, "running as root: the app and the workers have every "
                                "privilege; use --uid and --gid to drop them");
        return 0;
    }
    if (user != NULL && hd_lookup_uid(user, &uid, &ugid, &name) < 0) {
        hd_log(HD_LOG_ERR, "--uid %s: no such user", user);
        return -1;
    }
    if (group != NULL && hd_lookup_gid(group, &gid) < 0) {
        hd_log(HD_LOG_ERR, "--gid %s: no such group", group);
        return -1;
    }
    if (group == NULL)
        gid = ugid;
    if (group != NULL || user != NULL) {
        /* Supplementary groups: the user's own, or just the one group. */
        if (name != NULL ? initgroups(name, gid) < 0 : setgroups(1, &gid) < 0) {
            hd_log_errno("setting the supplementary groups for --uid/--gid failed");
            return -1;
        }
        if (setgid(gid) < 0) {
            hd_log_errno("setgid(%d) failed", (int)gid);
            return -1;
        }
    }
    if (user != NULL && setuid(uid) < 0) {
        hd_log_errno("setuid(%d) failed", (int)uid);
        return -1;
    }
    hd_log(HD_LOG_INFO, "running as uid %d, gid %d", (int)getuid(), (int)getgid());
    return 0;
}

void hd_sd_notify(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un sun;
    size_t n;

    if (path == NULL || (path[0] != '/' && path[0] != '@') ||
        (n = strlen(path)) >= sizeof(sun.sun_path))
        return;
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    memcpy(sun.sun_path, path, n);
    if (path[0] == '@')
        sun.sun_path[0] = '\0'; /* abstract namespace */
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return;
    if (sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sun,
               (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n)) < 0)
        hd_log_errno("sd_notify to %s failed", path);
    close(fd);
}
