/*
 * rig_fixture.c: the cluster tests' shared group fixture (rig_fixture.h).
 */
#include "rig_fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "itest.h"

struct cluster_rig rig;

int rig_setup_with(const char *const *extra)
{
    return cluster_rig_start(&rig, extra) == 0 ? 0 : -1;
}

int rig_setup(void **state)
{
    static const char *const extra[] = {"--redis", "{redis}", NULL};

    (void)state;
    return rig_setup_with(extra);
}

int rig_teardown(void **state)
{
    (void)state;
    return cluster_rig_stop(&rig) == 0 ? 0 : -1;
}

int rig_node(int i)
{
    return cluster_rig_node_port(&rig, i);
}

struct rawws *rig_hello(int i, const char *name)
{
    struct rawws *c = itest_hello(rig_node(i), name);

    assert_non_null(c);
    return c;
}
