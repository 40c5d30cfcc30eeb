# ParleyRequire: a suite that a make target promises must be built, or the
# configure step stops and names what is missing. Without these options a
# missing tool only leaves its suite out (a developer's partial build);
# `make test`, `make test-asan`, `make bench` and `make fuzz` turn them on
# after scripts/install-deps.sh has installed what they need, so a suite
# can never vanish from a run that reports success.
#
#   PARLEY_REQUIRE_TESTS  the browser suite (node, npm, chromium, its npm
#                         packages), the fuzz smoke test (clang with
#                         libFuzzer) and the CLI tests (tmux, openssl)
#   PARLEY_REQUIRE_BENCH  `make bench` (node, npm, gnuplot, taskset, and
#                         mosquitto for the MQTT cases)
#   PARLEY_REQUIRE_FUZZ   `make fuzz` (clang with libFuzzer)
#
# With PARLEY_REQUIRE_TESTS on, the tests that may exit 77 when something
# is missing (ctest's "skipped") have no skip code: a 77 fails the run.
option(PARLEY_REQUIRE_TESTS "Fail configuring when a test suite cannot run" OFF)
option(PARLEY_REQUIRE_BENCH "Fail configuring when make bench cannot run" OFF)
option(PARLEY_REQUIRE_FUZZ "Fail configuring when make fuzz cannot run" OFF)

set(PARLEY_MISSING "") # one line per missing thing

# Record "what (Debian package pkg)" as missing for the suites in `for`.
function(parley_require_note what pkg for)
    string(APPEND PARLEY_MISSING "\n  ${what}: install the Debian package "
           "${pkg} (needed by ${for})")
    set(PARLEY_MISSING "${PARLEY_MISSING}" PARENT_SCOPE)
endfunction()

# find_program(var prog) and, when it is required and absent, note pkg.
macro(parley_require_program var prog pkg for required)
    find_program(${var} ${prog})
    if(${required} AND NOT ${var})
        parley_require_note("${prog} not found" ${pkg} "${for}")
    endif()
endmacro()

# Can clang link a libFuzzer target? Debian ships the runtime apart.
function(parley_clang_has_libfuzzer clang out)
    set(dir ${CMAKE_BINARY_DIR}/CMakeFiles/parley-fuzz-probe)
    file(MAKE_DIRECTORY ${dir})
    file(WRITE ${dir}/probe.c
         "int LLVMFuzzerTestOneInput(const char *d, long n)\n{ return 0; }\n")
    execute_process(COMMAND ${clang} -fsanitize=fuzzer -o ${dir}/probe
                            ${dir}/probe.c
                    RESULT_VARIABLE rc OUTPUT_QUIET ERROR_QUIET)
    if(rc EQUAL 0)
        set(${out} TRUE PARENT_SCOPE)
    else()
        set(${out} FALSE PARENT_SCOPE)
    endif()
endfunction()

set(_req_fuzz OFF)
if(PARLEY_REQUIRE_TESTS OR PARLEY_REQUIRE_FUZZ)
    set(_req_fuzz ON)
endif()
set(_req_node OFF)
if(PARLEY_REQUIRE_TESTS OR PARLEY_REQUIRE_BENCH)
    set(_req_node ON)
endif()

set(_for_node "the browser tests and make bench")
parley_require_program(PARLEY_NODE node nodejs "${_for_node}" ${_req_node})
parley_require_program(PARLEY_NPM npm npm "${_for_node}" ${_req_node})
parley_require_program(PARLEY_CLANG clang clang "the fuzz tests" ${_req_fuzz})
if(_req_fuzz AND PARLEY_CLANG)
    parley_clang_has_libfuzzer(${PARLEY_CLANG} _has_fuzzer)
    if(NOT _has_fuzzer)
        parley_require_note("clang cannot link libFuzzer" libclang-rt-dev
                            "the fuzz tests")
    endif()
endif()
if(PARLEY_REQUIRE_TESTS)
    parley_require_program(PARLEY_TMUX tmux tmux "the CLI chat test" ON)
    parley_require_program(PARLEY_OPENSSL openssl openssl "the TLS tests" ON)
    parley_require_program(PARLEY_MOSQUITTO_PUB mosquitto_pub
                           mosquitto-clients "the MQTT tests" ON)
    # The cluster suite: the hiredis engine, a real Redis and haproxy.
    find_package(PkgConfig REQUIRED)
    pkg_check_modules(_REQ_HIREDIS QUIET hiredis)
    if(NOT _REQ_HIREDIS_FOUND)
        parley_require_note("hiredis not found by pkg-config" libhiredis-dev
                            "the cluster tests")
    endif()
    parley_require_program(PARLEY_REDIS_SERVER redis-server redis-server
                           "the cluster tests" ON)
    parley_require_program(PARLEY_HAPROXY haproxy haproxy
                           "the cluster tests" ON)
    execute_process(COMMAND /usr/bin/python3 -c "import paho.mqtt.client"
                    RESULT_VARIABLE _no_paho OUTPUT_QUIET ERROR_QUIET)
    if(_no_paho)
        parley_require_note("paho-mqtt not importable by /usr/bin/python3"
                            python3-paho-mqtt "the MQTT tests")
    endif()
    if(NOT EXISTS /usr/bin/chromium)
        parley_require_note("/usr/bin/chromium not found" chromium
                            "the browser tests")
    endif()
    if(NOT EXISTS ${PROJECT_SOURCE_DIR}/tests/e2e/node_modules/playwright-core)
        string(APPEND PARLEY_MISSING "\n  tests/e2e/node_modules is missing: "
               "run scripts/install-deps.sh --test (it runs npm ci)")
    endif()
endif()
if(PARLEY_REQUIRE_BENCH)
    parley_require_program(PARLEY_GNUPLOT gnuplot gnuplot-nox "make bench" ON)
    parley_require_program(PARLEY_TASKSET taskset util-linux "make bench" ON)
    # The broker the MQTT cases measure parleyd against (run.sh starts it).
    parley_require_program(PARLEY_MOSQUITTO mosquitto mosquitto
                           "make bench's MQTT cases" ON)
endif()

if(NOT PARLEY_MISSING STREQUAL "")
    message(FATAL_ERROR "A suite this build promises cannot be built:"
            "${PARLEY_MISSING}\n"
            "scripts/install-deps.sh (--test, --bench, --fuzz) installs them.")
endif()

# A test that exits 77 when a tool is missing: skipped in a partial build,
# failed in one that promises every suite (PARLEY_REQUIRE_TESTS).
function(parley_allow_skip)
    if(NOT PARLEY_REQUIRE_TESTS)
        set_tests_properties(${ARGN} PROPERTIES SKIP_RETURN_CODE 77)
    endif()
endfunction()
