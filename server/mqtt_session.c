/*
 * mqtt_session.c: one MQTT 3.1.1 connection as a hub client (see
 * mqtt_session.h): CONNECT (auth, client id, takeover, will), PUBLISH in
 * as a hub pub with PUBACK/PUBREC after the commit, SUBSCRIBE and
 * UNSUBSCRIBE as hub subs, the hub's msg frames out as PUBLISH at the
 * highest granted QoS through the in-flight window (mqtt_inflight.c),
 * PINGREQ and DISCONNECT. Service thread only.
 *
 * DESIGN. The hub answers every command with an id exactly once, in
 * command order (a reply that waits for the store is a placeholder that
 * holds its place in the queue). So each command this session sends
 * with an id is remembered in a FIFO of pending operations, and the
 * reply with that id says how it ended: the ok of a QoS 1 pub is the
 * PUBACK, a sub's ok or error is one code of a SUBACK sent once every
 * filter of the SUBSCRIBE has its code. QoS 0 pubs carry no id and get
 * no reply. Nothing in the hub knows about MQTT beyond the connection's
 * origin.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cmd.h"
#include "log.h"
#include "mqtt.h"
#include "mqtt_inflight.h"
#include "mqtt_payload.h"
#include "mqtt_session.h"
#include "topic.h"

/* A client's QoS 2 publishes received and not yet released, at most:
 * clients keep 20 or so in flight; past this the connection closes. 768
 * bytes per connection. */
#define MQTT_QOS2_RX_MAX 256

/* What a pending hub command was, to turn its reply into MQTT. */
enum op_kind {
    OP_PUB1,  /* QoS 1 publish: PUBACK */
    OP_PUB2,  /* QoS 2 publish: PUBREC */
    OP_SUB,   /* one filter of a SUBSCRIBE */
    OP_UNSUB, /* one filter of an UNSUBSCRIBE */
    OP_REL,   /* a persistent session's PUBREL: PUBCOMP once committed */
};

/* A SUBSCRIBE or UNSUBSCRIBE waiting for its filters' replies. */
struct ack_wait {
    uint16_t packet_id;
    unsigned left; /* replies still to come */
    unsigned n;
    bool unsub;
    uint8_t codes[]; /* SUBACK: one per filter */
};

struct op {
    int64_t id; /* the hub command's id */
    enum op_kind kind;
    uint16_t packet_id;    /* OP_PUB1, OP_PUB2, OP_REL */
    uint8_t qos;           /* OP_SUB: asked for */
    unsigned index;        /* OP_SUB: the filter's place in the SUBACK */
    struct ack_wait *wait; /* OP_SUB, OP_UNSUB: shared by the filters */
    char *filter;          /* OP_SUB, OP_UNSUB: owned */
};

/* A filter this connection was granted, with its QoS. */
struct grant {
    struct grant *next;
    uint8_t qos;
    char filter[];
};

/* A QoS 1 or 2 PUBLISH in the window, kept whole for a resend, with
 * the topic and seq whose cursor its ack moves (topic: after bytes). */
struct out_pkt {
    size_t len;
    int64_t seq;
    const char *topic;
    unsigned char bytes[];
};

/* A topic being replayed to a resumed session: its first message tells
 * whether anything it missed is gone (seq past `next`); up to `fence`
 * it is a replayed message (at most QoS 1). */
struct resume_expect {
    struct resume_expect *next;
    int64_t next_seq;
    int64_t fence;
    bool seen;
    char topic[];
};

struct mqtt_session {
    struct hub *hub;
    struct conn *c;
    struct mqtt_ids *ids;
    struct mqtt_id_entry id_entry;
    struct mqtt_session_config cfg;
    struct pl_mqtt_reader reader;
    bool connected;
    bool said_disconnect;
    bool in_ids;
    uint16_t keepalive;
    char *client_id;
    /* the will, kept from CONNECT until the end */
    char *will_topic;
    unsigned char *will_payload;
    size_t will_len;
    bool will_retain;
    /* commands waiting for the hub's reply, oldest first (a ring) */
    struct op *ops;
    unsigned ops_head, ops_n, ops_cap;
    int64_t next_id;
    struct grant *grants;
    struct mqtt_saved *saved; /* clean session 0: what outlives us */
    struct resume_expect *expects;
    struct mqtt_inflight window;
    uint32_t owed_next; /* the sweep's PUBRELs sent: owed_each's walk */
    struct mqtt_qos2_rx qos2_rx;
    /* packets ready to write: out[out_off..out_len) */
    unsigned char *out;
    size_t out_off, out_len, out_cap;
    struct pl_buf scratch;
    /* Shared storage: CONNECT waits for the stored session (connect_read);
     * the input that came after it waits here, bounded. */
    bool loading;
    unsigned char *held;
    size_t held_len;
    bool close_after; /* a held DISCONNECT: close once written */
    /* Shared storage: this connection's claim of its client id came back
     * on the cluster's claim channel; another node's claim heard from
     * then on is newer and closes it, one heard before is older. */
    bool claim_settled;
};

/* Output kept below this before more is taken from the hub's queue. */
#define MQTT_OUT_HIGH (256 * 1024)

/* Input held while the session is read, at most (a client sends a few
 * packets before its CONNACK, if any). */
#define MQTT_HELD_MAX (64 * 1024)

/* Every session has counters to add to: the caller's, or this sink. */
static struct mqtt_stats stats_sink;

#define STAT(s) ((s)->cfg.stats != NULL ? (s)->cfg.stats : &stats_sink)

/* ------------------------------------------------------------------ */
/* output                                                              */
/* ------------------------------------------------------------------ */

/* Room for n more output bytes, or NULL (OOM). Written bytes count once
 * out_len is advanced by the caller. */
static unsigned char *out_room(struct mqtt_session *s, size_t n)
{
    if (s->out_off > 0 && s->out_off == s->out_len)
        s->out_off = s->out_len = 0;
    if (s->out_len + n > s->out_cap) {
        size_t cap = s->out_cap ? s->out_cap : 256;
        unsigned char *p = NULL;

        while (cap < s->out_len + n)
            cap *= 2;
        p = realloc(s->out, cap);
        if (p == NULL)
            return NULL;
        s->out = p;
        s->out_cap = cap;
    }
    return s->out + s->out_len;
}

static int out_put(struct mqtt_session *s, const void *p, size_t n)
{
    unsigned char *w = out_room(s, n);

    if (w == NULL)
        return -1;
    memcpy(w, p, n);
    s->out_len += n;
    return 0;
}

static int out_ack(struct mqtt_session *s, enum pl_mqtt_type type,
                   uint16_t packet_id)
{
    unsigned char b[4];
    size_t n = pl_mqtt_put_ack(b, sizeof(b), type, packet_id);

    return out_put(s, b, n);
}

const unsigned char *mqtt_session_output(const struct mqtt_session *s,
                                         size_t *len)
{
    static const unsigned char none[1];

    *len = s->out_len - s->out_off;
    return s->out != NULL ? s->out + s->out_off : none;
}

void mqtt_session_consume(struct mqtt_session *s, size_t n)
{
    s->out_off += n;
    if (s->out_off >= s->out_len)
        s->out_off = s->out_len = 0;
}

/* ------------------------------------------------------------------ */
/* pending operations                                                  */
/* ------------------------------------------------------------------ */

static struct op *op_push(struct mqtt_session *s)
{
    struct op *o = NULL;

    if (s->ops_n == s->ops_cap) {
        unsigned cap = s->ops_cap ? s->ops_cap * 2 : 16;
        struct op *ops = calloc(cap, sizeof(*ops));
        unsigned i = 0;

        if (ops == NULL)
            return NULL;
        for (i = 0; i < s->ops_n; i++)
            ops[i] = s->ops[(s->ops_head + i) % s->ops_cap];
        free(s->ops);
        s->ops = ops;
        s->ops_cap = cap;
        s->ops_head = 0;
    }
    o = &s->ops[(s->ops_head + s->ops_n) % s->ops_cap];
    memset(o, 0, sizeof(*o));
    o->id = ++s->next_id;
    s->ops_n++;
    return o;
}

/* Drop the wait when its last filter is done (or never sent). */
static void wait_unref(struct ack_wait **w)
{
    if (*w != NULL && (*w)->left == 0)
        free(*w);
    *w = NULL;
}

