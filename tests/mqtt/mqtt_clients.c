/*
 * mqtt_clients.c: proves the MQTT codec (protocol/mqtt.c) against real
 * clients before any listener exists. Each test plays a tiny broker on a
 * loopback port, built from the codec alone: it runs a real client
 * (mosquitto_pub, mosquitto_sub from Debian's mosquitto-clients, or a
 * paho-mqtt script under Debian's /usr/bin/python3), decodes every packet
 * the client sends and checks its fields, and answers with our encoders
 * (CONNACK, SUBACK incl. 0x80, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP,
 * UNSUBACK, PINGRESP). The client exiting 0 after the exchange, and
 * printing what we sent it, proves it accepted our packets. The retry
 * test drives our side of QoS 1 from server/mqtt_inflight.c across a
 * dropped connection and paho's own reconnect.
 *
 * Every wait has a deadline; a client that hangs is killed and fails the
 * test. Without the client programs the binary exits 77, which ctest
 * reports as skipped: scripts/install-deps.sh --test installs them.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <cmocka.h>

#include "itest.h"
#include "mqtt.h"
#include "mqtt_inflight.h"

#define WAIT_MS 10000
#define MOSQUITTO_PUB "/usr/bin/mosquitto_pub"
#define MOSQUITTO_SUB "/usr/bin/mosquitto_sub"
#define PYTHON "/usr/bin/python3" /* Debian's, which has paho */

/* One client connection to our broker of a test. */
struct peer {
    int lfd;
    int cfd;
    int port;
    char port_str[8];
    pid_t pid;
    int out;                 /* the client's stdout, or -1 */
    int64_t deadline;
    struct pl_mqtt_reader r;
    unsigned char in[4096];  /* bytes read, fed from in_off */
    size_t in_len;
    size_t in_off;
    unsigned pings;          /* PINGREQs answered */
};

static bool have(const char *path)
{
    return access(path, X_OK) == 0;
}

