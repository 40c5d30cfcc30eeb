/*
 * grep.c: owns `parley grep PATTERN QUERY`: one search (#16) over the
 * topics PATTERN matches, its matches printed newest first as JSON lines
 * (one message object per line, as the server sent it: topic, seq, ts,
 * from, data, and edit_of / reply_to when set), then exit. Exit status 0
 * when something matched, 1 when nothing did (as grep), 2 on a usage
 * error, 3 when the server could not be asked.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cmd.h"
#include "frame.h"
#include "session.h"
#include "topic.h"

#define GREP_EXIT_NONE 1
#define GREP_EXIT_ERROR 3

struct grep_app {
    struct cli_common co;
    struct session *s;
    const char *pattern;
    const char *query;
    int64_t limit;
    int64_t before;
    int64_t id;
};

static const char grep_usage[] =
"Usage: parley grep [URL] PATTERN QUERY [--limit N] [--before TS]\n"
"\n"
"Searches the text of stored messages in the topics PATTERN matches\n"
"(a topic or a pattern such as 'chat/#') and prints the matches, newest\n"
"first, as JSON lines. QUERY takes words, \"phrases\" and prefix*; a\n"
"message matches when it holds all of them. Exit status: 0 found,\n"
"1 nothing found, 2 usage, 3 error.\n"
"\n"
"Options:\n"
"  --limit N          at most N matches (1 to 100, default 20)\n"
"  --before TS        only messages older than TS (ms since the epoch)\n"
"  --name NAME, --token JWT, -k/--insecure, -v/--verbose, -h/--help\n";

enum { OPT_LIMIT = 1, OPT_BEFORE };

static const struct option grep_options[] = {
    { "limit", required_argument, NULL, OPT_LIMIT },
    { "before", required_argument, NULL, OPT_BEFORE },
    { "name", required_argument, NULL, CLI_OPT_NAME },
    { "token", required_argument, NULL, CLI_OPT_TOKEN },
    { "insecure", no_argument, NULL, 'k' },
    { "verbose", no_argument, NULL, 'v' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};

static void grep_ready(struct session *s, void *user, unsigned again)
{
    struct grep_app *a = user;
    struct pl_buf b;

    (void)again;
    a->id = session_next_id(s);
    pl_buf_init(&b, 256);
    pl_frame_begin(&b, "search");
    pl_frame_id(&b, a->id);
    pl_frame_kv_str(&b, "topic", a->pattern);
    pl_frame_kv_str(&b, "q", a->query);
    pl_frame_kv_int(&b, "limit", a->limit);
    if (a->before > 0)
        pl_frame_kv_int(&b, "before", a->before);
    pl_frame_end(&b);
    if (session_send(s, &b) < 0) {
        cli_err("cannot send the search");
        session_stop(s, GREP_EXIT_ERROR);
    }
    pl_buf_cleanup(&b);
}

static void grep_frame(struct session *s, void *user, const cJSON *root,
                       const char *op, int64_t id)
{
    struct grep_app *a = user;
    const cJSON *msgs = NULL;
    const cJSON *it = NULL;
    char text[512];
    int n = 0;

    if (id != a->id)
        return;
    if (strcmp(op, "ok") != 0) {
        cli_err("search refused: %s",
                cli_error_text(root, text, sizeof(text)));
        session_finish(s, GREP_EXIT_ERROR);
        return;
    }
    msgs = cJSON_GetObjectItemCaseSensitive(root, "messages");
    cJSON_ArrayForEach(it, msgs) {
        char *line = cJSON_PrintUnformatted(it);

        if (line != NULL)
            printf("%s\n", line);
        cJSON_free(line);
        n++;
    }
    fflush(stdout);
    session_finish(s, n > 0 ? CLI_EXIT_OK : GREP_EXIT_NONE);
}

static void grep_down(struct session *s, void *user, const char *why,
                      int64_t retry_ms)
{
    (void)user;
    (void)retry_ms;
    cli_err("cannot search: %s: %s", session_url(s), why);
    session_stop(s, GREP_EXIT_ERROR);
}

static const struct session_ops grep_ops = {
    .ready = grep_ready,
    .frame = grep_frame,
    .down = grep_down,
};

static int grep_parse(struct grep_app *a, int argc, char **argv, int *status)
{
    int c = 0;
    int i = 0;

    *status = CLI_EXIT_USAGE;
    while ((c = getopt_long(argc, argv, "kvh", grep_options, NULL)) != -1) {
        switch (c) {
        case OPT_LIMIT:
            if (cli_parse_int(optarg, 1, PL_SEARCH_LIMIT_MAX, &a->limit) < 0) {
                cli_err("--limit wants 1 to %d", PL_SEARCH_LIMIT_MAX);
                return -1;
            }
            break;
        case OPT_BEFORE:
            if (cli_parse_int(optarg, 1, PL_ID_MAX, &a->before) < 0) {
                cli_err("--before wants a time in ms since the epoch");
                return -1;
            }
            break;
        case 'h':
            fputs(grep_usage, stdout);
            *status = CLI_EXIT_OK;
            return -1;
        default:
            if (cli_common_option(&a->co, c, optarg))
                break;
            fputs(grep_usage, stderr);
            return -1;
        }
    }
    i = optind;
    if (i < argc && cli_is_url(argv[i]))
        a->co.url = argv[i++];
    if (argc - i != 2) {
        cli_err("grep wants PATTERN and QUERY; see parley grep --help");
        return -1;
    }
    a->pattern = argv[i];
    a->query = argv[i + 1];
    if (pl_topic_validate(a->pattern, strlen(a->pattern), true) != PL_OK) {
        cli_err("invalid topic or pattern '%s'", a->pattern);
        return -1;
    }
    if (a->query[0] == '\0' || strlen(a->query) > PL_SEARCH_Q_MAX ||
        !pl_utf8_valid(a->query, strlen(a->query))) {
        cli_err("QUERY wants 1 to %d bytes of UTF-8", PL_SEARCH_Q_MAX);
        return -1;
    }
    return 0;
}

int grep_main(int argc, char **argv)
{
    struct grep_app a;
    struct session_cfg cfg;
    const char *why = NULL;
    int status = CLI_EXIT_USAGE;

    memset(&a, 0, sizeof(a));
    cli_common_init(&a.co);
    a.limit = PL_SEARCH_LIMIT_DEFAULT;
    if (grep_parse(&a, argc, argv, &status) < 0)
        return status;
    memset(&cfg, 0, sizeof(cfg));
    cfg.url = a.co.url;
    cfg.token = a.co.token;
    cfg.name = a.co.name;
    cfg.insecure = a.co.insecure;
    cfg.reconnect = false;
    cfg.ops = &grep_ops;
    cfg.user = &a;
    if (session_new(&cfg, &a.s, &why) < 0) {
        cli_err("%s: %s", a.co.url, why);
        return GREP_EXIT_ERROR;
    }
    session_start(a.s);
    status = session_run(a.s);
    session_free(&a.s);
    return status;
}
