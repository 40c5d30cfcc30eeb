/*
 * main.c: parleyd's entry point: flags to config, the store, the hub, the
 * lws context and its service loop, signals, and the ordered shutdown.
 * No protocol logic lives here.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>

#include <ev.h>

#include "cluster.h"
#include "log.h"
#include "mqtt_tcp.h"
#include "server.h"
#include "sys.h"
#include "service_thread.h"

static struct server *the_server; /* for the signal handler only */

/*
 * Fault injection for the tests (SQLite-style): with PARLEY_TEST_HOOKS=1 in
 * the environment, SIGUSR1 makes the store's next commit fail as if the
 * disk had, so a test can check that a failed write is never acknowledged
 * nor delivered and that seq stays gapless; SIGUSR2 holds the store's
 * completions (and releases them at the next), so the store looks as far
 * behind as a stalled disk would make it (/readyz).
 */
static volatile sig_atomic_t fail_commit_requested;
static volatile sig_atomic_t hold_toggle_requested;

static void on_test_signal(int sig)
{
    if (sig == SIGUSR2) {
        hold_toggle_requested = 1;
    } else {
        fail_commit_requested = 1;
    }
    if (the_server != NULL && the_server->ctx != NULL)
        lws_cancel_service(the_server->ctx);
}

/* SIGHUP asks for a reload, the others for a stop; the loop acts on the
 * flag once woken. */
static void on_signal(int sig)
{
    if (the_server != NULL) {
        if (sig == SIGHUP)
            the_server->reload = 1;
        else
            the_server->stop = 1;
        if (the_server->ctx != NULL)
            lws_cancel_service(the_server->ctx);
    }
}

static int64_t now_ms(void *ctx)
{
    struct timeval tv;

    (void)ctx;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* Each kind of connection is written by its own glue. */
static void op_wake(void *ctx, struct conn *c)
{
    if (c->origin == CONN_REQUEST)
        http_wake(ctx, c);
    else if (c->origin == CONN_MQTT)
        mqtt_wake(ctx, c);
    else
        ws_wake(ctx, c);
}

static const struct hub_ops server_hub_ops = {
    op_wake, now_ms,
};

static void store_wake(void *arg)
{
    struct server *srv = arg;

    lws_cancel_service(srv->ctx);
}

static int make_parent_dir(const char *path)
{
    char dir[1024];
    char *slash = NULL;

    snprintf(dir, sizeof(dir), "%s", path);
    slash = strrchr(dir, '/');
    if (slash == NULL || slash == dir)
        return 0;
    *slash = '\0';
    if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
        log_error("cannot create %s: %s", dir, strerror(errno));
        return -1;
    }
    return 0;
}

/*
 * Debian builds lws with _DEBUG, and then every close scans a table as
 * large as the soft RLIMIT_NOFILE (121,000 instructions per close at
 * 20,000; a mass disconnect under a limit of 1,048,576, common in
 * containers, would stall the loop for many seconds). We never need more
 * descriptors than --max-conns plus a few for the database and pipes.
 */
static void fit_fd_limit(uint32_t max_conns)
{
    struct rlimit rl;
    rlim_t want = (rlim_t)max_conns + 256;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur > want) {
        rl.rlim_cur = want;
        if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
            log_info("open files limited to %llu (--max-conns + 256)",
                     (unsigned long long)want);
    }
}

/* What the test hooks' signals asked for (see on_test_signal). */
static void run_test_hooks(struct server *srv)
{
    if (fail_commit_requested) {
        fail_commit_requested = 0;
        if (srv->store != NULL)
            store_fail_commits(srv->store, 1);
        log_notice("test hook: the next store commit fails");
    }
    if (hold_toggle_requested) {
        hold_toggle_requested = 0;
        srv->hold_store = !srv->hold_store;
        log_notice("test hook: store completions %s",
                   srv->hold_store ? "held" : "released");
    }
}

/*
 * One loop turn: wait for events (epoll, through libev) and run lws's
 * callbacks for the descriptors that have some, then the work a turn
 * leaves for its end, batched: more reads from busy connections; the
 * publishes the turn staged go to the store thread in one wake-up; the
 * commits that finished meanwhile are fanned out now rather than on the
 * next turn's wake-up (a message then reaches its subscribers one turn
 * sooner: p99 at 500 msg/s to 1000 subscribers went from 21-22 ms to
 * 15-16 ms); last, every connection with something queued writes it.
 */