/* Listens on a free loopback port. */
static void peer_listen(struct peer *p)
{
    struct sockaddr_in a;
    socklen_t alen = sizeof(a);

    memset(p, 0, sizeof(*p));
    p->cfd = -1;
    p->out = -1;
    p->pid = -1;
    p->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(p->lfd >= 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(p->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(p->lfd, 4), 0);
    assert_int_equal(getsockname(p->lfd, (struct sockaddr *)&a, &alen), 0);
    p->port = ntohs(a.sin_port);
    snprintf(p->port_str, sizeof(p->port_str), "%d", p->port);
    pl_mqtt_reader_init(&p->r, 1 << 20);
    p->deadline = itest_mono_ms() + WAIT_MS;
}

/* Runs argv; its stdout goes to a pipe when capture. */
static void peer_spawn(struct peer *p, char *const argv[], bool capture)
{
    int fds[2] = {-1, -1};

    if (capture)
        assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
    p->pid = fork();
    assert_true(p->pid >= 0);
    if (p->pid == 0) {
        if (capture)
            dup2(fds[1], STDOUT_FILENO);
        execv(argv[0], argv);
        _exit(127);
    }
    if (capture) {
        close(fds[1]);
        p->out = fds[0];
    }
}

static void peer_accept(struct peer *p)
{
    struct pollfd pf = {p->lfd, POLLIN, 0};

    assert_int_equal(poll(&pf, 1, itest_left_ms(p->deadline)), 1);
    p->cfd = accept4(p->lfd, NULL, NULL, SOCK_CLOEXEC);
    assert_true(p->cfd >= 0);
}

static void peer_send(struct peer *p, const unsigned char *b, size_t n)
{
    while (n > 0) {
        ssize_t w = write(p->cfd, b, n);

        assert_true(w > 0);
        b += w;
        n -= (size_t)w;
    }
}

/*
 * The next packet the client sends, decoded into *pkt (valid until the
 * next call). A PINGREQ is answered with PINGRESP and counted, and is
 * returned only when pings is set (else the wait goes on). Returns false
 * at end of stream; fails the test on a malformed packet or at the
 * deadline.
 */
static bool peer_next_any(struct peer *p, struct pl_mqtt_packet *pkt,
                          bool pings)
{
    for (;;) {
        struct pl_mqtt_frame f;
        struct pollfd pf = {p->cfd, POLLIN, 0};
        ssize_t n;

        if (p->in_off < p->in_len) {
            size_t used = 0;
            int rc = pl_mqtt_reader_feed(&p->r, p->in + p->in_off,
                                         p->in_len - p->in_off, &used, &f);

            p->in_off += used;
            if (rc < 0)
                fail_msg("the client's stream: %s", pl_mqtt_strerror(rc));
            if (rc == 1) {
                unsigned char resp[2];

                rc = pl_mqtt_decode(&f, pkt);
                if (rc < 0)
                    fail_msg("a packet %02x from the client: %s", f.first,
                             pl_mqtt_strerror(rc));
                if (pkt->type != PL_MQTT_PINGREQ)
                    return true;
                peer_send(p, resp, pl_mqtt_put_pingresp(resp, sizeof(resp)));
                p->pings++;
                if (pings)
                    return true;
            }
            continue;
        }
        if (poll(&pf, 1, itest_left_ms(p->deadline)) != 1)
            fail_msg("no packet from the client in time");
        n = read(p->cfd, p->in, sizeof(p->in));
        if (n <= 0)
            return false;
        p->in_len = (size_t)n;
        p->in_off = 0;
    }
}

/* The next packet other than PINGREQ (answered on the way). */
static bool peer_next(struct peer *p, struct pl_mqtt_packet *pkt)
{
    return peer_next_any(p, pkt, false);
}

/* The next packet, which must be of this type. */
static void peer_expect(struct peer *p, enum pl_mqtt_type type,
                        struct pl_mqtt_packet *pkt)
{
    if (!peer_next(p, pkt))
        fail_msg("the client closed; expected packet type %d", type);
    if (pkt->type != type)
        fail_msg("packet type %d from the client, expected %d", pkt->type,
                 type);
}

static void peer_expect_ack(struct peer *p, enum pl_mqtt_type type,
                            uint16_t id)
{
    struct pl_mqtt_packet pkt;

    peer_expect(p, type, &pkt);
    assert_int_equal(pkt.u.packet_id, id);
}

static void peer_send_ack(struct peer *p, enum pl_mqtt_type type, uint16_t id)
{
    unsigned char b[4];

    peer_send(p, b, pl_mqtt_put_ack(b, sizeof(b), type, id));
}

static void peer_send_connack(struct peer *p, bool present, uint8_t rc)
{
    unsigned char b[4];

    peer_send(p, b, pl_mqtt_put_connack(b, sizeof(b), present, rc));
}

static void peer_send_publish(struct peer *p, const char *topic, uint8_t qos,
                              uint16_t id, const char *payload)
{
    unsigned char b[512];
    size_t n = pl_mqtt_put_publish(b, sizeof(b), topic, strlen(topic), qos,
                                   false, false, id, payload,
                                   strlen(payload));

    assert_true(n > 0 && n <= sizeof(b));
    peer_send(p, b, n);
}

/* The stream ends (the client closed after DISCONNECT). */
static void peer_expect_eof(struct peer *p)
{
    struct pl_mqtt_packet pkt;

    if (peer_next(p, &pkt))
        fail_msg("packet type %d after the end", pkt.type);
}

/* Waits for the client to exit; returns its exit status (or -1 when it
 * died of a signal). Kills it at the deadline and fails. */
static int peer_wait(struct peer *p)
{
    int st = 0;

    for (;;) {
        pid_t r = waitpid(p->pid, &st, WNOHANG);

        if (r == p->pid)
            break;
        assert_int_equal(r, 0);
        if (itest_left_ms(p->deadline) == 0) {
            kill(p->pid, SIGKILL);
            waitpid(p->pid, &st, 0);
            p->pid = -1;
            fail_msg("the client did not exit in time");
        }
        poll(NULL, 0, 10); /* re-check the condition, bounded above */
    }
    p->pid = -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* All the client printed (NUL-terminated, at most cap-1 bytes). */
static void peer_read_out(struct peer *p, char *buf, size_t cap)
{
    size_t k = 0;

    for (;;) {
        struct pollfd pf = {p->out, POLLIN, 0};
        ssize_t n;

        if (k + 1 >= cap || poll(&pf, 1, itest_left_ms(p->deadline)) != 1)
            break;
        n = read(p->out, buf + k, cap - 1 - k);
        if (n <= 0)
            break;
        k += (size_t)n;
    }
    buf[k] = '\0';
}

static void peer_close(struct peer *p)
{
    if (p->pid > 0) {
        kill(p->pid, SIGKILL);
        waitpid(p->pid, NULL, 0);
    }
    if (p->cfd >= 0)
        close(p->cfd);
    if (p->out >= 0)
        close(p->out);
    close(p->lfd);
    pl_mqtt_reader_cleanup(&p->r);
}

static bool bytes_eq(struct pl_mqtt_bytes b, const char *s)
{
    return b.p != NULL && b.len == strlen(s) && memcmp(b.p, s, b.len) == 0;
}

#define assert_bytes(b, s)                                                     \
    do {                                                                       \
        if (!bytes_eq((b), (s)))                                               \
            fail_msg("%s is '%.*s', want '%s'", #b, (int)(b).len,             \
                     (const char *)(b).p, (s));                                \
    } while (0)

/* ------------------------------------------------------------------ */
/* mosquitto_pub                                                       */
/* ------------------------------------------------------------------ */

struct pub_row {
    const char *name;
    const char *args[20];    /* after -h and -p; NULL-terminated */
    const char *client_id;   /* "": none sent (mosquitto 2.0 leaves the id
                              * to the broker when the session is clean) */
    bool clean;
    uint16_t keepalive;
    const char *username;    /* NULL: none */
    const char *password;
    const char *will_topic;  /* NULL: no will */
    const char *will_message;
    uint8_t will_qos;
    bool will_retain;
    const char *topic;
    const char *payload;
    uint8_t qos;
    bool retain;
};

static const struct pub_row pub_rows[] = {
    {"QoS 0", {"-t", "a/b", "-m", "hello"}, "", true, 60, NULL, NULL,
     NULL, NULL, 0, false, "a/b", "hello", 0, false},
    {"QoS 1 retained, credentials, keepalive, id",
     {"-t", "sensors/kitchen/temp", "-m", "21.5", "-q", "1", "-r", "-u",
      "dev", "-P", "s3cret", "-k", "30", "-i", "dev1"},
     "dev1", true, 30, "dev", "s3cret", NULL, NULL, 0, false,
     "sensors/kitchen/temp", "21.5", 1, true},
    {"QoS 2, persistent session, will",
     {"-t", "a/b", "-m", "{\"t\": 21.5}", "-q", "2", "-c", "-i", "p2",
      "--will-topic", "wills/p2", "--will-payload", "bye", "--will-qos", "1",
      "--will-retain"},
     "p2", false, 60, NULL, NULL, "wills/p2", "bye", 1, true, "a/b",
     "{\"t\": 21.5}", 2, false},
    {"empty message, UTF-8 topic", {"-t", "caf\xc3\xa9/x", "-n", "-q", "1"},
     "", true, 60, NULL, NULL, NULL, NULL, 0, false, "caf\xc3\xa9/x", "",
     1, false},
};

static void check_connect(const struct pub_row *r,
                          const struct pl_mqtt_connect *c)
{
    assert_int_equal(c->level, 4);
    if (r->client_id[0] != '\0')
        assert_bytes(c->client_id, r->client_id);
    else
        assert_int_equal(c->client_id.len, 0); /* the broker names it */
    assert_int_equal(c->clean_session, r->clean);
    assert_int_equal(c->keepalive, r->keepalive);
    assert_int_equal(c->has_username, r->username != NULL);
    assert_int_equal(c->has_password, r->password != NULL);
    if (r->username != NULL)
        assert_bytes(c->username, r->username);
    if (r->password != NULL)
        assert_bytes(c->password, r->password);
    assert_int_equal(c->will, r->will_topic != NULL);
    if (r->will_topic != NULL) {
        assert_bytes(c->will_topic, r->will_topic);
        assert_bytes(c->will_message, r->will_message);
        assert_int_equal(c->will_qos, r->will_qos);
        assert_int_equal(c->will_retain, r->will_retain);
    }
}

static void test_mosquitto_pub(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(pub_rows) / sizeof(pub_rows[0]); i++) {
        const struct pub_row *r = &pub_rows[i];
        char *argv[28];
        struct peer p;
        struct pl_mqtt_packet pkt;
        const struct pl_mqtt_publish *pub = &pkt.u.publish;
        size_t k = 0;
        uint16_t id = 0;

        peer_listen(&p);
        argv[k++] = (char *)MOSQUITTO_PUB;
        argv[k++] = (char *)"-h";
        argv[k++] = (char *)"127.0.0.1";
        argv[k++] = (char *)"-p";
        argv[k++] = p.port_str;
        for (size_t a = 0; r->args[a] != NULL; a++) {
            assert_true(k + 1 < sizeof(argv) / sizeof(argv[0]));
            argv[k++] = (char *)r->args[a];
        }
        argv[k] = NULL;
        print_message("mosquitto_pub: %s\n", r->name);
        peer_spawn(&p, argv, false);
        peer_accept(&p);

        peer_expect(&p, PL_MQTT_CONNECT, &pkt);
        check_connect(r, &pkt.u.connect);
        peer_send_connack(&p, false, PL_MQTT_CONNACK_ACCEPTED);

        peer_expect(&p, PL_MQTT_PUBLISH, &pkt);
        assert_bytes(pub->topic, r->topic);
        assert_bytes(pub->payload, r->payload);
        assert_int_equal(pub->qos, r->qos);
        assert_int_equal(pub->retain, r->retain);
        assert_false(pub->dup);
        id = pub->packet_id;
        if (r->qos == 1) {
            peer_send_ack(&p, PL_MQTT_PUBACK, id);
        } else if (r->qos == 2) {
            peer_send_ack(&p, PL_MQTT_PUBREC, id);
            peer_expect_ack(&p, PL_MQTT_PUBREL, id);
            peer_send_ack(&p, PL_MQTT_PUBCOMP, id);
        }
        /* it waits for our ack before it says goodbye */
        peer_expect(&p, PL_MQTT_DISCONNECT, &pkt);
        peer_expect_eof(&p);
        assert_int_equal(peer_wait(&p), 0);
        peer_close(&p);
    }
}

/* MQTT 3.1 ("MQIsdp") and MQTT 5: the codec's verdict is CONNACK 1 (the
 * 3.1.1 refusal, which MQTT 5 clients also understand), and the client
 * gives up with an error instead of publishing. */
static void test_mosquitto_pub_other_versions(void **state)
{
    static const char *const versions[] = {"mqttv31", "5"};

    (void)state;
    for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
        struct peer p;
        struct pl_mqtt_frame f;
        struct pl_mqtt_packet pkt;
        int rc = 0;

        peer_listen(&p);
        {
            char *argv[] = {(char *)MOSQUITTO_PUB, (char *)"-h",
                            (char *)"127.0.0.1", (char *)"-p", p.port_str,
                            (char *)"-V", (char *)versions[i], (char *)"-t",
                            (char *)"a", (char *)"-m", (char *)"x", NULL};

            peer_spawn(&p, argv, false);
        }
        peer_accept(&p);
        /* read until the reader has the CONNECT */
        while (rc == 0) {
            struct pollfd pf = {p.cfd, POLLIN, 0};
            size_t used = 0;
            ssize_t n;

            assert_int_equal(poll(&pf, 1, itest_left_ms(p.deadline)), 1);
            n = read(p.cfd, p.in, sizeof(p.in));
            assert_true(n > 0);
            rc = pl_mqtt_reader_feed(&p.r, p.in, (size_t)n, &used, &f);
        }
        assert_int_equal(rc, 1);
        rc = pl_mqtt_decode(&f, &pkt);
        assert_int_equal(rc, -PL_MQTT_E_PROTOCOL_LEVEL);
        peer_send_connack(&p, false, (uint8_t)pl_mqtt_connack_code(rc));
        close(p.cfd);
        p.cfd = -1;
        assert_int_not_equal(peer_wait(&p), 0);
        peer_close(&p);
    }
}

