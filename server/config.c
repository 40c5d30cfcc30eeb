/*
 * config.c: defaults and command-line flags for parleyd, driven by one
 * table of options (option_table). Values point into argv except the
 * secret, which is read from a file or copied and owned.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "topic.h"

void config_defaults(struct pl_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->port = 8080;
    cfg->bind = "127.0.0.1";
    cfg->db_path = "data/parley.db";
    cfg->node_ttl_ms = 30000;
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

/*
 * The option table: one row per flag, in --help order, with the field it
 * sets, its type and bounds, and its help. config_parse and config_usage
 * read only this table; a new flag is one new row (and a default).
 */
#define F(field) offsetof(struct pl_config, field)
#define NO_FIELD ((size_t)-1)
#define ROW(t, n, a, f, lo, hi, h)                                          \
    .type = (t), .name = (n), .arg = (a), .field = (f), .min = (lo),        \
    .max = (hi), .help = (h)

static int set_log_level(struct pl_config *cfg, const char *arg);
static int set_durability(struct pl_config *cfg, const char *arg);
static int set_secret(struct pl_config *cfg, const char *arg);
static int set_secret_file(struct pl_config *cfg, const char *arg);
static bool valid_pattern(const char *arg);
static bool valid_exempt(const char *arg);

static const struct config_option option_table[] = {
    { ROW(CONFIG_SECTION, "Network", NULL, NO_FIELD, 0, 0, NULL) },
    { ROW(CONFIG_INT, "port", "N", F(port), 0, 65535,
      "listen port, 0 picks a free one (default 8080)") },
    { ROW(CONFIG_STRING, "bind", "ADDR", F(bind), 0, 0,
      "listen address (default 127.0.0.1; 0.0.0.0 for all)") },
    { ROW(CONFIG_STRING, "cert", "FILE", F(cert), 0, 0,
      "with --key: serve wss:// and https:// on the same port") },
    { ROW(CONFIG_STRING, "key", "FILE", F(key), 0, 0,
      "the private key of --cert") },
    { ROW(CONFIG_LIST, "allow-origin", "ORIGIN", F(allow_origin), 0, 0,
      "browsers from ORIGIN may connect (repeatable);\n"
      "default: same origin as the server only"),
      .count = F(n_allow_origin) },
    { ROW(CONFIG_STRING, "web-root", "DIR", F(web_root), 0, 0,
      "serve the web client from DIR instead of the\n"
      "copy built into the binary (development)") },
    { ROW(CONFIG_SECTION, "Storage", NULL, NO_FIELD, 0, 0, NULL) },
    { ROW(CONFIG_STRING, "db", "PATH", F(db_path), 0, 0,
      "SQLite database file (default data/parley.db)") },
    { ROW(CONFIG_CUSTOM, "durability", "MODE", NO_FIELD, 0, 0,
      "process: survives a crash of parleyd (default);\n"
      "power: also survives power loss (slower);\n"
      "with --redis: strict (default: Redis appendfsync\n"
      "always), relaxed (everysec) or none"),
      .set = set_durability },
    { ROW(CONFIG_I64, "retain-messages", "N", F(retain_messages), 0, 1LL << 62,
      "keep the newest N messages per topic (0: all)") },
    { ROW(CONFIG_DURATION_MS, "retain-age", "DUR", F(retain_age_ms), 0,
      INT64_MAX, "drop messages older than DUR (e.g. 7d; 0: never)") },
    { ROW(CONFIG_DURATION_MS, "dedupe-window", "DUR", F(dedupe_window_ms), 0,
      INT64_MAX, "remember publish keys this long (default 24h)") },
    { ROW(CONFIG_LIST, "ephemeral", "PATTERN", F(ephemeral), 0, 0,
      "never store topics matching PATTERN (repeatable;\n"
      "default typing/#; 'none' for no ephemeral topics)"),
      .count = F(n_ephemeral), .is_default = F(ephemeral_default),
      .valid = valid_pattern },
    { ROW(CONFIG_U32, "recent", "N", F(recent_msgs), 0, 1 << 20,
      "recent messages kept in memory per topic (64)") },
    { ROW(CONFIG_SIZE, "recent-memory", "BYTES", F(recent_memory), 1024,
      INT64_MAX, "all topics' recent messages together (64MiB)") },
    { ROW(CONFIG_STRING, "redis", "URL", F(redis_url), 0, 0,
      "cluster mode: store in Redis 7 at\n"
      "redis://[:PASSWORD@]HOST:PORT[/DB] (no --db)") },
    { ROW(CONFIG_DURATION_MS, "node-ttl", "DUR", F(node_ttl_ms), 300, 3600000,
      "cluster: a node silent this long is dead and its\n"
      "users leave (default 30s; it beats every third)") },
    { ROW(CONFIG_SECTION, "Limits", NULL, NO_FIELD, 0, 0, NULL) },
    { ROW(CONFIG_SIZE, "max-message", "BYTES", F(max_message), 256, 1LL << 30,
      "largest client message (default 64KiB)") },
    { ROW(CONFIG_SIZE, "queue-bytes", "BYTES", F(queue_bytes), 1024, INT64_MAX,
      "out-queue bound per connection (default 8MiB)") },
    { ROW(CONFIG_U32, "queue-msgs", "N", F(queue_msgs), 1, 1 << 30,
      "out-queue bound in messages (default 100000)") },
    { ROW(CONFIG_U32, "max-subs", "N", F(max_subs), 1, 1 << 30,
      "subscriptions per connection (default 10000)") },
    { ROW(CONFIG_U32, "max-conns", "N", F(max_conns), 1, 1 << 30,
      "connections in total (default 100000)") },
    { ROW(CONFIG_U32, "max-conns-per-ip", "N", F(max_conns_per_ip), 0, 1 << 30,
      "TCP connections per client address (default\n1000; 0: off)") },
    { ROW(CONFIG_LIST, "per-ip-exempt", "ADDR", F(per_ip_exempt), 0, 0,
      "an address (or 'loopback') --max-conns-per-ip\n"
      "does not apply to (repeatable; default loopback;\n"
      "'none' exempts nothing)"),
      .count = F(n_per_ip_exempt), .is_default = F(per_ip_exempt_default),
      .valid = valid_exempt },
    { ROW(CONFIG_SECONDS, "handshake-timeout", "DUR", F(handshake_timeout), 1,
      3600, "time to send the HTTP request head (10s)") },
    { ROW(CONFIG_SECONDS, "ping-interval", "DUR", F(ping_interval), 0, 65534,
      "WebSocket ping after DUR without a pong (30s;\n0: no keepalive)") },
    { ROW(CONFIG_SECONDS, "idle-timeout", "DUR", F(idle_timeout), 2, 65535,
      "hang up after DUR without a pong (60s)") },
    { ROW(CONFIG_DOUBLE, "rate", "N", F(rate), 0, 0,
      "publishes per second per connection (default\n"
      "10000; 0: off)") },
    { ROW(CONFIG_DOUBLE, "burst", "N", F(burst), 0, 0,
      "the burst --rate allows (default twice the rate)") },
    { ROW(CONFIG_INT, "rx-buffer", "BYTES", F(rx_buffer), 128, 1 << 20,
      "receive buffer per connection (default 256):\n"
      "small keeps idle connections cheap; larger\n"
      "messages arrive in pieces and are joined") },
    { ROW(CONFIG_INT, "max-depth", "N", F(max_depth), 32, 100000,
      "JSON nesting limit, at least 32 (default 64)") },
    { ROW(CONFIG_SECTION, "Auth", NULL, NO_FIELD, 0, 0, NULL) },
    { ROW(CONFIG_CUSTOM, "secret", "S", NO_FIELD, 0, 0,
      "require HS256 JWTs signed with S"), .set = set_secret },
    { ROW(CONFIG_CUSTOM, "secret-file", "FILE", NO_FIELD, 0, 0,
      "the same, secret read from FILE"), .set = set_secret_file },
    { ROW(CONFIG_SECTION, "Other", NULL, NO_FIELD, 0, 0, NULL) },
    { ROW(CONFIG_CUSTOM, "log-level", "LEVEL", NO_FIELD, 0, 0,
      "error, warn, notice (default), info, debug"), .set = set_log_level },
    { ROW(CONFIG_HELP, "help", NULL, NO_FIELD, 0, 0, "print this and exit") },
    { ROW(CONFIG_VERSION, "version", NULL, NO_FIELD, 0, 0,
      "print the version and exit") },
};

