/*
 * test_cmd.c: unit tests of protocol/cmd.c. A table of frames from
 * protocol-v1 "Frames" and "Commands" with the error code and the id each
 * must produce, then tests of the parsed fields of every op, ids at the
 * edges, depth limits, history limit clamping and key lengths.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "cmd.h"

/*
 * test_cmd links with -Wl,--wrap=malloc (protocol.cmake), so every malloc
 * of this file and of parley_protocol goes through here: the tests count
 * the parser's allocations and make one fail on purpose.
 */
void *__real_malloc(size_t n);
void *__wrap_malloc(size_t n);

static long test_mallocs;             /* calls since the last reset */
static long test_malloc_fail_at = -1; /* this call (0-based) fails */

void *__wrap_malloc(size_t n)
{
    long k = test_mallocs++;

    if (k == test_malloc_fail_at)
        return NULL;
    return __real_malloc(n);
}

struct row {
    const char *text;
    enum pl_err err;
    int64_t id;       /* cmd.id after the parse */
};

#define OK PL_OK
#define BJ PL_ERR_BAD_JSON
#define BR PL_ERR_BAD_REQUEST
#define UO PL_ERR_UNKNOWN_OP
#define IT PL_ERR_INVALID_TOPIC

static const struct row rows[] = {
    /* not JSON -> bad_json */
    {"", BJ, 0},
    {"   ", BJ, 0},
    {"not json", BJ, 0},
    {"{", BJ, 0},
    {"{\"op\":\"ping\"", BJ, 0},
    {"{} x", BJ, 0},
    {"{\"op\":\"ping\",\"id\":1} {}", BJ, 0},
    {"{\"op\":\"ping\",}", BJ, 0},
    {"{\"op\" \"ping\"}", BJ, 0},
    {"{'op':'ping'}", BJ, 0},
    {"{op:\"ping\"}", BJ, 0},
    {"{\"op\":\"ping\",\"x\":01}", BJ, 0},
    {"{\"op\":\"ping\",\"x\":1.}", BJ, 0},
    {"{\"op\":\"ping\",\"x\":.5}", BJ, 0},
    {"{\"op\":\"ping\",\"x\":+1}", BJ, 0},
    {"{\"op\":\"ping\",\"x\":1e}", BJ, 0},
    {"{\"op\":\"ping\",\"x\":-}", BJ, 0},
    {"{\"op\":\"ping\",\"x\":NaN}", BJ, 0},
    {"{\"op\":\"ping\",\"x\":Infinity}", BJ, 0},
    {"{\"op\":\"ping\",\"x\":tru}", BJ, 0},
    {"{\"op\":\"ping\",\"x\":nul}", BJ, 0},
    {"{\"op\":\"ping\",\"x\":[1,]}", BJ, 0},
    {"{\"op\":\"ping\",\"x\":[1}", BJ, 0},
    {"{\"op\":\"ping\",\"x\":{]}", BJ, 0},
    {"{\"op\":\"ping\",\"x\":\"a\tb\"}", BJ, 0},      /* raw control char */
    {"{\"op\":\"ping\",\"x\":\"a\nb\"}", BJ, 0},
    {"{\"op\":\"ping\",\"x\":\"\\x\"}", BJ, 0},       /* bad escape */
    {"{\"op\":\"ping\",\"x\":\"\\u12\"}", BJ, 0},
    {"{\"op\":\"ping\",\"x\":\"\\ud800\"}", BJ, 0},   /* lone surrogate */
    {"{\"op\":\"ping\",\"x\":\"\\udc00\"}", BJ, 0},
    {"{\"op\":\"ping\",\"x\":\"\\ud800\\u0041\"}", BJ, 0},
    {"{\"op\":\"ping\",\"x\":\"\xff\"}", BJ, 0},       /* invalid UTF-8 */
    {"{\"op\":\"ping\",\"x\":\"\xc0\xaf\"}", BJ, 0},
    {"{\"op\":\"ping\" /* c */}", BJ, 0},
    {"\xef\xbb\xbf{\"op\":\"ping\"}", BJ, 0},          /* BOM */
    /* JSON, but not an object with a string op -> bad_request */
    {"[]", BR, 0},
    {"[{\"op\":\"ping\"}]", BR, 0},
    {"42", BR, 0},
    {"\"ping\"", BR, 0},
    {"null", BR, 0},
    {"true", BR, 0},
    {"{}", BR, 0},
    {"{\"id\":4}", BR, 4},
    {"{\"op\":1,\"id\":4}", BR, 4},
    {"{\"op\":null}", BR, 0},
    {"{\"op\":[\"ping\"]}", BR, 0},
    {"{\"Op\":\"ping\"}", BR, 0},
    /* unknown string op -> unknown_op (with the id) */
    {"{\"op\":\"nope\",\"id\":3}", UO, 3},
    {"{\"id\":3,\"op\":\"nope\"}", UO, 3},
    {"{\"op\":\"PING\"}", UO, 0},
    {"{\"op\":\"\"}", UO, 0},
    {"{\"op\":\"ping \"}", UO, 0},
    {"{\"op\":\"ping\\u0000\"}", UO, 0},
    {"{\"op\":\"msg\",\"id\":2}", UO, 2},
    {"{\"op\":\"ok\"}", UO, 0},
    /* whitespace and escapes are fine */
    {" \t\r\n{ \"op\" : \"ping\" , \"id\" : 7 } \n", OK, 7},
    {"{\"op\":\"p\\u0069ng\",\"id\":7}", OK, 7},
    {"{\"\\u006fp\":\"ping\",\"id\":7}", OK, 7},
    {"{\"op\":\"ping\",\"id\":7,\"extra\":{\"a\":[1,2,{\"b\":null}]}}", OK, 7},
    {"{\"op\":\"ping\",\"x\":\"\\ud83d\\ude00 \\\" \\\\ \\/ \\b\\f\\n\\r\\t\"}",
     OK, 0},
    {"{\"op\":\"ping\",\"x\":-0.5e-3,\"y\":1E+2,\"z\":0}", OK, 0},
    /* duplicate keys: the first one counts */
    {"{\"op\":\"ping\",\"op\":\"nope\"}", OK, 0},
    {"{\"op\":\"nope\",\"op\":\"ping\"}", UO, 0},
    /* ids */
    {"{\"op\":\"ping\",\"id\":1}", OK, 1},
    {"{\"op\":\"ping\",\"id\":9007199254740991}", OK, 9007199254740991LL},
    {"{\"op\":\"ping\",\"id\":9007199254740992}", BR, 0},
    {"{\"op\":\"ping\",\"id\":9007199254740993}", BR, 0},
    {"{\"op\":\"ping\",\"id\":18446744073709551616}", BR, 0},
    {"{\"op\":\"ping\",\"id\":1e400}", BR, 0},
    {"{\"op\":\"ping\",\"id\":0}", BR, 0},
    {"{\"op\":\"ping\",\"id\":-0}", BR, 0},
    {"{\"op\":\"ping\",\"id\":-1}", BR, 0},
    {"{\"op\":\"ping\",\"id\":1.5}", BR, 0},
    {"{\"op\":\"ping\",\"id\":0.5}", BR, 0},
    {"{\"op\":\"ping\",\"id\":1.0000000000000001}", BR, 0},
    {"{\"op\":\"ping\",\"id\":9007199254740990.5}", BR, 0},
    {"{\"op\":\"ping\",\"id\":1e-400}", BR, 0},
    {"{\"op\":\"ping\",\"id\":\"7\"}", BR, 0},
    {"{\"op\":\"ping\",\"id\":null}", BR, 0},
    {"{\"op\":\"ping\",\"id\":true}", BR, 0},
    {"{\"op\":\"ping\",\"id\":[7]}", BR, 0},
    {"{\"op\":\"ping\",\"id\":{}}", BR, 0},
    {"{\"op\":\"nope\",\"id\":0}", BR, 0},     /* bad id before bad op */
    {"{\"op\":\"ping\",\"id\":3.0}", OK, 3},
    {"{\"op\":\"ping\",\"id\":3.000}", OK, 3},
    {"{\"op\":\"ping\",\"id\":1e2}", OK, 100},
    {"{\"op\":\"ping\",\"id\":7E0}", OK, 7},
    {"{\"op\":\"ping\",\"id\":0.7e1}", OK, 7},
    {"{\"op\":\"ping\",\"id\":10e-1}", OK, 1},
    {"{\"op\":\"ping\",\"id\":9.007199254740991e15}", OK, 9007199254740991LL},
    {"{\"op\":\"ping\",\"id\":9.007199254740992e15}", BR, 0},
    /* hello */
    {"{\"op\":\"hello\",\"id\":1,\"name\":\"alice\",\"token\":\"x.y\"}",
     OK, 1},
    {"{\"op\":\"hello\",\"id\":1,\"name\":\"alice\"}", OK, 1},
    {"{\"op\":\"hello\",\"id\":1}", OK, 1},
    {"{\"op\":\"hello\",\"id\":1,\"name\":\"\"}", BR, 1},
    {"{\"op\":\"hello\",\"id\":1,\"name\":5}", BR, 1},
    {"{\"op\":\"hello\",\"id\":1,\"name\":null}", BR, 1},
    {"{\"op\":\"hello\",\"id\":1,\"name\":\"a\\u0000b\"}", BR, 1},
    {"{\"op\":\"hello\",\"id\":1,\"token\":5}", BR, 1},
    {"{\"op\":\"hello\",\"id\":1,\"token\":[\"x\"]}", BR, 1},
    /* sub (spec example first) */
    {"{\"op\":\"sub\",\"id\":2,\"topic\":\"chat/general\",\"since\":41,"
     "\"history\":50,\"presence\":true}", OK, 2},
    {"{\"op\":\"sub\",\"id\":2,\"topic\":\"chat/+\"}", OK, 2},
    {"{\"op\":\"sub\",\"id\":2,\"topic\":\"#\"}", OK, 2},
    {"{\"op\":\"sub\",\"id\":2,\"topic\":\"$SYS/#\"}", OK, 2},
    {"{\"op\":\"sub\",\"id\":2,\"topic\":\"a/+/c\",\"since\":0,\"history\":0}",
     OK, 2},
    {"{\"op\":\"sub\",\"id\":2}", BR, 2},
    {"{\"op\":\"sub\",\"id\":2,\"topic\":5}", BR, 2},
    {"{\"op\":\"sub\",\"id\":2,\"topic\":null}", BR, 2},
    {"{\"op\":\"sub\",\"id\":2,\"topic\":[\"a\"]}", BR, 2},
    {"{\"op\":\"sub\",\"id\":2,\"topic\":\"\"}", IT, 2},
    {"{\"op\":\"sub\",\"id\":2,\"topic\":\"a//b\"}", IT, 2},
    {"{\"op\":\"sub\",\"id\":2,\"topic\":\"/a\"}", IT, 2},
    {"{\"op\":\"sub\",\"id\":2,\"topic\":\"a/\"}", IT, 2},
    {"{\"op\":\"sub\",\"id\":2,\"topic\":\"a+b\"}", IT, 2},
    {"{\"op\":\"sub\",\"id\":2,\"topic\":\"a/b#\"}", IT, 2},
    {"{\"op\":\"sub\",\"id\":2,\"topic\":\"a/#/b\"}", IT, 2},
    {"{\"op\":\"sub\",\"id\":2,\"topic\":\"a\\u0000b\"}", IT, 2},
    {"{\"op\":\"sub\",\"id\":2,\"topic\":\"a\\u0000\"}", IT, 2},
    {"{\"op\":\"sub\",\"id\":2,\"topic\":\"a\\u0001\"}", IT, 2},
    {"{\"op\":\"sub\",\"id\":2,\"topic\":\"a\\u001f\"}", IT, 2},
    {"{\"op\":\"sub\",\"id\":2,\"topic\":\"a\\u007f\"}", IT, 2},
    {"{\"op\":\"sub\",\"id\":2,\"topic\":\"a\\u0080\"}", IT, 2},
    {"{\"op\":\"sub\",\"id\":2,\"topic\":\"a\\u009f\"}", IT, 2},
    {"{\"op\":\"sub\",\"id\":2,\"topic\":\"a\\u00a0\"}", OK, 2},
    {"{\"op\":\"sub\",\"id\":2,\"topic\":\"a\\n\"}", IT, 2},
    {"{\"op\":\"sub\",\"id\":2,\"topic\":\"a\",\"since\":\"41\"}", BR, 2},
    {"{\"op\":\"sub\",\"id\":2,\"topic\":\"a\",\"since\":-1}", BR, 2},
    {"{\"op\":\"sub\",\"id\":2,\"topic\":\"a\",\"since\":1.5}", BR, 2},
    {"{\"op\":\"sub\",\"id\":2,\"topic\":\"a\",\"since\":null}", BR, 2},
    {"{\"op\":\"sub\",\"id\":2,\"topic\":\"a\",\"history\":-1}", BR, 2},
    {"{\"op\":\"sub\",\"id\":2,\"topic\":\"a\",\"history\":\"5\"}", BR, 2},
    {"{\"op\":\"sub\",\"id\":2,\"topic\":\"a\",\"history\":2.5}", BR, 2},
    {"{\"op\":\"sub\",\"id\":2,\"topic\":\"a\",\"presence\":1}", BR, 2},
    {"{\"op\":\"sub\",\"id\":2,\"topic\":\"a\",\"presence\":\"true\"}", BR, 2},
    {"{\"op\":\"sub\",\"id\":2,\"topic\":\"a\",\"presence\":false}", OK, 2},
    /* the first bad field wins: bad topic before bad since */
    {"{\"op\":\"sub\",\"id\":2,\"topic\":\"a//b\",\"since\":-1}", IT, 2},
    /* unsub */
    {"{\"op\":\"unsub\",\"id\":3,\"topic\":\"chat/general\"}", OK, 3},
    {"{\"op\":\"unsub\",\"id\":3,\"topic\":\"chat/#\"}", OK, 3},
    {"{\"op\":\"unsub\",\"id\":3}", BR, 3},
    {"{\"op\":\"unsub\",\"id\":3,\"topic\":\"a#\"}", IT, 3},
    /* pub (spec example first) */
    {"{\"op\":\"pub\",\"id\":4,\"topic\":\"chat/general\","
     "\"data\":{\"text\":\"hi\"},\"retain\":false}", OK, 4},
    {"{\"op\":\"pub\",\"id\":4,\"topic\":\"a\",\"data\":null}", OK, 4},
    {"{\"op\":\"pub\",\"id\":4,\"topic\":\"a\",\"data\":null,\"retain\":true}",
     OK, 4},
    {"{\"op\":\"pub\",\"id\":4,\"topic\":\"a\",\"data\":21.5}", OK, 4},
    {"{\"op\":\"pub\",\"id\":4,\"topic\":\"$SYS/x\",\"data\":1}", OK, 4},
    {"{\"op\":\"pub\",\"id\":4,\"topic\":\"a/+\",\"data\":1}", IT, 4},
    {"{\"op\":\"pub\",\"id\":4,\"topic\":\"a/#\",\"data\":1}", IT, 4},
    {"{\"op\":\"pub\",\"id\":4,\"topic\":\"+\",\"data\":1}", IT, 4},
    {"{\"op\":\"pub\",\"id\":4,\"topic\":\"a+b\",\"data\":1}", IT, 4},
    {"{\"op\":\"pub\",\"id\":4,\"topic\":\"a//b\",\"data\":1}", IT, 4},
    {"{\"op\":\"pub\",\"id\":4,\"topic\":\"a\"}", BR, 4},
    {"{\"op\":\"pub\",\"id\":4,\"data\":1}", BR, 4},
    {"{\"op\":\"pub\",\"id\":4,\"topic\":\"a\",\"data\":1,\"retain\":\"y\"}",
     BR, 4},
    {"{\"op\":\"pub\",\"id\":4,\"topic\":\"a\",\"data\":1,\"retain\":1}",
     BR, 4},
    {"{\"op\":\"pub\",\"id\":4,\"topic\":\"a\",\"data\":1,\"key\":\"\"}",
     BR, 4},
    {"{\"op\":\"pub\",\"id\":4,\"topic\":\"a\",\"data\":1,\"key\":5}", BR, 4},
    {"{\"op\":\"pub\",\"id\":4,\"topic\":\"a\",\"data\":1,\"key\":\"k\"}",
     OK, 4},
    /* history (spec example first) */
    {"{\"op\":\"history\",\"id\":5,\"topic\":\"chat/general\",\"before\":58,"
     "\"limit\":50}", OK, 5},
    {"{\"op\":\"history\",\"id\":5,\"topic\":\"chat/general\"}", OK, 5},
    {"{\"op\":\"history\",\"id\":5,\"topic\":\"chat/+\"}", IT, 5},
    {"{\"op\":\"history\",\"id\":5,\"topic\":\"chat/#\"}", IT, 5},
    {"{\"op\":\"history\",\"id\":5}", BR, 5},
    {"{\"op\":\"history\",\"id\":5,\"topic\":\"a\",\"limit\":0}", BR, 5},
    {"{\"op\":\"history\",\"id\":5,\"topic\":\"a\",\"limit\":-5}", BR, 5},
    {"{\"op\":\"history\",\"id\":5,\"topic\":\"a\",\"limit\":1.5}", BR, 5},
    {"{\"op\":\"history\",\"id\":5,\"topic\":\"a\",\"limit\":\"5\"}", BR, 5},
    {"{\"op\":\"history\",\"id\":5,\"topic\":\"a\",\"before\":\"58\"}", BR, 5},
    {"{\"op\":\"history\",\"id\":5,\"topic\":\"a\",\"before\":5.5}", BR, 5},
    /* presence (spec example first) */
    {"{\"op\":\"presence\",\"id\":6,\"topic\":\"chat/general\"}", OK, 6},
    {"{\"op\":\"presence\",\"id\":6,\"topic\":\"chat/+\"}", IT, 6},
    {"{\"op\":\"presence\",\"id\":6,\"topic\":\"#\"}", IT, 6},
    {"{\"op\":\"presence\",\"id\":6}", BR, 6},
    /* ping */
    {"{\"op\":\"ping\",\"id\":7}", OK, 7},
    {"{\"op\":\"ping\"}", OK, 0},
    /* edit, delete, reply_to (#16) */
    {"{\"op\":\"edit\",\"id\":1,\"topic\":\"chat/x\",\"seq\":42,\"data\":{}}", OK, 1},
    {"{\"op\":\"edit\",\"id\":1,\"topic\":\"chat/x\",\"data\":{}}", BR, 1},
    {"{\"op\":\"edit\",\"id\":1,\"topic\":\"chat/x\",\"seq\":42}", BR, 1},
    {"{\"op\":\"edit\",\"id\":1,\"topic\":\"chat/x\",\"seq\":0,\"data\":1}", BR, 1},
    {"{\"op\":\"edit\",\"id\":1,\"topic\":\"chat/x\",\"seq\":1.5,\"data\":1}", BR, 1},
    {"{\"op\":\"edit\",\"id\":1,\"topic\":\"chat/x\",\"seq\":\"4\",\"data\":1}", BR, 1},
    {"{\"op\":\"edit\",\"id\":1,\"topic\":\"chat/#\",\"seq\":4,\"data\":1}", IT, 1},
    {"{\"op\":\"edit\",\"id\":1,\"topic\":\"chat/x\",\"seq\":4,\"data\":1,\"reply_to\":-1}", BR, 1},
    {"{\"op\":\"delete\",\"id\":2,\"topic\":\"chat/x\",\"seq\":42}", OK, 2},
    {"{\"op\":\"delete\",\"id\":2,\"topic\":\"chat/x\"}", BR, 2},
    {"{\"op\":\"delete\",\"id\":2,\"seq\":42}", BR, 2},
    {"{\"op\":\"delete\",\"id\":2,\"topic\":\"chat/x\",\"seq\":9007199254740992}", BR, 2},
    {"{\"op\":\"pub\",\"id\":3,\"topic\":\"chat/x\",\"data\":1,\"reply_to\":7}", OK, 3},
    {"{\"op\":\"pub\",\"id\":3,\"topic\":\"chat/x\",\"data\":1,\"reply_to\":0}", BR, 3},
    {"{\"op\":\"pub\",\"id\":3,\"topic\":\"chat/x\",\"data\":1,\"reply_to\":null}", BR, 3},
    {"{\"op\":\"mark\",\"id\":3,\"topic\":\"chat/x\",\"seq\":57}", OK, 3},
    {"{\"op\":\"mark\",\"id\":3,\"topic\":\"chat/x\"}", BR, 3},
    {"{\"op\":\"mark\",\"id\":3,\"topic\":\"chat/+\",\"seq\":5}", IT, 3},
    {"{\"op\":\"unread\",\"id\":4,\"topic\":\"chat/#\"}", OK, 4},
    {"{\"op\":\"unread\",\"id\":4}", BR, 4},
    {"{\"op\":\"unread\",\"id\":4,\"topic\":\"a/#/b\"}", IT, 4},
    {"{\"op\":\"search\",\"id\":5,\"topic\":\"chat/#\",\"q\":\"deploy\"}", OK, 5},
    {"{\"op\":\"search\",\"id\":5,\"topic\":\"chat/#\"}", BR, 5},
    {"{\"op\":\"search\",\"id\":5,\"q\":\"x\"}", BR, 5},
    {"{\"op\":\"search\",\"id\":5,\"topic\":\"chat/#\",\"q\":\"\"}", BR, 5},
    {"{\"op\":\"search\",\"id\":5,\"topic\":\"chat/#\",\"q\":1}", BR, 5},
    {"{\"op\":\"search\",\"id\":5,\"topic\":\"chat/#\",\"q\":\"x\",\"limit\":0}", BR, 5},
    {"{\"op\":\"search\",\"id\":5,\"topic\":\"chat/#\",\"q\":\"x\",\"before\":-1}", BR, 5},
    /* topics (addition) */
    {"{\"op\":\"topics\",\"id\":1,\"prefix\":\"chat/\"}", OK, 1},
    {"{\"op\":\"topics\",\"id\":1}", OK, 1},
    {"{\"op\":\"topics\",\"id\":1,\"prefix\":5}", BR, 1},
    /* escaped and duplicate keys (the first counts); a key holding
     * U+0000 is never a known field */
    {"{\"op\":\"ping\",\"\\u0069d\":8}", OK, 8},
    {"{\"op\":\"ping\",\"id\":8,\"\\u0069d\":9}", OK, 8},
    {"{\"op\":\"ping\",\"\\u0069d\":9,\"id\":8}", OK, 9},
    {"{\"op\":\"ping\",\"id\":\"x\",\"id\":8}", BR, 0},
    {"{\"op\":\"ping\",\"id\":8,\"id\":\"x\"}", OK, 8},
    {"{\"op\":\"ping\",\"id\\u0000\":8}", OK, 0},
    {"{\"op\":\"ping\",\"i\\u0064\\u0000\":8}", OK, 0},
    {"{\"op\\u0000\":\"ping\"}", BR, 0},
    {"{\"o\\u0000p\":\"nope\",\"op\":\"ping\"}", OK, 0},
    {"{\"op\":\"p\\u0000ing\"}", UO, 0},
    {"{\"op\":\"\\u0070\\u0069\\u006e\\u0067\",\"id\":3}", OK, 3},
    {"{\"op\":\"\\u0070\\u0069\\u006e\\u0067\\u0020\",\"id\":3}", UO, 3},
    {"{\"op\":\"\\u0070\\u0069\\u006e\\u0067\\u0070\\u0069\\u006e\\u0067"
     "\\u0070\",\"id\":3}", UO, 3},
    {"{\"op\":\"ping\",\"\\u0069\\u0064\\u0069\\u0064\\u0069\\u0064\\u0069"
     "\\u0064\\u0069\":5}", OK, 0},
    {"{\"op\":\"ping\",\"\\/id\":5}", OK, 0},
    /* UTF-8 inside strings at the edges of validity */
    {"{\"op\":\"ping\",\"x\":\"\xc2\x80\"}", OK, 0},
    {"{\"op\":\"ping\",\"x\":\"\xc1\xbf\"}", BJ, 0},
    {"{\"op\":\"ping\",\"x\":\"\xe0\xa0\x80\"}", OK, 0},
    {"{\"op\":\"ping\",\"x\":\"\xe0\x9f\xbf\"}", BJ, 0},
    {"{\"op\":\"ping\",\"x\":\"\xed\x9f\xbf\"}", OK, 0},
    {"{\"op\":\"ping\",\"x\":\"\xed\xa0\x80\"}", BJ, 0},
    {"{\"op\":\"ping\",\"x\":\"\xf0\x90\x80\x80\"}", OK, 0},
    {"{\"op\":\"ping\",\"x\":\"\xf0\x8f\xbf\xbf\"}", BJ, 0},
    {"{\"op\":\"ping\",\"x\":\"\xf4\x8f\xbf\xbf\"}", OK, 0},
    {"{\"op\":\"ping\",\"x\":\"\xf4\x90\x80\x80\"}", BJ, 0},
    {"{\"op\":\"ping\",\"x\":\"\xf5\x80\x80\x80\"}", BJ, 0},
    {"{\"op\":\"ping\",\"x\":\"\xe2\x82\xac\xe2\x82\"}", BJ, 0},
    {"{\"op\":\"ping\",\"x\":\"\xc3\"}", BJ, 0},
    {"{\"op\":\"ping\",\"x\":\"\x80\"}", BJ, 0},
    {"{\"op\":\"ping\",\"x\":\xc3\xa9}", BJ, 0},   /* UTF-8 outside strings */
    {"{\"op\":\"ping\",\"\xc3\xa9\":1}", OK, 0},   /* ... but fine in keys */
    {"{\"op\":\"ping\",\"x\":\"\x7f\"}", OK, 0},   /* DEL is allowed raw */
    {"{\"op\":\"ping\",\"x\":\"\x1f\"}", BJ, 0},
    /* escapes */
    {"{\"op\":\"ping\",\"x\":\"\\U0041\"}", BJ, 0},
    {"{\"op\":\"ping\",\"x\":\"\\u004G\"}", BJ, 0},
    {"{\"op\":\"ping\",\"x\":\"\\uDBFF\\uDFFF\"}", OK, 0},
    {"{\"op\":\"ping\",\"x\":\"\\ud800\\ud800\"}", BJ, 0},
    {"{\"op\":\"ping\",\"x\":\"\\ud800\\n\"}", BJ, 0},
    {"{\"op\":\"ping\",\"x\":\"\\ud800\"", BJ, 0},
    {"{\"op\":\"ping\",\"x\":\"\\'\"}", BJ, 0},
    {"{\"op\":\"ping\",\"x\":\"\\0\"}", BJ, 0},
    {"{\"op\":\"ping\",\"x\":\"\\", BJ, 0},
    {"{\"op\":\"ping\",\"x\":\"\\u00", BJ, 0},
    /* literals, numbers, structure */
    {"{\"op\":\"ping\",\"x\":True}", BJ, 0},
    {"{\"op\":\"ping\",\"x\":nulls}", BJ, 0},
    {"{\"op\":\"ping\",\"x\":-01}", BJ, 0},
    {"{\"op\":\"ping\",\"x\":1.5e+}", BJ, 0},
    {"{\"op\":\"ping\",\"x\":0x10}", BJ, 0},
    {"{\"op\":\"ping\",\"x\":0e0,\"y\":-0.0E-0,\"z\":[-0]}", OK, 0},
    {"{\"op\":\"ping\"}}", BJ, 0},
    {"{\"op\":\"ping\"]", BJ, 0},
    {"{,\"op\":\"ping\"}", BJ, 0},
    {"{\"op\":\"ping\",,\"id\":1}", BJ, 0},
    {"{\"op\":\"ping\",\"id\":1,\"x\":[1 2]}", BJ, 0},
    {"{\"op\":\"ping\",\"id\":1,\"x\":{\"a\"}}", BJ, 0},
    {"{\"op\":\"ping\",\"id\":1}\f", BJ, 0},   /* not JSON whitespace */
    {"\v{\"op\":\"ping\"}", BJ, 0},
    {"{\"op\" : \"ping\" , \"id\" : [ ] , \"x\" : { } }", BR, 0},
    /* U+0000 in the strings that are kept */
    {"{\"op\":\"hello\",\"id\":1,\"token\":\"t\",\"name\":\"a\\u0000\"}", BR, 1},
    {"{\"op\":\"hello\",\"id\":1,\"token\":\"\\u0000\"}", BR, 1},
    {"{\"op\":\"pub\",\"id\":4,\"topic\":\"a\",\"data\":1,\"key\":\"k\\u0000\"}",
     BR, 4},
    {"{\"op\":\"topics\",\"id\":1,\"prefix\":\"\\u0000\"}", BR, 1},
    {"{\"op\":\"pub\",\"id\":4,\"topic\":\"\\u0000\",\"data\":1}", IT, 4},
    {"{\"op\":\"pub\",\"id\":4,\"topic\":\"a\\\\u0000\",\"data\":1}", OK, 4},
};