static void op_clear(struct op *o)
{
    free(o->filter);
    o->filter = NULL;
    if (o->wait != NULL) {
        /* Leaving for good: the last one out frees the wait. */
        o->wait->left = o->wait->left > 0 ? o->wait->left - 1 : 0;
        wait_unref(&o->wait);
    }
}

/* Take the pending operation with this id (normally the oldest) out of
 * the FIFO into *out. false when there is none. */
static bool op_take(struct mqtt_session *s, int64_t id, struct op *out)
{
    unsigned i = 0;

    for (i = 0; i < s->ops_n; i++) {
        struct op *o = &s->ops[(s->ops_head + i) % s->ops_cap];

        if (o->id != id)
            continue;
        *out = *o;
        /* The replies come in order, so this is the head but for
         * commands whose replies were lost with a culled queue. */
        for (; i > 0; i--)
            s->ops[(s->ops_head + i) % s->ops_cap] =
                s->ops[(s->ops_head + i - 1) % s->ops_cap];
        s->ops_head = (s->ops_head + 1) % s->ops_cap;
        s->ops_n--;
        return true;
    }
    return false;
}

/* ------------------------------------------------------------------ */
/* grants                                                              */
/* ------------------------------------------------------------------ */

static struct grant **grant_find(struct mqtt_session *s, const char *filter)
{
    struct grant **g = &s->grants;

    while (*g != NULL && strcmp((*g)->filter, filter) != 0)
        g = &(*g)->next;
    return g;
}

static int grant_set(struct mqtt_session *s, const char *filter, uint8_t qos)
{
    struct grant **g = grant_find(s, filter);
    size_t n = strlen(filter);

    if (*g != NULL) {
        (*g)->qos = qos;
        return 0;
    }
    *g = malloc(sizeof(**g) + n + 1);
    if (*g == NULL)
        return -1;
    (*g)->next = NULL;
    (*g)->qos = qos;
    memcpy((*g)->filter, filter, n + 1);
    return 0;
}

static void grant_drop(struct mqtt_session *s, const char *filter)
{
    struct grant **g = grant_find(s, filter);
    struct grant *dead = *g;

    if (dead != NULL) {
        *g = dead->next;
        free(dead);
    }
}

/* The QoS a message on topic goes out at: the highest granted among the
 * filters that match it (MQTT 3.3.5: we deliver once, at that QoS). */
static uint8_t grant_qos(const struct mqtt_session *s, const char *topic)
{
    const struct grant *g = NULL;
    uint8_t qos = 0;

    for (g = s->grants; g != NULL; g = g->next)
        if (g->qos > qos && pl_topic_match(g->filter, topic))
            qos = g->qos;
    return qos;
}

/* ------------------------------------------------------------------ */
/* persistent sessions (clean session 0)                               */
/* ------------------------------------------------------------------ */

/*
 * DESIGN. No offline queue: every message is in the log before anyone
 * receives it, so a session keeps, per topic, a cursor (mqtt_saved.c):
 * the last seq whose delivery the client completed (PUBACK, PUBCOMP)
 * or was sent at QoS 0. A SUBSCRIBE sets the cursor of every stored
 * topic it covers to that topic's seq then (nothing older is owed); a
 * topic with no cursor appeared later and is owed from its start. On
 * resume the window the last connection left unacknowledged is resent
 * first with DUP (in this process), then every filter is resumed
 * (hub_conn_resume) from the cursors, or from the window's newest seq of
 * a topic when that is later. A cursor written late means redelivery,
 * never loss. Packet ids come from a lease stored with the session
 * (lease_check), so that after a restart the ids a client may still hold
 * get their PUBREL (pid_attach) and none is reused before it.
 */

/* The session's gap topic into buf. */
static void gap_topic(const struct mqtt_session *s, char *buf, size_t cap)
{
    snprintf(buf, cap, MQTT_GAP_TOPIC_FMT, s->client_id);
}

static bool is_gap_filter(const struct mqtt_session *s, const char *filter)
{
    char t[PL_TOPIC_MAX + 64];

    gap_topic(s, t, sizeof(t));
    return s->saved != NULL && strcmp(filter, t) == 0;
}

/* A gap notice to this connection, at QoS 0, when it subscribed to its
 * gap topic; retained for the copy a SUBSCRIBE gets. */
static int send_gap(struct mqtt_session *s, const char *json, bool retained)
{
    char t[PL_TOPIC_MAX + 64];
    size_t len = strlen(json);
    size_t tlen = 0, hlen = 0;
    unsigned char *room = NULL;
    const struct grant *g = NULL;

    gap_topic(s, t, sizeof(t));
    for (g = s->grants; g != NULL && strcmp(g->filter, t) != 0; g = g->next)
        ;
    if (g == NULL)
        return 0;
    tlen = strlen(t);
    hlen = pl_mqtt_put_publish_header(NULL, 0, t, tlen, 0, false, retained, 0,
                                      len);
    room = hlen > 0 ? out_room(s, hlen + len) : NULL;
    if (room == NULL)
        return hlen > 0 ? -1 : 0;
    pl_mqtt_put_publish_header(room, hlen, t, tlen, 0, false, retained, 0,
                               len);
    memcpy(room + hlen, json, len);
    s->out_len += hlen + len;
    return 0;
}

/* Messages missed on topic, from..to, are no longer stored (retention):
 * the device is told, not lied to. Logged, counted, kept as the
 * session's last notice and sent when it subscribes to its gap topic. */
static int report_gap(struct mqtt_session *s, const char *topic, int64_t from,
                      int64_t to)
{
    struct pl_buf b;
    int rc = 0;

    STAT(s)->session_gaps++;
    log_warn("mqtt %s: resumed session missed %s seq %" PRId64 "..%" PRId64
             ", no longer stored (retention); gap notice sent",
             s->client_id, topic, from, to);
    if (pl_buf_init(&b, 128) < 0)
        return -1;
    pl_buf_cstr(&b, "{\"topic\":");
    pl_buf_json_str(&b, topic, strlen(topic));
    pl_buf_cstr(&b, ",\"from\":");
    pl_buf_int(&b, from);
    pl_buf_cstr(&b, ",\"to\":");
    pl_buf_int(&b, to);
    pl_buf_cstr(&b, ",\"reason\":\"not stored\"}");
    if (pl_buf_failed(&b)) {
        pl_buf_cleanup(&b);
        return -1;
    }
    free(s->saved->gap);
    s->saved->gap = strndup((const char *)pl_buf_data(&b), b.len);
    if (s->saved->gap != NULL)
        rc = send_gap(s, s->saved->gap, false);
    pl_buf_cleanup(&b);
    return rc;
}

static struct resume_expect *expect_find(struct mqtt_session *s,
                                         const char *topic)
{
    struct resume_expect *e = s->expects;

    while (e != NULL && strcmp(e->topic, topic) != 0)
        e = e->next;
    return e;
}

static void expect_drop(struct mqtt_session *s, struct resume_expect *dead)
{
    struct resume_expect **pp = &s->expects;

    while (*pp != NULL && *pp != dead)
        pp = &(*pp)->next;
    if (*pp != NULL)
        *pp = dead->next;
    free(dead);
}

/* A message on topic with seq is going out: a replay's first one tells
 * whether messages are gone; a replayed one goes at most at QoS 1 (a
 * stored message carries no exactly-once state for this subscriber, so
 * a crash may repeat it). Returns the QoS cap (2: none), -1 on OOM. */
static int expect_msg(struct mqtt_session *s, const char *topic, int64_t seq)
{
    struct resume_expect *e = s->saved != NULL ? expect_find(s, topic) : NULL;
    int cap = 2;

    if (e == NULL)
        return 2;
    if (!e->seen) {
        e->seen = true;
        if (seq > e->next_seq && report_gap(s, topic, e->next_seq, seq - 1) < 0)
            return -1;
    }
    if (seq <= e->fence)
        cap = 1;
    if (seq >= e->fence)
        expect_drop(s, e);
    return cap;
}

