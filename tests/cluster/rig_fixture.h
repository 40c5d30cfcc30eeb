/*
 * rig_fixture.h: the cmocka group fixture the cluster integration tests
 * share: one cluster_rig per test process (Redis, RIG_NODES parleyd nodes
 * in cluster mode, haproxy), started before the group and stopped after,
 * and a client on a chosen node. A test file's own setup (other options,
 * a node to wake in teardown) calls the _with / stop forms.
 */
#ifndef PARLEY_TEST_RIG_FIXTURE_H
#define PARLEY_TEST_RIG_FIXTURE_H

#include "cluster_rig.h"
#include "rawws.h"

/* The process's cluster. */
extern struct cluster_rig rig;

/* Group setup: every node in cluster mode (`--redis {redis}`). */
int rig_setup(void **state);
/* The same with node options extra (NULL-terminated, "{redis}" replaced
 * by Redis's URL): the caller's whole list. 0 or -1. */
int rig_setup_with(const char *const *extra);
/* Group teardown: stop the rig (every node must exit cleanly). */
int rig_teardown(void **state);

/* Node i's WebSocket port. */
int rig_node(int i);
/* A client on node i with its hello done (a failed assertion if not). */
struct rawws *rig_hello(int i, const char *name);

#endif