static void test_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct pl_cmd cmd;
        const char *why = NULL;
        enum pl_err err;

        memset(&cmd, 0xA5, sizeof(cmd));
        err = pl_cmd_parse(rows[i].text, strlen(rows[i].text), NULL, &cmd,
                           &why);
        if (err != rows[i].err || cmd.id != rows[i].id)
            fail_msg("row %zu: %s -> %s id %lld (%s), want %s id %lld", i,
                     rows[i].text, pl_err_code(err), (long long)cmd.id,
                     why ? why : "-", pl_err_code(rows[i].err),
                     (long long)rows[i].id);
        if (err != PL_OK) {
            /* Errors always explain themselves, and leave nothing to free
             * (valgrind checks the latter). */
            assert_non_null(why);
            assert_true(strlen(why) > 0);
            assert_null(cmd.topic);
            assert_null(cmd.data);
        }
        pl_cmd_cleanup(&cmd);
    }
}

/* Parses text (NUL-terminated) that must succeed. */
static void parse_ok(const char *text, struct pl_cmd *cmd)
{
    const char *why = NULL;
    enum pl_err err = pl_cmd_parse(text, strlen(text), NULL, cmd, &why);

    if (err != PL_OK)
        fail_msg("%s -> %s (%s)", text, pl_err_code(err), why);
}

