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
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

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

/* {"base64":"..."} alone: the bytes it stands for, decoded into out
 * (room for len bytes). -1 when data is not that. The mapping's binary
 * case, turned back. */
static long base64_object(const char *data, size_t len, unsigned char *out)
{
    static const char head[] = "{\"base64\":\"";
    size_t hl = sizeof(head) - 1;
    size_t n = 0;
    int dec = 0;

    if (len < hl + 2 || memcmp(data, head, hl) != 0 ||
        memcmp(data + len - 2, "\"}", 2) != 0)
        return -1;
    n = len - hl - 2;
    if (n % 4 != 0 || memchr(data + hl, '"', n) != NULL)
        return -1;
    if (n == 0)
        return 0;
    dec = EVP_DecodeBlock(out, (const unsigned char *)data + hl, (int)n);
    if (dec < 0)
        return -1;
    /* EVP_DecodeBlock counts the padding as zero bytes. */
    if (data[hl + n - 1] == '=')
        dec--;
    if (data[hl + n - 2] == '=')
        dec--;
    return dec;
}

static bool is_null(const char *data, size_t len)
{
    return len == 4 && memcmp(data, "null", 4) == 0;
}

static bool is_base64_object(const char *data, size_t len)
{
    static const char head[] = "{\"base64\":\"";

    return len >= sizeof(head) - 1 && memcmp(data, head, sizeof(head) - 1) == 0;
}

size_t pl_mqtt_data_to_wire(const char *data, size_t len, unsigned char *out)
{
    long bin = 0;

    if (is_null(data, len))
        return 0;
    if ((bin = base64_object(data, len, out)) >= 0)
        return (size_t)bin;
    return pl_mqtt_data_to_payload(data, len, (char *)out);
}

int pl_mqtt_payload_needs_raw(const void *payload, size_t len,
                              const char *data, size_t dlen)
{
    /* A sensor's text reading fits here: no allocation per publish. */
    unsigned char small[256];
    unsigned char *back = small;
    size_t blen = 0;
    int differs = 0;

    /* The common case without a copy: compact JSON that goes back as its
     * own text (not a string, not null, not a base64 object). */
    if (pl_mqtt_data_is_verbatim(data, dlen) && !is_null(data, dlen) &&
        !is_base64_object(data, dlen))
        return dlen != len || (len > 0 && memcmp(data, payload, len) != 0);
    if (dlen + 1 > sizeof(small)) {
        back = malloc(dlen + 1);
        if (back == NULL)
            return -1;
    }
    blen = pl_mqtt_data_to_wire(data, dlen, back);
    differs = blen != len || (len > 0 && memcmp(back, payload, len) != 0);
    if (back != small)
        free(back);
    return differs;
}
