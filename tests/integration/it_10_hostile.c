/*
 * it_10_hostile: hostile clients against a real parleyd. Each test attacks
 * the server one way, then checks that a well-behaved client (the
 * bystander) still chats and that the server's resident memory (VmRSS) is
 * back near where it was before the attack; the figures are printed.
 *
 * Attacks: malformed upgrade requests; framing violations (reserved bits
 * and opcodes, oversized or fragmented control frames, orphan
 * continuations, invalid UTF-8); bad close payloads; a frame announcing
 * 2^62 bytes that sends none; deeply nested JSON; slowloris request heads
 * (dropped after --handshake-timeout while good clients carry on);
 * thousands of connections dropped abruptly; a reconnect storm; 100,000
 * subscriptions from one connection (refused past --max-subs); pipelined
 * history requests from a client that never reads (backpressure). Separate
 * servers check --max-conns-per-ip, the keepalive (--ping-interval,
 * --idle-timeout) and --max-conns.
 *
 * Where lws fails a connection without a close frame, the contract
 * accepts a dropped stream instead of close 1002.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "itest.h"

#define W ITEST_WAIT_MS
#define MAX_MSG 65536
#define MAX_SUBS 10000          /* parleyd's default --max-subs */
#define HANDSHAKE_S 2           /* --handshake-timeout of the main group */
/* How much more the server may hold after an attack than before it: the
 * allocator keeps some freed memory, lws keeps some buffers. The figures
 * measured are printed and are far below this. */
#define RSS_MARGIN_KB (24 * 1024)

/* Under AddressSanitizer (PARLEY_SANITIZE builds the server and the tests
 * alike) freed memory sits in a quarantine of up to 256 MB, so RSS says
 * nothing about leaks: the figures are printed but not checked, and
 * ASan's own leak check at exit (the group teardown) takes over. */
#if defined(__SANITIZE_ADDRESS__)
#define RSS_CHECKED false
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RSS_CHECKED false
#endif
#endif
#ifndef RSS_CHECKED
#define RSS_CHECKED true
#endif

/* after (kB) is within margin of before, or RSS is not checked. */
static bool rss_near(long before, long after, long margin)
{
    return !RSS_CHECKED || (before > 0 && after > 0 &&
                            after <= before + margin);
}

/* ------------------------------------------------------------------ */
/* measuring the server                                                */

/* The server's VmRSS in kB, or -1. */
static long rss_kb(void **state)
{
    const struct itest *t = *state;
    char path[64];
    char line[256];
    long kb = -1;
    FILE *f = NULL;

    snprintf(path, sizeof(path), "/proc/%d/status",
             (int)server_pid(t->srv));
    f = fopen(path, "r");
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL)
        if (strncmp(line, "VmRSS:", 6) == 0)
            kb = strtol(line + 6, NULL, 10);
    fclose(f);
    return kb;
}

/* Print the server's RSS after an attack and require it near before. */
static void rss_check(void **state, const char *what, long before)
{
    long after = rss_kb(state);

    fprintf(stderr, "it_10 RSS %-22s before %6ld kB  after %6ld kB  "
            "(%+ld kB)%s\n", what, before, after, after - before,
            RSS_CHECKED ? "" : " (not checked: ASan)");
    assert_true(rss_near(before, after, RSS_MARGIN_KB));
}

/* A TCP connection to 127.0.0.1:port from the local address src (NULL:
 * any), with 5 s send and receive deadlines. The fd, or -errno. */
static int tcp_open(int port, const char *src)
{
    struct sockaddr_in sa;
    struct timeval tv = { 5, 0 };
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int rc = 0;

    if (fd < 0)
        return -errno;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    if (src != NULL) {
        inet_pton(AF_INET, src, &sa.sin_addr);
        if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
            goto fail;
    }
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        goto fail;
    return fd;
fail:
    rc = -errno;
    close(fd);
    return rc;
}

/* Read from fd into buf (NUL-terminated) until the head ends (all: until
 * EOF), the peer resets, or timeout_ms pass. Returns the bytes read. */
static size_t read_until(int fd, char *buf, size_t n, bool all,
                         int timeout_ms)
{
    int64_t deadline = itest_now_ms() + timeout_ms;
    struct pollfd p = { fd, POLLIN, 0 };
    size_t got = 0;
    ssize_t r = 0;

    buf[0] = '\0';
    while (got + 1 < n) {
        int64_t left = deadline - itest_now_ms();

        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            break;
        r = recv(fd, buf + got, n - 1 - got, 0);
        if (r <= 0)
            break;
        got += (size_t)r;
        buf[got] = '\0';
        if (!all && strstr(buf, "\r\n\r\n") != NULL)
            break;
    }
    return got;
}

/* Send req over a fresh connection and read the response head into head.
 * Returns the HTTP status, or 0 when no status line came (the server
 * hung up, reset, or said nothing within the deadline). */
static int raw_exchange(int port, const void *req, size_t len, char *head,
                        size_t n)
{
    int fd = tcp_open(port, NULL);
    int status = 0;

    assert_true(fd >= 0);
    if (send(fd, req, len, MSG_NOSIGNAL) < 0)
        head[0] = '\0';
    read_until(fd, head, n, false, 3000);
    close(fd);
    if (sscanf(head, "HTTP/1.%*d %d", &status) != 1)
        status = 0;
    return status;
}

/* GET path from the local address src over one connection; the whole
 * response into buf. Returns the HTTP status or 0. */
static int http_get_from(int port, const char *src, const char *path,
                         char *buf, size_t n)
{
    char req[256];
    int fd = tcp_open(port, src);
    int status = 0;

    if (fd < 0)
        return 0;
    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
             "Connection: close\r\n\r\n", path);
    if (send(fd, req, strlen(req), MSG_NOSIGNAL) > 0)
        read_until(fd, buf, n, true, 3000);
    close(fd);
    if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
        status = 0;
    return status;
}

