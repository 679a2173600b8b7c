# sn_add_mpi_test(<name> RANKS <n> COMMAND <target> [args...] [MPIEXEC_FLAGS <flags>...]
#                 [TIMEOUT <s>] [LABELS <labels>...])
# A test that runs <target> under mpiexec on <n> ranks of this machine, with
# SN_MPIEXEC_FLAGS (loopback and shared memory only), labelled `mpi`. The ranks inherit
# the environment set here. Open MPI's own allocations at MPI_Init/MPI_Finalize show up as
# leaks in LeakSanitizer, partly from plugins it has unloaded (which no suppression can
# name), so these tests run with detect_leaks=0; AddressSanitizer's other checks and UBSan
# stay on. Open MPI is not built with ThreadSanitizer: tests/cluster/tsan_mpi.supp keeps
# TSan's reports to what happens in sn's own code.
set(SN_MPIEXEC_FLAGS "--oversubscribe;--allow-run-as-root;--bind-to;none;--mca;btl;self,vader,tcp;--mca;btl_tcp_if_include;lo;--mca;oob_tcp_if_include;lo"
    CACHE STRING "Flags for mpiexec in the mpi tests (a CMake list): oversubscribe the few cores of a CI machine, allow root (containers), leave each rank's threads unbound (Open MPI would pin a whole rank, workers and transport thread, to one core), and keep every byte on lo")

function(sn_add_mpi_test name)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "RANKS;TIMEOUT" "COMMAND;MPIEXEC_FLAGS;LABELS")
  if(NOT arg_TIMEOUT)
    set(arg_TIMEOUT 120)
  endif()
  list(POP_FRONT arg_COMMAND target)
  add_test(NAME ${name}
    COMMAND ${MPIEXEC_EXECUTABLE} ${SN_MPIEXEC_FLAGS} ${arg_MPIEXEC_FLAGS} ${MPIEXEC_NUMPROC_FLAG} ${arg_RANKS}
            $<TARGET_FILE:${target}> ${arg_COMMAND})
  set_tests_properties(${name} PROPERTIES LABELS "mpi;${arg_LABELS}" TIMEOUT ${arg_TIMEOUT}
    ENVIRONMENT "ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:strict_string_checks=1;TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:suppressions=${PROJECT_SOURCE_DIR}/tests/cluster/tsan_mpi.supp")
endfunction()
