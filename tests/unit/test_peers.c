/*
 * test_peers.c: the per-address connection table behind
 * --max-conns-per-ip (server/peers.c): the limit per address, IPv6
 * counted by /64, v4-mapped addresses the same as IPv4, exemptions, and
 * entries freed when their last connection ends.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "peers.h"

static struct sockaddr_storage addr(const char *text)
{
    struct sockaddr_storage ss;
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;

    memset(&ss, 0, sizeof(ss));
    if (inet_pton(AF_INET, text, &v4->sin_addr) == 1)
        ss.ss_family = AF_INET;
    else if (inet_pton(AF_INET6, text, &v6->sin6_addr) == 1)
        ss.ss_family = AF_INET6;
    return ss;
}

static void test_limit_per_address(void **state)
{
    struct peers p;
    struct peer *got[3] = {NULL, NULL, NULL};
    struct peer *other = NULL;
    struct peer *none = NULL;
    struct sockaddr_storage a = addr("192.0.2.7");
    struct sockaddr_storage b = addr("192.0.2.8");

    (void)state;
    assert_int_equal(peers_init(&p, 2, NULL, 0), 0);
    assert_int_equal(peers_acquire(&p, &a, &got[0]), 0);
    assert_int_equal(peers_acquire(&p, &a, &got[1]), 0);
    assert_ptr_equal(got[0], got[1]);
    assert_int_equal(peers_acquire(&p, &a, &got[2]), -EMFILE);
    assert_null(got[2]);
    /* another address has its own count */
    assert_int_equal(peers_acquire(&p, &b, &other), 0);
    assert_non_null(other);
    assert_int_equal(p.count, 2);
    /* one ends: a new one fits again */
    peers_release(&p, got[1]);
    assert_int_equal(peers_acquire(&p, &a, &got[2]), 0);
    peers_release(&p, got[0]);
    peers_release(&p, got[2]);
    peers_release(&p, other);
    peers_release(&p, none);
    assert_int_equal(p.count, 0);
    peers_cleanup(&p);
}

static void test_ipv6_by_64_and_v4_mapped(void **state)
{
    struct peers p;
    struct peer *x = NULL;
    struct peer *y = NULL;
    struct sockaddr_storage v6a = addr("2001:db8:1:2::1");
    struct sockaddr_storage v6b = addr("2001:db8:1:2:ffff::9");
    struct sockaddr_storage v6c = addr("2001:db8:1:3::1");
    struct sockaddr_storage v4 = addr("198.51.100.1");
    struct sockaddr_storage mapped = addr("::ffff:198.51.100.1");

    (void)state;
    assert_int_equal(peers_init(&p, 1, NULL, 0), 0);
    assert_int_equal(peers_acquire(&p, &v6a, &x), 0);
    /* same /64: the same subscriber */
    assert_int_equal(peers_acquire(&p, &v6b, &y), -EMFILE);
    /* another /64 */
    assert_int_equal(peers_acquire(&p, &v6c, &y), 0);
    peers_release(&p, y);
    /* IPv4 and its v4-mapped form are one address */
    assert_int_equal(peers_acquire(&p, &v4, &y), 0);
    assert_int_equal(peers_acquire(&p, &mapped, &y), -EMFILE);
    peers_cleanup(&p);
    (void)x;
}

static void test_exempt_and_off(void **state)
{
    const char *const exempt[] = {"loopback", "203.0.113.5", "bogus"};
    struct peers p;
    struct peer *got = NULL;
    struct sockaddr_storage lo4 = addr("127.0.0.9");
    struct sockaddr_storage lo6 = addr("::1");
    struct sockaddr_storage listed = addr("203.0.113.5");
    struct sockaddr_storage plain = addr("203.0.113.6");
    int i;

    (void)state;
    assert_int_equal(peers_init(&p, 1, exempt, 3), 0);
    for (i = 0; i < 5; i++) {
        assert_int_equal(peers_acquire(&p, &lo4, &got), 0);
        assert_null(got); /* exempt: not counted at all */
        assert_int_equal(peers_acquire(&p, &lo6, &got), 0);
        assert_null(got);
        assert_int_equal(peers_acquire(&p, &listed, &got), 0);
        assert_null(got);
    }
    assert_int_equal(peers_acquire(&p, &plain, &got), 0);
    assert_non_null(got);
    assert_int_equal(peers_acquire(&p, &plain, &got), -EMFILE);
    peers_cleanup(&p);

    /* limit 0: nothing is counted */
    assert_int_equal(peers_init(&p, 0, NULL, 0), 0);
    for (i = 0; i < 5; i++) {
        assert_int_equal(peers_acquire(&p, &plain, &got), 0);
        assert_null(got);
    }
    assert_int_equal(p.count, 0);
    peers_cleanup(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_limit_per_address),
        cmocka_unit_test(test_ipv6_by_64_and_v4_mapped),
        cmocka_unit_test(test_exempt_and_off),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
