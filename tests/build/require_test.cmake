# require_test.cmake: proves that a build promising every suite stops at
# configure time, naming the Debian package, when a tool is missing, and
# that the same machine configures fine when nothing is promised (so the
# failure is the promise's, not the harness's). Run by ctest as
#   cmake -DSRC=<tree> -DWORK=<dir> -DHIDE=<prog;...> -DWANT=<text>
#         -DREQUIRE=<option> -P require_test.cmake
#
# It hides the programs in HIDE the way a machine without their packages
# would: PATH becomes a directory of links to every other program of the
# usual bin directories, and CMake is told to ignore those directories, so
# find_program() cannot find a hidden program there either.
foreach(v SRC WORK HIDE WANT REQUIRE)
    if(NOT DEFINED ${v})
        message(FATAL_ERROR "require_test: -D${v}=... is required")
    endif()
endforeach()

set(bin_dirs /usr/local/bin /usr/bin /bin /usr/sbin /sbin)
set(fake ${WORK}/bin)
file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${fake})
foreach(dir ${bin_dirs})
    if(NOT IS_DIRECTORY ${dir})
        continue()
    endif()
    # Names only of letters, digits and -_.+: a "[" in a CMake list (the
    # program `[`) would swallow the entries after it.
    file(GLOB progs LIST_DIRECTORIES false ${dir}/[a-zA-Z0-9_]*)
    list(FILTER progs INCLUDE REGEX "/[a-zA-Z0-9_.+-]+$")
    foreach(p ${progs})
        get_filename_component(name ${p} NAME)
        set(hidden FALSE)
        foreach(h ${HIDE})
            # clang hides clang-14 too: a prefix and a dash or a digit
            if(name STREQUAL h OR name MATCHES "^${h}-[0-9]")
                set(hidden TRUE)
            endif()
        endforeach()
        if(NOT hidden AND NOT EXISTS ${fake}/${name})
            file(CREATE_LINK ${p} ${fake}/${name} SYMBOLIC)
        endif()
    endforeach()
endforeach()

# configure(<result var> <stderr var> <require ON/OFF>) in its own dir.
function(configure out err on)
    execute_process(
        COMMAND ${CMAKE_COMMAND} -E env PATH=${fake}
                ${CMAKE_COMMAND} -S ${SRC} -B ${WORK}/build-${on}
                "-DCMAKE_IGNORE_PATH=${bin_dirs}"
                -D${REQUIRE}=${on}
        RESULT_VARIABLE rc OUTPUT_QUIET ERROR_VARIABLE text)
    set(${out} ${rc} PARENT_SCOPE)
    set(${err} "${text}" PARENT_SCOPE)
endfunction()

configure(rc text OFF)
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "without ${REQUIRE}, configuring with ${HIDE} "
            "hidden failed (the harness, not the promise):\n${text}")
endif()
configure(rc text ON)
if(rc EQUAL 0)
    message(FATAL_ERROR "${REQUIRE}=ON configured although ${HIDE} is "
            "missing: a promised suite would silently vanish")
endif()
string(FIND "${text}" "${WANT}" at)
if(at EQUAL -1)
    message(FATAL_ERROR "${REQUIRE}=ON failed without naming ${WANT}:\n"
            "${text}")
endif()
message(STATUS "${REQUIRE}=ON without ${HIDE}: stopped, naming ${WANT}")
file(REMOVE_RECURSE ${WORK})
