/* net/listen: see listen.h. */
#include "net/listen.h"

#include "core/log.h"

static void hd_listen_name(hd_listener_t *l, const char *host);

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <stddef.h>
#include <sys/un.h>
#include <unistd.h>

static int hd_listen_unix(hd_listener_t *l, const char *path, int backlog)
{
    struct sockaddr_un sun;
    struct stat st;

    bool abstract = path[0] == '@';
    socklen_t slen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path));
    if (strlen(path) >= sizeof(sun.sun_path)) {
        hd_log(HD_LOG_ERR, "unix socket path too long: %s", path);
        return -1;
    }
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    memcpy(sun.sun_path, path, strlen(path));
    if (abstract)
        sun.sun_path[0] = '\0'; /* "@name": Linux's abstract namespace, no file */

    /* A stale socket file left by a crashed server: remove it, but only if
       nobody answers on it (never steal a live server's socket). */
    if (!abstract && stat(path, &st) == 0 && S_ISSOCK(st.st_mode)) {
        int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (probe >= 0 && connect(probe, (struct sockaddr *)&sun, sizeof(sun)) < 0 &&
            errno == ECONNREFUSED)
            unlink(path);
        if (probe >= 0)
            close(probe);
    }

    l->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (l->fd < 0) {
        hd_log_errno("socket(AF_UNIX) failed for %s", path);
        return -1;
    }
    if (bind(l->fd, (struct sockaddr *)&sun, abstract ? slen : sizeof(sun)) < 0) {
        hd_log_errno("bind() to %s failed", path);
        goto fail;
    }
    if (listen(l->fd, backlog) < 0) {
        hd_log_errno("listen() on %s failed", path);
        goto fail;
    }
    l->is_unix = true;
    l->unix_path = abstract ? NULL : strdup(path);
    snprintf(l->name, sizeof(l->name), "%s", path);
    /* PEP 3333: SERVER_NAME and SERVER_PORT are never empty. */
    snprintf(l->server_name, sizeof(l->server_name), "localhost");
    snprintf(l->server_port, sizeof(l->server_port), "80");
    return 0;
fail:
    close(l->fd);
    l->fd = -1;
    return -1;
}

