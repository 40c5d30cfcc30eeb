/*
 * redis_layout.c: owns the names of a cluster's Redis keys and channels and
 * the decoding of the payloads its Lua library writes. Names carry the
 * topic's length before the topic so that no topic, publish key or user
 * can make two different things share one name (a topic may hold ':', '{'
 * or '}').
 */
#include "redis_layout.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fit(int len, size_t n)
{
    if (len < 0 || (size_t)len >= n)
        return -ENAMETOOLONG;
    return len;
}

static const char *suffix(enum redis_topic_key k)
{
    switch (k) {
    case REDIS_KEY_SEQ:
        return "seq";
    case REDIS_KEY_LOG:
        return "log";
    case REDIS_KEY_RET:
        return "ret";
    case REDIS_KEY_EPOCH:
        return "epoch";
    case REDIS_KEY_PRES:
        return "pres";
    case REDIS_KEY_RED:
        return "red";
    case REDIS_KEY_EDITS:
        return "edits";
    case REDIS_KEY_MARKS:
        return "marks";
    }
    return "?";
}

int redis_layout_topic_key(char *buf, size_t n, const char *topic,
                           enum redis_topic_key k)
{
    return fit(
        snprintf(buf, n, "pl:%zu:{%s}:%s", strlen(topic), topic, suffix(k)), n);
}

int redis_layout_idem_key(char *buf, size_t n, const char *topic,
                          const char *pkey)
{
    return fit(
        snprintf(buf, n, "pl:%zu:{%s}:idem:%s", strlen(topic), topic, pkey), n);
}

int redis_layout_channel(char *buf, size_t n, const char *topic)
{
    return fit(snprintf(buf, n, "pl:ch:%s", topic), n);
}

int redis_layout_channel_pattern(char *buf, size_t n, const char *prefix)
{
    static const char head[] = "pl:ch:";
    size_t o = sizeof(head) - 1;
    const char *p = NULL;

    if (n < o + 2)
        return -ENAMETOOLONG;
    memcpy(buf, head, o);
    for (p = prefix; *p != '\0'; p++) {
        if (strchr("*?[]\\", *p) != NULL) {
            if (o + 1 >= n)
                return -ENAMETOOLONG;
            buf[o++] = '\\';
        }
        if (o + 1 >= n)
            return -ENAMETOOLONG;
        buf[o++] = *p;
    }
    if (o + 2 > n)
        return -ENAMETOOLONG;
    buf[o++] = '*';
    buf[o] = '\0';
    return (int)o;
}

const char *redis_layout_channel_topic(const char *channel)
{
    static const char head[] = "pl:ch:";

    if (strncmp(channel, head, sizeof(head) - 1) != 0 ||
        channel[sizeof(head) - 1] == '\0')
        return NULL;
    return channel + sizeof(head) - 1;
}

int redis_layout_node_key(char *buf, size_t n, const char *node_id)
{
    return fit(snprintf(buf, n, "pl:node:%s", node_id), n);
}

int redis_layout_node_pres_key(char *buf, size_t n, const char *node_id)
{
    return fit(snprintf(buf, n, "pl:node:%s:pres", node_id), n);
}

int redis_layout_msess_key(char *buf, size_t n, const char *client_id,
                           enum redis_msess_key k)
{
    static const char *const suffix[] = {"sess", "subs", "cur", "q2"};

    return fit(snprintf(buf, n, "pl:mq:%zu:{%s}:%s", strlen(client_id),
                        client_id, suffix[k]),
               n);
}

int redis_layout_pres_field(char *buf, size_t n, const char *topic,
                            const char *user)
{
    return fit(snprintf(buf, n, "%zu:%s%s", strlen(topic), topic, user), n);
}

/* Read a decimal number of at most 19 digits at *p (before end), then the
 * single space after it. Returns 0 and advances *p, or -EINVAL. */