/* ------------------------------------------------------------------ */
/* mosquitto_sub                                                       */
/* ------------------------------------------------------------------ */

static void test_mosquitto_sub(void **state)
{
    static const char *const want_filters[] = {"a/#", "$SYS/#", "deny/+"};
    struct peer p;
    struct pl_mqtt_packet pkt;
    unsigned seen = 0;
    char out[512];

    (void)state;
    peer_listen(&p);
    {
        char *argv[] = {(char *)MOSQUITTO_SUB, (char *)"-h",
                        (char *)"127.0.0.1", (char *)"-p", p.port_str,
                        (char *)"-i", (char *)"sub-1", (char *)"-c",
                        (char *)"-q", (char *)"2", (char *)"-t", (char *)"a/#",
                        (char *)"-t", (char *)"$SYS/#", (char *)"-t",
                        (char *)"deny/+", (char *)"-C", (char *)"3",
                        (char *)"-v", NULL};

        peer_spawn(&p, argv, true);
    }
    peer_accept(&p);
    peer_expect(&p, PL_MQTT_CONNECT, &pkt);
    assert_bytes(pkt.u.connect.client_id, "sub-1");
    assert_false(pkt.u.connect.clean_session);
    peer_send_connack(&p, true, PL_MQTT_CONNACK_ACCEPTED);

    /* one SUBSCRIBE or several: grant 2, 1, and refuse the third */
    while (seen < 3) {
        struct pl_mqtt_filter_iter it;
        struct pl_mqtt_bytes filter;
        uint8_t qos = 0;
        uint8_t codes[3];
        unsigned n = 0;
        unsigned char b[16];

        peer_expect(&p, PL_MQTT_SUBSCRIBE, &pkt);
        pl_mqtt_filters_begin(&it, &pkt.u.filters);
        while (pl_mqtt_filters_next(&it, &filter, &qos)) {
            assert_true(seen < 3);
            assert_bytes(filter, want_filters[seen]);
            assert_int_equal(qos, 2);
            codes[n++] = seen == 0 ? 2 : seen == 1 ? 1
                                                   : PL_MQTT_SUBACK_FAILURE;
            seen++;
        }
        peer_send(&p, b,
                  pl_mqtt_put_suback(b, sizeof(b),
                                     pkt.u.filters.packet_id, codes, n));
    }

    peer_send_publish(&p, "a/x", 0, 0, "m0");
    peer_send_publish(&p, "a/y", 1, 1, "m1");
    peer_expect_ack(&p, PL_MQTT_PUBACK, 1);
    peer_send_publish(&p, "$SYS/z", 2, 2, "m2");
    peer_expect_ack(&p, PL_MQTT_PUBREC, 2);
    peer_send_ack(&p, PL_MQTT_PUBREL, 2);
    peer_expect_ack(&p, PL_MQTT_PUBCOMP, 2);
    /* -C 3: it has its three messages and leaves */
    peer_expect(&p, PL_MQTT_DISCONNECT, &pkt);
    peer_expect_eof(&p);
    peer_read_out(&p, out, sizeof(out));
    assert_int_equal(peer_wait(&p), 0);
    assert_string_equal(out, "a/x m0\na/y m1\n$SYS/z m2\n");
    peer_close(&p);
}

