/*
 * pub.c: owns `parley pub`: publish one value, or each line of stdin,
 * to a topic. Stdin lines are pipelined: up to a window of publishes are
 * in flight at once, each with its own id, and stdin is read only while
 * the window has room (back-pressure through wsclient_pause_fd). The run
 * ends when every publish sent was answered; the exit status is 0 only
 * when every line was acknowledged.
 *
 * A publish refused with rate_limited or overloaded was not stored: it is
 * sent again after a pause (50 ms, doubling while refusals continue, at
 * most 2 s), before any newer line, and the window is halved for each
 * such episode (it grows back by one per acknowledgement). Lines stay in
 * order except that a line refused in the middle of a pipelined burst can
 * land after a later line the server happened to accept. A lost
 * connection is not retried (without keys a retry could publish twice):
 * it fails the run.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "frame.h"
#include "session.h"
#include "topic.h"

#define PUB_WINDOW 1024
#define PUB_READ_CHUNK 65536
#define PUB_LINE_MAX (1u << 20)
#define PUB_RETRY_MIN_MS 50
#define PUB_RETRY_MAX_MS 2000

/* A publish in flight (slot) or waiting to be sent again (retry list). */
struct pub_item {
    struct pub_item *next;  /* retry list only */
    int64_t id;             /* slot: 0 when free */
    int64_t line;           /* stdin line number, 0 for DATA */
    char *text;             /* the value as given (owned) */
    size_t len;
};

struct pub_app {
    struct cli_common co;
    struct session *s;
    const char *topic;
    const char *data;       /* NULL: read stdin */
    const char *key;
    bool retain;

    char *buf;              /* stdin bytes not yet published */
    size_t len, cap;
    bool eof;
    bool watching;
    int64_t lineno;

    struct pub_item slots[PUB_WINDOW];
    size_t inflight;
    size_t window;          /* current bound on inflight */
    struct pub_item *retry; /* refused for load, by line number */
    bool throttled;         /* a retry pause is running */
    int64_t retry_ms;
    bool acked_since_throttle;
    struct wsclient_timer retry_timer;

    int64_t sent, acked, failed, retried;
    bool finished;
};

static const char pub_usage[] =
"Usage: parley pub [URL] TOPIC DATA [options]\n"
"       parley pub [URL] TOPIC - [options]\n"
"\n"
"Publishes DATA to TOPIC: as JSON when it parses as JSON (42, true,\n"
"{\"a\":1}, \"quoted\"), else as a JSON string. With DATA '-', publishes\n"
"each line of stdin (empty lines are skipped), many in flight at once,\n"
"and waits for every acknowledgement. A publish the server refuses for\n"
"load (rate_limited, overloaded) is retried after a pause. Exits 0 only\n"
"when every message was acknowledged; otherwise says why on stderr and\n"
"exits 1.\n"
"\n"
"Options:\n"
"  --retain           also make it the topic's retained message\n"
"  --key K            idempotency key (with '-': K-<line number>)\n"
"  --name NAME        display name sent in hello\n"
"  --token JWT        auth token (default $PARLEY_TOKEN)\n"
"  -k, --insecure     wss: accept self-signed certificates\n"
"  -v, --verbose      print each acknowledged seq on stderr\n"
"  -h, --help         this help\n"
"\n"
"URL defaults to $PARLEY_URL, else " CLI_URL_DEFAULT ".\n";

static void pub_check_done(struct pub_app *a);

/* Appends v (len bytes) as a data value: verbatim when it is one JSON
 * value, else quoted as a JSON string. */
static void put_data(struct pl_buf *b, const char *v, size_t len)
{
    const char *end = NULL;
    cJSON *j = NULL;
    size_t s = 0;
    size_t e = len;

    while (s < e && strchr(" \t\r\n", v[s]) != NULL)
        s++;
    while (e > s && strchr(" \t\r\n", v[e - 1]) != NULL)
        e--;
    if (e > s) {
        j = cJSON_ParseWithLengthOpts(v + s, e - s, &end, false);
        if (j != NULL && end == v + e) {
            cJSON_Delete(j);
            pl_buf_raw(b, v + s, e - s);
            return;
        }
        cJSON_Delete(j);
    }
    pl_buf_json_str(b, v, len);
}