/* The value of metric name on GET /metrics (from src), or -1. */
static long long metric_from(int port, const char *src, const char *name)
{
    static char buf[64 * 1024];
    size_t nl = strlen(name);
    const char *p = buf;

    if (http_get_from(port, src, "/metrics", buf, sizeof(buf)) != 200)
        return -1;
    while ((p = strstr(p, name)) != NULL) {
        if ((p == buf || p[-1] == '\n') && p[nl] == ' ')
            return strtoll(p + nl + 1, NULL, 10);
        p += nl;
    }
    return -1;
}

static long long metric(void **state, const char *name)
{
    return metric_from(itest_port(state), NULL, name);
}

/* Wait up to 5 s for metric name to reach want. Returns its last value. */
static long long metric_wait(void **state, const char *name, long long want)
{
    int64_t deadline = itest_now_ms() + 5000;
    long long v = metric(state, name);

    while (v != want && itest_now_ms() < deadline) {
        usleep(50 * 1000);
        v = metric(state, name);
    }
    return v;
}

/* ------------------------------------------------------------------ */
/* the bystander                                                       */

/* A client that must stay unaffected: subscribed to its own topic, it
 * publishes and receives one message with the next seq. */
/* The shared bystander (itest.h), asserted. */
static void bystander_start(void **state, struct itest_bystander *b)
{
    assert_int_equal(itest_bystander_start(itest_port(state), b), 0);
}

static void bystander_check(struct itest_bystander *b)
{
    assert_true(itest_bystander_ok(b));
}

static void bystander_end(struct itest_bystander *b)
{
    bystander_check(b);
    b->id++;
    assert_true(itest_nothing_more(b->c, b->id, ITEST_QUIET_MS));
    rawws_close(b->c);
    b->c = NULL;
}

/* The connection must now fail: a close frame with code, or the stream
 * ends. Any data frame, another code, or silence fails the test. */
static void expect_failed(struct rawws *c, int code, const char *what)
{
    int rc = rawws_expect_close(c, W);

    if (rc == -ENOTCONN || rc == -ECONNRESET)
        return;
    if (rc != code)
        fprintf(stderr, "%s: wanted close %d or a dropped stream, got %d "
                "(%s)\n", what, code, rc, rc < 0 ? rawws_strerror(rc) : "");
    assert_int_equal(rc, code);
}

/* ------------------------------------------------------------------ */
/* group: hostile (defaults, --handshake-timeout 2)                    */

static int group_setup(void **state)
{
    static const char *const extra[] = { "--handshake-timeout", "2", NULL };

    return itest_setup(state, extra);
}

static int group_teardown(void **state)
{
    return itest_teardown(state);
}

#define KEY "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
#define UPG "Upgrade: websocket\r\nConnection: Upgrade\r\n"
#define V13 "Sec-WebSocket-Version: 13\r\n"

struct bad_upgrade {
    const char *what;
    const char *req;
    int status;        /* wanted status; 0: anything but 101 */
};

static const struct bad_upgrade bad_upgrades[] = {
    { "no version", "GET /ws HTTP/1.1\r\nHost: x\r\n" UPG KEY "\r\n", 426 },
    { "version 8", "GET /ws HTTP/1.1\r\nHost: x\r\n" UPG KEY
      "Sec-WebSocket-Version: 8\r\n\r\n", 426 },
    { "version 14", "GET /ws HTTP/1.1\r\nHost: x\r\n" UPG KEY
      "Sec-WebSocket-Version: 14\r\n\r\n", 426 },
    { "no key", "GET /ws HTTP/1.1\r\nHost: x\r\n" UPG V13 "\r\n", 400 },
    { "short key", "GET /ws HTTP/1.1\r\nHost: x\r\n" UPG
      "Sec-WebSocket-Key: abc\r\n" V13 "\r\n", 400 },
    { "key not base64", "GET /ws HTTP/1.1\r\nHost: x\r\n" UPG
      "Sec-WebSocket-Key: !!!!!!!!!!!!!!!!!!!!!!==\r\n" V13 "\r\n", 400 },
    { "no Host", "GET /ws HTTP/1.1\r\n" UPG KEY V13 "\r\n", 400 },
    { "other path", "GET /chat HTTP/1.1\r\nHost: x\r\n" UPG KEY V13 "\r\n",
      404 },
    { "h2c upgrade", "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\n"
      "Connection: Upgrade, HTTP2-Settings\r\n"
      "HTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n", 400 },
    { "unknown upgrade", "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: foo\r\n"
      "Connection: Upgrade\r\n" KEY V13 "\r\n", 0 },
    { "no Connection: Upgrade", "GET /ws HTTP/1.1\r\nHost: x\r\n"
      "Upgrade: websocket\r\n" KEY V13 "\r\n", 0 },
    { "POST upgrade", "POST /ws HTTP/1.1\r\nHost: x\r\n" UPG KEY V13
      "Content-Length: 0\r\n\r\n", 0 },
    { "only other subprotocols", "GET /ws HTTP/1.1\r\nHost: x\r\n" UPG KEY
      V13 "Sec-WebSocket-Protocol: chat, superchat\r\n\r\n", 0 },
    { "garbage", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 0 },
    { "not HTTP", "HELLO THERE\r\n\r\n", 0 },
};

