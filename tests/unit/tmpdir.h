/*
 * tmpdir.h: a fresh directory per test for the database tests, under
 * $TMPDIR (when short enough) or /tmp, removed with everything in it.
 */
#ifndef PARLEY_TEST_TMPDIR_H
#define PARLEY_TEST_TMPDIR_H

#include <stddef.h>

/* Create <tmp>/pl-<tag>-XXXXXX in dir and set path to <dir>/<file>.
 * 0, or -1 when the directory cannot be made. */
int tmpdir_make(char *dir, size_t dir_size, const char *tag, char *path,
                size_t path_size, const char *file);

/* Remove every file in dir, then dir. */
void tmpdir_remove(const char *dir);

/* A cmocka fixture of just that: *state becomes a struct tmpdb whose path
 * is <fresh dir>/p.db, and the teardown removes the directory. */
struct tmpdb {
    char dir[64];
    char path[128];
};

int tmpdb_setup(void **state);
int tmpdb_teardown(void **state);

/* A test that runs in its own struct tmpdb. */
#define TMPDB_TEST(fn) cmocka_unit_test_setup_teardown(fn, tmpdb_setup, \
                                                       tmpdb_teardown)

#endif