/* hub_conn_resume's question: from which seq does topic resume? */
static int64_t resume_cursor(void *arg, const char *topic, int64_t last_seq)
{
    struct mqtt_session *s = arg;
    int64_t from = 0;
    unsigned k = 0;
    const struct mqtt_inflight_entry *e = NULL;
    struct resume_expect *x = NULL;
    size_t n = strlen(topic);

    /* A topic that appeared later: all of it, and from now on it has a
     * cursor, so that a SUBSCRIBE during the replay does not move it. */
    if (!mqtt_saved_cursor(s->saved, topic, &from) &&
        mqtt_saved_cursor_set(s->cfg.saved, s->saved, topic, 0, true) < 0)
        return -1;
    /* What the window resends is not replayed again. */
    for (k = 0; (e = mqtt_inflight_at(&s->window, k)) != NULL; k++) {
        const struct out_pkt *p = e->item;

        if (p != NULL && p->seq > from && strcmp(p->topic, topic) == 0)
            from = p->seq;
    }
    if (from >= last_seq || expect_find(s, topic) != NULL)
        return from;
    x = malloc(sizeof(*x) + n + 1);
    if (x != NULL) {
        x->next_seq = from + 1;
        x->fence = last_seq;
        x->seen = false;
        memcpy(x->topic, topic, n + 1);
        x->next = s->expects;
        s->expects = x;
    }
    return from;
}

/* The window item whose exchange packet_id's ack ends (PUBACK at QoS 1,
 * PUBCOMP at QoS 2) moves its topic's cursor, unless an older delivery
 * of the same topic is still in flight (then that one's end moves it: a
 * crash now repeats, never skips). Not PUBREC: a receiver may hand a
 * QoS 2 message on only at PUBREL, so after a crash between PUBREC and
 * PUBCOMP it is sent again (at QoS 1, from the log), not skipped. */
static void window_acked(struct mqtt_session *s, uint16_t packet_id)
{
    const struct mqtt_inflight_entry *e = NULL;
    const struct out_pkt *p = NULL;
    unsigned k = 0;

    if (s->saved == NULL)
        return;
    e = mqtt_inflight_get(&s->window, packet_id);
    if (e == NULL || e->item == NULL ||
        e->state != (e->qos == 1 ? MQTT_INFLIGHT_WAIT_ACK
                                 : MQTT_INFLIGHT_WAIT_COMP))
        return;
    p = e->item;
    for (k = 0; (e = mqtt_inflight_at(&s->window, k)) != NULL; k++) {
        const struct out_pkt *o = e->item;

        if (o != NULL && o != p && e->state != MQTT_INFLIGHT_FREE &&
            o->seq < p->seq && strcmp(o->topic, p->topic) == 0)
            return;
    }
    mqtt_saved_cursor_set(s->cfg.saved, s->saved, p->topic, p->seq, false);
}

/* A SUBSCRIBE's starting point: every stored topic it covers owes
 * nothing up to its seq now, but for a topic a resume is replaying (a
 * device that subscribes again at each connect must not skip the rest
 * of that replay if it goes again). */
static void sub_cursor(void *arg, const char *topic, int64_t seq)
{
    struct mqtt_session *s = arg;

    if (expect_find(s, topic) == NULL)
        mqtt_saved_cursor_set(s->cfg.saved, s->saved, topic, seq, true);
}

/* The connection is going (or taken over): its unacknowledged window
 * stays with the saved session for the next connection. */
static void session_park(struct mqtt_session *s)
{
    struct mqtt_saved *sv = s->saved;

    s->saved = NULL;
    if (sv != NULL) {
        mqtt_saved_attach(s->cfg.saved, sv, false);
        sv->pid_issued = s->window.issued; /* ids go on from there */
    }
    if (sv == NULL || mqtt_inflight_count(&s->window) == 0)
        return;
    if (sv->has_window)
        mqtt_inflight_cleanup(&sv->window);
    sv->window = s->window;
    sv->has_window = true;
    memset(&s->window, 0, sizeof(s->window));
}

static void resend_one(const struct mqtt_inflight_entry *e, void *arg)
{
    struct mqtt_session *s = arg;
    const struct out_pkt *p = e->item;
    unsigned char *room = NULL;

    if (e->state == MQTT_INFLIGHT_WAIT_COMP) {
        out_ack(s, PL_MQTT_PUBREL, e->packet_id);
        return;
    }
    room = p != NULL ? out_room(s, p->len) : NULL;
    if (room == NULL)
        return;
    memcpy(room, p->bytes, p->len);
    room[0] |= 0x08; /* DUP: the client may have seen it (3.3.1.1) */
    s->out_len += p->len;
}

static void send_owed(uint16_t pid, void *arg)
{
    out_ack(arg, PL_MQTT_PUBREL, pid);
}

/* PUBRELs of a restart's sweep per step: 16 KiB of output. */
#define MQTT_OWED_STEP 4096

/* The next step of the sweep's PUBRELs this connection has not sent yet
 * (paced, since a session stored with no lease owes one for every id).
 * True when some are still to send. */
static bool owed_step(struct mqtt_session *s)
{
    const struct mqtt_pid_owed *o = s->saved != NULL ? &s->saved->owed : NULL;

    if (o == NULL || s->owed_next >= o->n)
        return false;
    if (s->out_len - s->out_off < MQTT_OUT_HIGH)
        mqtt_pid_owed_each(o, &s->owed_next, MQTT_OWED_STEP, send_owed, s);
    return s->owed_next < o->n;
}

/*
 * Packet ids of a persistent session come from its lease (mqtt_inflight.h,
 * "Packet id leases"): the window hands out none past the lease committed,
 * and a new one is asked for in time. Called before each QoS 1/2
 * delivery; when the lease is used up the delivery waits, as for a full
 * window, and the commit wakes the connection (mqtt_saved's leased hook).
 */
static void lease_check(struct mqtt_session *s)
{
    struct mqtt_saved *sv = s->saved;
    uint64_t oldest = 0, owed = 0, next = 0;

    if (sv == NULL)
        return;
    s->window.lease = sv->pid_lease;
    if (sv->pid_want > sv->pid_lease)
        return; /* asked, not committed yet */
    if (s->window.issued + MQTT_PID_LEASE_STEP / 2 < sv->pid_lease)
        return; /* not due: no walk of the window per delivery */
    oldest = mqtt_inflight_oldest_qos2(&s->window);
    owed = mqtt_pid_owed_oldest(&sv->owed);
    next = mqtt_pid_lease_next(s->window.issued, sv->pid_lease,
                               owed < oldest ? owed : oldest, s->window.cap);
    if (next != 0)
        mqtt_saved_lease_ask(s->cfg.saved, sv, next);
}

/* The session's ids continue where its last connection left them; after
 * a restart, above the stored lease, with a PUBREL owed for every id the
 * client may still hold (mqtt_saved_sweep). */
static int pid_attach(struct mqtt_session *s)
{
    struct mqtt_saved *sv = s->saved;

    if (mqtt_saved_sweep(sv, s->window.cap) < 0)
        return -1;
    s->window.issued = sv->pid_issued;
    s->window.lease = sv->pid_lease;
    return 0;
}

/* CONNACK with session present went out: resend the PUBRELs still owed
 * from a restart and the window, restore the grants and resume every
 * filter from its cursors. */
static int session_resume(struct mqtt_session *s)
{
    struct mqtt_saved *sv = s->saved;
    size_t i = 0;

    if (pid_attach(s) < 0)
        return -1;
    s->owed_next = 0;
    owed_step(s);
    if (sv->has_window) {
        mqtt_inflight_cleanup(&s->window);
        s->window = sv->window;
        s->window.lease = sv->pid_lease;
        sv->has_window = false;
        memset(&sv->window, 0, sizeof(sv->window));
        mqtt_inflight_resend(&s->window, 0, 0, resend_one, s);
    }
    for (i = 0; i < sv->n_subs; i++)
        if (grant_set(s, sv->subs[i].filter, sv->subs[i].qos) < 0)
            return -1;
    for (i = 0; i < sv->n_subs;) {
        const char *f = sv->subs[i].filter;
        enum pl_err err = PL_OK;

        if (is_gap_filter(s, f)) {
            i++;
            continue;
        }
        err = hub_conn_resume(s->hub, s->c, f, resume_cursor, s);
        if (err == PL_OK) {
            i++;
            continue;
        }
        if (err == PL_ERR_INTERNAL)
            return -1;
        /* Refused now (a token with other rights): no longer granted. */
        log_info("mqtt %s: stored subscription %s not resumed (%s)",
                 s->client_id, f, pl_err_code(err));
        grant_drop(s, f);
        mqtt_saved_sub_drop(s->cfg.saved, sv, f);
    }
    STAT(s)->sessions_resumed++;
    return 0;
}

