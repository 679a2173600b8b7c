# docs.snippets: every ```cpp block of the given markdown files compiles, with the
# project's warnings as errors, and every block that defines main() runs and exits 0.
#
# The convention, for whoever writes docs:
#   - Every fenced block that opens with ```cpp (indented or not) is checked. There is no
#     silent skip.
#   - A block may be preceded, on the line right before its fence, by an HTML comment that
#     GitHub does not render:
#         <!-- snippet: OPTIONS
#         hidden C++ placed before the block (includes, the types it assumes) -->
#     or, on one line, <!-- snippet: OPTIONS -->. OPTIONS are space-separated:
#         link=T1,T2   extra link targets (absl::flat_hash_map, ...); sn::sn is always
#                      linked, sn::http too when the block mentions sn/monitoring/http_server.h
#         timeout=S    seconds a program may run (default 60)
#         skip=REASON  (must be last: the rest of the line) the block is not compiled; the
#                      test docs.snippets.<file>_block_<n>_skipped (reported by ctest as
#                      skipped, and by configure) gives the file, line and REASON
#   - A comment that opens on the line right after the closing fence,
#         <!-- snippet-after:
#         hidden C++ placed after the block -->
#     closes what the prelude opened (a function around statements, say).
#   - A block whose code (with its hidden parts) defines `int main(` is a program: it is
#     linked, run, and must exit 0 within its timeout. Any other block is compiled only.
#   - The generated sources carry #line directives, so that the compiler's errors name the
#     markdown file and line.
#
# sn_doc_snippets(FILE <markdown> NAME <test name stem> [ALL_TARGET <target>]
#                 [EXPECT_COMPILE_ERROR <regex>] [EXPECT_RUN_FAILURE <regex>])
# ALL_TARGET collects the targets into one (built in parallel by docs.snippets.build); the
# EXPECT_* forms are for the checker's own fixtures: the tests then pass only when every
# block that is not a program fails to compile, and every program fails to run to
# completion, with output matching the regex.

set(SN_DOC_SNIPPETS_DIR ${CMAKE_CURRENT_LIST_DIR})
set(SN_DOC_SNIPPETS_WARNINGS -Werror -O0 -g0)

