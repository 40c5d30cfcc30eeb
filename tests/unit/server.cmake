# server/: the hub core (parley_core, no lws) driven through a fake
# hub_ops (hub_fake.c), the subscription index and the out-queue.
parley_add_unit_test(test_hub
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_hub.c
            ${CMAKE_CURRENT_SOURCE_DIR}/hub_fake.c
    LIBS parley_core)
parley_add_unit_test(test_topic_tree
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_topic_tree.c LIBS parley_core)
parley_add_unit_test(test_outq
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_outq.c LIBS parley_core)
target_link_libraries(test_hub PRIVATE PkgConfig::CJSON parley_http)
# The hub over shared storage (cluster mode's optional storage ops).
parley_add_unit_test(test_hub_shared
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_hub_shared.c
            ${CMAKE_CURRENT_SOURCE_DIR}/hub_fake.c
    LIBS parley_core)
target_link_libraries(test_hub_shared PRIVATE PkgConfig::CJSON parley_http)
parley_add_unit_test(test_delivered
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_delivered.c LIBS parley_core)
parley_add_unit_test(test_peers
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_peers.c LIBS parley_core)
parley_add_unit_test(test_http_query
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_http_query.c LIBS parley_http)
parley_add_unit_test(test_http_reply
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_http_reply.c LIBS parley_http)
# The MQTT session's QoS 1/2 window and inbound QoS 2 ids (no lws).
parley_add_unit_test(test_mqtt_inflight
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_mqtt_inflight.c LIBS parley_core)
parley_add_unit_test(test_hub_out
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_hub_out.c
            ${CMAKE_CURRENT_SOURCE_DIR}/hub_fake.c
    LIBS parley_core)
target_link_libraries(test_hub_out PRIVATE PkgConfig::CJSON parley_http)
parley_add_unit_test(test_config
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_config.c LIBS parley_core)
# The log line formats, text and JSON (checked by parsing with cJSON).
parley_add_unit_test(test_log
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_log.c LIBS parley_core)
target_link_libraries(test_log PRIVATE PkgConfig::CJSON)
# test_config compares packaging/parley.conf with the option table.
target_compile_definitions(test_config PRIVATE
    PARLEY_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
parley_add_unit_test(test_ready
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_ready.c LIBS parley_core)
parley_add_unit_test(test_cidr
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_cidr.c LIBS parley_core)
# The $SYS topics (server/sys.c) on the fake hub.
parley_add_unit_test(test_sys
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_sys.c
            ${CMAKE_CURRENT_SOURCE_DIR}/hub_fake.c
    LIBS parley_core)
target_link_libraries(test_sys PRIVATE PkgConfig::CJSON parley_http)
# One MQTT connection on a real hub, no socket (server/mqtt_session.c).
parley_add_unit_test(test_mqtt_session
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_mqtt_session.c
            ${CMAKE_CURRENT_SOURCE_DIR}/hub_fake.c
    LIBS parley_core)
target_link_libraries(test_mqtt_session PRIVATE PkgConfig::CJSON parley_http)
parley_add_unit_test(test_proxy_v1
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_proxy_v1.c LIBS parley_core)
