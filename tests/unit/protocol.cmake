# Unit tests of parley_protocol (protocol/): topics, commands, frames, JWT,
# the MQTT codec and payload mapping.
foreach(t test_topic test_cmd test_frame test_jwt test_mqtt
        test_mqtt_payload)
    parley_add_unit_test(${t}
        SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/${t}.c
        LIBS parley_protocol)
endforeach()
# test_jwt also calls libcrypto directly to cross-check signatures.
target_link_libraries(test_jwt PRIVATE PkgConfig::OPENSSL PkgConfig::CJSON)
target_link_libraries(test_cmd PRIVATE PkgConfig::CJSON)
# test_cmd counts the parser's allocations (and fails one) by wrapping malloc.
target_link_options(test_cmd PRIVATE -Wl,--wrap=malloc)
target_link_libraries(test_frame PRIVATE PkgConfig::CJSON)
# bench_cmd: ns per pl_cmd_parse on typical frames. Run it by hand for
# numbers (`bench_cmd 1000000`); ctest only runs a tiny count as a smoke.
add_executable(bench_cmd ${CMAKE_CURRENT_SOURCE_DIR}/bench_cmd.c)
parley_warnings(bench_cmd)
target_link_libraries(bench_cmd PRIVATE parley_protocol)
add_test(NAME bench_cmd_smoke COMMAND bench_cmd 100)
set_tests_properties(bench_cmd_smoke PROPERTIES LABELS unit TIMEOUT 60)
