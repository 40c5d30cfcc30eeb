# parley_add_unit_test(name SOURCES ... LIBS ...): one cmocka binary per module.
# parley_add_itest(name SOURCES ... LIBS ...): an integration test that starts
# a real parleyd (its path is passed in PARLEYD) and talks to it on loopback.
function(parley_add_unit_test name)
    cmake_parse_arguments(T "" "" "SOURCES;LIBS" ${ARGN})
    add_executable(${name} ${T_SOURCES})
    parley_warnings(${name})
    target_link_libraries(${name} PRIVATE ${T_LIBS} PkgConfig::CMOCKA)
    add_test(NAME ${name} COMMAND ${name})
    set_tests_properties(${name} PROPERTIES LABELS unit TIMEOUT 120)
endfunction()

set(PARLEY_ITEST_ENV "PARLEYD=$<TARGET_FILE:parleyd>;PARLEY_CLI=$<TARGET_FILE_DIR:parleyd>/../client-cli/parley")
function(parley_add_itest name)
    cmake_parse_arguments(T "" "" "SOURCES;LIBS" ${ARGN})
    add_executable(${name} ${T_SOURCES})
    parley_warnings(${name})
    target_link_libraries(${name} PRIVATE ${T_LIBS} PkgConfig::CMOCKA)
    add_test(NAME ${name} COMMAND ${name})
    set_tests_properties(${name} PROPERTIES LABELS integration TIMEOUT 300
        ENVIRONMENT "${PARLEY_ITEST_ENV}")
endfunction()

# parley_add_itest_cluster(name): run the integration test <name> once more,
# as <name>_cluster, against a cluster instead of one parleyd: three
# `parleyd --redis` nodes behind haproxy round-robin (PARLEY_TEST_CLUSTER=3,
# see tests/support/server.h). The binary links the cluster mode
# (parley_clusterserver, tests/cluster/CMakeLists.txt).
function(parley_add_itest_cluster name)
    target_link_libraries(${name} PRIVATE parley_clusterserver)
    add_test(NAME ${name}_cluster COMMAND ${name})
    set_tests_properties(${name}_cluster PROPERTIES
        LABELS "integration;cluster" TIMEOUT 300
        ENVIRONMENT "${PARLEY_ITEST_ENV};PARLEY_TEST_CLUSTER=3")
endfunction()
