# A compile-fail check: compiles SOURCE (syntax only) with CXX and the include folders
# INCLUDES (a |-separated list), and passes when the compiler refuses it with an error that
# matches EXPECT and nothing that matches REJECT (optional).
string(REPLACE "|" ";" INCLUDES "${INCLUDES}")
set(flags -std=c++20 -fsyntax-only)
foreach(dir IN LISTS INCLUDES)
  list(APPEND flags "-I${dir}")
endforeach()
execute_process(COMMAND "${CXX}" ${flags} ${DEFINES} "${SOURCE}" RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(rc EQUAL 0)
  message(FATAL_ERROR "${SOURCE} compiled, but it must not")
endif()
if(NOT out MATCHES "${EXPECT}")
  message(FATAL_ERROR "the compiler refused ${SOURCE}, but its output does not match '${EXPECT}':\n${out}")
endif()
if(REJECT AND out MATCHES "${REJECT}")
  message(FATAL_ERROR "the compiler's output for ${SOURCE} matches '${REJECT}':\n${out}")
endif()
message(STATUS "${SOURCE} is refused as expected")