static void service_turn(struct server *srv)
{
    ev_run(srv->loop, EVRUN_ONCE);
    run_test_hooks(srv);
    ws_read_more(srv);
    mqtt_flush(srv, now_ms(NULL));
    storage_flush(&srv->storage);
    drain_store(srv);
    hub_sys_flush(srv->hub); /* $SYS events raised during the turn */
    backup_http_poll(srv);
    ws_flush(srv);
}

/* Service the loop until cond() is false or the deadline passes. */
static void service_while(struct server *srv, bool (*cond)(struct server *),
                          int ms)
{
    int64_t deadline = now_ms(NULL) + ms;

    while (cond(srv) && now_ms(NULL) < deadline)
        service_turn(srv);
}

static bool store_busy(struct server *srv)
{
    return storage_pending(&srv->storage) > 0;
}

static bool conns_open(struct server *srv)
{
    return hub_get_stats(srv->hub)->connections > 0;
}

/* SIGINT and SIGTERM stop the loop (then drain); SIGHUP reloads the
 * config file; SIGPIPE is ignored (a write to a closed socket is an error
 * return, not a death); SIGUSR1 and SIGUSR2 are test hooks when on. */
static void install_signals(void)
{
    struct sigaction sa;
    const char *hooks = getenv("PARLEY_TEST_HOOKS");

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (hooks != NULL && strcmp(hooks, "1") == 0) {
        sa.sa_handler = on_test_signal;
        sigaction(SIGUSR1, &sa, NULL);
        sigaction(SIGUSR2, &sa, NULL);
        log_warn("test hooks on: SIGUSR1 fails the next store commit, "
                 "SIGUSR2 holds (or releases) the store's completions");
    }
}

static void log_settings(const struct pl_config *cfg)
{
    log_notice("parleyd %s starting: db=%s durability=%s auth=%s "
               "max-message=%zu queue-bytes=%zu", PARLEY_VERSION,
               cfg->redis_url != NULL ? "(redis)" : cfg->db_path,
               cfg->redis_url != NULL
                   ? (cfg->cluster_durability ? cfg->cluster_durability
                                              : "strict")
                   : cfg->durability_power ? "power" : "process",
               cfg->secret ? "on" : "off", cfg->max_message,
               cfg->queue_bytes);
    log_notice("limits: max-conns=%u max-conns-per-ip=%u (exempt: %s%s) "
               "rate=%g/s burst=%g max-subs=%u handshake-timeout=%ds "
               "ping-interval=%ds idle-timeout=%ds", cfg->max_conns,
               cfg->max_conns_per_ip,
               cfg->n_per_ip_exempt > 0 ? cfg->per_ip_exempt[0] : "none",
               cfg->n_per_ip_exempt > 1 ? ", ..." : "", cfg->rate, cfg->burst,
               cfg->max_subs, cfg->handshake_timeout, cfg->ping_interval,
               cfg->idle_timeout);
}

/* The write buffer and the fan-out budget (see drain_store). */
static int init_transport_buffers(struct server *srv)
{
    srv->fanout_budget = srv->cfg->queue_bytes / 4;
    if (srv->fanout_budget > WS_COALESCE_BYTES)
        srv->fanout_budget = WS_COALESCE_BYTES;
    srv->wbuf = malloc(LWS_PRE + WS_COALESCE_BYTES);
    return srv->wbuf != NULL ? 0 : -1;
}

/* Open the database (creating its directory); the thread starts later,
 * once the loop can take its wake-ups. */
static int open_store(struct server *srv)
{
    const struct pl_config *cfg = srv->cfg;
    struct store_config scfg;
    char *err = NULL;

    if (cfg->redis_url != NULL)
        return cluster_open(srv);
    if (cfg->cluster_durability != NULL) {
        log_error("--durability %s is for cluster mode: it needs --redis",
                  cfg->cluster_durability);
        return -1;
    }
    if (make_parent_dir(cfg->db_path) < 0)
        return -1;
    memset(&scfg, 0, sizeof(scfg));
    scfg.path = cfg->db_path;
    scfg.durability = cfg->durability_power ? STORE_DURABLE_POWER
                                            : STORE_DURABLE_PROCESS;
    scfg.dedupe_window_ms = cfg->dedupe_window_ms;
    scfg.retain_messages = cfg->retain_messages;
    scfg.retain_age_ms = cfg->retain_age_ms;
    scfg.wake = store_wake;
    scfg.wake_arg = srv;
    srv->store = store_open(&scfg, &err);
    if (srv->store == NULL) {
        log_error("cannot open database %s: %s", cfg->db_path,
                  err ? err : "unknown error");
        free(err);
        return -1;
    }
    store_as_storage(srv->store, &srv->storage);
    return 0;
}

