/*
 * fuzz_cmd.c: libFuzzer target for the command parser (protocol/cmd.c):
 * pl_cmd_parse and pl_cmd_parse_pub_body on arbitrary bytes. Besides the
 * sanitizers' crashes and leaks, a command the parser accepts must keep
 * the promises of cmd.h and protocol-v1: a valid id, topics that pass the
 * topic rules, data that is JSON, lengths that match. A broken promise
 * aborts, which libFuzzer reports like a crash.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cmd.h"
#include "topic.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_require(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_cmd: broken promise: %s\n", what);
        abort();
    }
}

static void fuzz_check_topic(const struct pl_cmd *cmd, int wildcards)
{
    fuzz_require(cmd->topic != NULL, "a topic");
    fuzz_require(strlen(cmd->topic) == cmd->topic_len, "topic_len");
    fuzz_require(pl_topic_validate(cmd->topic, cmd->topic_len,
                                   wildcards != 0) == PL_OK,
                 "a valid topic");
}

/* What every accepted command promises. */
static void fuzz_check(const struct pl_cmd *cmd)
{
    cJSON *j = NULL;

    fuzz_require(cmd->id >= 0 && cmd->id <= PL_ID_MAX, "id in range");
    switch (cmd->op) {
    case PL_OP_HELLO:
        fuzz_require(cmd->name == NULL || (strlen(cmd->name) >= 1 &&
                     strlen(cmd->name) <= PL_NAME_MAX), "name length");
        break;
    case PL_OP_SUB:
    case PL_OP_UNSUB:
        fuzz_check_topic(cmd, 1);
        fuzz_require(!cmd->has_history || cmd->history >= 0, "history");
        break;
    case PL_OP_PUB:
        fuzz_check_topic(cmd, 0);
        fuzz_require(cmd->data != NULL &&
                     strlen(cmd->data) == cmd->data_len, "data");
        j = cJSON_ParseWithLength(cmd->data, cmd->data_len);
        fuzz_require(j != NULL, "data is JSON");
        fuzz_require(cmd->data_is_null == (cJSON_IsNull(j) != 0),
                     "data_is_null");
        cJSON_Delete(j);
        fuzz_require(cmd->key == NULL || (strlen(cmd->key) >= 1 &&
                     strlen(cmd->key) <= PL_KEY_MAX), "key length");
        break;
    case PL_OP_HISTORY:
        fuzz_check_topic(cmd, 0);
        fuzz_require(cmd->limit >= 1 && cmd->limit <= PL_HISTORY_LIMIT_MAX,
                     "limit");
        break;
    case PL_OP_PRESENCE:
        fuzz_check_topic(cmd, 0);
        break;
    case PL_OP_EDIT:
        fuzz_check_topic(cmd, 0);
        fuzz_require(cmd->seq >= 1 && cmd->data != NULL, "edit seq, data");
        break;
    case PL_OP_MARK:
        fuzz_check_topic(cmd, 0);
        fuzz_require(cmd->seq >= 1, "mark seq");
        break;
    case PL_OP_UNREAD:
        fuzz_check_topic(cmd, 1);
        break;
    case PL_OP_SEARCH:
        fuzz_check_topic(cmd, 1);
        fuzz_require(cmd->query != NULL && strlen(cmd->query) >= 1 &&
                     strlen(cmd->query) <= PL_SEARCH_Q_MAX, "q length");
        fuzz_require(cmd->limit >= 1 && cmd->limit <= PL_SEARCH_LIMIT_MAX,
                     "search limit");
        break;
    case PL_OP_DELETE:
        fuzz_check_topic(cmd, 0);
        fuzz_require(cmd->seq >= 1 && cmd->data_is_null, "delete seq");
        break;
    case PL_OP_PING:
    case PL_OP_TOPICS:
        break;
    default:
        fuzz_require(0, "a known op");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The first byte picks the nesting limit (32..95) so the depth guard
     * is fuzzed on both sides; the rest is the frame, passed without a
     * terminating NUL as lws passes it. */
    struct pl_parse_opts opts = { 64 };
    struct pl_cmd cmd;
    const char *why = NULL;
    char *text = NULL;
    size_t len = 0;

    if (size > 0) {
        opts.max_depth = 32 + (data[0] & 63);
        data++;
        size--;
    }
    len = size;
    text = malloc(len ? len : 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, len);

    memset(&cmd, 0, sizeof(cmd));
    if (pl_cmd_parse(text, len, &opts, &cmd, &why) == PL_OK) {
        fuzz_check(&cmd);
        pl_cmd_cleanup(&cmd);
    } else {
        fuzz_require(why != NULL, "a reason with every error");
        fuzz_require(cmd.id >= 0 && cmd.id <= PL_ID_MAX, "error id");
    }
    memset(&cmd, 0, sizeof(cmd));
    why = NULL;
    if (pl_cmd_parse_pub_body(text, len, &opts, &cmd, &why) == PL_OK) {
        fuzz_require(cmd.op == PL_OP_PUB, "a pub");
        fuzz_check(&cmd);
        pl_cmd_cleanup(&cmd);
    }
    free(text);
    return 0;
}
