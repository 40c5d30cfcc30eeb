/*
 * http.c: the HTTP half of the parley.v1 protocol callback: the web
 * client's files, /healthz, /metrics and the HTTP API (/api/publish,
 * /api/history, /api/topics, /api/search). Responses are built whole,
 * then written in one lws_write() from the HTTP writeable callback. An API call is a hub
 * connection (CONN_REQUEST) that sends one command; the hub queues its
 * one ok or error frame like any reply and wakes us (http_wake), and
 * http_reply.c turns that frame into the status and body.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "assets.h"
#include "cmd.h"
#include "http_query.h"
#include "http_reply.h"
#include "topic.h"
#include "log.h"
#include "server.h"

enum route {
    ROUTE_NONE,
    ROUTE_PUBLISH,
    ROUTE_BACKUP,                 /* backup_http.c */
};

#define HEADER_ROOM 1024

static const char *type_for(const char *path)
{
    const char *dot = strrchr(path, '.');

    if (dot == NULL)
        return "application/octet-stream";
    if (strcmp(dot, ".html") == 0)
        return "text/html; charset=utf-8";
    if (strcmp(dot, ".js") == 0 || strcmp(dot, ".mjs") == 0)
        return "text/javascript; charset=utf-8";
    if (strcmp(dot, ".css") == 0)
        return "text/css; charset=utf-8";
    if (strcmp(dot, ".svg") == 0)
        return "image/svg+xml";
    if (strcmp(dot, ".png") == 0)
        return "image/png";
    if (strcmp(dot, ".ico") == 0)
        return "image/x-icon";
    if (strcmp(dot, ".json") == 0)
        return "application/json";
    return "application/octet-stream";
}

/*
 * One HTTP request's state. It lives outside struct pss, which lws
 * allocates for every connection: idle WebSockets (most connections)
 * should not pay for HTTP fields they never use.
 */
struct http_req {
    int route;
    char *body;
    size_t body_len;
    bool body_too_large;
    char *resp;                   /* the body; lws builds the headers */
    size_t resp_len;
    int resp_status;
    const char *resp_type;
    bool resp_ready;
    bool resp_static;             /* resp points at embedded data */
    char etag[40];
};

void http_pss_cleanup(struct pss *pss)
{
    struct http_req *req = pss->req;

    if (req == NULL)
        return;
    pss->req = NULL;
    if (!req->resp_static)
        free(req->resp);
    free(req->body);
    free(req);
}

/* The request state, made on first use. NULL when out of memory. */
static struct http_req *http_req_of(struct pss *pss)
{
    if (pss->req == NULL)
        pss->req = calloc(1, sizeof(*pss->req));
    return pss->req;
}

/* Queue a response; it is written from HTTP_WRITEABLE. */
static void respond(struct lws *wsi, struct pss *pss, int status,
                    const char *type, const void *body, size_t len)
{
    if (http_req_of(pss) == NULL) {
        lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
        return;
    }
    if (!pss->req->resp_static)
        free(pss->req->resp);
    pss->req->resp_static = false;
    pss->req->resp = malloc(len + 1);
    if (pss->req->resp == NULL) {
        status = 500;
        len = 0;
    } else {
        memcpy(pss->req->resp, body, len);
        pss->req->resp[len] = '\0';
    }
    pss->req->resp_len = len;
    pss->req->resp_status = status;
    pss->req->resp_type = type;
    pss->req->resp_ready = true;
    lws_callback_on_writable(wsi);
}

static void respond_json_error(struct lws *wsi, struct pss *pss, int status,
                               enum pl_err err, const char *message)
{
    struct pl_buf b;

    pl_buf_init(&b, 256);
    (void)http_reply_error(err, message, &b);
    if (pl_buf_failed(&b))
        respond(wsi, pss, 500, "application/json", "", 0);
    else
        respond(wsi, pss, status, "application/json", pl_buf_data(&b), b.len);
    pl_buf_cleanup(&b);
}

