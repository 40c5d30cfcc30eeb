/*
 * msg.c: allocation and reference counting of struct msg. The frame lives
 * in the same allocation as the header, after MSG_HEADROOM spare bytes.
 * Only the service thread creates, references or frees messages.
 */
#include "msg.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static uint64_t msg_live;

uint64_t msg_live_count(void)
{
    return msg_live;
}

static struct msg *msg_alloc(size_t frame_len)
{
    struct msg *m = NULL;
    size_t hdr = (sizeof(*m) + 15) & ~(size_t)15;

    assert(pl_on_service_thread());
    m = malloc(hdr + MSG_HEADROOM + frame_len);
    if (m == NULL)
        return NULL;
    m->refs = 1;
    m->len = (uint32_t)frame_len;
    m->seq = 0;
    m->ts = 0;
    m->placeholder = false;
    m->frame = (unsigned char *)m + hdr + MSG_HEADROOM;
    m->raw = NULL;
    m->raw_len = 0;
    msg_live++;
    return m;
}

struct msg *msg_from_buf(struct pl_buf *b, int64_t seq)
{
    unsigned char *frame = NULL;
    size_t len = 0;
    struct msg *m = NULL;

    if (pl_buf_failed(b))
        return NULL;
    pl_buf_ws_finish(b, &frame, &len);
    m = msg_alloc(len);
    if (m == NULL)
        return NULL;
    memcpy(m->frame, frame, len);
    m->seq = seq;
    return m;
}

int msg_set_raw(struct msg *m, const void *raw, size_t len)
{
    assert(m->refs == 1 && m->raw == NULL);
    if (len == 0)
        return 0;
    if (len > UINT32_MAX)
        return -ENOMEM;
    m->raw = malloc(len);
    if (m->raw == NULL)
        return -ENOMEM;
    memcpy(m->raw, raw, len);
    m->raw_len = (uint32_t)len;
    return 0;
}

struct msg *msg_placeholder(void)
{
    struct msg *m = msg_alloc(0);

    if (m != NULL) {
        m->placeholder = true;
        m->frame = NULL;
    }
    return m;
}

/*
 * A placeholder is owned by exactly one connection's queue, so it can be
 * reallocated behind its own pointer... except that the queue holds that
 * pointer. We therefore keep the placeholder struct and point its frame at
 * a separate allocation, freed in msg_unref().
 */
int msg_fill(struct msg *m, struct pl_buf *b)
{
    unsigned char *frame = NULL;
    unsigned char *copy = NULL;
    size_t len = 0;

    assert(m->placeholder); /* only a placeholder is ever filled */
    if (pl_buf_failed(b))
        return -ENOMEM;
    pl_buf_ws_finish(b, &frame, &len);
    copy = malloc(MSG_HEADROOM + len);
    if (copy == NULL)
        return -ENOMEM;
    memcpy(copy + MSG_HEADROOM, frame, len);
    m->frame = copy + MSG_HEADROOM;
    m->len = (uint32_t)len;
    m->placeholder = false;
    return 0;
}

void msg_unref(struct msg **mp)
{
    struct msg *m = *mp;
    size_t hdr = (sizeof(*m) + 15) & ~(size_t)15;

    if (m == NULL)
        return;
    *mp = NULL;
    assert(pl_on_service_thread());
    assert(m->refs > 0);
    if (--m->refs > 0)
        return;
    /* A filled placeholder points outside its own allocation. */
    if (m->frame != NULL && m->frame != (unsigned char *)m + hdr + MSG_HEADROOM)
        free(m->frame - MSG_HEADROOM);
    free(m->raw);
    assert(msg_live > 0);
    msg_live--;
    free(m);
}

const char *msg_frame_payload(const unsigned char *frame, size_t flen,
                              size_t *len)
{
    size_t hdr = 2;
    unsigned char n7 = 0;

    if (frame == NULL || flen < 2)
        return NULL;
    /* Our frames are unmasked, so the header is 2, 4 or 10 bytes, by the
     * 7-bit length field (RFC 6455 5.2). */
    n7 = frame[1] & 0x7f;
    if (n7 == 126)
        hdr = 4;
    else if (n7 == 127)
        hdr = 10;
    if (flen < hdr)
        return NULL;
    *len = flen - hdr;
    return (const char *)frame + hdr;
}

size_t msg_frame_len(const unsigned char *frame, size_t avail)
{
    size_t plen = 0;
    const char *p = msg_frame_payload(frame, avail, &plen);
    size_t hdr = 0;
    uint64_t n = 0;
    size_t i = 0;

    if (p == NULL)
        return 0;
    /* The header's own length field, big-endian after the 7-bit one. */
    hdr = (size_t)((const unsigned char *)p - frame);
    n = frame[1] & 0x7f;
    if (hdr > 2)
        for (n = 0, i = 2; i < hdr; i++)
            n = n << 8 | frame[i];
    return hdr + n <= avail ? hdr + (size_t)n : 0;
}

const char *msg_payload(const struct msg *m, size_t *len)
{
    if (m->placeholder)
        return NULL;
    return msg_frame_payload(m->frame, m->len, len);
}
