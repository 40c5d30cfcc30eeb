/*
 * main.c: parley-bench's front end: options, the target URL (loopback
 * only), the file-descriptor limit, and the reports (a table for people,
 * one JSON line per measurement for scripts). The workloads live in
 * scenario.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "bench.h"

enum {
    OPT_URL = 256, OPT_PUB_URL, OPT_SERVER_PID, OPT_LABEL, OPT_SUBS, OPT_PUBS, OPT_RATE,
    OPT_SIZE, OPT_TOPIC, OPT_CONNS, OPT_WINDOW, OPT_MISSED, OPT_EXTRA_SUBS,
    OPT_ACK, OPT_DURATION, OPT_COUNT, OPT_DRAIN, OPT_TIMEOUT, OPT_HOLD,
    OPT_FIND_MAX, OPT_MAX_P99, OPT_START_RATE, OPT_MAX_RATE, OPT_TRIAL,
    OPT_BISECT, OPT_JSON, OPT_JSON_OUT, OPT_KILL_SUBS, OPT_CONCURRENCY,
    OPT_TAG, OPT_TOPICS, OPT_MATCH, OPT_HELP,
};

static const struct option main_options[] = {
    { "url", required_argument, NULL, OPT_URL },
    { "pub-url", required_argument, NULL, OPT_PUB_URL },
    { "server-pid", required_argument, NULL, OPT_SERVER_PID },
    { "label", required_argument, NULL, OPT_LABEL },
    { "subs", required_argument, NULL, OPT_SUBS },
    { "pubs", required_argument, NULL, OPT_PUBS },
    { "sensors", required_argument, NULL, OPT_PUBS },
    { "clients", required_argument, NULL, OPT_SUBS },
    { "rate", required_argument, NULL, OPT_RATE },
    { "size", required_argument, NULL, OPT_SIZE },
    { "topic", required_argument, NULL, OPT_TOPIC },
    { "conns", required_argument, NULL, OPT_CONNS },
    { "window", required_argument, NULL, OPT_WINDOW },
    { "missed", required_argument, NULL, OPT_MISSED },
    { "topics", required_argument, NULL, OPT_TOPICS },
    { "match", required_argument, NULL, OPT_MATCH },
    { "extra-subs", required_argument, NULL, OPT_EXTRA_SUBS },
    { "ack", no_argument, NULL, OPT_ACK },
    { "duration", required_argument, NULL, OPT_DURATION },
    { "count", required_argument, NULL, OPT_COUNT },
    { "drain", required_argument, NULL, OPT_DRAIN },
    { "timeout", required_argument, NULL, OPT_TIMEOUT },
    { "hold", required_argument, NULL, OPT_HOLD },
    { "find-max", no_argument, NULL, OPT_FIND_MAX },
    { "max-p99", required_argument, NULL, OPT_MAX_P99 },
    { "start-rate", required_argument, NULL, OPT_START_RATE },
    { "max-rate", required_argument, NULL, OPT_MAX_RATE },
    { "trial", required_argument, NULL, OPT_TRIAL },
    { "bisect", required_argument, NULL, OPT_BISECT },
    { "json", no_argument, NULL, OPT_JSON },
    { "json-out", required_argument, NULL, OPT_JSON_OUT },
    { "kill-subs", required_argument, NULL, OPT_KILL_SUBS },
    { "concurrency", required_argument, NULL, OPT_CONCURRENCY },
    { "tag", required_argument, NULL, OPT_TAG },
    { "help", no_argument, NULL, OPT_HELP },
    { NULL, 0, NULL, 0 },
};

static const char main_usage[] =
"Usage: parley-bench SCENARIO [options]\n"
"\n"
"Load generator for Parley (protocol parley.v1) and compatible servers.\n"
"Loopback only: run it on the server's machine.\n"
"\n"
"Scenarios:\n"
"  fanout   --subs S subscribers on one topic, --pubs P publishers\n"
"           publishing --rate R messages/s in all\n"
"  fanin    --sensors P publishers on TOPIC/<i>, --subs K on TOPIC/#\n"
"  conns    --conns C idle connections; the server's RSS per connection\n"
"           (needs --server-pid)\n"
"  durable  --pubs P publishers with ids, --window W unacknowledged each:\n"
"           acknowledged publishes/s and ack latency; with --rate R,\n"
"           R publishes/s in all whatever the replies (open loop)\n"
"  recover  --clients N subscribers leave, --missed M messages are\n"
"           published, all N reconnect at once with since\n"
"  patsub   the server learns --topics N topics sensors/room<r>/<i> and\n"
"           --match K sensors/kitchen/<i> (--pubs P connections, --window W\n"
"           each), then --count R times: sub sensors/kitchen/+ with\n"
"           history 1, all K back, unsub (latency per sub)\n"
"\n"
"Target:\n"
"  --url URL          ws://127.0.0.1:8080/ws (default)\n"
"  --pub-url URL      publishers connect here instead (fanout, fanin,\n"
"                     durable): e.g. another node of a cluster\n"
"  --server-pid PID   report the server's CPU use (and RSS for conns)\n"
"  --label NAME       the server's name in reports (default parley)\n"
"Load:\n"
"  --subs N --pubs N --rate R --size BYTES (size of `data`, default 100)\n"
"  --topic T          fanout bench/fanout, fanin sensors, durable\n"
"                     durable, recover bench/recover\n"
"  --conns C --window W --missed M\n"
"  --extra-subs N     first subscribe N unrelated topics (1000 per conn)\n"
"  --ack              fanout/fanin publishes carry ids (replies counted)\n"
"Time and count (every run is bounded):\n"
"  --duration S       seconds of publishing (default 5)\n"
"  --count N          publish at most N messages\n"
"  --drain S          wait at most S seconds for late deliveries (2)\n"
"  --hold S           conns: seconds idle before reading RSS (1)\n"
"  --timeout S        hard limit for the whole run (default 300)\n"
"Find the highest clean rate (fanout, fanin):\n"
"  --find-max         double the rate from --start-rate (1000), then\n"
"                     bisect (--bisect 4 steps), --trial S each (2); a\n"
"                     trial passes with nothing lost, no errors and\n"
"                     p99 < --max-p99 MS (50); one that fails on p99\n"
"                     alone is repeated once\n"
"  --max-rate R       stop doubling here (10000000)\n"
"Output:\n"
"  --json             JSON lines only (no table)\n"
"  --json-out FILE    also append the JSON lines to FILE\n"
"  --tag TEXT         copied into each JSON line as \"tag\" (for scripts)\n"
"Other:\n"
"  --concurrency N    handshakes in flight while connecting (256)\n"
"  --kill-subs K      self-test: close K subscribers halfway (loss must\n"
"                     be reported)\n"
"\n"
"Exit status: 0 clean, 1 something lost or refused, 2 usage, 3 setup\n"
"failure or timeout.\n";

static int main_parse_url(struct net_target *t, const char *url)
{
    char host[256];
    const char *p = NULL;
    const char *hend = NULL;
    const char *path = NULL;
    long port = 80;
    char *end = NULL;
    struct sockaddr_in *a4 = (struct sockaddr_in *)&t->addr;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&t->addr;

    if (strncmp(url, "ws://", 5) != 0) {
        fprintf(stderr, "parley-bench: --url must start with ws://\n");
        return -1;
    }
    p = url + 5;
    if (*p == '[') {
        hend = strchr(p, ']');
        if (hend == NULL)
            return -1;
        snprintf(host, sizeof(host), "%.*s", (int)(hend - p - 1), p + 1);
        hend++;
    } else {
        hend = p + strcspn(p, ":/");
        snprintf(host, sizeof(host), "%.*s", (int)(hend - p), p);
    }
    if (*hend == ':') {
        port = strtol(hend + 1, &end, 10);
        if (end == hend + 1 || port < 1 || port > 65535)
            return -1;
        path = end;
    } else {
        path = hend;
    }
    snprintf(t->path, sizeof(t->path), "%s", *path ? path : "/");
    memset(&t->addr, 0, sizeof(t->addr));
    if (strcmp(host, "localhost") == 0)
        snprintf(host, sizeof(host), "127.0.0.1");
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        t->addrlen = sizeof(*a4);
        if ((ntohl(a4->sin_addr.s_addr) >> 24) != 127)
            goto not_loopback;
        snprintf(t->host, sizeof(t->host), "%s:%ld", host, port);
    } else if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        t->addrlen = sizeof(*a6);
        if (!IN6_IS_ADDR_LOOPBACK(&a6->sin6_addr))
            goto not_loopback;
        snprintf(t->host, sizeof(t->host), "[%s]:%ld", host, port);
    } else {
        fprintf(stderr, "parley-bench: --url host must be a loopback "
                "address (127.0.0.1, localhost, [::1])\n");
        return -1;
    }
    return 0;
not_loopback:
    fprintf(stderr, "parley-bench: %s is not a loopback address; "
            "parley-bench only loads servers on this machine\n", host);
    return -1;
}

static int main_num(const char *flag, const char *s, double min, double max,
                    double *out)
{
    char *end = NULL;
    double v = 0;

    errno = 0;
    v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !(v >= min && v <= max)) {
        fprintf(stderr, "parley-bench: invalid value for --%s: '%s'\n",
                flag, s);
        return -1;
    }
    *out = v;
    return 0;
}

static void main_defaults(struct bench_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->label = "parley";
    o->duration = 5;
    o->drain = 2;
    o->timeout = 300;
    o->rate = 1000;
    o->size = 100;
    o->conns = 1000;
    o->hold = 1;
    o->missed = 1000;
    o->topics = 100000;
    o->match = 10;
    o->max_p99_ms = 50;
    o->start_rate = 1000;
    o->max_rate = 1e7;
    o->trial = 2;
    o->bisect = 4;
    o->concurrency = 256;
}

/* Scenario-dependent defaults for what the user did not set. */
static void main_scenario_defaults(struct bench_opts *o, bool subs_set,
                                   bool pubs_set, bool window_set)
{
    switch (o->scenario) {
    case SCEN_FANOUT:
        if (!subs_set)
            o->subs = 100;
        if (!pubs_set)
            o->pubs = 1;
        if (o->topic == NULL)
            o->topic = "bench/fanout";
        break;
    case SCEN_FANIN:
        if (!subs_set)
            o->subs = 1;
        if (!pubs_set)
            o->pubs = 100;
        if (o->topic == NULL)
            o->topic = "sensors";
        break;
    case SCEN_DURABLE:
        o->subs = 0;
        if (!pubs_set)
            o->pubs = 100;
        if (!window_set)
            o->window = 16;
        if (o->topic == NULL)
            o->topic = "durable";
        break;
    case SCEN_RECOVER:
        if (!subs_set)
            o->subs = 100;
        o->pubs = 1;
        if (!window_set)
            o->window = 64;
        if (o->topic == NULL)
            o->topic = "bench/recover";
        break;
    case SCEN_PATSUB:
        o->subs = 0;
        if (!pubs_set)
            o->pubs = 16;
        if (!window_set)
            o->window = 64;
        if (o->count == 0)
            o->count = 200;
        if (o->topic == NULL)
            o->topic = "sensors";
        break;
    case SCEN_CONNS:
        o->subs = o->pubs = 0;
        if (o->topic == NULL)
            o->topic = "-";
        break;
    }
}