#define N_OPTIONS (sizeof(option_table) / sizeof(option_table[0]))

const struct config_option *config_options(size_t *n)
{
    *n = N_OPTIONS;
    return option_table;
}

/* --help's column for the help text, and the width of the text. */
#define HELP_COLUMN 24

void config_usage(FILE *out)
{
    size_t i = 0;

    fputs("Usage: parleyd [options]\n\n"
          "A real-time WebSocket chat and pub/sub server "
          "(protocol parley.v1).\n", out);
    for (i = 0; i < N_OPTIONS; i++) {
        const struct config_option *o = &option_table[i];
        const char *h = o->help;
        int n = 0;

        if (o->type == CONFIG_SECTION) {
            fprintf(out, "\n%s:\n", o->name);
            continue;
        }
        n = fprintf(out, "  --%s%s%s", o->name, o->arg ? " " : "",
                    o->arg ? o->arg : "");
        /* a long flag gets its help on the next line */
        if (n >= HELP_COLUMN) {
            fputc('\n', out);
            n = 0;
        }
        fprintf(out, "%*s", HELP_COLUMN - n, "");
        for (; *h != '\0'; h++) {
            fputc(*h, out);
            if (*h == '\n')
                fprintf(out, "%*s", HELP_COLUMN, "");
        }
        fputc('\n', out);
    }
}