static void test_hello(void **state)
{
    struct pl_cmd c;
    char text[256];

    (void)state;
    parse_ok("{\"op\":\"hello\",\"id\":1,\"name\":\"alice\","
             "\"token\":\"<jwt>\"}", &c);
    assert_int_equal(c.op, PL_OP_HELLO);
    assert_int_equal(c.id, 1);
    assert_string_equal(c.name, "alice");
    assert_string_equal(c.token, "<jwt>");
    assert_null(c.topic);
    pl_cmd_cleanup(&c);

    parse_ok("{\"op\":\"hello\"}", &c);
    assert_null(c.name);
    assert_null(c.token);
    assert_int_equal(c.id, 0);
    pl_cmd_cleanup(&c);

    /* name length edges: 64 bytes ok, 65 refused (bytes, not chars) */
    snprintf(text, sizeof(text),
             "{\"op\":\"hello\",\"id\":2,\"name\":\"%064d\"}", 0);
    parse_ok(text, &c);
    assert_int_equal(strlen(c.name), 64);
    pl_cmd_cleanup(&c);
    snprintf(text, sizeof(text),
             "{\"op\":\"hello\",\"id\":2,\"name\":\"%065d\"}", 0);
    assert_int_equal(pl_cmd_parse(text, strlen(text), NULL, &c, NULL),
                     PL_ERR_BAD_REQUEST);
    assert_int_equal(c.id, 2);
    /* 32 x "é" is 64 bytes; 33 is 66 */
    strcpy(text, "{\"op\":\"hello\",\"name\":\"");
    for (int i = 0; i < 32; i++)
        strcat(text, "\xc3\xa9");
    strcat(text, "\"}");
    parse_ok(text, &c);
    assert_int_equal(strlen(c.name), 64);
    pl_cmd_cleanup(&c);
    strcpy(text, "{\"op\":\"hello\",\"name\":\"");
    for (int i = 0; i < 33; i++)
        strcat(text, "\xc3\xa9");
    strcat(text, "\"}");
    assert_int_equal(pl_cmd_parse(text, strlen(text), NULL, &c, NULL),
                     PL_ERR_BAD_REQUEST);
    /* With a token the name is ignored, so a bad length is dropped. */
    snprintf(text, sizeof(text),
             "{\"op\":\"hello\",\"token\":\"t\",\"name\":\"%065d\"}", 0);
    parse_ok(text, &c);
    assert_null(c.name);
    assert_string_equal(c.token, "t");
    pl_cmd_cleanup(&c);
    parse_ok("{\"op\":\"hello\",\"token\":\"t\",\"name\":\"\"}", &c);
    assert_null(c.name);
    pl_cmd_cleanup(&c);
}

