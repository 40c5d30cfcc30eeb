# parley_testsupport: the integration tests' raw WebSocket and HTTP clients,
# the parleyd runner and the shared fixtures. Independent of the server's
# code on purpose: it checks the wire against the spec, not against itself.
if(NOT TARGET parley_testsupport)
    add_library(parley_testsupport STATIC
        ${CMAKE_CURRENT_LIST_DIR}/rawws.c
        ${CMAKE_CURRENT_LIST_DIR}/httpc.c
        ${CMAKE_CURRENT_LIST_DIR}/server.c
        ${CMAKE_CURRENT_LIST_DIR}/tjson.c
        ${CMAKE_CURRENT_LIST_DIR}/itest.c)
    parley_warnings(parley_testsupport)
    target_include_directories(parley_testsupport
        PUBLIC ${CMAKE_CURRENT_LIST_DIR})
    target_link_libraries(parley_testsupport
        PUBLIC PkgConfig::CJSON PkgConfig::OPENSSL Threads::Threads m)
endif()

# parley_mosq: mosquitto_pub / mosquitto_sub as child programs, for the
# MQTT tests on one node and on a cluster (asserts with cmocka).
if(NOT TARGET parley_mosq)
    add_library(parley_mosq STATIC ${CMAKE_CURRENT_LIST_DIR}/mosq.c)
    parley_warnings(parley_mosq)
    target_link_libraries(parley_mosq
        PUBLIC parley_testsupport PkgConfig::CMOCKA)
endif()

# parley_mqraw: a raw MQTT client on a socket (session present, DUP
# retries, PUBREL withheld), on one node and on a cluster.
if(NOT TARGET parley_mqraw)
    add_library(parley_mqraw STATIC ${CMAKE_CURRENT_LIST_DIR}/mqraw.c)
    parley_warnings(parley_mqraw)
    target_link_libraries(parley_mqraw
        PUBLIC parley_testsupport parley_protocol PkgConfig::CMOCKA)
endif()