function(sn_doc_snippets)
  cmake_parse_arguments(PARSE_ARGV 0 arg "" "FILE;NAME;ALL_TARGET;EXPECT_COMPILE_ERROR;EXPECT_RUN_FAILURE" "")
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${arg_FILE}")
  file(RELATIVE_PATH where "${PROJECT_SOURCE_DIR}" "${arg_FILE}")
  file(READ "${arg_FILE}" text)
  # One list element per line: protect the characters that CMake lists treat specially.
  string(REPLACE "\\" "@SNBS@" text "${text}")
  string(REPLACE ";" "@SNSC@" text "${text}")
  string(REPLACE "[" "@SNLB@" text "${text}")
  string(REPLACE "]" "@SNRB@" text "${text}")
  string(REPLACE "\n" ";" lines "${text}")

  set(state text)  # text | prelude | block | after
  set(line_no 0)
  set(block 0)
  set(pending_options "")
  set(pending_prelude "")
  set(pending_end -1)  # the line that ended the last snippet comment
  set(targets "")
  foreach(line IN LISTS lines)
    math(EXPR line_no "${line_no} + 1")
    if(state STREQUAL "prelude")
      if(line MATCHES "^(.*)-->[ \t]*$")
        string(APPEND pending_prelude "${CMAKE_MATCH_1}\n")
        set(state text)
        set(pending_end ${line_no})
      else()
        string(APPEND pending_prelude "${line}\n")
      endif()
      continue()
    endif()
    if(state STREQUAL "after")
      if(line MATCHES "^(.*)-->[ \t]*$")
        string(APPEND after "${CMAKE_MATCH_1}\n")
        set(state text)
        _sn_doc_snippet_emit()
      else()
        string(APPEND after "${line}\n")
      endif()
      continue()
    endif()
    if(state STREQUAL "block")
      if(line MATCHES "^[ \t]*```[ \t]*$")
        set(state closed)
        set(closed_at ${line_no})
      else()
        if(indent GREATER 0)  # drop the fence's indentation (a block in a list item)
          set(cut 0)
          if(line MATCHES "^([ \t]+)")
            string(LENGTH "${CMAKE_MATCH_1}" cut)
          endif()
          if(cut GREATER indent)
            set(cut ${indent})
          endif()
          if(cut GREATER 0)
            string(SUBSTRING "${line}" ${cut} -1 line)
          endif()
        endif()
        string(APPEND code "${line}\n")
      endif()
      continue()
    endif()
    if(state STREQUAL "closed")
      # The line after a closing fence: a hidden epilogue, or nothing.
      set(after "")
      set(after_line ${line_no})
      if(line MATCHES "^[ \t]*<!-- snippet-after:(.*)$")
        set(rest "${CMAKE_MATCH_1}")
        if(rest MATCHES "^(.*)-->[ \t]*$")
          set(after "${CMAKE_MATCH_1}\n")
          set(state text)
          _sn_doc_snippet_emit()
        else()
          set(after "${rest}\n")
          set(state after)
        endif()
        continue()
      endif()
      set(state text)
      _sn_doc_snippet_emit()
    endif()
    # state text
    if(line MATCHES "^[ \t]*<!-- snippet:(.*)$")
      set(rest "${CMAKE_MATCH_1}")
      set(pending_prelude "")
      set(prelude_line ${line_no})
      if(rest MATCHES "^(.*)-->[ \t]*$")
        set(pending_options "${CMAKE_MATCH_1}")
        set(pending_end ${line_no})
      else()
        set(pending_options "${rest}")
        set(state prelude)
      endif()
    elseif(line MATCHES "^([ \t]*)```cpp[ \t]*$")
      string(LENGTH "${CMAKE_MATCH_1}" indent)
      math(EXPR block "${block} + 1")
      set(fence_line ${line_no})
      set(code "")
      math(EXPR previous "${line_no} - 1")
      if(NOT pending_end EQUAL previous)
        set(pending_options "")
        set(pending_prelude "")
      endif()
      set(options "${pending_options}")
      set(prelude "${pending_prelude}")
      set(pending_options "")
      set(pending_prelude "")
      set(pending_end -1)
      set(state block)
    endif()
  endforeach()
  if(state STREQUAL "closed")
    set(after "")
    _sn_doc_snippet_emit()
  elseif(NOT state STREQUAL "text")
    message(FATAL_ERROR "${where}: a ```cpp block or a snippet comment is not closed")
  endif()
  if(arg_ALL_TARGET AND targets)
    add_dependencies(${arg_ALL_TARGET} ${targets})
  endif()
  message(STATUS "docs.snippets: ${where}: ${block} C++ blocks")
endfunction()