static void test_sub(void **state)
{
    struct pl_cmd c;

    (void)state;
    parse_ok("{\"op\":\"sub\",\"id\":2,\"topic\":\"chat/general\",\"since\":41,"
             "\"history\":50,\"presence\":true}", &c);
    assert_int_equal(c.op, PL_OP_SUB);
    assert_int_equal(c.id, 2);
    assert_string_equal(c.topic, "chat/general");
    assert_int_equal(c.topic_len, 12);
    assert_true(c.has_since);
    assert_int_equal(c.since, 41);
    assert_true(c.has_history);
    assert_int_equal(c.history, 50);
    assert_true(c.presence);
    pl_cmd_cleanup(&c);

    parse_ok("{\"op\":\"sub\",\"topic\":\"a/+\"}", &c);
    assert_string_equal(c.topic, "a/+");
    assert_false(c.has_since);
    assert_false(c.has_history);
    assert_false(c.presence);
    pl_cmd_cleanup(&c);

    parse_ok("{\"op\":\"sub\",\"topic\":\"a\",\"since\":0,\"history\":0}", &c);
    assert_true(c.has_since);
    assert_int_equal(c.since, 0);
    assert_true(c.has_history);
    assert_int_equal(c.history, 0);
    pl_cmd_cleanup(&c);

    /* a since far above any seq stays "above the latest" */
    parse_ok("{\"op\":\"sub\",\"topic\":\"a\",\"since\":1e30}", &c);
    assert_true(c.has_since);
    assert_int_equal(c.since, PL_ID_MAX);
    pl_cmd_cleanup(&c);

    /* escaped UTF-8 topic */
    parse_ok("{\"op\":\"sub\",\"topic\":\"caf\\u00e9/+\"}", &c);
    assert_string_equal(c.topic, "caf\xc3\xa9/+");
    assert_int_equal(c.topic_len, 7);
    pl_cmd_cleanup(&c);
}

static void test_unsub_presence_ping_topics(void **state)
{
    struct pl_cmd c;

    (void)state;
    parse_ok("{\"op\":\"unsub\",\"id\":3,\"topic\":\"chat/general\"}", &c);
    assert_int_equal(c.op, PL_OP_UNSUB);
    assert_string_equal(c.topic, "chat/general");
    pl_cmd_cleanup(&c);

    parse_ok("{\"op\":\"presence\",\"id\":6,\"topic\":\"chat/general\"}", &c);
    assert_int_equal(c.op, PL_OP_PRESENCE);
    assert_string_equal(c.topic, "chat/general");
    pl_cmd_cleanup(&c);

    parse_ok("{\"op\":\"ping\",\"id\":7,\"topic\":\"ignored\"}", &c);
    assert_int_equal(c.op, PL_OP_PING);
    assert_int_equal(c.id, 7);
    assert_null(c.topic);
    pl_cmd_cleanup(&c);

    parse_ok("{\"op\":\"topics\",\"id\":1,\"prefix\":\"chat/\"}", &c);
    assert_int_equal(c.op, PL_OP_TOPICS);
    assert_string_equal(c.topic, "chat/");
    assert_int_equal(c.topic_len, 5);
    pl_cmd_cleanup(&c);

    parse_ok("{\"op\":\"topics\",\"id\":1}", &c);
    assert_null(c.topic);
    pl_cmd_cleanup(&c);

    assert_string_equal(pl_op_name(PL_OP_HELLO), "hello");
    assert_string_equal(pl_op_name(PL_OP_SUB), "sub");
    assert_string_equal(pl_op_name(PL_OP_UNSUB), "unsub");
    assert_string_equal(pl_op_name(PL_OP_PUB), "pub");
    assert_string_equal(pl_op_name(PL_OP_HISTORY), "history");
    assert_string_equal(pl_op_name(PL_OP_PRESENCE), "presence");
    assert_string_equal(pl_op_name(PL_OP_PING), "ping");
    assert_string_equal(pl_op_name(PL_OP_TOPICS), "topics");
}

/* data comes back as compact JSON with the same meaning */
static void check_data(const char *text, const char *want_data, bool is_null)
{
    struct pl_cmd c;
    cJSON *a = NULL;
    cJSON *b = NULL;

    parse_ok(text, &c);
    assert_int_equal(c.op, PL_OP_PUB);
    assert_non_null(c.data);
    assert_int_equal(c.data_len, strlen(c.data));
    if (strcmp(c.data, want_data) != 0)
        fail_msg("%s: data %s, want %s", text, c.data, want_data);
    assert_int_equal(c.data_is_null, is_null);
    a = cJSON_Parse(c.data);
    b = cJSON_Parse(want_data);
    assert_non_null(a);
    assert_true(cJSON_Compare(a, b, true));
    cJSON_Delete(a);
    cJSON_Delete(b);
    pl_cmd_cleanup(&c);
}

static void test_pub(void **state)
{
    struct pl_cmd c;

    (void)state;
    parse_ok("{\"op\":\"pub\",\"id\":4,\"topic\":\"chat/general\","
             "\"data\":{\"text\":\"hi\"},\"retain\":false}", &c);
    assert_int_equal(c.op, PL_OP_PUB);
    assert_int_equal(c.id, 4);
    assert_string_equal(c.topic, "chat/general");
    assert_string_equal(c.data, "{\"text\":\"hi\"}");
    assert_int_equal(c.data_len, 13);
    assert_false(c.data_is_null);
    assert_false(c.retain);
    assert_null(c.key);
    pl_cmd_cleanup(&c);

    parse_ok("{\"op\":\"pub\",\"topic\":\"a\",\"data\":null,\"retain\":true,"
             "\"key\":\"t1-000042\"}", &c);
    assert_true(c.retain);
    assert_true(c.data_is_null);
    assert_string_equal(c.data, "null");
    assert_string_equal(c.key, "t1-000042");
    pl_cmd_cleanup(&c);

    check_data("{\"op\":\"pub\",\"topic\":\"a\",\"data\" : "
               "{ \"text\" : \"h i\" ,"
               " \"n\" : [ 1 , 2.50 , -3e2 ] , \"t\":true } }",
               "{\"text\":\"h i\",\"n\":[1,2.50,-3e2],\"t\":true}", false);
    check_data("{\"op\":\"pub\",\"topic\":\"a\",\"data\":21.5}", "21.5", false);
    check_data("{\"op\":\"pub\",\"topic\":\"a\",\"data\":\"x\"}", "\"x\"",
               false);
    check_data("{\"op\":\"pub\",\"topic\":\"a\",\"data\":false}", "false",
               false);
    check_data("{\"op\":\"pub\",\"topic\":\"a\",\"data\":[]}", "[]", false);
    check_data("{\"op\":\"pub\",\"topic\":\"a\",\"data\":{}}", "{}", false);
    check_data("{\"op\":\"pub\",\"topic\":\"a\",\"data\":null}", "null", true);
    /* escapes and spaces inside strings are kept byte for byte */
    check_data("{\"op\":\"pub\",\"topic\":\"a\",\"data\":\"a \\\" b\\\\ \\n\"}",
               "\"a \\\" b\\\\ \\n\"", false);
    check_data("{\"op\":\"pub\",\"topic\":\"a\",\"data\":[\"}\",\"]\",\"{\"]}",
               "[\"}\",\"]\",\"{\"]", false);
    /* big integers keep every digit (a double would round them) */
    check_data("{\"op\":\"pub\",\"topic\":\"a\",\"data\":12345678901234567890}",
               "12345678901234567890", false);
    /* data first, topic after: order does not matter */
    check_data("{\"data\":{\"k\":1},\"op\":\"pub\",\"topic\":\"a\"}",
               "{\"k\":1}", false);

    /* U+0000 inside data survives (cJSON would cut the string) */
    parse_ok("{\"op\":\"pub\",\"topic\":\"a\",\"data\":\"x\\u0000y\"}", &c);
    assert_string_equal(c.data, "\"x\\u0000y\"");
    pl_cmd_cleanup(&c);
}