void http_respond(struct lws *wsi, struct pss *pss, int status,
                  const char *type, const void *body, size_t len)
{
    respond(wsi, pss, status, type, body, len);
}

void http_respond_error(struct lws *wsi, struct pss *pss, int status,
                        enum pl_err err, const char *message)
{
    respond_json_error(wsi, pss, status, err, message);
}

void http_wake(struct server *srv, struct conn *c)
{
    (void)srv;
    if (c->transport != NULL)
        lws_callback_on_writable(c->transport);
}

/*
 * The hub's reply to this request, once it is there: turn it into the
 * response and take it off the connection's queue. Nothing yet (the
 * reply waits for the store as a placeholder): wait for the next wake.
 */
static void take_reply(struct server *srv, struct lws *wsi, struct pss *pss)
{
    struct conn *c = pss->conn;
    struct hub_out out;
    const char *json = NULL;
    size_t len = 0;
    struct pl_buf b;
    int status = 0;

    if (c == NULL)
        return;
    assert(c->origin == CONN_REQUEST);
    if (hub_conn_queued(c) == 0) {
        /* The hub dropped the reply (out of memory): say so. */
        if (c->close_code != 0)
            respond_json_error(wsi, pss, 500, PL_ERR_INTERNAL,
                               "out of memory");
        return;
    }
    /* A cap of 0: the one reply frame, in place. Nothing while the reply
     * still waits for the store. */
    if (hub_conn_take(srv->hub, c, NULL, 0, &out) == 0)
        return;
    json = msg_frame_payload(out.data, out.len, &len);
    if (json == NULL)
        return;
    pl_buf_init(&b, len + 16);
    status = http_reply_from_frame(json, len, &b);
    if (status < 0 || pl_buf_failed(&b))
        respond_json_error(wsi, pss, 500, PL_ERR_INTERNAL,
                           "the reply could not be made");
    else
        respond(wsi, pss, status, "application/json", pl_buf_data(&b), b.len);
    pl_buf_cleanup(&b);
    (void)hub_conn_wrote(srv->hub, c, &out);
}

static int write_response(struct server *srv, struct lws *wsi,
                          struct pss *pss)
{
    unsigned char *buf = NULL;
    unsigned char *start = NULL;
    unsigned char *p = NULL;
    unsigned char *end = NULL;
    struct http_req *req = pss->req;
    size_t total = LWS_PRE + HEADER_ROOM + req->resp_len;
    int rc = -1;

    buf = malloc(total);
    if (buf == NULL)
        return -1;
    start = buf + LWS_PRE;
    p = start;
    end = buf + LWS_PRE + HEADER_ROOM;
    if (lws_add_http_common_headers(wsi, (unsigned int)req->resp_status,
                                    req->resp_type, req->resp_len, &p,
                                    end))
        goto out;
    if (req->etag[0] != '\0' &&
        lws_add_http_header_by_name(wsi, (const unsigned char *)"etag:",
                                    (unsigned char *)req->etag,
                                    (int)strlen(req->etag), &p, end))
        goto out;
    if (lws_add_http_header_by_name(wsi,
            (const unsigned char *)"cache-control:",
            (const unsigned char *)"no-cache", 8, &p, end))
        goto out;
    if (lws_finalize_http_header(wsi, &p, end))
        goto out;
    memcpy(p, req->resp, req->resp_len);
    p += req->resp_len;
    if (lws_write(wsi, start, (size_t)(p - start), LWS_WRITE_HTTP_FINAL) < 0)
        goto out;
    srv->http_requests++;
    rc = 0;
out:
    free(buf);
    hub_conn_close(srv->hub, &pss->conn);
    http_pss_cleanup(pss);
    if (rc == 0 && lws_http_transaction_completed(wsi))
        return -1;
    return rc;
}

