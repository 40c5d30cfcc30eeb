/* tmpdir.c: see tmpdir.h. */
#include "tmpdir.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int tmpdir_make(char *dir, size_t dir_size, const char *tag, char *path,
                size_t path_size, const char *file)
{
    const char *tmp = getenv("TMPDIR");

    snprintf(dir, dir_size, "%s/pl-%s-XXXXXX",
             tmp != NULL && strlen(tmp) < 40 ? tmp : "/tmp", tag);
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(path, path_size, "%s/%s", dir, file);
    return 0;
}

void tmpdir_remove(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e = NULL;
    char p[512];

    while (d != NULL && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        unlink(p);
    }
    if (d != NULL)
        closedir(d);
    rmdir(dir);
}

int tmpdb_setup(void **state)
{
    struct tmpdb *t = calloc(1, sizeof(*t));

    if (t == NULL)
        return -1;
    if (tmpdir_make(t->dir, sizeof(t->dir), "db", t->path, sizeof(t->path),
                    "p.db") != 0) {
        free(t);
        return -1;
    }
    *state = t;
    return 0;
}

int tmpdb_teardown(void **state)
{
    struct tmpdb *t = *state;

    tmpdir_remove(t->dir);
    free(t);
    return 0;
}