static void test_edit_delete_reply(void **state)
{
    struct pl_cmd c;

    (void)state;
    parse_ok("{\"op\":\"edit\",\"id\":1,\"topic\":\"chat/x\",\"seq\":42,"
             "\"data\": {\"text\" : \"fixed\"},\"reply_to\":7}", &c);
    assert_int_equal(c.op, PL_OP_EDIT);
    assert_int_equal(c.seq, 42);
    assert_int_equal(c.reply_to, 7);
    assert_string_equal(c.topic, "chat/x");
    assert_string_equal(c.data, "{\"text\":\"fixed\"}");
    assert_false(c.data_is_null);
    pl_cmd_cleanup(&c);

    parse_ok("{\"op\":\"delete\",\"id\":2,\"topic\":\"chat/x\","
             "\"seq\":9007199254740991}", &c);
    assert_int_equal(c.op, PL_OP_DELETE);
    assert_int_equal(c.seq, 9007199254740991LL);
    assert_true(c.data_is_null);
    assert_null(c.data);
    assert_int_equal(c.reply_to, 0);
    pl_cmd_cleanup(&c);

    parse_ok("{\"op\":\"pub\",\"topic\":\"chat/x\",\"data\":\"hi\","
             "\"reply_to\":3}", &c);
    assert_int_equal(c.reply_to, 3);
    assert_int_equal(c.seq, 0);
    pl_cmd_cleanup(&c);
    assert_string_equal(pl_op_name(PL_OP_EDIT), "edit");
    assert_string_equal(pl_op_name(PL_OP_DELETE), "delete");

    parse_ok("{\"op\":\"mark\",\"id\":3,\"topic\":\"chat/x\",\"seq\":57}",
             &c);
    assert_int_equal(c.op, PL_OP_MARK);
    assert_int_equal(c.seq, 57);
    assert_false(c.data_is_null);
    pl_cmd_cleanup(&c);
    parse_ok("{\"op\":\"search\",\"id\":5,\"topic\":\"chat/#\","
             "\"q\":\"\\\"deploy failed\\\" roll*\",\"limit\":500,"
             "\"before\":1764130000123}", &c);
    assert_int_equal(c.op, PL_OP_SEARCH);
    assert_string_equal(c.topic, "chat/#");
    assert_string_equal(c.query, "\"deploy failed\" roll*");
    assert_int_equal(c.limit, PL_SEARCH_LIMIT_MAX);
    assert_true(c.has_before);
    assert_int_equal(c.before, 1764130000123LL);
    pl_cmd_cleanup(&c);
    parse_ok("{\"op\":\"search\",\"id\":5,\"topic\":\"a\",\"q\":\"x\"}",
             &c);
    assert_int_equal(c.limit, PL_SEARCH_LIMIT_DEFAULT);
    assert_false(c.has_before);
    pl_cmd_cleanup(&c);
    parse_ok("{\"op\":\"unread\",\"id\":4,\"topic\":\"chat/#\"}", &c);
    assert_int_equal(c.op, PL_OP_UNREAD);
    assert_string_equal(c.topic, "chat/#");
    pl_cmd_cleanup(&c);
}

/* The text search indexes: string values, not keys, decoded. */
static void test_json_strings(void **state)
{
    static const struct {
        const char *json;
        const char *text;
    } cases[] = {
        {"{\"text\":\"hi there\"}", "hi there"},
        {"{\"a\":[{\"b\":\"x\"},\"y\",3,true],\"c\":{\"d\":null}}", "x y"},
        {"\"bare\"", "bare"},
        {"{\"k\" : \"v\", \"n\":1}", "v"},
        {"{\"t\":\"caf\\u00e9 \\\"q\\\" a\\u0000b\"}", "caf\xc3\xa9 \"q\" a b"},
        {"{\"n\":1,\"m\":[1,2]}", ""},
        {"null", ""},
    };
    char out[128];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t n = pl_json_strings(cases[i].json, strlen(cases[i].json), out);

        out[n] = '\0';
        assert_string_equal(out, cases[i].text);
    }
}

static void test_pub_key_lengths(void **state)
{
    char text[512];
    char key[200];
    struct pl_cmd c;
    static const struct {
        size_t len;
        enum pl_err err;
    } cases[] = {{0, PL_ERR_BAD_REQUEST}, {1, PL_OK}, {127, PL_OK},
                 {128, PL_OK}, {129, PL_ERR_BAD_REQUEST},
                 {190, PL_ERR_BAD_REQUEST}};

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memset(key, 'k', cases[i].len);
        key[cases[i].len] = '\0';
        snprintf(text, sizeof(text),
                 "{\"op\":\"pub\",\"id\":9,\"topic\":\"a\",\"data\":1,"
                 "\"key\":\"%s\"}", key);
        assert_int_equal(pl_cmd_parse(text, strlen(text), NULL, &c, NULL),
                         cases[i].err);
        assert_int_equal(c.id, 9);
        if (cases[i].err == PL_OK) {
            assert_int_equal(strlen(c.key), cases[i].len);
            assert_string_equal(c.key, key);
        }
        pl_cmd_cleanup(&c);
    }
}

static void test_history_limit(void **state)
{
    static const struct {
        const char *limit; /* NULL: absent */
        enum pl_err err;
        int want;
    } cases[] = {
        {NULL, PL_OK, PL_HISTORY_LIMIT_DEFAULT},
        {"1", PL_OK, 1},
        {"50", PL_OK, 50},
        {"999", PL_OK, 999},
        {"1000", PL_OK, 1000},
        {"1001", PL_OK, 1000},
        {"1000000", PL_OK, 1000},
        {"1e300", PL_OK, 1000},
        {"2.0", PL_OK, 2},
        {"0", PL_ERR_BAD_REQUEST, 0},
        {"-1", PL_ERR_BAD_REQUEST, 0},
        {"-1e300", PL_ERR_BAD_REQUEST, 0},
        {"0.5", PL_ERR_BAD_REQUEST, 0},
        {"null", PL_ERR_BAD_REQUEST, 0},
        {"true", PL_ERR_BAD_REQUEST, 0},
    };
    char text[256];
    struct pl_cmd c;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (cases[i].limit != NULL)
            snprintf(text, sizeof(text),
                     "{\"op\":\"history\",\"id\":5,\"topic\":\"a\","
                     "\"limit\":%s}", cases[i].limit);
        else
            snprintf(text, sizeof(text),
                     "{\"op\":\"history\",\"id\":5,\"topic\":\"a\"}");
        assert_int_equal(pl_cmd_parse(text, strlen(text), NULL, &c, NULL),
                         cases[i].err);
        assert_int_equal(c.id, 5);
        if (cases[i].err == PL_OK) {
            assert_int_equal(c.limit, cases[i].want);
            assert_false(c.has_before);
        }
        pl_cmd_cleanup(&c);
    }

    parse_ok("{\"op\":\"history\",\"id\":5,\"topic\":\"chat/general\","
             "\"before\":58,\"limit\":50}", &c);
    assert_int_equal(c.op, PL_OP_HISTORY);
    assert_string_equal(c.topic, "chat/general");
    assert_true(c.has_before);
    assert_int_equal(c.before, 58);
    assert_int_equal(c.limit, 50);
    pl_cmd_cleanup(&c);

    parse_ok("{\"op\":\"history\",\"topic\":\"a\",\"before\":0}", &c);
    assert_true(c.has_before);
    assert_int_equal(c.before, 0);
    pl_cmd_cleanup(&c);
}

/* Builds {"op":"ping","id":1,"x":[[...]]} with `depth` levels in total
 * (the object counts as one). Caller frees. */
static char *nested(int depth, size_t *len)
{
    const char *head = "{\"op\":\"ping\",\"id\":1,\"x\":";
    size_t hl = strlen(head);
    size_t n = hl + 2 * (size_t)(depth - 1) + 1;
    char *s = malloc(n + 1);
    size_t w = hl;

    assert_non_null(s);
    memcpy(s, head, hl);
    for (int i = 1; i < depth; i++)
        s[w++] = '[';
    for (int i = 1; i < depth; i++)
        s[w++] = ']';
    s[w++] = '}';
    s[w] = '\0';
    *len = w;
    return s;
}

static void test_depth(void **state)
{
    struct pl_parse_opts opts = {0};
    struct pl_cmd c;
    size_t len = 0;
    char *s = NULL;

    (void)state;
    /* 32 levels are always accepted, even with a lower configured limit */
    s = nested(32, &len);
    opts.max_depth = 32;
    assert_int_equal(pl_cmd_parse(s, len, &opts, &c, NULL), PL_OK);
    pl_cmd_cleanup(&c);
    opts.max_depth = 8;
    assert_int_equal(pl_cmd_parse(s, len, &opts, &c, NULL), PL_OK);
    pl_cmd_cleanup(&c);
    free(s);

    /* the default limit: 64 in, 65 out */
    s = nested(PL_DEPTH_DEFAULT, &len);
    assert_int_equal(pl_cmd_parse(s, len, NULL, &c, NULL), PL_OK);
    pl_cmd_cleanup(&c);
    free(s);
    s = nested(PL_DEPTH_DEFAULT + 1, &len);
    assert_int_equal(pl_cmd_parse(s, len, NULL, &c, NULL), PL_ERR_BAD_REQUEST);
    assert_int_equal(c.id, 0);
    free(s);

    /* a configured limit: 40 in, 41 out */
    opts.max_depth = 40;
    s = nested(40, &len);
    assert_int_equal(pl_cmd_parse(s, len, &opts, &c, NULL), PL_OK);
    pl_cmd_cleanup(&c);
    free(s);
    s = nested(41, &len);
    assert_int_equal(pl_cmd_parse(s, len, &opts, &c, NULL), PL_ERR_BAD_REQUEST);
    free(s);
    /* 33 refused at the floor of 32 */
    opts.max_depth = 32;
    s = nested(33, &len);
    assert_int_equal(pl_cmd_parse(s, len, &opts, &c, NULL), PL_ERR_BAD_REQUEST);
    free(s);

    /* hostile nesting (64 KiB of '[') is refused without recursion */
    len = 65536;
    s = malloc(len);
    assert_non_null(s);
    memset(s, '[', len);
    assert_int_equal(pl_cmd_parse(s, len, NULL, &c, NULL), PL_ERR_BAD_REQUEST);
    for (size_t i = 0; i + 5 <= len; i += 5)
        memcpy(s + i, "{\"a\":", 5);
    assert_int_equal(pl_cmd_parse(s, 65535, NULL, &c, NULL),
                     PL_ERR_BAD_REQUEST);
    /* "{{" is not JSON at all (keys are strings), nested or not */
    memset(s, '{', len);
    assert_int_equal(pl_cmd_parse(s, len, NULL, &c, NULL), PL_ERR_BAD_JSON);
    /* a syntax error met before the limit is bad_json */
    assert_int_equal(pl_cmd_parse("[[[x]]]", 7, NULL, &c, NULL),
                     PL_ERR_BAD_JSON);
    free(s);

    /* brackets inside strings do not count */
    {
        char text[400];

        snprintf(text, sizeof(text), "{\"op\":\"ping\",\"x\":\"%s\"}",
                 "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
                 "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[");
        assert_int_equal(pl_cmd_parse(text, strlen(text), NULL, &c, NULL),
                         PL_OK);
        pl_cmd_cleanup(&c);
    }

    /* pl_json_depth itself */
    assert_int_equal(pl_json_depth("{}", 2, 64), 1);
    assert_int_equal(pl_json_depth("1", 1, 64), 0);
    assert_int_equal(pl_json_depth("{\"a\":[{}]}", 10, 64), 3);
    assert_int_equal(pl_json_depth("{\"a\":\"[[[\\\"[[\"}", 15, 64), 1);
    assert_int_equal(pl_json_depth("[[[[[", 5, 3), 4);
    assert_int_equal(pl_json_depth("[[]][[]]", 8, 64), 2);
}

