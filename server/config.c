/*
 * config.c: defaults and command-line flags for parleyd. Values point into
 * argv except the secret, which is read from a file or copied and owned.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "topic.h"

enum {
    OPT_PORT = 256, OPT_BIND, OPT_DB, OPT_LOG_LEVEL, OPT_MAX_MESSAGE,
    OPT_QUEUE_BYTES, OPT_QUEUE_MSGS, OPT_MAX_SUBS, OPT_RECENT, OPT_RECENT_MEMORY,
    OPT_EPHEMERAL,
    OPT_DURABILITY, OPT_DEDUPE, OPT_RETAIN_MESSAGES, OPT_RETAIN_AGE,
    OPT_SECRET, OPT_SECRET_FILE, OPT_RATE, OPT_BURST, OPT_ALLOW_ORIGIN,
    OPT_CERT, OPT_KEY, OPT_WEB_ROOT, OPT_MAX_CONNS, OPT_HELP, OPT_VERSION,
    OPT_MAX_DEPTH, OPT_RX_BUFFER, OPT_MAX_CONNS_PER_IP, OPT_PER_IP_EXEMPT,
    OPT_HANDSHAKE_TIMEOUT, OPT_PING_INTERVAL, OPT_IDLE_TIMEOUT,
};

static const struct option options[] = {
    { "port", required_argument, NULL, OPT_PORT },
    { "bind", required_argument, NULL, OPT_BIND },
    { "db", required_argument, NULL, OPT_DB },
    { "log-level", required_argument, NULL, OPT_LOG_LEVEL },
    { "max-message", required_argument, NULL, OPT_MAX_MESSAGE },
    { "queue-bytes", required_argument, NULL, OPT_QUEUE_BYTES },
    { "queue-msgs", required_argument, NULL, OPT_QUEUE_MSGS },
    { "max-subs", required_argument, NULL, OPT_MAX_SUBS },
    { "recent", required_argument, NULL, OPT_RECENT },
    { "recent-memory", required_argument, NULL, OPT_RECENT_MEMORY },
    { "ephemeral", required_argument, NULL, OPT_EPHEMERAL },
    { "durability", required_argument, NULL, OPT_DURABILITY },
    { "dedupe-window", required_argument, NULL, OPT_DEDUPE },
    { "retain-messages", required_argument, NULL, OPT_RETAIN_MESSAGES },
    { "retain-age", required_argument, NULL, OPT_RETAIN_AGE },
    { "secret", required_argument, NULL, OPT_SECRET },
    { "secret-file", required_argument, NULL, OPT_SECRET_FILE },
    { "rate", required_argument, NULL, OPT_RATE },
    { "burst", required_argument, NULL, OPT_BURST },
    { "allow-origin", required_argument, NULL, OPT_ALLOW_ORIGIN },
    { "cert", required_argument, NULL, OPT_CERT },
    { "key", required_argument, NULL, OPT_KEY },
    { "web-root", required_argument, NULL, OPT_WEB_ROOT },
    { "max-conns", required_argument, NULL, OPT_MAX_CONNS },
    { "max-conns-per-ip", required_argument, NULL, OPT_MAX_CONNS_PER_IP },
    { "per-ip-exempt", required_argument, NULL, OPT_PER_IP_EXEMPT },
    { "handshake-timeout", required_argument, NULL, OPT_HANDSHAKE_TIMEOUT },
    { "ping-interval", required_argument, NULL, OPT_PING_INTERVAL },
    { "idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT },
    { "max-depth", required_argument, NULL, OPT_MAX_DEPTH },
    { "rx-buffer", required_argument, NULL, OPT_RX_BUFFER },
    { "help", no_argument, NULL, OPT_HELP },
    { "version", no_argument, NULL, OPT_VERSION },
    { NULL, 0, NULL, 0 },
};

static const char usage[] =
"Usage: parleyd [options]\n"
"\n"
"A real-time WebSocket chat and pub/sub server (protocol parley.v1).\n"
"\n"
"Network:\n"
"  --port N              listen port, 0 picks a free one (default 8080)\n"
"  --bind ADDR           listen address (default 127.0.0.1; 0.0.0.0 for all)\n"
"  --cert FILE --key FILE  serve wss:// and https:// on the same port\n"
"  --allow-origin ORIGIN browsers from ORIGIN may connect (repeatable);\n"
"                        default: same origin as the server only\n"
"  --web-root DIR        serve the web client from DIR instead of the\n"
"                        copy built into the binary (development)\n"
"Storage:\n"
"  --db PATH             SQLite database file (default data/parley.db)\n"
"  --durability MODE     process: survives a crash of parleyd (default);\n"
"                        power: also survives power loss (slower)\n"
"  --retain-messages N   keep the newest N messages per topic (0: all)\n"
"  --retain-age DUR      drop messages older than DUR (e.g. 7d; 0: never)\n"
"  --dedupe-window DUR   remember publish keys this long (default 24h)\n"
"  --ephemeral PATTERN   never store topics matching PATTERN (repeatable;\n"
"                        default typing/#; 'none' for no ephemeral topics)\n"
"  --recent N            recent messages kept in memory per topic (64)\n"
"  --recent-memory BYTES all topics' recent messages together (64MiB)\n"
"Limits:\n"
"  --max-message BYTES   largest client message (default 64KiB)\n"
"  --queue-bytes BYTES   out-queue bound per connection (default 8MiB)\n"
"  --queue-msgs N        out-queue bound in messages (default 100000)\n"
"  --max-subs N          subscriptions per connection (default 10000)\n"
"  --max-conns N         connections in total (default 100000)\n"
"  --max-conns-per-ip N  TCP connections per client address (default\n"
"                        1000; 0: off)\n"
"  --per-ip-exempt ADDR  an address (or 'loopback') --max-conns-per-ip\n"
"                        does not apply to (repeatable; default loopback;\n"
"                        'none' exempts nothing)\n"
"  --handshake-timeout DUR  time to send the HTTP request head (10s)\n"
"  --ping-interval DUR   WebSocket ping after DUR without a pong (30s;\n"
"                        0: no keepalive)\n"
"  --idle-timeout DUR    hang up after DUR without a pong (60s)\n"
"  --rate N --burst N    publishes per second per connection, and the\n"
"                        burst allowed (default 10000, burst twice the\n"
"                        rate; --rate 0: off)\n"
"  --rx-buffer BYTES     receive buffer per connection (default 256):\n"
"                        small keeps idle connections cheap; larger\n"
"                        messages arrive in pieces and are joined\n"
"  --max-depth N         JSON nesting limit, at least 32 (default 64)\n"
"Auth:\n"
"  --secret S            require HS256 JWTs signed with S\n"
"  --secret-file FILE    the same, secret read from FILE\n"
"Other:\n"
"  --log-level LEVEL     error, warn, notice (default), info, debug\n"
"  --help, --version\n";

void config_defaults(struct pl_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->port = 8080;
    cfg->bind = "127.0.0.1";
    cfg->db_path = "data/parley.db";
    cfg->log_level = LOG_NOTICE;
    cfg->max_message = 65536;
    cfg->queue_bytes = 8u << 20;
    cfg->queue_msgs = 100000;
    cfg->max_subs = 10000;
    cfg->recent_msgs = 64;
    cfg->recent_bytes = 1u << 20;
    cfg->recent_memory = (size_t)64 << 20;
    cfg->dedupe_window_ms = 24LL * 3600 * 1000;
    /* A chat client sends a few messages a second and a busy gateway a
     * few hundred, but `parley pub` fed a file publishes as fast as acks
     * come (the CLI tests send 10,000 lines in well under a second):
     * 10,000/s with a 20,000 burst lets that through and stops a flood. */
    cfg->rate = 10000;
    cfg->burst = 0;           /* twice the rate unless --burst */
    cfg->max_conns = 100000;
    /* Loopback is exempt: a reverse proxy on this host, and the project's
     * own benchmark (19,000 connections from 127.0.0.1), arrive from it. */
    cfg->max_conns_per_ip = 1000;
    cfg->per_ip_exempt[0] = "loopback";
    cfg->n_per_ip_exempt = 1;
    cfg->per_ip_exempt_default = true;
    cfg->handshake_timeout = 10;
    cfg->ping_interval = 30;
    cfg->idle_timeout = 60;
    cfg->store_pending_max = 200000;
    cfg->max_depth = 64;
    cfg->rx_buffer = 256;
    /* Typing indicators are worth nothing a second later: never stored.
     * The first --ephemeral flag replaces this default. */
    cfg->ephemeral[0] = "typing/#";
    cfg->n_ephemeral = 1;
    cfg->ephemeral_default = true;
}

