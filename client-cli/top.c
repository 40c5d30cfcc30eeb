/*
 * top.c: owns `parley top`: the server's `$SYS` topics as a live view in
 * a terminal, like the /admin page, for a server reached over SSH. It
 * subscribes to `$SYS/#` and redraws in place each time a tick's values
 * have arrived (`$SYS/broker/topics/busiest` ends each burst) or an event
 * came. The retained copies that answer the sub come in no useful order,
 * so the first view waits for the reply to a ping sent after the sub:
 * replies keep their order, so every retained copy is in by then. On a
 * terminal it draws from the top-left corner over the last view and 'q'
 * quits; otherwise (a pipe) each view is printed after the last one,
 * separated by a blank line. --count N exits after N views.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "frame.h"
#include "session.h"

#define TOP_EVENTS 8   /* recent events shown */
#define TOP_BUSIEST 10

/* The values shown, by their topic under $SYS/broker/. */
enum top_value {
    V_CONNECTED, V_TOTAL, V_REFUSED, V_SUBS, V_TOPICS, V_IN, V_OUT,
    V_IN_RATE, V_OUT_RATE, V_BIN_RATE, V_BOUT_RATE, V_QUEUE, V_COMMIT,
    V_SLOW, V_LIMITED, V_UPTIME, V_COUNT
};

static const char *const value_topics[V_COUNT] = {
    [V_CONNECTED] = "clients/connected",
    [V_TOTAL] = "clients/total",
    [V_REFUSED] = "clients/refused",
    [V_SUBS] = "subscriptions/count",
    [V_TOPICS] = "topics/count",
    [V_IN] = "messages/received",
    [V_OUT] = "messages/sent",
    [V_IN_RATE] = "load/messages/received/per_second",
    [V_OUT_RATE] = "load/messages/sent/per_second",
    [V_BIN_RATE] = "load/bytes/received/per_second",
    [V_BOUT_RATE] = "load/bytes/sent/per_second",
    [V_QUEUE] = "store/queue_depth",
    [V_COMMIT] = "store/commit_latency_ms",
    [V_SLOW] = "clients/slow_consumers",
    [V_LIMITED] = "clients/rate_limited",
    [V_UPTIME] = "uptime",
};

struct top_app {
    struct cli_common co;
    struct session *s;
    double v[V_COUNT];
    char version[64];
    char busiest[TOP_BUSIEST][160];
    double busiest_rate[TOP_BUSIEST];
    int n_busiest;
    char events[TOP_EVENTS][240];  /* newest first */
    int n_events;
    int64_t count;                 /* views to draw, 0: until quit */
    int64_t drawn;
    bool tty;                      /* stdout is a terminal */
    bool raw;                      /* stdin put in raw mode */
    struct termios saved;
    int64_t sub_id;
    int64_t ping_id;               /* its ok: the retained copies are in */
    bool live;                     /* the first view was drawn */
};

static const char top_usage[] =
"Usage: parley top [URL] [options]\n"
"\n"
"Shows the server's $SYS topics (connections, message and byte rates,\n"
"store lag, slow consumers, the busiest topics, recent events) and\n"
"redraws them in place every --sys-interval of the server. Press q to\n"
"quit. With auth on, the token's allow_sub must cover $SYS/#.\n"
"\n"
"Options:\n"
"  --count N          exit 0 after N views\n"
"  --token JWT        auth token (default $PARLEY_TOKEN)\n"
"  --name NAME        display name sent in hello\n"
"  -k, --insecure     wss: accept self-signed certificates\n"
"  -h, --help         this help\n"
"\n"
"URL defaults to $PARLEY_URL, else " CLI_URL_DEFAULT ".\n";

static void human_bytes(double b, char *out, size_t n)
{
    if (b >= 1048576)
        snprintf(out, n, "%.1f MiB", b / 1048576);
    else if (b >= 1024)
        snprintf(out, n, "%.1f KiB", b / 1024);
    else
        snprintf(out, n, "%.0f B", b);
}

static void human_uptime(double secs, char *out, size_t n)
{
    long s = (long)secs;

    snprintf(out, n, "%ldd %02ldh %02ldm %02lds", s / 86400,
             (s % 86400) / 3600, (s % 3600) / 60, s % 60);
}

