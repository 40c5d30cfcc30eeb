/*
 * session.c: owns one protocol session of the `parley` CLI on top of a
 * wsclient: the hello exchange (when a name or token is configured), the
 * command id counter, JSON parsing of every received frame before the
 * caller sees it, the reconnection policy (exponential backoff with
 * jitter, only after a connection that once succeeded), a clean finish
 * (close frame, then stop), and SIGINT/SIGTERM delivered on the loop by a
 * 100 ms tick. Single-threaded: everything runs inside session_run().
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "session.h"

#define SESSION_TICK_MS 100
#define SESSION_FINISH_MS 2000

static const int64_t session_backoff_ms[] = { 100, 250, 500, 1000, 2000,
                                              4000 };

struct session {
    struct wsclient *ws;
    const struct session_ops *ops;
    void *user;
    char *token;
    char *name;
    bool reconnect;

    bool hello_pending;
    int64_t hello_id;
    bool ready;
    bool ever_ready;
    bool fatal;            /* no reconnection: hello refused */
    bool finishing;
    bool stopped;
    int status;
    unsigned again;        /* successful reconnections */
    unsigned attempt;      /* failed attempts since the last success */
    int64_t next_id;
    char user_name[128];

    struct wsclient_timer retry_timer;
    struct wsclient_timer tick_timer;
    struct wsclient_timer finish_timer;
};

static volatile sig_atomic_t session_signal;

static void on_signal(int signo)
{
    session_signal = signo;
}

static void tick(struct wsclient *ws, void *arg)
{
    struct session *s = arg;
    int signo = session_signal;

    if (signo != 0) {
        session_signal = 0;
        if (s->ops->signal != NULL)
            s->ops->signal(s, s->user, signo);
        else
            session_stop(s, 128 + signo);
    }
    if (!s->stopped)
        wsclient_after(ws, &s->tick_timer, SESSION_TICK_MS, tick, s);
}

static void retry_now(struct wsclient *ws, void *arg)
{
    struct session *s = arg;

    (void)ws;
    if (!s->stopped && !s->finishing)
        wsclient_connect(s->ws);
}

static void finish_expired(struct wsclient *ws, void *arg)
{
    struct session *s = arg;

    (void)ws;
    session_stop(s, s->status);
}

static void send_hello(struct session *s)
{
    struct pl_buf b;

    pl_buf_init(&b, 256);
    s->hello_id = session_next_id(s);
    pl_frame_begin(&b, "hello");
    pl_frame_id(&b, s->hello_id);
    if (s->name != NULL)
        pl_frame_kv_str(&b, "name", s->name);
    if (s->token != NULL)
        pl_frame_kv_str(&b, "token", s->token);
    pl_frame_end(&b);
    s->hello_pending = true;
    if (session_send(s, &b) < 0)
        wsclient_close(s->ws);
    pl_buf_cleanup(&b);
}

static void became_ready(struct session *s)
{
    unsigned again = s->ever_ready ? s->again + 1 : 0;

    s->ready = true;
    s->attempt = 0;
    if (s->ever_ready)
        s->again++;
    s->ever_ready = true;
    s->ops->ready(s, s->user, again);
}

static void ws_open(struct wsclient *ws, void *user)
{
    struct session *s = user;

    (void)ws;
    if (s->token != NULL || s->name != NULL)
        send_hello(s);
    else
        became_ready(s);
}

static void hello_reply(struct session *s, const cJSON *root, const char *op)
{
    const char *u = cli_json_str(root, "user");
    char text[512];

    s->hello_pending = false;
    if (strcmp(op, "ok") == 0) {
        snprintf(s->user_name, sizeof(s->user_name), "%s", u ? u : "");
        became_ready(s);
        return;
    }
    /* A refused hello does not get better by retrying. */
    s->fatal = true;
    cli_error_text(root, text, sizeof(text));
    s->ops->down(s, s->user, text, -1);
    wsclient_close(s->ws);
}

static void ws_frame(struct wsclient *ws, const char *text, size_t len,
                     void *user)
{
    struct session *s = user;
    cJSON *root = cJSON_ParseWithLength(text, len);
    const char *op = NULL;
    int64_t id = 0;

    (void)ws;
    if (root == NULL)
        return;
    op = cli_json_str(root, "op");
    if (op == NULL)
        goto out;
    if (cli_json_int(root, "id", &id) < 0)
        id = 0;
    if (s->hello_pending && id == s->hello_id &&
        (strcmp(op, "ok") == 0 || strcmp(op, "error") == 0)) {
        hello_reply(s, root, op);
        goto out;
    }
    if (s->ready && !s->finishing)
        s->ops->frame(s, s->user, root, op, id);
out:
    cJSON_Delete(root);
}