void config_cleanup(struct pl_config *cfg)
{
    free(cfg->secret);
    cfg->secret = NULL;
}

int64_t config_parse_duration(const char *s)
{
    char *end = NULL;
    double v = 0;

    errno = 0;
    v = strtod(s, &end);
    if (errno != 0 || end == s || v < 0)
        return -1;
    if (*end == '\0' || strcmp(end, "s") == 0)
        return (int64_t)(v * 1000);
    if (strcmp(end, "ms") == 0)
        return (int64_t)v;
    if (strcmp(end, "m") == 0)
        return (int64_t)(v * 60 * 1000);
    if (strcmp(end, "h") == 0)
        return (int64_t)(v * 3600 * 1000);
    if (strcmp(end, "d") == 0)
        return (int64_t)(v * 86400 * 1000);
    return -1;
}

int64_t config_parse_size(const char *s)
{
    char *end = NULL;
    double v = 0;

    errno = 0;
    v = strtod(s, &end);
    if (errno != 0 || end == s || v < 0)
        return -1;
    if (*end == '\0' || strcmp(end, "B") == 0)
        return (int64_t)v;
    if (strcmp(end, "K") == 0 || strcmp(end, "KiB") == 0 ||
        strcmp(end, "k") == 0)
        return (int64_t)(v * 1024);
    if (strcmp(end, "M") == 0 || strcmp(end, "MiB") == 0)
        return (int64_t)(v * 1024 * 1024);
    if (strcmp(end, "G") == 0 || strcmp(end, "GiB") == 0)
        return (int64_t)(v * 1024 * 1024 * 1024);
    return -1;
}

