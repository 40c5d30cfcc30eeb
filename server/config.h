/*
 * config.h: parleyd's settings: defaults, then command-line flags.
 */
#ifndef PL_CONFIG_H
#define PL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CONFIG_LIST_MAX 32

struct pl_config {
    int port;
    const char *bind;
    const char *db_path;
    int log_level;
    int log_format;           /* enum log_format */
    size_t max_message;
    size_t queue_bytes;
    uint32_t queue_msgs;
    uint32_t max_subs;
    uint32_t recent_msgs;
    size_t recent_bytes;
    size_t recent_memory;     /* all rings together */
    const char *ephemeral[CONFIG_LIST_MAX];
    size_t n_ephemeral;
    bool ephemeral_default;   /* still the built-in typing/# */
    bool durability_power;
    const char *redis_url;    /* --redis: cluster mode; NULL: SQLite */
    const char *cluster_durability; /* strict|relaxed|none, NULL: strict */
    int64_t node_ttl_ms;      /* cluster: a silent node is dead after this */
    int64_t dedupe_window_ms;
    int64_t retain_messages;
    int64_t retain_age_ms;
    char *secret;             /* owned (read from a file or copied) */
    size_t secret_len;
    double rate;
    double burst;
    const char *allow_origin[CONFIG_LIST_MAX];
    size_t n_allow_origin;
    const char *cert;
    const char *key;
    const char *web_root;
    uint32_t max_conns;
    uint32_t max_conns_per_ip;  /* TCP connections per peer address, 0: off */
    const char *per_ip_exempt[CONFIG_LIST_MAX]; /* addresses, or "loopback" */
    size_t n_per_ip_exempt;
    bool per_ip_exempt_default; /* still the built-in "loopback" */
    int handshake_timeout;    /* seconds to finish the HTTP request head */
    int ping_interval;        /* seconds without a pong before a ping; 0: off */
    int idle_timeout;         /* seconds without a pong before hanging up */
    size_t store_pending_max;
    int max_depth;
    int rx_buffer;
    bool reuse_port;          /* SO_REUSEPORT: nodes share one port */
    bool proxy_protocol;      /* PROXY v1 from --trusted-proxy peers */
    const char *trusted_proxy[CONFIG_LIST_MAX]; /* CIDRs */
    size_t n_trusted_proxy;
    const char *config_path;  /* --config FILE, or NULL */
    bool print_config;        /* --print-config */
    struct config_text *texts; /* owned: the file(s) values point into */
    int64_t sys_interval_ms;  /* $SYS values every so often; 0: off */
    int mqtt_port;            /* MQTT over TCP; -1: off, 0: a free port */
    bool mqtt_port_default;   /* not given: a busy 1883 only warns */
    int mqtts_port;           /* MQTT over TLS (with --cert); -1: off */
    bool mqtts_port_default;
    int64_t mqtt_session_expiry_ms; /* a persistent MQTT session not
                                       connected this long goes; 0: never */
};

/* What config_parse wants the caller to do. */
enum config_result {
    CONFIG_RUN,
    CONFIG_EXIT_OK,      /* --help or --version was printed */
    CONFIG_EXIT_USAGE,   /* an error was printed */
};

/* How a row of the option table reads its argument. */
enum config_type {
    CONFIG_SECTION,      /* not an option: a heading in --help */
    CONFIG_INT,          /* int, decimal within [min, max] */
    CONFIG_U32,          /* uint32_t, decimal within [min, max] */
    CONFIG_I64,          /* int64_t, decimal within [min, max] */
    CONFIG_SIZE,         /* size_t, config_parse_size within [min, max] */
    CONFIG_DURATION_MS,  /* int64_t ms, config_parse_duration, [min, max] */
    CONFIG_SECONDS,      /* int, a duration in whole seconds, [min, max] */
    CONFIG_DOUBLE,       /* double, at least 0 */
    CONFIG_STRING,       /* const char *, pointing into argv */
    CONFIG_LIST,         /* const char *[CONFIG_LIST_MAX] and its count */
    CONFIG_CUSTOM,       /* set() reads it */
    CONFIG_HELP,         /* --help: print the usage, exit 0 */
    CONFIG_VERSION,      /* --version: print it, exit 0 */
    CONFIG_BOOL,         /* bool: the flag alone sets it; a file's key
                          * takes true/false, yes/no, on/off, 1/0 */
};

