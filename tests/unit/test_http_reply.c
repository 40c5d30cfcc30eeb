/*
 * test_http_reply: the HTTP API's responses made from the hub's reply
 * frames. Each test builds the frame with the protocol's own encoder, as
 * the hub does, and checks the status and the exact body the HTTP API
 * answered before the hub wrote one reply format only.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "http_reply.h"

/* Convert the frame in f (JSON text) and return the status; the body is
 * copied into out. */
static int convert(struct pl_buf *f, char *out, size_t n)
{
    struct pl_buf b;
    int status = 0;

    assert_int_equal(pl_buf_init(&b, 64), 0);
    status = http_reply_from_frame(pl_buf_data(f), f->len, &b);
    assert_false(pl_buf_failed(&b));
    assert_true(b.len < n);
    memcpy(out, pl_buf_data(&b), b.len);
    out[b.len] = '\0';
    pl_buf_cleanup(&b);
    return status;
}

static void test_publish_ack(void **state)
{
    struct pl_buf f;
    char body[256];

    (void)state;
    assert_int_equal(pl_buf_init(&f, 64), 0);
    pl_frame_begin(&f, "ok");
    pl_frame_id(&f, 1);
    pl_frame_kv_str(&f, "topic", "site/building-7/temp");
    pl_frame_kv_int(&f, "seq", 42);
    pl_frame_end(&f);
    assert_int_equal(convert(&f, body, sizeof(body)), 200);
    assert_string_equal(body, "{\"topic\":\"site/building-7/temp\","
                              "\"seq\":42}");
    pl_buf_reset(&f);
    pl_frame_begin(&f, "ok");
    pl_frame_id(&f, 1);
    pl_frame_kv_str(&f, "topic", "t");
    pl_frame_kv_int(&f, "seq", 1);
    pl_frame_kv_bool(&f, "duplicate", true);
    pl_frame_end(&f);
    assert_int_equal(convert(&f, body, sizeof(body)), 200);
    assert_string_equal(body, "{\"topic\":\"t\",\"seq\":1,"
                              "\"duplicate\":true}");
    pl_buf_cleanup(&f);
}

static void test_history(void **state)
{
    struct pl_buf f;
    char body[512];

    (void)state;
    assert_int_equal(pl_buf_init(&f, 64), 0);
    pl_frame_begin(&f, "ok");
    pl_frame_id(&f, 7);
    pl_frame_kv_str(&f, "topic", "t");
    pl_buf_cstr(&f, ",\"messages\":[");
    pl_frame_history_item(&f, 3, 1000, "alice", "{\"a\":1}", 7);
    pl_buf_cstr(&f, "]}");
    assert_int_equal(convert(&f, body, sizeof(body)), 200);
    assert_non_null(strstr(body, "{\"topic\":\"t\",\"messages\":[{"));
    assert_non_null(strstr(body, "\"seq\":3"));
    assert_int_equal(body[strlen(body) - 1], '}');
    pl_buf_reset(&f);
    pl_frame_begin(&f, "ok");
    pl_frame_id(&f, 1);
    pl_frame_kv_str(&f, "topic", "t");
    pl_frame_kv_raw(&f, "messages", "[]", 2);
    pl_frame_end(&f);
    assert_int_equal(convert(&f, body, sizeof(body)), 200);
    assert_string_equal(body, "{\"topic\":\"t\",\"messages\":[]}");
    /* an ok with nothing else (and no id) is an empty object */
    pl_buf_reset(&f);
    pl_frame_begin(&f, "ok");
    pl_frame_id(&f, 0);
    pl_frame_end(&f);
    assert_int_equal(convert(&f, body, sizeof(body)), 200);
    assert_string_equal(body, "{}");
    pl_buf_cleanup(&f);
}

/* Every error frame becomes exactly the body http_reply_error makes, with
 * the contract's status for its code. */
static void test_errors(void **state)
{
    static const int status[] = {
        [PL_ERR_BAD_JSON] = 400, [PL_ERR_BAD_REQUEST] = 400,
        [PL_ERR_UNKNOWN_OP] = 400, [PL_ERR_UNAUTHORIZED] = 401,
        [PL_ERR_FORBIDDEN] = 403, [PL_ERR_INVALID_TOPIC] = 400,
        [PL_ERR_TOO_LARGE] = 413, [PL_ERR_RATE_LIMITED] = 429,
        [PL_ERR_OVERLOADED] = 503, [PL_ERR_INTERNAL] = 500,
    };
    const char *why = "say \"hello\" first\\";
    int e;

    (void)state;
    for (e = PL_ERR_BAD_JSON; e < PL_ERR__COUNT; e++) {
        struct pl_buf f;
        struct pl_buf want;
        char body[256];
        int id;

        for (id = 0; id <= 1; id++) {
            assert_int_equal(pl_buf_init(&f, 64), 0);
            assert_int_equal(pl_buf_init(&want, 64), 0);
            pl_frame_error(&f, id, (enum pl_err)e, why);
            assert_int_equal(http_reply_error((enum pl_err)e, why, &want),
                             status[e]);
            assert_int_equal(convert(&f, body, sizeof(body)), status[e]);
            assert_int_equal(strlen(body), want.len);
            assert_memory_equal(body, pl_buf_data(&want), want.len);
            pl_buf_cleanup(&want);
            pl_buf_cleanup(&f);
        }
    }
}

/* Anything but an ok or error frame is refused, the body untouched. */
static void test_not_a_reply(void **state)
{
    static const char *const bad[] = {
        "", "{", "{}", "not json", "{\"op\":\"msg\",\"topic\":\"t\"}",
        "{\"op\":\"error\",\"id\":1,\"code\":\"nope\",\"message\":\"m\"}",
        "{\"op\":\"error\",\"id\":1}", "{\"op\":\"ok\",\"id\":1",
        "{\"op\":\"okay\",\"id\":1}",
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct pl_buf b;

        assert_int_equal(pl_buf_init(&b, 64), 0);
        assert_int_equal(http_reply_from_frame(bad[i], strlen(bad[i]), &b),
                         -EINVAL);
        assert_int_equal(b.len, 0);
        pl_buf_cleanup(&b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_publish_ack),
        cmocka_unit_test(test_history),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_not_a_reply),
    };

    return cmocka_run_group_tests_name("http_reply", tests, NULL, NULL);
}
