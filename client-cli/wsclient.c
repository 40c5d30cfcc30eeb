/*
 * wsclient.c: owns the client side of libwebsockets for `parley` (and for
 * any test or tool that wants a plain text-frame client): one lws context
 * with no listener, the single WebSocket connection made through
 * lws_client_connect_via_info(), the FIFO of outgoing text frames (each one
 * written in its own WRITEABLE callback, as lws requires), the joining of
 * inbound fragments into whole messages, one-shot timers on lws's sorted
 * usec lists, and one foreign descriptor (a dup of stdin) adopted as an lws
 * raw file so that the connection and the terminal share one poll loop.
 * All of it runs on the thread that calls wsclient_run().
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wsclient.h"

#define WSCLIENT_PROTOCOL "parley.v1"
#define WSCLIENT_MAX_MESSAGE_DEFAULT (64u << 20)
#define WSCLIENT_LOCAL_PROTO "wsclient"

struct wsframe {
    struct wsframe *next;
    size_t len;
    unsigned char buf[];     /* LWS_PRE headroom, then len payload bytes */
};

struct wsclient {
    struct lws_context *ctx;
    struct lws *wsi;         /* the WebSocket, NULL when none */
    struct lws *in_wsi;      /* the adopted input descriptor, or NULL */
    const struct wsclient_ops *ops;
    void *user;

    char *url;               /* as given, for messages */
    char *host;              /* split out of the URL */
    char *path;              /* with its leading '/' */
    char *protocol;
    int port;
    bool tls;
    bool insecure;

    bool connecting;
    bool connected;
    bool closing;            /* wsclient_close() asked for a clean close */
    bool stop;
    bool in_paused;

    struct wsframe *head, *tail;
    size_t queued;

    char *rx;                /* the inbound message being joined */
    size_t rx_len, rx_cap, rx_max;
    bool rx_skip;            /* message too large or binary: drop it */

    int close_code;          /* from the peer's close frame */
    char close_why[192];
};

static const uint32_t wsclient_backoff_ms[] = { 1000 };

/* lws pings an idle connection and hangs up when nothing answers. */
static const lws_retry_bo_t wsclient_retry = {
    .retry_ms_table = wsclient_backoff_ms,
    .retry_ms_table_count = 1,
    .conceal_count = 0,
    .secs_since_valid_ping = 20,
    .secs_since_valid_hangup = 50,
    .jitter_percent = 0,
};

static void frames_free(struct wsclient *c)
{
    struct wsframe *f = c->head;
    struct wsframe *next = NULL;

    while (f != NULL) {
        next = f->next;
        free(f);
        f = next;
    }
    c->head = NULL;
    c->tail = NULL;
    c->queued = 0;
}

/* The connection is gone: reset its state and tell the owner. */
static void conn_gone(struct wsclient *c, int code, const char *why)
{
    bool was = c->connected || c->connecting;

    c->wsi = NULL;
    c->connected = false;
    c->connecting = false;
    c->closing = false;
    c->rx_len = 0;
    c->rx_skip = false;
    frames_free(c);
    if (was && c->ops->closed != NULL)
        c->ops->closed(c, code, why, c->user);
}

/* Appends an inbound fragment; delivers the message when it is whole. */
static void rx_fragment(struct wsclient *c, struct lws *wsi, const void *in,
                        size_t len)
{
    char *p = NULL;
    size_t cap = 0;

    if (lws_frame_is_binary(wsi))
        c->rx_skip = true;
    if (!c->rx_skip && c->rx_len + len > c->rx_max)
        c->rx_skip = true;
    if (!c->rx_skip && c->rx_len + len + 1 > c->rx_cap) {
        cap = c->rx_cap ? c->rx_cap : 4096;
        while (cap < c->rx_len + len + 1)
            cap *= 2;
        p = realloc(c->rx, cap);
        if (p == NULL) {
            c->rx_skip = true;
        } else {
            c->rx = p;
            c->rx_cap = cap;
        }
    }
    if (!c->rx_skip) {
        memcpy(c->rx + c->rx_len, in, len);
        c->rx_len += len;
    }
    if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi))
        return;
    if (!c->rx_skip && c->ops->frame != NULL) {
        c->rx[c->rx_len] = '\0';
        c->ops->frame(c, c->rx, c->rx_len, c->user);
    }
    c->rx_len = 0;
    c->rx_skip = false;
}

