/*
 * token.c: owns `parley token`: mint an HS256 JWT for a server started
 * with --secret, through the protocol library's pl_jwt_sign(). No network.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "jwt.h"
#include "topic.h"

#define TOKEN_MAX_PATTERNS 64
#define TOKEN_TTL_DEFAULT (24 * 3600)

static const char token_usage[] =
"Usage: parley token --secret S --user U [options]\n"
"\n"
"Prints an HS256 token (JWT) for a parleyd started with --secret S.\n"
"\n"
"Options:\n"
"  --secret S         the server's secret (or $PARLEY_SECRET)\n"
"  --user U           the user (the token's sub claim)\n"
"  --ttl DURATION     lifetime: 90, 90s, 15m, 24h, 7d (default 24h;\n"
"                     0 means no expiry)\n"
"  --allow-pub P      may publish to pattern P (repeatable; default all)\n"
"  --allow-sub P      may subscribe to pattern P (repeatable; default all)\n"
"  -h, --help         this help\n";

enum { OPT_SECRET = 256, OPT_USER, OPT_TTL, OPT_PUB, OPT_SUB };

static const struct option token_options[] = {
    { "secret", required_argument, NULL, OPT_SECRET },
    { "user", required_argument, NULL, OPT_USER },
    { "ttl", required_argument, NULL, OPT_TTL },
    { "allow-pub", required_argument, NULL, OPT_PUB },
    { "allow-sub", required_argument, NULL, OPT_SUB },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};

/* Adds a pattern to a list after validating it. 0 or -1. */
static int add_pattern(const char **list, size_t *n, const char *p,
                       const char *opt)
{
    if (pl_topic_validate(p, strlen(p), true) != PL_OK) {
        cli_err("%s: invalid pattern '%s'", opt, p);
        return -1;
    }
    if (*n == TOKEN_MAX_PATTERNS) {
        cli_err("%s: at most %d patterns", opt, TOKEN_MAX_PATTERNS);
        return -1;
    }
    list[(*n)++] = p;
    return 0;
}

int token_main(int argc, char **argv)
{
    const char *pubs[TOKEN_MAX_PATTERNS];
    const char *subs[TOKEN_MAX_PATTERNS];
    size_t n_pub = 0;
    size_t n_sub = 0;
    const char *secret = getenv("PARLEY_SECRET");
    const char *user = NULL;
    int64_t ttl = TOKEN_TTL_DEFAULT;
    char *tok = NULL;
    int c = 0;

    while ((c = getopt_long(argc, argv, "h", token_options, NULL)) != -1) {
        switch (c) {
        case OPT_SECRET:
            secret = optarg;
            break;
        case OPT_USER:
            user = optarg;
            break;
        case OPT_TTL:
            if (cli_parse_duration(optarg, &ttl) < 0) {
                cli_err("--ttl: bad duration '%s' (e.g. 3600, 90s, 15m, "
                        "24h, 7d)", optarg);
                return CLI_EXIT_USAGE;
            }
            break;
        case OPT_PUB:
            if (add_pattern(pubs, &n_pub, optarg, "--allow-pub") < 0)
                return CLI_EXIT_USAGE;
            break;
        case OPT_SUB:
            if (add_pattern(subs, &n_sub, optarg, "--allow-sub") < 0)
                return CLI_EXIT_USAGE;
            break;
        case 'h':
            fputs(token_usage, stdout);
            return CLI_EXIT_OK;
        default:
            fputs(token_usage, stderr);
            return CLI_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        cli_err("token: unexpected argument '%s'", argv[optind]);
        return CLI_EXIT_USAGE;
    }
    if (secret == NULL || secret[0] == '\0' || user == NULL ||
        user[0] == '\0') {
        cli_err("token needs --secret and --user (see parley token --help)");
        return CLI_EXIT_USAGE;
    }
    tok = pl_jwt_sign(secret, strlen(secret), user,
                      ttl > 0 ? cli_now_ms() / 1000 + ttl : 0,
                      n_pub > 0 ? pubs : NULL, n_pub,
                      n_sub > 0 ? subs : NULL, n_sub);
    if (tok == NULL) {
        cli_err("cannot sign the token");
        return CLI_EXIT_FAIL;
    }
    printf("%s\n", tok);
    free(tok);
    return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}
