/*
 * config.c: defaults and command-line flags for parleyd, driven by one
 * table of options (option_table). Values point into argv except the
 * secret, which is read from a file or copied and owned.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cidr.h"
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
    cfg->log_format = LOG_FORMAT_TEXT;
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
    cfg->sys_interval_ms = 5000;
    cfg->max_depth = 64;
    cfg->rx_buffer = 256;
    cfg->mqtt_port = 1883;
    cfg->mqtt_port_default = true;
    cfg->mqtts_port = 8883;
    cfg->mqtts_port_default = true;
    /* Mosquitto keeps such sessions for ever unless told otherwise
     * (persistent_client_expiration). A week lets a device ride out a
     * long outage, a holiday or a reflash, while a fleet that churns
     * client ids (a random id per boot) cannot fill MQTT_SAVED_MAX, and
     * the database, with sessions nobody will resume. */
    cfg->mqtt_session_expiry_ms = 7LL * 86400 * 1000;
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
    config_texts_free(&cfg->texts);
}

/* Where errors come from and where they go: parsing runs on one thread
 * (start-up, then the service thread's reloads), so plain statics do. */
static const char *err_file;
static int err_line;
static bool err_to_log;

void config_error_at(const char *file, int line)
{
    err_file = file;
    err_line = line;
}

void config_errors_to_log(bool on)
{
    err_to_log = on;
}

