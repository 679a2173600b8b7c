# SN_SANITIZE applies to everything built in this tree, so that instrumented code never
# calls uninstrumented templates of ours.
if(SN_SANITIZE)
  if(NOT SN_SANITIZE MATCHES "^(address,undefined|undefined,address|address|undefined|thread)$")
    message(FATAL_ERROR "SN_SANITIZE must be 'address,undefined' or 'thread', not '${SN_SANITIZE}'")
  endif()
  # -g1 (line tables only): reports still name file and line, and the instrumented builds
  # of CI compile in much less time than with full debug information.
  add_compile_options(-fsanitize=${SN_SANITIZE} -fno-omit-frame-pointer -g1)
  add_link_options(-fsanitize=${SN_SANITIZE})
  if(SN_SANITIZE MATCHES "undefined")
    add_compile_options(-fno-sanitize-recover=undefined)
  endif()
  if(SN_SANITIZE STREQUAL "thread")
    # GCC cannot instrument standalone fences; our fences are paired with membarrier or
    # with each other and are documented in sn/sync/parking_lot.h.
    add_compile_options(-Wno-tsan)
  endif()
endif()