/* The parser reads exactly len bytes: no NUL needed, nothing after. */
static void test_exact_length(void **state)
{
    const char *text = "{\"op\":\"ping\",\"id\":12}GARBAGE";
    char *copy = NULL;
    struct pl_cmd c;
    size_t n = strlen("{\"op\":\"ping\",\"id\":12}");

    (void)state;
    /* a buffer with no NUL after the frame (valgrind sees any overread) */
    copy = malloc(n);
    assert_non_null(copy);
    memcpy(copy, text, n);
    assert_int_equal(pl_cmd_parse(copy, n, NULL, &c, NULL), PL_OK);
    assert_int_equal(c.id, 12);
    pl_cmd_cleanup(&c);
    /* one byte short */
    assert_int_equal(pl_cmd_parse(copy, n - 1, NULL, &c, NULL),
                     PL_ERR_BAD_JSON);
    free(copy);
    /* trailing garbage within len */
    assert_int_equal(pl_cmd_parse(text, strlen(text), NULL, &c, NULL),
                     PL_ERR_BAD_JSON);
    /* an embedded NUL is not the end of the frame */
    assert_int_equal(pl_cmd_parse("{\"op\":\"ping\"}\0x", 15, NULL, &c, NULL),
                     PL_ERR_BAD_JSON);
    /* NULL why is allowed */
    assert_int_equal(pl_cmd_parse("[]", 2, NULL, &c, NULL),
                     PL_ERR_BAD_REQUEST);
    pl_cmd_cleanup(&c);
    pl_cmd_cleanup(&c); /* twice is harmless */
}

/* A big but legal frame: 60 KiB of data. */
static void test_large(void **state)
{
    size_t n = 60 * 1024;
    char *s = malloc(n + 100);
    struct pl_cmd c;
    size_t w;

    (void)state;
    assert_non_null(s);
    w = (size_t)sprintf(s, "{\"op\":\"pub\",\"id\":3,\"topic\":\"a\","
                           "\"data\":\"");
    memset(s + w, 'x', n);
    w += n;
    w += (size_t)sprintf(s + w, "\"}");
    assert_int_equal(pl_cmd_parse(s, w, NULL, &c, NULL), PL_OK);
    assert_int_equal(c.data_len, n + 2);
    pl_cmd_cleanup(&c);
    free(s);
}

/* POST /api/publish bodies use the pub rules without op/id. */
static void test_pub_body(void **state)
{
    static const struct {
        const char *body;
        enum pl_err err;
    } cases[] = {
        {"{\"topic\":\"sensors/t1\",\"data\":21.5,\"retain\":true,"
         "\"key\":\"t1-000042\"}", PL_OK},
        {"{\"topic\":\"a\",\"data\":null}", PL_OK},
        {"{\"op\":\"nope\",\"id\":\"x\",\"topic\":\"a\",\"data\":1}", PL_OK},
        {"{\"topic\":\"a\"}", PL_ERR_BAD_REQUEST},
        {"{\"data\":1}", PL_ERR_BAD_REQUEST},
        {"{\"topic\":\"a/+\",\"data\":1}", PL_ERR_INVALID_TOPIC},
        {"{\"topic\":\"a\",\"data\":1,\"key\":\"\"}", PL_ERR_BAD_REQUEST},
        {"{\"topic\":\"a\",\"data\":1,\"retain\":\"no\"}",
         PL_ERR_BAD_REQUEST},
        {"[1]", PL_ERR_BAD_REQUEST},
        {"topic=a", PL_ERR_BAD_JSON},
        {"", PL_ERR_BAD_JSON},
    };
    struct pl_cmd c;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        enum pl_err err = pl_cmd_parse_pub_body(cases[i].body,
                                                strlen(cases[i].body), NULL,
                                                &c, NULL);

        if (err != cases[i].err)
            fail_msg("%s -> %s", cases[i].body, pl_err_code(err));
        assert_int_equal(c.id, 0);
        if (err == PL_OK)
            assert_int_equal(c.op, PL_OP_PUB);
        pl_cmd_cleanup(&c);
    }
    assert_int_equal(pl_cmd_parse_pub_body(cases[0].body,
                                           strlen(cases[0].body), NULL, &c,
                                           NULL), PL_OK);
    assert_string_equal(c.topic, "sensors/t1");
    assert_string_equal(c.data, "21.5");
    assert_true(c.retain);
    assert_string_equal(c.key, "t1-000042");
    pl_cmd_cleanup(&c);
}


/* Expected error code and message of a frame. */
struct why_row {
    const char *text;
    enum pl_err err;
    const char *why;
};

/* Every message, each reached by a frame (the server sends them). */
static void test_why(void **state)
{
    static const struct why_row cases[] = {
        {"", BJ, "not valid JSON"},
        {"{\"op\":\"ping\",}", BJ, "not valid JSON"},
        {"[]", BR, "the value must be a JSON object"},
        {"123456789012345678901234567890123456789012345678901234567890"
         "1234567890", BR, "the value must be a JSON object"},
        {"{\"id\":1}", BR, "field 'op' is required"},
        {"{\"op\":7}", BR, "field 'op' must be a string"},
        {"{\"op\":\"nope\"}", UO, "unknown op"},
        {"{\"op\":\"ping\",\"id\":0}", BR,
         "field 'id' must be an integer from 1 to 2^53-1"},
        {"{\"op\":\"sub\"}", BR, "field 'topic' is required"},
        {"{\"op\":\"sub\",\"topic\":1}", BR, "field 'topic' must be a string"},
        {"{\"op\":\"sub\",\"topic\":\"a\\u0000\"}", IT,
         "topic must not contain control characters"},
        {"{\"op\":\"sub\",\"topic\":\"a//b\"}", IT,
         "topic must be 1-255 bytes of UTF-8 with no empty level, no "
         "control characters, and '+'/'#' only as whole levels ('#' last)"},
        {"{\"op\":\"pub\",\"topic\":\"a/+\",\"data\":1}", IT,
         "wildcards ('+', '#') are not allowed in this topic"},
        {"{\"op\":\"sub\",\"topic\":\"a\",\"since\":-1}", BR,
         "field 'since' must be an integer >= 0"},
        {"{\"op\":\"sub\",\"topic\":\"a\",\"history\":0.5}", BR,
         "field 'history' must be an integer >= 0"},
        {"{\"op\":\"sub\",\"topic\":\"a\",\"presence\":null}", BR,
         "field 'presence' must be a boolean"},
        {"{\"op\":\"hello\",\"name\":\"\"}", BR,
         "field 'name' must be 1-64 bytes"},
        {"{\"op\":\"hello\",\"name\":[]}", BR, "field 'name' must be a string"},
        {"{\"op\":\"hello\",\"name\":\"\\u0000\"}", BR,
         "field 'name' must not contain U+0000"},
        {"{\"op\":\"hello\",\"token\":{}}", BR,
         "field 'token' must be a string"},
        {"{\"op\":\"hello\",\"token\":\"\\u0000\"}", BR,
         "field 'token' must not contain U+0000"},
        {"{\"op\":\"pub\",\"topic\":\"a\"}", BR, "field 'data' is required"},
        {"{\"op\":\"pub\",\"topic\":\"a\",\"data\":1,\"retain\":0}", BR,
         "field 'retain' must be a boolean"},
        {"{\"op\":\"pub\",\"topic\":\"a\",\"data\":1,\"key\":1}", BR,
         "field 'key' must be a string"},
        {"{\"op\":\"pub\",\"topic\":\"a\",\"data\":1,\"key\":\"\"}", BR,
         "field 'key' must be 1-128 bytes"},
        {"{\"op\":\"pub\",\"topic\":\"a\",\"data\":1,\"key\":\"\\u0000\"}", BR,
         "field 'key' must not contain U+0000"},
        {"{\"op\":\"history\",\"topic\":\"a\",\"before\":true}", BR,
         "field 'before' must be an integer"},
        {"{\"op\":\"history\",\"topic\":\"a\",\"limit\":0}", BR,
         "field 'limit' must be an integer >= 1"},
        {"{\"op\":\"topics\",\"prefix\":false}", BR,
         "field 'prefix' must be a string"},
        {"{\"op\":\"topics\",\"prefix\":\"\\u0000\"}", BR,
         "field 'prefix' must not contain U+0000"},
    };
    struct pl_cmd c;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *why = NULL;
        enum pl_err err = pl_cmd_parse(cases[i].text, strlen(cases[i].text),
                                       NULL, &c, &why);

        if (err != cases[i].err || why == NULL ||
            strcmp(why, cases[i].why) != 0)
            fail_msg("%s -> %s '%s', want %s '%s'", cases[i].text,
                     pl_err_code(err), why ? why : "(null)",
                     pl_err_code(cases[i].err), cases[i].why);
        pl_cmd_cleanup(&c);
    }
}

/* Duplicate keys: the first occurrence of each field counts, also when
 * one of them is spelled with escapes. */
static void test_duplicate_keys(void **state)
{
    struct pl_cmd c;

    (void)state;
    parse_ok("{\"op\":\"pub\",\"topic\":\"a\",\"topic\":\"b\",\"data\":1,"
             "\"data\":2,\"\\u0064ata\":3,\"key\":\"k1\",\"key\":5,"
             "\"retain\":true,\"retain\":\"no\"}", &c);
    assert_string_equal(c.topic, "a");
    assert_string_equal(c.data, "1");
    assert_string_equal(c.key, "k1");
    assert_true(c.retain);
    pl_cmd_cleanup(&c);

    parse_ok("{\"\\u0074opic\":\"x\",\"op\":\"pub\",\"topic\":\"y\","
             "\"d\\u0061t\\u0061\" : [ 1 , 2 ] ,\"data\":null}", &c);
    assert_string_equal(c.topic, "x");
    assert_string_equal(c.data, "[1,2]");
    assert_false(c.data_is_null);
    pl_cmd_cleanup(&c);

    /* keys inside nested objects are not fields */
    parse_ok("{\"op\":\"sub\",\"x\":{\"topic\":\"no\",\"id\":5},"
             "\"topic\":\"yes\"}", &c);
    assert_string_equal(c.topic, "yes");
    assert_int_equal(c.id, 0);
    pl_cmd_cleanup(&c);

    /* a nested value of a known field ends where it should */
    parse_ok("{\"op\":\"pub\",\"data\":{\"topic\":\"no\",\"data\":[{}]},"
             "\"topic\":\"yes\"}", &c);
    assert_string_equal(c.topic, "yes");
    assert_string_equal(c.data, "{\"topic\":\"no\",\"data\":[{}]}");
    pl_cmd_cleanup(&c);
}