void config_error(const char *fmt, ...)
{
    char msg[1024];
    char where[512] = "";
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (err_file != NULL)
        snprintf(where, sizeof(where), "%s:%d: ", err_file, err_line);
    if (err_to_log)
        log_error("config: %s%s", where, msg);
    else
        fprintf(stderr, "parleyd: %s%s\n", where, msg);
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
        config_error("cannot read secret-file %s: %s", path, strerror(errno));
        return -1;
    }
    n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    if (n == 0) {
        config_error("secret-file %s is empty", path);
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
static int set_log_format(struct pl_config *cfg, const char *arg);
static int set_print_config(struct pl_config *cfg, const char *arg);
static int set_durability(struct pl_config *cfg, const char *arg);
static int set_secret(struct pl_config *cfg, const char *arg);
static int set_secret_file(struct pl_config *cfg, const char *arg);
static bool valid_pattern(const char *arg);
static bool valid_exempt(const char *arg);
static bool valid_cidr(const char *arg);
static int set_mqtt_port(struct pl_config *cfg, const char *arg);
static int set_mqtts_port(struct pl_config *cfg, const char *arg);

static const struct config_option option_table[] = {
    { ROW(CONFIG_SECTION, "Network", NULL, NO_FIELD, 0, 0, NULL) },
    { ROW(CONFIG_INT, "port", "N", F(port), 0, 65535,
      "listen port, 0 picks a free one (default 8080)") },
    { ROW(CONFIG_STRING, "bind", "ADDR", F(bind), 0, 0,
      "listen address (default 127.0.0.1; 0.0.0.0 for all)") },
    { ROW(CONFIG_BOOL, "reuse-port", NULL, F(reuse_port), 0, 0,
      "let several parleyd share the port (SO_REUSEPORT):\n"
      "the kernel spreads new connections among them") },
    { ROW(CONFIG_LIST, "trusted-proxy", "CIDR", F(trusted_proxy), 0, 0,
      "a reverse proxy's address range (repeatable):\n"
      "from it, a WebSocket's client address is read\n"
      "from X-Forwarded-For (for --max-conns-per-ip)"),
      .count = F(n_trusted_proxy), .valid = valid_cidr },
    { ROW(CONFIG_BOOL, "proxy-protocol", NULL, F(proxy_protocol), 0, 0,
      "--trusted-proxy peers start each connection\n"
      "with a PROXY protocol v1 line naming the client\n"
      "(haproxy send-proxy); the others must not") },
    { ROW(CONFIG_STRING, "cert", "FILE", F(cert), 0, 0,
      "with --key: serve wss:// and https:// on the same port") },
    { ROW(CONFIG_STRING, "key", "FILE", F(key), 0, 0,
      "the private key of --cert") },
    { ROW(CONFIG_LIST, "allow-origin", "ORIGIN", F(allow_origin), 0, 0,
      "browsers from ORIGIN may connect (repeatable);\n"
      "default: same origin as the server only"),
      .count = F(n_allow_origin),
      .live = true },
    { ROW(CONFIG_CUSTOM, "mqtt-port", "N", NO_FIELD, 0, 0,
      "MQTT 3.1.1 over TCP on --bind (default 1883;\n"
      "0 picks a free one; off: none)"), .set = set_mqtt_port },
    { ROW(CONFIG_CUSTOM, "mqtts-port", "N", NO_FIELD, 0, 0,
      "MQTT over TLS with --cert/--key (default 8883;\n"
      "0 picks a free one; off: none)"), .set = set_mqtts_port },
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
      "keep the newest N messages per topic (0: all)"),
      .live = true },
    { ROW(CONFIG_DURATION_MS, "retain-age", "DUR", F(retain_age_ms), 0,
      INT64_MAX, "drop messages older than DUR (e.g. 7d; 0: never)"),
      .live = true },
    { ROW(CONFIG_DURATION_MS, "dedupe-window", "DUR", F(dedupe_window_ms), 0,
      INT64_MAX, "remember publish keys this long (default 24h)") },
    { ROW(CONFIG_DURATION_MS, "mqtt-session-expiry", "DUR",
      F(mqtt_session_expiry_ms), 0, INT64_MAX,
      "delete an MQTT persistent session (clean session\n"
      "0) not connected for DUR (default 7d; 0: never)"),
      .live = true },
    { ROW(CONFIG_LIST, "ephemeral", "PATTERN", F(ephemeral), 0, 0,
      "never store topics matching PATTERN (repeatable;\n"
      "default typing/#; 'none' for no ephemeral topics)"),
      .count = F(n_ephemeral), .is_default = F(ephemeral_default),
      .valid = valid_pattern,
      .live = true },
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
      "largest client message (default 64KiB)"),
      .live = true },
    { ROW(CONFIG_SIZE, "queue-bytes", "BYTES", F(queue_bytes), 1024, INT64_MAX,
      "out-queue bound per connection (default 8MiB)"),
      .live = true },
    { ROW(CONFIG_U32, "queue-msgs", "N", F(queue_msgs), 1, 1 << 30,
      "out-queue bound in messages (default 100000)"),
      .live = true },
    { ROW(CONFIG_U32, "max-subs", "N", F(max_subs), 1, 1 << 30,
      "subscriptions per connection (default 10000)"),
      .live = true },
    { ROW(CONFIG_U32, "max-conns", "N", F(max_conns), 1, 1 << 30,
      "connections in total (default 100000)"),
      .live = true },
    { ROW(CONFIG_U32, "max-conns-per-ip", "N", F(max_conns_per_ip), 0, 1 << 30,
      "TCP connections per client address (default\n1000; 0: off)"),
      .live = true },
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
      "10000; 0: off)"),
      .live = true },
    { ROW(CONFIG_DOUBLE, "burst", "N", F(burst), 0, 0,
      "the burst --rate allows (default twice the rate)"),
      .live = true },
    { ROW(CONFIG_SIZE, "store-pending-max", "N", F(store_pending_max), 1,
      INT64_MAX, "writes waiting for the store past which a pub\n"
      "is refused (overloaded) and /readyz answers\n"
      "503 (default 200000)"),
      .live = true },
    { ROW(CONFIG_INT, "rx-buffer", "BYTES", F(rx_buffer), 128, 1 << 20,
      "receive buffer per connection (default 256):\n"
      "small keeps idle connections cheap; larger\n"
      "messages arrive in pieces and are joined") },
    { ROW(CONFIG_INT, "max-depth", "N", F(max_depth), 32, 100000,
      "JSON nesting limit, at least 32 (default 64)") },
    { ROW(CONFIG_SECTION, "Auth", NULL, NO_FIELD, 0, 0, NULL) },
    { ROW(CONFIG_CUSTOM, "secret", "S", NO_FIELD, 0, 0,
      "require HS256 JWTs signed with S"), .set = set_secret,
      .live = true },
    { ROW(CONFIG_CUSTOM, "secret-file", "FILE", NO_FIELD, 0, 0,
      "the same, secret read from FILE"), .set = set_secret_file,
      .live = true },
    { ROW(CONFIG_SECTION, "Other", NULL, NO_FIELD, 0, 0, NULL) },
    { ROW(CONFIG_DURATION_MS, "sys-interval", "DUR", F(sys_interval_ms), 0,
      3600000, "publish $SYS/broker/... values every DUR (5s;\n"
      "0: no $SYS topics)") },
    { ROW(CONFIG_CUSTOM, "log-level", "LEVEL", NO_FIELD, 0, 0,
      "error, warn, notice (default), info, debug"), .set = set_log_level,
      .live = true },
    { ROW(CONFIG_CUSTOM, "log-format", "FORMAT", NO_FIELD, 0, 0,
      "text (default), or json: one object per line"),
      .set = set_log_format,
      .live = true },
    { ROW(CONFIG_STRING, "config", "FILE", F(config_path), 0, 0,
      "read settings from FILE (keys are these flags'\n"
      "names; flags override it); SIGHUP re-reads it"),
      .flag_only = true },
    { ROW(CONFIG_CUSTOM, "print-config", NULL, NO_FIELD, 0, 0,
      "print the settings as a config file and exit"),
      .set = set_print_config, .flag_only = true },
    { ROW(CONFIG_HELP, "help", NULL, NO_FIELD, 0, 0, "print this and exit"),
      .flag_only = true },
    { ROW(CONFIG_VERSION, "version", NULL, NO_FIELD, 0, 0,
      "print the version and exit"),
      .flag_only = true },
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

/* A bool row's value: none (the flag alone) is true. */
static int parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = { "true", "yes", "on", "1" };
    static const char *const no[] = { "false", "no", "off", "0" };
    size_t i = 0;

    if (s == NULL) {
        *out = true;
        return 0;
    }
    for (i = 0; i < 4; i++) {
        if (strcmp(s, yes[i]) == 0 || strcmp(s, no[i]) == 0) {
            *out = strcmp(s, yes[i]) == 0;
            return 0;
        }
    }
    return -1;
}

