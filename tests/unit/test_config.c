/*
 * test_config.c: parleyd's option table (server/config.c): each type of
 * row with values in and out of its bounds, lists and their defaults,
 * unknown and incomplete flags, the rules between flags, and --help made
 * from every row. Each case starts from config_defaults.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"

#define ARGS_MAX 80

/* Parse "parleyd" followed by the NULL-terminated flags into *cfg, which
 * starts from the defaults (the caller runs config_cleanup). */
static enum config_result parse(struct pl_config *cfg, ...)
{
    static char *argv[ARGS_MAX];
    int argc = 0;
    va_list ap;
    char *a = NULL;

    config_defaults(cfg);
    argv[argc++] = (char *)"parleyd";
    va_start(ap, cfg);
    while ((a = va_arg(ap, char *)) != NULL && argc < ARGS_MAX - 1)
        argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    return config_parse(cfg, argc, argv);
}

/* One flag with one value: CONFIG_RUN or not. */
static bool accepts(const char *flag, const char *value)
{
    struct pl_config cfg;
    enum config_result r = parse(&cfg, flag, value, NULL);

    config_cleanup(&cfg);
    return r == CONFIG_RUN;
}

static void test_unknown_and_incomplete(void **state)
{
    struct pl_config cfg;

    (void)state;
    assert_int_equal(parse(&cfg, "--no-such-flag", NULL), CONFIG_EXIT_USAGE);
    assert_int_equal(parse(&cfg, "--port", NULL), CONFIG_EXIT_USAGE);
    assert_int_equal(parse(&cfg, "stray", NULL), CONFIG_EXIT_USAGE);
    assert_int_equal(parse(&cfg, "-p", "1", NULL), CONFIG_EXIT_USAGE);
    assert_int_equal(parse(&cfg, "--help", NULL), CONFIG_EXIT_OK);
    assert_int_equal(parse(&cfg, "--version", NULL), CONFIG_EXIT_OK);
    assert_int_equal(parse(&cfg, NULL), CONFIG_RUN);
    config_cleanup(&cfg);
}

static void test_integers(void **state)
{
    struct pl_config cfg;

    (void)state;
    /* CONFIG_INT */
    assert_true(accepts("--port", "0"));
    assert_true(accepts("--port", "65535"));
    assert_false(accepts("--port", "65536"));
    assert_false(accepts("--port", "-1"));
    assert_false(accepts("--port", "80x"));
    assert_false(accepts("--port", ""));
    assert_false(accepts("--rx-buffer", "127"));
    assert_false(accepts("--max-depth", "31"));
    assert_int_equal(parse(&cfg, "--port", "9001", "--max-depth", "32",
                           NULL), CONFIG_RUN);
    assert_int_equal(cfg.port, 9001);
    assert_int_equal(cfg.max_depth, 32);
    /* CONFIG_U32 */
    assert_false(accepts("--queue-msgs", "0"));
    assert_true(accepts("--queue-msgs", "1073741824"));
    assert_false(accepts("--queue-msgs", "1073741825"));
    assert_true(accepts("--max-conns-per-ip", "0"));
    assert_int_equal(parse(&cfg, "--max-subs", "7", NULL), CONFIG_RUN);
    assert_int_equal(cfg.max_subs, 7);
    /* CONFIG_I64 */
    assert_int_equal(parse(&cfg, "--retain-messages", "4611686018427387904",
                           NULL), CONFIG_RUN);
    assert_int_equal(cfg.retain_messages, 1LL << 62);
    assert_false(accepts("--retain-messages", "4611686018427387905"));
    assert_false(accepts("--retain-messages", "-5"));
    config_cleanup(&cfg);
}

