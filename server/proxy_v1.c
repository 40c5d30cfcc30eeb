/*
 * proxy_v1.c: the PROXY protocol v1 header (proxy_v1.h), checked field by
 * field: a header we accept names a real address of the family it says.
 */
#include "proxy_v1.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

/* A port: 1 to 5 digits, at most 65535, no leading zero but "0". */
static int valid_port(const char *s)
{
    size_t n = strspn(s, "0123456789");

    if (n == 0 || n > 5 || s[n] != '\0' || (s[0] == '0' && n > 1))
        return -1;
    return atoi(s) <= 65535 ? 0 : -1;
}

/* The address of family af in text into ss (port too). */
static int fill(int af, const char *text, const char *port,
                struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    if (valid_port(port) < 0)
        return -1;
    if (af == AF_INET) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)(void *)ss;

        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)atoi(port));
        return inet_pton(AF_INET, text, &s4->sin_addr) == 1 ? 0 : -1;
    }
    {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)(void *)ss;

        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)atoi(port));
        return inet_pton(AF_INET6, text, &s6->sin6_addr) == 1 ? 0 : -1;
    }
}

int proxy_v1_parse(const char *buf, size_t len, struct sockaddr_storage *src,
                   size_t *consumed)
{
    char line[PROXY_V1_MAX + 1];
    char *field[7] = { NULL }; /* one more than allowed, to see it */
    char *save = NULL;
    const char *crlf = NULL;
    size_t n = 0;
    int nf = 0;
    int af = 0;

    n = len < 6 ? len : 6;
    if (memcmp(buf, "PROXY ", n) != 0)
        return -1;
    crlf = memchr(buf, '\r', len < PROXY_V1_MAX ? len : PROXY_V1_MAX);
    if (crlf == NULL)
        return len >= PROXY_V1_MAX ? -1 : 0;
    n = (size_t)(crlf - buf);
    if (n + 1 >= len)
        return 0; /* the LF is still to come */
    if (crlf[1] != '\n' || memchr(buf, '\0', n) != NULL)
        return -1;
    memcpy(line, buf, n);
    line[n] = '\0';
    for (char *tok = strtok_r(line, " ", &save); tok != NULL && nf < 7;
         tok = strtok_r(NULL, " ", &save))
        field[nf++] = tok;
    if (nf >= 2 && strcmp(field[1], "UNKNOWN") == 0) {
        memset(src, 0, sizeof(*src));
        src->ss_family = AF_UNSPEC;
        *consumed = n + 2;
        return 1;
    }
    if (nf != 6)
        return -1;
    if (strcmp(field[1], "TCP4") == 0)
        af = AF_INET;
    else if (strcmp(field[1], "TCP6") == 0)
        af = AF_INET6;
    else
        return -1;
    {
        struct sockaddr_storage dst;

        if (fill(af, field[2], field[4], src) < 0 ||
            fill(af, field[3], field[5], &dst) < 0)
            return -1;
    }
    *consumed = n + 2;
    return 1;
}
