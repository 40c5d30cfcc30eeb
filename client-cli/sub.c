/*
 * sub.c: owns `parley sub`: subscribe to topics and patterns and print
 * each message as one JSON object per line (or a text line), flushing
 * after each, until --count messages or forever.
 *
 * Recovery: the per-topic table in struct track holds the last seq
 * accounted for. A concrete topic's baseline is the seq in its first sub
 * reply (lowered to --since, or by --history); a pattern's baselines come
 * from a `topics` listing taken just before its first sub. After a
 * reconnection a concrete topic is resubscribed with since = its last
 * seq; a pattern with since = the smallest last seq of the topics it
 * matches (0 when a matching topic is new), and messages at or below a
 * topic's own last seq are dropped as already seen. So a reconnection
 * neither loses nor repeats a message that is still stored.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "frame.h"
#include "session.h"
#include "topic.h"
#include "track.h"

enum spec_state {
    SPEC_IDLE,
    SPEC_LISTING,        /* topics request in flight */
    SPEC_SUBSCRIBING,    /* sub request in flight */
    SPEC_ACTIVE,
};

struct spec {
    const char *topic;   /* as given: a topic or a pattern */
    bool pattern;
    enum spec_state state;
    int64_t req_id;
    bool subscribed_once;
    bool sent_since;
    int64_t since_sent;
};

struct sub_app {
    struct cli_common co;
    struct session *s;
    struct track *track;
    struct spec *specs;
    size_t n_specs;
    bool has_since;
    int64_t since;
    bool has_history;
    int64_t history;
    int64_t count;       /* 0: no limit */
    int64_t printed;
    bool text;
    bool done;
};

static const char sub_usage[] =
"Usage: parley sub [URL] TOPIC... [options]\n"
"\n"
"Subscribes to each TOPIC (wildcards + and # allowed) and prints every\n"
"message on stdout, one JSON object per line:\n"
"  {\"topic\":\"t\",\"seq\":1,\"ts\":1764130000123,\"from\":\"alice\","
"\"data\":...}\n"
"(plus \"retained\":true for a retained copy). After a lost connection it\n"
"reconnects and resumes with `since`, without gaps or duplicates.\n"
"\n"
"Options:\n"
"  --since N          first deliver stored messages with seq > N\n"
"  --history N        first deliver the last N stored messages\n"
"  --count N          exit 0 after N messages\n"
"  --format json|text output format (default json)\n"
"  --name NAME        display name sent in hello\n"
"  --token JWT        auth token (default $PARLEY_TOKEN)\n"
"  -k, --insecure     wss: accept self-signed certificates\n"
"  -v, --verbose      report subscriptions on stderr\n"
"  -h, --help         this help\n"
"\n"
"URL defaults to $PARLEY_URL, else " CLI_URL_DEFAULT ".\n";

/* The literal start of a pattern, up to its first wildcard level. */
static size_t pattern_prefix_len(const char *p)
{
    const char *level = p;
    const char *slash = NULL;

    for (;;) {
        if ((level[0] == '+' || level[0] == '#') &&
            (level[1] == '/' || level[1] == '\0'))
            return (size_t)(level - p);
        slash = strchr(level, '/');
        if (slash == NULL)
            return strlen(p);
        level = slash + 1;
    }
}

static void send_sub(struct sub_app *a, struct spec *sp, bool has_since,
                     int64_t since)
{
    struct pl_buf b;

    pl_buf_init(&b, 256);
    sp->req_id = session_next_id(a->s);
    sp->state = SPEC_SUBSCRIBING;
    sp->sent_since = has_since;
    sp->since_sent = since;
    pl_frame_begin(&b, "sub");
    pl_frame_id(&b, sp->req_id);
    pl_frame_kv_str(&b, "topic", sp->topic);
    if (has_since)
        pl_frame_kv_int(&b, "since", since);
    else if (a->has_history)
        pl_frame_kv_int(&b, "history", a->history);
    pl_frame_end(&b);
    session_send(a->s, &b);
    pl_buf_cleanup(&b);
}

static void send_topics(struct sub_app *a, struct spec *sp)
{
    struct pl_buf b;
    size_t n = pattern_prefix_len(sp->topic);

    pl_buf_init(&b, 256);
    sp->req_id = session_next_id(a->s);
    sp->state = SPEC_LISTING;
    pl_frame_begin(&b, "topics");
    pl_frame_id(&b, sp->req_id);
    pl_buf_cstr(&b, ",\"prefix\":");
    pl_buf_json_str(&b, sp->topic, n);
    pl_frame_end(&b);
    session_send(a->s, &b);
    pl_buf_cleanup(&b);
}