/* Serve a file from --web-root (development) into the response. */
static int serve_from_disk(struct server *srv, struct lws *wsi,
                           struct pss *pss, const char *path)
{
    char full[1024];
    struct stat st;
    char *data = NULL;
    int fd = -1;
    ssize_t n = 0;

    if (strstr(path, "..") != NULL)
        return -1;
    snprintf(full, sizeof(full), "%s%s", srv->cfg->web_root,
             strcmp(path, "/") == 0 ? "/index.html" : path);
    fd = open(full, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
        st.st_size > 16 * 1024 * 1024) {
        close(fd);
        return -1;
    }
    data = malloc((size_t)st.st_size + 1);
    if (data != NULL)
        n = read(fd, data, (size_t)st.st_size);
    close(fd);
    if (data == NULL || n != st.st_size) {
        free(data);
        return -1;
    }
    respond(wsi, pss, 200, type_for(full), data, (size_t)n);
    free(data);
    return 0;
}

static void serve_asset(struct server *srv, struct lws *wsi, struct pss *pss,
                        const char *path)
{
    const struct asset *a = NULL;
    char inm[64];

    if (srv->cfg->web_root != NULL) {
        if (serve_from_disk(srv, wsi, pss, path) < 0)
            respond(wsi, pss, 404, "text/plain", "not found\n", 10);
        return;
    }
    a = asset_find(path);
    if (a == NULL) {
        respond(wsi, pss, 404, "text/plain", "not found\n", 10);
        return;
    }
    if (http_req_of(pss) == NULL) {
        lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
        return;
    }
    snprintf(pss->req->etag, sizeof(pss->req->etag), "%s", a->etag);
    if (lws_hdr_copy(wsi, inm, sizeof(inm), WSI_TOKEN_HTTP_IF_NONE_MATCH) > 0
        && strcmp(inm, a->etag) == 0) {
        respond(wsi, pss, 304, a->content_type, "", 0);
        return;
    }
    /* Point at the embedded bytes: nothing to copy or free. */
    if (!pss->req->resp_static)
        free(pss->req->resp);
    pss->req->resp = (char *)(uintptr_t)a->data;
    pss->req->resp_static = true;
    pss->req->resp_len = a->len;
    pss->req->resp_status = 200;
    pss->req->resp_type = a->content_type;
    pss->req->resp_ready = true;
    lws_callback_on_writable(wsi);
}

/* Bearer token for the API: returns false after responding 401. */
static bool api_auth(struct server *srv, struct lws *wsi, struct pss *pss)
{
    char auth[2048];
    int n = 0;

    if (!hub_auth_enabled(srv->hub))
        return true;
    n = lws_hdr_copy(wsi, auth, sizeof(auth), WSI_TOKEN_HTTP_AUTHORIZATION);
    if (n > 7 && strncasecmp(auth, "Bearer ", 7) == 0 &&
        hub_conn_token(srv->hub, pss->conn, auth + 7) == PL_OK)
        return true;
    respond_json_error(wsi, pss, 401, PL_ERR_UNAUTHORIZED,
                       "a valid Authorization: Bearer token is required");
    return false;
}

/* The request's hub connection, authenticated (or, with auth off, named
 * "http" by a hello, which is who its publishes are from). False after
 * responding. */
static bool api_open(struct server *srv, struct lws *wsi, struct pss *pss)
{
    static char http_name[] = "http";
    struct pl_cmd hello;

    hub_conn_close(srv->hub, &pss->conn);
    pss->conn = hub_conn_open(srv->hub, CONN_REQUEST, wsi);
    if (pss->conn == NULL) {
        respond_json_error(wsi, pss, 500, PL_ERR_INTERNAL, "out of memory");
        return false;
    }
    if (hub_auth_enabled(srv->hub))
        return api_auth(srv, wsi, pss);
    memset(&hello, 0, sizeof(hello));
    hello.op = PL_OP_HELLO;
    hello.name = http_name;
    hub_conn_cmd(srv->hub, pss->conn, &hello);
    return true;
}