/* Create the hub and give it every stored topic's state. */
static int open_hub(struct server *srv)
{
    const struct pl_config *cfg = srv->cfg;
    struct hub_config hcfg;

    server_hub_config(cfg, &hcfg);
    srv->hub = hub_new(&hcfg, &server_hub_ops, srv, &srv->storage);
    if (srv->hub == NULL) {
        log_error("out of memory");
        return -1;
    }
    if (hub_load(srv->hub) != 0) {
        log_error("cannot load topics from %s", cfg->db_path);
        return -1;
    }
    return 0;
}

/* The lws context: our protocol, limits, keepalive and TLS, on our libev
 * loop. */
static int create_context(struct server *srv)
{
    const struct pl_config *cfg = srv->cfg;
    struct lws_context_creation_info info;
    void *foreign_loops[1];

    memset(&info, 0, sizeof(info));
    /* With --reuse-port or --proxy-protocol, listen.c listens and hands
     * connections over. */
    info.port = cfg->reuse_port || cfg->proxy_protocol
                    ? CONTEXT_PORT_NO_LISTEN_SERVER : cfg->port;
    info.iface = cfg->bind;
    info.protocols = proto_protocols(cfg->rx_buffer);
    info.user = srv;
    info.pt_serv_buf_size = 64 * 1024;
    /* The whole request head (slowloris) and, later, each body chunk. */
    info.timeout_secs = (unsigned int)cfg->handshake_timeout;
    info.timeout_secs_ah_idle = cfg->handshake_timeout;
    /* Keepalive: lws pings a WebSocket that sent no pong for
     * ping_interval seconds and hangs up at idle_timeout. lws reads the
     * policy for the context's lifetime. */
    if (cfg->ping_interval > 0) {
        srv->keepalive.secs_since_valid_ping = (uint16_t)cfg->ping_interval;
        srv->keepalive.secs_since_valid_hangup = (uint16_t)cfg->idle_timeout;
    }
    info.retry_and_idle_policy = &srv->keepalive;
    info.options = LWS_SERVER_OPTION_VALIDATE_UTF8 |
                   LWS_SERVER_OPTION_HTTP_HEADERS_SECURITY_BEST_PRACTICES_ENFORCE;
    if (strchr(cfg->bind, ':') == NULL)
        info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
    if (cfg->cert != NULL) {
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        info.ssl_cert_filepath = cfg->cert;
        info.ssl_private_key_filepath = cfg->key;
        /* No HTTP/2: ws_tx.c writes whole WebSocket frames to the stream,
         * which WebSocket over h2 (RFC 8441) would break. */
        info.alpn = "http/1.1";
    }
    /*
     * The event loop is libev's, on epoll, and ours: lws's own poll()
     * loop walks every descriptor on every turn, which with thousands of
     * connections cost more than the messages (docs/benchmarks.md). lws
     * runs on it as on a "foreign" loop; we turn it (service_turn).
     */
    srv->loop = ev_loop_new(EVBACKEND_EPOLL);
    if (srv->loop == NULL) {
        log_error("cannot create the event loop (epoll)");
        return -1;
    }
    foreign_loops[0] = srv->loop;
    info.options |= LWS_SERVER_OPTION_LIBEV;
    info.foreign_loops = foreign_loops;
    srv->ctx = lws_create_context(&info);
    if (srv->ctx == NULL) {
        log_error("cannot listen on %s:%d", cfg->bind, cfg->port);
        return -1;
    }
    srv->vhost = lws_get_vhost_by_name(srv->ctx, "default");
    if ((cfg->reuse_port || cfg->proxy_protocol) &&
        (srv->vhost == NULL || listen_open(srv) < 0))
        return -1;
    return 0;
}

/* Timers, the store thread, the ready line; then turn the loop until a
 * signal asks to stop. */