/* Escapes in the kept strings are decoded; lengths count decoded bytes. */
static void test_decoded_strings(void **state)
{
    struct pl_cmd c;
    char text[1200];
    const char *text_p = NULL;
    size_t w;

    (void)state;
    parse_ok("{\"op\":\"hello\",\"name\":\"\\u00e9\\t\\/\\\"\\\\\\b\\f\\n\\r\","
             "\"token\":\"a\\/b\\u002ec\"}", &c);
    assert_string_equal(c.name, "\xc3\xa9\t/\"\\\b\f\n\r");
    assert_string_equal(c.token, "a/b.c");
    pl_cmd_cleanup(&c);

    parse_ok("{\"op\":\"sub\",\"topic\":\"\\ud83d\\ude00/\\u20AC/\\u07ff/+\"}",
             &c);
    assert_string_equal(c.topic, "\xf0\x9f\x98\x80/\xe2\x82\xac/\xdf\xbf/+");
    assert_int_equal(c.topic_len, 4 + 1 + 3 + 1 + 2 + 2);
    pl_cmd_cleanup(&c);

    parse_ok("{\"op\":\"pub\",\"topic\":\"a\",\"data\":0,"
             "\"key\":\"k\\uDBFF\\uDFFF\\u0041\"}", &c);
    assert_string_equal(c.key, "k\xf4\x8f\xbf\xbf" "A");
    pl_cmd_cleanup(&c);

    parse_ok("{\"op\":\"topics\",\"prefix\":\"chat\\/\"}", &c);
    assert_string_equal(c.topic, "chat/");
    assert_int_equal(c.topic_len, 5);
    pl_cmd_cleanup(&c);

    text_p = "{\"t\\u006fpic\":\"s\\/1\",\"data\":\"\\u0000\","
             "\"key\":\"\\u006b\"}";
    assert_int_equal(pl_cmd_parse_pub_body(text_p, strlen(text_p), NULL, &c,
                                           NULL),
                     PL_OK);
    assert_string_equal(c.topic, "s/1");
    assert_string_equal(c.data, "\"\\u0000\"");
    assert_string_equal(c.key, "k");
    pl_cmd_cleanup(&c);

    /* name: 32 escaped "é" are 64 bytes (ok), 33 are 66 (refused) */
    for (int n = 32; n <= 33; n++) {
        w = (size_t)sprintf(text, "{\"op\":\"hello\",\"id\":3,\"name\":\"");
        for (int i = 0; i < n; i++)
            w += (size_t)sprintf(text + w, "\\u00e9");
        w += (size_t)sprintf(text + w, "\"}");
        if (n == 32) {
            parse_ok(text, &c);
            assert_int_equal(strlen(c.name), 64);
            pl_cmd_cleanup(&c);
        } else {
            assert_int_equal(pl_cmd_parse(text, w, NULL, &c, NULL),
                             PL_ERR_BAD_REQUEST);
            assert_int_equal(c.id, 3);
        }
    }
    /* key: 128 escaped bytes are fine, 129 are not */
    for (int n = 128; n <= 129; n++) {
        w = (size_t)sprintf(text, "{\"op\":\"pub\",\"id\":9,\"topic\":\"a\","
                                  "\"data\":1,\"key\":\"");
        for (int i = 0; i < n; i++)
            w += (size_t)sprintf(text + w, "\\u0041");
        w += (size_t)sprintf(text + w, "\"}");
        if (n == 128) {
            parse_ok(text, &c);
            assert_int_equal(strlen(c.key), 128);
            assert_true(c.key[0] == 'A' && c.key[127] == 'A');
            pl_cmd_cleanup(&c);
        } else {
            assert_int_equal(pl_cmd_parse(text, w, NULL, &c, NULL),
                             PL_ERR_BAD_REQUEST);
        }
    }
    /* topic: 255 bytes after decoding are fine, 256 are not */
    for (int n = 255; n <= 256; n++) {
        w = (size_t)sprintf(text, "{\"op\":\"sub\",\"id\":2,\"topic\":\"");
        for (int i = 0; i < n; i++)
            w += (size_t)sprintf(text + w, i % 2 ? "\\u0062" : "a");
        w += (size_t)sprintf(text + w, "\"}");
        if (n == 255) {
            parse_ok(text, &c);
            assert_int_equal(c.topic_len, 255);
            pl_cmd_cleanup(&c);
        } else {
            assert_int_equal(pl_cmd_parse(text, w, NULL, &c, NULL),
                             PL_ERR_INVALID_TOPIC);
        }
    }
}

/*
 * A special byte at every position of strings of every short length, at
 * every alignment: the scanner reads strings several bytes at a time and
 * must find each special byte wherever it falls.
 */
static void test_string_positions(void **state)
{
    static const struct {
        const char *ins;   /* what is put in the topic's source */
        const char *want;  /* the decoded bytes, or NULL: bad_json */
    } specials[] = {
        {"\x01", NULL},
        {"\x1f", NULL},
        {"\xff", NULL},
        {"\xc3", NULL},
        {"\\x", NULL},
        {"\"", NULL},
        {"\xc3\xa9", "\xc3\xa9"},
        {"\\u00e9", "\xc3\xa9"},
        {"\\\"", "\""},
        {"\\\\", "\\"},
        {"\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80"},
        {"~", "~"},
    };
    char text[256];
    char want[64];
    struct pl_cmd c;

    (void)state;
    for (int pad = 0; pad < 8; pad++) {
        for (int len = 1; len <= 24; len++) {
            for (int pos = 0; pos < len; pos++) {
                for (size_t k = 0; k < sizeof(specials) / sizeof(specials[0]);
                     k++) {
                    size_t w = 0;
                    size_t v = 0;
                    enum pl_err err;

                    w += (size_t)sprintf(text, "{\"op\":\"sub\",\"p\":\"%.*s\","
                                               "\"topic\":\"", pad,
                                         "xxxxxxxx");
                    for (int i = 0; i < len; i++) {
                        const char *piece = i == pos ? specials[k].ins : "t";
                        const char *dec = i == pos ? specials[k].want : "t";

                        w += (size_t)sprintf(text + w, "%s", piece);
                        if (dec != NULL)
                            v += (size_t)sprintf(want + v, "%s", dec);
                    }
                    w += (size_t)sprintf(text + w, "\",\"id\":6}");
                    err = pl_cmd_parse(text, w, NULL, &c, NULL);
                    if (specials[k].want == NULL) {
                        if (err != PL_ERR_BAD_JSON)
                            fail_msg("%s -> %s", text, pl_err_code(err));
                        continue;
                    }
                    if (err != PL_OK || strcmp(c.topic, want) != 0 ||
                        c.topic_len != v || c.id != 6)
                        fail_msg("%s -> %s", text, pl_err_code(err));
                    pl_cmd_cleanup(&c);
                }
            }
        }
    }
}

/* Numbers of any length are valid JSON; fields judge them exactly. */
static void test_long_numbers(void **state)
{
    char digits[201];
    char text[1400];
    struct pl_cmd c;

    (void)state;
    memset(digits, '7', 200);
    digits[200] = '\0';
    snprintf(text, sizeof(text),
             "{\"op\":\"pub\",\"id\":5,\"topic\":\"a\",\"x\":%s,"
             "\"data\":[%s, -%s.%se-%s, 0.%se+3]}",
             digits, digits, digits, digits, "99", digits);
    parse_ok(text, &c);
    assert_int_equal(c.id, 5);
    assert_int_equal(c.data_len, 2 + 200 + 1 + 1 + 200 + 1 + 200 + 4 + 1 +
                                     2 + 200 + 3);
    assert_memory_equal(c.data + 1, digits, 200);
    pl_cmd_cleanup(&c);

    snprintf(text, sizeof(text), "{\"op\":\"ping\",\"id\":%s}", digits);
    assert_int_equal(pl_cmd_parse(text, strlen(text), NULL, &c, NULL),
                     PL_ERR_BAD_REQUEST);
    assert_int_equal(c.id, 0);

    snprintf(text, sizeof(text),
             "{\"op\":\"sub\",\"topic\":\"a\",\"since\":%s,\"history\":%s}",
             digits, digits);
    parse_ok(text, &c);
    assert_int_equal(c.since, PL_ID_MAX);
    assert_int_equal(c.history, PL_ID_MAX);
    pl_cmd_cleanup(&c);

    snprintf(text, sizeof(text),
             "{\"op\":\"history\",\"topic\":\"a\",\"before\":-%s,"
             "\"limit\":%s}", digits, digits);
    parse_ok(text, &c);
    assert_int_equal(c.before, -PL_ID_MAX);
    assert_int_equal(c.limit, PL_HISTORY_LIMIT_MAX);
    pl_cmd_cleanup(&c);

    /* 0.000...0001e101 with 99 zeros is 10; one more zero is 1 */
    snprintf(text, sizeof(text),
             "{\"op\":\"ping\",\"id\":0.%.*s1e101}", 99,
             "0000000000000000000000000000000000000000000000000000000000000"
             "0000000000000000000000000000000000000000");
    parse_ok(text, &c);
    assert_int_equal(c.id, 10);
    pl_cmd_cleanup(&c);
    snprintf(text, sizeof(text),
             "{\"op\":\"ping\",\"id\":0.%.*s1e101}", 100,
             "0000000000000000000000000000000000000000000000000000000000000"
             "0000000000000000000000000000000000000000");
    parse_ok(text, &c);
    assert_int_equal(c.id, 1);
    pl_cmd_cleanup(&c);

    /* 15, 16 and 17 digits around 2^53 */
    parse_ok("{\"op\":\"ping\",\"id\":999999999999999}", &c);
    assert_int_equal(c.id, 999999999999999LL);
    pl_cmd_cleanup(&c);
    parse_ok("{\"op\":\"ping\",\"id\":1000000000000000}", &c);
    assert_int_equal(c.id, 1000000000000000LL);
    pl_cmd_cleanup(&c);
    snprintf(text, sizeof(text), "{\"op\":\"ping\",\"id\":10000000000000000}");
    assert_int_equal(pl_cmd_parse(text, strlen(text), NULL, &c, NULL),
                     PL_ERR_BAD_REQUEST);
}