# Writes the block just read (variables of the caller: code, prelude, options, after,
# block, fence_line, prelude_line, after_line, closed_at, where, arg_*) as a source file
# and adds its target and tests.
macro(_sn_doc_snippet_emit)
  set(test_stem "docs.snippets.${arg_NAME}_block_${block}")
  set(compiles compiles)
  set(runs runs_to_completion)
  if(arg_EXPECT_COMPILE_ERROR OR arg_EXPECT_RUN_FAILURE)  # the checker's fixtures
    set(compiles fails_to_compile)
    set(runs fails_to_run_to_completion)
  endif()
  set(location "${where}:${fence_line}")
  set(timeout 60)
  set(links "")
  set(skip "")
  string(REGEX REPLACE "skip=.*$" "" checked "${options}")
  string(REGEX REPLACE "(link|timeout)=[^ \t]+" "" checked "${checked}")
  if(NOT checked MATCHES "^[ \t]*$")
    message(FATAL_ERROR "${where}:${prelude_line}: unknown snippet option in '${options}' (link=, timeout=, skip=)")
  endif()
  if(options MATCHES "skip=(.*)$")
    set(skip "${CMAKE_MATCH_1}")
  endif()
  if(options MATCHES "timeout=([0-9]+)")
    set(timeout ${CMAKE_MATCH_1})
  endif()
  if(options MATCHES "link=([^ \t]+)")
    string(REPLACE "," ";" links "${CMAKE_MATCH_1}")
  endif()
  if(skip)
    _sn_doc_snippet_restore(skip)
    message(STATUS "docs.snippets: ${location}: skipped: ${skip}")
    add_test(NAME ${test_stem}_skipped
      COMMAND sh -c "echo \"\$1\"; exit 77" sh "${location}: not compiled: ${skip}")
    set_tests_properties(${test_stem}_skipped PROPERTIES LABELS docs SKIP_RETURN_CODE 77)
  else()
    set(source "// Generated from ${location} by tests/docs/snippets.cmake: edit the markdown.\n")
    if(NOT prelude STREQUAL "")
      math(EXPR first "${prelude_line} + 1")
      string(APPEND source "#line ${first} \"${where}\"\n${prelude}")
    endif()
    math(EXPR first "${fence_line} + 1")
    string(APPEND source "#line ${first} \"${where}\"\n${code}")
    if(NOT after STREQUAL "")
      string(APPEND source "#line ${after_line} \"${where}\"\n${after}")
    endif()
    _sn_doc_snippet_restore(source)
    set(target "doc_snippet_${arg_NAME}_${block}")
    set(file "${CMAKE_CURRENT_BINARY_DIR}/doc_snippets/${arg_NAME}_block_${block}.cc")
    set(old "")
    if(EXISTS "${file}")
      file(READ "${file}" old)
    endif()
    if(NOT old STREQUAL source)  # rewrite only what changed, so that only it rebuilds
      file(WRITE "${file}" "${source}")
    endif()
    string(REGEX MATCH "int main\\(" is_program "${source}")
    if(is_program)
      add_executable(${target} EXCLUDE_FROM_ALL "${file}")
    else()
      add_library(${target} OBJECT EXCLUDE_FROM_ALL "${file}")
    endif()
    target_link_libraries(${target} PRIVATE sn::sn sn_warnings ${links})
    target_compile_options(${target} PRIVATE ${SN_DOC_SNIPPETS_WARNINGS})
    if(TARGET sn::http AND source MATCHES "sn/monitoring/http_server\\.h|sn/sn\\.h")
      target_link_libraries(${target} PRIVATE sn::http)
    endif()
    list(APPEND targets ${target})

    if(is_program)
      set(compiles compiles)
    endif()
    add_test(NAME ${test_stem}_${compiles}
      COMMAND ${CMAKE_COMMAND} -DMODE=build -DBUILD_DIR=${PROJECT_BINARY_DIR} -DTARGET=${target}
              "-DCONFIG=$<CONFIG>" -DWHERE=${location} -P ${SN_DOC_SNIPPETS_DIR}/run_snippet.cmake)
    set_tests_properties(${test_stem}_${compiles} PROPERTIES LABELS docs TIMEOUT 300
      RESOURCE_LOCK sn_doc_snippets_build)
    if(arg_ALL_TARGET)
      set_tests_properties(${test_stem}_${compiles} PROPERTIES FIXTURES_REQUIRED sn_doc_snippets)
    endif()
    if(arg_EXPECT_COMPILE_ERROR AND NOT is_program)
      set_tests_properties(${test_stem}_${compiles} PROPERTIES PASS_REGULAR_EXPRESSION "${arg_EXPECT_COMPILE_ERROR}")
    endif()
    if(is_program)
      add_test(NAME ${test_stem}_${runs}
        COMMAND ${CMAKE_COMMAND} -DMODE=run -DPROGRAM=$<TARGET_FILE:${target}> -DTIMEOUT=${timeout}
                -DWHERE=${location} -P ${SN_DOC_SNIPPETS_DIR}/run_snippet.cmake)
      math(EXPR ctest_timeout "${timeout} + 30")
      set_tests_properties(${test_stem}_${runs} PROPERTIES LABELS docs TIMEOUT ${ctest_timeout}
        DEPENDS ${test_stem}_${compiles})
      if(arg_EXPECT_RUN_FAILURE)
        set_tests_properties(${test_stem}_${runs} PROPERTIES PASS_REGULAR_EXPRESSION "${arg_EXPECT_RUN_FAILURE}")
      endif()
    endif()
  endif()
endmacro()

macro(_sn_doc_snippet_restore var)
  string(REPLACE "@SNBS@" "\\" ${var} "${${var}}")
  string(REPLACE "@SNSC@" ";" ${var} "${${var}}")
  string(REPLACE "@SNLB@" "[" ${var} "${${var}}")
  string(REPLACE "@SNRB@" "]" ${var} "${${var}}")
endmacro()