static int bad_value(const char *flag, const char *val)
{
    if (err_file != NULL)
        config_error("invalid value for %s: '%s'", flag, val);
    else
        config_error("invalid value for --%s: '%s' (see --help)", flag, val);
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
    case CONFIG_BOOL:
        if (parse_bool(arg, (bool *)field) < 0)
            return bad_value(o->name, arg);
        return 0;
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

static int set_log_format(struct pl_config *cfg, const char *arg)
{
    cfg->log_format = log_format_parse(arg);
    return cfg->log_format < 0 ? bad_value("log-format", arg) : 0;
}

static int set_print_config(struct pl_config *cfg, const char *arg)
{
    (void)arg;
    cfg->print_config = true;
    return 0;
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

/* "off", or a port 0..65535; given explicitly, a port that cannot be
 * bound stops parleyd (the default only warns). */
static int parse_port_or_off(const char *flag, const char *arg, int *port)
{
    long long v = 0;

    if (strcmp(arg, "off") == 0) {
        *port = -1;
        return 0;
    }
    if (parse_integer(arg, 0, 65535, &v) < 0)
        return bad_value(flag, arg);
    *port = (int)v;
    return 0;
}

static int set_mqtt_port(struct pl_config *cfg, const char *arg)
{
    cfg->mqtt_port_default = false;
    return parse_port_or_off("mqtt-port", arg, &cfg->mqtt_port);
}

static int set_mqtts_port(struct pl_config *cfg, const char *arg)
{
    cfg->mqtts_port_default = false;
    return parse_port_or_off("mqtts-port", arg, &cfg->mqtts_port);
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

static bool valid_cidr(const char *arg)
{
    struct cidr c;

    return cidr_parse(arg, &c) == 0;
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
        config_error("--cert and --key go together");
        return CONFIG_EXIT_USAGE;
    }
    if (cfg->ping_interval > 0 && cfg->idle_timeout <= cfg->ping_interval) {
        config_error("--idle-timeout must be longer than --ping-interval");
        return CONFIG_EXIT_USAGE;
    }
    config_derive(cfg);
    return CONFIG_RUN;
}

void config_derive(struct pl_config *cfg)
{
    if (cfg->rate > 0 && cfg->burst < 1)
        cfg->burst = cfg->rate > 0.5 ? 2 * cfg->rate : 1;
}

const struct config_option *config_find(const char *name)
{
    size_t i = 0;

    for (i = 0; i < N_OPTIONS; i++)
        if (option_table[i].type != CONFIG_SECTION &&
            strcmp(option_table[i].name, name) == 0)
            return &option_table[i];
    return NULL;
}

int config_set(struct pl_config *cfg, const struct config_option *o,
               const char *value)
{
    return apply(cfg, o, value);
}

/* getopt_long's table from ours: val is the row's index. */
static void make_longopts(struct option *longopts)
{
    size_t i = 0;
    size_t n = 0;

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
}

/* First pass over the flags: unknown ones, --help, --version, and the
 * --config file, whose keys the second pass then overrides. */
static enum config_result first_pass(struct pl_config *cfg, int argc,
                                     char **argv,
                                     const struct option *longopts)
{
    int opt = 0;

    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        const struct config_option *o = NULL;

        if (opt == '?' || opt == ':') {
            config_error("unknown or incomplete option '%s' (see --help)",
                         argv[optind - 1]);
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
        if (o->field == F(config_path))
            cfg->config_path = optarg;
    }
    if (optind < argc) {
        config_error("unexpected argument '%s' (see --help)", argv[optind]);
        return CONFIG_EXIT_USAGE;
    }
    return CONFIG_RUN;
}

enum config_result config_parse(struct pl_config *cfg, int argc, char **argv)
{
    struct option longopts[N_OPTIONS + 1];
    bool from_file[N_OPTIONS];
    enum config_result r = CONFIG_RUN;
    int opt = 0;

    make_longopts(longopts);
    memset(from_file, 0, sizeof(from_file));
    r = first_pass(cfg, argc, argv, longopts);
    if (r != CONFIG_RUN)
        return r;
    if (cfg->config_path != NULL &&
        config_load_file(cfg, cfg->config_path, from_file) < 0)
        return CONFIG_EXIT_USAGE;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        const struct config_option *o = &option_table[opt];
        char *base = (char *)cfg;

        /* a list flag replaces the file's list rather than adding to it */
        if (o->type == CONFIG_LIST && from_file[opt]) {
            from_file[opt] = false;
            *(size_t *)(void *)(base + o->count) = 0;
        }
        if (apply(cfg, o, optarg) < 0)
            return CONFIG_EXIT_USAGE;
    }
    r = check_together(cfg);
    if (r == CONFIG_RUN && cfg->print_config) {
        config_write_file(stdout, cfg);
        return CONFIG_EXIT_OK;
    }
    return r;
}