static int parse_uint(const char *s, long long min, long long max,
                      long long *out)
{
    char *end = NULL;
    long long v = 0;

    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static int read_secret_file(struct pl_config *cfg, const char *path)
{
    FILE *f = fopen(path, "rb");
    char buf[4096];
    size_t n = 0;

    if (f == NULL) {
        fprintf(stderr, "parleyd: cannot read --secret-file %s: %s\n", path,
                strerror(errno));
        return -1;
    }
    n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    if (n == 0) {
        fprintf(stderr, "parleyd: --secret-file %s is empty\n", path);
        return -1;
    }
    free(cfg->secret);
    cfg->secret = malloc(n + 1);
    if (cfg->secret == NULL)
        return -1;
    memcpy(cfg->secret, buf, n);
    cfg->secret[n] = '\0';
    cfg->secret_len = n;
    return 0;
}

/* A duration flag in whole seconds within [min, max]; -1 if bad. */
static int parse_secs(const char *s, int min, int max)
{
    int64_t ms = config_parse_duration(s);

    if (ms < 0 || ms % 1000 != 0 || ms / 1000 < min || ms / 1000 > max)
        return -1;
    return (int)(ms / 1000);
}

static int bad_value(const char *flag, const char *val)
{
    fprintf(stderr, "parleyd: invalid value for --%s: '%s' (see --help)\n",
            flag, val);
    return -1;
}

static int apply(struct pl_config *cfg, int opt, const char *arg)
{
    long long v = 0;
    int64_t d = 0;
    const char *name = "?";
    const struct option *o = NULL;

    for (o = options; o->name != NULL; o++)
        if (o->val == opt)
            name = o->name;

    switch (opt) {
    case OPT_PORT:
        if (parse_uint(arg, 0, 65535, &v) < 0)
            return bad_value(name, arg);
        cfg->port = (int)v;
        return 0;
    case OPT_BIND:
        cfg->bind = arg;
        return 0;
    case OPT_DB:
        cfg->db_path = arg;
        return 0;
    case OPT_LOG_LEVEL:
        cfg->log_level = log_level_parse(arg);
        return cfg->log_level < 0 ? bad_value(name, arg) : 0;
    case OPT_MAX_MESSAGE:
        d = config_parse_size(arg);
        if (d < 256 || d > (1LL << 30))
            return bad_value(name, arg);
        cfg->max_message = (size_t)d;
        return 0;
    case OPT_QUEUE_BYTES:
        d = config_parse_size(arg);
        if (d < 1024)
            return bad_value(name, arg);
        cfg->queue_bytes = (size_t)d;
        return 0;
    case OPT_QUEUE_MSGS:
        if (parse_uint(arg, 1, 1 << 30, &v) < 0)
            return bad_value(name, arg);
        cfg->queue_msgs = (uint32_t)v;
        return 0;
    case OPT_MAX_SUBS:
        if (parse_uint(arg, 1, 1 << 30, &v) < 0)
            return bad_value(name, arg);
        cfg->max_subs = (uint32_t)v;
        return 0;
    case OPT_RECENT:
        if (parse_uint(arg, 0, 1 << 20, &v) < 0)
            return bad_value(name, arg);
        cfg->recent_msgs = (uint32_t)v;
        return 0;
    case OPT_RECENT_MEMORY:
        d = config_parse_size(arg);
        if (d < 1024)
            return bad_value(name, arg);
        cfg->recent_memory = (size_t)d;
        return 0;
    case OPT_EPHEMERAL:
        if (cfg->ephemeral_default) {
            cfg->ephemeral_default = false;
            cfg->n_ephemeral = 0;
        }
        if (strcmp(arg, "none") == 0)
            return 0;
        if (cfg->n_ephemeral == CONFIG_LIST_MAX ||
            pl_topic_validate(arg, strlen(arg), true) != PL_OK)
            return bad_value(name, arg);
        cfg->ephemeral[cfg->n_ephemeral++] = arg;
        return 0;
    case OPT_DURABILITY:
        if (strcmp(arg, "process") == 0)
            cfg->durability_power = false;
        else if (strcmp(arg, "power") == 0)
            cfg->durability_power = true;
        else
            return bad_value(name, arg);
        return 0;
    case OPT_DEDUPE:
        d = config_parse_duration(arg);
        if (d < 0)
            return bad_value(name, arg);
        cfg->dedupe_window_ms = d;
        return 0;
    case OPT_RETAIN_MESSAGES:
        if (parse_uint(arg, 0, 1LL << 62, &v) < 0)
            return bad_value(name, arg);
        cfg->retain_messages = v;
        return 0;
    case OPT_RETAIN_AGE:
        d = config_parse_duration(arg);
        if (d < 0)
            return bad_value(name, arg);
        cfg->retain_age_ms = d;
        return 0;
    case OPT_SECRET:
        free(cfg->secret);
        cfg->secret_len = strlen(arg);
        cfg->secret = strdup(arg);
        if (cfg->secret_len == 0 || cfg->secret == NULL)
            return bad_value(name, arg);
        return 0;
    case OPT_SECRET_FILE:
        return read_secret_file(cfg, arg);
    case OPT_RATE:
    case OPT_BURST: {
        char *end = NULL;
        double r = strtod(arg, &end);

        if (end == arg || *end != '\0' || r < 0)
            return bad_value(name, arg);
        if (opt == OPT_RATE)
            cfg->rate = r;
        else
            cfg->burst = r;
        return 0;
    }
    case OPT_ALLOW_ORIGIN:
        if (cfg->n_allow_origin == CONFIG_LIST_MAX)
            return bad_value(name, arg);
        cfg->allow_origin[cfg->n_allow_origin++] = arg;
        return 0;
    case OPT_CERT:
        cfg->cert = arg;
        return 0;
    case OPT_KEY:
        cfg->key = arg;
        return 0;
    case OPT_WEB_ROOT:
        cfg->web_root = arg;
        return 0;
    case OPT_MAX_CONNS:
        if (parse_uint(arg, 1, 1 << 30, &v) < 0)
            return bad_value(name, arg);
        cfg->max_conns = (uint32_t)v;
        return 0;
    case OPT_MAX_CONNS_PER_IP:
        if (parse_uint(arg, 0, 1 << 30, &v) < 0)
            return bad_value(name, arg);
        cfg->max_conns_per_ip = (uint32_t)v;
        return 0;
    case OPT_PER_IP_EXEMPT: {
        unsigned char addr[16];

        if (cfg->per_ip_exempt_default) {
            cfg->per_ip_exempt_default = false;
            cfg->n_per_ip_exempt = 0;
        }
        if (strcmp(arg, "none") == 0)
            return 0;
        if (cfg->n_per_ip_exempt == CONFIG_LIST_MAX ||
            (strcmp(arg, "loopback") != 0 &&
             inet_pton(AF_INET, arg, addr) != 1 &&
             inet_pton(AF_INET6, arg, addr) != 1))
            return bad_value(name, arg);
        cfg->per_ip_exempt[cfg->n_per_ip_exempt++] = arg;
        return 0;
    }
    case OPT_HANDSHAKE_TIMEOUT:
        cfg->handshake_timeout = parse_secs(arg, 1, 3600);
        return cfg->handshake_timeout < 0 ? bad_value(name, arg) : 0;
    case OPT_PING_INTERVAL:
        cfg->ping_interval = parse_secs(arg, 0, 65534);
        return cfg->ping_interval < 0 ? bad_value(name, arg) : 0;
    case OPT_IDLE_TIMEOUT:
        cfg->idle_timeout = parse_secs(arg, 2, 65535);
        return cfg->idle_timeout < 0 ? bad_value(name, arg) : 0;
    case OPT_MAX_DEPTH:
        if (parse_uint(arg, 32, 100000, &v) < 0)
            return bad_value(name, arg);
        cfg->max_depth = (int)v;
        return 0;
    case OPT_RX_BUFFER:
        if (parse_uint(arg, 128, 1 << 20, &v) < 0)
            return bad_value(name, arg);
        cfg->rx_buffer = (int)v;
        return 0;
    default:
        return -1;
    }
}

enum config_result config_parse(struct pl_config *cfg, int argc, char **argv)
{
    int opt = 0;

    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        if (opt == OPT_HELP) {
            fputs(usage, stdout);
            return CONFIG_EXIT_OK;
        }
        if (opt == OPT_VERSION) {
            printf("parleyd %s (protocol parley.v1)\n", PARLEY_VERSION);
            return CONFIG_EXIT_OK;
        }
        if (opt == '?' || opt == ':') {
            fprintf(stderr, "parleyd: unknown or incomplete option '%s' "
                    "(see --help)\n", argv[optind - 1]);
            return CONFIG_EXIT_USAGE;
        }
        if (apply(cfg, opt, optarg) < 0)
            return CONFIG_EXIT_USAGE;
    }
    if (optind < argc) {
        fprintf(stderr, "parleyd: unexpected argument '%s' (see --help)\n",
                argv[optind]);
        return CONFIG_EXIT_USAGE;
    }
    if ((cfg->cert == NULL) != (cfg->key == NULL)) {
        fprintf(stderr, "parleyd: --cert and --key go together\n");
        return CONFIG_EXIT_USAGE;
    }
    if (cfg->ping_interval > 0 && cfg->idle_timeout <= cfg->ping_interval) {
        fprintf(stderr, "parleyd: --idle-timeout must be longer than "
                "--ping-interval\n");
        return CONFIG_EXIT_USAGE;
    }
    if (cfg->rate > 0 && cfg->burst < 1)
        cfg->burst = cfg->rate > 0.5 ? 2 * cfg->rate : 1;
    return CONFIG_RUN;
}
