/*
 * redis_relay.c: PUBLISH of ephemeral messages, and which heard copies a
 * node delivers (see redis_relay.h).
 */
#include "redis_relay.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Nothing waits for a relay: the reply (the receivers' count) is dropped,
 * and a timeout is the link's business (it remakes the connection). */
static void relay_done(const redisReply *reply, int err, void *ud)
{
    (void)reply;
    (void)err;
    (void)ud;
}

int redis_relay_send(struct redis_relay *r, struct redis_link *l,
                     const char *node, const struct storage_relay_msg *m)
{
    char chan[REDIS_NAME_MAX];
    const char *argv[3] = {"PUBLISH", chan, NULL};
    size_t argvlen[3];
    size_t len = 0;
    char *payload = NULL;
    int rc = 0;

    if (redis_layout_channel(chan, sizeof(chan), m->topic) < 0) {
        r->unsent++;
        return -ENAMETOOLONG;
    }
    payload = redis_event_ephemeral(node, r->sent + 1, m->ts, m->retain,
                                    m->from, m->data, m->data_len, m->raw,
                                    m->raw_len, &len);
    if (payload == NULL) {
        r->unsent++;
        return -ENOMEM;
    }
    argv[2] = payload;
    argvlen[0] = 7;
    argvlen[1] = strlen(chan);
    argvlen[2] = len;
    /* hiredis copies the command into its output buffer */
    rc = redis_link_command(l, relay_done, NULL, 3, argv, argvlen);
    free(payload);
    if (rc < 0) {
        r->unsent++;
        return rc;
    }
    r->sent++;
    return 0;
}

bool redis_relay_heard(struct redis_relay *r, const char *me,
                       const struct redis_event *ev)
{
    if (strlen(me) == ev->node_len && memcmp(me, ev->node, ev->node_len) == 0)
        return false;
    if (ev->node_len == r->last_node_len && ev->seq == r->last_n &&
        memcmp(ev->node, r->last_node, ev->node_len) == 0)
        return false;
    if (ev->node_len < sizeof(r->last_node)) {
        memcpy(r->last_node, ev->node, ev->node_len);
        r->last_node_len = ev->node_len;
        r->last_n = ev->seq;
    } else {
        r->last_node_len = 0; /* not a node id of ours: remember nothing */
    }
    return true;
}