static void test_sizes_and_durations(void **state)
{
    struct pl_config cfg;

    (void)state;
    /* CONFIG_SIZE */
    assert_false(accepts("--max-message", "255"));
    assert_true(accepts("--max-message", "256"));
    assert_true(accepts("--max-message", "1GiB"));
    assert_false(accepts("--max-message", "1.5GiB"));
    assert_false(accepts("--queue-bytes", "1023"));
    assert_false(accepts("--queue-bytes", "8 MiB"));
    assert_int_equal(parse(&cfg, "--max-message", "64KiB", "--queue-bytes",
                           "2M", NULL), CONFIG_RUN);
    assert_int_equal(cfg.max_message, 65536);
    assert_int_equal(cfg.queue_bytes, 2 << 20);
    /* CONFIG_DURATION_MS */
    assert_int_equal(parse(&cfg, "--retain-age", "7d", "--dedupe-window",
                           "250ms", NULL), CONFIG_RUN);
    assert_int_equal(cfg.retain_age_ms, 7LL * 86400 * 1000);
    assert_int_equal(cfg.dedupe_window_ms, 250);
    assert_false(accepts("--retain-age", "-1"));
    assert_false(accepts("--retain-age", "3x"));
    /* --mqtt-session-expiry: a week unless told; plain numbers are s */
    assert_int_equal(parse(&cfg, NULL), CONFIG_RUN);
    assert_int_equal(cfg.mqtt_session_expiry_ms, 7LL * 86400 * 1000);
    assert_int_equal(parse(&cfg, "--mqtt-session-expiry", "90", NULL),
                     CONFIG_RUN);
    assert_int_equal(cfg.mqtt_session_expiry_ms, 90000);
    assert_int_equal(parse(&cfg, "--mqtt-session-expiry", "0", NULL),
                     CONFIG_RUN);
    assert_int_equal(cfg.mqtt_session_expiry_ms, 0);
    /* CONFIG_SECONDS: whole seconds within bounds */
    assert_false(accepts("--handshake-timeout", "0"));
    assert_true(accepts("--handshake-timeout", "1"));
    assert_false(accepts("--handshake-timeout", "1500ms"));
    assert_false(accepts("--handshake-timeout", "3601"));
    assert_int_equal(parse(&cfg, "--handshake-timeout", "2m", NULL),
                     CONFIG_RUN);
    assert_int_equal(cfg.handshake_timeout, 120);
    assert_false(accepts("--idle-timeout", "1"));
    config_cleanup(&cfg);
}

static void test_doubles_strings_custom(void **state)
{
    struct pl_config cfg;

    (void)state;
    /* CONFIG_DOUBLE; --burst defaults to twice --rate */
    assert_false(accepts("--rate", "-1"));
    assert_false(accepts("--rate", "fast"));
    assert_int_equal(parse(&cfg, "--rate", "2.5", NULL), CONFIG_RUN);
    assert_true(cfg.rate == 2.5 && cfg.burst == 5);
    assert_int_equal(parse(&cfg, "--rate", "10", "--burst", "3", NULL),
                     CONFIG_RUN);
    assert_true(cfg.burst == 3);
    /* CONFIG_STRING points into argv */
    assert_int_equal(parse(&cfg, "--bind", "0.0.0.0", "--db", "x/y.db",
                           NULL), CONFIG_RUN);
    assert_string_equal(cfg.bind, "0.0.0.0");
    assert_string_equal(cfg.db_path, "x/y.db");
    /* CONFIG_CUSTOM */
    assert_int_equal(parse(&cfg, "--durability", "power", NULL), CONFIG_RUN);
    assert_true(cfg.durability_power);
    assert_false(accepts("--durability", "maybe"));
    assert_false(accepts("--log-level", "loud"));
    assert_true(accepts("--log-format", "json"));
    assert_true(accepts("--log-format", "text"));
    assert_false(accepts("--log-format", "xml"));
    assert_false(accepts("--secret", ""));
    assert_false(accepts("--secret-file", "/nonexistent/parley-secret"));
    assert_int_equal(parse(&cfg, "--secret", "s3cret", NULL), CONFIG_RUN);
    assert_int_equal(cfg.secret_len, 6);
    assert_string_equal(cfg.secret, "s3cret");
    config_cleanup(&cfg);
}

