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
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
