/*
 * topic.h: topic and pattern rules (MQTT's), shared by server, CLI, tests.
 *
 * A topic is 1..255 bytes of valid UTF-8 split by '/', no empty level, no
 * control characters (U+0000..U+001F, U+007F..U+009F). A pattern may also
 * hold '+' (one whole level) and '#' (the whole last level, zero or more
 * levels). Leading wildcards never match topics that begin with '$'.
 */
#ifndef PL_TOPIC_H
#define PL_TOPIC_H

#include <stdbool.h>
#include <stddef.h>

#include "errors.h"

#define PL_TOPIC_MAX 255

/* PL_OK when `t` (len bytes, not necessarily NUL-terminated) is a valid
 * topic (allow_wildcards false) or pattern (allow_wildcards true); else
 * PL_ERR_INVALID_TOPIC. */
enum pl_err pl_topic_validate(const char *t, size_t len, bool allow_wildcards);

/* True when a valid pattern contains '+' or '#' as a level. */
bool pl_topic_is_pattern(const char *t, size_t len);

/* True when pattern (valid, may be concrete) matches the concrete topic.
 * Both NUL-terminated. */
bool pl_topic_match(const char *pattern, const char *topic);

/* True when every topic that `inner` can match is also matched by `outer`
 * (both valid patterns or topics, NUL-terminated). Used for allow_sub. */
bool pl_pattern_covers(const char *outer, const char *inner);

/* True when the whole buffer is valid UTF-8 (no overlongs, no surrogates). */
bool pl_utf8_valid(const char *s, size_t len);

#endif
