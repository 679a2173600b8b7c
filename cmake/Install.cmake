# `cmake --install` puts the headers, the library and the CMake package
# `shared_nothing` (target sn::sn) in place.
include(CMakePackageConfigHelpers)
install(TARGETS sn sn_partitioners EXPORT shared_nothingTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY include/sn partitioners/include/sn DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
set(SN_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/shared_nothing)
install(EXPORT shared_nothingTargets NAMESPACE sn:: DESTINATION ${SN_CMAKE_DIR})
configure_package_config_file(cmake/shared_nothingConfig.cmake.in
  ${PROJECT_BINARY_DIR}/shared_nothingConfig.cmake INSTALL_DESTINATION ${SN_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/shared_nothingConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/shared_nothingConfig.cmake
  ${PROJECT_BINARY_DIR}/shared_nothingConfigVersion.cmake DESTINATION ${SN_CMAKE_DIR})