/* Raise the open-files limit to the hard limit: one fd per connection. */
static void main_raise_nofile(uint32_t need)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur != RLIM_INFINITY && need + 32 > rl.rlim_cur)
        fprintf(stderr, "parley-bench: warning: %u connections need more "
                "file descriptors than the limit %llu (ulimit -Hn)\n", need,
                (unsigned long long)rl.rlim_cur);
}

static void main_json(FILE *f, const struct bench_opts *o,
                      const struct bench_result *r)
{
    fprintf(f, "{\"tool\":\"parley-bench\",\"scenario\":\"%s\","
            "\"server\":\"%s\",\"phase\":\"%s\",\"subs\":%u,\"pubs\":%u,"
            "\"size\":%u,\"extra_subs\":%" PRIu64 ",\"target_rate\":%.1f,"
            "\"pub_rate\":%.1f,\"seconds\":%.3f,\"sent\":%" PRIu64 ","
            "\"acked\":%" PRIu64 ",\"errors\":%" PRIu64 ","
            "\"expected\":%" PRIu64 ",\"delivered\":%" PRIu64 ","
            "\"lost\":%" PRIu64 ",\"dup\":%" PRIu64 ",\"closed\":%" PRIu64
            ",\"slow_closes\":%" PRIu64 ",\"deliveries_per_s\":%.1f,"
            "\"latency_samples\":%" PRIu64 ",\"p50_ms\":%.3f,"
            "\"p90_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f,"
            "\"mean_ms\":%.3f,\"server_cpu\":%.1f,\"gen_cpu\":%.1f",
            o->scenario_name, o->label, r->phase, o->subs, o->pubs, o->size,
            r->extra_subs, r->target_rate, r->pub_rate, r->seconds, r->sent,
            r->acked, r->errors, r->expected, r->delivered, r->lost, r->dup,
            r->closed, r->slow_closes, r->deliveries_per_s, r->n_lat,
            r->p50_ms, r->p90_ms, r->p99_ms, r->max_ms, r->mean_ms,
            r->server_cpu, r->gen_cpu);
    if (o->scenario == SCEN_CONNS)
        fprintf(f, ",\"conns\":%u,\"rss_before_kb\":%ld,"
                "\"rss_after_kb\":%ld,\"rss_closed_kb\":%ld,"
                "\"bytes_per_conn\":%.0f", o->conns, r->rss_before_kb,
                r->rss_after_kb, r->rss_closed_kb, r->bytes_per_conn);
    if (o->scenario == SCEN_DURABLE || o->scenario == SCEN_RECOVER)
        fprintf(f, ",\"window\":%u", o->window);
    if (o->scenario == SCEN_RECOVER)
        fprintf(f, ",\"missed\":%u", o->missed);
    if (o->scenario == SCEN_PATSUB)
        fprintf(f, ",\"topics\":%u,\"match\":%u", o->topics, o->match);
    if (r->still_arriving)
        fprintf(f, ",\"still_arriving\":true");
    if (r->limit != NULL)
        fprintf(f, ",\"limit\":\"%s\",\"max_p99\":%.1f", r->limit,
                o->max_p99_ms);
    if (r->first_error != NULL)
        fprintf(f, ",\"first_error\":\"%s\"", r->first_error);
    if (o->tag != NULL)
        fprintf(f, ",\"tag\":\"%s\"", o->tag);
    fprintf(f, "}\n");
    fflush(f);
}

