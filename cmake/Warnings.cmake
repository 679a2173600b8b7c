# Warnings for shared_nothing's own targets only (never for dependents), as a private
# INTERFACE target that each of our targets links with $<BUILD_INTERFACE:...>.
add_library(sn_warnings INTERFACE)
target_compile_options(sn_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast -Wcast-align
  -Wnull-dereference -Wimplicit-fallthrough
  $<$<BOOL:${SN_WERROR}>:-Werror>)