/* ------------------------------------------------------------------ */
/* paho-mqtt                                                           */
/* ------------------------------------------------------------------ */

static bool have_paho(void)
{
    return have(PYTHON) &&
           system(PYTHON " -c 'import paho.mqtt.client' 2>/dev/null") == 0;
}

/* Listens and starts paho_client.py in mode (NULL: the main flow). */
static void paho_start(struct peer *p, const char *mode)
{
    char *argv[] = {(char *)PYTHON, (char *)PAHO_SCRIPT, NULL, (char *)mode,
                    NULL};

    peer_listen(p);
    argv[2] = p->port_str;
    peer_spawn(p, argv, true);
}

/* The script says goodbye, exits 0, and printed out (into buf). */
static void paho_finish(struct peer *p, char *out, size_t n)
{
    struct pl_mqtt_packet pkt;
    int st = 0;

    peer_expect(p, PL_MQTT_DISCONNECT, &pkt);
    peer_expect_eof(p);
    peer_read_out(p, out, n);
    st = peer_wait(p);
    if (st != 0)
        fail_msg("paho_client.py exited %d: %s", st, out);
}

/* The script's side is in paho_client.py; this is ours, step by step. */
static void test_paho(void **state)
{
    struct peer p;
    struct pl_mqtt_packet pkt;
    const struct pl_mqtt_connect *c = &pkt.u.connect;
    struct pl_mqtt_filter_iter it;
    struct pl_mqtt_bytes filter;
    uint8_t qos = 0;
    unsigned char b[64];
    const uint8_t codes[] = {1, PL_MQTT_SUBACK_FAILURE};
    char out[256];
    uint16_t id = 0;

    (void)state;
    paho_start(&p, NULL);
    peer_accept(&p);

    peer_expect(&p, PL_MQTT_CONNECT, &pkt);
    assert_bytes(c->client_id, "paho-1");
    assert_false(c->clean_session);
    assert_int_equal(c->keepalive, 1);
    assert_bytes(c->username, "user");
    assert_bytes(c->password, "secret");
    assert_true(c->will);
    assert_bytes(c->will_topic, "wills/paho");
    assert_bytes(c->will_message, "gone");
    assert_int_equal(c->will_qos, 1);
    assert_true(c->will_retain);
    peer_send_connack(&p, true, PL_MQTT_CONNACK_ACCEPTED);

    peer_expect(&p, PL_MQTT_SUBSCRIBE, &pkt);
    assert_int_equal(pkt.u.filters.count, 2);
    pl_mqtt_filters_begin(&it, &pkt.u.filters);
    assert_true(pl_mqtt_filters_next(&it, &filter, &qos));
    assert_bytes(filter, "s/#");
    assert_int_equal(qos, 1);
    assert_true(pl_mqtt_filters_next(&it, &filter, &qos));
    assert_bytes(filter, "t/+");
    assert_int_equal(qos, 2);
    peer_send(&p, b,
              pl_mqtt_put_suback(b, sizeof(b), pkt.u.filters.packet_id,
                                 codes, 2));

    /* its QoS 2 publish of binary bytes */
    peer_expect(&p, PL_MQTT_PUBLISH, &pkt);
    assert_bytes(pkt.u.publish.topic, "p/q");
    assert_int_equal(pkt.u.publish.payload.len, 2);
    assert_memory_equal(pkt.u.publish.payload.p, "\x00\xff", 2);
    assert_int_equal(pkt.u.publish.qos, 2);
    id = pkt.u.publish.packet_id;
    peer_send_ack(&p, PL_MQTT_PUBREC, id);
    peer_expect_ack(&p, PL_MQTT_PUBREL, id);
    peer_send_ack(&p, PL_MQTT_PUBCOMP, id);

    /* a QoS 1 delivery to it */
    peer_send_publish(&p, "s/x", 1, 7, "hello");
    peer_expect_ack(&p, PL_MQTT_PUBACK, 7);

    peer_expect(&p, PL_MQTT_UNSUBSCRIBE, &pkt);
    assert_int_equal(pkt.u.filters.count, 1);
    pl_mqtt_filters_begin(&it, &pkt.u.filters);
    assert_true(pl_mqtt_filters_next(&it, &filter, NULL));
    assert_bytes(filter, "t/+");
    peer_send(&p, b,
              pl_mqtt_put_unsuback(b, sizeof(b), pkt.u.filters.packet_id));

    /* keepalive 1 s: at least one PINGREQ must come and take our
     * PINGRESP (paho would drop a connection without it) */
    while (p.pings == 0) {
        if (!peer_next_any(&p, &pkt, true))
            fail_msg("the client closed while waiting for PINGREQ");
        if (pkt.type != PL_MQTT_PINGREQ)
            fail_msg("packet type %d while waiting for PINGREQ", pkt.type);
    }
    peer_send_publish(&p, "done", 0, 0, "");
    paho_finish(&p, out, sizeof(out));
    assert_string_equal(out, "paho ok\n");
    peer_close(&p);
}

