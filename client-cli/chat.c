/*
 * chat.c: owns `parley chat`: the interactive chat client. It keeps the
 * rooms the user joined (room R is topic chat/R, subscribed with presence
 * and recent history), prints messages with time and sender and
 * join/leave notices, runs the slash commands, and edits input with
 * libedit through readline's callback interface so incoming lines never
 * break the line being typed (clear the input line, print, redraw).
 *
 * Reliability: each room remembers the last seq shown; after a
 * reconnection it is resubscribed with since = that seq, and the user is
 * told how many messages were caught up. Sent lines carry an idempotency
 * key and stay queued until acknowledged, and are sent again after a
 * reconnection, so a line typed during an outage is delivered once.
 *
 * Message data convention: {"text":"..."}; /me sends
 * {"text":"...","me":true}. Other data is shown as JSON.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <editline/readline.h>

#include "cli.h"
#include "cmd.h"
#include "frame.h"
#include "session.h"
#include "topic.h"

#define CHAT_HISTORY_DEFAULT 20
#define CHAT_TOPIC_PREFIX "chat/"
#define CHAT_LINE_MAX 60000

enum req_kind {
    REQ_SUB,
    REQ_UNSUB,
    REQ_PUB,
    REQ_TOPICS,
    REQ_PRESENCE,
    REQ_HISTORY,
    REQ_EDIT,            /* edit or delete: nothing kept for a resend */
    REQ_SEARCH,
};

struct room {
    struct room *next;
    char *name;          /* "general" */
    char *topic;         /* "chat/general" */
    bool active;         /* sub acknowledged on this connection */
    bool ever;           /* subscribed once: resubscribe with since */
    bool announce;       /* list members once the sub is acknowledged */
    int64_t last;        /* last seq shown (or the baseline) */
    int64_t since_sent;
    int64_t mine;        /* seq of my newest line here (for /edit) */
};

/* A request waiting for its reply. Pubs also keep their frame parts so
 * they can be sent again after a reconnection. */
struct req {
    struct req *next;
    int64_t id;
    enum req_kind kind;
    char *topic;
    char *data;          /* REQ_PUB: JSON text */
    char *key;           /* REQ_PUB */
    int64_t reply_to;    /* REQ_PUB: answers this seq, 0 when none */
    bool quiet;          /* REQ_PRESENCE: the join announcement */
};

struct chat_app {
    struct cli_common co;
    struct session *s;
    struct room *rooms;
    struct room *current;
    struct req *reqs;
    int64_t history;
    bool tty_in;         /* line editor active */
    bool color;
    bool quitting;
    bool editor_on;
    char prompt[160];
    char key_prefix[40];
    int64_t key_seq;

    struct wsclient_timer quit_timer;

    char *inbuf;         /* non-tty stdin: bytes of the current line */
    size_t inlen, incap;
};

/* readline's callback has no user pointer: the one chat of the process. */
static struct chat_app *chat_the;

static const char chat_usage[] =
"Usage: parley chat [URL] --name NAME [--room ROOM] [options]\n"
"\n"
"Interactive chat. Joins chat/ROOM (default 'general'), shows recent\n"
"history, then live messages. Reconnects by itself and catches up.\n"
"\n"
"Options:\n"
"  --name NAME        your display name (default $USER; with a token,\n"
"                     the server uses the token's user)\n"
"  --room ROOM        the room to join first (default general)\n"
"  --history N        messages of history shown on joining (default 20)\n"
"  --token JWT        auth token (default $PARLEY_TOKEN)\n"
"  -k, --insecure     wss: accept self-signed certificates\n"
"  -h, --help         this help\n"
"\n"
"Commands while chatting:\n"
"  /join ROOM     join a room (and talk there)   /leave [ROOM]  leave\n"
"  /rooms         list rooms                     /who           who is here\n"
"  /history [N]   show the last N messages       /me ACTION     emote\n"
"  /edit [SEQ] TEXT   replace your message SEQ (default: your last one)\n"
"  /delete [SEQ]      delete your message SEQ (default: your last one)\n"
"  /reply SEQ TEXT    answer message SEQ\n"
"  /search QUERY      search every room: words, \"phrases\", prefix*\n"
"  /quit          exit                           /help          this list\n"
"  Lines starting with // send a literal '/'.\n"
"\n"
"URL defaults to $PARLEY_URL, else " CLI_URL_DEFAULT ".\n";

static const char chat_help_text[] =
"commands: /join ROOM, /leave [ROOM], /rooms, /who [ROOM], /history [N],\n"
"          /me ACTION, /edit [SEQ] TEXT, /delete [SEQ], /reply SEQ TEXT,\n"
"          /search QUERY, /quit, /help; '//' sends a line starting with '/'";

/* ------------------------------------------------------------------ */
/* output                                                               */
/* ------------------------------------------------------------------ */

#define C_RESET "\033[0m"
#define C_DIM "\033[2m"
#define C_BOLD "\033[1m"
#define C_RED "\033[31m"
#define C_YELLOW "\033[33m"
#define C_CYAN "\033[36m"

static const char *const name_colors[] = {
    "\033[31m", "\033[32m", "\033[33m", "\033[34m", "\033[35m", "\033[36m",
    "\033[91m", "\033[92m", "\033[94m", "\033[95m",
};

static const char *col(const struct chat_app *a, const char *c)
{
    return a->color ? c : "";
}

static const char *name_color(const struct chat_app *a, const char *name)
{
    unsigned h = 5381;

    if (!a->color)
        return "";
    while (*name != '\0')
        h = h * 33 + (unsigned char)*name++;
    return name_colors[h % (sizeof(name_colors) / sizeof(name_colors[0]))];
}

/*
 * Prints one line above the input line: the line being edited is wiped,
 * the text printed, then the prompt and the edited text are redrawn.
 */
