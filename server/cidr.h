/*
 * cidr.h: address ranges ("10.0.0.0/8", "127.0.0.2", "fd00::/8") and
 * whether an address is in one: for --trusted-proxy. Plain C, no I/O.
 */
#ifndef PL_CIDR_H
#define PL_CIDR_H

#include <stdbool.h>
#include <sys/socket.h>

struct cidr {
    int family;              /* AF_INET or AF_INET6 */
    unsigned char addr[16];  /* network byte order, host bits cleared */
    int bits;                /* prefix length */
};

/* Parse "ADDR" or "ADDR/BITS" (IPv4 or IPv6). Returns 0, or -1 when it is
 * not a valid range. */
int cidr_parse(const char *s, struct cidr *out);

/* ss (AF_INET or AF_INET6; an IPv4-mapped IPv6 address counts as IPv4)
 * is in c. */
bool cidr_contains(const struct cidr *c, const struct sockaddr_storage *ss);

/* Parse a bare address ("203.0.113.7", "2001:db8::1", spaces around
 * allowed) into *ss (port 0). Returns 0 or -1. */
int cidr_parse_addr(const char *s, struct sockaddr_storage *ss);

#endif