/* One line: on a terminal, clear what an earlier view left behind it. */
static void line(const struct top_app *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void line(const struct top_app *a, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fputs(a->tty ? "\033[K\n" : "\n", stdout);
}

static void draw(struct top_app *a)
{
    char up[48], bin[32], bout[32];
    int i = 0;

    human_uptime(a->v[V_UPTIME], up, sizeof(up));
    human_bytes(a->v[V_BIN_RATE], bin, sizeof(bin));
    human_bytes(a->v[V_BOUT_RATE], bout, sizeof(bout));
    if (a->tty)
        fputs("\033[H", stdout);
    line(a, "parley top  %s  %s  up %s", session_url(a->s), a->version, up);
    line(a, "%s", "");
    line(a, "Connections     %-10.0f since start %-10.0f refused %.0f",
         a->v[V_CONNECTED], a->v[V_TOTAL], a->v[V_REFUSED]);
    line(a, "Subscriptions   %-10.0f topics %.0f", a->v[V_SUBS],
         a->v[V_TOPICS]);
    line(a, "Messages/s      in %-10.2f out %-10.2f (total in %.0f, out %.0f)",
         a->v[V_IN_RATE], a->v[V_OUT_RATE], a->v[V_IN], a->v[V_OUT]);
    line(a, "Bytes/s         in %-10s out %s", bin, bout);
    line(a, "Store           queue %-7.0f commit %.2f ms", a->v[V_QUEUE],
         a->v[V_COMMIT]);
    line(a, "Slow consumers  %-10.0f rate-limited %.0f", a->v[V_SLOW],
         a->v[V_LIMITED]);
    line(a, "%s", "");
    line(a, "Busiest topics                                       msg/s");
    for (i = 0; i < a->n_busiest; i++)
        line(a, "  %-48.48s %9.2f", a->busiest[i], a->busiest_rate[i]);
    if (a->n_busiest == 0)
        line(a, "  (none in the last interval)");
    line(a, "%s", "");
    line(a, "Recent events");
    for (i = 0; i < a->n_events; i++)
        line(a, "  %s", a->events[i]);
    if (a->n_events == 0)
        line(a, "  (none)");
    if (a->tty)
        fputs("\033[J", stdout);
    else
        fputs("\n", stdout);
    fflush(stdout);
    a->drawn++;
    if (a->count > 0 && a->drawn >= a->count)
        session_finish(a->s, CLI_EXIT_OK);
}

static void add_event(struct top_app *a, const char *text)
{
    char stamp[16];
    time_t now = time(NULL);
    struct tm tm;

    localtime_r(&now, &tm);
    strftime(stamp, sizeof(stamp), "%H:%M:%S", &tm);
    memmove(a->events[1], a->events[0],
            sizeof(a->events[0]) * (TOP_EVENTS - 1));
    snprintf(a->events[0], sizeof(a->events[0]), "%s %s", stamp, text);
    if (a->n_events < TOP_EVENTS)
        a->n_events++;
}

static const char *str_or(const cJSON *o, const char *key, const char *def)
{
    const char *s = cli_json_str(o, key);

    return s != NULL ? s : def;
}

static void on_event(struct top_app *a, const char *name, const cJSON *d)
{
    char text[200];
    int64_t n = 0;

    if (strcmp(name, "slow_consumer") == 0) {
        cli_json_int(d, "conn", &n);
        snprintf(text, sizeof(text), "slow consumer %s (connection %lld) "
                 "on %s", str_or(d, "user", "?"), (long long)n,
                 str_or(d, "topic", "replies"));
    } else if (strcmp(name, "refused") == 0) {
        cli_json_int(d, "code", &n);
        snprintf(text, sizeof(text), "refused %s: %s (%lld)",
                 str_or(d, "address", "?"), str_or(d, "reason", "?"),
                 (long long)n);
    } else {
        snprintf(text, sizeof(text), "%s", name);
    }
    add_event(a, text);
    if (a->live)
        draw(a);
}

static void on_busiest(struct top_app *a, const cJSON *d, bool redraw)
{
    const cJSON *t = NULL;

    a->n_busiest = 0;
    cJSON_ArrayForEach(t, d) {
        const cJSON *rate = cJSON_GetObjectItemCaseSensitive(t, "per_second");

        if (a->n_busiest == TOP_BUSIEST)
            break;
        snprintf(a->busiest[a->n_busiest], sizeof(a->busiest[0]), "%s",
                 str_or(t, "topic", "?"));
        a->busiest_rate[a->n_busiest] =
            cJSON_IsNumber(rate) ? rate->valuedouble : 0;
        a->n_busiest++;
    }
    if (redraw)
        draw(a);
}

static void on_msg(struct top_app *a, const cJSON *root)
{
    const char *topic = cli_json_str(root, "topic");
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(root, "data");
    const char *key = NULL;
    int i = 0;

    if (topic == NULL || d == NULL)
        return;
    if (strncmp(topic, "$SYS/events/", 12) == 0) {
        on_event(a, topic + 12, d);
        return;
    }
    if (strncmp(topic, "$SYS/broker/", 12) != 0)
        return;
    key = topic + 12;
    if (strcmp(key, "topics/busiest") == 0) {
        on_busiest(a, d, a->live);
    } else if (strcmp(key, "version") == 0 && cJSON_IsString(d)) {
        snprintf(a->version, sizeof(a->version), "%s", d->valuestring);
    } else if (cJSON_IsNumber(d)) {
        for (i = 0; i < V_COUNT; i++)
            if (strcmp(key, value_topics[i]) == 0)
                a->v[i] = d->valuedouble;
    }
}

static void top_frame(struct session *s, void *user, const cJSON *root,
                      const char *op, int64_t id)
{
    struct top_app *a = user;
    char text[512];

    if (strcmp(op, "msg") == 0) {
        on_msg(a, root);
    } else if (strcmp(op, "ok") == 0 && id == a->ping_id) {
        a->live = true;
        draw(a);
    } else if (strcmp(op, "error") == 0) {
        cli_err("%s%s", id == a->sub_id ? "cannot read $SYS/#: " : "",
                cli_error_text(root, text, sizeof(text)));
        if (id == a->sub_id)
            session_stop(s, CLI_EXIT_FAIL);
    }
}

static void top_ready(struct session *s, void *user, unsigned again)
{
    struct top_app *a = user;
    struct pl_buf b;

    (void)again;
    a->live = false;
    pl_buf_init(&b, 64);
    a->sub_id = session_next_id(s);
    pl_frame_begin(&b, "sub");
    pl_frame_id(&b, a->sub_id);
    pl_frame_kv_str(&b, "topic", "$SYS/#");
    pl_frame_end(&b);
    session_send(s, &b);
    pl_buf_reset(&b);
    a->ping_id = session_next_id(s);
    pl_frame_begin(&b, "ping");
    pl_frame_id(&b, a->ping_id);
    pl_frame_end(&b);
    session_send(s, &b);
    pl_buf_cleanup(&b);
}

static void top_down(struct session *s, void *user, const char *why,
                     int64_t retry_ms)
{
    (void)user;
    if (retry_ms < 0) {
        cli_err("%s: %s", session_url(s), why);
        session_stop(s, CLI_EXIT_FAIL);
    }
}

static int top_input(struct session *s, void *user, int fd)
{
    char c = 0;
    ssize_t n = read(fd, &c, 1);

    (void)user;
    if (n == 0 || (n == 1 && (c == 'q' || c == 'Q'))) {
        session_finish(s, CLI_EXIT_OK);
        return -1;
    }
    return 0;
}

static const struct session_ops top_ops = {
    .ready = top_ready,
    .frame = top_frame,
    .down = top_down,
    .input = top_input,
};

enum { OPT_COUNT = 256 };

static const struct option top_options[] = {
    { "count", required_argument, NULL, OPT_COUNT },
    { "name", required_argument, NULL, CLI_OPT_NAME },
    { "token", required_argument, NULL, CLI_OPT_TOKEN },
    { "insecure", no_argument, NULL, 'k' },
    { "verbose", no_argument, NULL, 'v' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};

/* Parses argv into a. Returns -1 to exit with *status. */
static int top_parse(struct top_app *a, int argc, char **argv, int *status)
{
    int c = 0;

    *status = CLI_EXIT_USAGE;
    while ((c = getopt_long(argc, argv, "kvh", top_options, NULL)) != -1) {
        switch (c) {
        case OPT_COUNT:
            if (cli_parse_int(optarg, 1, INT64_MAX, &a->count) < 0) {
                cli_err("--count wants a number >= 1");
                return -1;
            }
            break;
        case 'h':
            fputs(top_usage, stdout);
            *status = CLI_EXIT_OK;
            return -1;
        default:
            if (cli_common_option(&a->co, c, optarg))
                break;
            fputs(top_usage, stderr);
            return -1;
        }
    }
    if (optind < argc && cli_is_url(argv[optind]))
        a->co.url = argv[optind++];
    if (optind < argc) {
        cli_err("top: unexpected argument '%s'", argv[optind]);
        return -1;
    }
    return 0;
}

/* Keys without Enter and without echo, so that 'q' quits at once. */
static void raw_stdin(struct top_app *a)
{
    struct termios t;

    if (!isatty(0) || tcgetattr(0, &a->saved) < 0)
        return;
    t = a->saved;
    t.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
    t.c_cc[VMIN] = 1;
    t.c_cc[VTIME] = 0;
    if (tcsetattr(0, TCSANOW, &t) == 0)
        a->raw = true;
}

int top_main(int argc, char **argv)
{
    struct top_app a;
    struct session_cfg cfg;
    const char *why = NULL;
    int status = CLI_EXIT_FAIL;

    memset(&a, 0, sizeof(a));
    cli_common_init(&a.co);
    if (top_parse(&a, argc, argv, &status) < 0)
        return status;
    a.tty = isatty(1);
    memset(&cfg, 0, sizeof(cfg));
    cfg.url = a.co.url;
    cfg.token = a.co.token;
    cfg.name = a.co.name;
    cfg.insecure = a.co.insecure;
    cfg.reconnect = true;
    cfg.ops = &top_ops;
    cfg.user = &a;
    if (session_new(&cfg, &a.s, &why) < 0) {
        cli_err("%s: %s", a.co.url, why);
        return CLI_EXIT_FAIL;
    }
    if (isatty(0)) {
        raw_stdin(&a);
        if (session_watch_stdin(a.s) < 0)
            cli_err("cannot watch the keyboard; quit with Ctrl-C");
    }
    if (a.tty)
        fputs("\033[H\033[2J", stdout); /* start on a clean screen */
    session_start(a.s);
    status = session_run(a.s);
    if (a.raw)
        tcsetattr(0, TCSANOW, &a.saved);
    session_free(&a.s);
    return status;
}