static int run(struct server *srv)
{
    const struct pl_config *cfg = srv->cfg;
    char mqtt[128] = "";
    int port = 0;

    ws_start(srv);
    sys_glue_start(srv);
    if (!srv->own_listener) {
        port = srv->vhost ? lws_get_vhost_listen_port(srv->vhost) : cfg->port;
        srv->port = port;
    }
    port = srv->port;
    if (mqtt_start(srv) < 0)
        return -1;
    cluster_attach(srv);
    if (storage_start(&srv->storage) < 0) {
        log_error("cannot start the store thread");
        return -1;
    }
    if (mqtt_port(srv, false) >= 0)
        snprintf(mqtt, sizeof(mqtt), ", MQTT on mqtt://%s:%d", cfg->bind,
                 mqtt_port(srv, false));
    if (mqtt_port(srv, true) >= 0)
        snprintf(mqtt + strlen(mqtt), sizeof(mqtt) - strlen(mqtt),
                 ", mqtts://%s:%d", cfg->bind, mqtt_port(srv, true));
    log_notice("listening on %s://%s:%d (WebSocket path /ws%s)",
               cfg->cert ? "https" : "http", cfg->bind, port, mqtt);
    while (!srv->stop) {
        service_turn(srv);
        if (srv->reload) {
            srv->reload = 0;
            server_reload(srv);
        }
    }
    return 0;
}

/* SIGTERM's drain: stop accepting (with --reuse-port, the other nodes on
 * the port take the new connections), let the publishes already received
 * reach the store and their acks go out, then close every client with
 * 1001, each step bounded. */
static void drain_and_close_clients(struct server *srv)
{
    log_notice("shutting down: finishing stored writes, closing clients");
    ready_set_draining(&srv->ready, true);
    if (listen_stop(srv) < 0)
        log_warn("could not stop accepting: closing clients anyway");
    service_while(srv, store_busy, 5000);
    hub_close_all(srv->hub, 1001);
    service_while(srv, conns_open, 2000);
}

/* Free in reverse order whatever was set up: timers, the store thread
 * (its last completions go to the hub), the context, the loop, the rest. */
static void teardown(struct server *srv)
{
    if (srv->ctx != NULL) {
        ws_stop(srv);
        sys_glue_stop(srv);
    }
    if (srv->storage.ops != NULL) {
        mqtt_flush(srv, now_ms(NULL)); /* the sessions' last changes */
        storage_stop(&srv->storage);
        if (srv->hub != NULL) {
            hub_store_done(srv->hub, srv->backlog);
            srv->backlog = NULL;
            hub_store_done(srv->hub, storage_take_completions(&srv->storage));
        }
    }
    if (srv->ctx != NULL) {
        listen_close(srv);
        lws_context_destroy(srv->ctx);
    }
    if (srv->loop != NULL)
        ev_loop_destroy(srv->loop);
    mqtt_cleanup(srv);
    ws_cleanup(srv);
    store_free(&srv->store);
    cluster_free(srv);
    hub_free(&srv->hub);
    free(srv->wbuf);
    srv->wbuf = NULL;
}

int main(int argc, char **argv)
{
    struct pl_config cfg;
    struct server srv;
    int rc = 1;

    config_defaults(&cfg);
    switch (config_parse(&cfg, argc, argv)) {
    case CONFIG_EXIT_OK:
        config_cleanup(&cfg);
        return 0;
    case CONFIG_EXIT_USAGE:
        config_cleanup(&cfg);
        return 2;
    case CONFIG_RUN:
        break;
    }
    server_set_logging(&cfg);
    memset(&srv, 0, sizeof(srv));
    srv.cfg = &cfg;
    srv.argc = argc;
    srv.argv = argv;
    ready_init(&srv.ready);
    the_server = &srv;
    install_signals();
    pl_service_thread_claim(); /* this thread turns the loop */
    log_settings(&cfg);

    if (init_transport_buffers(&srv) < 0 || open_store(&srv) < 0 ||
        open_hub(&srv) < 0)
        goto out;
    if (ws_init(&srv) < 0) {
        log_error("out of memory");
        goto out;
    }
    fit_fd_limit(cfg.max_conns);
    if (create_context(&srv) < 0 || run(&srv) < 0)
        goto out;
    drain_and_close_clients(&srv);
    rc = 0;
out:
    teardown(&srv);
    config_cleanup(&cfg);
    if (rc == 0)
        log_notice("bye");
    return rc;
}