/* One row of the option table (config.c): one command-line flag. */
struct config_option {
    enum config_type type;
    const char *name;        /* the flag without "--"; a section's title */
    const char *arg;         /* its argument in --help; NULL: none */
    size_t field;            /* offsetof(struct pl_config, ...) */
    long long min, max;      /* bounds of numbers, inclusive */
    const char *help;        /* may hold '\n' for more lines */
    /* CONFIG_LIST: the count's offset; a non-zero is_default names the
     * bool that says the list still holds its built-in default, which
     * the first use replaces (and then 'none' empties it); valid(),
     * when set, accepts an element. */
    size_t count;
    size_t is_default;
    bool (*valid)(const char *arg);
    /* CONFIG_CUSTOM: returns 0, or -1 after printing why. */
    int (*set)(struct pl_config *cfg, const char *arg);
    /* A SIGHUP reload applies a change of it to the running server;
     * otherwise the change waits for a restart (config_show.c). */
    bool live;
    /* Only a command-line flag, never a key of a config file. */
    bool flag_only;
};

/* The option table, in --help order (for tests). */
const struct config_option *config_options(size_t *n);
/* Print --help, made from the table. */
void config_usage(FILE *out);

void config_defaults(struct pl_config *cfg);
/* Defaults must be set. Reads --config FILE first (when given), then the
 * flags, which override the file's keys (a list flag replaces the file's
 * list). Errors are printed on stderr, or logged after
 * config_errors_to_log(true) (a reload). */
enum config_result config_parse(struct pl_config *cfg, int argc, char **argv);
void config_cleanup(struct pl_config *cfg);
/* Fill in what other settings imply (--burst: twice --rate unless set);
 * config_parse does it. */
void config_derive(struct pl_config *cfg);

/* The row named name (a flag without "--", or a file's key); NULL if
 * none. */
const struct config_option *config_find(const char *name);
/* Set a row from its text as a flag would. Returns 0, or -1 after saying
 * why (naming the place set by config_error_at, if any). */
int config_set(struct pl_config *cfg, const struct config_option *o,
               const char *value);
/* Where the values being set come from ("parley.conf", 12), named by every
 * error until config_error_at(NULL, 0). */
void config_error_at(const char *file, int line);
void config_errors_to_log(bool on);
/* Say what is wrong with the configuration, prefixed "parleyd: " and
 * the place (see above). */
void config_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The list of texts a config's strings point into (config_file.c). */
struct config_text {
    struct config_text *next;
    char text[];
};

/* config_file.c: set cfg from the "key = value" lines of the file at path.
 * from_file[i] becomes true for each list row i the file set (a flag then
 * replaces the list). Returns 0, or -1 after naming file, line and key. */
int config_load_file(struct pl_config *cfg, const char *path,
                     bool *from_file);
void config_texts_free(struct config_text **texts);

/* config_show.c: a row's value as a file or a flag would spell it (lists:
 * element i; secret: never shown). Returns 0, or -1 when there is none
 * (an empty list's element, an unset string). */
int config_value_text(const struct config_option *o,
                      const struct pl_config *cfg, size_t i, char *buf,
                      size_t n);
/* cfg as a commented config file (every key, its help, its value; values
 * equal to the defaults commented out): --print-config, and with the
 * defaults, the example packaging/parley.conf. */
void config_write_file(FILE *out, const struct pl_config *cfg);
/* A SIGHUP reload: move every live row that changed from fresh into
 * running, logging each; log each other change as needing a restart.
 * fresh gives up what running now uses. Returns how many were applied. */
int config_take_live(struct pl_config *running, struct pl_config *fresh);

/* "24h", "30m", "10s", "250ms", "7d", or plain seconds -> ms; -1 if bad. */
int64_t config_parse_duration(const char *s);
/* "8MiB", "64KiB", "65536", "1M" -> bytes; -1 if bad. */
int64_t config_parse_size(const char *s);

#endif
