/*
 * net/listen: the listening sockets. Opened once, in the master, before any
 * fork; inherited by every worker (one shared accept queue, so a dying worker
 * takes no queued connection with it). Non-blocking, close-on-exec.
 */
#ifndef HD_NET_LISTEN_H
#define HD_NET_LISTEN_H

#include <stdbool.h>
#include <sys/socket.h>
#include <sys/types.h>

typedef struct hd_listener_s {
    int fd;
    int proto;            /* hd_proto_e of the config */
    bool is_unix;
    char name[128];       /* "127.0.0.1:8000", "[::1]:8000", "/run/app.sock" */
    char server_name[256]; /* SERVER_NAME: the bound host ("localhost" for unix) */
    char server_port[8];  /* SERVER_PORT: the bound port ("" for unix) */
    char *unix_path;      /* owned; unlinked by hd_listen_close */
    bool keep_path;       /* systemd's socket: never unlink it */
    bool adopted;         /* inherited (reload, systemd): not bound here */
} hd_listener_t;

/*
 * Opens and binds addr ("host:port", ":port", "[v6]:port", "/path"; port 0
 * picks a free one). Returns 0, or -1 with the reason logged.
 */
int hd_listen_open(hd_listener_t *l, const char *addr, int proto, int backlog);

/* Adopts an inherited listening socket (reload by re-exec, or systemd):
   fills the names from getsockname(). Returns 0 or -1 (logged). */
int hd_listen_adopt(hd_listener_t *l, int fd, int proto);

/* --chmod-socket (octal string, or NULL) and --chown-socket for a unix
   socket (no effect on others). Returns 0 or -1 (logged). */
int hd_listen_permissions(hd_listener_t *l, const char *mode, uid_t uid, gid_t gid,
                          bool chown_it);

/* Connections waiting in a TCP socket's accept queue (what `ss -lt` shows
   as Recv-Q), or -1 when unknown (unix sockets). One getsockopt(). */
int hd_listen_queued(const hd_listener_t *l);

/* Closes the socket; the master (owner == true) also unlinks a unix path. */
void hd_listen_close(hd_listener_t *l, bool owner);

#endif