static void test_malformed_upgrades(void **state)
{
    int port = itest_port(state);
    long before = rss_kb(state);
    long long refused0 = metric(state, "parley_handshakes_refused_total");
    long long refused1 = 0;
    struct itest_bystander b;
    char head[4096];
    char big[12000];
    int ours = 0;
    int status = 0;
    size_t i = 0;

    bystander_start(state, &b);
    for (i = 0; i < sizeof(bad_upgrades) / sizeof(bad_upgrades[0]); i++) {
        const struct bad_upgrade *u = &bad_upgrades[i];

        status = raw_exchange(port, u->req, strlen(u->req), head,
                              sizeof(head));
        if (status == 101 || (u->status != 0 && status != u->status))
            fprintf(stderr, "%s: wanted %d, got %d\n%s\n", u->what,
                    u->status, status, head);
        assert_true(status != 101);
        if (u->status != 0)
            assert_int_equal(status, u->status);
        if (status == 426)   /* RFC 6455 4.4: name the version we speak */
            assert_non_null(strcasestr(head, "sec-websocket-version: 13"));
        if (u->status != 0)
            ours++;
        bystander_check(&b);
    }
    /* Binary junk instead of a request: lws closes it before any
     * per-connection data exists (this once crashed parleyd). */
    memset(big, 0, sizeof(big));
    for (i = 0; i < 400; i++)
        big[i] = (char)(i % 4 == 3 ? 0xff : i % 4);
    memcpy(big + 400, "\r\n\r\n", 4);
    assert_true(raw_exchange(port, big, 404, head, sizeof(head)) != 101);
    bystander_check(&b);
    /* oversized heads: a long header, a long URI, many headers */
    snprintf(big, sizeof(big), "GET /ws HTTP/1.1\r\nHost: x\r\n" UPG KEY V13
             "X-Pad: %09000d\r\n\r\n", 0);
    assert_true(raw_exchange(port, big, strlen(big), head, sizeof(head)) !=
                101);
    snprintf(big, sizeof(big), "GET /ws?%09000d HTTP/1.1\r\nHost: x\r\n" UPG
             KEY V13 "\r\n", 0);
    assert_true(raw_exchange(port, big, strlen(big), head, sizeof(head)) !=
                101);
    big[0] = '\0';
    strcat(big, "GET /ws HTTP/1.1\r\nHost: x\r\n" UPG KEY V13);
    for (i = 0; i < 800; i++)
        strcat(big, "X-A: b\r\n");
    strcat(big, "\r\n");
    assert_true(raw_exchange(port, big, strlen(big), head, sizeof(head)) !=
                101);
    /* every refusal of ours is counted */
    refused1 = metric(state, "parley_handshakes_refused_total");
    fprintf(stderr, "it_10 handshakes refused: %lld -> %lld\n", refused0,
            refused1);
    assert_true(refused1 - refused0 >= ours);
    bystander_end(&b);
    rss_check(state, "malformed upgrades", before);
}

struct bad_frame {
    const char *what;
    int code;          /* close code wanted (or a dropped stream) */
    bool fin;
    int rsv;
    int opcode;
    size_t len;        /* payload length; the payload is 'p' bytes */
};

static const struct bad_frame bad_frames[] = {
    { "RSV1", 1002, true, 4, RAWWS_OP_TEXT, 20 },
    { "RSV2", 1002, true, 2, RAWWS_OP_TEXT, 20 },
    { "RSV3", 1002, true, 1, RAWWS_OP_TEXT, 20 },
    { "opcode 3", 1002, true, 0, 0x3, 4 },
    { "opcode 7", 1002, true, 0, 0x7, 4 },
    { "opcode 0xB", 1002, true, 0, 0xB, 4 },
    { "opcode 0xF", 1002, true, 0, 0xF, 4 },
    { "ping of 126 bytes", 1002, true, 0, RAWWS_OP_PING, 126 },
    { "pong of 200 bytes", 1002, true, 0, RAWWS_OP_PONG, 200 },
    { "close of 126 bytes", 1002, true, 0, RAWWS_OP_CLOSE, 126 },
    { "fragmented ping", 1002, false, 0, RAWWS_OP_PING, 2 },
    { "orphan continuation", 1002, true, 0, RAWWS_OP_CONT, 5 },
};

static void test_framing_violations(void **state)
{
    static const char *const bad_utf8[] = {
        "{\"op\":\"ping\",\"id\":1,\"x\":\"\xff\"}",
        "{\"op\":\"ping\",\"id\":1,\"x\":\"\xed\xa0\x80\"}",
        "{\"op\":\"ping\",\"id\":1,\"x\":\"\xc0\x80\"}",
    };
    static const unsigned char top_bit[] = {
        0x81, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0x10, 1, 2, 3, 4 };
    int port = itest_port(state);
    long before = rss_kb(state);
    unsigned char pad[256];
    struct itest_bystander b;
    struct rawws *c = NULL;
    size_t i = 0;

    memset(pad, 'p', sizeof(pad));
    bystander_start(state, &b);
    for (i = 0; i < sizeof(bad_frames) / sizeof(bad_frames[0]); i++) {
        const struct bad_frame *f = &bad_frames[i];

        c = rawws_connect(port);
        assert_non_null(c);
        rawws_send_frame_ex(c, f->fin, f->rsv, f->opcode, true, pad, f->len);
        expect_failed(c, f->code, f->what);
        rawws_close(c);
        bystander_check(&b);
    }
    /* a new message inside a fragmented one */
    c = rawws_connect(port);
    assert_non_null(c);
    rawws_send_frame_ex(c, false, 0, RAWWS_OP_TEXT, true, "{\"op\":", 6);
    rawws_send_frame_ex(c, true, 0, RAWWS_OP_BINARY, true, "xx", 2);
    expect_failed(c, 1002, "binary inside a fragmented text message");
    rawws_close(c);
    /* the 64-bit length with its top bit set */
    c = rawws_connect(port);
    assert_non_null(c);
    rawws_send_raw(c, top_bit, sizeof(top_bit));
    expect_failed(c, 1002, "length with bit 63 set");
    rawws_close(c);
    /* invalid UTF-8, whole and split across fragments: 1007 */
    for (i = 0; i < sizeof(bad_utf8) / sizeof(bad_utf8[0]); i++) {
        c = rawws_connect(port);
        assert_non_null(c);
        if (i % 2 == 0)
            rawws_send_text(c, bad_utf8[i]);
        else
            rawws_send_fragmented(c, RAWWS_OP_TEXT, bad_utf8[i],
                                  strlen(bad_utf8[i]), 3);
        expect_failed(c, 1007, "invalid UTF-8");
        rawws_close(c);
        bystander_check(&b);
    }
    bystander_end(&b);
    rss_check(state, "framing violations", before);
}

