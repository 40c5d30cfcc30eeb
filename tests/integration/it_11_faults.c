/*
 * it_11_faults.c: what a real parleyd does when its disk fails.
 *
 * The server runs with PARLEY_TEST_HOOKS=1, so SIGUSR1 makes the store's
 * next commit fail as a full or broken disk would. The contract: nothing is
 * acknowledged that was not committed, no subscriber sees such a message,
 * the publisher gets `internal`, and seq stays gapless for what follows.
 * A database file that is not a database stops the server at start with a
 * clear message instead of serving.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "itest.h"
#include "rawws.h"
#include "server.h"
#include "tjson.h"

static int group_setup(void **state)
{
    setenv("PARLEY_TEST_HOOKS", "1", 1);
    return itest_setup(state, NULL);
}

static int group_teardown(void **state)
{
    return itest_teardown(state);
}

/* Publish with id and return the reply (ok or error); caller frees. */
static cJSON *pub_reply(struct rawws *c, int64_t id, const char *topic,
                        const char *data)
{
    cJSON *f = NULL;

    assert_int_equal(rawws_send_textf(c,
        "{\"op\":\"pub\",\"id\":%lld,\"topic\":\"%s\",\"data\":%s}",
        (long long)id, topic, data), 0);
    f = rawws_recv_json(c, 5000);
    assert_non_null(f);
    return f;
}

static void test_failed_commit_is_never_acked_nor_seen(void **state)
{
    struct itest *t = *state;
    char topic[128];
    struct rawws *sub = NULL;
    struct rawws *pub = NULL;
    cJSON *f = NULL;

    itest_topic(topic, sizeof(topic), "faults");
    sub = itest_hello(t->port, "watcher");
    pub = itest_hello(t->port, "writer");
    assert_non_null(sub);
    assert_non_null(pub);
    f = itest_sub(sub, 2, topic);
    assert_non_null(f);
    cJSON_Delete(f);

    assert_int_equal(itest_pub(pub, 2, topic, "{\"n\":1}"), 1);
    f = itest_expect_msg(sub, topic, 1, 5000);
    assert_non_null(f);
    cJSON_Delete(f);

    /* The disk "fails" for the next commit, once parleyd says so. */
    assert_int_equal(server_watch(t->srv, "test hook: the next store commit "
                                          "fails"), 0);
    assert_int_equal(kill(server_pid(t->srv), SIGUSR1), 0);
    assert_int_equal(server_wait_watched(t->srv, 5000), 0);
    f = pub_reply(pub, 3, topic, "{\"n\":2}");
    assert_string_equal(tj_str(f, "op"), "error");
    assert_int_equal(tj_int_or(f, "id", -1), 3);
    assert_string_equal(tj_str(f, "code"), "internal");
    cJSON_Delete(f);
    /* Nobody saw it: the subscriber's next frame is its ping reply. */
    assert_true(itest_nothing_more(sub, 9, 300));

    /* The disk works again; seq goes on from 1 with no gap. */
    assert_int_equal(itest_pub(pub, 4, topic, "{\"n\":3}"), 2);
    f = itest_expect_msg(sub, topic, 2, 5000);
    assert_non_null(f);
    assert_int_equal(tj_int_or(cJSON_GetObjectItemCaseSensitive(f, "data"), "n", -1), 3);
    cJSON_Delete(f);

    /* And history holds exactly what was acknowledged. */
    assert_int_equal(rawws_send_textf(pub,
        "{\"op\":\"history\",\"id\":5,\"topic\":\"%s\"}", topic), 0);
    f = rawws_expect_op(pub, "ok", 5000);
    assert_non_null(f);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(f, "messages")), 2);
    cJSON_Delete(f);
    rawws_close(sub);
    rawws_close(pub);
}

/* A file that is not a SQLite database: parleyd refuses to start and says
 * why, rather than serving without its history. */
static void test_corrupt_database_refuses_to_start(void **state)
{
    char dir[] = "/tmp/parley-faults-XXXXXX";
    char path[256];
    char cmd[1024];
    char line[512];
    FILE *f = NULL;
    FILE *p = NULL;
    bool said = false;
    int status = 0;
    int i;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/p.db", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    for (i = 0; i < 256; i++)
        fputs("this is not a database ", f);
    fclose(f);
    snprintf(cmd, sizeof(cmd),
             "timeout 10 \"%s\" --port 0 --bind 127.0.0.1 --db %s 2>&1",
             getenv("PARLEYD"), path);
    p = popen(cmd, "r");
    assert_non_null(p);
    while (fgets(line, sizeof(line), p) != NULL)
        if (strstr(line, "cannot open database") != NULL &&
            strstr(line, path) != NULL)
            said = true;
    status = pclose(p);
    assert_true(said);
    assert_true(WIFEXITED(status));
    assert_int_not_equal(WEXITSTATUS(status), 0);
    assert_int_not_equal(WEXITSTATUS(status), 124); /* not a timeout */
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_failed_commit_is_never_acked_nor_seen),
        cmocka_unit_test(test_corrupt_database_refuses_to_start),
    };
    int rc = cmocka_run_group_tests(tests, group_setup, group_teardown);

    return itest_exit_code(rc);
}