/* True when one more publish may be sent now. */
static bool can_send(const struct pub_app *a)
{
    int64_t next = session_peek_id(a->s);

    /* The slot of the next id may still wait for an out-of-order reply. */
    return !a->throttled && a->inflight < a->window &&
           a->slots[next % PUB_WINDOW].id == 0;
}

/*
 * Sends one publish of text (len bytes, copied) into a free slot (the
 * caller checked can_send). Returns 0, or a negative errno when nothing
 * was sent.
 */
static int send_pub(struct pub_app *a, const char *text, size_t len,
                    int64_t line)
{
    struct pl_buf b;
    struct pub_item *slot = NULL;
    int64_t id = session_next_id(a->s);
    char *copy = malloc(len + 1);
    char key[256];
    int rc = 0;

    if (copy == NULL)
        return -ENOMEM;
    memcpy(copy, text, len);
    copy[len] = '\0';
    pl_buf_init(&b, len + 128);
    pl_frame_begin(&b, "pub");
    pl_frame_id(&b, id);
    pl_frame_kv_str(&b, "topic", a->topic);
    pl_buf_cstr(&b, ",\"data\":");
    put_data(&b, text, len);
    if (a->retain)
        pl_frame_kv_bool(&b, "retain", true);
    if (a->key != NULL) {
        if (line > 0)
            snprintf(key, sizeof(key), "%s-%lld", a->key, (long long)line);
        else
            snprintf(key, sizeof(key), "%s", a->key);
        pl_frame_kv_str(&b, "key", key);
    }
    pl_frame_end(&b);
    rc = session_send(a->s, &b);
    pl_buf_cleanup(&b);
    if (rc < 0) {
        free(copy);
        return rc;
    }
    slot = &a->slots[id % PUB_WINDOW];
    slot->id = id;
    slot->line = line;
    slot->text = copy;
    slot->len = len;
    a->inflight++;
    a->sent++;
    return 0;
}

/* Sends one value and counts a local failure when that is impossible. */
static void send_or_fail(struct pub_app *a, const char *text, size_t len,
                         int64_t line)
{
    if (send_pub(a, text, len, line) == 0)
        return;
    if (line > 0)
        cli_err("line %lld: cannot send", (long long)line);
    else
        cli_err("cannot send");
    a->failed++;
}

static bool has_line(const struct pub_app *a)
{
    return a->len > 0 && memchr(a->buf, '\n', a->len) != NULL;
}

/*
 * Sends what may be sent: first the publishes refused for load (in line
 * order), then complete buffered lines while the window has room.
 * Returns true when a complete line is still waiting (stdin must stay
 * paused).
 */
static bool pump(struct pub_app *a)
{
    struct pub_item *r = NULL;
    char *nl = NULL;
    char *line = NULL;
    size_t used = 0;
    size_t n = 0;

    while (a->retry != NULL && can_send(a)) {
        r = a->retry;
        a->retry = r->next;
        send_or_fail(a, r->text, r->len, r->line);
        free(r->text);
        free(r);
    }
    if (a->retry != NULL || a->data != NULL)
        return has_line(a);
    while (used < a->len && can_send(a)) {
        nl = memchr(a->buf + used, '\n', a->len - used);
        if (nl == NULL && !a->eof)
            break;
        line = a->buf + used;
        n = nl != NULL ? (size_t)(nl - line) : a->len - used;
        used += n + (nl != NULL ? 1 : 0);
        a->lineno++;
        if (n > 0 && line[n - 1] == '\r')
            n--;
        if (n == 0)
            continue;
        if (!pl_utf8_valid(line, n)) {
            cli_err("line %lld: not valid UTF-8, not published",
                    (long long)a->lineno);
            a->failed++;
            continue;
        }
        send_or_fail(a, line, n, a->lineno);
    }
    if (used > 0) {
        memmove(a->buf, a->buf + used, a->len - used);
        a->len -= used;
    }
    return has_line(a);
}

