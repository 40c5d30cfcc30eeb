# Unit tests of parley_protocol (protocol/): topics, commands, frames, JWT.
foreach(t test_topic test_cmd test_frame test_jwt)
    parley_add_unit_test(${t}
        SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/${t}.c
        LIBS parley_protocol)
endforeach()
# test_jwt also calls libcrypto directly to cross-check signatures.
target_link_libraries(test_jwt PRIVATE PkgConfig::OPENSSL PkgConfig::CJSON)
target_link_libraries(test_cmd PRIVATE PkgConfig::CJSON)
target_link_libraries(test_frame PRIVATE PkgConfig::CJSON)
