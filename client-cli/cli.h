/*
 * cli.h: what the `parley` subcommands share: their entry points, the
 * options common to all of them, and small helpers (messages, durations,
 * JSON field access, time).
 */
#ifndef CLI_H
#define CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#define CLI_URL_DEFAULT "ws://localhost:8080/ws"

/* Exit statuses. */
#define CLI_EXIT_OK 0
#define CLI_EXIT_FAIL 1
#define CLI_EXIT_USAGE 2

/* Options every networked subcommand accepts. */
struct cli_common {
    const char *url;       /* positional URL, else $PARLEY_URL, else default */
    const char *token;     /* --token, else $PARLEY_TOKEN, else NULL */
    const char *name;      /* --name, or NULL */
    bool insecure;         /* --insecure / -k */
    bool verbose;          /* --verbose / -v */
};

int token_main(int argc, char **argv);
int pub_main(int argc, char **argv);
int sub_main(int argc, char **argv);
int chat_main(int argc, char **argv);
int top_main(int argc, char **argv);
int backup_main(int argc, char **argv);
int grep_main(int argc, char **argv);

/* Fills the defaults from the environment. */
void cli_common_init(struct cli_common *co);

/* getopt_long values of the options in struct cli_common, shared by every
 * networked subcommand so each parses them the same way. */
enum {
    CLI_OPT_NAME = 1000,
    CLI_OPT_TOKEN,
};

/* Apply opt (with its argument) to co when it is one of the common
 * options (--name, --token, -k/--insecure, -v/--verbose). Returns true
 * when it was. */
bool cli_common_option(struct cli_common *co, int opt, const char *arg);

/* True when s looks like a ws:// or wss:// URL (a topic never contains
 * "://": it would hold an empty level). */
bool cli_is_url(const char *s);

/* "parley: " + message + newline on stderr. */
void cli_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Parses "90", "90s", "15m", "24h", "7d" into seconds. Returns 0 or
 * -EINVAL. */
int cli_parse_duration(const char *s, int64_t *secs);
/* Parses a non-negative decimal integer. Returns 0 or -EINVAL. */
int cli_parse_int(const char *s, int64_t min, int64_t max, int64_t *out);

/* Milliseconds since the epoch / a monotonic clock. */
int64_t cli_now_ms(void);
int64_t cli_mono_ms(void);

/* Field access on a parsed frame: 0 and *out, or -ENOENT when the field
 * is absent or of another type. Integers must be whole numbers. */
int cli_json_int(const cJSON *o, const char *key, int64_t *out);
const char *cli_json_str(const cJSON *o, const char *key);
bool cli_json_true(const cJSON *o, const char *key);

/* "code: message" of an error frame, into buf. */
const char *cli_error_text(const cJSON *frame, char *buf, size_t size);

#endif
