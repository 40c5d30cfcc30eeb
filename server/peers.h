/*
 * peers.h: connections counted per client address, for
 * --max-conns-per-ip. Plain C without lws, so it can be tested alone.
 *
 * IPv4 addresses (plain or v4-mapped) count one by one; IPv6 ones by
 * their /64, which one subscriber usually holds whole. Exempt addresses
 * (and, optionally, all of loopback) are never counted. The hash is keyed
 * with a random seed so a client cannot aim at one chain.
 * Service thread only.
 */
#ifndef PL_PEERS_H
#define PL_PEERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define PEERS_BUCKETS 4096

struct peer;

struct peers {
    struct peer **buckets;
    uint64_t seed;
    unsigned char (*exempt)[16]; /* exempt address keys */
    size_t n_exempt;
    bool exempt_loopback;
    uint32_t limit; /* connections per address; 0: off */
    uint64_t count; /* addresses counted now (a gauge) */
};

/* exempt: addresses (IPv4 or IPv6 text) or "loopback". Returns 0 or
 * -ENOMEM; an address that does not parse is ignored. */
int peers_init(struct peers *p, uint32_t limit, const char *const *exempt,
               size_t n_exempt);
void peers_cleanup(struct peers *p);

/* Count one more connection from ss. Returns 0 and *out (NULL when the
 * address is not counted: exempt, limit off, another family), or
 * -EMFILE when the address is at its limit, or -ENOMEM. */
int peers_acquire(struct peers *p, const struct sockaddr_storage *ss,
                  struct peer **out);
/* One connection from peer ended (NULL allowed). */
void peers_release(struct peers *p, struct peer *peer);

#endif