/* ------------------------------------------------------------------ */
/* paho-mqtt: retries across a reconnect, our side from mqtt_inflight   */
/* ------------------------------------------------------------------ */

/* Sends the delivery e again: its PUBLISH with DUP (the item is its
 * payload), or its PUBREL once the subscriber sent PUBREC. */
static void retry_resend(const struct mqtt_inflight_entry *e, void *arg)
{
    struct peer *p = arg;
    const char *payload = e->item;
    unsigned char b[64];
    size_t n;

    if (e->state == MQTT_INFLIGHT_WAIT_COMP) {
        peer_send_ack(p, PL_MQTT_PUBREL, e->packet_id);
        return;
    }
    n = pl_mqtt_put_publish(b, sizeof(b), "s/x", 3, e->qos, true, false,
                            e->packet_id, payload, strlen(payload));
    peer_send(p, b, n);
}

/* Adds a delivery of payload to the window and sends it; returns its
 * packet id, or 0 when the window is full. */
static uint16_t retry_send(struct peer *p, struct mqtt_inflight *w,
                           const char *payload, uint8_t qos)
{
    int id = mqtt_inflight_add(w, (void *)payload, qos,
                               (uint64_t)itest_mono_ms());

    if (id == -EAGAIN)
        return 0;
    assert_true(id > 0);
    peer_send_publish(p, "s/x", qos, (uint16_t)id, payload);
    return (uint16_t)id;
}