static int parse_integer(const char *s, long long min, long long max,
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

static int parse_double(const char *s, double *out)
{
    char *end = NULL;
    double v = strtod(s, &end);

    if (end == s || *end != '\0' || v < 0)
        return -1;
    *out = v;
    return 0;
}

/* A duration in whole seconds within [min, max]. */
static int parse_seconds(const char *s, long long min, long long max,
                         long long *out)
{
    int64_t ms = config_parse_duration(s);

    if (ms < 0 || ms % 1000 != 0 || ms / 1000 < min || ms / 1000 > max)
        return -1;
    *out = ms / 1000;
    return 0;
}

/* A size or a duration (already parsed, -1 if bad) within [min, max]. */
static int in_bounds(int64_t v, long long min, long long max,
                     long long *out)
{
    if (v < 0 || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

/* Append arg to a list row's array; the first use replaces a built-in
 * default, and then 'none' empties the list. */
static int add_to_list(struct pl_config *cfg, const struct config_option *o,
                       const char *arg)
{
    char *base = (char *)cfg;
    const char **list = (const char **)(void *)(base + o->field);
    size_t *n = (size_t *)(void *)(base + o->count);

    if (o->is_default != 0) {
        bool *is_default = (bool *)(base + o->is_default);

        if (*is_default) {
            *is_default = false;
            *n = 0;
        }
        if (strcmp(arg, "none") == 0)
            return 0;
    }
    if (*n == CONFIG_LIST_MAX || (o->valid != NULL && !o->valid(arg)))
        return -1;
    list[(*n)++] = arg;
    return 0;
}

static int bad_value(const char *flag, const char *val)
{
    fprintf(stderr, "parleyd: invalid value for --%s: '%s' (see --help)\n",
            flag, val);
    return -1;
}

/* Set the row's field from arg. Returns 0, or -1 with a message printed. */
static int apply(struct pl_config *cfg, const struct config_option *o,
                 const char *arg)
{
    void *field = (char *)cfg + o->field;
    long long v = 0;
    double d = 0;

    switch (o->type) {
    case CONFIG_INT:
    case CONFIG_U32:
    case CONFIG_I64:
        if (parse_integer(arg, o->min, o->max, &v) < 0)
            return bad_value(o->name, arg);
        break;
    case CONFIG_SECONDS:
        if (parse_seconds(arg, o->min, o->max, &v) < 0)
            return bad_value(o->name, arg);
        break;
    case CONFIG_SIZE:
        if (in_bounds(config_parse_size(arg), o->min, o->max, &v) < 0)
            return bad_value(o->name, arg);
        break;
    case CONFIG_DURATION_MS:
        if (in_bounds(config_parse_duration(arg), o->min, o->max, &v) < 0)
            return bad_value(o->name, arg);
        break;
    case CONFIG_DOUBLE:
        if (parse_double(arg, &d) < 0)
            return bad_value(o->name, arg);
        *(double *)field = d;
        return 0;
    case CONFIG_STRING:
        *(const char **)field = arg;
        return 0;
    case CONFIG_LIST:
        return add_to_list(cfg, o, arg) < 0 ? bad_value(o->name, arg) : 0;
    case CONFIG_CUSTOM:
        return o->set(cfg, arg);
    default:
        return -1;
    }
    switch (o->type) {
    case CONFIG_INT:
    case CONFIG_SECONDS:
        *(int *)field = (int)v;
        break;
    case CONFIG_U32:
        *(uint32_t *)field = (uint32_t)v;
        break;
    case CONFIG_SIZE:
        *(size_t *)field = (size_t)v;
        break;
    default: /* CONFIG_I64, CONFIG_DURATION_MS */
        *(int64_t *)field = (int64_t)v;
        break;
    }
    return 0;
}

static int set_log_level(struct pl_config *cfg, const char *arg)
{
    cfg->log_level = log_level_parse(arg);
    return cfg->log_level < 0 ? bad_value("log-level", arg) : 0;
}

static int set_durability(struct pl_config *cfg, const char *arg)
{
    if (strcmp(arg, "process") == 0)
        cfg->durability_power = false;
    else if (strcmp(arg, "power") == 0)
        cfg->durability_power = true;
    else if (strcmp(arg, "strict") == 0 || strcmp(arg, "relaxed") == 0 ||
             strcmp(arg, "none") == 0)
        cfg->cluster_durability = arg; /* checked with --redis (main.c) */
    else
        return bad_value("durability", arg);
    return 0;
}

static int set_secret(struct pl_config *cfg, const char *arg)
{
    free(cfg->secret);
    cfg->secret_len = strlen(arg);
    cfg->secret = strdup(arg);
    if (cfg->secret_len == 0 || cfg->secret == NULL)
        return bad_value("secret", arg);
    return 0;
}

static int set_secret_file(struct pl_config *cfg, const char *arg)
{
    return read_secret_file(cfg, arg);
}

static bool valid_pattern(const char *arg)
{
    return pl_topic_validate(arg, strlen(arg), true) == PL_OK;
}

static bool valid_exempt(const char *arg)
{
    unsigned char addr[16];

    return strcmp(arg, "loopback") == 0 ||
           inet_pton(AF_INET, arg, addr) == 1 ||
           inet_pton(AF_INET6, arg, addr) == 1;
}

/* The rules between flags, once all are read. */
static enum config_result check_together(struct pl_config *cfg)
{
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

enum config_result config_parse(struct pl_config *cfg, int argc, char **argv)
{
    struct option longopts[N_OPTIONS + 1];
    size_t i = 0;
    size_t n = 0;
    int opt = 0;

    /* getopt_long's table from ours: val is the row's index. */
    for (i = 0; i < N_OPTIONS; i++) {
        if (option_table[i].type == CONFIG_SECTION)
            continue;
        longopts[n].name = option_table[i].name;
        longopts[n].has_arg =
            option_table[i].arg != NULL ? required_argument : no_argument;
        longopts[n].flag = NULL;
        longopts[n].val = (int)i;
        n++;
    }
    memset(&longopts[n], 0, sizeof(longopts[n]));
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        const struct config_option *o = NULL;

        if (opt == '?' || opt == ':') {
            fprintf(stderr, "parleyd: unknown or incomplete option '%s' "
                    "(see --help)\n", argv[optind - 1]);
            return CONFIG_EXIT_USAGE;
        }
        o = &option_table[opt];
        if (o->type == CONFIG_HELP) {
            config_usage(stdout);
            return CONFIG_EXIT_OK;
        }
        if (o->type == CONFIG_VERSION) {
            printf("parleyd %s (protocol parley.v1)\n", PARLEY_VERSION);
            return CONFIG_EXIT_OK;
        }
        if (apply(cfg, o, optarg) < 0)
            return CONFIG_EXIT_USAGE;
    }
    if (optind < argc) {
        fprintf(stderr, "parleyd: unexpected argument '%s' (see --help)\n",
                argv[optind]);
        return CONFIG_EXIT_USAGE;
    }
    return check_together(cfg);
}