/* The baseline of a topic whose latest seq is `latest` at first sub. */
static int64_t baseline(const struct sub_app *a, int64_t latest)
{
    if (a->has_since)
        return a->since < latest ? a->since : latest;
    if (a->has_history)
        return latest > a->history ? latest - a->history : 0;
    return latest;
}

struct min_walk {
    const char *pattern;
    int64_t min;
};

static void min_cb(const char *topic, int64_t seq, void *arg)
{
    struct min_walk *w = arg;

    if (pl_topic_match(w->pattern, topic) && (w->min < 0 || seq < w->min))
        w->min = seq;
}

/* A `topics` reply for a pattern spec: record baselines (first time) or
 * compute the recovery since, then subscribe. */
static void on_topics(struct sub_app *a, struct spec *sp, const cJSON *root,
                      bool ok)
{
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(root, "topics");
    const cJSON *it = NULL;
    const char *t = NULL;
    struct min_walk w = { sp->topic, -1 };
    int64_t seq = 0;
    bool fresh = false;

    if (ok && cJSON_IsArray(list)) {
        cJSON_ArrayForEach(it, list) {
            t = cli_json_str(it, "topic");
            if (t == NULL || cli_json_int(it, "seq", &seq) < 0 ||
                !pl_topic_match(sp->topic, t))
                continue;
            if (!sp->subscribed_once)
                track_init(a->track, t, baseline(a, seq));
            else if (track_get(a->track, t) < 0)
                fresh = true;   /* new since we last looked: all of it */
        }
    }
    if (!sp->subscribed_once) {
        send_sub(a, sp, a->has_since, a->since);
        return;
    }
    track_foreach(a->track, min_cb, &w);
    if (fresh || w.min < 0)
        w.min = 0;
    send_sub(a, sp, true, w.min);
}

static void on_sub_reply(struct sub_app *a, struct spec *sp,
                         const cJSON *root, bool ok)
{
    char text[512];
    int64_t seq = 0;

    if (!ok) {
        cli_err("cannot subscribe to %s: %s", sp->topic,
                cli_error_text(root, text, sizeof(text)));
        a->done = true;
        session_finish(a->s, CLI_EXIT_FAIL);
        return;
    }
    sp->state = SPEC_ACTIVE;
    if (!sp->pattern && cli_json_int(root, "seq", &seq) == 0 &&
        !sp->subscribed_once)
        track_init(a->track, sp->topic, baseline(a, seq));
    if (sp->sent_since && cJSON_IsFalse(
            cJSON_GetObjectItemCaseSensitive(root, "recovered")))
        cli_err("%s: some messages after seq %lld are no longer stored "
                "(the server dropped them); continuing from the oldest "
                "stored", sp->topic, (long long)sp->since_sent);
    if (sp->subscribed_once)
        cli_err("resumed %s after seq %lld", sp->topic,
                (long long)sp->since_sent);
    else if (a->co.verbose && sp->pattern)
        cli_err("subscribed to %s", sp->topic);
    else if (a->co.verbose)
        cli_err("subscribed to %s (seq %lld)", sp->topic, (long long)seq);
    sp->subscribed_once = true;
}