/* More of data's compaction: every whitespace byte outside strings goes,
 * everything inside strings stays. */
static void test_data_whitespace(void **state)
{
    (void)state;
    check_data("{\"op\":\"pub\",\"topic\":\"a\",\"data\":\r\n\t {\t\"a\"\r:\n"
               "[ 1 ,\r\n 2 ] , \"b\" : { } }\n ,\"retain\":false}",
               "{\"a\":[1,2],\"b\":{}}", false);
    check_data("{\"op\":\"pub\",\"topic\":\"a\",\"data\":[ \"a \\\\\" , "
               "\"\\\\\" , \" \\\" \" ] }",
               "[\"a \\\\\",\"\\\\\",\" \\\" \"]", false);
    check_data("{\"op\":\"pub\",\"topic\":\"a\",\"data\": true }", "true",
               false);
    check_data("{\"op\":\"pub\",\"topic\":\"a\",\"data\" :\" a\\tb \" }",
               "\" a\\tb \"", false);
}

/* Nesting deeper than the limit is bad_request unless something before it
 * is not JSON; invalid UTF-8 anywhere makes the frame bad_json. */
static void test_depth_order(void **state)
{
    char *deep = NULL;
    size_t dl = 0;
    char text[1024];
    struct pl_cmd c;
    const char *why = NULL;

    (void)state;
    deep = nested(PL_DEPTH_DEFAULT + 1, &dl); /* {"op":..,"x":[[..]]} */
    assert_true(dl < 400);
    /* deep, then a syntax error: still too deep */
    snprintf(text, sizeof(text), "%.*s,}}}", (int)dl - 1, deep);
    assert_int_equal(pl_cmd_parse(text, strlen(text), NULL, &c, &why),
                     PL_ERR_BAD_REQUEST);
    assert_string_equal(why, "JSON nested too deeply");
    /* deep, then invalid UTF-8 later: bad_json */
    snprintf(text, sizeof(text), "%.*s,\"y\":\"\xff\"}", (int)dl - 1, deep);
    assert_int_equal(pl_cmd_parse(text, strlen(text), NULL, &c, &why),
                     PL_ERR_BAD_JSON);
    /* ... even outside a string */
    snprintf(text, sizeof(text), "%.*s\xc0", (int)dl - 1, deep);
    assert_int_equal(pl_cmd_parse(text, strlen(text), NULL, &c, &why),
                     PL_ERR_BAD_JSON);
    /* deep, then valid multi-byte UTF-8 in a string: too deep */
    snprintf(text, sizeof(text), "%.*s,\"y\":\"\xf0\x9f\x98\x80\"}",
             (int)dl - 1, deep);
    assert_int_equal(pl_cmd_parse(text, strlen(text), NULL, &c, &why),
                     PL_ERR_BAD_REQUEST);
    /* a syntax error before the deep part: bad_json */
    snprintf(text, sizeof(text), "{\"y\":tru,%s", deep + 1);
    assert_int_equal(pl_cmd_parse(text, strlen(text), NULL, &c, &why),
                     PL_ERR_BAD_JSON);
    /* the id is not read when the frame is too deep */
    snprintf(text, sizeof(text), "{\"id\":5,%s", deep + 1);
    assert_int_equal(pl_cmd_parse(text, strlen(text), NULL, &c, &why),
                     PL_ERR_BAD_REQUEST);
    assert_int_equal(c.id, 0);
    free(deep);

    /* the limit counts objects and arrays alike, and resets on close */
    {
        struct pl_parse_opts opts = {32};
        size_t w = (size_t)sprintf(text, "{\"op\":\"ping\",\"x\":");

        for (int i = 1; i < 32; i++)
            w += (size_t)sprintf(text + w, i % 2 ? "{\"k\":" : "[");
        w += (size_t)sprintf(text + w, "0");
        for (int i = 31; i >= 1; i--)
            w += (size_t)sprintf(text + w, i % 2 ? "}" : "]");
        w += (size_t)sprintf(text + w, ",\"y\":[[[[[[[[[[]]]]]]]]]]}");
        assert_int_equal(pl_cmd_parse(text, w, &opts, &c, NULL), PL_OK);
        pl_cmd_cleanup(&c);
    }
}

/* Frames with strings in every shape the struct allows; valgrind and ASan
 * check the single block is freed whole, whichever strings are set. */
static void test_string_shapes(void **state)
{
    static const char *const frames[] = {
        "{\"op\":\"hello\",\"name\":\"n\"}",
        "{\"op\":\"hello\",\"token\":\"t\"}",
        "{\"op\":\"hello\",\"token\":\"t\",\"name\":\"n\"}",
        "{\"op\":\"hello\",\"name\":\"n\",\"token\":\"t\"}",
        "{\"op\":\"hello\",\"token\":\"t\",\"name\":\"\"}",
        "{\"op\":\"hello\",\"name\":\"\\u00e9\",\"token\":\"\\u0074\"}",
        "{\"op\":\"pub\",\"topic\":\"a\",\"data\":1}",
        "{\"op\":\"pub\",\"topic\":\"a\",\"data\":1,\"key\":\"k\"}",
        "{\"op\":\"pub\",\"key\":\"\\u006b\",\"data\":\"\\u0000\","
        "\"topic\":\"\\u0061\"}",
        "{\"op\":\"topics\",\"prefix\":\"\"}",
        "{\"op\":\"topics\"}",
        "{\"op\":\"ping\",\"topic\":\"a\",\"data\":1,\"name\":\"n\"}",
        "{\"op\":\"sub\",\"topic\":\"a\",\"data\":1,\"name\":\"n\","
        "\"key\":\"k\"}",
    };
    struct pl_cmd c;

    (void)state;
    for (size_t i = 0; i < sizeof(frames) / sizeof(frames[0]); i++) {
        parse_ok(frames[i], &c);
        if (c.name != NULL)
            assert_true(strlen(c.name) >= 1);
        if (c.op == PL_OP_PING || c.op == PL_OP_SUB) {
            assert_null(c.data);
            assert_null(c.name);
            assert_null(c.key);
        }
        pl_cmd_cleanup(&c);
        assert_null(c.topic);
        assert_null(c.data);
    }
}


/* One allocation per command at most (one block holds every string), none
 * for a command without strings or a refused frame; out of memory is
 * `internal`, keeps the id and leaves nothing to free. */
static void test_allocations(void **state)
{
    static const struct {
        const char *text;
        long mallocs;
    } cases[] = {
        {"{\"op\":\"pub\",\"id\":123456,\"topic\":\"sensors/t1234\","
         "\"data\":{\"t\":21.5,\"text\":\"hello \\u00e9\"},\"key\":\"k\"}", 1},
        {"{\"op\":\"pub\",\"id\":1,\"topic\":\"a\",\"data\" : [ 1 , 2 ] }", 1},
        {"{\"op\":\"sub\",\"id\":2,\"topic\":\"chat/\\u00e9\",\"since\":4}", 1},
        {"{\"op\":\"hello\",\"id\":1,\"name\":\"alice\",\"token\":\"a.b.c\"}",
         1},
        {"{\"op\":\"hello\",\"id\":1,\"token\":\"t\",\"name\":\"\"}", 1},
        {"{\"op\":\"history\",\"id\":5,\"topic\":\"a\",\"limit\":5}", 1},
        {"{\"op\":\"topics\",\"id\":1,\"prefix\":\"chat/\"}", 1},
        {"{\"op\":\"topics\",\"id\":1}", 0},
        {"{\"op\":\"ping\",\"id\":7,\"topic\":\"a\",\"data\":[1]}", 0},
        {"{\"op\":\"hello\"}", 0},
        {"{\"op\":\"ping\",}", 0},
        {"[1,2,3]", 0},
        {"{\"op\":\"nope\",\"topic\":\"a\"}", 0},
        {"{\"op\":\"sub\",\"topic\":5}", 0},
        {"{\"op\":\"pub\",\"topic\":\"a\"}", 1},
    };
    const char *pub = cases[0].text;
    const char *body = "{\"topic\":\"a\",\"data\":1}";
    struct pl_cmd c;
    const char *why = NULL;
    long n;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        test_mallocs = 0;
        (void)pl_cmd_parse(cases[i].text, strlen(cases[i].text), NULL, &c,
                           NULL);
        n = test_mallocs;
        pl_cmd_cleanup(&c);
        if (n != cases[i].mallocs)
            fail_msg("%s: %ld allocations, want %ld", cases[i].text, n,
                     cases[i].mallocs);
    }

    /* out of memory */
    test_mallocs = 0;
    test_malloc_fail_at = 0;
    assert_int_equal(pl_cmd_parse(pub, strlen(pub), NULL, &c, &why),
                     PL_ERR_INTERNAL);
    test_malloc_fail_at = -1;
    assert_string_equal(why, "out of memory");
    assert_int_equal(c.id, 123456);
    assert_null(c.topic);
    assert_null(c.data);
    assert_null(c.key);
    pl_cmd_cleanup(&c);

    test_mallocs = 0;
    test_malloc_fail_at = 0;
    assert_int_equal(pl_cmd_parse_pub_body(body, strlen(body), NULL, &c,
                                           &why),
                     PL_ERR_INTERNAL);
    test_malloc_fail_at = -1;
    assert_int_equal(c.id, 0);
    pl_cmd_cleanup(&c);

    /* and the same frame parses once memory is back */
    parse_ok(pub, &c);
    assert_string_equal(c.topic, "sensors/t1234");
    assert_string_equal(c.data, "{\"t\":21.5,\"text\":\"hello \\u00e9\"}");
    assert_string_equal(c.key, "k");
    pl_cmd_cleanup(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_hello),
        cmocka_unit_test(test_sub),
        cmocka_unit_test(test_unsub_presence_ping_topics),
        cmocka_unit_test(test_pub),
        cmocka_unit_test(test_edit_delete_reply),
        cmocka_unit_test(test_json_strings),
        cmocka_unit_test(test_pub_key_lengths),
        cmocka_unit_test(test_history_limit),
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_exact_length),
        cmocka_unit_test(test_large),
        cmocka_unit_test(test_pub_body),
        cmocka_unit_test(test_why),
        cmocka_unit_test(test_duplicate_keys),
        cmocka_unit_test(test_decoded_strings),
        cmocka_unit_test(test_string_positions),
        cmocka_unit_test(test_long_numbers),
        cmocka_unit_test(test_data_whitespace),
        cmocka_unit_test(test_depth_order),
        cmocka_unit_test(test_string_shapes),
        cmocka_unit_test(test_allocations),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
