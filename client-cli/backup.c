/*
 * backup.c: owns `parley backup URL FILE`: ask the server for an online
 * backup of its database into FILE (POST /api/backup?file=FILE) and wait
 * for the copy to be complete. The server writes FILE itself, so FILE is
 * a path on the server's machine, and the server only accepts the request
 * from that machine (loopback); a relative FILE is made absolute against
 * the current directory. One plain HTTP/1.1 request on the URL's host and
 * port: a server started with --cert is asked with curl instead (see
 * --help).
 */
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli.h"

#define BACKUP_RESPONSE_MAX 8192

static const char backup_usage[] =
"Usage: parley backup [URL] FILE [options]\n"
"\n"
"Makes a consistent copy of the running server's database in FILE while\n"
"it keeps serving (SQLite's online backup, a few pages at a time between\n"
"commits), and waits until the copy is complete. FILE is written by the\n"
"server, on the server's machine, and must not exist; the request is only\n"
"accepted from that machine. With auth on, the token's allow_sub must\n"
"cover # and $SYS/#. To restore, stop parleyd and start it with\n"
"--db FILE (or copy FILE over the database).\n"
"\n"
"Options:\n"
"  --token JWT        auth token (default $PARLEY_TOKEN)\n"
"  --timeout DUR      give up after DUR (default 1h)\n"
"  -h, --help         this help\n"
"\n"
"URL defaults to $PARLEY_URL, else " CLI_URL_DEFAULT ". Only ws://\n"
"(plain HTTP); for a server with --cert use:\n"
"  curl -X POST -H 'Authorization: Bearer JWT' \\\n"
"       'https://HOST:PORT/api/backup?file=/abs/path.db'\n";

/* host and port of a ws:// URL into host/port. 0 or -EINVAL. */
static int split_url(const char *url, char *host, size_t hn, char *port,
                     size_t pn)
{
    const char *h = NULL;
    const char *end = NULL;
    const char *colon = NULL;
    size_t len = 0;

    if (strncmp(url, "ws://", 5) != 0)
        return -EINVAL;
    h = url + 5;
    end = h + strcspn(h, "/?#");
    colon = memchr(h, ':', (size_t)(end - h));
    len = (size_t)((colon != NULL ? colon : end) - h);
    if (len == 0 || len >= hn)
        return -EINVAL;
    memcpy(host, h, len);
    host[len] = '\0';
    if (colon != NULL) {
        len = (size_t)(end - colon - 1);
        if (len == 0 || len >= pn)
            return -EINVAL;
        memcpy(port, colon + 1, len);
        port[len] = '\0';
    } else {
        snprintf(port, pn, "80");
    }
    return 0;
}

/* Percent-encode s for a query value (keeping '/'), into a malloc'd
 * string. */
static char *query_escape(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    char *out = malloc(strlen(s) * 3 + 1);
    char *o = out;

    if (out == NULL)
        return NULL;
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
            (c >= '0' && c <= '9') || strchr("-._~/", c) != NULL) {
            *o++ = (char)c;
        } else {
            *o++ = '%';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
    }
    *o = '\0';
    return out;
}

static int dial(const char *host, const char *port)
{
    struct addrinfo hints;
    struct addrinfo *res = NULL;
    struct addrinfo *ai = NULL;
    int fd = -1;

    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, port, &hints, &res) != 0)
        return -EHOSTUNREACH;
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
                    ai->ai_protocol);
        if (fd < 0)
            continue;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd >= 0 ? fd : -ECONNREFUSED;
}

/* Send the request and read the whole response (the server closes)
 * into buf. Returns its length or -errno. */
static ssize_t exchange(int fd, const char *req, char *buf, size_t cap,
                        int64_t timeout_s)
{
    size_t len = strlen(req);
    size_t off = 0;
    int64_t deadline = cli_mono_ms() + timeout_s * 1000;
    ssize_t n = 0;

    while (off < len) {
        n = send(fd, req + off, len - off, MSG_NOSIGNAL);
        if (n < 0)
            return -errno;
        off += (size_t)n;
    }
    off = 0;
    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        int64_t left = deadline - cli_mono_ms();

        if (left <= 0)
            return -ETIMEDOUT;
        if (poll(&p, 1, left > 60000 ? 60000 : (int)left) < 0 &&
            errno != EINTR)
            return -errno;
        if (p.revents == 0)
            continue;
        if (off + 1 >= cap)
            break;
        n = recv(fd, buf + off, cap - off - 1, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            break;
        off += (size_t)n;
    }
    buf[off] = '\0';
    return (ssize_t)off;
}