static void chat_out(struct chat_app *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void chat_out(struct chat_app *a, const char *fmt, ...)
{
    va_list ap;

    if (a->editor_on)
        fputs("\r\033[K", stdout);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    fflush(stdout);
    if (a->editor_on)
        rl_forced_update_display();
}

static void fmt_time(int64_t ts_ms, char *buf, size_t size)
{
    time_t secs = (time_t)(ts_ms / 1000);
    struct tm tm;

    localtime_r(&secs, &tm);
    strftime(buf, size, "%H:%M", &tm);
}

static void notice(struct chat_app *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void notice(struct chat_app *a, const char *fmt, ...)
{
    char text[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    chat_out(a, "%s*** %s%s", col(a, C_YELLOW), text, col(a, C_RESET));
}

static void warn(struct chat_app *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void warn(struct chat_app *a, const char *fmt, ...)
{
    char text[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    chat_out(a, "%s!!! %s%s", col(a, C_RED), text, col(a, C_RESET));
}

static int room_count(const struct chat_app *a)
{
    const struct room *r = NULL;
    int n = 0;

    for (r = a->rooms; r != NULL; r = r->next)
        n++;
    return n;
}

/* "#room " when more than one room is joined, else "". */
static void room_tag(const struct chat_app *a, const char *room, char *buf,
                     size_t size)
{
    if (room_count(a) > 1 && room != NULL)
        snprintf(buf, size, "%s#%s%s ", col(a, C_CYAN), room,
                 col(a, C_RESET));
    else
        buf[0] = '\0';
}

/* " (edited #N)", " (reply to #N)" and the message's own " #SEQ", dimmed,
 * for the end of a shown line (#16). */
static void message_marks(const struct chat_app *a, const cJSON *m,
                          char *buf, size_t size)
{
    int64_t v = 0;
    size_t k = 0;

    buf[0] = '\0';
    if (cli_json_int(m, "edit_of", &v) == 0)
        k += (size_t)snprintf(buf + k, size - k, " (edited #%lld)",
                              (long long)v);
    if (k < size && cli_json_int(m, "reply_to", &v) == 0)
        k += (size_t)snprintf(buf + k, size - k, " (reply to #%lld)",
                              (long long)v);
    if (k < size && cli_json_int(m, "seq", &v) == 0)
        snprintf(buf + k, size - k, " %s#%lld%s", col(a, C_DIM),
                 (long long)v, col(a, C_RESET));
}

/* Shows one chat message (live, recovered, from /history or /search). */
static void show_message(struct chat_app *a, const char *room,
                         const cJSON *m)
{
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(m, "data");
    const char *from = cli_json_str(m, "from");
    const char *text = NULL;
    char *json = NULL;
    char when[16];
    char tag[96];
    char marks[96];
    int64_t ts = 0;
    int64_t target = 0;

    cli_json_int(m, "ts", &ts);
    fmt_time(ts, when, sizeof(when));
    room_tag(a, room, tag, sizeof(tag));
    message_marks(a, m, marks, sizeof(marks));
    if (from == NULL)
        from = "?";
    if (cli_json_int(m, "redacts", &target) == 0) {
        chat_out(a, "%s[%s] %s*** %s deleted #%lld%s", col(a, C_DIM), when,
                 tag, from, (long long)target, col(a, C_RESET));
        return;
    }
    if (cli_json_true(m, "redacted")) {
        chat_out(a, "%s[%s]%s %s<%s%s%s%s> %s(message deleted)%s%s",
                 col(a, C_DIM), when, col(a, C_RESET), tag, col(a, C_BOLD),
                 name_color(a, from), from, col(a, C_RESET), col(a, C_DIM),
                 col(a, C_RESET), marks);
        return;
    }
    if (cJSON_IsObject(data))
        text = cli_json_str(data, "text");
    else if (cJSON_IsString(data))
        text = data->valuestring;
    if (text != NULL && cJSON_IsObject(data) && cli_json_true(data, "me")) {
        chat_out(a, "%s[%s]%s %s* %s%s%s %s%s", col(a, C_DIM), when,
                 col(a, C_RESET), tag, name_color(a, from), from,
                 col(a, C_RESET), text, marks);
        return;
    }
    if (text == NULL)
        json = cJSON_PrintUnformatted(data);
    chat_out(a, "%s[%s]%s %s<%s%s%s%s> %s%s", col(a, C_DIM), when,
             col(a, C_RESET), tag, col(a, C_BOLD), name_color(a, from),
             from, col(a, C_RESET),
             text != NULL ? text : json != NULL ? json : "null", marks);
    cJSON_free(json);
}

static void update_prompt(struct chat_app *a)
{
    if (a->current != NULL)
        snprintf(a->prompt, sizeof(a->prompt), "[#%s] ", a->current->name);
    else
        snprintf(a->prompt, sizeof(a->prompt), "[no room] ");
    if (a->editor_on) {
        rl_set_prompt(a->prompt);
        rl_forced_update_display();
    }
}

/* ------------------------------------------------------------------ */
/* rooms and requests                                                   */
/* ------------------------------------------------------------------ */

static struct room *room_find(struct chat_app *a, const char *name)
{
    struct room *r = NULL;

    for (r = a->rooms; r != NULL; r = r->next)
        if (strcmp(r->name, name) == 0)
            return r;
    return NULL;
}

static struct room *room_by_topic(struct chat_app *a, const char *topic)
{
    struct room *r = NULL;

    for (r = a->rooms; r != NULL; r = r->next)
        if (strcmp(r->topic, topic) == 0)
            return r;
    return NULL;
}

static void room_free(struct room *r)
{
    free(r->name);
    free(r->topic);
    free(r);
}

static void update_prompt(struct chat_app *a);

/* Unlinks and frees r; the current room becomes the last one joined. */
static void room_remove(struct chat_app *a, struct room *r)
{
    struct room **p = &a->rooms;

    while (*p != NULL && *p != r)
        p = &(*p)->next;
    if (*p == r)
        *p = r->next;
    if (a->current == r) {
        a->current = a->rooms;
        while (a->current != NULL && a->current->next != NULL)
            a->current = a->current->next;
    }
    room_free(r);
    update_prompt(a);
}

static struct req *req_add(struct chat_app *a, enum req_kind kind,
                           const char *topic)
{
    struct req *q = calloc(1, sizeof(*q));
    struct req **tail = &a->reqs;

    if (q == NULL)
        return NULL;
    q->kind = kind;
    if (topic != NULL && (q->topic = strdup(topic)) == NULL) {
        free(q);
        return NULL;
    }
    while (*tail != NULL)
        tail = &(*tail)->next;
    *tail = q;
    return q;
}

static void req_free(struct req *q)
{
    free(q->topic);
    free(q->data);
    free(q->key);
    free(q);
}

/* Unlinks and returns the request with this id, or NULL. */
static struct req *req_take(struct chat_app *a, int64_t id)
{
    struct req **p = &a->reqs;
    struct req *q = NULL;

    for (; *p != NULL; p = &(*p)->next) {
        if ((*p)->id == id && id > 0) {
            q = *p;
            *p = q->next;
            q->next = NULL;
            return q;
        }
    }
    return NULL;
}

/* Unlinks and frees q. */
static void req_remove(struct chat_app *a, struct req *q)
{
    struct req **p = &a->reqs;

    while (*p != NULL && *p != q)
        p = &(*p)->next;
    if (*p == q)
        *p = q->next;
    req_free(q);
}

/* Sends the frame in b for request q (assigning its id first is the
 * caller's job). A send failure leaves q waiting for the reconnection. */
static void req_send(struct chat_app *a, struct pl_buf *b)
{
    if (session_send(a->s, b) < 0 && session_is_ready(a->s))
        warn(a, "cannot send (out of memory?)");
}

static void send_sub(struct chat_app *a, struct room *r)
{
    struct req *q = req_add(a, REQ_SUB, r->topic);
    struct pl_buf b;

    if (q == NULL)
        return;
    q->id = session_next_id(a->s);
    pl_buf_init(&b, 256);
    pl_frame_begin(&b, "sub");
    pl_frame_id(&b, q->id);
    pl_frame_kv_str(&b, "topic", r->topic);
    if (r->ever) {
        pl_frame_kv_int(&b, "since", r->last);
        r->since_sent = r->last;
    } else if (a->history > 0) {
        pl_frame_kv_int(&b, "history", a->history);
    }
    pl_frame_kv_bool(&b, "presence", true);
    pl_frame_end(&b);
    req_send(a, &b);
    pl_buf_cleanup(&b);
}

static void send_simple(struct chat_app *a, enum req_kind kind,
                        const char *op, const char *topic, int64_t limit,
                        bool quiet)
{
    struct req *q = req_add(a, kind, topic);
    struct pl_buf b;

    if (q == NULL)
        return;
    q->id = session_next_id(a->s);
    q->quiet = quiet;
    pl_buf_init(&b, 256);
    pl_frame_begin(&b, op);
    pl_frame_id(&b, q->id);
    if (kind == REQ_TOPICS)
        pl_frame_kv_str(&b, "prefix", topic);
    else
        pl_frame_kv_str(&b, "topic", topic);
    if (limit > 0)
        pl_frame_kv_int(&b, "limit", limit);
    pl_frame_end(&b);
    req_send(a, &b);
    pl_buf_cleanup(&b);
}

static void send_pub_req(struct chat_app *a, struct req *q)
{
    struct pl_buf b;

    q->id = session_next_id(a->s);
    pl_buf_init(&b, 256 + strlen(q->data));
    pl_frame_begin(&b, "pub");
    pl_frame_id(&b, q->id);
    pl_frame_kv_str(&b, "topic", q->topic);
    pl_frame_kv_raw(&b, "data", q->data, strlen(q->data));
    pl_frame_kv_str(&b, "key", q->key);
    if (q->reply_to > 0)
        pl_frame_kv_int(&b, "reply_to", q->reply_to);
    pl_frame_end(&b);
    req_send(a, &b);
    pl_buf_cleanup(&b);
}

/* {"text":text} (with "me":true for /me) as malloc'd JSON text, or NULL
 * after telling the user why not. */
static char *text_data(struct chat_app *a, const char *text, bool me)
{
    struct pl_buf d;
    char *json = NULL;

    if (strlen(text) > CHAT_LINE_MAX) {
        warn(a, "line too long");
        return NULL;
    }
    if (!pl_utf8_valid(text, strlen(text))) {
        warn(a, "line is not valid UTF-8, not sent");
        return NULL;
    }
    pl_buf_init(&d, strlen(text) + 32);
    pl_buf_cstr(&d, "{\"text\":");
    pl_buf_json_str(&d, text, strlen(text));
    if (me)
        pl_buf_cstr(&d, ",\"me\":true");
    pl_buf_cstr(&d, "}");
    pl_buf_raw(&d, "", 1);
    json = pl_buf_failed(&d) ? NULL : strdup(pl_buf_data(&d));
    pl_buf_cleanup(&d);
    return json;
}

/* Publishes {"text":text} (or with "me":true) to the current room,
 * answering reply_to when > 0. */
static void say_reply(struct chat_app *a, const char *text, bool me,
                      int64_t reply_to)
{
    struct req *q = NULL;
    char key[80];

    if (a->current == NULL) {
        warn(a, "you are in no room: /join ROOM first");
        return;
    }
    q = req_add(a, REQ_PUB, a->current->topic);
    if (q == NULL)
        return;
    snprintf(key, sizeof(key), "%s-%lld", a->key_prefix,
             (long long)++a->key_seq);
    q->data = text_data(a, text, me);
    q->key = strdup(key);
    q->reply_to = reply_to;
    if (q->data == NULL || q->key == NULL) {
        req_remove(a, q);
        return;
    }
    if (session_is_ready(a->s))
        send_pub_req(a, q);
    else
        notice(a, "not connected: the line will be sent once connected");
}

static void say(struct chat_app *a, const char *text, bool me)
{
    say_reply(a, text, me, 0);
}

/* /edit and /delete (#16): an edit (text != NULL) or a deletion of seq
 * in the current room. Not kept for a resend: a lost one is reported. */
static void send_change(struct chat_app *a, int64_t seq, const char *text)
{
    struct req *q = NULL;
    struct pl_buf b;
    char *data = NULL;

    if (text != NULL && (data = text_data(a, text, false)) == NULL)
        return;
    q = req_add(a, REQ_EDIT, a->current->topic);
    if (q == NULL) {
        free(data);
        return;
    }
    q->id = session_next_id(a->s);
    pl_buf_init(&b, 256 + (data != NULL ? strlen(data) : 0));
    pl_frame_begin(&b, text != NULL ? "edit" : "delete");
    pl_frame_id(&b, q->id);
    pl_frame_kv_str(&b, "topic", a->current->topic);
    pl_frame_kv_int(&b, "seq", seq);
    if (data != NULL)
        pl_frame_kv_raw(&b, "data", data, strlen(data));
    pl_frame_end(&b);
    req_send(a, &b);
    pl_buf_cleanup(&b);
    free(data);
}

/* /search QUERY over every room, the 20 newest matches. */
static void send_search(struct chat_app *a, const char *query)
{
    struct req *q = req_add(a, REQ_SEARCH, CHAT_TOPIC_PREFIX "#");
    struct pl_buf b;

    if (q == NULL)
        return;
    q->id = session_next_id(a->s);
    pl_buf_init(&b, 256 + strlen(query));
    pl_frame_begin(&b, "search");
    pl_frame_id(&b, q->id);
    pl_frame_kv_str(&b, "topic", CHAT_TOPIC_PREFIX "#");
    pl_frame_kv_str(&b, "q", query);
    pl_frame_end(&b);
    req_send(a, &b);
    pl_buf_cleanup(&b);
}

/* ------------------------------------------------------------------ */
/* replies and pushes                                                   */
/* ------------------------------------------------------------------ */

static void on_sub_reply(struct chat_app *a, struct req *q, const cJSON *root,
                         bool ok)
{
    struct room *r = room_by_topic(a, q->topic);
    char text[512];
    int64_t seq = 0;
    int64_t missed = 0;

    if (r == NULL)
        return;     /* left meanwhile */
    if (!ok) {
        warn(a, "cannot join #%s: %s", r->name,
             cli_error_text(root, text, sizeof(text)));
        if (!r->ever)
            room_remove(a, r);
        return;
    }
    r->active = true;
    cli_json_int(root, "seq", &seq);
    if (!r->ever) {
        r->ever = true;
        r->last = seq > a->history ? seq - a->history : 0;
    } else {
        missed = seq - r->since_sent;
        if (cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(root,
                                                           "recovered")))
            notice(a, "#%s: back; some missed messages are no longer "
                   "stored", r->name);
        else if (missed > 0)
            notice(a, "#%s: back; catching up on %lld missed message%s",
                   r->name, (long long)missed, missed == 1 ? "" : "s");
        else
            notice(a, "#%s: back; no messages missed", r->name);
    }
    if (r->announce) {
        r->announce = false;
        send_simple(a, REQ_PRESENCE, "presence", r->topic, 0, true);
    }
}

static void on_presence(struct chat_app *a, struct req *q, const cJSON *root)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(root, "members");
    const cJSON *it = NULL;
    const char *room = q->topic + strlen(CHAT_TOPIC_PREFIX);
    char list[2048];
    size_t len = 0;
    int n = 0;

    list[0] = '\0';
    cJSON_ArrayForEach(it, m) {
        if (!cJSON_IsString(it))
            continue;
        len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s",
                                n ? ", " : "", it->valuestring);
        if (len >= sizeof(list))
            len = sizeof(list) - 1;
        n++;
    }
    if (q->quiet)
        notice(a, "joined #%s; here: %s", room, n ? list : "nobody");
    else
        notice(a, "#%s: %d here: %s", room, n, n ? list : "nobody");
}

static void on_topics(struct chat_app *a, const cJSON *root)
{
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(root, "topics");
    const cJSON *it = NULL;
    const char *t = NULL;
    int64_t seq = 0;
    int64_t members = 0;
    int n = 0;

    notice(a, "rooms:");
    cJSON_ArrayForEach(it, list) {
        t = cli_json_str(it, "topic");
        if (t == NULL || strncmp(t, CHAT_TOPIC_PREFIX,
                                 strlen(CHAT_TOPIC_PREFIX)) != 0)
            continue;
        seq = 0;
        members = 0;
        cli_json_int(it, "seq", &seq);
        cli_json_int(it, "members", &members);
        chat_out(a, "    #%-20s %3lld here, %lld messages%s",
                 t + strlen(CHAT_TOPIC_PREFIX), (long long)members,
                 (long long)seq, room_by_topic(a, t) ? "  (joined)" : "");
        n++;
    }
    if (n == 0)
        chat_out(a, "    (none yet: /join ROOM creates one)");
}

static void on_history(struct chat_app *a, struct req *q, const cJSON *root)
{
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(root, "messages");
    const cJSON *it = NULL;
    const char *room = q->topic + strlen(CHAT_TOPIC_PREFIX);
    int n = cJSON_GetArraySize(list);

    notice(a, "#%s: last %d message%s", room, n, n == 1 ? "" : "s");
    cJSON_ArrayForEach(it, list)
        show_message(a, room, it);
    notice(a, "end of history");
}

/* Search results: newest first, each under its room. */
static void on_search(struct chat_app *a, const cJSON *root)
{
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(root, "messages");
    const cJSON *it = NULL;
    int n = cJSON_GetArraySize(list);

    notice(a, "search: %d match%s, newest first", n, n == 1 ? "" : "es");
    cJSON_ArrayForEach(it, list) {
        const char *t = cli_json_str(it, "topic");

        if (t != NULL && strncmp(t, CHAT_TOPIC_PREFIX,
                                 strlen(CHAT_TOPIC_PREFIX)) == 0)
            t += strlen(CHAT_TOPIC_PREFIX);
        chat_out(a, "  %s#%s%s", col(a, C_CYAN), t != NULL ? t : "?",
                 col(a, C_RESET));
        show_message(a, NULL, it);
    }
    notice(a, "end of search");
}

static void on_reply(struct chat_app *a, int64_t id, const cJSON *root,
                     bool ok)
{
    struct req *q = req_take(a, id);
    char text[512];

    if (q == NULL) {
        if (!ok)
            warn(a, "server: %s", cli_error_text(root, text, sizeof(text)));
        return;
    }
    if (q->kind == REQ_SUB) {
        on_sub_reply(a, q, root, ok);
    } else if (!ok) {
        cli_error_text(root, text, sizeof(text));
        if (q->kind == REQ_PUB)
            warn(a, "not sent: %s", text);
        else if (q->kind == REQ_EDIT)
            warn(a, "not changed: %s", text);
        else
            warn(a, "%s", text);
    } else if (q->kind == REQ_PRESENCE) {
        on_presence(a, q, root);
    } else if (q->kind == REQ_TOPICS) {
        on_topics(a, root);
    } else if (q->kind == REQ_HISTORY) {
        on_history(a, q, root);
    } else if (q->kind == REQ_SEARCH) {
        on_search(a, root);
    } else if (q->kind == REQ_PUB) {
        struct room *r = room_by_topic(a, q->topic);

        if (r != NULL)
            cli_json_int(root, "seq", &r->mine);
    }
    req_free(q);
    if (a->quitting && a->reqs == NULL)
        session_finish(a->s, CLI_EXIT_OK);
}

static void on_msg(struct chat_app *a, const cJSON *root)
{
    const char *topic = cli_json_str(root, "topic");
    struct room *r = topic != NULL ? room_by_topic(a, topic) : NULL;
    int64_t seq = 0;

    if (r == NULL || cli_json_int(root, "seq", &seq) < 0)
        return;
    if (!cli_json_true(root, "retained")) {
        if (seq <= r->last)
            return;     /* shown already */
        r->last = seq;
    }
    show_message(a, r->name, root);
}

static void on_presence_push(struct chat_app *a, const cJSON *root, bool join)
{
    const char *topic = cli_json_str(root, "topic");
    const char *user = cli_json_str(root, "user");
    struct room *r = topic != NULL ? room_by_topic(a, topic) : NULL;
    char when[16];

    if (r == NULL || user == NULL)
        return;
    fmt_time(cli_now_ms(), when, sizeof(when));
    chat_out(a, "%s[%s] %s %s %s #%s%s", col(a, C_DIM), when,
             join ? "-->" : "<--", user, join ? "joined" : "left", r->name,
             col(a, C_RESET));
}

static void chat_frame(struct session *s, void *user, const cJSON *root,
                       const char *op, int64_t id)
{
    struct chat_app *a = user;

    (void)s;
    if (strcmp(op, "msg") == 0)
        on_msg(a, root);
    else if (strcmp(op, "join") == 0)
        on_presence_push(a, root, true);
    else if (strcmp(op, "leave") == 0)
        on_presence_push(a, root, false);
    else if (strcmp(op, "ok") == 0)
        on_reply(a, id, root, true);
    else if (strcmp(op, "error") == 0)
        on_reply(a, id, root, false);
}

static void chat_ready(struct session *s, void *user, unsigned again)
{
    struct chat_app *a = user;
    struct room *r = NULL;
    struct req *q = NULL;

    if (again == 0)
        notice(a, "connected to %s as %s", session_url(s),
               session_user(s)[0] ? session_user(s) : "(anonymous)");
    else
        notice(a, "reconnected");
    for (r = a->rooms; r != NULL; r = r->next)
        send_sub(a, r);
    if (again == 0 && !a->tty_in && session_watch_stdin(s) < 0) {
        warn(a, "cannot poll stdin");
        session_stop(s, CLI_EXIT_FAIL);
        return;
    }
    /* Lines not acknowledged yet (id 0 after a loss): send them again;
     * their keys make the server store each one once. */
    for (q = a->reqs; q != NULL; q = q->next)
        if (q->kind == REQ_PUB && q->id == 0)
            send_pub_req(a, q);
}

/* Drops every request of the lost connection except the pubs. */
static void drop_requests(struct chat_app *a)
{
    struct req **p = &a->reqs;
    struct req *q = NULL;
    struct room *r = NULL;

    while (*p != NULL) {
        q = *p;
        if (q->kind == REQ_PUB) {
            q->id = 0;
            p = &q->next;
            continue;
        }
        *p = q->next;
        req_free(q);
    }
    for (r = a->rooms; r != NULL; r = r->next)
        r->active = false;
}

static void chat_down(struct session *s, void *user, const char *why,
                      int64_t retry_ms)
{
    struct chat_app *a = user;

    drop_requests(a);
    if (a->quitting) {
        session_stop(s, CLI_EXIT_OK);
        return;
    }
    if (retry_ms < 0) {
        warn(a, "%s: %s", session_url(s), why);
        session_stop(s, CLI_EXIT_FAIL);
        return;
    }
    if (session_retries(s) == 0)
        notice(a, "disconnected (%s); reconnecting in %.1fs", why,
               (double)retry_ms / 1000.0);
    else
        notice(a, "reconnection failed (%s); retrying in %.1fs", why,
               (double)retry_ms / 1000.0);
}

/* ------------------------------------------------------------------ */
/* commands                                                             */
/* ------------------------------------------------------------------ */

#define CHAT_QUIT_WAIT_MS 3000

static void quit_expired(struct wsclient *ws, void *arg)
{
    struct chat_app *a = arg;

    (void)ws;
    warn(a, "no answer from the server; quitting anyway");
    session_finish(a->s, CLI_EXIT_FAIL);
}

/* Quits once the lines sent so far are acknowledged (bounded wait). */
static void quit(struct chat_app *a)
{
    struct req *q = NULL;
    int pending = 0;

    if (a->quitting)
        return;
    a->quitting = true;
    wsclient_unwatch_fd(session_ws(a->s));
    wsclient_after(session_ws(a->s), &a->quit_timer, CHAT_QUIT_WAIT_MS,
                   quit_expired, a);
    for (q = a->reqs; q != NULL; q = q->next)
        pending += q->kind == REQ_PUB;
    if (pending == 0 || !session_is_ready(a->s)) {
        if (pending > 0)
            warn(a, "%d line%s not sent", pending, pending == 1 ? "" : "s");
        session_finish(a->s, CLI_EXIT_OK);
    }
}

static bool valid_room(const char *name)
{
    char topic[PL_TOPIC_MAX + 8];
    int n = snprintf(topic, sizeof(topic), CHAT_TOPIC_PREFIX "%s", name);

    return name[0] != '\0' && n > 0 && (size_t)n < sizeof(topic) &&
           pl_topic_validate(topic, (size_t)n, false) == PL_OK;
}

static void cmd_join(struct chat_app *a, const char *name)
{
    struct room *r = NULL;
    struct room **tail = &a->rooms;

    if (name[0] == '#')
        name++;
    if (!valid_room(name)) {
        warn(a, "not a valid room name: '%s'", name);
        return;
    }
    r = room_find(a, name);
    if (r != NULL) {
        a->current = r;
        update_prompt(a);
        notice(a, "now talking in #%s", r->name);
        return;
    }
    r = calloc(1, sizeof(*r));
    if (r == NULL)
        return;
    r->name = strdup(name);
    r->topic = malloc(strlen(name) + sizeof(CHAT_TOPIC_PREFIX));
    if (r->name == NULL || r->topic == NULL) {
        room_free(r);
        return;
    }
    snprintf(r->topic, strlen(name) + sizeof(CHAT_TOPIC_PREFIX),
             CHAT_TOPIC_PREFIX "%s", name);
    r->announce = true;
    while (*tail != NULL)
        tail = &(*tail)->next;
    *tail = r;
    a->current = r;
    update_prompt(a);
    if (session_is_ready(a->s))
        send_sub(a, r);
}

static void cmd_leave(struct chat_app *a, const char *name)
{
    struct room *r = NULL;
    struct pl_buf b;

    if (name[0] == '#')
        name++;
    r = name[0] ? room_find(a, name) : a->current;
    if (r == NULL) {
        warn(a, "you are not in %s%s", name[0] ? "#" : "any room", name);
        return;
    }
    if (session_is_ready(a->s)) {
        pl_buf_init(&b, 128);
        pl_frame_begin(&b, "unsub");
        pl_frame_kv_str(&b, "topic", r->topic);
        pl_frame_end(&b);
        req_send(a, &b);
        pl_buf_cleanup(&b);
    }
    notice(a, "left #%s", r->name);
    room_remove(a, r);
    if (a->current == NULL)
        notice(a, "you are in no room: /join ROOM");
}

static bool need_connection(struct chat_app *a)
{
    if (session_is_ready(a->s))
        return true;
    warn(a, "not connected (reconnecting); try again in a moment");
    return false;
}

/* A leading seq of arg ("42 rest"): its value in *seq and the rest after
 * the blanks, or NULL when arg does not start with one. */
static const char *seq_arg(const char *arg, int64_t *seq)
{
    char num[24];
    size_t n = strspn(arg, "0123456789");

    if (n == 0 || n >= sizeof(num) || (arg[n] != '\0' && arg[n] != ' '))
        return NULL;
    memcpy(num, arg, n);
    num[n] = '\0';
    if (cli_parse_int(num, 1, PL_ID_MAX, seq) < 0)
        return NULL;
    arg += n;
    while (*arg == ' ' || *arg == '\t')
        arg++;
    return arg;
}

/* /edit [SEQ] TEXT and /delete [SEQ]: without SEQ, my newest line in the
 * current room. */
static void cmd_change(struct chat_app *a, bool edit, const char *arg)
{
    int64_t seq = 0;
    const char *rest = seq_arg(arg, &seq);

    if (a->current == NULL) {
        warn(a, "you are in no room");
        return;
    }
    if (rest == NULL) {
        rest = arg;
        seq = a->current->mine;
    }
    if (seq <= 0) {
        warn(a, "no line of yours here yet: say which, /%s SEQ",
             edit ? "edit" : "delete");
        return;
    }
    if (edit && rest[0] == '\0') {
        warn(a, "usage: /edit [SEQ] TEXT");
        return;
    }
    if (need_connection(a))
        send_change(a, seq, edit ? rest : NULL);
}

static void run_command(struct chat_app *a, const char *line)
{
    char cmd[32];
    const char *arg = NULL;
    size_t n = strcspn(line + 1, " \t");
    int64_t limit = 20;

    if (n >= sizeof(cmd))
        n = sizeof(cmd) - 1;
    memcpy(cmd, line + 1, n);
    cmd[n] = '\0';
    arg = line + 1 + strcspn(line + 1, " \t");
    while (*arg == ' ' || *arg == '\t')
        arg++;

    if (strcmp(cmd, "quit") == 0 || strcmp(cmd, "exit") == 0) {
        quit(a);
    } else if (strcmp(cmd, "help") == 0) {
        notice(a, "%s", chat_help_text);
    } else if (strcmp(cmd, "join") == 0) {
        if (arg[0] == '\0')
            warn(a, "usage: /join ROOM");
        else
            cmd_join(a, arg);
    } else if (strcmp(cmd, "leave") == 0 || strcmp(cmd, "part") == 0) {
        cmd_leave(a, arg);
    } else if (strcmp(cmd, "me") == 0) {
        if (arg[0] == '\0')
            warn(a, "usage: /me ACTION");
        else
            say(a, arg, true);
    } else if (strcmp(cmd, "rooms") == 0) {
        if (need_connection(a))
            send_simple(a, REQ_TOPICS, "topics", CHAT_TOPIC_PREFIX, 0, false);
    } else if (strcmp(cmd, "who") == 0 || strcmp(cmd, "names") == 0) {
        struct room *r = arg[0] ? room_find(a, arg[0] == '#' ? arg + 1 : arg)
                                : a->current;
        if (r == NULL)
            warn(a, "not in that room (try /join)");
        else if (need_connection(a))
            send_simple(a, REQ_PRESENCE, "presence", r->topic, 0, false);
    } else if (strcmp(cmd, "history") == 0) {
        if (arg[0] != '\0' && cli_parse_int(arg, 1, 1000, &limit) < 0)
            warn(a, "usage: /history [N] (1 to 1000)");
        else if (a->current == NULL)
            warn(a, "you are in no room");
        else if (need_connection(a))
            send_simple(a, REQ_HISTORY, "history", a->current->topic, limit,
                        false);
    } else if (strcmp(cmd, "edit") == 0 || strcmp(cmd, "delete") == 0) {
        cmd_change(a, cmd[0] == 'e', arg);
    } else if (strcmp(cmd, "reply") == 0) {
        int64_t seq = 0;
        const char *text = seq_arg(arg, &seq);

        if (text == NULL || text[0] == '\0')
            warn(a, "usage: /reply SEQ TEXT");
        else
            say_reply(a, text, false, seq);
    } else if (strcmp(cmd, "search") == 0) {
        if (arg[0] == '\0')
            warn(a, "usage: /search QUERY");
        else if (need_connection(a))
            send_search(a, arg);
    } else {
        warn(a, "unknown command /%s (/help lists them)", cmd);
    }
}


/* One line typed by the user (NUL-terminated, no newline). */
static void handle_line(struct chat_app *a, const char *line)
{
    size_t n = strlen(line);

    while (n > 0 && (line[n - 1] == '\r' || line[n - 1] == ' '))
        n--;
    if (n == 0)
        return;
    if (line[0] == '/' && line[1] == '/')
        say(a, line + 1, false);
    else if (line[0] == '/')
        run_command(a, line);
    else
        say(a, line, false);
}

/*
 * Erases the line the user just typed (libedit echoed it and moved to the
 * next row): the message comes back from the server with time and
 * sender, and only then is it on screen.
 */
static void erase_typed(struct chat_app *a, const char *line)
{
    struct winsize ws;
    size_t chars = strlen(a->prompt);
    size_t rows = 1;
    const unsigned char *p = (const unsigned char *)line;

    for (; *p != '\0'; p++)
        chars += (*p & 0xc0) != 0x80;   /* code points, roughly columns */
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        rows = chars / ws.ws_col + 1;
    while (rows-- > 0)
        fputs("\033[A\r\033[K", stdout);
    fflush(stdout);
}

/* readline's line callback: NULL at end of input (Ctrl-D). */
static void rl_line(char *line)
{
    struct chat_app *a = chat_the;

    if (line == NULL) {
        fputs("\n", stdout);
        quit(a);
        return;
    }
    if (line[0] != '\0')
        add_history(line);
    if (line[0] != '\0' && (line[0] != '/' || line[1] == '/'))
        erase_typed(a, line);
    handle_line(a, line);
    free(line);
    /* libedit leaves the finished line in its buffer and the editor in
     * buffered mode; installing the handler again empties the line,
     * returns to unbuffered (per-character) reading and shows the
     * prompt. */
    if (a->editor_on && !a->quitting)
        rl_callback_handler_install(a->prompt, rl_line);
}

/* Non-terminal stdin: split what arrives into lines. */
static int plain_input(struct chat_app *a, int fd)
{
    char chunk[4096];
    ssize_t n = read(fd, chunk, sizeof(chunk));
    char *p = NULL;
    char *nl = NULL;
    size_t start = 0;

    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return 0;
    if (n <= 0) {
        if (a->inlen > 0) {
            p = realloc(a->inbuf, a->inlen + 1);
            if (p != NULL) {
                a->inbuf = p;
                a->inbuf[a->inlen] = '\0';
                handle_line(a, a->inbuf);
            }
            a->inlen = 0;
        }
        quit(a);
        return -1;
    }
    if (a->inlen + (size_t)n + 1 > a->incap) {
        p = realloc(a->inbuf, a->inlen + (size_t)n + 1);
        if (p == NULL)
            return -1;
        a->inbuf = p;
        a->incap = a->inlen + (size_t)n + 1;
    }
    memcpy(a->inbuf + a->inlen, chunk, (size_t)n);
    a->inlen += (size_t)n;
    while ((nl = memchr(a->inbuf + start, '\n', a->inlen - start)) != NULL) {
        *nl = '\0';
        handle_line(a, a->inbuf + start);
        start = (size_t)(nl - a->inbuf) + 1;
    }
    memmove(a->inbuf, a->inbuf + start, a->inlen - start);
    a->inlen -= start;
    return 0;
}

static int chat_input(struct session *s, void *user, int fd)
{
    struct chat_app *a = user;
    int n = 0;

    (void)s;
    if (fd < 0 && !a->tty_in) {
        /* The writer left: read the rest (cannot block), then quit. */
        for (n = 0; n < 100000; n++)
            if (plain_input(a, STDIN_FILENO) < 0)
                break;
        return -1;
    }
    if (fd < 0) {
        quit(a);                /* the terminal went away */
        return -1;
    }
    if (!a->tty_in)
        return plain_input(a, fd);
    rl_callback_read_char();
    return 0;
}

static void chat_signal(struct session *s, void *user, int signo)
{
    struct chat_app *a = user;

    (void)signo;
    if (a->quitting) {
        session_stop(s, CLI_EXIT_OK);
        return;
    }
    quit(a);
}

static const struct session_ops chat_ops = {
    .ready = chat_ready,
    .frame = chat_frame,
    .down = chat_down,
    .input = chat_input,
    .signal = chat_signal,
};

enum { OPT_ROOM = 256, OPT_HISTORY };

static const struct option chat_options[] = {
    { "name", required_argument, NULL, CLI_OPT_NAME },
    { "room", required_argument, NULL, OPT_ROOM },
    { "history", required_argument, NULL, OPT_HISTORY },
    { "token", required_argument, NULL, CLI_OPT_TOKEN },
    { "insecure", no_argument, NULL, 'k' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};

static int chat_parse(struct chat_app *a, int argc, char **argv,
                      const char **room, int *status)
{
    int c = 0;

    *status = CLI_EXIT_USAGE;
    while ((c = getopt_long(argc, argv, "kh", chat_options, NULL)) != -1) {
        switch (c) {
        case OPT_ROOM:
            *room = optarg[0] == '#' ? optarg + 1 : optarg;
            break;
        case OPT_HISTORY:
            if (cli_parse_int(optarg, 0, 1000, &a->history) < 0) {
                cli_err("--history wants 0 to 1000");
                return -1;
            }
            break;
        case 'h':
            fputs(chat_usage, stdout);
            *status = CLI_EXIT_OK;
            return -1;
        default:
            if (cli_common_option(&a->co, c, optarg))
                break;
            fputs(chat_usage, stderr);
            return -1;
        }
    }
    if (optind < argc && cli_is_url(argv[optind]))
        a->co.url = argv[optind++];
    if (optind < argc) {
        cli_err("chat: unexpected argument '%s'", argv[optind]);
        return -1;
    }
    if (a->co.name == NULL)
        a->co.name = getenv("USER");
    if (a->co.token == NULL && (a->co.name == NULL || a->co.name[0] == '\0'
                                || strlen(a->co.name) > PL_NAME_MAX)) {
        cli_err("chat needs --name NAME (1 to %d bytes)", PL_NAME_MAX);
        return -1;
    }
    if (!valid_room(*room)) {
        cli_err("not a valid room name: '%s'", *room);
        return -1;
    }
    return 0;
}

static void chat_cleanup(struct chat_app *a)
{
    struct room *r = NULL;
    struct req *q = NULL;

    while ((r = a->rooms) != NULL) {
        a->rooms = r->next;
        room_free(r);
    }
    while ((q = a->reqs) != NULL) {
        a->reqs = q->next;
        req_free(q);
    }
    free(a->inbuf);
}

int chat_main(int argc, char **argv)
{
    struct chat_app a;
    struct session_cfg cfg;
    const char *why = NULL;
    const char *room = "general";
    const char *term = getenv("TERM");
    int status = CLI_EXIT_FAIL;

    memset(&a, 0, sizeof(a));
    cli_common_init(&a.co);
    a.history = CHAT_HISTORY_DEFAULT;
    if (chat_parse(&a, argc, argv, &room, &status) < 0)
        goto out;
    status = CLI_EXIT_FAIL;
    a.tty_in = isatty(STDIN_FILENO) == 1;
    a.color = isatty(STDOUT_FILENO) == 1 && getenv("NO_COLOR") == NULL &&
              (term == NULL || strcmp(term, "dumb") != 0);
    snprintf(a.key_prefix, sizeof(a.key_prefix), "cli-%lx-%lx",
             (unsigned long)cli_now_ms(), (unsigned long)getpid());
    chat_the = &a;

    memset(&cfg, 0, sizeof(cfg));
    cfg.url = a.co.url;
    cfg.token = a.co.token;
    cfg.name = a.co.name;
    cfg.insecure = a.co.insecure;
    cfg.reconnect = true;
    cfg.ops = &chat_ops;
    cfg.user = &a;
    if (session_new(&cfg, &a.s, &why) < 0) {
        cli_err("%s: %s", a.co.url, why);
        goto out;
    }
    cmd_join(&a, room);
    if (a.tty_in) {
        rl_readline_name = "parley";
        rl_callback_handler_install(a.prompt, rl_line);
        a.editor_on = true;
    }
    /* A terminal is read at once (lines typed early wait for the
     * connection); piped input only once connected. */
    if (a.tty_in && session_watch_stdin(a.s) < 0) {
        cli_err("cannot poll stdin");
        goto out;
    }
    session_start(a.s);
    status = session_run(a.s);
out:
    if (a.editor_on) {
        rl_callback_handler_remove();
        a.editor_on = false;
        fputs("\r\033[K", stdout);
        fflush(stdout);
    }
    session_free(&a.s);
    chat_cleanup(&a);
    chat_the = NULL;
    return status;
}
