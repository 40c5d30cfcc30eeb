/*
 * main.c: the `parley` executable's entry point: global help and version,
 * and dispatch to the subcommands (chat, sub, pub, token, top, backup,
 * grep), each of which owns its own options. No logic of its own.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

#ifndef PARLEY_VERSION
#define PARLEY_VERSION "0"
#endif

static const char main_usage[] =
"Usage: parley COMMAND [URL] [ARGS...] [options]\n"
"\n"
"The terminal client of Parley, a WebSocket chat and pub/sub server.\n"
"\n"
"Commands:\n"
"  chat [URL] --name NAME [--room ROOM]   interactive chat\n"
"  sub  [URL] TOPIC... [--since N] [--history N] [--count N]\n"
"                                         print messages as JSON lines\n"
"  pub  [URL] TOPIC DATA|- [--retain] [--key K]\n"
"                                         publish a value or stdin lines\n"
"  token --secret S --user U [--ttl D] [--allow-pub P] [--allow-sub P]\n"
"                                         mint an HS256 token\n"
"  top  [URL] [--count N]                 the server's $SYS values, live\n"
"  backup [URL] FILE                      online copy of the server's database\n"
"  grep [URL] PATTERN QUERY [--limit N]   search stored messages, print\n"
"                                         the matches as JSON lines\n"
"  help [COMMAND]                         this text, or a command's help\n"
"\n"
"URL defaults to $PARLEY_URL, else " CLI_URL_DEFAULT "; wss:// works\n"
"(add --insecure for a self-signed certificate). The token sent in hello\n"
"comes from --token, else $PARLEY_TOKEN.\n"
"\n"
"Run 'parley COMMAND --help' for a command's options.\n";

struct command {
    const char *name;
    int (*main)(int argc, char **argv);
};

static const struct command commands[] = {
    { "chat", chat_main },
    { "sub", sub_main },
    { "pub", pub_main },
    { "token", token_main },
    { "top", top_main },
    { "backup", backup_main },
    { "grep", grep_main },
};

static const struct command *find_command(const char *name)
{
    size_t i = 0;

    for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

int main(int argc, char **argv)
{
    const struct command *cmd = NULL;
    char *help_argv[3] = { NULL, "--help", NULL };

    if (argc < 2) {
        fputs(main_usage, stderr);
        return CLI_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(main_usage, stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("parley %s\n", PARLEY_VERSION);
        return CLI_EXIT_OK;
    }
    if (strcmp(argv[1], "help") == 0) {
        if (argc < 3) {
            fputs(main_usage, stdout);
            return CLI_EXIT_OK;
        }
        cmd = find_command(argv[2]);
        if (cmd == NULL) {
            cli_err("unknown command '%s'", argv[2]);
            return CLI_EXIT_USAGE;
        }
        help_argv[0] = argv[2];
        return cmd->main(2, help_argv);
    }
    cmd = find_command(argv[1]);
    if (cmd == NULL) {
        cli_err("unknown command '%s' (see parley --help)", argv[1]);
        return CLI_EXIT_USAGE;
    }
    return cmd->main(argc - 1, argv + 1);
}