/* The whole query string, read once: lws has already split it on '&' and
 * decoded it, one fragment per argument. Returns 0 or a negative errno
 * (after responding). */
static int api_query(struct lws *wsi, struct pss *pss, struct http_query *q)
{
    int total = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_URI_ARGS);
    char *frag = NULL;
    int idx = 0;
    int rc = 0;

    if (total <= 0)
        return 0;
    /* Room for the longest fragment: none is longer than them all. */
    frag = malloc((size_t)total + 1);
    if (frag == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    for (idx = 0; rc == 0; idx++) {
        int n = lws_hdr_copy_fragment(wsi, frag, total + 1,
                                      WSI_TOKEN_HTTP_URI_ARGS, idx);

        if (n < 0)
            break; /* no more fragments */
        rc = http_query_add(q, frag, (size_t)n);
    }
out:
    free(frag);
    if (rc == -E2BIG)
        respond_json_error(wsi, pss, 400, PL_ERR_BAD_REQUEST,
                           "too many query arguments");
    else if (rc != 0)
        respond_json_error(wsi, pss, 500, PL_ERR_INTERNAL, "out of memory");
    return rc;
}

/* Answer 400 for argument `name` when it is repeated or malformed (rc
 * from http_query_get/_int; only _int reports malformed); true when it
 * did. */
static bool api_bad_arg(struct lws *wsi, struct pss *pss, int rc,
                        const char *name, const char *malformed)
{
    char repeated[64];

    if (rc == -EEXIST) {
        snprintf(repeated, sizeof(repeated), "%s is given more than once",
                 name);
        respond_json_error(wsi, pss, 400, PL_ERR_BAD_REQUEST, repeated);
    } else if (rc == -EINVAL) {
        respond_json_error(wsi, pss, 400, PL_ERR_BAD_REQUEST, malformed);
    }
    return rc == -EEXIST || rc == -EINVAL;
}

/* Read the paging arguments of history and search: before (>= 0) and
 * limit (>= 1), each left alone when absent. False after answering 400
 * for a repeated or malformed one. */
static bool api_paging(struct lws *wsi, struct pss *pss, struct http_query *q,
                       int64_t *before, int64_t *limit)
{
    int rc = http_query_int(q, "before", before);

    if (rc == 0 && *before < 0)
        rc = -EINVAL;
    if (api_bad_arg(wsi, pss, rc, "before",
                    "before must be a non-negative integer"))
        return false;
    rc = http_query_int(q, "limit", limit);
    if (rc == 0 && *limit < 1)
        rc = -EINVAL;
    return !api_bad_arg(wsi, pss, rc, "limit",
                        "limit must be an integer, at least 1");
}

static void api_history(struct server *srv, struct lws *wsi, struct pss *pss)
{
    struct pl_cmd cmd;
    struct http_query q;
    const char *topic = NULL;
    int64_t before = 0;
    int64_t limit = PL_HISTORY_LIMIT_DEFAULT;
    int rc = 0;

    if (!api_open(srv, wsi, pss))
        return;
    http_query_init(&q);
    if (api_query(wsi, pss, &q) < 0)
        goto out;
    if (!api_paging(wsi, pss, &q, &before, &limit))
        goto out;
    rc = http_query_get(&q, "topic", &topic);
    if (api_bad_arg(wsi, pss, rc, "topic", NULL))
        goto out;
    if (rc != 0) {
        respond_json_error(wsi, pss, 400, PL_ERR_BAD_REQUEST,
                           "topic is required");
        goto out;
    }
    if (pl_topic_validate(topic, strlen(topic), false) != PL_OK) {
        respond_json_error(wsi, pss, 400, PL_ERR_INVALID_TOPIC,
                           "topic must be a concrete, valid topic");
        goto out;
    }
    /* The history command, as a WebSocket client would send it. */
    memset(&cmd, 0, sizeof(cmd));
    cmd.op = PL_OP_HISTORY;
    cmd.id = 1;
    cmd.topic = (char *)(uintptr_t)topic; /* borrowed: the hub only reads */
    cmd.topic_len = strlen(topic);
    cmd.has_before = true;
    cmd.before = before; /* 0: no bound */
    cmd.limit = limit > PL_HISTORY_LIMIT_MAX ? PL_HISTORY_LIMIT_MAX
                                             : (int)limit;
    hub_conn_cmd(srv->hub, pss->conn, &cmd);
out:
    http_query_cleanup(&q);
}