/* Writes the oldest queued frame. Returns -1 to close the connection. */
static int tx_one(struct wsclient *c, struct lws *wsi)
{
    struct wsframe *f = c->head;
    int n = 0;

    if (f == NULL) {
        if (c->closing) {
            lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
            return -1;
        }
        return 0;
    }
    c->head = f->next;
    if (c->head == NULL)
        c->tail = NULL;
    c->queued -= f->len;
    n = lws_write(wsi, f->buf + LWS_PRE, f->len, LWS_WRITE_TEXT);
    free(f);
    if (n < 0)
        return -1;
    if (c->head != NULL || c->closing)
        lws_callback_on_writable(wsi);
    return 0;
}

/*
 * The one lws protocol callback, for both the WebSocket and the adopted
 * input descriptor. Returns -1 to close that wsi, as lws expects.
 */
static int wsclient_cb(struct lws *wsi, enum lws_callback_reasons reason,
                       void *user, void *in, size_t len)
{
    struct wsclient *c = NULL;
    const unsigned char *p = in;
    int r = 0;

    if (lws_get_context(wsi) != NULL)
        c = lws_context_user(lws_get_context(wsi));
    if (c == NULL)
        return lws_callback_http_dummy(wsi, reason, user, in, len);

    switch (reason) {
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        if (wsi != c->wsi && !c->connecting)
            return 0;
        snprintf(c->close_why, sizeof(c->close_why), "%s%s",
                 in != NULL ? (const char *)in : "connection failed",
                 c->tls && !c->insecure && in != NULL &&
                 strstr(in, "SSL") != NULL
                     ? " (for a self-signed certificate use --insecure)"
                     : "");
        conn_gone(c, 0, c->close_why);
        return 0;
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        c->connecting = false;
        c->connected = true;
        c->close_code = 0;
        c->close_why[0] = '\0';
        if (c->ops->open != NULL)
            c->ops->open(c, c->user);
        return 0;
    case LWS_CALLBACK_CLIENT_RECEIVE:
        rx_fragment(c, wsi, in, len);
        return 0;
    case LWS_CALLBACK_CLIENT_WRITEABLE:
        return tx_one(c, wsi);
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        if (len >= 2) {
            c->close_code = (p[0] << 8) | p[1];
            snprintf(c->close_why, sizeof(c->close_why), "closed by server"
                     " (%d%s%.*s)", c->close_code, len > 2 ? " " : "",
                     (int)(len > 100 ? 98 : len - 2), (const char *)p + 2);
        }
        return 0;
    case LWS_CALLBACK_CLIENT_CLOSED:
        if (wsi == c->wsi)
            conn_gone(c, c->close_code, c->close_why[0] ? c->close_why
                                                        : "connection lost");
        return 0;
    case LWS_CALLBACK_RAW_RX_FILE:
        if (c->ops->input != NULL)
            r = c->ops->input(c, lws_get_socket_fd(wsi), c->user);
        if (r < 0 && wsi == c->in_wsi)
            c->in_wsi = NULL;    /* closed at our request: no -1 call */
        return r < 0 ? -1 : 0;
    case LWS_CALLBACK_RAW_CLOSE_FILE:
        /* lws closes the descriptor on POLLHUP without POLLIN (a pipe
         * whose writer left, even while paused): the data still in the
         * pipe can be read from the original fd, which stays open. */
        if (wsi == c->in_wsi) {
            c->in_wsi = NULL;
            if (c->ops->input != NULL)
                c->ops->input(c, -1, c->user);
        }
        return 0;
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols wsclient_protocols[] = {
    { WSCLIENT_LOCAL_PROTO, wsclient_cb, 0, 0, 0, NULL, 0 },
    { NULL, NULL, 0, 0, 0, NULL, 0 }
};

/* Splits a ws:// or wss:// URL into c's host, port and path. */
static int url_split(struct wsclient *c, const char *url, const char **why)
{
    char *copy = strdup(url);
    const char *prot = NULL;
    const char *ads = NULL;
    const char *path = NULL;
    int port = 0;
    int rc = -EINVAL;

    if (copy == NULL)
        return -ENOMEM;
    if (lws_parse_uri(copy, &prot, &ads, &port, &path) != 0 ||
        ads == NULL || ads[0] == '\0') {
        *why = "not a URL";
        goto out;
    }
    if (strcmp(prot, "ws") == 0) {
        c->tls = false;
    } else if (strcmp(prot, "wss") == 0) {
        c->tls = true;
    } else {
        *why = "the URL must start with ws:// or wss://";
        goto out;
    }
    if (strstr(url, "://") == NULL) {
        *why = "the URL must start with ws:// or wss://";
        goto out;
    }
    if (port <= 0 || port > 65535) {
        *why = "bad port in URL";
        goto out;
    }
    c->port = port;
    c->host = strdup(ads);
    c->path = malloc(strlen(path) + 2);
    if (c->host == NULL || c->path == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    c->path[0] = '/';
    strcpy(c->path + 1, path);
    rc = 0;
out:
    free(copy);
    return rc;
}

int wsclient_new(const struct wsclient_cfg *cfg, struct wsclient **out,
                 const char **why)
{
    struct lws_context_creation_info info;
    struct wsclient *c = NULL;
    const char *dummy = NULL;
    const char *lvl = getenv("PARLEY_LWS_LOG");
    int rc = -ENOMEM;

    if (why == NULL)
        why = &dummy;
    *why = "out of memory";
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return -ENOMEM;
    c->ops = cfg->ops;
    c->user = cfg->user;
    c->insecure = cfg->insecure;
    c->rx_max = cfg->max_message ? cfg->max_message
                                 : WSCLIENT_MAX_MESSAGE_DEFAULT;
    c->url = strdup(cfg->url);
    c->protocol = strdup(cfg->protocol ? cfg->protocol : WSCLIENT_PROTOCOL);
    if (c->url == NULL || c->protocol == NULL)
        goto fail;
    rc = url_split(c, cfg->url, why);
    if (rc < 0)
        goto fail;

    lws_set_log_level(lvl != NULL ? atoi(lvl) : 0, NULL);
    memset(&info, 0, sizeof(info));
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = wsclient_protocols;
    info.user = c;
    info.fd_limit_per_thread = 16;
    if (c->tls)
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    c->ctx = lws_create_context(&info);
    if (c->ctx == NULL) {
        *why = "cannot create the lws context";
        rc = -ENOMEM;
        goto fail;
    }
    *out = c;
    return 0;
fail:
    wsclient_free(&c);
    return rc;
}

void wsclient_free(struct wsclient **pc)
{
    struct wsclient *c = *pc;

    if (c == NULL)
        return;
    if (c->ctx != NULL) {
        /* Closing callbacks may still run: keep ops quiet. */
        c->ops = &(const struct wsclient_ops){ 0 };
        lws_context_destroy(c->ctx);
    }
    frames_free(c);
    free(c->rx);
    free(c->url);
    free(c->host);
    free(c->path);
    free(c->protocol);
    free(c);
    *pc = NULL;
}

int wsclient_connect(struct wsclient *c)
{
    struct lws_client_connect_info i;
    struct lws *wsi = NULL;

    if (c->connected || c->connecting)
        return -EALREADY;
    memset(&i, 0, sizeof(i));
    i.context = c->ctx;
    i.address = c->host;
    i.port = c->port;
    i.path = c->path;
    i.host = c->host;
    i.origin = NULL;
    i.protocol = c->protocol;
    i.local_protocol_name = WSCLIENT_LOCAL_PROTO;
    i.retry_and_idle_policy = &wsclient_retry;
    if (c->tls) {
        i.ssl_connection = LCCSCF_USE_SSL;
        if (c->insecure)
            i.ssl_connection |= LCCSCF_ALLOW_SELFSIGNED |
                                LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK |
                                LCCSCF_ALLOW_EXPIRED | LCCSCF_ALLOW_INSECURE;
    }
    c->connecting = true;
    c->close_code = 0;
    c->close_why[0] = '\0';
    wsi = lws_client_connect_via_info(&i);
    if (!c->connecting)
        return 0;   /* lws already reported the failure */
    if (wsi == NULL) {
        conn_gone(c, 0, "cannot start the connection");
        return 0;
    }
    c->wsi = wsi;
    return 0;
}

bool wsclient_connected(const struct wsclient *c)
{
    return c->connected;
}

int wsclient_send(struct wsclient *c, const char *text, size_t len)
{
    struct wsframe *f = NULL;

    if (!c->connected || c->wsi == NULL || c->closing)
        return -ENOTCONN;
    f = malloc(sizeof(*f) + LWS_PRE + len);
    if (f == NULL)
        return -ENOMEM;
    f->next = NULL;
    f->len = len;
    memcpy(f->buf + LWS_PRE, text, len);
    if (c->tail != NULL)
        c->tail->next = f;
    else
        c->head = f;
    c->tail = f;
    c->queued += len;
    lws_callback_on_writable(c->wsi);
    return 0;
}

size_t wsclient_queued(const struct wsclient *c)
{
    return c->queued;
}

void wsclient_close(struct wsclient *c)
{
    if (c->wsi == NULL)
        return;
    if (!c->connected) {
        /* Still handshaking: nothing to flush, drop it at once. */
        lws_set_timeout(c->wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
        return;
    }
    c->closing = true;
    lws_callback_on_writable(c->wsi);
}

int wsclient_watch_fd(struct wsclient *c, int fd)
{
    lws_sock_file_fd_type u;
    struct lws_vhost *vh = NULL;
    int dupfd = -1;

    if (c->in_wsi != NULL)
        return -1;
    vh = lws_get_vhost_by_name(c->ctx, "default");
    if (vh == NULL)
        return -1;
    /* lws closes what it adopts: give it a duplicate, keep fd open. */
    dupfd = dup(fd);
    if (dupfd < 0)
        return -1;
    u.filefd = (lws_filefd_type)(long long)dupfd;
    c->in_wsi = lws_adopt_descriptor_vhost(vh, LWS_ADOPT_RAW_FILE_DESC, u,
                                           WSCLIENT_LOCAL_PROTO, NULL);
    if (c->in_wsi == NULL) {
        close(dupfd);
        return -1;
    }
    c->in_paused = false;
    return 0;
}

void wsclient_pause_fd(struct wsclient *c, bool paused)
{
    if (c->in_wsi == NULL || c->in_paused == paused)
        return;
    c->in_paused = paused;
    lws_rx_flow_control(c->in_wsi, paused ? 0 : 1);
}

void wsclient_unwatch_fd(struct wsclient *c)
{
    if (c->in_wsi == NULL)
        return;
    /* Stop polling now; lws frees the wsi (and the dup) shortly. */
    lws_rx_flow_control(c->in_wsi, 0);
    lws_set_timeout(c->in_wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
    c->in_wsi = NULL;
}

static void timer_fire(lws_sorted_usec_list_t *sul)
{
    struct wsclient_timer *t = lws_container_of(sul, struct wsclient_timer,
                                                sul);

    t->cb(t->c, t->arg);
}

void wsclient_after(struct wsclient *c, struct wsclient_timer *t,
                    uint64_t ms, void (*cb)(struct wsclient *, void *),
                    void *arg)
{
    t->c = c;
    t->cb = cb;
    t->arg = arg;
    lws_sul_schedule(c->ctx, 0, &t->sul, timer_fire,
                     (lws_usec_t)ms * LWS_US_PER_MS);
}

void wsclient_cancel(struct wsclient_timer *t)
{
    lws_sul_cancel(&t->sul);
}

int wsclient_run(struct wsclient *c)
{
    int n = 0;

    c->stop = false;
    while (!c->stop) {
        n = lws_service(c->ctx, 0);
        if (n < 0)
            return -1;
    }
    return 0;
}

void wsclient_stop(struct wsclient *c)
{
    c->stop = true;
    lws_cancel_service(c->ctx);
}

void wsclient_wake(struct wsclient *c)
{
    lws_cancel_service(c->ctx);
}

const char *wsclient_url(const struct wsclient *c)
{
    return c->url;
}
