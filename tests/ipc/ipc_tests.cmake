# Tests of sn::ipc (label ipc), included from tests/CMakeLists.txt when sn::ipc exists.
#
# Most tests need a second process: ipc_test_peer (ipc/ipc_test_peer.cc), which the test
# binary starts by its path (SN_IPC_TEST_PEER). The tests of one ring between two threads
# of one process (ipc/same_process_test.cc) are those ThreadSanitizer can check: run
# ctest -L ipc in a -DSN_SANITIZE=thread tree.
add_executable(ipc_test_peer ipc/ipc_test_peer.cc ipc/ipc_test_support.h)
target_link_libraries(ipc_test_peer PRIVATE sn::ipc sn_warnings)

sn_test_executable(ipc_tests ipc TEST_PREFIX "ipc."
  ipc/ipc_test_support.h
  ipc/ipc_gtest_support.h
  ipc/attach_test.cc
  ipc/delivery_test.cc
  ipc/hostile_peer_test.cc
  ipc/peer_death_test.cc
  ipc/same_process_test.cc
)
target_link_libraries(ipc_tests PRIVATE sn::ipc)
target_compile_definitions(ipc_tests PRIVATE SN_IPC_TEST_PEER="$<TARGET_FILE:ipc_test_peer>")
add_dependencies(ipc_tests ipc_test_peer)

# The perturbed stress test across processes (stress/ipc_stress_test.cc): the producer is
# ipc_test_peer, built with the same perturbation points.
if(SN_PERTURB)
  target_sources(stress_tests PRIVATE stress/ipc_stress_test.cc ipc/ipc_test_support.h)
  target_include_directories(stress_tests PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/ipc)
  target_link_libraries(stress_tests PRIVATE sn::ipc)
  target_compile_definitions(stress_tests PRIVATE SN_IPC_TEST_PEER="$<TARGET_FILE:ipc_test_peer>")
  add_dependencies(stress_tests ipc_test_peer)
endif()
include(${CMAKE_CURRENT_LIST_DIR}/c_api_tests.cmake)