/* Drops the connection without reading the client's last packets (their
 * acks are lost on purpose), then takes its next connection. */
static void peer_reconnect(struct peer *p)
{
    unsigned char sink[512];
    struct pollfd pf = {p->cfd, POLLIN, 0};

    shutdown(p->cfd, SHUT_WR);
    while (poll(&pf, 1, itest_left_ms(p->deadline)) == 1 &&
           read(p->cfd, sink, sizeof(sink)) > 0)
        ;
    close(p->cfd);
    p->cfd = -1;
    pl_mqtt_reader_cleanup(&p->r);
    pl_mqtt_reader_init(&p->r, 1 << 20);
    p->in_len = p->in_off = 0;
    peer_accept(p);
}

/*
 * The first connection of a persistent paho session: CONNACK without a
 * session, SUBACK granting `granted`, and its first PUBLISH, which must
 * be at qos and is left unanswered. Returns that PUBLISH's packet id.
 */
static uint16_t paho_first_connection(struct peer *p, uint8_t granted,
                                      uint8_t qos)
{
    struct pl_mqtt_packet pkt;
    unsigned char b[16];
    bool subscribed = false;
    uint16_t pub_id = 0;

    peer_accept(p);
    peer_expect(p, PL_MQTT_CONNECT, &pkt);
    assert_false(pkt.u.connect.clean_session);
    peer_send_connack(p, false, PL_MQTT_CONNACK_ACCEPTED);
    while (!subscribed || pub_id == 0) {
        if (!peer_next(p, &pkt))
            fail_msg("the client closed before subscribing and publishing");
        if (pkt.type == PL_MQTT_SUBSCRIBE) {
            subscribed = true;
            peer_send(p, b,
                      pl_mqtt_put_suback(b, sizeof(b),
                                         pkt.u.filters.packet_id, &granted,
                                         1));
            continue;
        }
        assert_int_equal(pkt.type, PL_MQTT_PUBLISH);
        assert_int_equal(pkt.u.publish.qos, qos);
        assert_false(pkt.u.publish.dup);
        pub_id = pkt.u.publish.packet_id;
    }
    return pub_id;
}

