/*
 * config_show.c: the configuration spelled back as text, from the same
 * option table: a row's value as a flag or a file would write it, the
 * whole configuration as a commented config file (--print-config, and the
 * example packaging/parley.conf, so that file cannot drift from the
 * table), and the comparison of two configurations that a SIGHUP reload
 * makes to apply what may change live.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "log.h"

static const void *field_of(const struct pl_config *cfg,
                            const struct config_option *o)
{
    return (const char *)cfg + o->field;
}

/* A size in the largest unit that spells it exactly ("8MiB"). */
static void size_text(uint64_t v, char *buf, size_t n)
{
    static const char *const units[] = { "GiB", "MiB", "KiB" };
    uint64_t scale = 1ULL << 30;
    size_t i = 0;

    for (i = 0; i < 3; i++, scale >>= 10)
        if (v != 0 && v % scale == 0) {
            snprintf(buf, n, "%" PRIu64 "%s", v / scale, units[i]);
            return;
        }
    snprintf(buf, n, "%" PRIu64, v);
}

/* A duration in the largest unit that spells it exactly ("24h"). */
static void duration_text(int64_t ms, char *buf, size_t n)
{
    static const char *const units[] = { "d", "h", "m", "s" };
    static const int64_t scales[] = { 86400000, 3600000, 60000, 1000 };
    size_t i = 0;

    for (i = 0; i < 4; i++)
        if (ms != 0 && ms % scales[i] == 0) {
            snprintf(buf, n, "%" PRId64 "%s", ms / scales[i], units[i]);
            return;
        }
    snprintf(buf, n, ms == 0 ? "0" : "%" PRId64 "ms", ms);
}

/* The rows read by a set() function, by name: the table keeps them
 * static in config.c. */
static int custom_text(const struct config_option *o,
                       const struct pl_config *cfg, char *buf, size_t n)
{
    if (strcmp(o->name, "log-level") == 0)
        snprintf(buf, n, "%s", log_level_name(cfg->log_level));
    else if (strcmp(o->name, "log-format") == 0)
        snprintf(buf, n, "%s", log_format_name(cfg->log_format));
    else if (strcmp(o->name, "durability") == 0)
        snprintf(buf, n, "%s", cfg->durability_power ? "power" : "process");
    else if (strcmp(o->name, "mqtt-port") == 0 ||
             strcmp(o->name, "mqtts-port") == 0) {
        int port = o->name[4] == 's' ? cfg->mqtts_port : cfg->mqtt_port;

        if (port < 0)
            snprintf(buf, n, "off");
        else
            snprintf(buf, n, "%d", port);
    }
    else
        return -1; /* a secret is never shown */
    return 0;
}

int config_value_text(const struct config_option *o,
                      const struct pl_config *cfg, size_t i, char *buf,
                      size_t n)
{
    const void *f = field_of(cfg, o);

    switch (o->type) {
    case CONFIG_INT:
        snprintf(buf, n, "%d", *(const int *)f);
        return 0;
    case CONFIG_SECONDS:
        snprintf(buf, n, "%ds", *(const int *)f);
        return 0;
    case CONFIG_U32:
        snprintf(buf, n, "%" PRIu32, *(const uint32_t *)f);
        return 0;
    case CONFIG_I64:
        snprintf(buf, n, "%" PRId64, *(const int64_t *)f);
        return 0;
    case CONFIG_SIZE:
        size_text(*(const size_t *)f, buf, n);
        return 0;
    case CONFIG_DURATION_MS:
        duration_text(*(const int64_t *)f, buf, n);
        return 0;
    case CONFIG_DOUBLE:
        snprintf(buf, n, "%g", *(const double *)f);
        return 0;
    case CONFIG_STRING:
        if (*(const char *const *)f == NULL)
            return -1;
        snprintf(buf, n, "%s", *(const char *const *)f);
        return 0;
    case CONFIG_LIST:
        if (i >= *(const size_t *)(const void *)((const char *)cfg + o->count))
            return -1;
        snprintf(buf, n, "%s", ((const char *const *)f)[i]);
        return 0;
    case CONFIG_BOOL:
        snprintf(buf, n, "%s", *(const bool *)f ? "true" : "false");
        return 0;
    case CONFIG_CUSTOM:
        return custom_text(o, cfg, buf, n);
    default:
        return -1;
    }
}

