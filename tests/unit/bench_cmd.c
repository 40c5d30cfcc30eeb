/*
 * bench_cmd.c: micro-benchmark of pl_cmd_parse() (and
 * pl_cmd_parse_pub_body()) on typical frames: a pub with a ~100-byte
 * payload, a sub, a hello with a token, and an HTTP publish body. Prints
 * nanoseconds per parse (parse + cleanup, best of several rounds).
 *
 * Usage: bench_cmd [iterations per round]   (default 200000)
 * ctest runs it with a tiny count as a smoke test: it fails (exit 1) if
 * any frame does not parse to what it should.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd.h"

#define BENCH_ROUNDS 5

struct bench_case {
    const char *label;
    const char *text;
    bool pub_body;
    enum pl_op op;
};

static const struct bench_case bench_cases[] = {
    {"pub",
     "{\"op\":\"pub\",\"id\":123456,\"topic\":\"sensors/t1234\","
     "\"data\":{\"t\":21.5,\"ts\":1764130000123,\"text\":\"hello "
     "world, this is a 100 byte payload......\"}}",
     false, PL_OP_PUB},
    {"sub",
     "{\"op\":\"sub\",\"id\":2,\"topic\":\"chat/general\","
     "\"since\":41,\"history\":50,\"presence\":true}",
     false, PL_OP_SUB},
    {"hello",
     "{\"op\":\"hello\",\"id\":1,\"name\":\"alice\",\"token\":"
     "\"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsImV"
     "4cCI6MTc2NDEzMDAwMCwicHViIjpbImNoYXQvIyJdfQ.Zm9vYmFyYmF6cXV4"
     "cXV1eGNvcmdlZ3JhdWx0\"}",
     false, PL_OP_HELLO},
    {"pub-body",
     "{\"topic\":\"sensors/t1\",\"data\":21.5,\"retain\":true,"
     "\"key\":\"t1-000042\"}",
     true, PL_OP_PUB},
};

#define BENCH_N_CASES (sizeof(bench_cases) / sizeof(bench_cases[0]))

static uint64_t bench_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Parses c once; returns 0 when it gives the expected op, else -1. */
static int bench_once(const struct bench_case *c, size_t len)
{
    struct pl_cmd cmd;
    const char *why = NULL;
    enum pl_err err;
    int rc = 0;

    if (c->pub_body)
        err = pl_cmd_parse_pub_body(c->text, len, NULL, &cmd, &why);
    else
        err = pl_cmd_parse(c->text, len, NULL, &cmd, &why);
    if (err != PL_OK || cmd.op != c->op)
        rc = -1;
    pl_cmd_cleanup(&cmd);
    return rc;
}

/*
 * Runs `iters` parses of c per round and returns the best round's
 * nanoseconds per parse, or a negative value when a parse failed.
 */
static double bench_case_run(const struct bench_case *c, long iters)
{
    size_t len = strlen(c->text);
    double best = -1.0;

    for (int r = 0; r < BENCH_ROUNDS; r++) {
        uint64_t t0 = bench_now_ns();
        int bad = 0;
        double ns;

        for (long i = 0; i < iters; i++)
            bad |= bench_once(c, len);
        ns = (double)(bench_now_ns() - t0) / (double)iters;
        if (bad != 0)
            return -1.0;
        if (best < 0 || ns < best)
            best = ns;
    }
    return best;
}

int main(int argc, char **argv)
{
    long iters = 200000;

    if (argc > 1)
        iters = strtol(argv[1], NULL, 10);
    if (iters < 1)
        iters = 1;
    printf("pl_cmd_parse: best of %d rounds of %ld parses (+ cleanup)\n",
           BENCH_ROUNDS, iters);
    for (size_t k = 0; k < BENCH_N_CASES; k++) {
        double ns = bench_case_run(&bench_cases[k], iters);

        if (ns < 0) {
            fprintf(stderr, "%s: the frame did not parse\n",
                    bench_cases[k].label);
            return 1;
        }
        printf("%-9s %4zu bytes %9.1f ns/parse\n", bench_cases[k].label,
               strlen(bench_cases[k].text), ns);
    }
    return 0;
}