static void test_bad_close_payloads(void **state)
{
    static const int bad_codes[] = { 0, 999, 1004, 1005, 1006, 1015, 1016,
                                     2999, 5000, 65535 };
    int port = itest_port(state);
    long before = rss_kb(state);
    long long errs0 = metric(state, "parley_protocol_error_closes_total");
    long long errs1 = 0;
    unsigned char payload[8];
    struct itest_bystander b;
    struct rawws *c = NULL;
    size_t i = 0;
    int rc = 0;

    bystander_start(state, &b);
    /* one byte: no code, no reason: a protocol error, not echoed */
    c = rawws_connect(port);
    assert_non_null(c);
    assert_int_equal(rawws_send_frame(c, RAWWS_OP_CLOSE, "\x03", 1), 0);
    rc = rawws_expect_close(c, W);
    assert_int_equal(rc, 1002);
    rawws_close(c);
    bystander_check(&b);
    /* codes no endpoint may send */
    for (i = 0; i < sizeof(bad_codes) / sizeof(bad_codes[0]); i++) {
        c = rawws_connect(port);
        assert_non_null(c);
        payload[0] = (unsigned char)(bad_codes[i] >> 8);
        payload[1] = (unsigned char)(bad_codes[i] & 0xff);
        assert_int_equal(rawws_send_frame(c, RAWWS_OP_CLOSE, payload, 2), 0);
        rc = rawws_expect_close(c, W);
        if (rc != 1002)
            fprintf(stderr, "close code %d: wanted 1002 back, got %d\n",
                    bad_codes[i], rc);
        assert_int_equal(rc, 1002);
        rawws_close(c);
    }
    /* a reason that is not UTF-8: 1007, 1002 or a dropped stream */
    c = rawws_connect(port);
    assert_non_null(c);
    memcpy(payload, "\x03\xe8\xff\xfe", 4);
    assert_int_equal(rawws_send_frame(c, RAWWS_OP_CLOSE, payload, 4), 0);
    rc = rawws_expect_close(c, W);
    assert_true(rc == 1007 || rc == 1002 || rc == -ENOTCONN ||
                rc == -ECONNRESET);
    rawws_close(c);
    /* well-formed closes are echoed */
    c = rawws_connect(port);
    assert_non_null(c);
    assert_int_equal(rawws_send_close(c, 1000, "bye"), 0);
    assert_int_equal(rawws_expect_close(c, W), 1000);
    rawws_close(c);
    c = rawws_connect(port);
    assert_non_null(c);
    assert_int_equal(rawws_send_close(c, -1, NULL), 0);
    assert_int_equal(rawws_expect_close(c, W), -1);
    rawws_close(c);
    errs1 = metric(state, "parley_protocol_error_closes_total");
    fprintf(stderr, "it_10 protocol-error closes: %lld -> %lld\n", errs0,
            errs1);
    assert_true(errs1 - errs0 >= 3);   /* the 1-byte one, 5000, 65535 */
    bystander_end(&b);
    rss_check(state, "bad close payloads", before);
}

/* Send a frame header announcing len bytes (masked or not) and nothing of
 * its payload; the server must close with 1009 anyway. Returns the ms it
 * took. */
static int64_t announce_only(int port, int opcode, uint64_t len, bool masked)
{
    unsigned char hdr[14];
    struct rawws *c = rawws_connect(port);
    int64_t t0 = 0;
    size_t n = 0;
    int i = 0;
    int rc = 0;

    assert_non_null(c);
    hdr[n++] = (unsigned char)(0x80 | opcode);
    hdr[n++] = masked ? 0xff : 0x7f;
    for (i = 7; i >= 0; i--)
        hdr[n++] = (unsigned char)(len >> (i * 8));
    if (masked) {
        memcpy(hdr + n, "\x01\x02\x03\x04", 4);
        n += 4;
    }
    t0 = itest_now_ms();
    assert_int_equal(rawws_send_raw(c, hdr, n), 0);
    rc = rawws_expect_close(c, W);
    if (rc != 1009)
        fprintf(stderr, "announced %llu bytes: wanted 1009, got %d %s\n",
                (unsigned long long)len, rc,
                rc < 0 ? rawws_strerror(rc) : "");
    assert_int_equal(rc, 1009);
    rawws_close(c);
    return itest_now_ms() - t0;
}

static void test_huge_length_without_payload(void **state)
{
    int port = itest_port(state);
    long before = rss_kb(state);
    long long large0 = metric(state, "parley_too_large_closes_total");
    long long large1 = 0;
    struct itest_bystander b;
    struct rawws *c = NULL;
    char *text = NULL;
    size_t head = 0;
    int64_t ms[4];
    cJSON *ok = NULL;
    int i = 0;

    bystander_start(state, &b);
    ms[0] = announce_only(port, RAWWS_OP_TEXT, 1ull << 62, true);
    bystander_check(&b);
    ms[1] = announce_only(port, RAWWS_OP_TEXT, 1ull << 62, false);
    ms[2] = announce_only(port, RAWWS_OP_BINARY, 1ull << 62, true);
    ms[3] = announce_only(port, RAWWS_OP_TEXT, MAX_MSG + 1, true);
    fprintf(stderr, "it_10 1009 for a 2^62 header without payload after "
            "%lld, %lld (unmasked), %lld (binary) ms; for %d bytes after "
            "%lld ms\n", (long long)ms[0], (long long)ms[1],
            (long long)ms[2], MAX_MSG + 1, (long long)ms[3]);
    for (i = 0; i < 4; i++)
        assert_true(ms[i] < 3000);
    bystander_check(&b);

    /* No false alarm: exactly the limit, announced and sent slowly. */
    text = malloc(MAX_MSG + 1);
    assert_non_null(text);
    head = (size_t)snprintf(text, 64, "{\"op\":\"ping\",\"id\":5,\"x\":\"");
    memset(text + head, 'x', MAX_MSG - head - 2);
    memcpy(text + MAX_MSG - 2, "\"}", 3);
    c = rawws_connect(port);
    assert_non_null(c);
    assert_int_equal(rawws_send_frame_ex(c, false, 0, RAWWS_OP_TEXT, true,
                                         text, 10), 0);
    /* the rest as one 65526-byte continuation, in three slow parts */
    {
        unsigned char hdr[8] = { 0x80, 0xfe, 0, 0, 9, 9, 9, 9 };
        size_t rest = MAX_MSG - 10;
        unsigned char *masked = malloc(rest);
        size_t k = 0;

        assert_non_null(masked);
        hdr[2] = (unsigned char)(rest >> 8);
        hdr[3] = (unsigned char)(rest & 0xff);
        for (k = 0; k < rest; k++)
            masked[k] = (unsigned char)text[10 + k] ^ 9;
        assert_int_equal(rawws_send_raw(c, hdr, sizeof(hdr)), 0);
        usleep(700 * 1000);
        assert_int_equal(rawws_send_raw(c, masked, rest / 2), 0);
        usleep(700 * 1000);
        assert_int_equal(rawws_send_raw(c, masked + rest / 2,
                                        rest - rest / 2), 0);
        free(masked);
    }
    ok = rawws_expect_ok(c, 5, W);
    assert_non_null(ok);
    cJSON_Delete(ok);
    rawws_close(c);
    free(text);
    large1 = metric(state, "parley_too_large_closes_total");
    assert_int_equal(large1 - large0, 4);
    bystander_end(&b);
    rss_check(state, "2^62 length", before);
}