static void main_table(const struct bench_opts *o,
                       const struct bench_result *r)
{
    static bool header;

    if (!header) {
        header = true;
        printf("parley-bench %s against %s: %u subscriber(s), %u "
               "publisher(s), %u-byte data%s\n", o->scenario_name, o->label,
               o->subs, o->pubs, o->size, o->extra_subs ?
               ", plus unrelated subscriptions" : "");
        if (o->scenario == SCEN_CONNS)
            printf("%-6s %8s %8s %6s %10s %10s %10s %9s %8s %8s\n",
                   "phase", "conns", "open", "lost", "rss-before",
                   "rss-after", "rss-closed", "B/conn", "p50-ms",
                   "p99-ms");
        else
            printf("%-6s %9s %9s %10s %11s %8s %11s %8s %8s %8s %8s "
                   "%5s %5s\n", "phase", "target/s", "sent/s", "sent",
                   "delivered", "lost", "deliv/s", "p50-ms", "p90-ms",
                   "p99-ms", "max-ms", "srv%", "gen%");
    }
    if (o->scenario == SCEN_CONNS) {
        printf("%-6s %8u %8" PRIu64 " %6" PRIu64 " %8ldkB %8ldkB %8ldkB "
               "%9.0f %8.2f %8.2f\n", r->phase, o->conns, r->delivered,
               r->lost, r->rss_before_kb, r->rss_after_kb, r->rss_closed_kb,
               r->bytes_per_conn, r->p50_ms, r->p99_ms);
    } else {
        printf("%-6s %9.0f %9.0f %10" PRIu64 " %11" PRIu64 " %8" PRIu64
               " %11.0f %8.3f %8.3f %8.3f %8.2f %5.0f %5.0f\n", r->phase,
               r->target_rate, r->pub_rate, r->sent, r->delivered, r->lost,
               r->deliveries_per_s, r->p50_ms, r->p90_ms, r->p99_ms,
               r->max_ms, r->server_cpu, r->gen_cpu);
    }
    if (r->still_arriving)
        printf("       the server was still delivering when --drain ran "
               "out: it is behind, the rest counts as lost\n");
    if (r->errors || r->dup || r->closed || r->first_error)
        printf("       errors %" PRIu64 " (first: %s), duplicates/reordered "
               "%" PRIu64 ", closed by server %" PRIu64 " (4008: %" PRIu64
               ")\n", r->errors, r->first_error ? r->first_error : "-",
               r->dup, r->closed, r->slow_closes);
    if (r->limit != NULL)
        printf("       highest clean rate %.0f msg/s; next step failed on: "
               "%s\n", r->target_rate, r->limit);
    fflush(stdout);
}

