/*
 * cluster.c: parleyd's cluster mode glue (--redis). Parses the URL and the
 * durability mode, runs the blocking start-up check (redis_preflight),
 * makes the Redis engine the hub's storage, and reports its link and the
 * cluster's live nodes. The engine itself is db/redis/redis_storage.c.
 */
#include "cluster.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "redis_durability.h"
#include "redis_preflight.h"
#include "redis_storage.h"
#include "redis_url.h"
#include "server.h"

/* Redis keeps history in memory: a cluster is bounded by default. */
#define CLUSTER_RETAIN_DEFAULT 10000
#define CLUSTER_TIMEOUT_MS 2000

int cluster_open(struct server *srv)
{
    struct pl_config *cfg = srv->cfg;
    struct redis_storage_config rc;
    enum redis_durability want = REDIS_DURABILITY_STRICT;
    char why[512];

    memset(&rc, 0, sizeof(rc));
    if (redis_url_parse(cfg->redis_url, &rc.url, why, sizeof(why)) < 0) {
        log_error("--redis: %s", why);
        return -1;
    }
    if (cfg->cluster_durability != NULL &&
        redis_durability_parse(cfg->cluster_durability, &want) < 0) {
        log_error("--durability: unknown mode %s", cfg->cluster_durability);
        return -1;
    }
    if (redis_preflight(&rc.url, want, CLUSTER_TIMEOUT_MS, why, sizeof(why)) <
        0) {
        log_error("cluster mode: refusing to start: %s", why);
        return -1;
    }
    log_notice("cluster mode: Redis %s:%d/%d; %s", rc.url.host, rc.url.port,
               rc.url.db, why);
    if (cfg->retain_messages == 0) {
        cfg->retain_messages = CLUSTER_RETAIN_DEFAULT;
        log_notice("cluster mode: history is bounded to the newest %d "
                   "messages per topic (Redis holds it in memory; "
                   "--retain-messages N to change)", CLUSTER_RETAIN_DEFAULT);
    } else {
        log_notice("cluster mode: history keeps the newest %" PRId64
                   " messages per topic", cfg->retain_messages);
    }
    rc.timeout_ms = CLUSTER_TIMEOUT_MS;
    rc.retain_messages = cfg->retain_messages > UINT32_MAX
                             ? UINT32_MAX
                             : (uint32_t)cfg->retain_messages;
    rc.retain_age_ms = cfg->retain_age_ms;
    rc.dedupe_window_ms = cfg->dedupe_window_ms;
    rc.mqtt_session_ttl_ms = cfg->mqtt_session_expiry_ms;
    rc.node_ttl_ms = (uint32_t)cfg->node_ttl_ms;
    rc.beat_ms = rc.node_ttl_ms / 3;
    if (redis_storage_new(&srv->redis, &rc) < 0) {
        log_error("out of memory");
        return -1;
    }
    redis_storage_as_storage(srv->redis, &srv->storage);
    return 0;
}

void cluster_attach(struct server *srv)
{
    if (srv->redis != NULL)
        redis_storage_set_loop(srv->redis, srv->loop);
}

void cluster_metrics(struct server *srv, struct pl_buf *b)
{
    struct redis_storage_stats st;
    char line[3072];

    if (srv->redis == NULL)
        return;
    redis_storage_get_stats(srv->redis, &st);
    snprintf(line, sizeof(line),
             "# HELP parley_cluster_nodes Live nodes at the last heartbeat "
             "(-1: unknown).\n# TYPE parley_cluster_nodes gauge\n"
             "parley_cluster_nodes %lld\n"
             "# HELP parley_redis_up 1 while both Redis connections are "
             "ready.\n# TYPE parley_redis_up gauge\nparley_redis_up %d\n"
             "# TYPE parley_redis_link_drops_total counter\n"
             "parley_redis_link_drops_total %" PRIu64 "\n"
             "# TYPE parley_redis_timeouts_total counter\n"
             "parley_redis_timeouts_total %" PRIu64 "\n"
             "# TYPE parley_cluster_gap_filled_total counter\n"
             "parley_cluster_gap_filled_total %" PRIu64 "\n"
             "# TYPE parley_cluster_gap_lost_total counter\n"
             "parley_cluster_gap_lost_total %" PRIu64 "\n"
             "# TYPE parley_cluster_epoch_resets_total counter\n"
             "parley_cluster_epoch_resets_total %" PRIu64 "\n"
             "# HELP parley_cluster_ephemeral_relayed_total Ephemeral "
             "messages sent to the other nodes.\n"
             "# TYPE parley_cluster_ephemeral_relayed_total counter\n"
             "parley_cluster_ephemeral_relayed_total %" PRIu64 "\n"
             "# HELP parley_cluster_ephemeral_unsent_total Ephemeral "
             "messages delivered only here: Redis was out of reach.\n"
             "# TYPE parley_cluster_ephemeral_unsent_total counter\n"
             "parley_cluster_ephemeral_unsent_total %" PRIu64 "\n"
             "# TYPE parley_cluster_ephemeral_heard_total counter\n"
             "parley_cluster_ephemeral_heard_total %" PRIu64 "\n"
             "# HELP parley_cluster_marked_filled_total Moved read markers "
             "read back from the marked log after a gap.\n"
             "# TYPE parley_cluster_marked_filled_total counter\n"
             "parley_cluster_marked_filled_total %" PRIu64 "\n"
             "# HELP parley_cluster_marked_lost_total Moved read markers "
             "trimmed from the marked log before this node read them.\n"
             "# TYPE parley_cluster_marked_lost_total counter\n"
             "parley_cluster_marked_lost_total %" PRIu64 "\n"
             "# HELP parley_cluster_presence_told_total Joins and leaves "
             "told after a lost pub/sub connection, from a member re-read.\n"
             "# TYPE parley_cluster_presence_told_total counter\n"
             "parley_cluster_presence_told_total %" PRIu64 "\n",
             st.live_nodes, st.up ? 1 : 0, st.link_drops, st.timeouts,
             st.filled, st.lost, st.epoch_resets, st.relayed,
             st.relay_unsent, st.heard_ephemeral, st.marked_filled,
             st.marked_lost, st.presence_told);
    pl_buf_cstr(b, line);
}

long long cluster_live_nodes(struct server *srv)
{
    struct redis_storage_stats st;

    if (srv->redis == NULL)
        return 0;
    redis_storage_get_stats(srv->redis, &st);
    return st.live_nodes;
}

void cluster_free(struct server *srv)
{
    redis_storage_free(&srv->redis);
}
