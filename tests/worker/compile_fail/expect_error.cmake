# A compile check: compiles SOURCE (syntax only) with CXX and the include folders INCLUDES
# (a |-separated list).
#
# By default SOURCE must not compile: the check passes when the compiler refuses it with an
# error that matches EXPECT and nothing that matches REJECT (optional). With FIRST_ERROR
# (optional), the first line that says "error:" must match it, and with ONE_ERROR set,
# that line must be the only one: the error the user reads first is the one that names
# the fix.
#
# With MUST_COMPILE set, SOURCE must compile instead: the positive control, which shows
# that the flags and include folders are right, so a refusal above is the code's.
string(REPLACE "|" ";" INCLUDES "${INCLUDES}")
set(flags -std=c++20 -fsyntax-only)
foreach(dir IN LISTS INCLUDES)
  list(APPEND flags "-I${dir}")
endforeach()
execute_process(COMMAND "${CXX}" ${flags} ${DEFINES} "${SOURCE}" RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(MUST_COMPILE)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${SOURCE} must compile, but the compiler refused it:\n${out}")
  endif()
  message(STATUS "${SOURCE} compiles")
  return()
endif()
if(rc EQUAL 0)
  message(FATAL_ERROR "${SOURCE} compiled, but it must not")
endif()
if(NOT out MATCHES "${EXPECT}")
  message(FATAL_ERROR "the compiler refused ${SOURCE}, but its output does not match '${EXPECT}':\n${out}")
endif()
if(REJECT AND out MATCHES "${REJECT}")
  message(FATAL_ERROR "the compiler's output for ${SOURCE} matches '${REJECT}':\n${out}")
endif()
if(FIRST_ERROR OR ONE_ERROR)
  string(REGEX MATCH "[^\n]*error:[^\n]*" first "${out}")
  string(REGEX MATCHALL "error:" errors "${out}")  # only the word: the lines may hold ';'
  list(LENGTH errors count)
  if(FIRST_ERROR AND NOT first MATCHES "${FIRST_ERROR}")
    message(FATAL_ERROR "the first error for ${SOURCE} does not match '${FIRST_ERROR}':\n${first}\n\n${out}")
  endif()
  if(ONE_ERROR AND NOT count EQUAL 1)
    message(FATAL_ERROR "the compiler gave ${count} errors for ${SOURCE}, not one:\n${out}")
  endif()
endif()
message(STATUS "${SOURCE} is refused as expected")
