/*
 * mqtt_payload.h: how an MQTT payload (bytes) and a Parley message's
 * `data` (a JSON value) stand for each other, both ways. No I/O.
 *
 *   payload -> data:  JSON text  -> that JSON value (whitespace dropped)
 *                     other UTF-8 -> a JSON string of it
 *                     not UTF-8  -> {"base64":"<RFC 4648 base64>"}
 *   data -> payload:  a JSON string -> its raw text (unescaped)
 *                     anything else -> its JSON text
 *
 * The mapping is not a bijection (protocol/README.md, "MQTT", lists the
 * cases), so a message published over MQTT whose payload the round trip
 * (payload -> data -> pl_mqtt_data_to_wire) would change keeps its exact
 * bytes next to its data (pl_mqtt_payload_needs_raw decides), and MQTT
 * subscribers get those; JSON clients always get data.
 */
#ifndef PL_MQTT_PAYLOAD_H
#define PL_MQTT_PAYLOAD_H

#include <stdbool.h>
#include <stddef.h>

#include "frame.h"

enum pl_mqtt_payload_kind {
    PL_MQTT_PAYLOAD_JSON,   /* the payload was JSON text */
    PL_MQTT_PAYLOAD_TEXT,   /* other UTF-8 (the empty payload too) */
    PL_MQTT_PAYLOAD_BINARY, /* not UTF-8 */
};

/*
 * Appends to b the compact JSON text of the `data` that payload[0..len)
 * stands for, and returns which rule applied. JSON text must pass the
 * same strict scan as commands, nested at most max_depth deep (<= 0: the
 * default); deeper JSON counts as other UTF-8. Check pl_buf_failed(b).
 */
enum pl_mqtt_payload_kind pl_mqtt_payload_to_data(struct pl_buf *b,
                                                  const void *payload,
                                                  size_t len, int max_depth);

/*
 * The payload for `data`, compact JSON text data[0..len) as pl_cmd_parse
 * keeps it: written into out (room for len bytes: a payload is never
 * longer than its data), its length returned.
 */
size_t pl_mqtt_data_to_payload(const char *data, size_t len, char *out);

/*
 * The payload an MQTT subscriber gets for `data` (compact JSON text, as in
 * a msg frame): pl_mqtt_data_to_payload, plus the listener's two rules on
 * top: `null` (a JSON null, or a cleared retained value) is the empty
 * payload, and an object with the single member "base64" (valid padded
 * base64) is the bytes it encodes, so a binary MQTT payload comes back as
 * itself. out has room for len bytes; the length is returned.
 */
size_t pl_mqtt_data_to_wire(const char *data, size_t len, unsigned char *out);

/*
 * True when payload[0..len), published over MQTT and turned into `data`
 * (data[0..dlen), what pl_mqtt_payload_to_data gave, or `null` for an empty
 * retained payload), would not come back from pl_mqtt_data_to_wire as the
 * same bytes: then the exact payload must be kept with the message. False
 * for the common cases (compact JSON, plain text, binary), which cost
 * nothing to keep. -1 when memory ran out.
 */
int pl_mqtt_payload_needs_raw(const void *payload, size_t len,
                              const char *data, size_t dlen);

/* True when data's payload is data's own text (it is not a JSON string),
 * so it can be sent without pl_mqtt_data_to_payload()'s copy. */
bool pl_mqtt_data_is_verbatim(const char *data, size_t len);

#endif