/* text = prefix + n opening brackets + n closing + suffix. Caller frees. */
static char *nested(const char *prefix, char open, char close, size_t n,
                    const char *suffix)
{
    size_t pl = strlen(prefix);
    size_t sl = strlen(suffix);
    char *s = malloc(pl + 2 * n + sl + 1);

    assert_non_null(s);
    memcpy(s, prefix, pl);
    memset(s + pl, open, n);
    memset(s + pl + n, close, n);
    memcpy(s + pl + 2 * n, suffix, sl + 1);
    return s;
}

static void test_deep_json(void **state)
{
    int port = itest_port(state);
    long before = rss_kb(state);
    struct itest_bystander b;
    struct rawws *c = itest_hello(port, "deep");
    char *text = NULL;
    cJSON *e = NULL;
    size_t depths[] = { 65, 1000, 32000 };
    size_t i = 0;

    assert_non_null(c);
    bystander_start(state, &b);
    for (i = 0; i < sizeof(depths) / sizeof(depths[0]); i++) {
        text = nested("{\"op\":\"ping\",\"id\":3,\"x\":", '[', ']',
                      depths[i], "}");
        assert_int_equal(rawws_send_text(c, text), 0);
        free(text);
        e = rawws_expect_op(c, "error", W);
        assert_non_null(e);
        assert_true(tj_str_is(e, "code", "bad_request"));
        cJSON_Delete(e);
        /* objects too, and as the data of a pub */
        text = nested("{\"op\":\"pub\",\"id\":4,\"topic\":\"d/x\",\"data\":",
                      '[', ']', depths[i], "}");
        assert_int_equal(rawws_send_text(c, text), 0);
        free(text);
        e = rawws_expect_op(c, "error", W);
        assert_non_null(e);
        assert_true(tj_str_is(e, "code", "bad_request"));
        cJSON_Delete(e);
        assert_true(rawws_ping_ok(c, 5, W));
        bystander_check(&b);
    }
    /* 31 levels inside the command (32 with it) are always accepted */
    text = nested("{\"op\":\"ping\",\"id\":6,\"x\":", '[', ']', 31, "}");
    assert_int_equal(rawws_send_text(c, text), 0);
    free(text);
    e = rawws_expect_ok(c, 6, W);
    assert_non_null(e);
    cJSON_Delete(e);
    assert_true(itest_nothing_more(c, 7, ITEST_QUIET_MS));
    rawws_close(c);
    bystander_end(&b);
    rss_check(state, "deep JSON", before);
}

#define SLOW_CONNS 60

static void test_slowloris(void **state)
{
    static const char head[] = "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                               "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                               "X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                               "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
    int port = itest_port(state);
    long before = rss_kb(state);
    long long to0 = metric(state, "parley_handshake_timeouts_total");
    long long to1 = 0;
    int fds[SLOW_CONNS];
    int64_t closed_at[SLOW_CONNS];
    size_t sent[SLOW_CONNS];
    struct itest_bystander b;
    struct rawws *fresh = NULL;
    int64_t t0 = 0;
    int64_t next_check = 0;
    int open_left = SLOW_CONNS;
    int64_t first = INT64_MAX;
    int64_t last = 0;
    int checks = 0;
    int i = 0;

    bystander_start(state, &b);
    t0 = itest_now_ms();
    for (i = 0; i < SLOW_CONNS; i++) {
        fds[i] = tcp_open(port, NULL);
        assert_true(fds[i] >= 0);
        fcntl(fds[i], F_SETFL, O_NONBLOCK);
        closed_at[i] = 0;
        sent[i] = 0;
    }
    /* A third send nothing, a third trickle a byte every 100 ms, a third
     * send all but the final CRLF. Meanwhile the bystander chats and new
     * clients connect. */
    for (i = 2 * SLOW_CONNS / 3; i < SLOW_CONNS; i++) {
        send(fds[i], head, sizeof(head) - 1, MSG_NOSIGNAL);
        sent[i] = sizeof(head) - 1;
    }
    next_check = t0;
    while (open_left > 0 && itest_now_ms() - t0 < HANDSHAKE_S * 1000 + 5000) {
        int64_t now = itest_now_ms();
        char buf[64];

        for (i = 0; i < SLOW_CONNS; i++) {
            ssize_t r = 0;

            if (closed_at[i] != 0)
                continue;
            if (i >= SLOW_CONNS / 3 && i < 2 * SLOW_CONNS / 3 &&
                sent[i] < sizeof(head) - 1 &&
                send(fds[i], head + sent[i], 1, MSG_NOSIGNAL) == 1)
                sent[i]++;
            r = recv(fds[i], buf, sizeof(buf), 0);
            if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
                closed_at[i] = now - t0;
                open_left--;
            } else if (r > 0) {
                fprintf(stderr, "slowloris %d got an answer: %.*s\n", i,
                        (int)r, buf);
                fail();
            }
        }
        if (now >= next_check) {
            bystander_check(&b);
            fresh = rawws_connect(port);
            assert_non_null(fresh);
            assert_true(rawws_ping_ok(fresh, 1, W));
            rawws_close(fresh);
            checks++;
            next_check = now + 400;
        }
        usleep(100 * 1000);
    }
    for (i = 0; i < SLOW_CONNS; i++) {
        if (closed_at[i] != 0 && closed_at[i] < first)
            first = closed_at[i];
        if (closed_at[i] > last)
            last = closed_at[i];
        close(fds[i]);
    }
    fprintf(stderr, "it_10 slowloris: %d of %d dropped, between %lld and "
            "%lld ms (timeout %d s); %d good-client checks meanwhile\n",
            SLOW_CONNS - open_left, SLOW_CONNS, (long long)first,
            (long long)last, HANDSHAKE_S, checks);
    assert_int_equal(open_left, 0);
    assert_true(first >= HANDSHAKE_S * 1000 - 500);
    assert_true(last <= HANDSHAKE_S * 1000 + 3000);
    assert_true(checks >= 3);
    to1 = metric(state, "parley_handshake_timeouts_total");
    assert_true(to1 - to0 >= SLOW_CONNS);
    bystander_end(&b);
    rss_check(state, "slowloris", before);
}