/* How many values a row has (a list's length; 1 or 0 otherwise). */
static size_t value_count(const struct config_option *o,
                          const struct pl_config *cfg)
{
    char buf[8];

    if (o->type == CONFIG_LIST)
        return *(const size_t *)(const void *)((const char *)cfg + o->count);
    return config_value_text(o, cfg, 0, buf, sizeof(buf)) == 0 ? 1 : 0;
}

/* The row has the same value(s) in a and b. */
static bool row_same(const struct config_option *o, const struct pl_config *a,
                     const struct pl_config *b)
{
    char va[1024];
    char vb[1024];
    size_t n = value_count(o, a);
    size_t i = 0;

    if (strcmp(o->name, "secret") == 0)
        return a->secret_len == b->secret_len &&
               (a->secret_len == 0 ||
                memcmp(a->secret, b->secret, a->secret_len) == 0);
    if (n != value_count(o, b))
        return false;
    for (i = 0; i < n; i++) {
        config_value_text(o, a, i, va, sizeof(va));
        config_value_text(o, b, i, vb, sizeof(vb));
        if (strcmp(va, vb) != 0)
            return false;
    }
    return true;
}

/* Rows a file can hold and two configurations can differ in. */
static bool is_setting(const struct config_option *o)
{
    return o->type != CONFIG_SECTION && !o->flag_only &&
           (o->arg != NULL || o->type == CONFIG_BOOL) &&
           strcmp(o->name, "secret-file") != 0; /* shows as "secret" */
}

static void write_help(FILE *out, const char *help)
{
    fputs("# ", out);
    for (; *help != '\0'; help++) {
        fputc(*help, out);
        if (*help == '\n')
            fputs("# ", out);
    }
    fputc('\n', out);
}

void config_write_file(FILE *out, const struct pl_config *cfg)
{
    const struct config_option *t = NULL;
    struct pl_config d;
    char buf[1024];
    size_t n = 0;
    size_t i = 0;

    config_defaults(&d);
    config_derive(&d);
    t = config_options(&n);
    fputs("# parleyd configuration: parleyd --config FILE.\n"
          "# Each key is a parleyd flag without '--'; flags given on the\n"
          "# command line override the file. A list key may repeat; an\n"
          "# empty value empties a list or unsets a string. A line starting\n"
          "# with '#' is a comment: commented keys show their defaults.\n"
          "# SIGHUP re-reads the file; keys marked [live] apply at once,\n"
          "# the others at the next restart.\n", out);
    for (i = 0; i < n; i++) {
        const struct config_option *o = &t[i];
        const char *mark = NULL;
        size_t k = 0;
        size_t count = 0;

        if (o->type == CONFIG_SECTION) {
            fprintf(out, "\n# ---- %s ----\n", o->name);
            continue;
        }
        if (!is_setting(o) && strcmp(o->name, "secret-file") != 0)
            continue;
        fputc('\n', out);
        write_help(out, o->help);
        if (o->live)
            fputs("# [live]\n", out);
        mark = row_same(o, cfg, &d) ? "#" : "";
        if (strcmp(o->name, "secret") == 0 ||
            strcmp(o->name, "secret-file") == 0) {
            fprintf(out, "#%s =%s\n", o->name,
                    cfg->secret != NULL ? " (set; not shown)" : "");
            continue;
        }
        count = value_count(o, cfg);
        if (count == 0)
            fprintf(out, "%s%s =\n", mark, o->name);
        for (k = 0; k < count; k++) {
            config_value_text(o, cfg, k, buf, sizeof(buf));
            fprintf(out, "%s%s = %s\n", mark, o->name, buf);
        }
    }
    config_cleanup(&d);
}

