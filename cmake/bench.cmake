# bench/trine_bench: the db_bench-style driver (included from the top-level
# CMakeLists.txt when TRINE_BUILD_BENCH is ON).
#
# Peers: each of RocksDB, LevelDB and LMDB gets its driver compiled in when
# its development package is found (librocksdb-dev, libleveldb-dev,
# liblmdb-dev); otherwise a note is printed and the engine is left out
# (bench/registry.c lists what was built; `trine_bench --list_engines`
# prints it). The library itself never depends on them.
option(TRINE_BENCH_PEERS "Build trine_bench's RocksDB/LevelDB/LMDB drivers when found" ON)

set(_bench_dir ${PROJECT_SOURCE_DIR}/bench)
file(GLOB TRINE_BENCH_SOURCES CONFIGURE_DEPENDS ${_bench_dir}/*.c)
list(FILTER TRINE_BENCH_SOURCES EXCLUDE REGEX "/engine_(rocksdb|leveldb|lmdb)\\.c$")
add_executable(trine_bench ${TRINE_BENCH_SOURCES})
target_compile_options(trine_bench PRIVATE ${TRINE_WARNINGS})
target_include_directories(trine_bench PRIVATE ${PROJECT_SOURCE_DIR}/src
  ${CMAKE_CURRENT_BINARY_DIR}/bench-generated)
target_link_libraries(trine_bench PRIVATE trine_static m Threads::Threads)

# Which calls of later releases trine.h declares (see bench/features.cmake):
# regenerated at build time whenever the header changes.
set(_bench_features ${CMAKE_CURRENT_BINARY_DIR}/bench-generated/bench_features.h)
add_custom_command(OUTPUT ${_bench_features}
  COMMAND ${CMAKE_COMMAND} -DTRINE_H=${PROJECT_SOURCE_DIR}/include/trine/trine.h
          -DOUT=${_bench_features} -P ${_bench_dir}/features.cmake
  DEPENDS ${PROJECT_SOURCE_DIR}/include/trine/trine.h ${_bench_dir}/features.cmake
  COMMENT "trine_bench: checking trine.h for later-release calls" VERBATIM)
add_custom_target(trine_bench_features DEPENDS ${_bench_features})
add_dependencies(trine_bench trine_bench_features)
set_source_files_properties(${_bench_dir}/engine_trine.c PROPERTIES OBJECT_DEPENDS ${_bench_features})

set(TRINE_BENCH_ENGINES trine)
if(TRINE_BENCH_PEERS)
  # RocksDB ships a .pc file.
  pkg_check_modules(BENCH_ROCKSDB QUIET IMPORTED_TARGET rocksdb)
  if(BENCH_ROCKSDB_FOUND)
    target_sources(trine_bench PRIVATE ${_bench_dir}/engine_rocksdb.c)
    target_compile_definitions(trine_bench PRIVATE BENCH_HAVE_ROCKSDB
      BENCH_ROCKSDB_VERSION="${BENCH_ROCKSDB_VERSION}")
    target_link_libraries(trine_bench PRIVATE PkgConfig::BENCH_ROCKSDB)
    list(APPEND TRINE_BENCH_ENGINES "rocksdb ${BENCH_ROCKSDB_VERSION}")
  else()
    message(STATUS "trine_bench: RocksDB not found (install librocksdb-dev): driver left out")
  endif()

  # LevelDB ships no .pc file.
  find_path(BENCH_LEVELDB_INCLUDE_DIR leveldb/c.h)
  find_library(BENCH_LEVELDB_LIBRARY leveldb)
  if(BENCH_LEVELDB_INCLUDE_DIR AND BENCH_LEVELDB_LIBRARY)
    target_sources(trine_bench PRIVATE ${_bench_dir}/engine_leveldb.c)
    target_compile_definitions(trine_bench PRIVATE BENCH_HAVE_LEVELDB)
    target_include_directories(trine_bench PRIVATE ${BENCH_LEVELDB_INCLUDE_DIR})
    target_link_libraries(trine_bench PRIVATE ${BENCH_LEVELDB_LIBRARY})
    list(APPEND TRINE_BENCH_ENGINES leveldb)
  else()
    message(STATUS "trine_bench: LevelDB not found (install libleveldb-dev): driver left out")
  endif()

  # LMDB: Debian ships lmdb.pc; fall back to the header and library.
  pkg_check_modules(BENCH_LMDB QUIET IMPORTED_TARGET lmdb)
  if(BENCH_LMDB_FOUND)
    set(_bench_lmdb_lib PkgConfig::BENCH_LMDB)
  else()
    find_path(BENCH_LMDB_INCLUDE_DIR lmdb.h)
    find_library(BENCH_LMDB_LIBRARY lmdb)
    if(BENCH_LMDB_INCLUDE_DIR AND BENCH_LMDB_LIBRARY)
      set(_bench_lmdb_lib ${BENCH_LMDB_LIBRARY})
      target_include_directories(trine_bench PRIVATE ${BENCH_LMDB_INCLUDE_DIR})
    endif()
  endif()
  if(_bench_lmdb_lib)
    target_sources(trine_bench PRIVATE ${_bench_dir}/engine_lmdb.c)
    target_compile_definitions(trine_bench PRIVATE BENCH_HAVE_LMDB)
    target_link_libraries(trine_bench PRIVATE ${_bench_lmdb_lib})
    list(APPEND TRINE_BENCH_ENGINES lmdb)
  else()
    message(STATUS "trine_bench: LMDB not found (install liblmdb-dev): driver left out")
  endif()
endif()
string(REPLACE ";" ", " _bench_list "${TRINE_BENCH_ENGINES}")
message(STATUS "trine_bench engines: ${_bench_list}")