/* ------------------------------------------------------------------ */
/* commands to the hub                                                 */
/* ------------------------------------------------------------------ */

static void hub_command(struct mqtt_session *s, enum pl_op op, int64_t id,
                        char *topic, const char *data, size_t data_len,
                        bool data_is_null, bool retain)
{
    struct pl_cmd cmd;

    memset(&cmd, 0, sizeof(cmd));
    cmd.op = op;
    cmd.id = id;
    cmd.topic = topic;
    cmd.topic_len = topic != NULL ? strlen(topic) : 0;
    cmd.data = (char *)data;
    cmd.data_len = data_len;
    cmd.data_is_null = data_is_null;
    cmd.retain = retain;
    hub_conn_cmd(s->hub, s->c, &cmd);
}

/* A copy of an MQTT string as a NUL-terminated C string (NULL on OOM). */
static char *bytes_dup(const struct pl_mqtt_bytes *b)
{
    char *p = malloc(b->len + 1);

    if (p != NULL) {
        if (b->len > 0)
            memcpy(p, b->p, b->len);
        p[b->len] = '\0';
    }
    return p;
}

/* Publish payload on topic (a valid Parley topic) from connection c as a
 * hub pub with id (0: no reply). An empty retained payload clears the
 * retained value (data null, as a JSON pub with retain and null does). */
static int publish(struct mqtt_session *s, struct conn *c, int64_t id,
                   char *topic, const void *payload, size_t len, bool retain,
                   uint16_t qos2_id)
{
    struct pl_buf *b = &s->scratch;
    struct pl_cmd cmd;
    int needs_raw = 0;

    pl_buf_reset(b);
    if (retain && len == 0)
        pl_buf_cstr(b, "null");
    else
        pl_mqtt_payload_to_data(b, payload, len, s->cfg.max_depth);
    if (pl_buf_failed(b))
        return -1;
    memset(&cmd, 0, sizeof(cmd));
    cmd.op = PL_OP_PUB;
    cmd.id = id;
    cmd.topic = topic;
    cmd.topic_len = strlen(topic);
    cmd.data = (char *)pl_buf_data(b);
    cmd.data_len = b->len;
    cmd.data_is_null = retain && len == 0;
    cmd.retain = retain;
    /* Bytes the data mapping would not give back travel with the message,
     * so MQTT subscribers get exactly what was published. */
    needs_raw = pl_mqtt_payload_needs_raw(payload, len, cmd.data, cmd.data_len);
    if (needs_raw < 0)
        return -1;
    if (needs_raw) {
        cmd.raw = payload;
        cmd.raw_len = len;
    }
    /* A persistent session's QoS 2 publish is stored once, also across
     * a crash: the store keeps its packet id with it until PUBREL. */
    if (qos2_id != 0 && s->saved != NULL) {
        cmd.qos2_client = s->client_id;
        cmd.qos2_id = qos2_id;
    }
    hub_conn_cmd(s->hub, c, &cmd);
    return 0;
}

/* ------------------------------------------------------------------ */
/* packets in                                                          */
/* ------------------------------------------------------------------ */

static int refuse_connect(struct mqtt_session *s, uint8_t rc)
{
    unsigned char b[4];
    size_t n = pl_mqtt_put_connack(b, sizeof(b), false, rc);

    log_info("mqtt conn %" PRIu64 ": CONNECT refused (%u)", s->c->id, rc);
    STAT(s)->connects_refused++;
    return out_put(s, b, n) < 0 ? MQTT_FEED_ERROR : MQTT_FEED_CLOSE;
}

/* With --secret, the password is a Parley JWT; its sub is the user. Without
 * it, the user name (if any) names the connection, as hello's name does. */
static int connect_auth(struct mqtt_session *s, const struct pl_mqtt_connect *k)
{
    char *secret = NULL;
    enum pl_err err = PL_OK;

    if (!hub_auth_enabled(s->hub)) {
        if (k->has_username && k->username.len > 0 && k->username.len <= 64) {
            struct pl_cmd cmd;

            memset(&cmd, 0, sizeof(cmd));
            cmd.op = PL_OP_HELLO;
            cmd.name = bytes_dup(&k->username);
            if (cmd.name == NULL)
                return -1;
            hub_conn_cmd(s->hub, s->c, &cmd);
            free(cmd.name);
        }
        return PL_MQTT_CONNACK_ACCEPTED;
    }
    if (!k->has_password)
        return PL_MQTT_CONNACK_NOT_AUTHORIZED;
    secret = bytes_dup(&k->password);
    if (secret == NULL)
        return -1;
    err = hub_conn_token(s->hub, s->c, secret);
    free(secret);
    return err == PL_OK ? PL_MQTT_CONNACK_ACCEPTED : PL_MQTT_CONNACK_BAD_AUTH;
}

/* o's connection is closed for a newer one with its id (its will goes,
 * as it did not say DISCONNECT); why names where that one is. */
static void close_taken(struct mqtt_session *o, const char *why)
{
    log_info("mqtt: client id %s taken over (conn %" PRIu64 " closes: %s)",
             o->client_id, o->c->id, why);
    mqtt_ids_remove(o->ids, &o->id_entry);
    o->in_ids = false;
    session_park(o);
    STAT(o)->takeovers++;
    hub_conn_kill(o->hub, o->c, 1000);
}

/* The client id's live session, if any, is taken over, here or (shared
 * storage) on another node, and this one takes the id. */
static void connect_take_over(struct mqtt_session *s)
{
    struct mqtt_id_entry *old = mqtt_ids_find(s->ids, s->client_id);

    if (old != NULL)
        close_taken(old->owner, "a new connection on this node");
    s->id_entry.id = s->client_id;
    s->id_entry.owner = s;
    mqtt_ids_add(s->ids, &s->id_entry);
    s->in_ids = true;
    /* Not sent (no cluster, or Redis out of reach): no claim of ours will
     * come back to order the others by. */
    s->claim_settled = storage_mqtt_claim(s->cfg.storage, s->client_id) != 0;
}

/* The session is known (present: it was stored): hold it, CONNACK,
 * and resume it. */
static int connect_finish(struct mqtt_session *s, bool present)
{
    unsigned char b[4];

    if (s->saved != NULL) {
        /* Held from here on (never expired under us), until park. */
        mqtt_saved_attach(s->cfg.saved, s->saved, true);
        if (present && mqtt_saved_set_user(s->cfg.saved, s->saved,
                                           s->c->user) < 0)
            return MQTT_FEED_ERROR;
    }
    if (out_put(s, b, pl_mqtt_put_connack(b, sizeof(b), present, 0)) < 0)
        return MQTT_FEED_ERROR;
    if (present && session_resume(s) < 0)
        return MQTT_FEED_ERROR;
    if (!present && s->saved != NULL && pid_attach(s) < 0)
        return MQTT_FEED_ERROR;
    log_debug("mqtt conn %" PRIu64 ": connected as %s (user %s%s)", s->c->id,
              s->client_id, s->c->user, present ? ", session resumed" : "");
    return MQTT_FEED_OK;
}

static void connect_loaded(void *ctx, struct store_job *job);

/* Shared storage (cluster mode): the session is read from the store
 * first, wherever the client was connected before; CONNACK waits for it,
 * and what the client sends meanwhile waits in `held`. */
static int connect_read(struct mqtt_session *s)
{
    struct store_job *job =
        mqtt_saved_read_job(s->client_id, connect_loaded, s->ids);

    if (job == NULL || s->cfg.storage == NULL) {
        store_job_free(&job);
        return MQTT_FEED_ERROR;
    }
    job->conn_id = s->c->id;
    s->loading = true;
    storage_submit(s->cfg.storage, job);
    return MQTT_FEED_OK;
}

