/*
 * mqtt_payload.c: owns the mapping between MQTT payload bytes and the
 * JSON `data` of a Parley message (mqtt_payload.h has the table).
 *
 * DESIGN: the same strict JSON scan as commands (pl_json_valid) decides
 * what "JSON text" means, so a payload counts as JSON exactly when the
 * same text as a `pub`'s data would be accepted, and its value is kept
 * with the same compaction. Everything else is text when it is UTF-8 and
 * base64 when not, so every payload becomes some valid JSON value and
 * none is refused. Reused from cmd.c and frame.c: pl_json_valid,
 * pl_json_compact, pl_json_unescape, pl_buf_json_str, pl_buf_base64.
 *
 * No globals; any thread.
 */
#include <string.h>

#include "cmd.h"
#include "mqtt_payload.h"
#include "topic.h"

enum pl_mqtt_payload_kind pl_mqtt_payload_to_data(struct pl_buf *b,
                                                  const void *payload,
                                                  size_t len, int max_depth)
{
    const char *s = payload;

    if (len > 0 && pl_json_valid(s, len, max_depth)) {
        char *w = pl_buf_room(b, len);

        if (w != NULL)
            pl_buf_commit(b, pl_json_compact(s, len, w));
        return PL_MQTT_PAYLOAD_JSON;
    }
    if (len == 0 || pl_utf8_valid(s, len)) {
        pl_buf_json_str(b, s, len);
        return PL_MQTT_PAYLOAD_TEXT;
    }
    pl_buf_cstr(b, "{\"base64\":\"");
    pl_buf_base64(b, s, len, false);
    pl_buf_cstr(b, "\"}");
    return PL_MQTT_PAYLOAD_BINARY;
}

bool pl_mqtt_data_is_verbatim(const char *data, size_t len)
{
    return len < 2 || data[0] != '"';
}

size_t pl_mqtt_data_to_payload(const char *data, size_t len, char *out)
{
    bool nul = false;

    if (pl_mqtt_data_is_verbatim(data, len)) {
        if (len > 0)
            memcpy(out, data, len);
        return len;
    }
    /* U+0000 is fine here: a payload is bytes. */
    return pl_json_unescape(data + 1, len - 2, out, &nul);
}
