/*
 * tjson.h: small cJSON accessors for the integration tests. Each returns a
 * neutral value (NULL, false) when the field is missing or of another type,
 * so a test can assert on the result directly.
 */
#ifndef PARLEY_TEST_TJSON_H
#define PARLEY_TEST_TJSON_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

/* The string field key of o, or NULL. */
const char *tj_str(const cJSON *o, const char *key);

/* True when o has the string field key equal to want. */
bool tj_str_is(const cJSON *o, const char *key, const char *want);

/* True when key is a number holding an integer; writes it to *out. */
bool tj_int(const cJSON *o, const char *key, int64_t *out);

/* The integer field key, or def when it is missing or not an integer. */
int64_t tj_int_or(const cJSON *o, const char *key, int64_t def);

/* True when o has the field key, whatever its value. */
bool tj_has(const cJSON *o, const char *key);

/* True when key is present and JSON null. */
bool tj_is_null(const cJSON *o, const char *key);

/* True when key is present and JSON true. */
bool tj_is_true(const cJSON *o, const char *key);

/* Print label and o compactly on stderr (for failure diagnostics). */
void tj_dump(const char *label, const cJSON *o);

/* Parse text as JSON (any value); NULL when it is not JSON. */
cJSON *tj_parse(const char *text);

/* Deep equality of two JSON values (object member order ignored). */
bool tj_equal(const cJSON *a, const cJSON *b);

#endif