/* GET /api/search?topic=<pattern>&q=..&limit=..&before=<ts> (#16): the
 * search command, as a WebSocket client would send it. */
static void api_search(struct server *srv, struct lws *wsi, struct pss *pss)
{
    struct pl_cmd cmd;
    struct http_query q;
    const char *topic = NULL;
    const char *text = NULL;
    int64_t before = 0;
    int64_t limit = PL_SEARCH_LIMIT_DEFAULT;
    int rc = 0;

    if (!api_open(srv, wsi, pss))
        return;
    http_query_init(&q);
    if (api_query(wsi, pss, &q) < 0)
        goto out;
    if (!api_paging(wsi, pss, &q, &before, &limit))
        goto out;
    rc = http_query_get(&q, "q", &text);
    if (rc == 0 && (strlen(text) < 1 || strlen(text) > PL_SEARCH_Q_MAX))
        rc = -EINVAL;
    if (api_bad_arg(wsi, pss, rc, "q", "q must be 1-256 bytes") ||
        rc != 0) {
        if (rc == -ENOENT)
            respond_json_error(wsi, pss, 400, PL_ERR_BAD_REQUEST,
                               "q is required");
        goto out;
    }
    rc = http_query_get(&q, "topic", &topic);
    if (rc == -ENOENT)
        topic = "#";
    else if (api_bad_arg(wsi, pss, rc, "topic", NULL))
        goto out;
    if (pl_topic_validate(topic, strlen(topic), true) != PL_OK) {
        respond_json_error(wsi, pss, 400, PL_ERR_INVALID_TOPIC,
                           "topic must be a valid topic or pattern");
        goto out;
    }
    memset(&cmd, 0, sizeof(cmd));
    cmd.op = PL_OP_SEARCH;
    cmd.id = 1;
    cmd.topic = (char *)(uintptr_t)topic; /* borrowed: the hub only reads */
    cmd.topic_len = strlen(topic);
    cmd.query = (char *)(uintptr_t)text;
    cmd.has_before = before > 0;
    cmd.before = before;
    cmd.limit = limit > PL_SEARCH_LIMIT_MAX ? PL_SEARCH_LIMIT_MAX
                                            : (int)limit;
    hub_conn_cmd(srv->hub, pss->conn, &cmd);
out:
    http_query_cleanup(&q);
}

static void api_topics(struct server *srv, struct lws *wsi, struct pss *pss)
{
    struct http_query q;
    const char *prefix = NULL;
    struct pl_buf b;
    int rc = 0;

    if (!api_open(srv, wsi, pss))
        return;
    http_query_init(&q);
    if (api_query(wsi, pss, &q) < 0)
        goto out;
    rc = http_query_get(&q, "prefix", &prefix);
    if (api_bad_arg(wsi, pss, rc, "prefix", NULL))
        goto out;
    if (hub_lists_topics_from_storage(srv->hub)) {
        /* a cluster's list comes from storage: the topics op, whose
         * reply frame becomes the response as for history */
        struct pl_cmd cmd;

        memset(&cmd, 0, sizeof(cmd));
        cmd.op = PL_OP_TOPICS;
        cmd.id = 1;
        cmd.topic = rc == 0 ? (char *)(uintptr_t)prefix : NULL; /* borrowed */
        cmd.topic_len = rc == 0 ? strlen(prefix) : 0;
        hub_conn_cmd(srv->hub, pss->conn, &cmd);
        goto out;
    }
    pl_buf_init(&b, 4096);
    hub_topics_json(srv->hub, pss->conn, rc == 0 ? prefix : NULL, &b);
    if (pl_buf_failed(&b))
        respond_json_error(wsi, pss, 500, PL_ERR_INTERNAL, "out of memory");
    else
        respond(wsi, pss, 200, "application/json", pl_buf_data(&b), b.len);
    pl_buf_cleanup(&b);
out:
    http_query_cleanup(&q);
}

