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

function(parley_add_itest name)
    cmake_parse_arguments(T "" "" "SOURCES;LIBS" ${ARGN})
    add_executable(${name} ${T_SOURCES})
    parley_warnings(${name})
    target_link_libraries(${name} PRIVATE ${T_LIBS} PkgConfig::CMOCKA)
    add_test(NAME ${name} COMMAND ${name})
    set_tests_properties(${name} PROPERTIES LABELS integration TIMEOUT 300
        ENVIRONMENT "PARLEYD=$<TARGET_FILE:parleyd>;PARLEY_CLI=$<TARGET_FILE_DIR:parleyd>/../client-cli/parley")
endfunction()
