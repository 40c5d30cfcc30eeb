/*
 * config_file.c: parleyd's config file (--config FILE), lines of
 * "key = value" whose keys are the flags' names (config.c's table), with
 * '#' comments and blank lines. A list key may repeat. The file's text is
 * kept, owned by the config, because string values point into it.
 *
 *     # the listen port
 *     port = 8080
 *     ephemeral = typing/#
 *     ephemeral = cursor/#
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"

/* Larger than any sane config; keeps a mistaken path (a database, a
 * device) from being read into memory. */
#define CONFIG_FILE_MAX (1 << 20)

void config_texts_free(struct config_text **texts)
{
    while (*texts != NULL) {
        struct config_text *t = *texts;

        *texts = t->next;
        free(t);
    }
}

/* The whole file as a NUL-terminated text on cfg's list. Returns it, or
 * NULL after saying why. */
static char *read_text(struct pl_config *cfg, const char *path)
{
    FILE *f = fopen(path, "rb");
    struct config_text *t = NULL;
    struct stat st;
    size_t n = 0;

    if (f == NULL) {
        config_error("cannot read config file %s: %s", path, strerror(errno));
        return NULL;
    }
    if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode) ||
        st.st_size > CONFIG_FILE_MAX) {
        config_error("config file %s: not a regular file of at most 1 MiB",
                     path);
        goto fail;
    }
    t = malloc(sizeof(*t) + (size_t)st.st_size + 1);
    if (t == NULL) {
        config_error("config file %s: out of memory", path);
        goto fail;
    }
    n = fread(t->text, 1, (size_t)st.st_size, f);
    t->text[n] = '\0';
    fclose(f);
    t->next = cfg->texts;
    cfg->texts = t;
    return t->text;
fail:
    fclose(f);
    return NULL;
}

static char *trim(char *s)
{
    char *end = s + strlen(s);

    while (*s == ' ' || *s == '\t')
        s++;
    while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
        *--end = '\0';
    return s;
}

static void clear_list(struct pl_config *cfg, const struct config_option *o)
{
    char *base = (char *)cfg;

    *(size_t *)(void *)(base + o->count) = 0;
    if (o->is_default != 0)
        *(bool *)(base + o->is_default) = false;
}

/* One non-blank, non-comment line. Returns 0, or -1 after saying why. */
static int load_line(struct pl_config *cfg, char *line, bool *from_file)
{
    const struct config_option *table = NULL;
    const struct config_option *o = NULL;
    char *eq = strchr(line, '=');
    char *key = NULL;
    char *value = NULL;
    size_t n = 0;

    if (eq == NULL) {
        config_error("expected 'key = value', got '%s'", line);
        return -1;
    }
    *eq = '\0';
    key = trim(line);
    value = trim(eq + 1);
    o = config_find(key);
    if (o == NULL) {
        config_error("unknown key '%s' (the keys are parleyd's flags "
                     "without '--')", key);
        return -1;
    }
    if (o->flag_only || (o->arg == NULL && o->type != CONFIG_BOOL)) {
        config_error("'%s' is a command-line flag, not a config key", key);
        return -1;
    }
    table = config_options(&n);
    if (o->type == CONFIG_LIST) {
        from_file[o - table] = true;
        if (*value == '\0') { /* "key =": an empty list */
            clear_list(cfg, o);
            return 0;
        }
    }
    if (o->type == CONFIG_STRING && *value == '\0') {
        *(const char **)(void *)((char *)cfg + o->field) = NULL;
        return 0;
    }
    return config_set(cfg, o, value);
}

int config_load_file(struct pl_config *cfg, const char *path,
                     bool *from_file)
{
    char *text = read_text(cfg, path);
    char *line = NULL;
    char *next = NULL;
    int lineno = 0;
    int rc = 0;

    if (text == NULL)
        return -1;
    for (line = text; line != NULL && rc == 0; line = next) {
        char *t = NULL;

        next = strchr(line, '\n');
        if (next != NULL)
            *next++ = '\0';
        lineno++;
        t = trim(line);
        if (*t == '\0' || *t == '#')
            continue;
        config_error_at(path, lineno);
        rc = load_line(cfg, t, from_file);
    }
    config_error_at(NULL, 0);
    return rc;
}