static int hd_listen_inet(hd_listener_t *l, const char *addr, int backlog)
{
    char host[256];
    const char *colon = strrchr(addr, ':');
    const char *port;
    struct addrinfo hints, *res = NULL, *ai;
    int one = 1, rc;

    if (colon == NULL) {
        hd_log(HD_LOG_ERR, "bad socket address '%s': expected host:port, :port or a path", addr);
        return -1;
    }
    size_t hlen = (size_t)(colon - addr);
    if (hlen >= sizeof(host)) {
        hd_log(HD_LOG_ERR, "bad socket address '%s': host too long", addr);
        return -1;
    }
    memcpy(host, addr, hlen);
    host[hlen] = '\0';
    if (hlen >= 2 && host[0] == '[' && host[hlen - 1] == ']') {
        memmove(host, host + 1, hlen - 2);
        host[hlen - 2] = '\0';
    }
    port = colon + 1;
    if (*port == '\0' || strspn(port, "0123456789") != strlen(port) || atoi(port) > 65535) {
        hd_log(HD_LOG_ERR, "bad socket address '%s': bad port", addr);
        return -1;
    }

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
    if (rc != 0) {
        hd_log(HD_LOG_ERR, "cannot resolve socket address '%s': %s", addr, gai_strerror(rc));
        return -1;
    }
    /* ":port" means every IPv4 address, as in uWSGI; prefer the first result. */
    l->fd = -1;
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        if (host[0] == '\0' && ai->ai_family != AF_INET)
            continue;
        l->fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (l->fd < 0)
            continue;
        setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (ai->ai_family == AF_INET6)
            setsockopt(l->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
        if (bind(l->fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        hd_log_errno("bind() to %s failed", addr);
        close(l->fd);
        l->fd = -1;
    }
    freeaddrinfo(res);
    if (l->fd < 0)
        return -1;
    if (listen(l->fd, backlog) < 0) {
        hd_log_errno("listen() on %s failed", addr);
        close(l->fd);
        l->fd = -1;
        return -1;
    }
    setsockopt(l->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    /* Hand a connection to accept() only once its first bytes are in: a
       single-thread worker never takes a silent connection from the shared
       queue and then sits on it while another worker idles. */
    setsockopt(l->fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &one, sizeof(one));
    hd_listen_name(l, host[0] ? host : NULL);
    return 0;
}

/* Names a bound inet socket: "ip:port" / "[ip6]:port" (port 0 given at
   bind shows as the real port), SERVER_NAME and SERVER_PORT. */
static void hd_listen_name(hd_listener_t *l, const char *host)
{
    struct sockaddr_storage ss;
    socklen_t sslen = sizeof(ss);
    char ip[INET6_ADDRSTRLEN] = "?";
    int bport = 0;
    getsockname(l->fd, (struct sockaddr *)&ss, &sslen);
    if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
        bport = ntohs(s6->sin6_port);
        snprintf(l->name, sizeof(l->name), "[%s]:%d", ip, bport);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
        bport = ntohs(s4->sin_port);
        snprintf(l->name, sizeof(l->name), "%s:%d", ip, bport);
    }
    snprintf(l->server_name, sizeof(l->server_name), "%s", host ? host : ip);
    snprintf(l->server_port, sizeof(l->server_port), "%d", bport);
}

int hd_listen_adopt(hd_listener_t *l, int fd, int proto)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);

    memset(l, 0, sizeof(*l));
    l->fd = fd;
    l->proto = proto;
    int type = 0;
    socklen_t tl = sizeof(type);
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) < 0 || type != SOCK_STREAM) {
        hd_log(HD_LOG_ERR, "inherited fd %d is not a stream socket", fd);
        return -1;
    }
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
        hd_log_errno("getsockname() failed on inherited fd %d", fd);
        return -1;
    }
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    if (ss.ss_family == AF_UNIX) {
        struct sockaddr_un *sun = (struct sockaddr_un *)&ss;
        l->is_unix = true;
        if (sun->sun_path[0] == '\0') { /* abstract */
            snprintf(l->name, sizeof(l->name), "@%.*s",
                     (int)(sl - offsetof(struct sockaddr_un, sun_path) - 1), sun->sun_path + 1);
        } else {
            snprintf(l->name, sizeof(l->name), "%s", sun->sun_path);
            l->unix_path = strdup(sun->sun_path);
        }
        snprintf(l->server_name, sizeof(l->server_name), "localhost");
        snprintf(l->server_port, sizeof(l->server_port), "80");
        return 0;
    }
    hd_listen_name(l, NULL);
    return 0;
}

int hd_listen_open(hd_listener_t *l, const char *addr, int proto, int backlog)
{
    memset(l, 0, sizeof(*l));
    l->fd = -1;
    l->proto = proto;
    if (addr[0] == '@' || strchr(addr, '/') != NULL || strchr(addr, ':') == NULL)
        return hd_listen_unix(l, addr, backlog);
    return hd_listen_inet(l, addr, backlog);
}

int hd_listen_permissions(hd_listener_t *l, const char *mode, uid_t uid, gid_t gid,
                          bool chown_it)
{
    if (l->unix_path == NULL)
        return 0;
    if (mode != NULL && chmod(l->unix_path, (mode_t)strtol(mode, NULL, 8)) < 0) {
        hd_log_errno("chmod(%s, %s) failed for --chmod-socket", l->unix_path, mode);
        return -1;
    }
    if (chown_it && chown(l->unix_path, uid, gid) < 0) {
        hd_log_errno("chown(%s) failed for --chown-socket", l->unix_path);
        return -1;
    }
    return 0;
}

void hd_listen_close(hd_listener_t *l, bool owner)
{
    if (l->fd >= 0)
        close(l->fd);
    l->fd = -1;
    if (owner && l->unix_path && !l->keep_path)
        unlink(l->unix_path);
    free(l->unix_path);
    l->unix_path = NULL;
}

int hd_listen_queued(const hd_listener_t *l)
{
    struct tcp_info ti;
    socklen_t len = sizeof(ti);
    if (l->is_unix || getsockopt(l->fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0)
        return -1;
    return (int)ti.tcpi_unacked; /* of a listening socket: its accept queue */
}
