# db/: the job queue, the plain SQLite layer, the WAL-gathering VFS and the
# threaded store.
# PARLEY_DB_FIXTURES is where tests find tests/fixtures/db/.
parley_add_unit_test(test_jobq
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_jobq.c LIBS parley_db)
parley_add_unit_test(test_store_sql
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_store_sql.c
            ${CMAKE_CURRENT_SOURCE_DIR}/tmpdir.c LIBS parley_db)
parley_add_unit_test(test_wal_vfs
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_wal_vfs.c
            ${CMAKE_CURRENT_SOURCE_DIR}/tmpdir.c LIBS parley_db)
parley_add_unit_test(test_store
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_store.c
            ${CMAKE_CURRENT_SOURCE_DIR}/tmpdir.c LIBS parley_db)
# bench_store: the same source's throughput measurement alone (400,000
# publishes), under the bench label so `make test` does not run it.
parley_add_unit_test(bench_store
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_store.c
            ${CMAKE_CURRENT_SOURCE_DIR}/tmpdir.c LIBS parley_db)
target_compile_definitions(bench_store PRIVATE PARLEY_STORE_BENCH=1)
set_tests_properties(bench_store PROPERTIES LABELS bench TIMEOUT 900)
foreach(t test_store_sql test_store bench_store)
    target_compile_definitions(${t} PRIVATE
        PARLEY_DB_FIXTURES="${PROJECT_SOURCE_DIR}/tests/fixtures/db")
endforeach()