#define DROP_TOTAL 3000
#define DROP_BATCH 250

static void test_abrupt_drops(void **state)
{
    static const char half_head[] = "GET /ws HTTP/1.1\r\nHost: 1";
    int port = itest_port(state);
    long before = rss_kb(state);
    long long conns0 = 0;
    long long tcp0 = 0;
    struct rawws *batch[DROP_BATCH];
    struct itest_bystander b;
    char topic[128];
    int64_t t0 = itest_now_ms();
    long peak = 0;
    cJSON *ok = NULL;
    int done = 0;
    int i = 0;
    int fd = -1;

    bystander_start(state, &b);
    conns0 = metric(state, "parley_connections");
    tcp0 = metric(state, "parley_tcp_connections");
    itest_topic(topic, sizeof(topic), "drop");
    for (done = 0; done < DROP_TOTAL; done += DROP_BATCH) {
        for (i = 0; i < DROP_BATCH; i++) {
            batch[i] = rawws_connect(port);
            assert_non_null(batch[i]);
            switch (i % 4) {
            case 0:   /* a session with a presence subscription */
                rawws_send_textf(batch[i], "{\"op\":\"hello\",\"name\":"
                                 "\"drop%d\"}", i);
                rawws_send_textf(batch[i], "{\"op\":\"sub\",\"topic\":"
                                 "\"%s\",\"presence\":true}", topic);
                break;
            case 1:   /* half a frame */
                rawws_send_raw(batch[i], "\x81\xfe\x10\x00\x01\x02", 6);
                break;
            case 2:   /* a big message half sent */
                rawws_send_raw(batch[i], "\x81\xfe\xff\x00\x01\x02\x03\x04"
                               "abcdefgh", 16);
                break;
            default:  /* nothing */
                break;
            }
        }
        /* TCP connections and HTTP requests cut short, too */
        for (i = 0; i < 20; i++) {
            fd = tcp_open(port, NULL);
            assert_true(fd >= 0);
            if (i % 2)
                send(fd, half_head, sizeof(half_head) - 1, MSG_NOSIGNAL);
            close(fd);
        }
        if (rss_kb(state) > peak)
            peak = rss_kb(state);
        for (i = 0; i < DROP_BATCH; i++)
            rawws_close(batch[i]);
    }
    fprintf(stderr, "it_10 opened and dropped %d WebSockets and %d TCP "
            "connections in %lld ms (peak RSS %ld kB)\n", DROP_TOTAL,
            DROP_TOTAL / DROP_BATCH * 20, (long long)(itest_now_ms() - t0),
            peak);
    /* all gone: sessions, TCP connections, presence */
    assert_int_equal(metric_wait(state, "parley_connections", conns0),
                     conns0);
    assert_int_equal(metric_wait(state, "parley_tcp_connections", tcp0),
                     tcp0);
    assert_int_equal(rawws_send_textf(b.c, "{\"op\":\"presence\",\"id\":3,"
                                      "\"topic\":\"%s\"}", topic), 0);
    ok = rawws_expect_ok(b.c, 3, W);
    assert_non_null(ok);
    assert_int_equal(cJSON_GetArraySize(
        cJSON_GetObjectItemCaseSensitive(ok, "members")), 0);
    cJSON_Delete(ok);
    bystander_end(&b);
    rss_check(state, "abrupt drops", before);
}

#define STORM_ROUNDS 15
#define STORM_CLIENTS 120

static void test_reconnect_storm(void **state)
{
    int port = itest_port(state);
    long before = rss_kb(state);
    long long conns0 = 0;
    struct rawws *cl[STORM_CLIENTS];
    struct itest_bystander b;
    char topic[128];
    int64_t t0 = itest_now_ms();
    int64_t deadline = 0;
    cJSON *ok = NULL;
    int members = -1;
    int round = 0;
    int i = 0;

    bystander_start(state, &b);
    conns0 = metric(state, "parley_connections");
    itest_topic(topic, sizeof(topic), "storm");
    for (round = 0; round < STORM_ROUNDS; round++) {
        /* everyone reconnects at once, resumes with since and presence */
        for (i = 0; i < STORM_CLIENTS; i++) {
            cl[i] = rawws_connect(port);
            assert_non_null(cl[i]);
            rawws_send_textf(cl[i], "{\"op\":\"hello\",\"id\":1,\"name\":"
                             "\"storm%d\"}", i);
            rawws_send_textf(cl[i], "{\"op\":\"sub\",\"id\":2,\"topic\":"
                             "\"%s\",\"since\":0,\"presence\":true}", topic);
        }
        /* one publishes; a few read; then all vanish at once */
        rawws_send_textf(cl[0], "{\"op\":\"pub\",\"topic\":\"%s\","
                         "\"data\":%d}", topic, round);
        for (i = 0; i < STORM_CLIENTS; i += 10) {
            ok = rawws_expect_ok(cl[i], 1, W);
            assert_non_null(ok);
            cJSON_Delete(ok);
        }
        for (i = 0; i < STORM_CLIENTS; i++)
            rawws_close(cl[i]);
        bystander_check(&b);
    }
    fprintf(stderr, "it_10 reconnect storm: %d rounds of %d clients in "
            "%lld ms\n", STORM_ROUNDS, STORM_CLIENTS,
            (long long)(itest_now_ms() - t0));
    assert_int_equal(metric_wait(state, "parley_connections", conns0),
                     conns0);
    /* presence empties once the server saw every connection go */
    deadline = itest_now_ms() + W;
    while (members != 0 && itest_now_ms() < deadline) {
        assert_int_equal(rawws_send_textf(b.c, "{\"op\":\"presence\","
                                          "\"id\":3,\"topic\":\"%s\"}",
                                          topic), 0);
        ok = rawws_expect_ok(b.c, 3, W);
        assert_non_null(ok);
        members = cJSON_GetArraySize(
            cJSON_GetObjectItemCaseSensitive(ok, "members"));
        cJSON_Delete(ok);
    }
    assert_int_equal(members, 0);
    bystander_end(&b);
    rss_check(state, "reconnect storm", before);
}