static void test_lists(void **state)
{
    struct pl_config cfg;
    char *argv[2 * CONFIG_LIST_MAX + 4];
    int argc = 0;
    int i = 0;

    (void)state;
    /* the first --ephemeral replaces the default; 'none' empties it */
    assert_int_equal(parse(&cfg, NULL), CONFIG_RUN);
    assert_int_equal(cfg.n_ephemeral, 1);
    assert_string_equal(cfg.ephemeral[0], "typing/#");
    assert_int_equal(parse(&cfg, "--ephemeral", "a/+", "--ephemeral", "b/#",
                           NULL), CONFIG_RUN);
    assert_int_equal(cfg.n_ephemeral, 2);
    assert_string_equal(cfg.ephemeral[1], "b/#");
    assert_int_equal(parse(&cfg, "--ephemeral", "none", NULL), CONFIG_RUN);
    assert_int_equal(cfg.n_ephemeral, 0);
    assert_false(accepts("--ephemeral", "a/#/b"));
    assert_int_equal(parse(&cfg, "--per-ip-exempt", "10.0.0.1",
                           "--per-ip-exempt", "::1", NULL), CONFIG_RUN);
    assert_int_equal(cfg.n_per_ip_exempt, 2);
    assert_false(accepts("--per-ip-exempt", "10.0.0"));
    /* no default: 'none' is an ordinary value */
    assert_int_equal(parse(&cfg, "--allow-origin", "none", NULL), CONFIG_RUN);
    assert_int_equal(cfg.n_allow_origin, 1);
    /* at most CONFIG_LIST_MAX entries */
    argv[argc++] = (char *)"parleyd";
    for (i = 0; i <= CONFIG_LIST_MAX; i++) {
        argv[argc++] = (char *)"--allow-origin";
        argv[argc++] = (char *)"https://example.org";
    }
    argv[argc] = NULL;
    config_defaults(&cfg);
    assert_int_equal(config_parse(&cfg, argc - 2, argv), CONFIG_RUN);
    assert_int_equal(cfg.n_allow_origin, CONFIG_LIST_MAX);
    config_defaults(&cfg);
    assert_int_equal(config_parse(&cfg, argc, argv), CONFIG_EXIT_USAGE);
    config_cleanup(&cfg);
}

static void test_together(void **state)
{
    struct pl_config cfg;

    (void)state;
    assert_int_equal(parse(&cfg, "--cert", "c.pem", NULL), CONFIG_EXIT_USAGE);
    assert_int_equal(parse(&cfg, "--key", "k.pem", NULL), CONFIG_EXIT_USAGE);
    assert_int_equal(parse(&cfg, "--ping-interval", "30", "--idle-timeout",
                           "30", NULL), CONFIG_EXIT_USAGE);
    assert_int_equal(parse(&cfg, "--ping-interval", "0", "--idle-timeout",
                           "30", NULL), CONFIG_RUN);
    config_cleanup(&cfg);
}

/* Every row: a unique name, sane bounds, a default within them, and a
 * line of --help. */
static void test_table_and_help(void **state)
{
    size_t n = 0;
    const struct config_option *t = config_options(&n);
    struct pl_config cfg;
    char *help = NULL;
    size_t help_len = 0;
    FILE *out = open_memstream(&help, &help_len);
    size_t i = 0;
    size_t j = 0;

    (void)state;
    assert_non_null(out);
    config_usage(out);
    fclose(out);
    config_defaults(&cfg);
    for (i = 0; i < n; i++) {
        const struct config_option *o = &t[i];
        const char *field = (const char *)&cfg + o->field;
        char flag[64];
        long long v = 0;

        if (o->type == CONFIG_SECTION)
            continue;
        for (j = i + 1; j < n; j++)
            assert_true(t[j].type == CONFIG_SECTION ||
                        strcmp(o->name, t[j].name) != 0);
        snprintf(flag, sizeof(flag), "\n  --%s", o->name);
        if (strstr(help, flag) == NULL)
            fail_msg("--help does not list --%s", o->name);
        assert_non_null(o->help);
        switch (o->type) {
        case CONFIG_INT:
        case CONFIG_SECONDS:
            v = *(const int *)(const void *)field;
            break;
        case CONFIG_U32:
            v = *(const uint32_t *)(const void *)field;
            break;
        case CONFIG_SIZE:
            v = (long long)*(const size_t *)(const void *)field;
            break;
        case CONFIG_I64:
        case CONFIG_DURATION_MS:
            v = *(const int64_t *)(const void *)field;
            break;
        default:
            continue;
        }
        assert_true(o->min <= o->max);
        if (v < o->min || v > o->max)
            fail_msg("--%s: default %lld outside [%lld, %lld]", o->name, v,
                     o->min, o->max);
    }
    free(help);
    config_cleanup(&cfg);
}

/* A config file with text at a fresh path (path: 64 bytes); the caller
 * unlinks it. */
