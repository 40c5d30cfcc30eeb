/*
 * backup_http.c: POST /api/backup?file=PATH, the online backup's front
 * door (the copy itself is made by the store thread, db/store_backup.c).
 *
 * Who may ask. The copy holds every topic's messages and is written on
 * the server's own file system, so:
 * - the request must come from the server's own machine (a loopback
 *   peer), whatever the auth setting: an operator runs `parley backup`
 *   there, over SSH if need be. A request that names a forwarder
 *   (X-Forwarded-For, X-Real-IP, Forwarded) came through a proxy, which
 *   makes any client look local: it is refused;
 * - with auth on it must also carry a Bearer token that may read
 *   everything: its allow_sub covers both `#` and `$SYS/#` (no allow_sub
 *   claim at all does).
 * PATH must be absolute and must not exist; the reply comes when the copy
 * is complete and in place: 200 {"bytes":..,"pages":..,"ms":..,
 * "max_step_us":..} (max_step_us: the longest a commit could wait).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "jwt.h"
#include "log.h"
#include "server.h"
#include "topic.h"

static bool peer_is_loopback(struct lws *wsi)
{
    char addr[64] = "";

    if (lws_hdr_total_length(wsi, WSI_TOKEN_X_FORWARDED_FOR) > 0 ||
        lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_X_REAL_IP) > 0 ||
        lws_hdr_custom_length(wsi, "forwarded:", 10) > 0)
        return false;
    lws_get_peer_simple(wsi, addr, sizeof(addr));
    return strncmp(addr, "127.", 4) == 0 || strcmp(addr, "::1") == 0 ||
           strncmp(addr, "::ffff:127.", 11) == 0;
}

/* With auth on: a valid Bearer token that may read every topic. False
 * after responding. */
static bool may_back_up(struct server *srv, struct lws *wsi, struct pss *pss)
{
    struct pl_claims claims;
    char auth[2048];
    int n = 0;
    bool ok = false;

    if (srv->cfg->secret == NULL)
        return true;
    memset(&claims, 0, sizeof(claims));
    n = lws_hdr_copy(wsi, auth, sizeof(auth), WSI_TOKEN_HTTP_AUTHORIZATION);
    if (n <= 7 || strncasecmp(auth, "Bearer ", 7) != 0 ||
        pl_jwt_verify(auth + 7, strlen(auth + 7), srv->cfg->secret,
                      srv->cfg->secret_len, (int64_t)time(NULL),
                      &claims) != PL_OK) {
        http_respond_error(wsi, pss, 401, PL_ERR_UNAUTHORIZED,
                           "a valid Authorization: Bearer token is required");
        return false;
    }
    ok = pl_claims_may_sub(&claims, "#") &&
         pl_claims_may_sub(&claims, "$SYS/#");
    pl_claims_cleanup(&claims);
    if (!ok)
        http_respond_error(wsi, pss, 403, PL_ERR_FORBIDDEN,
                           "a backup needs a token whose allow_sub covers "
                           "# and $SYS/#");
    return ok;
}

void backup_http_start(struct server *srv, struct lws *wsi, struct pss *pss,
                       const char *file)
{
    int rc = 0;

    if (!peer_is_loopback(wsi)) {
        http_respond_error(wsi, pss, 403, PL_ERR_FORBIDDEN,
                           "backups are taken from the server's own "
                           "machine only");
        return;
    }
    if (!may_back_up(srv, wsi, pss))
        return;
    if (file == NULL || file[0] != '/') {
        http_respond_error(wsi, pss, 400, PL_ERR_BAD_REQUEST,
                           "file must be an absolute path on the server");
        return;
    }
    if (srv->store == NULL) {
        http_respond_error(wsi, pss, 400, PL_ERR_BAD_REQUEST,
                           "this storage engine has no online backup");
        return;
    }
    rc = store_backup_start(srv->store, file);
    if (rc == -EBUSY) {
        http_respond_error(wsi, pss, 409, PL_ERR_OVERLOADED,
                           "another backup is running");
        return;
    }
    if (rc < 0) {
        http_respond_error(wsi, pss, 500, PL_ERR_INTERNAL, strerror(-rc));
        return;
    }
    log_notice("backup to %s started", file);
    srv->backup_pss = pss;
    srv->backup_wsi = wsi;
    srv->backup_running = true;
    /* The copy may take a while: no lws timeout on this request. */
    lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
}

void backup_http_poll(struct server *srv)
{
    struct store_backup_result res;
    struct pss *pss = srv->backup_pss;
    struct lws *wsi = srv->backup_wsi;
    char body[512];
    int status = 500;
    enum pl_err err = PL_ERR_INTERNAL;

    if (!srv->backup_running || store_backup_poll(srv->store, &res) == 0)
        return;
    srv->backup_running = false;
    srv->backup_pss = NULL;
    srv->backup_wsi = NULL;
    if (res.rc == 0)
        log_notice("backup done: %" PRId64 " pages, %" PRId64 " bytes in %"
                   PRId64 " ms, %" PRId64 " steps, longest %" PRId64 " us",
                   res.pages, res.bytes, res.elapsed_ms, res.steps,
                   res.max_step_us);
    else
        log_error("backup failed: %s", res.err);
    if (pss == NULL)
        return; /* the client went away; the log says how it ended */
    if (res.rc != 0) {
        if (res.rc == -EEXIST) {
            status = 409;
            err = PL_ERR_BAD_REQUEST;
        } else if (res.rc == -EINVAL) {
            status = 400;
            err = PL_ERR_BAD_REQUEST;
        }
        http_respond_error(wsi, pss, status, err, res.err);
        return;
    }
    snprintf(body, sizeof(body),
             "{\"bytes\":%" PRId64 ",\"pages\":%" PRId64 ",\"ms\":%" PRId64
             ",\"max_step_us\":%" PRId64 "}",
             res.bytes, res.pages, res.elapsed_ms, res.max_step_us);
    http_respond(wsi, pss, 200, "application/json", body, strlen(body));
}

void backup_http_closed(struct server *srv, struct pss *pss)
{
    if (srv->backup_pss == pss) {
        srv->backup_pss = NULL;
        srv->backup_wsi = NULL;
    }
}
