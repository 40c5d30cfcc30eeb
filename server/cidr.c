/*
 * cidr.c: address ranges for --trusted-proxy (cidr.h). IPv4-mapped IPv6
 * peers (::ffff:a.b.c.d, from a dual-stack listener) match IPv4 ranges,
 * as an operator who wrote "10.0.0.0/8" means them to.
 */
#include "cidr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

int cidr_parse(const char *s, struct cidr *out)
{
    char text[64];
    char *slash = NULL;
    char *end = NULL;
    struct cidr c;
    long bits = -1;
    int max = 0;
    int i = 0;

    if (strlen(s) >= sizeof(text))
        return -1;
    strcpy(text, s);
    slash = strchr(text, '/');
    if (slash != NULL) {
        *slash = '\0';
        bits = strtol(slash + 1, &end, 10);
        if (end == slash + 1 || *end != '\0' || bits < 0)
            return -1;
    }
    memset(&c, 0, sizeof(c));
    if (inet_pton(AF_INET, text, c.addr) == 1) {
        c.family = AF_INET;
        max = 32;
    } else if (inet_pton(AF_INET6, text, c.addr) == 1) {
        c.family = AF_INET6;
        max = 128;
    } else {
        return -1;
    }
    if (bits < 0)
        bits = max;
    if (bits > max)
        return -1;
    c.bits = (int)bits;
    for (i = 0; i < max / 8; i++) {
        int keep = c.bits - i * 8;

        if (keep <= 0)
            c.addr[i] = 0;
        else if (keep < 8)
            c.addr[i] &= (unsigned char)(0xff << (8 - keep));
    }
    *out = c;
    return 0;
}

/* ss's family and address bytes, IPv4-mapped IPv6 unwrapped; false for
 * other families. */
static bool addr_bytes(const struct sockaddr_storage *ss, int *family,
                       const unsigned char **bytes)
{
    static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                              0xff, 0xff };

    if (ss->ss_family == AF_INET) {
        *family = AF_INET;
        *bytes = (const unsigned char *)&((const struct sockaddr_in *)
                                              (const void *)ss)->sin_addr;
        return true;
    }
    if (ss->ss_family == AF_INET6) {
        const unsigned char *a = ((const struct sockaddr_in6 *)
                                      (const void *)ss)->sin6_addr.s6_addr;

        if (memcmp(a, mapped, sizeof(mapped)) == 0) {
            *family = AF_INET;
            *bytes = a + 12;
        } else {
            *family = AF_INET6;
            *bytes = a;
        }
        return true;
    }
    return false;
}

bool cidr_contains(const struct cidr *c, const struct sockaddr_storage *ss)
{
    const unsigned char *a = NULL;
    int family = 0;
    int full = c->bits / 8;
    int rest = c->bits % 8;

    if (!addr_bytes(ss, &family, &a) || family != c->family)
        return false;
    if (memcmp(a, c->addr, (size_t)full) != 0)
        return false;
    if (rest == 0)
        return true;
    return (a[full] & (unsigned char)(0xff << (8 - rest))) == c->addr[full];
}

int cidr_parse_addr(const char *s, struct sockaddr_storage *ss)
{
    char text[64];
    size_t n = 0;

    while (*s == ' ' || *s == '\t')
        s++;
    n = strcspn(s, " \t");
    if (n == 0 || n >= sizeof(text) || s[n + strspn(s + n, " \t")] != '\0')
        return -1;
    memcpy(text, s, n);
    text[n] = '\0';
    memset(ss, 0, sizeof(*ss));
    if (inet_pton(AF_INET, text,
                  &((struct sockaddr_in *)(void *)ss)->sin_addr) == 1) {
        ss->ss_family = AF_INET;
        return 0;
    }
    if (inet_pton(AF_INET6, text,
                  &((struct sockaddr_in6 *)(void *)ss)->sin6_addr) == 1) {
        ss->ss_family = AF_INET6;
        return 0;
    }
    return -1;
}
