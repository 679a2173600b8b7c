# cmake -P script: install, configure a consumer against the install, build it, run it.
file(REMOVE_RECURSE "${SN_WORK_DIR}")
set(prefix "${SN_WORK_DIR}/prefix")

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "Command failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
  message(STATUS "${out}")
endfunction()

run(${CMAKE_COMMAND} --install "${SN_BUILD_DIR}" --prefix "${prefix}")
foreach(f include/sn/sn.h include/sn/channel/channel.h)
  if(NOT EXISTS "${prefix}/${f}")
    message(FATAL_ERROR "not installed: ${f}")
  endif()
endforeach()
run(${CMAKE_COMMAND} -S "${SN_CONSUMER_DIR}" -B "${SN_WORK_DIR}/consumer" -G "${SN_GENERATOR}"
    -DCMAKE_BUILD_TYPE=Release "-DCMAKE_PREFIX_PATH=${prefix}")
run(${CMAKE_COMMAND} --build "${SN_WORK_DIR}/consumer")
run("${SN_WORK_DIR}/consumer/consumer")