static int on_connect(struct mqtt_session *s, const struct pl_mqtt_connect *k)
{
    char name[40];
    bool present = false;
    int rc = 0;

    if (k->client_id.len == 0) {
        snprintf(name, sizeof(name), "auto-%" PRIu64, s->c->id);
        s->client_id = strdup(name);
    } else {
        s->client_id = bytes_dup(&k->client_id);
    }
    if (s->client_id == NULL)
        return MQTT_FEED_ERROR;
    rc = connect_auth(s, k);
    if (rc < 0)
        return MQTT_FEED_ERROR;
    if (rc != PL_MQTT_CONNACK_ACCEPTED)
        return refuse_connect(s, (uint8_t)rc);
    if (s->cfg.saved != NULL && !k->clean_session &&
        mqtt_saved_full(s->cfg.saved) &&
        mqtt_saved_find(s->cfg.saved, s->client_id) == NULL) {
        log_warn("mqtt: %u persistent sessions stored, the most kept: "
                 "client id %s refused (clean session 1 still works)",
                 (unsigned)MQTT_SAVED_MAX, s->client_id);
        return refuse_connect(s, PL_MQTT_CONNACK_UNAVAILABLE);
    }
    if (k->will) {
        s->will_topic = bytes_dup(&k->will_topic);
        s->will_payload = malloc(k->will_message.len + 1);
        if (s->will_topic == NULL || s->will_payload == NULL)
            return MQTT_FEED_ERROR;
        if (k->will_message.len > 0)
            memcpy(s->will_payload, k->will_message.p, k->will_message.len);
        s->will_len = k->will_message.len;
        s->will_retain = k->will_retain;
    }
    connect_take_over(s);
    s->keepalive = k->keepalive;
    s->connected = true;
    STAT(s)->connects++;
    /* Clean session 1 ends a stored session (3.1.2.4); 0 resumes it or
     * starts one. Without a table 0 is served as 1. */
    if (s->cfg.saved != NULL && k->clean_session) {
        mqtt_saved_drop(s->cfg.saved, s->client_id);
    } else if (s->cfg.saved != NULL) {
        s->saved = mqtt_saved_find(s->cfg.saved, s->client_id);
        present = s->saved != NULL;
        /* Shared storage: one held here (a takeover on this node) is the
         * newest; else the store has the truth. */
        if (!present && s->cfg.saved->shared)
            return connect_read(s);
        if (!present)
            s->saved =
                mqtt_saved_add(s->cfg.saved, s->client_id, s->c->user);
        if (s->saved == NULL)
            return MQTT_FEED_ERROR;
    }
    return connect_finish(s, present);
}

static int on_publish(struct mqtt_session *s, const struct pl_mqtt_publish *p)
{
    char topic[PL_TOPIC_MAX + 1];
    struct op *o = NULL;
    int verdict = 0;
    uint16_t qos2_id = 0;

    if (p->qos == 2) {
        verdict = mqtt_qos2_rx_publish(&s->qos2_rx, p->packet_id);
        if (verdict < 0)
            return MQTT_FEED_ERROR; /* more unreleased than allowed */
        if (verdict == MQTT_QOS2_RX_STORING)
            return MQTT_FEED_OK; /* PUBREC follows the first's commit */
        if (verdict == MQTT_QOS2_RX_STORED)
            return out_ack(s, PL_MQTT_PUBREC, p->packet_id) < 0
                       ? MQTT_FEED_ERROR
                       : MQTT_FEED_OK;
    }
    /*
     * A topic MQTT allows and Parley does not (an empty level as in "/a",
     * over 255 bytes): MQTT 3.1.1 has no negative ack, so, as Mosquitto
     * does for a publish its ACL refuses, it is acknowledged and dropped,
     * and said in the log.
     */
    if (p->topic.len > PL_TOPIC_MAX ||
        pl_topic_validate((const char *)p->topic.p, p->topic.len, false) !=
            PL_OK) {
        STAT(s)->publishes_dropped++;
        log_info("mqtt conn %" PRIu64 ": dropped a PUBLISH to a topic "
                 "Parley refuses (%.*s)",
                 s->c->id, (int)(p->topic.len > 64 ? 64 : p->topic.len),
                 p->topic.p);
        if (p->qos == 2)
            mqtt_qos2_rx_stored(&s->qos2_rx, p->packet_id);
        if (p->qos == 0)
            return MQTT_FEED_OK;
        return out_ack(s, p->qos == 1 ? PL_MQTT_PUBACK : PL_MQTT_PUBREC,
                       p->packet_id) < 0
                   ? MQTT_FEED_ERROR
                   : MQTT_FEED_OK;
    }
    memcpy(topic, p->topic.p, p->topic.len);
    topic[p->topic.len] = '\0';
    if (p->qos > 0) {
        o = op_push(s);
        if (o == NULL)
            return MQTT_FEED_ERROR;
        o->kind = p->qos == 1 ? OP_PUB1 : OP_PUB2;
        o->packet_id = p->packet_id;
    }
    qos2_id = p->qos == 2 ? p->packet_id : 0;
    if (publish(s, s->c, o != NULL ? o->id : 0, topic, p->payload.p,
                p->payload.len, p->retain, qos2_id) < 0)
        return MQTT_FEED_ERROR;
    return MQTT_FEED_OK;
}

/* A SUBSCRIBE's or UNSUBSCRIBE's answer, once every filter has one. */
static int wait_done(struct mqtt_session *s, struct ack_wait *w)
{
    size_t n = 0;
    unsigned char *room = NULL;

    if (w->unsub)
        return out_ack(s, PL_MQTT_UNSUBACK, w->packet_id);
    n = pl_mqtt_put_suback(NULL, 0, w->packet_id, w->codes, w->n);
    room = out_room(s, n);
    if (room == NULL)
        return -1;
    pl_mqtt_put_suback(room, n, w->packet_id, w->codes, w->n);
    s->out_len += n;
    return 0;
}

/* A SUBSCRIBE naming the gap topic gets the last notice, retained.
 * (Sent at once: the SUBACK may still wait for the hub's other replies,
 * and MQTT lets a PUBLISH come before it, 3.8.4.) */
static int gap_after_suback(struct mqtt_session *s,
                            const struct pl_mqtt_filters *f)
{
    struct pl_mqtt_filter_iter it;
    struct pl_mqtt_bytes filter;
    char t[PL_TOPIC_MAX + 64];
    uint8_t qos = 0;

    gap_topic(s, t, sizeof(t));
    pl_mqtt_filters_begin(&it, f);
    while (pl_mqtt_filters_next(&it, &filter, &qos))
        if (filter.len == strlen(t) && memcmp(filter.p, t, filter.len) == 0)
            return send_gap(s, s->saved->gap, true);
    return 0;
}

/* The session's own gap topic: granted here at QoS 0 (the hub has no
 * `$parley` topics), with the last notice as a retained copy. */
static int on_gap_filter(struct mqtt_session *s, const char *f, bool unsub,
                         uint8_t *code)
{
    if (unsub) {
        grant_drop(s, f);
        mqtt_saved_sub_drop(s->cfg.saved, s->saved, f);
        return 0;
    }
    if (grant_set(s, f, 0) < 0 ||
        mqtt_saved_sub_set(s->cfg.saved, s->saved, f, 0) < 0)
        return -1;
    *code = 0;
    return 0;
}

