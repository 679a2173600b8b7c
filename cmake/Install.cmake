# `cmake --install` puts in place, in three install components:
#   sn       the headers, the library (sn::sn, sn::partitioners, sn::ipc), the CMake package
#            `shared_nothing` and the pkg-config file `shared_nothing.pc`;
#   http     when sn::http is built: its header, the library, its CMake targets (the
#            package's optional `http` component) and `shared_nothing-http.pc`;
#   cluster  when sn::cluster is built: the sn/cluster/ headers, the library, its CMake
#            targets (the optional `cluster` component) and `shared_nothing-cluster.pc`.
# A part that is not built installs nothing: no header that would not link.
# `cpack -G DEB` packs them into one Debian package (see the end of this file).
include(CMakePackageConfigHelpers)
set(SN_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/shared_nothing)
set(SN_PKGCONFIG_DIR ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# sn::ipc (channels between processes, Linux) has no dependency of its own: it goes with
# the library, as does the C interface's shared library (libsn_ipc_c.so) when built.
set(_sn_core_targets sn sn_partitioners)
foreach(_t IN ITEMS sn_ipc sn_ipc_c)
  if(TARGET ${_t})
    list(APPEND _sn_core_targets ${_t})
  endif()
endforeach()
install(TARGETS ${_sn_core_targets} EXPORT shared_nothingTargets COMPONENT sn
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY include/sn partitioners/include/sn DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT sn
  PATTERN "http_server.h" EXCLUDE PATTERN "cluster" EXCLUDE)
install(EXPORT shared_nothingTargets NAMESPACE sn:: DESTINATION ${SN_CMAKE_DIR} COMPONENT sn)

if(TARGET sn_http)
  install(TARGETS sn_http EXPORT shared_nothingHttpTargets COMPONENT http
    ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
    LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
  install(FILES include/sn/monitoring/http_server.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/sn/monitoring
    COMPONENT http)
  install(EXPORT shared_nothingHttpTargets NAMESPACE sn:: DESTINATION ${SN_CMAKE_DIR} COMPONENT http)
endif()

if(TARGET sn_cluster)
  install(TARGETS sn_cluster EXPORT shared_nothingClusterTargets COMPONENT cluster
    ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
    LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
  install(DIRECTORY include/sn/cluster DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/sn COMPONENT cluster)
  install(EXPORT shared_nothingClusterTargets NAMESPACE sn:: DESTINATION ${SN_CMAKE_DIR} COMPONENT cluster)
endif()

configure_package_config_file(cmake/shared_nothingConfig.cmake.in
  ${PROJECT_BINARY_DIR}/shared_nothingConfig.cmake INSTALL_DESTINATION ${SN_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/shared_nothingConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/shared_nothingConfig.cmake
  ${PROJECT_BINARY_DIR}/shared_nothingConfigVersion.cmake DESTINATION ${SN_CMAKE_DIR} COMPONENT sn)

# pkg-config: the prefix is found from the .pc file's own place (${pcfiledir}), so an
# unpacked package or a moved prefix works as well as /usr. Libraries are static, so what
# they link privately (mimalloc, hwloc) is in Libs and Requires, not only the .private ones.
file(RELATIVE_PATH SN_PC_TO_PREFIX "/${SN_PKGCONFIG_DIR}" "/")
string(REGEX REPLACE "/$" "" SN_PC_TO_PREFIX "${SN_PC_TO_PREFIX}")
configure_file(cmake/shared_nothing.pc.in ${PROJECT_BINARY_DIR}/shared_nothing.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/shared_nothing.pc DESTINATION ${SN_PKGCONFIG_DIR} COMPONENT sn)
if(TARGET sn_http)
  configure_file(cmake/shared_nothing-http.pc.in ${PROJECT_BINARY_DIR}/shared_nothing-http.pc @ONLY)
  install(FILES ${PROJECT_BINARY_DIR}/shared_nothing-http.pc DESTINATION ${SN_PKGCONFIG_DIR} COMPONENT http)
endif()
if(TARGET sn_cluster)
  configure_file(cmake/shared_nothing-cluster.pc.in ${PROJECT_BINARY_DIR}/shared_nothing-cluster.pc @ONLY)
  install(FILES ${PROJECT_BINARY_DIR}/shared_nothing-cluster.pc DESTINATION ${SN_PKGCONFIG_DIR}
    COMPONENT cluster)
endif()

# The Debian package: a -dev package (static libraries, headers, CMake and pkg-config
# files) under /usr. Its dependencies are the Debian packages a consumer's build needs.
set(CPACK_PACKAGE_NAME "libshared-nothing-dev")
set(CPACK_PACKAGE_VENDOR "shared_nothing")
set(CPACK_PACKAGE_CONTACT "shared_nothing developers <shared-nothing@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGING_INSTALL_PREFIX "/usr")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION "libdevel")
set(CPACK_DEBIAN_PACKAGE_DEPENDS "libabsl-dev, libmimalloc-dev, libhwloc-dev, pkg-config")
set(_sn_suggests "")
if(TARGET sn_http)
  list(APPEND _sn_suggests "libcpp-httplib-dev")
endif()
if(TARGET sn_cluster)
  list(APPEND _sn_suggests "libopenmpi-dev")  # sn::cluster; its programs run under mpirun (openmpi-bin)
endif()
list(JOIN _sn_suggests ", " CPACK_DEBIAN_PACKAGE_SUGGESTS)
set(CPACK_GENERATOR "DEB;TGZ")
set(CPACK_SOURCE_GENERATOR "")
include(CPack)