static int number(const char **p, const char *end, uint64_t *out)
{
    uint64_t v = 0;
    int digits = 0;

    while (*p < end && **p >= '0' && **p <= '9' && digits < 19) {
        v = v * 10 + (uint64_t)(**p - '0');
        (*p)++;
        digits++;
    }
    if (digits == 0 || *p >= end || **p != ' ')
        return -EINVAL;
    (*p)++;
    *out = v;
    return 0;
}

/* A word up to the next space, which must exist: *p moves past it. */
static int word(const char **p, const char *end, const char **w, size_t *n)
{
    const char *e = memchr(*p, ' ', (size_t)(end - *p));

    if (e == NULL || e == *p)
        return -EINVAL;
    *w = *p;
    *n = (size_t)(e - *p);
    *p = e + 1;
    return 0;
}

/* k <n> <epoch> <node> <marker> <userlen> <user><topic>, p after "k ". */
static int marked_parse(const char *p, const char *end, struct redis_event *r)
{
    uint64_t user_len = 0;

    if (number(&p, end, &r->seq) < 0 ||
        word(&p, end, &r->epoch, &r->epoch_len) < 0 ||
        word(&p, end, &r->node, &r->node_len) < 0 ||
        number(&p, end, &r->marker) < 0 || number(&p, end, &user_len) < 0 ||
        user_len == 0 || user_len >= (uint64_t)(end - p))
        return -EINVAL;
    r->user = p;
    r->user_len = (size_t)user_len;
    r->topic = p + user_len;
    r->topic_len = (size_t)(end - r->topic);
    return 0;
}

/* e <node> <n> <ts> <retain> <fromlen> <from><data>, p after "e ". */
static int ephemeral_parse(const char *p, const char *end,
                           struct redis_event *r)
{
    const char *e = memchr(p, ' ', (size_t)(end - p));
    uint64_t ts = 0;
    uint64_t retain = 0;
    uint64_t from_len = 0;

    if (e == NULL || e == p)
        return -EINVAL;
    r->node = p;
    r->node_len = (size_t)(e - p);
    p = e + 1;
    if (number(&p, end, &r->seq) < 0 || number(&p, end, &ts) < 0 ||
        number(&p, end, &retain) < 0 || retain > 1 ||
        number(&p, end, &from_len) < 0 || from_len >= (uint64_t)(end - p))
        return -EINVAL; /* from_len < what is left: data is not empty */
    r->ts = (int64_t)ts;
    r->retain = retain == 1;
    r->from = p;
    r->from_len = (size_t)from_len;
    r->data = p + from_len;
    r->data_len = (size_t)(end - r->data);
    return 0;
}

char *redis_event_ephemeral(const char *node, uint64_t n, int64_t ts,
                            bool retain, const char *from, const char *data,
                            size_t data_len, const void *raw, size_t raw_len,
                            size_t *len)
{
    size_t from_len = strlen(from);
    char prefix[32] = "";
    char head[160];
    int r = raw_len > 0 ? snprintf(prefix, sizeof(prefix), "r%zu ", raw_len)
                        : 0;
    int h = snprintf(head, sizeof(head), "e %s %" PRIu64 " %" PRId64 " %d %zu ",
                     node, n, ts > 0 ? ts : 0, retain ? 1 : 0, from_len);
    size_t at = 0;
    char *out = NULL;

    if (h < 0 || (size_t)h >= sizeof(head) || r < 0)
        return NULL; /* node ids are 16 hex digits: never */
    out = malloc((size_t)r + raw_len + (size_t)h + from_len + data_len);
    if (out == NULL)
        return NULL;
    memcpy(out, prefix, (size_t)r);
    at = (size_t)r;
    if (raw_len > 0)
        memcpy(out + at, raw, raw_len);
    at += raw_len;
    memcpy(out + at, head, (size_t)h);
    at += (size_t)h;
    memcpy(out + at, from, from_len);
    at += from_len;
    memcpy(out + at, data, data_len);
    *len = at + data_len;
    return out;
}

