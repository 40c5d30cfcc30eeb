/*
 * test_proxy_v1.c: the PROXY protocol v1 header (server/proxy_v1.c):
 * complete, partial and invalid headers from the specification's
 * examples and their near misses.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "proxy_v1.h"

static int parse(const char *s, struct sockaddr_storage *src, size_t *used)
{
    return proxy_v1_parse(s, strlen(s), src, used);
}

static void test_valid(void **state)
{
    struct sockaddr_storage ss;
    size_t used = 0;
    const char *h4 = "PROXY TCP4 203.0.113.7 192.0.2.1 56324 443\r\nGET /";
    const char *h6 = "PROXY TCP6 2001:db8::1 2001:db8::2 56324 443\r\n";
    char text[64];

    (void)state;
    assert_int_equal(parse(h4, &ss, &used), 1);
    assert_int_equal(used, strlen(h4) - 5);
    assert_int_equal(ss.ss_family, AF_INET);
    inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, text,
              sizeof(text));
    assert_string_equal(text, "203.0.113.7");
    assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), 56324);
    assert_int_equal(parse(h6, &ss, &used), 1);
    assert_int_equal(ss.ss_family, AF_INET6);
    assert_int_equal(parse("PROXY UNKNOWN\r\n", &ss, &used), 1);
    assert_int_equal(ss.ss_family, AF_UNSPEC);
    assert_int_equal(used, 15);
    assert_int_equal(parse("PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n", &ss,
                           &used), 1);
}

static void test_partial(void **state)
{
    struct sockaddr_storage ss;
    size_t used = 0;

    (void)state;
    assert_int_equal(parse("", &ss, &used), 0);
    assert_int_equal(parse("PRO", &ss, &used), 0);
    assert_int_equal(parse("PROXY TCP4 203.0.113.7 192.0", &ss, &used), 0);
    assert_int_equal(parse("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r", &ss, &used),
                     0);
}

static void test_invalid(void **state)
{
    const char *const bad[] = {
        "GET / HTTP/1.1\r\n",
        "PROXY TCP4 203.0.113.7 192.0.2.1 56324\r\n",          /* 5 fields */
        "PROXY TCP4 203.0.113.7 192.0.2.1 56324 443 1\r\n",    /* 7 */
        "PROXY TCP4 2001:db8::1 192.0.2.1 56324 443\r\n",      /* family */
        "PROXY TCP6 203.0.113.7 2001:db8::2 56324 443\r\n",
        "PROXY TCP4 203.0.113.7 192.0.2.1 65536 443\r\n",      /* port */
        "PROXY TCP4 203.0.113.7 192.0.2.1 0443 443\r\n",
        "PROXY TCP4 203.0.113.7 192.0.2.1 x 443\r\n",
        "PROXY UDP4 203.0.113.7 192.0.2.1 1 2\r\n",
        "PROXY TCP4 203.0.113.7 192.0.2.1 1 2\rX",             /* no LF */
        "proxy TCP4 203.0.113.7 192.0.2.1 1 2\r\n",
    };
    char longer[200];
    struct sockaddr_storage ss;
    size_t used = 0;
    size_t i = 0;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (parse(bad[i], &ss, &used) != -1)
            fail_msg("accepted: %s", bad[i]);
    /* no CRLF within 107 bytes */
    memset(longer, 'x', sizeof(longer) - 1);
    longer[sizeof(longer) - 1] = '\0';
    memcpy(longer, "PROXY ", 6);
    assert_int_equal(parse(longer, &ss, &used), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_partial),
        cmocka_unit_test(test_invalid),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