static void test_paho_retry(void **state)
{
    struct peer p;
    struct pl_mqtt_packet pkt;
    struct mqtt_inflight w;
    uint16_t pub_id = 0;
    bool m3_sent = false;
    bool r1_acked = false;
    char out[256];

    (void)state;
    assert_int_equal(mqtt_inflight_init(&w, 2, NULL, NULL), 0);
    paho_start(&p, "retry");

    /* first connection: take its publish without an ack, send two
     * deliveries (the window is full then), drop it */
    pub_id = paho_first_connection(&p, 1, 1);
    assert_int_equal(retry_send(&p, &w, "m1", 1), 1);
    assert_int_equal(retry_send(&p, &w, "m2", 1), 2);
    assert_int_equal(retry_send(&p, &w, "m3", 1), 0);
    peer_reconnect(&p);

    /* second connection: the session resumes; our window goes out again
     * in order with DUP, its publish comes again with DUP */
    peer_expect(&p, PL_MQTT_CONNECT, &pkt);
    assert_false(pkt.u.connect.clean_session);
    assert_bytes(pkt.u.connect.client_id, "paho-2");
    peer_send_connack(&p, true, PL_MQTT_CONNACK_ACCEPTED);
    assert_int_equal(mqtt_inflight_resend(&w, (uint64_t)itest_mono_ms(), 0,
                                          retry_resend, &p),
                     2);
    while (!r1_acked || !m3_sent || mqtt_inflight_count(&w) > 0) {
        if (!peer_next(&p, &pkt))
            fail_msg("the client closed during the retries");
        if (pkt.type == PL_MQTT_PUBLISH) {
            assert_bytes(pkt.u.publish.topic, "r/1");
            assert_true(pkt.u.publish.dup);
            assert_int_equal(pkt.u.publish.packet_id, pub_id);
            peer_send_ack(&p, PL_MQTT_PUBACK, pub_id);
            r1_acked = true;
            continue;
        }
        assert_int_equal(pkt.type, PL_MQTT_PUBACK);
        assert_int_equal(mqtt_inflight_puback(&w, pkt.u.packet_id), 0);
        if (!m3_sent)
            m3_sent = retry_send(&p, &w, "m3", 1) != 0;
    }
    paho_finish(&p, out, sizeof(out));
    /* the redeliveries came with DUP set, the new one without */
    if (strncmp(out, "paho retry ok ", 14) != 0 ||
        strstr(out, "m1/1") == NULL || strstr(out, "m2/1") == NULL ||
        strstr(out, "m3/0") == NULL)
        fail_msg("paho saw: %s", out);
    mqtt_inflight_cleanup(&w);
    peer_close(&p);
}

