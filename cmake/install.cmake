# cmake --install puts libcorvid where a developer's own project finds it:
#   <prefix>/include/corvid/{corvid,shared}/...   the library's headers and the shared headers they use
#   <prefix>/lib/libcorvid.a, libcorvid_shared.a
#   <prefix>/lib/cmake/corvid/                    find_package(corvid) gives corvid::corvid
#   <prefix>/lib/pkgconfig/corvid.pc              pkg-config --cflags --libs corvid
# The library is static and built for this machine (-march=native does not travel with it, but
# the code in the archives was compiled with it: install where it was built).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(CORVID_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/corvid")

install(TARGETS corvid corvid_shared corvid_deps corvid_warnings EXPORT corvidTargets
        ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}")
install(DIRECTORY "${PROJECT_SOURCE_DIR}/client/include/corvid" DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}/corvid")
install(DIRECTORY "${PROJECT_SOURCE_DIR}/shared/" DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}/corvid/shared"
        FILES_MATCHING PATTERN "*.hpp")
install(EXPORT corvidTargets NAMESPACE corvid:: DESTINATION "${CORVID_INSTALL_CMAKEDIR}")

configure_package_config_file("${CMAKE_CURRENT_LIST_DIR}/corvidConfig.cmake.in"
                              "${PROJECT_BINARY_DIR}/corvidConfig.cmake"
                              INSTALL_DESTINATION "${CORVID_INSTALL_CMAKEDIR}")
write_basic_package_version_file("${PROJECT_BINARY_DIR}/corvidConfigVersion.cmake"
                                 COMPATIBILITY SameMinorVersion)
install(FILES "${PROJECT_BINARY_DIR}/corvidConfig.cmake" "${PROJECT_BINARY_DIR}/corvidConfigVersion.cmake"
        DESTINATION "${CORVID_INSTALL_CMAKEDIR}")

# The .pc file finds the prefix from its own place, so that `cmake --install --prefix DIR` works.
file(RELATIVE_PATH CORVID_PC_TO_PREFIX "/prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/prefix")
configure_file("${CMAKE_CURRENT_LIST_DIR}/corvid.pc.in" "${PROJECT_BINARY_DIR}/corvid.pc" @ONLY)
install(FILES "${PROJECT_BINARY_DIR}/corvid.pc" DESTINATION "${CMAKE_INSTALL_LIBDIR}/pkgconfig")