static int on_filters(struct mqtt_session *s, const struct pl_mqtt_filters *f)
{
    struct ack_wait *w = calloc(1, sizeof(*w) + f->count);
    struct pl_mqtt_filter_iter it;
    struct pl_mqtt_bytes filter;
    uint8_t qos = 0;
    unsigned i = 0;
    int rc = 0;

    if (w == NULL)
        return MQTT_FEED_ERROR;
    w->packet_id = f->packet_id;
    w->n = f->count;
    w->unsub = !f->with_qos;
    w->left = 1; /* our own hold while the filters are sent */
    pl_mqtt_filters_begin(&it, f);
    for (i = 0; pl_mqtt_filters_next(&it, &filter, &qos); i++) {
        struct op *o = NULL;
        char *name = NULL;

        w->codes[i] = PL_MQTT_SUBACK_FAILURE;
        if (filter.len <= PL_TOPIC_MAX + 32 && s->saved != NULL) {
            char fname[PL_TOPIC_MAX + 64];

            memcpy(fname, filter.p, filter.len);
            fname[filter.len] = '\0';
            if (is_gap_filter(s, fname)) {
                rc = on_gap_filter(s, fname, w->unsub, &w->codes[i]);
                if (rc < 0)
                    break;
                continue;
            }
        }
        if (filter.len > PL_TOPIC_MAX ||
            pl_topic_validate((const char *)filter.p, filter.len, true) !=
                PL_OK)
            continue; /* 0x80 for a filter Parley refuses */
        name = bytes_dup(&filter);
        o = name != NULL ? op_push(s) : NULL;
        if (o == NULL) {
            free(name);
            rc = -1;
            break;
        }
        o->kind = w->unsub ? OP_UNSUB : OP_SUB;
        o->qos = qos;
        o->index = i;
        o->wait = w;
        o->filter = name;
        w->left++;
        hub_command(s, w->unsub ? PL_OP_UNSUB : PL_OP_SUB, o->id, name, NULL, 0,
                    false, false);
        /* Shared storage: a topic's cursor starts at the seq its sub's
         * reply gives (on_reply), the cluster's; this node's own may be
         * old, or it may not know the topic yet. */
        if (!w->unsub && s->saved != NULL &&
            (!s->cfg.saved->shared ||
             pl_topic_is_pattern(name, strlen(name))))
            hub_topics_stored(s->hub, name, sub_cursor, s);
    }
    w->left--;
    if (w->left == 0 && rc == 0)
        rc = wait_done(s, w);
    if (rc == 0 && !w->unsub && s->saved != NULL && s->saved->gap != NULL)
        rc = gap_after_suback(s, f);
    wait_unref(&w);
    return rc < 0 ? MQTT_FEED_ERROR : MQTT_FEED_OK;
}

static int on_pubrec(struct mqtt_session *s, uint16_t id)
{
    /* Send times stay 0: deliveries are resent on reconnect only. A
     * PUBREC for an id not in flight still gets its PUBREL, which is
     * harmless and lets the client finish; one for a QoS 1 delivery's id
     * breaks the flow. */
    if (mqtt_inflight_pubrec(&s->window, id, 0) == -EPROTO)
        return MQTT_FEED_ERROR;
    return out_ack(s, PL_MQTT_PUBREL, id) < 0 ? MQTT_FEED_ERROR : MQTT_FEED_OK;
}

/* PUBREL: the id is free again. A persistent session's stored id (which
 * may be older than this process, so it is released even when not held
 * here) goes in a commit before PUBCOMP: the client reuses the id only
 * after PUBCOMP, and its next message on it must not be taken for a
 * retry. A failed commit closes the connection with no PUBCOMP; the
 * client sends PUBREL again when it reconnects (4.4). */
static int on_pubrel(struct mqtt_session *s, uint16_t id)
{
    struct store_job *job = NULL;
    struct op *o = NULL;

    if (mqtt_qos2_rx_release(&s->qos2_rx, id) == -EPROTO)
        return MQTT_FEED_ERROR;
    if (s->saved == NULL)
        return out_ack(s, PL_MQTT_PUBCOMP, id) < 0 ? MQTT_FEED_ERROR
                                                   : MQTT_FEED_OK;
    job = mqtt_saved_release_job(s->client_id, id);
    o = job != NULL ? op_push(s) : NULL;
    if (o == NULL) {
        store_job_free(&job);
        return MQTT_FEED_ERROR;
    }
    o->kind = OP_REL;
    o->packet_id = id;
    return hub_conn_store_write(s->hub, s->c, o->id, job) < 0
               ? MQTT_FEED_ERROR
               : MQTT_FEED_OK;
}

static int on_packet(struct mqtt_session *s, const struct pl_mqtt_packet *pkt)
{
    unsigned char b[2];

    if (!s->connected && pkt->type != PL_MQTT_CONNECT)
        return MQTT_FEED_ERROR; /* 3.1.0-1: CONNECT first */
    switch (pkt->type) {
    case PL_MQTT_CONNECT:
        if (s->connected)
            return MQTT_FEED_ERROR; /* 3.1.0-2: only once */
        return on_connect(s, &pkt->u.connect);
    case PL_MQTT_PUBLISH:
        return on_publish(s, &pkt->u.publish);
    case PL_MQTT_PUBACK:
        /* An unknown id is the client's mistake, and harmless. */
        window_acked(s, pkt->u.packet_id);
        mqtt_inflight_puback(&s->window, pkt->u.packet_id);
        return MQTT_FEED_OK;
    case PL_MQTT_PUBREC:
        return on_pubrec(s, pkt->u.packet_id);
    case PL_MQTT_PUBREL:
        return on_pubrel(s, pkt->u.packet_id);
    case PL_MQTT_PUBCOMP:
        /* Not in the window: maybe a PUBREL of a restart's sweep. Any
         * other unknown id is harmless and ignored. */
        if (s->saved != NULL &&
            mqtt_inflight_get(&s->window, pkt->u.packet_id) == NULL &&
            mqtt_pid_owed_done(&s->saved->owed, pkt->u.packet_id))
            return MQTT_FEED_OK;
        window_acked(s, pkt->u.packet_id);
        mqtt_inflight_pubcomp(&s->window, pkt->u.packet_id);
        return MQTT_FEED_OK;
    case PL_MQTT_SUBSCRIBE:
    case PL_MQTT_UNSUBSCRIBE:
        return on_filters(s, &pkt->u.filters);
    case PL_MQTT_PINGREQ:
        return out_put(s, b, pl_mqtt_put_pingresp(b, sizeof(b))) < 0
                   ? MQTT_FEED_ERROR
                   : MQTT_FEED_OK;
    case PL_MQTT_DISCONNECT:
        s->said_disconnect = true;
        return MQTT_FEED_CLOSE;
    default:
        return MQTT_FEED_ERROR;
    }
}

enum mqtt_feed_result mqtt_session_feed(struct mqtt_session *s, const void *in,
                                        size_t len)
{
    const unsigned char *p = in;

    while (len > 0) {
        struct pl_mqtt_frame f;
        struct pl_mqtt_packet pkt;
        size_t used = 0;
        int rc = 0;

        if (s->loading) {
            unsigned char *h = NULL;

            if (s->held_len + len > MQTT_HELD_MAX + s->cfg.max_packet)
                return MQTT_FEED_ERROR;
            h = realloc(s->held, s->held_len + len);
            if (h == NULL)
                return MQTT_FEED_ERROR;
            memcpy(h + s->held_len, p, len);
            s->held = h;
            s->held_len += len;
            return MQTT_FEED_OK;
        }
        rc = pl_mqtt_reader_feed(&s->reader, p, len, &used, &f);
        p += used;
        len -= used;
        if (rc < 0) {
            log_info("mqtt conn %" PRIu64 ": %s", s->c->id,
                     pl_mqtt_strerror(rc));
            STAT(s)->protocol_errors++;
            return MQTT_FEED_ERROR;
        }
        if (rc == 0)
            break;
        rc = pl_mqtt_decode(&f, &pkt);
        if (rc < 0) {
            log_info("mqtt conn %" PRIu64 ": %s", s->c->id,
                     pl_mqtt_strerror(rc));
            if (pl_mqtt_connack_code(rc) != 0 && !s->connected)
                return refuse_connect(s, (uint8_t)pl_mqtt_connack_code(rc));
            STAT(s)->protocol_errors++;
            return MQTT_FEED_ERROR;
        }
        rc = on_packet(s, &pkt);
        if (rc == MQTT_FEED_ERROR)
            STAT(s)->protocol_errors++;
        if (rc != MQTT_FEED_OK)
            return rc;
    }
    return MQTT_FEED_OK;
}

/* ------------------------------------------------------------------ */
/* frames out                                                          */
/* ------------------------------------------------------------------ */

/* The reply to a pending command (seq: an ok's, -1 when none). Returns 0
 * or -1 (close). */