#define SUB_TOTAL 100000
#define SUB_BATCH 1000

static void test_many_subscriptions(void **state)
{
    int port = itest_port(state);
    long before = rss_kb(state);
    long long subs0 = 0;
    long during = 0;
    struct itest_bystander b;
    struct rawws *c = itest_hello(port, "greedy");
    int64_t t0 = 0;
    int oks = 0;
    int over = 0;
    int k = 0;
    int i = 0;

    assert_non_null(c);
    bystander_start(state, &b);
    subs0 = metric(state, "parley_subscriptions");
    t0 = itest_now_ms();
    for (k = 0; k < SUB_TOTAL; k += SUB_BATCH) {
        /* a batch of sub commands, then its replies */
        for (i = 0; i < SUB_BATCH; i++)
            assert_int_equal(rawws_send_textf(c, "{\"op\":\"sub\",\"id\":%d,"
                                              "\"topic\":\"greedy/%d/t\"}",
                                              k + i + 10, k + i), 0);
        for (i = 0; i < SUB_BATCH; i++) {
            cJSON *r = rawws_recv_json(c, W);

            assert_non_null(r);
            if (tj_str_is(r, "op", "ok")) {
                oks++;
            } else if (tj_str_is(r, "code", "overloaded")) {
                over++;
            } else {
                tj_dump("100k subs: unexpected", r);
                fail();
            }
            cJSON_Delete(r);
        }
        if (k == SUB_TOTAL / 2)
            bystander_check(&b);
    }
    during = rss_kb(state);
    fprintf(stderr, "it_10 %d subscriptions asked in %lld ms: %d ok, %d "
            "overloaded; RSS %ld kB with them\n", SUB_TOTAL,
            (long long)(itest_now_ms() - t0), oks, over, during);
    assert_int_equal(oks, MAX_SUBS);
    assert_int_equal(over, SUB_TOTAL - MAX_SUBS);
    assert_int_equal(metric(state, "parley_subscriptions"),
                     subs0 + MAX_SUBS);
    /* memory is bounded by --max-subs, not by what was asked */
    assert_true(rss_near(before, during, RSS_MARGIN_KB));
    assert_true(rawws_ping_ok(c, 1, W));
    rawws_close(c);
    assert_int_equal(metric_wait(state, "parley_subscriptions", subs0),
                     subs0);
    bystander_end(&b);
    rss_check(state, "100k subscriptions", before);
}

#define FLOOD_CMDS 300000
#define FLOOD_MS 8000
/* Without backpressure the server read all 300,000 in about 2 s and grew
 * by some 88 MB; with it, it stops reading after about 1,000 pending. */
#define FLOOD_MARGIN_KB (8 * 1024)

/* A client that pipelines history requests and never reads: the server
 * must stop reading it rather than hold its pending work. */
static void test_command_flood(void **state)
{
    int port = itest_port(state);
    long before = rss_kb(state);
    long peak = 0;
    long now = 0;
    struct itest_bystander b;
    struct rawws *c = itest_hello(port, "flooder");
    int64_t t0 = itest_now_ms();
    int sent = 0;

    assert_non_null(c);
    bystander_start(state, &b);
    assert_true(itest_pub(c, 2, "flood/t", "\"a stored message\"") >= 1);
    while (sent < FLOOD_CMDS && itest_now_ms() - t0 < FLOOD_MS) {
        if (rawws_send_textf(c, "{\"op\":\"history\",\"id\":%d,"
                             "\"topic\":\"flood/t\",\"limit\":1000}",
                             sent + 10) < 0)
            break;          /* the server stopped reading: good */
        sent++;
        if (sent % 5000 == 0) {
            now = rss_kb(state);
            if (now > peak)
                peak = now;
        }
    }
    fprintf(stderr, "it_10 history flood: %d of %d requests sent in %lld "
            "ms; peak RSS %ld kB\n", sent, FLOOD_CMDS,
            (long long)(itest_now_ms() - t0), peak);
    assert_true(sent < FLOOD_CMDS);
    assert_true(rss_near(before, peak, FLOOD_MARGIN_KB));
    bystander_check(&b);
    rawws_close(c);
    bystander_end(&b);
    rss_check(state, "history flood", before);
}

/* ------------------------------------------------------------------ */
/* group: --max-conns-per-ip 5, nothing exempt                         */

#define PER_IP 5

static int group_setup_per_ip(void **state)
{
    static const char *const extra[] = {
        "--max-conns-per-ip", "5", "--per-ip-exempt", "none", NULL };

    return itest_setup(state, extra);
}

/* True when the server hangs up fd without a word within 2 s. */
static bool dropped_at_once(int fd)
{
    char buf[64];

    return read_until(fd, buf, sizeof(buf), false, 2000) == 0;
}

