/*
 * cluster_none.c: cluster mode's glue in a build without hiredis: --redis
 * is refused, with what to install.
 */
#include "cluster.h"

#include "log.h"

int cluster_open(struct server *srv)
{
    (void)srv;
    log_error("--redis: this parleyd was built without cluster mode "
              "(install libhiredis-dev and rebuild)");
    return -1;
}

void cluster_attach(struct server *srv)
{
    (void)srv;
}

void cluster_metrics(struct server *srv, struct pl_buf *b)
{
    (void)srv;
    (void)b;
}

long long cluster_live_nodes(struct server *srv)
{
    (void)srv;
    return 0;
}

void cluster_free(struct server *srv)
{
    (void)srv;
}
