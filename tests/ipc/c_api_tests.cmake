# Tests of the C interface, libsn_ipc_c.so (label ipc; included by ipc_tests.cmake):
#   ipc.c_api.from_c   tests/ipc/c_api_test.c, compiled as C11 and linked against the
#                      shared library as a C program would: every function, result and
#                      error text of include/sn/ipc/c_api.h;
#   ipc.c_api.exports  the library's dynamic symbol table holds the sn_ipc_* functions
#                      and nothing else, and it needs neither mimalloc nor hwloc (see the
#                      sn_ipc_c block of the top CMakeLists.txt for why).
# The cross-process runs, and Python, are the example examples/ipc_python.
#
# Run as a script (cmake -DLIB=... -DHEADER=... -DNM=... -DOBJDUMP=... -P this file), it is the
# exports check itself, so that the check and its registration stay in one file.
if(CMAKE_SCRIPT_MODE_FILE)
  cmake_minimum_required(VERSION 3.25)  # a script starts with no policies set (IN_LIST)
  execute_process(COMMAND "${NM}" -D --defined-only "${LIB}" OUTPUT_VARIABLE symbols RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${NM} -D --defined-only ${LIB} failed (${rc})")
  endif()
  # What c_api.h declares with SN_IPC_API, one name each.
  file(READ "${HEADER}" header)
  string(REGEX MATCHALL "SN_IPC_API [^;]*[ *](sn_ipc_[a-z_]+)\\(" declared "${header}")
  list(TRANSFORM declared REPLACE ".*[ *](sn_ipc_[a-z_]+)\\($" "\\1")
  string(REGEX MATCHALL "[^\n]+" lines "${symbols}")
  set(exported "")
  foreach(line IN LISTS lines)
    if(line MATCHES " [A-Za-z] (sn_ipc_[a-z_]+)$" AND CMAKE_MATCH_1 IN_LIST declared)
      list(APPEND exported ${CMAKE_MATCH_1})
    else()
      message(SEND_ERROR "exported, but not declared in c_api.h: ${line}")
    endif()
  endforeach()
  foreach(name IN LISTS declared)
    if(NOT name IN_LIST exported)
      message(SEND_ERROR "declared in c_api.h, but not exported: ${name}")
    endif()
  endforeach()
  if(OBJDUMP)
    execute_process(COMMAND "${OBJDUMP}" -p "${LIB}" OUTPUT_VARIABLE headers)
    if(headers MATCHES "NEEDED +(lib(mimalloc|hwloc)[^\n]*)")
      message(SEND_ERROR "${LIB} needs ${CMAKE_MATCH_1}: the host process, not this library, picks the allocator")
    endif()
  endif()
  list(LENGTH exported n)
  message(STATUS "the ${n} functions of c_api.h are exported, and nothing else")
  return()
endif()

if(TARGET sn::ipc_c)
  # C: the project is C++ only, and this is its one C program (the cluster block enables
  # C for FindMPI, in another tree configuration).
  enable_language(C)
  add_executable(ipc_c_api_test ${CMAKE_CURRENT_LIST_DIR}/c_api_test.c)
  set_target_properties(ipc_c_api_test PROPERTIES C_STANDARD 11 C_STANDARD_REQUIRED ON C_EXTENSIONS OFF)
  # sn_warnings holds C++-only flags (-Wold-style-cast, ...): C gets its own set.
  target_compile_options(ipc_c_api_test PRIVATE
    -Wall -Wextra -Wpedantic -Wshadow -Wcast-align -Wnull-dereference -Wimplicit-fallthrough
    -Wstrict-prototypes -Wmissing-prototypes -Wold-style-definition $<$<BOOL:${SN_WERROR}>:-Werror>)
  target_link_libraries(ipc_c_api_test PRIVATE sn::ipc_c Threads::Threads)
  add_test(NAME ipc.c_api.from_c COMMAND ipc_c_api_test)
  add_test(NAME ipc.c_api.exports
           COMMAND ${CMAKE_COMMAND} -DLIB=$<TARGET_FILE:sn_ipc_c> -DHEADER=${PROJECT_SOURCE_DIR}/include/sn/ipc/c_api.h
                   -DNM=${CMAKE_NM} -DOBJDUMP=${CMAKE_OBJDUMP} -P ${CMAKE_CURRENT_LIST_FILE})
  set_tests_properties(ipc.c_api.from_c ipc.c_api.exports PROPERTIES LABELS ipc TIMEOUT 60)
endif()
