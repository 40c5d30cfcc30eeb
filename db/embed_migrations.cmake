# Run as: cmake -DOUT=<file.c> -DDIR=<migrations dir> -P embed_migrations.cmake
# Writes a C file holding every <NNN>_<name>.sql of DIR as a NUL-terminated
# byte array, in version order, plus the table store_migrations[]. Versions
# must grow and start at 1; a gap is allowed (a number reserved by a branch
# not merged yet: store_sql.c's sql_migrate). No tools beyond cmake itself.
file(GLOB files RELATIVE ${DIR} ${DIR}/*.sql)
list(SORT files)
set(body "")
set(table "")
set(expect 1)
set(count 0)
foreach(f IN LISTS files)
    if(NOT f MATCHES "^([0-9]+)_([A-Za-z0-9_]+)\\.sql$")
        message(FATAL_ERROR "migration ${f}: name it NNN_word.sql")
    endif()
    math(EXPR version "${CMAKE_MATCH_1}")
    set(name "${CMAKE_MATCH_1}_${CMAKE_MATCH_2}")
    if(version LESS expect OR (count EQUAL 0 AND NOT version EQUAL 1))
        message(FATAL_ERROR "migration ${f}: expected version ${expect}"
                            " or above (the first must be 1)")
    endif()
    math(EXPR expect "${version} + 1")
    math(EXPR count "${count} + 1")
    file(READ ${DIR}/${f} hex HEX)
    string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," hex "${hex}")
    string(REPEAT "0x..," 12 row)
    string(REGEX REPLACE "(${row})" "\\1\n    " hex "${hex}")
    string(APPEND body
        "static const char mig_${version}[] = {\n    ${hex}0x00\n};\n\n")
    string(APPEND table "    { ${version}, \"${name}\", mig_${version} },\n")
endforeach()
if(count EQUAL 0)
    message(FATAL_ERROR "no migrations in ${DIR}")
endif()
file(WRITE ${OUT}.tmp
"/* Generated from db/migrations by db/embed_migrations.cmake. Do not edit. */
#include \"store_sql.h\"

${body}const struct store_migration store_migrations[] = {
${table}};
const size_t store_n_migrations = ${count};
")
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
file(REMOVE ${OUT}.tmp)
