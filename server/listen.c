/*
 * listen.c: the listening socket at shutdown. lws 4.1.6 has no call that
 * closes its listen socket and keeps the connections (lws_context_deprecate
 * would also destroy the context when the last connection goes, under our
 * own teardown), so we find the socket among our descriptors and close
 * it under lws: the kernel then refuses new connections, or, with
 * --reuse-port, gives them to the other processes listening on the port,
 * while lws keeps serving the open ones. Service thread only.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "server.h"

/* fd is a listening TCP socket bound to port. */
static bool is_listener_on(int fd, int port)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    int listening = 0;
    socklen_t olen = sizeof(listening);
    int bound = -1;

    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &olen) < 0 ||
        !listening)
        return false;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return false;
    if (ss.ss_family == AF_INET)
        bound = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    else if (ss.ss_family == AF_INET6)
        bound = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return bound == port;
}

/*
 * Close the listening socket fd while its number stays lws's: /dev/null
 * takes the number (dup2 closes the socket in the same step). Closing the
 * socket also drops it from epoll, so lws is never woken for it again
 * (a shut-down listener would wake it for ever, each accept failing);
 * lws closes the placeholder with its other descriptors at the end.
 */
static int close_under_lws(int fd)
{
    int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int rc = 0;

    if (null_fd < 0)
        return -errno;
    if (dup2(null_fd, fd) < 0)
        rc = -errno;
    close(null_fd);
    return rc;
}

int listen_stop(struct server *srv)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e = NULL;
    int found = 0;

    if (d == NULL)
        return -errno;
    while ((e = readdir(d)) != NULL) {
        char *end = NULL;
        long fd = strtol(e->d_name, &end, 10);

        if (end == e->d_name || *end != '\0' || fd == dirfd(d))
            continue;
        if (is_listener_on((int)fd, srv->port) &&
            close_under_lws((int)fd) == 0)
            found++;
    }
    closedir(d);
    if (found == 0)
        return -ENOENT;
    log_notice("stopped accepting connections on port %d", srv->port);
    return 0;
}