/* FILE as an absolute path (malloc'd). */
static char *absolute(const char *file)
{
    char cwd[4096];
    char *out = NULL;

    if (file[0] == '/')
        return strdup(file);
    if (getcwd(cwd, sizeof(cwd)) == NULL)
        return NULL;
    out = malloc(strlen(cwd) + strlen(file) + 2);
    if (out != NULL)
        sprintf(out, "%s/%s", cwd, file);
    return out;
}

static int report(const char *file, const char *resp)
{
    const char *body = strstr(resp, "\r\n\r\n");
    cJSON *o = NULL;
    int64_t bytes = 0, pages = 0, ms = 0, step = 0;
    int status = 0;
    char text[512];

    if (sscanf(resp, "HTTP/1.%*d %d", &status) != 1 || body == NULL) {
        cli_err("backup: not an HTTP response from the server");
        return CLI_EXIT_FAIL;
    }
    o = cJSON_Parse(body + 4);
    if (status != 200) {
        snprintf(text, sizeof(text), "%s: %s",
                 o ? (cli_json_str(o, "error") ?: "?") : "?",
                 o ? (cli_json_str(o, "message") ?: "") : body + 4);
        cli_err("backup refused (HTTP %d): %s", status, text);
        cJSON_Delete(o);
        return CLI_EXIT_FAIL;
    }
    cli_json_int(o, "bytes", &bytes);
    cli_json_int(o, "pages", &pages);
    cli_json_int(o, "ms", &ms);
    cli_json_int(o, "max_step_us", &step);
    printf("backup written to %s: %lld bytes (%lld pages) in %lld ms; "
           "commits waited at most %lld us\n", file, (long long)bytes,
           (long long)pages, (long long)ms, (long long)step);
    cJSON_Delete(o);
    return CLI_EXIT_OK;
}

enum { OPT_TIMEOUT = 256 };

static const struct option backup_options[] = {
    { "token", required_argument, NULL, CLI_OPT_TOKEN },
    { "timeout", required_argument, NULL, OPT_TIMEOUT },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};

int backup_main(int argc, char **argv)
{
    struct cli_common co;
    int64_t timeout_s = 3600;
    char host[256], port[16];
    char *file = NULL;
    char *q = NULL;
    char *req = NULL;
    char *resp = NULL;
    ssize_t n = 0;
    int status = CLI_EXIT_USAGE;
    int fd = -1;
    int c = 0;

    cli_common_init(&co);
    while ((c = getopt_long(argc, argv, "h", backup_options, NULL)) != -1) {
        switch (c) {
        case OPT_TIMEOUT:
            if (cli_parse_duration(optarg, &timeout_s) < 0 || timeout_s < 1) {
                cli_err("--timeout wants a duration such as 10m");
                return CLI_EXIT_USAGE;
            }
            break;
        case 'h':
            fputs(backup_usage, stdout);
            return CLI_EXIT_OK;
        default:
            if (cli_common_option(&co, c, optarg))
                break;
            fputs(backup_usage, stderr);
            return CLI_EXIT_USAGE;
        }
    }
    if (optind < argc && cli_is_url(argv[optind]))
        co.url = argv[optind++];
    if (optind + 1 != argc) {
        cli_err("backup: give one FILE (see parley backup --help)");
        return CLI_EXIT_USAGE;
    }
    if (split_url(co.url, host, sizeof(host), port, sizeof(port)) < 0) {
        cli_err("backup: %s: only ws://HOST[:PORT] URLs (see --help)",
                co.url);
        return CLI_EXIT_USAGE;
    }
    status = CLI_EXIT_FAIL;
    file = absolute(argv[optind]);
    q = file ? query_escape(file) : NULL;
    req = q ? malloc(strlen(q) + strlen(host) + 2560) : NULL;
    resp = malloc(BACKUP_RESPONSE_MAX);
    if (req == NULL || resp == NULL) {
        cli_err("out of memory");
        goto out;
    }
    sprintf(req, "POST /api/backup?file=%s HTTP/1.1\r\nHost: %s:%s\r\n"
            "Content-Length: 0\r\nConnection: close\r\n", q, host, port);
    if (co.token != NULL && strlen(co.token) < 2048)
        sprintf(req + strlen(req), "Authorization: Bearer %s\r\n", co.token);
    strcat(req, "\r\n");
    fd = dial(host, port);
    if (fd < 0) {
        cli_err("%s: %s", co.url, strerror(-fd));
        goto out;
    }
    n = exchange(fd, req, resp, BACKUP_RESPONSE_MAX, timeout_s);
    if (n < 0) {
        cli_err("%s: %s", co.url, strerror((int)-n));
        goto out;
    }
    status = report(file, resp);
out:
    if (fd >= 0)
        close(fd);
    free(file);
    free(q);
    free(req);
    free(resp);
    return status;
}