static void conf_file(char *path, const char *text)
{
    FILE *f = NULL;
    int fd = 0;

    snprintf(path, 64, "/tmp/parley-conf-XXXXXX");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    f = fdopen(fd, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

/* Parse "--config <file with text>" and the flags after it. */
static enum config_result parse_conf(struct pl_config *cfg, const char *text,
                                     const char *flag, const char *value)
{
    char path[64];
    enum config_result r = CONFIG_RUN;

    conf_file(path, text);
    r = parse(cfg, "--config", path, flag, value, NULL);
    unlink(path);
    return r;
}

static void test_file_keys(void **state)
{
    struct pl_config cfg;

    (void)state;
    assert_int_equal(parse_conf(&cfg, "# a comment\n\n  port = 9001  \n"
                                "bind=0.0.0.0\r\nmax-message = 1MiB\n"
                                "retain-age = 7d\nrate = 5\n"
                                "log-level = debug\nephemeral = a/#\n"
                                "ephemeral = b/+\nsecret = s3cret\n"
                                "allow-origin = https://a.example\n",
                                NULL, NULL), CONFIG_RUN);
    assert_int_equal(cfg.port, 9001);
    assert_string_equal(cfg.bind, "0.0.0.0");
    assert_int_equal(cfg.max_message, 1 << 20);
    assert_int_equal(cfg.retain_age_ms, 7LL * 86400 * 1000);
    assert_true(cfg.rate == 5 && cfg.burst == 10);
    assert_int_equal(cfg.log_level, 4);
    assert_int_equal(cfg.n_ephemeral, 2);
    assert_string_equal(cfg.ephemeral[1], "b/+");
    assert_int_equal(cfg.secret_len, 6);
    assert_int_equal(cfg.n_allow_origin, 1);
    config_cleanup(&cfg);
    /* an empty value unsets a string and empties a list */
    assert_int_equal(parse_conf(&cfg, "bind =\nephemeral =\n", NULL, NULL),
                     CONFIG_RUN);
    assert_null(cfg.bind);
    assert_int_equal(cfg.n_ephemeral, 0);
    config_cleanup(&cfg);
}

/* Flags override the file; a list flag replaces the file's list. */
static void test_flags_override_file(void **state)
{
    struct pl_config cfg;

    (void)state;
    assert_int_equal(parse_conf(&cfg, "port = 9001\nmax-subs = 5\n",
                                "--port", "9002"), CONFIG_RUN);
    assert_int_equal(cfg.port, 9002);
    assert_int_equal(cfg.max_subs, 5);
    config_cleanup(&cfg);
    assert_int_equal(parse_conf(&cfg, "ephemeral = a/#\nephemeral = b/#\n",
                                "--ephemeral", "c/#"), CONFIG_RUN);
    assert_int_equal(cfg.n_ephemeral, 1);
    assert_string_equal(cfg.ephemeral[0], "c/#");
    config_cleanup(&cfg);
}

static void test_file_errors(void **state)
{
    struct pl_config cfg;
    const char *const bad[] = {
        "port = 9001\nmax-subs = lots\n", /* a bad value */
        "no-such-key = 1\n",               /* an unknown key */
        "just words\n",                    /* no '=' */
        "config = other.conf\n",           /* flags only */
        "help = 1\n",
        "port =\n",                        /* a number left empty */
    };
    size_t i = 0;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (parse_conf(&cfg, bad[i], NULL, NULL) != CONFIG_EXIT_USAGE)
            fail_msg("accepted: %s", bad[i]);
        config_cleanup(&cfg);
    }
    assert_int_equal(parse(&cfg, "--config", "/nonexistent/parley.conf",
                           NULL), CONFIG_EXIT_USAGE);
    config_cleanup(&cfg);
    assert_int_equal(parse(&cfg, "--config", "/tmp", NULL),
                     CONFIG_EXIT_USAGE);
    config_cleanup(&cfg);
}

/* The configuration as a file (--print-config) of the defaults. */
static char *defaults_file(void)
{
    struct pl_config cfg;
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);

    assert_non_null(out);
    assert_int_equal(parse(&cfg, NULL), CONFIG_RUN);
    config_write_file(out, &cfg);
    fclose(out);
    config_cleanup(&cfg);
    return text;
}

/* packaging/parley.conf is exactly what the table makes: regenerate it
 * with `parleyd --print-config > packaging/parley.conf`. */
static void test_example_matches_table(void **state)
{
    char *want = defaults_file();
    FILE *f = fopen(PARLEY_SOURCE_DIR "/packaging/parley.conf", "r");
    char *have = NULL;
    size_t n = 0;

    (void)state;
    assert_non_null(f);
    have = calloc(1, strlen(want) + 2);
    assert_non_null(have);
    n = fread(have, 1, strlen(want) + 1, f);
    fclose(f);
    have[n] = '\0';
    if (strcmp(want, have) != 0)
        fail_msg("packaging/parley.conf drifted from the option table: "
                 "regenerate it with parleyd --print-config");
    free(have);
    free(want);
}