static int on_reply(struct mqtt_session *s, int64_t id, const char *err,
                    int64_t seq)
{
    struct op o;
    int rc = 0;

    if (!op_take(s, id, &o))
        return 0;
    switch (o.kind) {
    case OP_PUB1:
    case OP_PUB2:
        /* A store failure, an overload or the rate limit: no ack, and
         * the connection closes so that the client sends it again later
         * (MQTT has no negative ack); an acknowledged message is never
         * one that was not stored. A refusal that a retry cannot cure
         * (ACL, a topic Parley refuses) is acknowledged and dropped, as
         * Mosquitto does, and logged. */
        if (err != NULL &&
            (strcmp(err, "internal") == 0 || strcmp(err, "overloaded") == 0 ||
             strcmp(err, "rate_limited") == 0)) {
            if (o.kind == OP_PUB2)
                mqtt_qos2_rx_forget(&s->qos2_rx, o.packet_id);
            rc = -1;
            break;
        }
        if (err != NULL) {
            STAT(s)->publishes_dropped++;
            log_info("mqtt conn %" PRIu64 ": PUBLISH dropped: %s", s->c->id,
                     err);
        }
        if (o.kind == OP_PUB2)
            mqtt_qos2_rx_stored(&s->qos2_rx, o.packet_id);
        rc = out_ack(s, o.kind == OP_PUB1 ? PL_MQTT_PUBACK : PL_MQTT_PUBREC,
                     o.packet_id);
        break;
    case OP_SUB:
        if (err == NULL) {
            o.wait->codes[o.index] = o.qos;
            rc = grant_set(s, o.filter, o.qos);
            if (rc == 0 && s->saved != NULL)
                rc = mqtt_saved_sub_set(s->cfg.saved, s->saved, o.filter,
                                        o.qos);
            /* Shared storage: a topic's sub reply has the cluster's seq
             * at the point of subscription (what follows comes live). */
            if (rc == 0 && s->saved != NULL && s->cfg.saved->shared &&
                seq >= 0)
                sub_cursor(s, o.filter, seq);
        }
        break;
    case OP_UNSUB:
        grant_drop(s, o.filter);
        if (s->saved != NULL)
            mqtt_saved_sub_drop(s->cfg.saved, s->saved, o.filter);
        break;
    case OP_REL:
        rc = err != NULL ? -1 : out_ack(s, PL_MQTT_PUBCOMP, o.packet_id);
        break;
    }
    if (o.wait != NULL && o.wait->left == 1 && rc == 0)
        rc = wait_done(s, o.wait);
    op_clear(&o);
    return rc;
}

/* The data of a msg frame {"op":"msg",...,"data":<data>[,"retained":true]}
 * as its raw JSON text: pl_frame_msg writes data last but for retained,
 * and "data" cannot occur unescaped inside the strings before it. */
static bool frame_data(const char *f, size_t len, bool retained,
                       const char **data, size_t *dlen)
{
    static const char key[] = ",\"data\":";
    static const char tail[] = ",\"retained\":true}";
    const char *p = NULL;
    size_t end = len - 1;

    if (retained && len > sizeof(tail) &&
        memcmp(f + len - (sizeof(tail) - 1), tail, sizeof(tail) - 1) == 0)
        end = len - (sizeof(tail) - 1);
    p = memmem(f, len, key, sizeof(key) - 1);
    if (p == NULL)
        return false;
    p += sizeof(key) - 1;
    if ((size_t)(p - f) > end)
        return false;
    *data = p;
    *dlen = (size_t)(f + end - p);
    return true;
}

void mqtt_session_window_release(void *item, void *ctx)
{
    (void)ctx;
    free(item);
}

/* A msg frame: a PUBLISH at the granted QoS, its payload the exact bytes
 * published over MQTT when the message kept them (raw, raw_len), else
 * mapped back from its data. Returns 1 when done, 0 when the window is
 * full (try again after an ack), -1 on OOM. */
static int on_msg(struct mqtt_session *s, const char *f, size_t len,
                  const cJSON *j, const unsigned char *raw, size_t raw_len)
{
    const cJSON *jt = cJSON_GetObjectItemCaseSensitive(j, "topic");
    bool retained =
        cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "retained"));
    const char *topic = cJSON_GetStringValue(jt);
    const cJSON *jseq = cJSON_GetObjectItemCaseSensitive(j, "seq");
    int64_t seq = cJSON_IsNumber(jseq) ? (int64_t)jseq->valuedouble : 0;
    int cap = 2;
    const char *data = NULL;
    size_t dlen = 0;
    size_t tlen = 0;
    size_t plen = 0;
    size_t hlen = 0;
    const unsigned char *payload = raw;
    unsigned char *mapped = NULL;
    struct out_pkt *pkt = NULL;
    uint8_t qos = 0;
    int id = 0;

    if (topic == NULL || !frame_data(f, len, retained, &data, &dlen))
        return 1; /* not ours to judge: skip it */
    qos = grant_qos(s, topic);
    if (qos > 0)
        lease_check(s);
    if (qos > 0 && mqtt_inflight_full(&s->window))
        return 0;
    if (!retained && (cap = expect_msg(s, topic, seq)) < 0)
        return -1;
    if (qos > cap)
        qos = (uint8_t)cap;
    tlen = strlen(topic);
    if (raw != NULL) {
        plen = raw_len; /* copied straight into the packet below */
    } else {
        mapped = malloc(dlen + 1);
        if (mapped == NULL)
            return -1;
        plen = pl_mqtt_data_to_wire(data, dlen, mapped);
        payload = mapped;
    }
    hlen = pl_mqtt_put_publish_header(NULL, 0, topic, tlen, qos, false,
                                      retained, qos ? 1 : 0, plen);
    pkt = malloc(sizeof(*pkt) + hlen + plen + tlen + 1);
    if (pkt == NULL || hlen == 0) {
        free(mapped);
        free(pkt);
        return hlen == 0 ? 1 : -1;
    }
    pkt->len = hlen + plen;
    pkt->seq = seq;
    memcpy(pkt->bytes + pkt->len, topic, tlen + 1);
    pkt->topic = (const char *)pkt->bytes + pkt->len;
    if (qos > 0) {
        id = mqtt_inflight_add(&s->window, pkt, qos, 0);
        if (id < 0) {
            free(mapped);
            free(pkt);
            return 0;
        }
    }
    pl_mqtt_put_publish_header(pkt->bytes, hlen, topic, tlen, qos, false,
                               retained, (uint16_t)id, plen);
    memcpy(pkt->bytes + hlen, payload, plen);
    free(mapped);
    if (out_put(s, pkt->bytes, pkt->len) < 0) {
        if (qos == 0)
            free(pkt);
        return -1;
    }
    if (qos == 0)
        free(pkt);
    /* Sent at QoS 0: done as far as the session's cursor goes. */
    if (qos == 0 && s->saved != NULL && seq > 0 &&
        mqtt_saved_cursor_set(s->cfg.saved, s->saved, topic, seq, false) < 0)
        return -1;
    return 1;
}

/* One frame of the out-queue (its JSON text, and the raw MQTT payload
 * its message kept, or NULL). 1: done, 0: wait, -1. */
static int on_frame(struct mqtt_session *s, const char *f, size_t len,
                    const unsigned char *raw, size_t raw_len)
{
    cJSON *j = NULL;
    const char *op = NULL;
    int rc = 1;

    j = cJSON_ParseWithLength(f, len);
    if (j == NULL)
        return 1;
    op = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "op"));
    if (op != NULL && strcmp(op, "msg") == 0) {
        rc = on_msg(s, f, len, j, raw, raw_len);
    } else if (op != NULL &&
               (strcmp(op, "ok") == 0 || strcmp(op, "error") == 0)) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "id");
        const char *code =
            cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "code"));
        const cJSON *seq = cJSON_GetObjectItemCaseSensitive(j, "seq");

        if (cJSON_IsNumber(id))
            rc = on_reply(s, (int64_t)id->valuedouble,
                          op[0] == 'e' ? (code ? code : "error") : NULL,
                          cJSON_IsNumber(seq) ? (int64_t)seq->valuedouble
                                              : -1) < 0
                     ? -1
                     : 1;
    }
    cJSON_Delete(j);
    return rc;
}