/*
 * QoS 2 both ways across a dropped connection: paho's publish is stored
 * once although it comes twice (our PUBREC was never sent the first
 * time), and our delivery reaches paho once although the connection
 * dropped between its PUBREC and our PUBREL.
 */
static void test_paho_qos2_once(void **state)
{
    struct peer p;
    struct pl_mqtt_packet pkt;
    struct mqtt_inflight w;
    struct mqtt_qos2_rx rx;
    uint16_t pub_id = 0;
    uint16_t our_id = 0;
    unsigned stores = 0;
    bool released = false;
    char out[256];

    (void)state;
    assert_int_equal(mqtt_inflight_init(&w, 4, NULL, NULL), 0);
    assert_int_equal(mqtt_qos2_rx_init(&rx, 8), 0);
    paho_start(&p, "qos2");

    /* first connection: store its publish, but send no PUBREC; deliver
     * ours and take its PUBREC, but send no PUBREL; drop */
    pub_id = paho_first_connection(&p, 2, 2);
    assert_int_equal(mqtt_qos2_rx_publish(&rx, pub_id), MQTT_QOS2_RX_NEW);
    stores++;
    assert_int_equal(mqtt_qos2_rx_stored(&rx, pub_id), 0);
    our_id = retry_send(&p, &w, "exactly", 2);
    assert_true(our_id != 0);
    peer_expect_ack(&p, PL_MQTT_PUBREC, our_id);
    assert_int_equal(mqtt_inflight_pubrec(&w, our_id, 0), 0);
    peer_reconnect(&p);

    /* second connection: PUBREL goes again; its publish comes again and
     * is answered, not stored */
    peer_expect(&p, PL_MQTT_CONNECT, &pkt);
    assert_bytes(pkt.u.connect.client_id, "paho-3");
    peer_send_connack(&p, true, PL_MQTT_CONNACK_ACCEPTED);
    assert_int_equal(mqtt_inflight_resend(&w, 1, 0, retry_resend, &p), 1);
    while (!released || mqtt_inflight_count(&w) > 0) {
        if (!peer_next(&p, &pkt))
            fail_msg("the client closed during the QoS 2 flows");
        switch (pkt.type) {
        case PL_MQTT_PUBLISH:
            assert_true(pkt.u.publish.dup);
            assert_int_equal(pkt.u.publish.packet_id, pub_id);
            if (mqtt_qos2_rx_publish(&rx, pub_id) == MQTT_QOS2_RX_NEW)
                stores++;
            peer_send_ack(&p, PL_MQTT_PUBREC, pub_id);
            break;
        case PL_MQTT_PUBREL:
            assert_int_equal(mqtt_qos2_rx_release(&rx, pkt.u.packet_id), 0);
            peer_send_ack(&p, PL_MQTT_PUBCOMP, pkt.u.packet_id);
            released = true;
            break;
        case PL_MQTT_PUBCOMP:
            assert_int_equal(mqtt_inflight_pubcomp(&w, pkt.u.packet_id), 0);
            break;
        default:
            fail_msg("packet type %d during the QoS 2 flows", pkt.type);
        }
    }
    assert_int_equal(stores, 1);
    paho_finish(&p, out, sizeof(out));
    assert_string_equal(out, "paho qos2 ok exactly\n");
    mqtt_qos2_rx_cleanup(&rx);
    mqtt_inflight_cleanup(&w);
    peer_close(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mosquitto_pub),
        cmocka_unit_test(test_mosquitto_pub_other_versions),
        cmocka_unit_test(test_mosquitto_sub),
        cmocka_unit_test(test_paho),
        cmocka_unit_test(test_paho_retry),
        cmocka_unit_test(test_paho_qos2_once),
    };

    /* Without the clients nothing here can run: say so, and let ctest
     * count the test as skipped, not passed. */
    if (!have(MOSQUITTO_PUB) || !have(MOSQUITTO_SUB) || !have_paho()) {
        fprintf(stderr, "mqtt_clients: needs %s, %s and paho-mqtt for %s "
                        "(scripts/install-deps.sh --test)\n",
                MOSQUITTO_PUB, MOSQUITTO_SUB, PYTHON);
        return 77;
    }
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
