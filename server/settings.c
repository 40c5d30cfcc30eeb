/*
 * settings.c: the configuration's values into the running server's parts
 * (the logger, the hub, the transport's limits), at start-up and again on
 * SIGHUP, when the config file is read anew and what may change live is
 * applied. The parsing and the comparison live in config*.c; the hub
 * takes its part through hub_reconfigure; the glue reads the rest from
 * srv->cfg as it goes, so changing srv->cfg in place is enough for it.
 * Service thread only.
 */
#include <string.h>

#include "log.h"
#include "server.h"

static void lws_log_emit(int level, const char *line)
{
    size_t n = strlen(line);
    char buf[512];

    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        n--;
    if (n >= sizeof(buf))
        n = sizeof(buf) - 1;
    memcpy(buf, line, n);
    buf[n] = '\0';
    /* lws 4.1.6 reports every adoption with read-ahead (each connection
     * after a PROXY header, listen.c) at error level: not an error. */
    if (strncmp(buf, "adopt_socket_readbuf:", 21) == 0)
        log_debug("lws: %s", buf);
    else if (level & LLL_ERR)
        log_warn("lws: %s", buf);
    else if (level & LLL_WARN)
        log_info("lws: %s", buf);
    else
        log_debug("lws: %s", buf);
}

void server_set_logging(const struct pl_config *cfg)
{
    log_set_level((enum log_level)cfg->log_level);
    log_set_format((enum log_format)cfg->log_format);
    lws_set_log_level(cfg->log_level >= LOG_DEBUG ? LLL_ERR | LLL_WARN |
                      LLL_NOTICE | LLL_INFO : LLL_ERR | LLL_WARN,
                      lws_log_emit);
}

void server_hub_config(const struct pl_config *cfg, struct hub_config *hcfg)
{
    memset(hcfg, 0, sizeof(*hcfg));
    hcfg->secret = cfg->secret;
    hcfg->secret_len = cfg->secret_len;
    hcfg->queue_bytes = cfg->queue_bytes;
    hcfg->queue_msgs = cfg->queue_msgs;
    hcfg->max_subs = cfg->max_subs;
    hcfg->recent_msgs = cfg->recent_msgs;
    hcfg->recent_bytes = cfg->recent_bytes;
    hcfg->recent_memory = cfg->recent_memory;
    hcfg->ephemeral = cfg->ephemeral;
    hcfg->n_ephemeral = cfg->n_ephemeral;
    hcfg->rate = cfg->rate;
    hcfg->burst = cfg->burst;
    hcfg->store_pending_max = cfg->store_pending_max;
    hcfg->max_depth = cfg->max_depth;
    hcfg->persist = true;
    hcfg->retain_messages = cfg->retain_messages;
    hcfg->retain_age_ms = cfg->retain_age_ms;
    hcfg->sys_interval_ms = (uint32_t)cfg->sys_interval_ms;
}

void server_reload(struct server *srv)
{
    struct pl_config fresh;
    struct hub_config hcfg;
    enum config_result r = CONFIG_RUN;
    int applied = 0;

    if (srv->cfg->config_path == NULL) {
        log_notice("SIGHUP: no --config file to read; nothing changed");
        return;
    }
    log_notice("SIGHUP: reading %s", srv->cfg->config_path);
    config_defaults(&fresh);
    config_errors_to_log(true);
    r = config_parse(&fresh, srv->argc, srv->argv);
    config_errors_to_log(false);
    if (r != CONFIG_RUN) {
        log_error("config: reload failed; keeping the running "
                  "configuration");
        config_cleanup(&fresh);
        return;
    }
    applied = config_take_live(srv->cfg, &fresh);
    /* srv->cfg now holds the new values; fresh holds the old secret and
     * is freed after the hub has let go of it. */
    server_set_logging(srv->cfg);
    srv->peers.limit = srv->cfg->max_conns_per_ip;
    if (srv->store != NULL)
        store_set_retention(srv->store, srv->cfg->retain_messages,
                            srv->cfg->retain_age_ms);
    server_hub_config(srv->cfg, &hcfg);
    if (hub_reconfigure(srv->hub, &hcfg) < 0) {
        /* The hub kept its old settings, the old secret among them: take
         * that back from fresh before fresh is freed. */
        char *secret = srv->cfg->secret;
        size_t len = srv->cfg->secret_len;

        srv->cfg->secret = fresh.secret;
        srv->cfg->secret_len = fresh.secret_len;
        fresh.secret = secret;
        fresh.secret_len = len;
        log_error("config: out of memory applying the reload to the hub");
    }
    config_cleanup(&fresh);
    log_notice("config: reload done, %d setting%s applied", applied,
               applied == 1 ? "" : "s");
}