/* Copy row o's value from src to dst (a list with its count and default
 * mark; the secret is swapped, so src frees the old one). */
static void move_row(const struct config_option *o, struct pl_config *dst,
                     struct pl_config *src)
{
    void *d = (char *)dst + o->field;
    const void *s = (const char *)src + o->field;

    switch (o->type) {
    case CONFIG_INT:
    case CONFIG_SECONDS:
        memcpy(d, s, sizeof(int));
        break;
    case CONFIG_U32:
        memcpy(d, s, sizeof(uint32_t));
        break;
    case CONFIG_I64:
    case CONFIG_DURATION_MS:
        memcpy(d, s, sizeof(int64_t));
        break;
    case CONFIG_SIZE:
        memcpy(d, s, sizeof(size_t));
        break;
    case CONFIG_DOUBLE:
        memcpy(d, s, sizeof(double));
        break;
    case CONFIG_BOOL:
        memcpy(d, s, sizeof(bool));
        break;
    case CONFIG_STRING:
        memcpy(d, s, sizeof(const char *));
        break;
    case CONFIG_LIST:
        memcpy(d, s, sizeof(const char *) * CONFIG_LIST_MAX);
        memcpy((char *)dst + o->count, (const char *)src + o->count,
               sizeof(size_t));
        if (o->is_default != 0)
            memcpy((char *)dst + o->is_default,
                   (const char *)src + o->is_default, sizeof(bool));
        break;
    default: /* CONFIG_CUSTOM */
        if (strcmp(o->name, "secret") == 0) {
            char *tmp = dst->secret;
            size_t len = dst->secret_len;

            dst->secret = src->secret;
            dst->secret_len = src->secret_len;
            src->secret = tmp;
            src->secret_len = len;
        } else if (strcmp(o->name, "log-level") == 0) {
            dst->log_level = src->log_level;
        } else if (strcmp(o->name, "log-format") == 0) {
            dst->log_format = src->log_format;
        }
        break;
    }
}

/* The row's new value(s) for the log, joined with ", ". */
static void values_text(const struct config_option *o,
                        const struct pl_config *cfg, char *buf, size_t n)
{
    size_t count = value_count(o, cfg);
    size_t len = 0;
    size_t i = 0;

    snprintf(buf, n, "%s", strcmp(o->name, "secret") == 0
                               ? (cfg->secret ? "(set)" : "(none)")
                               : count == 0 ? "(none)" : "");
    for (i = 0; i < count && len + 3 < n; i++) {
        if (i > 0)
            len += (size_t)snprintf(buf + len, n - len, ", ");
        config_value_text(o, cfg, i, buf + len, n - len);
        len = strlen(buf);
    }
}

int config_take_live(struct pl_config *running, struct pl_config *fresh)
{
    const struct config_option *t = NULL;
    struct config_text **tail = NULL;
    char buf[1024];
    size_t n = 0;
    size_t i = 0;
    int applied = 0;

    t = config_options(&n);
    for (i = 0; i < n; i++) {
        const struct config_option *o = &t[i];

        if (!is_setting(o) || row_same(o, running, fresh))
            continue;
        values_text(o, fresh, buf, sizeof(buf));
        if (!o->live) {
            log_warn("config: %s changed to %s: restart parleyd to apply it",
                     o->name, buf);
            continue;
        }
        move_row(o, running, fresh);
        log_notice("config: %s = %s (applied)", o->name, buf);
        applied++;
    }
    /* Moved strings point into fresh's text: running keeps it. */
    for (tail = &running->texts; *tail != NULL; tail = &(*tail)->next)
        ;
    *tail = fresh->texts;
    fresh->texts = NULL;
    return applied;
}