/* GET /readyz: 200 "ready", or 503 and the reason (ready.h). */
static void readyz(struct server *srv, struct lws *wsi, struct pss *pss)
{
    char why[160];
    char body[192];
    int n = 0;

    /* A shared engine (Redis) knows whether its link is up; ask it here,
     * where the answer is needed, rather than have it call back. */
    ready_set_link_down(&srv->ready, storage_healthy(&srv->storage)
                                         ? NULL
                                         : "storage unreachable");
    if (ready_check(&srv->ready, storage_pending(&srv->storage),
                    srv->cfg->store_pending_max, why, sizeof(why))) {
        respond(wsi, pss, 200, "text/plain", "ready\n", 6);
        return;
    }
    n = snprintf(body, sizeof(body), "not ready: %s\n", why);
    respond(wsi, pss, 503, "text/plain", body, (size_t)n);
}

/* POST /api/backup?file=PATH: the file argument, then backup_http.c. */
static void api_backup(struct server *srv, struct lws *wsi, struct pss *pss)
{
    struct http_query q;
    const char *file = NULL;
    int rc = 0;

    http_query_init(&q);
    if (api_query(wsi, pss, &q) < 0)
        goto out;
    rc = http_query_get(&q, "file", &file);
    if (api_bad_arg(wsi, pss, rc, "file", NULL))
        goto out;
    backup_http_start(srv, wsi, pss, rc == 0 ? file : NULL);
out:
    http_query_cleanup(&q);
}

static void http_request(struct server *srv, struct lws *wsi, struct pss *pss,
                         const char *path)
{
    bool post = lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0;
    struct pl_buf b;

    http_pss_cleanup(pss);
    if (post) {
        if (strcmp(path, "/api/publish") == 0) {
            if (http_req_of(pss) != NULL) /* answered at body completion */
                pss->req->route = ROUTE_PUBLISH;
            return;
        }
        if (strcmp(path, "/api/backup") == 0) {
            char cl[24] = "";

            /* lws makes no body-completion callback for an empty body */
            lws_hdr_copy(wsi, cl, sizeof(cl), WSI_TOKEN_HTTP_CONTENT_LENGTH);
            if (atoll(cl) <= 0)
                api_backup(srv, wsi, pss);
            else if (http_req_of(pss) != NULL) /* at body completion */
                pss->req->route = ROUTE_BACKUP;
            return;
        }
        respond(wsi, pss, 404, "text/plain", "not found\n", 10);
        return;
    }
    if (strcmp(path, "/healthz") == 0) {
        /* A node that cannot store (Redis out of reach) says so, so a
         * balancer sends clients elsewhere. */
        if (storage_healthy(&srv->storage))
            respond(wsi, pss, 200, "text/plain", "ok\n", 3);
        else
            respond(wsi, pss, 503, "text/plain", "storage unreachable\n",
                    20);
    } else if (strcmp(path, "/readyz") == 0) {
        readyz(srv, wsi, pss);
    } else if (strcmp(path, "/metrics") == 0) {
        pl_buf_init(&b, 8192);
        metrics_render(srv, &b);
        respond(wsi, pss, 200, "text/plain; version=0.0.4", pl_buf_data(&b),
                b.len);
        pl_buf_cleanup(&b);
    } else if (strcmp(path, "/api/history") == 0) {
        api_history(srv, wsi, pss);
    } else if (strcmp(path, "/api/topics") == 0) {
        api_topics(srv, wsi, pss);
    } else if (strcmp(path, "/api/search") == 0) {
        api_search(srv, wsi, pss);
    } else if (strcmp(path, "/api/publish") == 0) {
        respond_json_error(wsi, pss, 405, PL_ERR_BAD_REQUEST,
                           "use POST for /api/publish");
    } else if (strcmp(path, "/admin") == 0 || strcmp(path, "/admin/") == 0) {
        serve_asset(srv, wsi, pss, "/admin.html"); /* the $SYS view */
    } else {
        serve_asset(srv, wsi, pss, path);
    }
}