int mqtt_session_pull(struct mqtt_session *s, unsigned char *scratch,
                      size_t cap)
{
    unsigned rounds = 0;

    if (s->c->close_code != 0)
        return -1;
    if (owed_step(s))
        return 1; /* the rest of the sweep first: written, then more */
    for (rounds = 0; rounds < 64; rounds++) {
        struct hub_out out;
        size_t off = 0;
        uint32_t done = 0;
        bool stalled = false;

        if (s->out_len - s->out_off >= MQTT_OUT_HIGH)
            return 1; /* written first; then more is taken */
        if (hub_conn_take(s->hub, s->c, scratch, cap, &out) == 0) {
            hub_conn_wrote(s->hub, s->c, &out);
            return 0;
        }
        while (done < out.frames) {
            size_t flen = msg_frame_len(out.data + off, out.len - off);
            const char *text = NULL;
            const unsigned char *raw = NULL;
            size_t tlen = 0;
            size_t raw_len = 0;
            int rc = 0;

            if (flen == 0)
                break;
            text = msg_frame_payload(out.data + off, flen, &tlen);
            raw = hub_conn_taken_raw(s->c, done, &raw_len);
            rc = text != NULL ? on_frame(s, text, tlen, raw, raw_len) : 1;
            if (rc < 0) {
                out.frames = done;
                hub_conn_wrote(s->hub, s->c, &out);
                return -1;
            }
            if (rc == 0) {
                stalled = true;
                break;
            }
            off += flen;
            done++;
        }
        out.frames = done;
        if (stalled) {
            /* The window is full: wait for an ack, but hear of a cull. */
            hub_conn_wrote(s->hub, s->c, &out);
            hub_conn_wait(s->hub, s->c);
            return 0;
        }
        if (!hub_conn_wrote(s->hub, s->c, &out))
            return 0;
    }
    return 1; /* more is ready: the transport asks to write again */
}

/* ------------------------------------------------------------------ */
/* life cycle                                                          */
/* ------------------------------------------------------------------ */

/* The will: published as the client's own message, through a one-command
 * hub connection (this one may already be closing), under the same ACL. */
static void publish_will(struct mqtt_session *s)
{
    struct conn *w = NULL;
    char *user = NULL;

    if (s->will_topic == NULL || s->said_disconnect || !s->connected)
        return;
    if (pl_topic_validate(s->will_topic, strlen(s->will_topic), false) !=
            PL_OK ||
        (s->c->claims != NULL &&
         !pl_claims_may_pub(s->c->claims, s->will_topic))) {
        log_info("mqtt %s: will on %s not published (topic refused)",
                 s->client_id, s->will_topic);
        return;
    }
    w = hub_conn_open(s->hub, CONN_REQUEST, NULL);
    user = strdup(s->c->user);
    if (w == NULL || user == NULL) {
        free(user);
        if (w != NULL)
            hub_conn_close(s->hub, &w);
        return;
    }
    free(w->user);
    w->user = user;
    w->said_hello = true;
    log_info("mqtt %s: connection lost, publishing its will on %s",
             s->client_id, s->will_topic);
    STAT(s)->wills++;
    publish(s, w, 0, s->will_topic, s->will_payload, s->will_len,
            s->will_retain, 0);
    hub_conn_close(s->hub, &w);
}

struct mqtt_session *mqtt_session_new(struct hub *hub, struct conn *c,
                                      struct mqtt_ids *ids,
                                      const struct mqtt_session_config *cfg)
{
    struct mqtt_session *s = calloc(1, sizeof(*s));
    unsigned window = cfg->window ? cfg->window : 64;

    if (s == NULL)
        return NULL;
    s->hub = hub;
    s->c = c;
    s->ids = ids;
    s->cfg = *cfg;
    pl_mqtt_reader_init(&s->reader, cfg->max_packet);
    if (pl_buf_init(&s->scratch, 256) < 0 ||
        mqtt_inflight_init(&s->window, window, mqtt_session_window_release,
                           NULL) < 0)
        goto fail;
    if (mqtt_qos2_rx_init(&s->qos2_rx, MQTT_QOS2_RX_MAX) < 0) {
        mqtt_inflight_cleanup(&s->window);
        goto fail;
    }
    STAT(s)->connections++;
    return s;
fail:
    pl_buf_cleanup(&s->scratch);
    pl_mqtt_reader_cleanup(&s->reader);
    free(s);
    return NULL;
}

void mqtt_session_free(struct mqtt_session **sp)
{
    struct mqtt_session *s = *sp;
    struct op o;

    if (s == NULL)
        return;
    publish_will(s);
    session_park(s);
    while (s->expects != NULL) {
        struct resume_expect *e = s->expects;

        s->expects = e->next;
        free(e);
    }
    STAT(s)->connections--;
    if (s->in_ids)
        mqtt_ids_remove(s->ids, &s->id_entry);
    while (s->ops_n > 0 && op_take(s, s->ops[s->ops_head].id, &o))
        op_clear(&o);
    while (s->grants != NULL) {
        struct grant *g = s->grants;

        s->grants = g->next;
        free(g);
    }
    mqtt_inflight_cleanup(&s->window);
    mqtt_qos2_rx_cleanup(&s->qos2_rx);
    pl_mqtt_reader_cleanup(&s->reader);
    pl_buf_cleanup(&s->scratch);
    free(s->ops);
    free(s->out);
    free(s->client_id);
    free(s->will_topic);
    free(s->will_payload);
    free(s->held);
    free(s);
    *sp = NULL;
}

void mqtt_session_taken(void *ids, const char *client_id, bool mine)
{
    struct mqtt_id_entry *e = mqtt_ids_find(ids, client_id);
    struct mqtt_session *o = e != NULL ? e->owner : NULL;

    if (o == NULL)
        return;
    if (mine)
        o->claim_settled = true;
    else if (o->claim_settled)
        close_taken(o, "a new connection on another node");
}

bool mqtt_session_closing(const struct mqtt_session *s)
{
    return s->close_after;
}

/* The stored session came (shared storage): the CONNECT goes on, then
 * what the client sent meanwhile. ctx is the id table: the connection
 * that asked may be gone, or taken over, by now. */
static void connect_loaded(void *ctx, struct store_job *job)
{
    struct mqtt_id_entry *e = mqtt_ids_find(ctx, job->mqtt->client_id);
    struct mqtt_session *s = e != NULL ? e->owner : NULL;
    unsigned char *held = NULL;
    size_t held_len = 0;
    bool oom = false;
    int rc = MQTT_FEED_OK;

    if (s == NULL || !s->loading || s->c->id != job->conn_id ||
        s->c->close_code != 0)
        return;
    s->loading = false;
    if (job->err != 0) {
        log_warn("mqtt: the session of %s could not be read (%s); the "
                 "client is refused, and may retry",
                 s->client_id, pl_err_code((enum pl_err)job->err));
        refuse_connect(s, PL_MQTT_CONNACK_UNAVAILABLE);
        s->close_after = true;
        hub_conn_wake(s->hub, s->c);
        return;
    }
    s->saved = mqtt_saved_find(s->cfg.saved, s->client_id);
    if (s->saved == NULL)
        s->saved = mqtt_saved_load_job(s->cfg.saved, job, &oom);
    rc = s->saved != NULL ? connect_finish(s, true) : MQTT_FEED_ERROR;
    if (s->saved == NULL && !oom) {
        s->saved = mqtt_saved_add(s->cfg.saved, s->client_id, s->c->user);
        rc = s->saved != NULL ? connect_finish(s, false) : MQTT_FEED_ERROR;
    }
    held = s->held;
    held_len = s->held_len;
    s->held = NULL;
    s->held_len = 0;
    if (rc == MQTT_FEED_OK && held_len > 0)
        rc = mqtt_session_feed(s, held, held_len);
    free(held);
    if (rc == MQTT_FEED_ERROR)
        hub_conn_kill(s->hub, s->c, 1002);
    else
        s->close_after = rc == MQTT_FEED_CLOSE;
    hub_conn_wake(s->hub, s->c);
}

void mqtt_session_forget_will(struct mqtt_session *s)
{
    free(s->will_topic);
    s->will_topic = NULL;
}

struct conn *mqtt_session_conn(const struct mqtt_session *s)
{
    return s->c;
}

bool mqtt_session_connected(const struct mqtt_session *s)
{
    return s->connected;
}

unsigned mqtt_session_keepalive(const struct mqtt_session *s)
{
    return s->keepalive;
}

bool mqtt_session_backed_up(const struct mqtt_session *s, unsigned bound)
{
    return s->loading || s->ops_n > bound;
}
