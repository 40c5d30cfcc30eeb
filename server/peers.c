/*
 * peers.c: the per-address connection table behind --max-conns-per-ip:
 * a chained hash of 16-byte address keys with a connection count each.
 * An entry exists only while its address has connections.
 */
#include "peers.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

struct peer {
    struct peer *next; /* hash chain */
    uint32_t conns;
    unsigned char key[16];
};

/* The table key of an address: IPv4 (plain or v4-mapped) as
 * ::ffff:a.b.c.d, IPv6 by its /64. Returns false for another family. */
static bool peer_key(const struct sockaddr_storage *ss, unsigned char *key)
{
    static const unsigned char v4mapped[12] = {0, 0, 0, 0, 0,    0,
                                               0, 0, 0, 0, 0xff, 0xff};

    memset(key, 0, 16);
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;

        memcpy(key, v4mapped, 12);
        memcpy(key + 12, &a->sin_addr, 4);
        return true;
    }
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;

        if (memcmp(&a->sin6_addr, v4mapped, 12) == 0)
            memcpy(key, &a->sin6_addr, 16);
        else
            memcpy(key, &a->sin6_addr, 8);
        return true;
    }
    return false;
}

static bool peer_exempt(const struct peers *p,
                        const struct sockaddr_storage *ss,
                        const unsigned char *key)
{
    size_t i;

    if (p->exempt_loopback) {
        if (key[10] == 0xff && key[11] == 0xff && key[12] == 127)
            return true;
        if (ss->ss_family == AF_INET6 &&
            IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)ss)->sin6_addr))
            return true;
    }
    for (i = 0; i < p->n_exempt; i++)
        if (memcmp(p->exempt[i], key, 16) == 0)
            return true;
    return false;
}

static size_t peer_bucket(const struct peers *p, const unsigned char *key)
{
    uint64_t h = p->seed ^ 0xcbf29ce484222325ull;
    size_t i;

    for (i = 0; i < 16; i++) {
        h ^= key[i];
        h *= 0x100000001b3ull;
    }
    h ^= h >> 29;
    return (size_t)(h % PEERS_BUCKETS);
}

int peers_init(struct peers *p, uint32_t limit, const char *const *exempt,
               size_t n_exempt)
{
    struct sockaddr_storage ss;
    size_t i;

    memset(p, 0, sizeof(*p));
    p->limit = limit;
    p->buckets = calloc(PEERS_BUCKETS, sizeof(*p->buckets));
    p->exempt = calloc(n_exempt + 1, sizeof(*p->exempt));
    if (p->buckets == NULL || p->exempt == NULL) {
        peers_cleanup(p);
        return -ENOMEM;
    }
    if (getrandom(&p->seed, sizeof(p->seed), 0) != (ssize_t)sizeof(p->seed))
        p->seed = (uint64_t)time(NULL) * 0x9e3779b97f4a7c15ull;
    for (i = 0; i < n_exempt; i++) {
        struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
        struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;

        memset(&ss, 0, sizeof(ss));
        if (strcmp(exempt[i], "loopback") == 0) {
            p->exempt_loopback = true;
            continue;
        }
        if (inet_pton(AF_INET, exempt[i], &v4->sin_addr) == 1)
            ss.ss_family = AF_INET;
        else if (inet_pton(AF_INET6, exempt[i], &v6->sin6_addr) == 1)
            ss.ss_family = AF_INET6;
        if (peer_key(&ss, p->exempt[p->n_exempt]))
            p->n_exempt++;
    }
    return 0;
}

void peers_cleanup(struct peers *p)
{
    struct peer *e = NULL;
    size_t i;

    for (i = 0; p->buckets != NULL && i < PEERS_BUCKETS; i++)
        while ((e = p->buckets[i]) != NULL) {
            p->buckets[i] = e->next;
            free(e);
        }
    free(p->buckets);
    p->buckets = NULL;
    free(p->exempt);
    p->exempt = NULL;
    p->count = 0;
}

int peers_acquire(struct peers *p, const struct sockaddr_storage *ss,
                  struct peer **out)
{
    unsigned char key[16];
    struct peer *e = NULL;
    size_t b = 0;

    *out = NULL;
    if (p->limit == 0 || !peer_key(ss, key) || peer_exempt(p, ss, key))
        return 0;
    b = peer_bucket(p, key);
    for (e = p->buckets[b]; e != NULL; e = e->next)
        if (memcmp(e->key, key, 16) == 0)
            break;
    if (e == NULL) {
        e = calloc(1, sizeof(*e));
        if (e == NULL)
            return -ENOMEM;
        memcpy(e->key, key, 16);
        e->next = p->buckets[b];
        p->buckets[b] = e;
        p->count++;
    }
    if (e->conns >= p->limit)
        return -EMFILE; /* only a known address can be at its limit */
    e->conns++;
    *out = e;
    return 0;
}

void peers_release(struct peers *p, struct peer *peer)
{
    struct peer **pp = NULL;

    if (peer == NULL || --peer->conns > 0)
        return;
    pp = &p->buckets[peer_bucket(p, peer->key)];
    while (*pp != peer)
        pp = &(*pp)->next;
    *pp = peer->next;
    free(peer);
    p->count--;
}