static FILE *main_json_file;

static void main_report(const struct bench_opts *o,
                        const struct bench_result *r)
{
    if (!o->quiet)
        main_table(o, r);
    main_json(stdout, o, r);
    if (main_json_file != NULL)
        main_json(main_json_file, o, r);
}

int main(int argc, char **argv)
{
    struct bench_opts o;
    bool subs_set = false;
    bool pubs_set = false;
    bool window_set = false;
    const char *url = "ws://127.0.0.1:8080/ws";
    const char *pub_url = NULL;
    double v = 0;
    int opt = 0;
    int rc = 0;

    main_defaults(&o);
    while ((opt = getopt_long(argc, argv, "h", main_options, NULL)) != -1) {
        const char *name = "?";
        int i;

        for (i = 0; main_options[i].name != NULL; i++)
            if (main_options[i].val == opt)
                name = main_options[i].name;
        switch (opt) {
        case OPT_URL:
            url = optarg;
            break;
        case OPT_PUB_URL:
            pub_url = optarg;
            break;
        case OPT_SERVER_PID:
            if (main_num(name, optarg, 1, 1 << 30, &v) < 0)
                return 2;
            o.server_pid = (pid_t)v;
            break;
        case OPT_LABEL:
            o.label = optarg;
            break;
        case OPT_SUBS:
            if (main_num(name, optarg, 0, 1e7, &v) < 0)
                return 2;
            o.subs = (uint32_t)v;
            subs_set = true;
            break;
        case OPT_PUBS:
            if (main_num(name, optarg, 1, 1e7, &v) < 0)
                return 2;
            o.pubs = (uint32_t)v;
            pubs_set = true;
            break;
        case OPT_RATE:
            if (main_num(name, optarg, 0.001, 1e9, &o.rate) < 0)
                return 2;
            o.rate_set = true;
            break;
        case OPT_SIZE:
            if (main_num(name, optarg, 0, 16 << 20, &v) < 0)
                return 2;
            o.size = (uint32_t)v;
            break;
        case OPT_TOPIC:
            o.topic = optarg;
            break;
        case OPT_CONNS:
            if (main_num(name, optarg, 1, 1e7, &v) < 0)
                return 2;
            o.conns = (uint32_t)v;
            break;
        case OPT_WINDOW:
            if (main_num(name, optarg, 1, 1 << 20, &v) < 0)
                return 2;
            o.window = (uint32_t)v;
            window_set = true;
            break;
        case OPT_MISSED:
            if (main_num(name, optarg, 1, 1e9, &v) < 0)
                return 2;
            o.missed = (uint32_t)v;
            break;
        case OPT_TOPICS:
            if (main_num(name, optarg, 0, 1e8, &v) < 0)
                return 2;
            o.topics = (uint32_t)v;
            break;
        case OPT_MATCH:
            if (main_num(name, optarg, 1, 1e6, &v) < 0)
                return 2;
            o.match = (uint32_t)v;
            break;
        case OPT_EXTRA_SUBS:
            if (main_num(name, optarg, 0, 1e8, &v) < 0)
                return 2;
            o.extra_subs = (uint32_t)v;
            break;
        case OPT_ACK:
            o.ack = true;
            break;
        case OPT_DURATION:
            if (main_num(name, optarg, 0.01, 86400, &o.duration) < 0)
                return 2;
            break;
        case OPT_COUNT:
            if (main_num(name, optarg, 1, 1e15, &v) < 0)
                return 2;
            o.count = (uint64_t)v;
            break;
        case OPT_DRAIN:
            if (main_num(name, optarg, 0, 3600, &o.drain) < 0)
                return 2;
            break;
        case OPT_TIMEOUT:
            if (main_num(name, optarg, 1, 86400, &o.timeout) < 0)
                return 2;
            break;
        case OPT_HOLD:
            if (main_num(name, optarg, 0, 3600, &o.hold) < 0)
                return 2;
            break;
        case OPT_FIND_MAX:
            o.find_max = true;
            break;
        case OPT_MAX_P99:
            if (main_num(name, optarg, 0.001, 1e6, &o.max_p99_ms) < 0)
                return 2;
            break;
        case OPT_START_RATE:
            if (main_num(name, optarg, 1, 1e9, &o.start_rate) < 0)
                return 2;
            break;
        case OPT_MAX_RATE:
            if (main_num(name, optarg, 1, 1e9, &o.max_rate) < 0)
                return 2;
            break;
        case OPT_TRIAL:
            if (main_num(name, optarg, 0.1, 3600, &o.trial) < 0)
                return 2;
            break;
        case OPT_BISECT:
            if (main_num(name, optarg, 0, 20, &v) < 0)
                return 2;
            o.bisect = (int)v;
            break;
        case OPT_JSON:
            o.quiet = true;
            break;
        case OPT_JSON_OUT:
            o.json_out = optarg;
            break;
        case OPT_TAG:
            o.tag = optarg;
            break;
        case OPT_KILL_SUBS:
            if (main_num(name, optarg, 0, 1e7, &v) < 0)
                return 2;
            o.kill_subs = (uint32_t)v;
            break;
        case OPT_CONCURRENCY:
            if (main_num(name, optarg, 1, 1e6, &v) < 0)
                return 2;
            o.concurrency = (uint32_t)v;
            break;
        case 'h':
        case OPT_HELP:
            fputs(main_usage, stdout);
            return 0;
        default:
            fputs(main_usage, stderr);
            return 2;
        }
    }
    if (optind != argc - 1) {
        fputs(main_usage, stderr);
        return 2;
    }
    o.scenario_name = argv[optind];
    if (strcmp(o.scenario_name, "fanout") == 0)
        o.scenario = SCEN_FANOUT;
    else if (strcmp(o.scenario_name, "fanin") == 0)
        o.scenario = SCEN_FANIN;
    else if (strcmp(o.scenario_name, "conns") == 0)
        o.scenario = SCEN_CONNS;
    else if (strcmp(o.scenario_name, "durable") == 0)
        o.scenario = SCEN_DURABLE;
    else if (strcmp(o.scenario_name, "recover") == 0)
        o.scenario = SCEN_RECOVER;
    else if (strcmp(o.scenario_name, "patsub") == 0)
        o.scenario = SCEN_PATSUB;
    if (o.scenario == 0) {
        fprintf(stderr, "parley-bench: unknown scenario '%s'\n",
                o.scenario_name);
        fputs(main_usage, stderr);
        return 2;
    }
    if (strpbrk(o.label, "\"\\") != NULL ||
        (o.tag != NULL && strpbrk(o.tag, "\"\\") != NULL)) {
        fprintf(stderr, "parley-bench: --label and --tag may not contain "
                "quotes or backslashes\n");
        return 2;
    }
    main_scenario_defaults(&o, subs_set, pubs_set, window_set);
    if (main_parse_url(&o.url, url) < 0) {
        fprintf(stderr, "parley-bench: bad --url '%s'\n", url);
        return 2;
    }
    if (pub_url != NULL && main_parse_url(&o.pub_url, pub_url) < 0) {
        fprintf(stderr, "parley-bench: bad --pub-url '%s'\n", pub_url);
        return 2;
    }
    o.has_pub_url = pub_url != NULL;
    if (o.find_max && o.scenario != SCEN_FANOUT &&
        o.scenario != SCEN_FANIN) {
        fprintf(stderr, "parley-bench: --find-max is for fanout and fanin\n");
        return 2;
    }
    main_raise_nofile(o.subs + o.pubs + o.conns +
                      (o.extra_subs + 999) / 1000);
    if (o.json_out != NULL) {
        main_json_file = fopen(o.json_out, "a");
        if (main_json_file == NULL) {
            fprintf(stderr, "parley-bench: cannot open %s: %s\n",
                    o.json_out, strerror(errno));
            return 2;
        }
    }
    rc = scenario_run(&o, main_report);
    if (main_json_file != NULL)
        fclose(main_json_file);
    return rc;
}