static void test_per_ip_limit(void **state)
{
    int port = itest_port(state);
    int fds[PER_IP];
    char buf[4096];
    struct rawws *c = NULL;
    int extra = -1;
    int i = 0;

    /* 127.0.0.1 fills its quota with idle connections and WebSockets */
    for (i = 0; i < PER_IP - 1; i++) {
        fds[i] = tcp_open(port, "127.0.0.1");
        assert_true(fds[i] >= 0);
    }
    c = rawws_connect(port);
    assert_non_null(c);
    /* the next one from it is closed at once, and so is a WebSocket */
    extra = tcp_open(port, "127.0.0.1");
    assert_true(extra >= 0);
    assert_true(dropped_at_once(extra));
    close(extra);
    assert_int_equal(http_get_from(port, "127.0.0.1", "/healthz", buf,
                                   sizeof(buf)), 0);
    /* other addresses are not affected */
    assert_int_equal(http_get_from(port, "127.0.0.2", "/healthz", buf,
                                   sizeof(buf)), 200);
    assert_true(metric_from(port, "127.0.0.3",
                            "parley_conns_refused_per_ip_total") >= 2);
    assert_int_equal(metric_from(port, "127.0.0.3",
                                 "parley_peer_addresses"), 2);
    /* the WebSocket that got in works, and a freed slot is usable */
    assert_true(rawws_ping_ok(c, 1, W));
    close(fds[0]);
    /* the server frees the slot when it sees the close: until then a
     * request is still dropped; afterwards it is answered */
    {
        int64_t deadline = itest_mono_ms() + W;
        int status = 0;

        while ((status = http_get_from(port, "127.0.0.1", "/healthz", buf,
                                       sizeof(buf))) == 0 &&
               itest_left_ms(deadline) > 0)
            usleep(10 * 1000);
        assert_int_equal(status, 200);
    }
    for (i = 1; i < PER_IP - 1; i++)
        close(fds[i]);
    rawws_close(c);
}

/* ------------------------------------------------------------------ */
/* group: keepalive (--ping-interval 1 --idle-timeout 2)               */

static int group_setup_keepalive(void **state)
{
    static const char *const extra[] = {
        "--ping-interval", "1", "--idle-timeout", "2", NULL };

    return itest_setup(state, extra);
}

static void test_keepalive(void **state)
{
    int port = itest_port(state);
    long long hup0 = metric(state, "parley_idle_hangups_total");
    struct rawws *deaf = rawws_connect(port);
    struct rawws *alive = rawws_connect(port);
    struct rawws_frame f;
    int64_t t0 = itest_now_ms();
    int64_t pinged = 0;
    int64_t gone = 0;
    int64_t id = 1;
    int rc = 0;
    int i = 0;

    assert_non_null(deaf);
    assert_non_null(alive);
    deaf->auto_pong = false;
    /* the deaf one is pinged, does not answer, and is hung up on, while
     * the other reads (answering the pings on the way) */
    while (gone == 0 && itest_now_ms() - t0 < 6000) {
        assert_true(rawws_ping_ok(alive, id++, W));
        rc = rawws_recv_frame(deaf, &f, 100);
        if (rc == -ETIMEDOUT)
            continue;
        if (rc == 0) {
            if (f.opcode == RAWWS_OP_PING && pinged == 0)
                pinged = itest_now_ms() - t0;
            else if (f.opcode != RAWWS_OP_PING &&
                     f.opcode != RAWWS_OP_CLOSE)
                fail();
            if (f.opcode == RAWWS_OP_CLOSE)
                gone = itest_now_ms() - t0;
            rawws_frame_cleanup(&f);
        } else {
            gone = itest_now_ms() - t0;
        }
    }
    fprintf(stderr, "it_10 keepalive: ping after %lld ms, silent client "
            "dropped after %lld ms\n", (long long)pinged, (long long)gone);
    assert_true(pinged >= 500 && pinged <= 2500);
    assert_true(gone >= 1500 && gone <= 4500);
    rawws_close(deaf);
    /* the one that answers pings is still there, 4 s on */
    for (i = 0; i < 40; i++) {
        assert_true(rawws_ping_ok(alive, id++, W));
        usleep(100 * 1000);
    }
    rawws_close(alive);
    assert_true(metric(state, "parley_idle_hangups_total") >= hup0 + 1);
}

/* ------------------------------------------------------------------ */
/* group: --max-conns 3                                                */

static int group_setup_max_conns(void **state)
{
    static const char *const extra[] = { "--max-conns", "3", NULL };

    return itest_setup(state, extra);
}

static void test_max_conns(void **state)
{
    int port = itest_port(state);
    struct rawws *c[4] = { NULL, NULL, NULL, NULL };
    int i = 0;

    for (i = 0; i < 3; i++) {
        c[i] = rawws_connect(port);
        assert_non_null(c[i]);
        assert_true(rawws_ping_ok(c[i], 1, W));
    }
    c[3] = rawws_connect(port);
    assert_non_null(c[3]);
    assert_int_equal(rawws_expect_close(c[3], W), 1013);
    rawws_close(c[3]);
    assert_true(metric(state, "parley_conns_refused_max_total") >= 1);
    rawws_close(c[0]);
    /* a slot is free once the server has seen that close */
    assert_int_equal(metric_wait(state, "parley_connections", 2), 2);
    c[0] = rawws_connect(port);
    assert_non_null(c[0]);
    assert_true(rawws_ping_ok(c[0], 2, W));
    for (i = 0; i < 3; i++)
        rawws_close(c[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_malformed_upgrades),
        cmocka_unit_test(test_framing_violations),
        cmocka_unit_test(test_bad_close_payloads),
        cmocka_unit_test(test_huge_length_without_payload),
        cmocka_unit_test(test_deep_json),
        cmocka_unit_test(test_slowloris),
        cmocka_unit_test(test_abrupt_drops),
        cmocka_unit_test(test_reconnect_storm),
        cmocka_unit_test(test_many_subscriptions),
        cmocka_unit_test(test_command_flood),
    };
    const struct CMUnitTest per_ip_tests[] = {
        cmocka_unit_test(test_per_ip_limit),
    };
    const struct CMUnitTest keepalive_tests[] = {
        cmocka_unit_test(test_keepalive),
    };
    const struct CMUnitTest max_conns_tests[] = {
        cmocka_unit_test(test_max_conns),
    };
    int rc = 0;

    rc |= cmocka_run_group_tests_name("hostile", tests, group_setup,
                                      group_teardown);
    rc |= cmocka_run_group_tests_name("per_ip", per_ip_tests,
                                      group_setup_per_ip, group_teardown);
    rc |= cmocka_run_group_tests_name("keepalive", keepalive_tests,
                                      group_setup_keepalive, group_teardown);
    rc |= cmocka_run_group_tests_name("max_conns", max_conns_tests,
                                      group_setup_max_conns, group_teardown);
    return itest_exit_code(rc);
}