static void print_msg(struct sub_app *a, const cJSON *root, const char *topic,
                      int64_t seq)
{
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(root, "data");
    const char *from = cli_json_str(root, "from");
    char *dtext = NULL;
    int64_t ts = 0;
    struct pl_buf b;
    time_t secs = 0;
    struct tm tm;
    char when[32];

    cli_json_int(root, "ts", &ts);
    if (from == NULL)
        from = "";
    if (data == NULL)
        dtext = strdup("null");
    else if (a->text && cJSON_IsString(data))
        dtext = strdup(data->valuestring);
    else
        dtext = cJSON_PrintUnformatted(data);
    if (dtext == NULL)
        return;
    pl_buf_init(&b, 256 + strlen(dtext));
    if (a->text) {
        secs = (time_t)(ts / 1000);
        localtime_r(&secs, &tm);
        strftime(when, sizeof(when), "%H:%M:%S", &tm);
        pl_buf_cstr(&b, when);
        pl_buf_cstr(&b, " ");
        pl_buf_cstr(&b, topic);
        pl_buf_cstr(&b, " #");
        pl_buf_int(&b, seq);
        pl_buf_cstr(&b, " ");
        pl_buf_cstr(&b, from);
        pl_buf_cstr(&b, ": ");
        pl_buf_cstr(&b, dtext);
    } else {
        pl_buf_cstr(&b, "{\"topic\":");
        pl_buf_json_str(&b, topic, strlen(topic));
        pl_buf_cstr(&b, ",\"seq\":");
        pl_buf_int(&b, seq);
        pl_buf_cstr(&b, ",\"ts\":");
        pl_buf_int(&b, ts);
        pl_buf_cstr(&b, ",\"from\":");
        pl_buf_json_str(&b, from, strlen(from));
        pl_buf_cstr(&b, ",\"data\":");
        pl_buf_cstr(&b, dtext);
        if (cli_json_true(root, "retained"))
            pl_buf_cstr(&b, ",\"retained\":true");
        pl_buf_cstr(&b, "}");
    }
    pl_buf_cstr(&b, "\n");
    if (!pl_buf_failed(&b)) {
        fwrite(pl_buf_data(&b), 1, b.len, stdout);
        if (fflush(stdout) != 0) {
            if (errno != EPIPE)
                cli_err("cannot write to stdout: %s", strerror(errno));
            a->done = true;
            session_stop(a->s, CLI_EXIT_FAIL);
        }
    }
    pl_buf_cleanup(&b);
    cJSON_free(dtext);
}

static void on_msg(struct sub_app *a, const cJSON *root)
{
    const char *topic = cli_json_str(root, "topic");
    int64_t seq = 0;
    int64_t last = 0;

    if (topic == NULL || cli_json_int(root, "seq", &seq) < 0)
        return;
    last = track_get(a->track, topic);
    if (cli_json_true(root, "retained")) {
        /* Only a first subscription (no since) brings retained copies. */
        if (last < 0)
            track_set(a->track, topic, seq);
    } else {
        if (last >= 0 && seq <= last)
            return;     /* already seen, or before our baseline */
        track_set(a->track, topic, seq);
    }
    print_msg(a, root, topic, seq);
    a->printed++;
    if (a->count > 0 && a->printed >= a->count) {
        a->done = true;
        session_finish(a->s, CLI_EXIT_OK);
    }
}

static struct spec *spec_by_id(struct sub_app *a, int64_t id)
{
    size_t i = 0;

    for (i = 0; i < a->n_specs; i++)
        if (a->specs[i].state != SPEC_IDLE && a->specs[i].state !=
            SPEC_ACTIVE && a->specs[i].req_id == id)
            return &a->specs[i];
    return NULL;
}

static void sub_frame(struct session *s, void *user, const cJSON *root,
                      const char *op, int64_t id)
{
    struct sub_app *a = user;
    struct spec *sp = NULL;
    bool ok = strcmp(op, "ok") == 0;
    char text[512];

    (void)s;
    if (a->done)
        return;
    if (strcmp(op, "msg") == 0) {
        on_msg(a, root);
        return;
    }
    if (!ok && strcmp(op, "error") != 0)
        return;         /* join/leave and future pushes */
    sp = id > 0 ? spec_by_id(a, id) : NULL;
    if (sp == NULL) {
        if (!ok)
            cli_err("server error: %s",
                    cli_error_text(root, text, sizeof(text)));
        return;
    }
    if (sp->state == SPEC_LISTING)
        on_topics(a, sp, root, ok);
    else
        on_sub_reply(a, sp, root, ok);
}

static void sub_ready(struct session *s, void *user, unsigned again)
{
    struct sub_app *a = user;
    struct spec *sp = NULL;
    size_t i = 0;

    (void)s;
    if (again > 0)
        cli_err("reconnected to %s", session_url(a->s));
    for (i = 0; i < a->n_specs; i++) {
        sp = &a->specs[i];
        if (sp->pattern)
            send_topics(a, sp);
        else if (!sp->subscribed_once)
            send_sub(a, sp, a->has_since, a->since);
        else
            send_sub(a, sp, true, track_get(a->track, sp->topic));
    }
}

static void sub_down(struct session *s, void *user, const char *why,
                     int64_t retry_ms)
{
    struct sub_app *a = user;
    size_t i = 0;

    for (i = 0; i < a->n_specs; i++)
        a->specs[i].state = SPEC_IDLE;
    if (a->done)
        return;
    if (retry_ms < 0) {
        cli_err("%s: %s", session_url(s), why);
        session_stop(s, CLI_EXIT_FAIL);
        return;
    }
    if (session_retries(s) == 0)
        cli_err("disconnected (%s); reconnecting in %.1fs", why,
                (double)retry_ms / 1000.0);
    else
        cli_err("reconnection failed (%s); retrying in %.1fs", why,
                (double)retry_ms / 1000.0);
}