/* Every commented "#key = value" of the example, uncommented, parses to
 * the defaults again; and every setting has a line. */
static void test_example_round_trip(void **state)
{
    char *example = defaults_file();
    char *uncommented = calloc(1, strlen(example) + 1);
    char *again = NULL;
    char path[64];
    char *p = example;
    char *q = uncommented;
    struct pl_config cfg;
    size_t n = 0;
    size_t i = 0;
    const struct config_option *t = config_options(&n);

    (void)state;
    assert_non_null(uncommented);
    for (i = 0; i < n; i++) {
        char key[64];

        if (t[i].type == CONFIG_SECTION || t[i].flag_only)
            continue;
        snprintf(key, sizeof(key), "\n#%s =", t[i].name);
        if (strstr(example, key) == NULL)
            fail_msg("the example has no line for %s", t[i].name);
    }
    while (*p != '\0') {
        char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p + 1) : strlen(p);

        /* "#key = value" lines, not prose ("# ...") or secrets */
        if (p[0] == '#' && p[1] != ' ' && p[1] != '\n' &&
            strncmp(p, "#secret", 7) != 0) {
            memcpy(q, p + 1, len - 1);
            q += len - 1;
        }
        p += len;
    }
    conf_file(path, uncommented);
    assert_int_equal(parse(&cfg, "--config", path, NULL), CONFIG_RUN);
    unlink(path);
    cfg.config_path = NULL;
    {
        FILE *out = open_memstream(&again, &n);

        config_write_file(out, &cfg);
        fclose(out);
    }
    assert_string_equal(again, example);
    config_cleanup(&cfg);
    free(again);
    free(uncommented);
    free(example);
}

/* A reload's comparison: live rows move into the running configuration
 * (a list with its strings, the secret swapped so each side frees its
 * own), other changes stay for a restart, unchanged rows count nothing. */
static void test_take_live(void **state)
{
    struct pl_config running;
    struct pl_config fresh;
    char *old_secret = NULL;

    (void)state;
    assert_int_equal(parse_conf(&running, "port = 9001\nmax-subs = 5\n"
                                "secret = one\nephemeral = a/#\n",
                                NULL, NULL), CONFIG_RUN);
    old_secret = running.secret;
    assert_int_equal(parse_conf(&fresh, "port = 9002\nmax-subs = 6\n"
                                "secret = two\nephemeral = b/#\n"
                                "ephemeral = c/#\nallow-origin = *\n",
                                NULL, NULL), CONFIG_RUN);
    /* max-subs, secret, ephemeral, allow-origin; not port */
    assert_int_equal(config_take_live(&running, &fresh), 4);
    assert_int_equal(running.port, 9001);
    assert_int_equal(running.max_subs, 6);
    assert_string_equal(running.secret, "two");
    assert_ptr_equal(fresh.secret, old_secret);
    assert_int_equal(running.n_ephemeral, 2);
    assert_string_equal(running.ephemeral[1], "c/#");
    assert_int_equal(running.n_allow_origin, 1);
    /* fresh's text now belongs to running: the strings outlive fresh */
    assert_null(fresh.texts);
    config_cleanup(&fresh);
    assert_string_equal(running.allow_origin[0], "*");
    assert_string_equal(running.ephemeral[0], "b/#");
    /* the same again: nothing to apply */
    assert_int_equal(parse_conf(&fresh, "port = 9001\nmax-subs = 6\n"
                                "secret = two\nephemeral = b/#\n"
                                "ephemeral = c/#\nallow-origin = *\n",
                                NULL, NULL), CONFIG_RUN);
    assert_int_equal(config_take_live(&running, &fresh), 0);
    config_cleanup(&fresh);
    config_cleanup(&running);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unknown_and_incomplete),
        cmocka_unit_test(test_integers),
        cmocka_unit_test(test_sizes_and_durations),
        cmocka_unit_test(test_doubles_strings_custom),
        cmocka_unit_test(test_lists),
        cmocka_unit_test(test_together),
        cmocka_unit_test(test_table_and_help),
        cmocka_unit_test(test_file_keys),
        cmocka_unit_test(test_flags_override_file),
        cmocka_unit_test(test_file_errors),
        cmocka_unit_test(test_example_matches_table),
        cmocka_unit_test(test_example_round_trip),
        cmocka_unit_test(test_take_live),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