static void http_body(struct server *srv, struct pss *pss, const void *in,
                      size_t len)
{
    char *nb = NULL;

    if (pss->req == NULL || pss->req->route != ROUTE_PUBLISH ||
        pss->req->body_too_large || len == 0)
        return;
    if (pss->req->body_len + len > srv->cfg->max_message) {
        pss->req->body_too_large = true;
        return;
    }
    nb = realloc(pss->req->body, pss->req->body_len + len + 1);
    if (nb == NULL) {
        pss->req->body_too_large = true;
        return;
    }
    pss->req->body = nb;
    memcpy(pss->req->body + pss->req->body_len, in, len);
    pss->req->body_len += len;
}

static void http_body_done(struct server *srv, struct lws *wsi,
                           struct pss *pss)
{
    struct pl_cmd cmd;
    struct pl_parse_opts opts = {srv->cfg->max_depth};
    const char *why = "bad request";
    enum pl_err err;

    if (pss->req != NULL && pss->req->route == ROUTE_BACKUP) {
        api_backup(srv, wsi, pss);
        return;
    }
    if (pss->req == NULL || pss->req->route != ROUTE_PUBLISH)
        return;
    if (pss->req->body_too_large) {
        respond_json_error(wsi, pss, 413, PL_ERR_TOO_LARGE,
                           "the body is larger than the message size limit");
        return;
    }
    if (!api_open(srv, wsi, pss))
        return;
    memset(&cmd, 0, sizeof(cmd));
    err = pl_cmd_parse_pub_body(pss->req->body ? pss->req->body : "",
                                pss->req->body_len, &opts, &cmd, &why);
    if (err != PL_OK) {
        respond_json_error(wsi, pss, pl_err_http_status(err), err, why);
        return;
    }
    cmd.id = 1; /* so that the hub acknowledges it */
    hub_conn_cmd(srv->hub, pss->conn, &cmd);
    pl_cmd_cleanup(&cmd);
}

int http_callback(struct server *srv, struct lws *wsi,
                  enum lws_callback_reasons reason, struct pss *pss, void *in,
                  size_t len)
{
    /* lws calls without per-connection data for a request it could not
     * parse (garbage instead of HTTP): nothing of ours to handle. */
    if (pss == NULL)
        return lws_callback_http_dummy(wsi, reason, pss, in, len);
    switch (reason) {
    case LWS_CALLBACK_HTTP:
        http_request(srv, wsi, pss, in ? (const char *)in : "/");
        return 0;
    case LWS_CALLBACK_HTTP_BODY:
        http_body(srv, pss, in, len);
        return 0;
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        http_body_done(srv, wsi, pss);
        return 0;
    case LWS_CALLBACK_HTTP_WRITEABLE:
        if (pss->req == NULL || !pss->req->resp_ready)
            take_reply(srv, wsi, pss);
        if (pss->req == NULL || !pss->req->resp_ready)
            return 0;
        return write_response(srv, wsi, pss);
    case LWS_CALLBACK_CLOSED_HTTP:
        backup_http_closed(srv, pss);
        hub_conn_close(srv->hub, &pss->conn);
        http_pss_cleanup(pss);
        return 0;
    default:
        return lws_callback_http_dummy(wsi, reason, pss, in, len);
    }
}
