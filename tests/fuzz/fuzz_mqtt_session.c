/*
 * fuzz_mqtt_session.c: libFuzzer target for one MQTT connection on a real
 * hub (server/mqtt_session.c, with the hub in memory: persist off, so no
 * store). What a hostile client sends must never crash the server, leak,
 * or reach another connection beyond what MQTT allows.
 *
 * Input: byte 0's low bit says whether a valid CONNECT goes first (so the
 * fuzzer reaches past the CONNECT gate easily), its other bits the feed
 * size (0: all at once); the rest is the client's stream. A second,
 * well-behaved MQTT session subscribed to "#" at QoS 2 receives whatever
 * the fuzzed one publishes. After every feed both sessions' queues are
 * turned into packets. Rules checked, each an abort():
 *   - the fuzzed session's verdicts are sticky: after an error or a close
 *     nothing more is fed, and feeding never reports anything else;
 *   - the bystander is never closed, and every packet it is sent is a
 *     whole MQTT packet of a type a server sends.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub.h"
#include "log.h"
#include "mqtt.h"
#include "mqtt_session.h"
#include "service_thread.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SCRATCH (256 * 1024)

static void fuzz_require(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_mqtt_session: broken rule: %s\n", what);
        abort();
    }
}

static void op_wake(void *ctx, struct conn *c)
{
    (void)ctx;
    (void)c;
}

static int64_t op_now(void *ctx)
{
    (void)ctx;
    return 1764130000000LL;
}

static const struct hub_ops ops = {op_wake, op_now};

/* The server packets in out[0..n) are whole and of server types. */
static void check_server_packets(const unsigned char *out, size_t n)
{
    size_t off = 0;

    while (off < n) {
        size_t i = off + 1;
        uint32_t rlen = 0;
        unsigned shift = 0;
        unsigned type = out[off] >> 4;

        fuzz_require(type == PL_MQTT_CONNACK || type == PL_MQTT_PUBLISH ||
                         type == PL_MQTT_PUBACK || type == PL_MQTT_PUBREC ||
                         type == PL_MQTT_PUBREL || type == PL_MQTT_PUBCOMP ||
                         type == PL_MQTT_SUBACK ||
                         type == PL_MQTT_UNSUBACK ||
                         type == PL_MQTT_PINGRESP,
                     "a server packet type");
        do {
            fuzz_require(i < n && i < off + 5, "a whole length");
            rlen |= (uint32_t)(out[i] & 0x7f) << shift;
            shift += 7;
        } while (out[i++] & 0x80);
        fuzz_require(i + rlen <= n, "a whole packet");
        off = i + rlen;
    }
}

/* Turn queued frames into packets, take them, check them if asked. */
static int drain(struct mqtt_session *s, unsigned char *scratch, bool check)
{
    const unsigned char *out = NULL;
    size_t n = 0;
    int rc = mqtt_session_pull(s, scratch, SCRATCH);

    if (rc > 0)
        rc = 0; /* more is ready: taken by the next drain */
    out = mqtt_session_output(s, &n);
    if (check)
        check_server_packets(out, n);
    mqtt_session_consume(s, n);
    return rc;
}

static void feed_all(struct mqtt_session *s, const unsigned char *p, size_t n)
{
    enum mqtt_feed_result r = mqtt_session_feed(s, p, n);

    fuzz_require(r == MQTT_FEED_OK, "the bystander's own packets");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const unsigned char connect_a[] = {
        0x10, 0x0d, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 60, 0, 1, 'a'};
    static const unsigned char connect_b[] = {
        0x10, 0x0d, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 60, 0, 1, 'b'};
    static const unsigned char sub_all[] = {0x82, 0x06, 0, 1, 0, 1, '#', 2};
    static unsigned char *scratch;
    struct mqtt_session_config cfg = {4096, 8, 64, NULL, NULL, NULL};
    struct hub_config hcfg;
    struct hub *hub = NULL;
    struct mqtt_ids *ids = NULL;
    struct conn *ca = NULL;
    struct conn *cb = NULL;
    struct mqtt_session *a = NULL;
    struct mqtt_session *b = NULL;
    size_t piece = 0;
    size_t off = 1;
    bool done = false;

    if (size < 1)
        return 0;
    if (scratch == NULL) {
        pl_service_thread_claim();
        log_set_level(LOG_ERROR);
        scratch = malloc(SCRATCH);
        fuzz_require(scratch != NULL, "memory");
    }
    memset(&hcfg, 0, sizeof(hcfg));
    hcfg.queue_bytes = 1 << 20;
    hcfg.queue_msgs = 1000;
    hcfg.max_subs = 100;
    hcfg.recent_msgs = 8;
    hcfg.recent_bytes = 1 << 16;
    hcfg.store_pending_max = 1000;
    hcfg.max_depth = 64;
    hcfg.persist = false;
    hub = hub_new(&hcfg, &ops, NULL, NULL);
    ids = mqtt_ids_new();
    fuzz_require(hub != NULL && ids != NULL, "memory");
    cb = hub_conn_open(hub, CONN_MQTT, NULL);
    ca = hub_conn_open(hub, CONN_MQTT, NULL);
    b = mqtt_session_new(hub, cb, ids, &cfg);
    a = mqtt_session_new(hub, ca, ids, &cfg);
    fuzz_require(a != NULL && b != NULL, "memory");
    feed_all(b, connect_b, sizeof(connect_b));
    feed_all(b, sub_all, sizeof(sub_all));
    fuzz_require(drain(b, scratch, true) == 0, "the bystander stays");

    if (data[0] & 1)
        done = mqtt_session_feed(a, connect_a, sizeof(connect_a)) !=
               MQTT_FEED_OK;
    piece = data[0] >> 1;
    while (!done && off < size) {
        size_t n = piece == 0 || piece > size - off ? size - off : piece;
        enum mqtt_feed_result r = mqtt_session_feed(a, data + off, n);

        fuzz_require(r == MQTT_FEED_OK || r == MQTT_FEED_CLOSE ||
                         r == MQTT_FEED_ERROR, "a known verdict");
        off += n;
        done = r != MQTT_FEED_OK || drain(a, scratch, true) < 0;
        fuzz_require(ca->close_code == 0 || done || r == MQTT_FEED_OK,
                     "closing is sticky");
        if (cb->close_code == 0)
            fuzz_require(drain(b, scratch, true) == 0, "the bystander");
    }
    /* The fuzzed client goes (its will, if any, is published), then
     * the bystander sees what that delivered. */
    mqtt_session_free(&a);
    hub_conn_close(hub, &ca);
    if (cb->close_code == 0)
        drain(b, scratch, true);
    mqtt_session_free(&b);
    hub_conn_close(hub, &cb);
    mqtt_ids_free(&ids);
    hub_free(&hub);
    return 0;
}