static int64_t backoff(unsigned attempt)
{
    size_t n = sizeof(session_backoff_ms) / sizeof(session_backoff_ms[0]);
    int64_t ms = session_backoff_ms[attempt < n ? attempt : n - 1];

    /* +-20% so that many clients do not come back in lockstep */
    return ms * 8 / 10 + (int64_t)(rand() % (int)(ms * 4 / 10 + 1));
}

static void ws_closed(struct wsclient *ws, int code, const char *why,
                      void *user)
{
    struct session *s = user;
    int64_t ms = 0;

    (void)code;
    s->ready = false;
    s->hello_pending = false;
    if (s->stopped)
        return;
    if (s->finishing) {
        session_stop(s, s->status);
        return;
    }
    if (s->fatal)
        return;         /* already reported by hello_reply */
    if (!s->reconnect || !s->ever_ready) {
        s->ops->down(s, s->user, why, -1);
        return;
    }
    ms = backoff(s->attempt);
    s->ops->down(s, s->user, why, ms);
    s->attempt++;
    if (!s->stopped)
        wsclient_after(ws, &s->retry_timer, (uint64_t)ms, retry_now, s);
}

static int ws_input(struct wsclient *ws, int fd, void *user)
{
    struct session *s = user;

    (void)ws;
    if (s->ops->input == NULL)
        return -1;
    return s->ops->input(s, s->user, fd);
}

static const struct wsclient_ops session_ws_ops = {
    .open = ws_open,
    .frame = ws_frame,
    .closed = ws_closed,
    .input = ws_input,
};

int session_new(const struct session_cfg *cfg, struct session **out,
                const char **why)
{
    struct wsclient_cfg wc;
    struct session *s = NULL;
    int rc = -ENOMEM;

    *why = "out of memory";
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return -ENOMEM;
    s->ops = cfg->ops;
    s->user = cfg->user;
    s->reconnect = cfg->reconnect;
    s->next_id = 1;
    if (cfg->token != NULL && (s->token = strdup(cfg->token)) == NULL)
        goto fail;
    if (cfg->name != NULL && (s->name = strdup(cfg->name)) == NULL)
        goto fail;
    memset(&wc, 0, sizeof(wc));
    wc.url = cfg->url;
    wc.insecure = cfg->insecure;
    wc.ops = &session_ws_ops;
    wc.user = s;
    rc = wsclient_new(&wc, &s->ws, why);
    if (rc < 0)
        goto fail;
    srand((unsigned)cli_mono_ms() ^ (unsigned)getpid());
    *out = s;
    return 0;
fail:
    session_free(&s);
    return rc;
}

void session_free(struct session **ps)
{
    struct session *s = *ps;

    if (s == NULL)
        return;
    wsclient_free(&s->ws);
    free(s->token);
    free(s->name);
    free(s);
    *ps = NULL;
}

void session_start(struct session *s)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    wsclient_after(s->ws, &s->tick_timer, SESSION_TICK_MS, tick, s);
    wsclient_connect(s->ws);
}

int session_run(struct session *s)
{
    if (wsclient_run(s->ws) < 0)
        return CLI_EXIT_FAIL;
    return s->status;
}

void session_stop(struct session *s, int status)
{
    if (s->stopped)
        return;
    s->stopped = true;
    s->status = status;
    wsclient_cancel(&s->retry_timer);
    wsclient_cancel(&s->tick_timer);
    wsclient_cancel(&s->finish_timer);
    wsclient_stop(s->ws);
}

void session_finish(struct session *s, int status)
{
    if (s->stopped || s->finishing)
        return;
    s->status = status;
    if (!wsclient_connected(s->ws)) {
        session_stop(s, status);
        return;
    }
    s->finishing = true;
    wsclient_cancel(&s->retry_timer);
    wsclient_after(s->ws, &s->finish_timer, SESSION_FINISH_MS,
                   finish_expired, s);
    wsclient_close(s->ws);
}

bool session_is_ready(const struct session *s)
{
    return s->ready;
}

int64_t session_next_id(struct session *s)
{
    return s->next_id++;
}

unsigned session_retries(const struct session *s)
{
    return s->attempt;
}

int64_t session_peek_id(const struct session *s)
{
    return s->next_id;
}

int session_send(struct session *s, const struct pl_buf *b)
{
    if (pl_buf_failed(b))
        return -ENOMEM;
    return wsclient_send(s->ws, pl_buf_data(b), b->len);
}

const char *session_user(const struct session *s)
{
    return s->user_name;
}

const char *session_url(const struct session *s)
{
    return wsclient_url(s->ws);
}

struct wsclient *session_ws(struct session *s)
{
    return s->ws;
}

int session_watch_stdin(struct session *s)
{
    return wsclient_watch_fd(s->ws, 0);
}
