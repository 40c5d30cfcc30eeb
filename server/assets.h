/*
 * assets.h: the web client's files, embedded into parleyd at build time
 * (cmake/EmbedAssets.cmake generates the table).
 */
#ifndef PL_ASSETS_H
#define PL_ASSETS_H

#include <stddef.h>

struct asset {
    const char *path;          /* "/index.html" */
    const char *content_type;
    const unsigned char *data;
    size_t len;
    const char *etag;          /* quoted, derived from the content */
};

extern const struct asset assets[];
extern const size_t assets_count;

/* The asset for a request path ("/" is "/index.html"), or NULL. */
const struct asset *asset_find(const char *path);

#endif
