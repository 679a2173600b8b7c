# SN_SANITIZE applies to everything built in this tree, so that instrumented code never
# calls uninstrumented templates of ours.
if(SN_SANITIZE)
  if(NOT SN_SANITIZE MATCHES "^(address,undefined|undefined,address|address|undefined|thread)$")
    message(FATAL_ERROR "SN_SANITIZE must be 'address,undefined' or 'thread', not '${SN_SANITIZE}'")
  endif()
  add_compile_options(-fsanitize=${SN_SANITIZE} -fno-omit-frame-pointer -g)
  add_link_options(-fsanitize=${SN_SANITIZE})
  if(SN_SANITIZE MATCHES "undefined")
    add_compile_options(-fno-sanitize-recover=undefined)
  endif()
  if(SN_SANITIZE STREQUAL "thread")
    # GCC cannot instrument standalone fences; our fences are paired with membarrier or
    # with each other and are documented in sn/channel/detail/park.h.
    add_compile_options(-Wno-tsan)
  endif()
endif()
