/*
 * test_cidr.c: --trusted-proxy's address ranges (server/cidr.c): parsing
 * IPv4 and IPv6 ranges, host bits, bounds, matching with IPv4-mapped
 * IPv6 peers, and bare addresses from X-Forwarded-For.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cidr.h"

static bool in(const char *range, const char *addr)
{
    struct cidr c;
    struct sockaddr_storage ss;

    assert_int_equal(cidr_parse(range, &c), 0);
    assert_int_equal(cidr_parse_addr(addr, &ss), 0);
    return cidr_contains(&c, &ss);
}

static void test_parse(void **state)
{
    struct cidr c;
    const char *const bad[] = { "", "10.0.0.0/33", "10.0.0.0/", "10.0.0/8",
                                "10.0.0.0/-1", "10.0.0.0/8x", "::/129",
                                "host.example", "10.0.0.0/8/8" };
    size_t i = 0;

    (void)state;
    assert_int_equal(cidr_parse("10.1.2.3/8", &c), 0);
    assert_int_equal(c.family, AF_INET);
    assert_int_equal(c.bits, 8);
    assert_int_equal(c.addr[0], 10);
    assert_int_equal(c.addr[1], 0); /* host bits cleared */
    assert_int_equal(cidr_parse("127.0.0.2", &c), 0);
    assert_int_equal(c.bits, 32);
    assert_int_equal(cidr_parse("fd00::/8", &c), 0);
    assert_int_equal(c.family, AF_INET6);
    assert_int_equal(cidr_parse("0.0.0.0/0", &c), 0);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (cidr_parse(bad[i], &c) == 0)
            fail_msg("accepted %s", bad[i]);
}

static void test_contains(void **state)
{
    (void)state;
    assert_true(in("127.0.0.2", "127.0.0.2"));
    assert_false(in("127.0.0.2", "127.0.0.1"));
    assert_true(in("10.0.0.0/8", "10.255.1.2"));
    assert_false(in("10.0.0.0/8", "11.0.0.1"));
    assert_true(in("192.168.4.0/22", "192.168.7.255"));
    assert_false(in("192.168.4.0/22", "192.168.8.0"));
    assert_true(in("0.0.0.0/0", "203.0.113.7"));
    assert_true(in("10.0.0.0/8", "::ffff:10.1.2.3")); /* mapped */
    assert_false(in("10.0.0.0/8", "2001:db8::1"));
    assert_true(in("2001:db8::/32", "2001:db8:ffff::1"));
    assert_false(in("2001:db8::/33", "2001:db8:8000::1"));
    assert_false(in("::/0", "10.0.0.1")); /* families differ */
}

static void test_parse_addr(void **state)
{
    struct sockaddr_storage ss;

    (void)state;
    assert_int_equal(cidr_parse_addr(" 203.0.113.7", &ss), 0);
    assert_int_equal(ss.ss_family, AF_INET);
    assert_int_equal(cidr_parse_addr("2001:db8::1 ", &ss), 0);
    assert_int_equal(ss.ss_family, AF_INET6);
    assert_int_equal(cidr_parse_addr("", &ss), -1);
    assert_int_equal(cidr_parse_addr("1.2.3.4 5.6.7.8", &ss), -1);
    assert_int_equal(cidr_parse_addr("unknown", &ss), -1);
    assert_int_equal(cidr_parse_addr("1.2.3.4:80", &ss), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_contains),
        cmocka_unit_test(test_parse_addr),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