/* Makes room for one more read chunk. 0 or -ENOMEM. */
static int buf_room(struct pub_app *a)
{
    char *p = NULL;

    if (a->cap - a->len >= PUB_READ_CHUNK)
        return 0;
    p = realloc(a->buf, a->cap + PUB_READ_CHUNK);
    if (p == NULL)
        return -ENOMEM;
    a->buf = p;
    a->cap += PUB_READ_CHUNK;
    return 0;
}

/* Runs pump() and pauses or resumes stdin accordingly. */
static void pump_and_flow(struct pub_app *a)
{
    bool waiting = false;

    if (!session_is_ready(a->s))
        return;
    waiting = pump(a);
    if (a->watching)
        wsclient_pause_fd(session_ws(a->s), waiting);
}

/*
 * Stdin hung up (its writer left) and is no longer polled: read the rest
 * of it from fd 0 (this cannot block: there is no writer any more) and
 * publish it as the window allows. Returns -1 (stop watching).
 */
static int pub_drain(struct pub_app *a)
{
    ssize_t n = 0;

    a->watching = false;
    for (;;) {
        if (buf_room(a) < 0) {
            cli_err("out of memory");
            a->failed++;
            a->len = 0;
            break;
        }
        n = read(STDIN_FILENO, a->buf + a->len, a->cap - a->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        a->len += (size_t)n;
    }
    a->eof = true;
    pump_and_flow(a);
    pub_check_done(a);
    return -1;
}

/* Reads what stdin has; publishes; pauses stdin when the window is full.
 * Returns -1 at end of file or on error (stop watching). */
static int pub_input(struct session *s, void *user, int fd)
{
    struct pub_app *a = user;
    ssize_t n = 0;

    (void)s;
    if (fd < 0)
        return pub_drain(a);
    if (buf_room(a) < 0) {
        cli_err("out of memory");
        a->eof = true;
        a->failed++;
        a->watching = false;
        pub_check_done(a);
        return -1;
    }
    n = read(fd, a->buf + a->len, a->cap - a->len);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return 0;
    if (n < 0) {
        cli_err("cannot read stdin: %s", strerror(errno));
        a->failed++;
        a->eof = true;
        a->len = 0;
    } else if (n == 0) {
        a->eof = true;
    } else {
        a->len += (size_t)n;
    }
    if (!a->eof && a->len > PUB_LINE_MAX && !has_line(a)) {
        cli_err("line %lld: longer than %u bytes, giving up",
                (long long)a->lineno + 1, PUB_LINE_MAX);
        a->failed++;
        a->eof = true;
        a->len = 0;
    }
    if (a->eof) {
        a->watching = false;
        pump_and_flow(a);
        pub_check_done(a);
        return -1;
    }
    pump_and_flow(a);
    return 0;
}

static void pub_check_done(struct pub_app *a)
{
    if (a->finished || a->inflight > 0 || a->retry != NULL)
        return;
    if (a->data == NULL && (!a->eof || a->len > 0))
        return;
    a->finished = true;
    if (a->failed > 0)
        cli_err("%lld message%s not published (%lld acknowledged)",
                (long long)a->failed, a->failed == 1 ? "" : "s",
                (long long)a->acked);
    else if (a->co.verbose && a->retried > 0)
        cli_err("%lld publish%s retried after rate limiting",
                (long long)a->retried, a->retried == 1 ? "" : "es");
    session_finish(a->s, a->failed > 0 ? CLI_EXIT_FAIL : CLI_EXIT_OK);
}

/* The retry pause is over: send again. */
static void retry_fire(struct wsclient *ws, void *arg)
{
    struct pub_app *a = arg;

    (void)ws;
    a->throttled = false;
    pump_and_flow(a);
    pub_check_done(a);
}

/* Moves a refused slot's value to the retry list (kept in line order)
 * and starts a pause when none is running. */
static void retry_later(struct pub_app *a, struct pub_item *slot)
{
    struct pub_item *r = malloc(sizeof(*r));
    struct pub_item **p = &a->retry;

    if (r == NULL) {
        cli_err("out of memory");
        a->failed++;
        free(slot->text);
        return;
    }
    *r = *slot;
    r->id = 0;
    while (*p != NULL && (*p)->line < r->line)
        p = &(*p)->next;
    r->next = *p;
    *p = r;
    a->retried++;
    if (a->throttled)
        return;
    if (a->acked_since_throttle || a->retry_ms == 0)
        a->retry_ms = PUB_RETRY_MIN_MS;
    else if (a->retry_ms < PUB_RETRY_MAX_MS)
        a->retry_ms *= 2;
    a->acked_since_throttle = false;
    a->window = a->window > 1 ? a->window / 2 : 1;
    a->throttled = true;
    wsclient_after(session_ws(a->s), &a->retry_timer, (uint64_t)a->retry_ms,
                   retry_fire, a);
}

static void pub_frame(struct session *s, void *user, const cJSON *root,
                      const char *op, int64_t id)
{
    struct pub_app *a = user;
    struct pub_item *slot = NULL;
    bool ok = strcmp(op, "ok") == 0;
    const char *code = cli_json_str(root, "code");
    char text[512];
    int64_t seq = 0;

    (void)s;
    if (!ok && strcmp(op, "error") != 0)
        return;
    if (id <= 0) {
        if (!ok)
            cli_err("server error: %s",
                    cli_error_text(root, text, sizeof(text)));
        return;
    }
    slot = &a->slots[id % PUB_WINDOW];
    if (slot->id != id)
        return;
    slot->id = 0;
    a->inflight--;
    if (ok) {
        a->acked++;
        a->acked_since_throttle = true;
        if (a->window < PUB_WINDOW)
            a->window++;
        if (a->co.verbose) {
            cli_json_int(root, "seq", &seq);
            cli_err("%s seq %lld%s", a->topic, (long long)seq,
                    cli_json_true(root, "duplicate") ? " (duplicate)" : "");
        }
        free(slot->text);
    } else if (code != NULL && (strcmp(code, "rate_limited") == 0 ||
                                strcmp(code, "overloaded") == 0)) {
        retry_later(a, slot);
    } else {
        a->failed++;
        cli_error_text(root, text, sizeof(text));
        if (slot->line > 0)
            cli_err("line %lld not published to %s: %s",
                    (long long)slot->line, a->topic, text);
        else
            cli_err("not published to %s: %s", a->topic, text);
        free(slot->text);
    }
    slot->text = NULL;
    pump_and_flow(a);
    pub_check_done(a);
}

static void pub_ready(struct session *s, void *user, unsigned again)
{
    struct pub_app *a = user;

    (void)again;
    if (a->data != NULL) {
        send_or_fail(a, a->data, strlen(a->data), 0);
        pub_check_done(a);
        return;
    }
    if (session_watch_stdin(s) < 0) {
        cli_err("cannot poll stdin");
        session_stop(s, CLI_EXIT_FAIL);
        return;
    }
    a->watching = true;
}

static int64_t retry_count(const struct pub_app *a)
{
    const struct pub_item *r = NULL;
    int64_t n = 0;

    for (r = a->retry; r != NULL; r = r->next)
        n++;
    return n;
}

static void pub_down(struct session *s, void *user, const char *why,
                     int64_t retry_ms)
{
    struct pub_app *a = user;
    int64_t lost = (int64_t)a->inflight + retry_count(a);

    (void)retry_ms;
    if (a->finished) {
        session_stop(s, a->failed > 0 ? CLI_EXIT_FAIL : CLI_EXIT_OK);
        return;
    }
    if (a->sent == 0 && a->failed == 0)
        cli_err("cannot publish: %s: %s", session_url(s), why);
    else
        cli_err("connection lost (%s): %lld message%s not acknowledged%s",
                why, (long long)lost, lost == 1 ? "" : "s",
                a->data == NULL && (!a->eof || a->len > 0)
                    ? ", rest of stdin not published" : "");
    session_stop(s, CLI_EXIT_FAIL);
}

static void pub_signal(struct session *s, void *user, int signo)
{
    struct pub_app *a = user;
    int64_t lost = (int64_t)a->inflight + retry_count(a);

    cli_err("interrupted: %lld message%s not acknowledged", (long long)lost,
            lost == 1 ? "" : "s");
    session_stop(s, 128 + signo);
}

static const struct session_ops pub_ops = {
    .ready = pub_ready,
    .frame = pub_frame,
    .down = pub_down,
    .input = pub_input,
    .signal = pub_signal,
};

/* Frees every value still held (in flight or waiting for a retry). */
static void pub_free_items(struct pub_app *a)
{
    struct pub_item *r = NULL;
    size_t i = 0;

    for (i = 0; i < PUB_WINDOW; i++) {
        free(a->slots[i].text);
        a->slots[i].text = NULL;
    }
    while ((r = a->retry) != NULL) {
        a->retry = r->next;
        free(r->text);
        free(r);
    }
}

enum { OPT_RETAIN = 256, OPT_KEY };

static const struct option pub_options[] = {
    { "retain", no_argument, NULL, OPT_RETAIN },
    { "key", required_argument, NULL, OPT_KEY },
    { "name", required_argument, NULL, CLI_OPT_NAME },
    { "token", required_argument, NULL, CLI_OPT_TOKEN },
    { "insecure", no_argument, NULL, 'k' },
    { "verbose", no_argument, NULL, 'v' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};

static int pub_parse(struct pub_app *a, int argc, char **argv, int *status)
{
    int c = 0;
    int i = 0;

    *status = CLI_EXIT_USAGE;
    while ((c = getopt_long(argc, argv, "kvh", pub_options, NULL)) != -1) {
        switch (c) {
        case OPT_RETAIN:
            a->retain = true;
            break;
        case OPT_KEY:
            if (optarg[0] == '\0' || strlen(optarg) > 100) {
                cli_err("--key wants 1 to 100 bytes");
                return -1;
            }
            a->key = optarg;
            break;
        case 'h':
            fputs(pub_usage, stdout);
            *status = CLI_EXIT_OK;
            return -1;
        default:
            if (cli_common_option(&a->co, c, optarg))
                break;
            fputs(pub_usage, stderr);
            return -1;
        }
    }
    i = optind;
    if (i < argc && cli_is_url(argv[i]))
        a->co.url = argv[i++];
    if (argc - i != 2) {
        cli_err("pub wants TOPIC and DATA (or '-' for stdin); see "
                "parley pub --help");
        return -1;
    }
    a->topic = argv[i];
    if (pl_topic_validate(a->topic, strlen(a->topic), false) != PL_OK) {
        cli_err("invalid topic '%s' (no wildcards, no empty levels)",
                a->topic);
        return -1;
    }
    a->data = strcmp(argv[i + 1], "-") == 0 ? NULL : argv[i + 1];
    if (a->data != NULL && !pl_utf8_valid(a->data, strlen(a->data))) {
        cli_err("DATA is not valid UTF-8");
        return -1;
    }
    return 0;
}

int pub_main(int argc, char **argv)
{
    struct pub_app *a = NULL;
    struct session_cfg cfg;
    const char *why = NULL;
    int status = CLI_EXIT_FAIL;

    a = calloc(1, sizeof(*a));
    if (a == NULL)
        return CLI_EXIT_FAIL;
    cli_common_init(&a->co);
    if (pub_parse(a, argc, argv, &status) < 0)
        goto out;
    status = CLI_EXIT_FAIL;
    memset(&cfg, 0, sizeof(cfg));
    cfg.url = a->co.url;
    cfg.token = a->co.token;
    cfg.name = a->co.name;
    cfg.insecure = a->co.insecure;
    cfg.reconnect = false;
    cfg.ops = &pub_ops;
    cfg.user = a;
    a->window = PUB_WINDOW;
    if (session_new(&cfg, &a->s, &why) < 0) {
        cli_err("%s: %s", a->co.url, why);
        goto out;
    }
    session_start(a->s);
    status = session_run(a->s);
out:
    session_free(&a->s);
    pub_free_items(a);
    free(a->buf);
    free(a);
    return status;
}
