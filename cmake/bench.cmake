# bench/trine_bench: the db_bench-style driver (included from the top-level
# CMakeLists.txt when TRINE_BUILD_BENCH is ON).
file(GLOB TRINE_BENCH_SOURCES CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/bench/*.c)
add_executable(trine_bench ${TRINE_BENCH_SOURCES})
target_compile_options(trine_bench PRIVATE ${TRINE_WARNINGS})
target_include_directories(trine_bench PRIVATE ${PROJECT_SOURCE_DIR}/src)
target_link_libraries(trine_bench PRIVATE trine_static m)