/* A `c` payload's relations, p after its epoch. */
static int refs_parse(const char **p, const char *end, struct redis_event *r)
{
    uint64_t redacted = 0;

    if (number(p, end, &r->edit_of) < 0 || number(p, end, &r->redacts) < 0 ||
        number(p, end, &r->reply_to) < 0 || number(p, end, &redacted) < 0 ||
        redacted > 1)
        return -EINVAL;
    r->redacted = redacted == 1;
    return 0;
}

/* r<rawlen> <raw><payload>: the exact MQTT payload in front of a message
 * (m, c or e). Decodes the payload behind it and points ev->raw at the
 * bytes. */
static int raw_prefix_parse(const char *p, size_t n, struct redis_event *ev)
{
    const char *end = p + n;
    uint64_t raw_len = 0;
    const char *raw = NULL;

    p++;
    if (number(&p, end, &raw_len) < 0 || raw_len == 0 ||
        raw_len >= (uint64_t)(end - p))
        return -EINVAL;
    raw = p;
    p += raw_len;
    /* One prefix at most, and only in front of a message. */
    if (*p != 'm' && *p != 'c' && *p != 'e')
        return -EINVAL;
    if (redis_event_parse(p, (size_t)(end - p), ev) < 0)
        return -EINVAL;
    ev->raw = raw;
    ev->raw_len = (size_t)raw_len;
    return 0;
}

int redis_event_parse(const char *p, size_t n, struct redis_event *ev)
{
    const char *end = p + n;
    const char *e = NULL;
    struct redis_event r;
    uint64_t ts = 0;
    uint64_t retain = 0;
    uint64_t from_len = 0;
    bool chat = false;

    memset(&r, 0, sizeof(r));
    if (n > 2 && p[0] == 'r' && p[1] >= '1' && p[1] <= '9')
        return raw_prefix_parse(p, n, ev);
    if (n < 3 || p[1] != ' ')
        return -EINVAL;
    r.kind = (enum redis_event_kind)p[0];
    if (r.kind == REDIS_EVENT_JOIN || r.kind == REDIS_EVENT_LEAVE) {
        r.user = p + 2;
        r.user_len = n - 2;
        *ev = r;
        return 0;
    }
    if (r.kind == REDIS_EVENT_MARKED) {
        if (marked_parse(p + 2, end, &r) < 0)
            return -EINVAL;
        *ev = r;
        return 0;
    }
    if (r.kind == REDIS_EVENT_EPHEMERAL) {
        if (ephemeral_parse(p + 2, end, &r) < 0)
            return -EINVAL;
        *ev = r;
        return 0;
    }
    chat = p[0] == 'c';
    if (chat)
        r.kind = REDIS_EVENT_MSG;
    if (r.kind != REDIS_EVENT_MSG)
        return -EINVAL;
    p += 2;
    if (number(&p, end, &r.seq) < 0 || r.seq == 0 || number(&p, end, &ts) < 0 ||
        number(&p, end, &retain) < 0 || retain > 1)
        return -EINVAL;
    e = memchr(p, ' ', (size_t)(end - p));
    if (e == NULL || e == p)
        return -EINVAL;
    r.epoch = p;
    r.epoch_len = (size_t)(e - p);
    p = e + 1;
    if (chat && refs_parse(&p, end, &r) < 0)
        return -EINVAL;
    if (number(&p, end, &from_len) < 0 || from_len > (uint64_t)(end - p))
        return -EINVAL;
    r.ts = (int64_t)ts;
    r.retain = retain == 1;
    r.from = p;
    r.from_len = (size_t)from_len;
    r.data = p + from_len;
    r.data_len = (size_t)(end - r.data);
    if (r.data_len == 0)
        return -EINVAL;
    *ev = r;
    return 0;
}
