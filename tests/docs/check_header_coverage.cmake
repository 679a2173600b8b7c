# docs.cover_every_public_header: every public header of the install set (SN_HEADERS, a
# comma-separated list passed with -D) must be named by its full path in the header map of
# docs/architecture.md (DOC), which says where the docs explain it. Internals under a
# detail/ folder count as covered when their folder's wildcard is named.
file(READ "${DOC}" text)
string(REPLACE "," ";" SN_HEADERS "${SN_HEADERS}")
set(missing "")
foreach(header IN LISTS SN_HEADERS)
  string(FIND "${text}" "`${header}`" at)
  if(at EQUAL -1 AND header MATCHES "^(.*/detail)/[^/]+$")
    string(FIND "${text}" "${CMAKE_MATCH_1}/*.h" at)
  endif()
  if(at EQUAL -1)
    list(APPEND missing "${header}")
  endif()
endforeach()
list(LENGTH SN_HEADERS total)
if(missing)
  list(JOIN missing "\n  " shown)
  message(FATAL_ERROR "${DOC} does not name these public headers:\n  ${shown}")
endif()
message(STATUS "${DOC} names all ${total} public headers")