static const struct session_ops sub_ops = {
    .ready = sub_ready,
    .frame = sub_frame,
    .down = sub_down,
};

enum { OPT_SINCE = 256, OPT_HISTORY, OPT_COUNT, OPT_FORMAT };

static const struct option sub_options[] = {
    { "since", required_argument, NULL, OPT_SINCE },
    { "history", required_argument, NULL, OPT_HISTORY },
    { "count", required_argument, NULL, OPT_COUNT },
    { "format", required_argument, NULL, OPT_FORMAT },
    { "name", required_argument, NULL, CLI_OPT_NAME },
    { "token", required_argument, NULL, CLI_OPT_TOKEN },
    { "insecure", no_argument, NULL, 'k' },
    { "verbose", no_argument, NULL, 'v' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};

/* Parses argv into a. Returns -1 to exit with *status. */
static int sub_parse(struct sub_app *a, int argc, char **argv, int *status)
{
    int c = 0;
    int i = 0;
    const char *t = NULL;

    *status = CLI_EXIT_USAGE;
    while ((c = getopt_long(argc, argv, "kvh", sub_options, NULL)) != -1) {
        switch (c) {
        case OPT_SINCE:
            if (cli_parse_int(optarg, 0, INT64_MAX, &a->since) < 0) {
                cli_err("--since wants a number >= 0");
                return -1;
            }
            a->has_since = true;
            break;
        case OPT_HISTORY:
            if (cli_parse_int(optarg, 0, 1000000, &a->history) < 0) {
                cli_err("--history wants a number >= 0");
                return -1;
            }
            a->has_history = true;
            break;
        case OPT_COUNT:
            if (cli_parse_int(optarg, 1, INT64_MAX, &a->count) < 0) {
                cli_err("--count wants a number >= 1");
                return -1;
            }
            break;
        case OPT_FORMAT:
            if (strcmp(optarg, "json") == 0) {
                a->text = false;
            } else if (strcmp(optarg, "text") == 0) {
                a->text = true;
            } else {
                cli_err("--format is json or text");
                return -1;
            }
            break;
        case 'h':
            fputs(sub_usage, stdout);
            *status = CLI_EXIT_OK;
            return -1;
        default:
            if (cli_common_option(&a->co, c, optarg))
                break;
            fputs(sub_usage, stderr);
            return -1;
        }
    }
    i = optind;
    if (i < argc && cli_is_url(argv[i]))
        a->co.url = argv[i++];
    if (i >= argc) {
        cli_err("sub: no TOPIC given (see parley sub --help)");
        return -1;
    }
    a->specs = calloc((size_t)(argc - i), sizeof(*a->specs));
    if (a->specs == NULL) {
        *status = CLI_EXIT_FAIL;
        return -1;
    }
    for (; i < argc; i++) {
        t = argv[i];
        if (pl_topic_validate(t, strlen(t), true) != PL_OK) {
            cli_err("invalid topic or pattern: '%s'", t);
            return -1;
        }
        a->specs[a->n_specs].topic = t;
        a->specs[a->n_specs].pattern = pl_topic_is_pattern(t, strlen(t));
        a->n_specs++;
    }
    return 0;
}

int sub_main(int argc, char **argv)
{
    struct sub_app a;
    struct session_cfg cfg;
    const char *why = NULL;
    int status = CLI_EXIT_FAIL;

    memset(&a, 0, sizeof(a));
    cli_common_init(&a.co);
    if (sub_parse(&a, argc, argv, &status) < 0)
        goto out;
    status = CLI_EXIT_FAIL;
    if (track_new(&a.track) < 0)
        goto out;
    memset(&cfg, 0, sizeof(cfg));
    cfg.url = a.co.url;
    cfg.token = a.co.token;
    cfg.name = a.co.name;
    cfg.insecure = a.co.insecure;
    cfg.reconnect = true;
    cfg.ops = &sub_ops;
    cfg.user = &a;
    if (session_new(&cfg, &a.s, &why) < 0) {
        cli_err("%s: %s", a.co.url, why);
        goto out;
    }
    session_start(a.s);
    status = session_run(a.s);
out:
    session_free(&a.s);
    track_free(&a.track);
    free(a.specs);
    return status;
}
