# A step of docs.snippets (tests/docs/snippets.cmake). MODE=build_all builds TARGET, all
# the snippets, and never fails; MODE=build builds the snippet's
# TARGET in BUILD_DIR; MODE=run runs PROGRAM, which must exit 0 within TIMEOUT seconds.
# Either way a failure names WHERE, the markdown file and line of the block.
if(MODE STREQUAL "build_all")
  # The fixture: builds every snippet at once, in parallel, going on past failures; each
  # block's own test then reports its result (a no-op build when it compiled here).
  execute_process(COMMAND ${CMAKE_COMMAND} --build "${BUILD_DIR}" --config "${CONFIG}" --target "${TARGET}" ${KEEP_GOING}
                  RESULT_VARIABLE rc)
  message(STATUS "building ${TARGET}: ${rc} (each block's _compiles test says which failed)")
elseif(MODE STREQUAL "build")
  execute_process(COMMAND ${CMAKE_COMMAND} --build "${BUILD_DIR}" --config "${CONFIG}" --target "${TARGET}"
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    message(NOTICE "${out}")
    message(FATAL_ERROR "${WHERE}: the C++ block does not compile (the build's output is above)")
  endif()
  message(STATUS "${WHERE}: the C++ block compiles")
elseif(MODE STREQUAL "run")
  if(NOT EXISTS "${PROGRAM}")
    message(FATAL_ERROR "${WHERE}: the program was not built (see its _compiles test)")
  endif()
  execute_process(COMMAND "${PROGRAM}" TIMEOUT ${TIMEOUT} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(rc MATCHES "timeout")
    message(NOTICE "${out}")
    message(FATAL_ERROR "${WHERE}: the program did not finish within ${TIMEOUT} s (its output is above)")
  elseif(NOT rc EQUAL 0)
    message(NOTICE "${out}")
    message(FATAL_ERROR "${WHERE}: the program exited with ${rc} (its output is above)")
  endif()
  message(STATUS "${WHERE}: the program ran to completion; its output:\n${out}")
else()
  message(FATAL_ERROR "MODE must be build or run")
endif()
