# SPDX-License-Identifier: MIT
#
# packaging.cmake - how pooter installs and ships: the CMake package
# (find_package(pooter) -> pooter::pooter), the man pages, the examples'
# sources, and the Debian packages cpack makes of it all.
#
# Included at the very end of the top-level CMakeLists.txt, once every target
# and install rule exists.  The install rules of the library itself live next
# to it in src/CMakeLists.txt, in two components:
#
#   runtime  libpooter.so.0*                        -> libpooter0
#   dev      header, libpooter.so, libpooter.a,     -> libpooter-dev
#            pooter.pc, CMake package, man3, man7
#   tools    pooter-shm, pooter-demo, man1          -> pooter-tools
#   zk       libpooter-zk.so.0 (src/zk/, only when  -> libpooter-zk0
#            built: POOTER_HAVE_ZK)
#
# Install rules that name no component (tools/ at the time of writing) land
# in CMake's "Unspecified" component, which is packaged with the tools.
#
# What does not live here: the library's targets and pooter.pc (src/), the
# tools and pooter-shm(1) (tools/), the man pages themselves (man/).

include(CMakePackageConfigHelpers)

# --- the CMake package ----------------------------------------------------

set(POOTER_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/pooter)

# Installed, they are pooter::pooter_shared and pooter::pooter_static;
# pooterConfig.cmake makes pooter::pooter one of them.
set_target_properties(pooter PROPERTIES EXPORT_NAME pooter_shared)
set_target_properties(pooter_static PROPERTIES EXPORT_NAME pooter_static)

# The same names for a project that has pooter as a subdirectory
# (add_subdirectory, FetchContent), so it links as an installed one would.
if(NOT TARGET pooter::pooter)
	add_library(pooter::pooter ALIAS pooter)
	add_library(pooter::pooter_shared ALIAS pooter)
	add_library(pooter::pooter_static ALIAS pooter_static)
endif()

install(EXPORT pooterTargets
	NAMESPACE pooter::
	DESTINATION ${POOTER_CMAKE_DIR}
	COMPONENT dev)
configure_package_config_file(
	${CMAKE_CURRENT_LIST_DIR}/pooterConfig.cmake.in
	${PROJECT_BINARY_DIR}/pooterConfig.cmake
	INSTALL_DESTINATION ${POOTER_CMAKE_DIR})
# The soname changes with the major version, so does compatibility.
write_basic_package_version_file(
	${PROJECT_BINARY_DIR}/pooterConfigVersion.cmake
	VERSION ${PROJECT_VERSION}
	COMPATIBILITY SameMajorVersion)
install(FILES
	${PROJECT_BINARY_DIR}/pooterConfig.cmake
	${PROJECT_BINARY_DIR}/pooterConfigVersion.cmake
	DESTINATION ${POOTER_CMAKE_DIR}
	COMPONENT dev)

# --- relocatable tools ----------------------------------------------------

# Relocatable (cmake/relocatable.cmake), the installed tools find
# libpooter.so.0 beside them: a RUNPATH (DT_RUNPATH, not the deprecated
# DT_RPATH, so LD_LIBRARY_PATH still wins) relative to $ORIGIN, their own
# directory.  The build tree's binaries keep their absolute build RPATH.
if(POOTER_RELOCATABLE)
	file(RELATIVE_PATH POOTER_BIN_TO_LIB "${CMAKE_INSTALL_FULL_BINDIR}"
		"${CMAKE_INSTALL_FULL_LIBDIR}")
	foreach(tool pooter-shm pooter-demo pooter-bench)
		if(TARGET ${tool})
			set_target_properties(${tool} PROPERTIES
				INSTALL_RPATH "$ORIGIN/${POOTER_BIN_TO_LIB}")
			target_link_options(${tool} PRIVATE -Wl,--enable-new-dtags)
		endif()
	endforeach()
endif()

# --- man pages and examples -----------------------------------------------

# Section 3 (one page per exported function, aliases as symlinks, which
# install keeps) and section 7 go with the header; pooter-shm(1) is
# installed by tools/pooter-shm with the tool.
file(GLOB POOTER_MAN3 CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/man/*.3)
file(GLOB POOTER_MAN7 CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/man/*.7)
if(POOTER_MAN3)
	install(FILES ${POOTER_MAN3}
		DESTINATION ${CMAKE_INSTALL_MANDIR}/man3 COMPONENT dev)
endif()
if(POOTER_MAN7)
	install(FILES ${POOTER_MAN7}
		DESTINATION ${CMAKE_INSTALL_MANDIR}/man7 COMPONENT dev)
endif()

file(GLOB POOTER_EXAMPLE_SOURCES CONFIGURE_DEPENDS
	${PROJECT_SOURCE_DIR}/docs/examples/*.c
	${PROJECT_SOURCE_DIR}/docs/examples/*.cpp)
if(POOTER_EXAMPLE_SOURCES)
	install(FILES ${POOTER_EXAMPLE_SOURCES}
		DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples COMPONENT dev)
endif()
# The operator's examples go with pooter-shm: systemd units, tmpfiles.d.
file(GLOB POOTER_SYSTEMD_EXAMPLES CONFIGURE_DEPENDS
	${PROJECT_SOURCE_DIR}/docs/examples/systemd/*)
if(POOTER_SYSTEMD_EXAMPLES)
	install(FILES ${POOTER_SYSTEMD_EXAMPLES}
		DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/pooter-tools/examples/systemd
		COMPONENT tools)
endif()

# --- Debian packages: cpack -G DEB ----------------------------------------

# Everything installed under one prefix, the one configured: pooter.pc
# records it, so the packages must install there too.  Configure with
# -DCMAKE_INSTALL_PREFIX=/usr for packages a Debian system can take (that
# also gives the multiarch libdir, lib/<triplet>).
# (For DEB only, through CPACK_PROJECT_CONFIG_FILE: a source package has
# no prefix.)
file(WRITE ${PROJECT_BINARY_DIR}/CPackProjectConfig.cmake
	"# written by cmake/packaging.cmake: read by cpack for each generator\n"
	"if(CPACK_GENERATOR STREQUAL \"DEB\")\n"
	"\tset(CPACK_PACKAGING_INSTALL_PREFIX \"${CMAKE_INSTALL_PREFIX}\")\n"
	"endif()\n")
set(CPACK_PROJECT_CONFIG_FILE ${PROJECT_BINARY_DIR}/CPackProjectConfig.cmake)
if(NOT CMAKE_INSTALL_PREFIX STREQUAL "/usr")
	message(STATUS "pooter: packages would install into ${CMAKE_INSTALL_PREFIX}; "
		"for Debian packages configure with -DCMAKE_INSTALL_PREFIX=/usr")
endif()

# The Maintainer field, and the signature of changelog.Debian: yours, as
# "Full Name <address>".  Default: $DEBFULLNAME <$DEBEMAIL>, as dch(1)
# takes them; without them a placeholder that lintian rejects (bogus-mail-host),
# on purpose: packages for others to install need a real maintainer.
if(DEFINED ENV{DEBFULLNAME} AND DEFINED ENV{DEBEMAIL})
	set(_pooter_contact "$ENV{DEBFULLNAME} <$ENV{DEBEMAIL}>")
else()
	set(_pooter_contact "pooter developers <pooter@localhost>")
endif()
set(POOTER_PACKAGE_CONTACT "${_pooter_contact}" CACHE STRING
	"Maintainer field of the packages cpack makes: Full Name <address>")
if(NOT POOTER_PACKAGE_CONTACT MATCHES "^[^<>]+ <[^<>@ ]+@[^<>@ ]+>$")
	message(FATAL_ERROR "POOTER_PACKAGE_CONTACT is '${POOTER_PACKAGE_CONTACT}': "
		"give it as \"Full Name <address>\"")
endif()
if(POOTER_PACKAGE_CONTACT MATCHES "@localhost>$")
	message(STATUS "pooter: packages' maintainer is a placeholder; set "
		"-DPOOTER_PACKAGE_CONTACT=\"Name <address>\" (or DEBFULLNAME and DEBEMAIL)")
endif()
set(POOTER_PACKAGE_RELEASE 1 CACHE STRING
	"Debian revision of the packages cpack makes")

set(CPACK_PACKAGE_NAME pooter)
set(CPACK_PACKAGE_VENDOR "pooter")
set(CPACK_PACKAGE_CONTACT "${POOTER_PACKAGE_CONTACT}")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_RESOURCE_FILE_LICENSE ${PROJECT_SOURCE_DIR}/LICENSE)
set(CPACK_PACKAGE_DIRECTORY ${PROJECT_BINARY_DIR}/packages)
set(CPACK_GENERATOR DEB)
set(CPACK_SOURCE_GENERATOR TGZ)
set(CPACK_SOURCE_IGNORE_FILES "/\\\\.git/" "/build[^/]*/" "/out/")

set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_GROUPING ONE_PER_GROUP)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE ${POOTER_PACKAGE_RELEASE})
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Stripped, as Debian ships binaries; the build tree keeps the symbols.
set(CPACK_STRIP_FILES ON)
set(POOTER_DEB_VERSION ${PROJECT_VERSION}-${POOTER_PACKAGE_RELEASE})

# Descriptions: the first line is the package's synopsis (Debian policy
# 3.4).  CPACK_PACKAGE_DESCRIPTION_SUMMARY stays unset on purpose: CPackDeb
# would put it above every package's own synopsis.
set(POOTER_DESCRIPTION_BODY "Emitters promise a broker, a named shared-memory segment, to emit
together: when all have, the round resolves and its payloads go to every
consumer, exactly once.  When one dies, leaves or misses the deadline, the
round is cancelled.  There is no daemon: the processes drive the broker
with atomics, futexes and io_uring.")

# Which components exist is known only now, after every install rule.
get_cmake_property(POOTER_INSTALL_COMPONENTS COMPONENTS)
set(CPACK_COMPONENTS_ALL "")
foreach(comp IN LISTS POOTER_INSTALL_COMPONENTS)
	if(comp MATCHES "^(runtime|dev|tools|Unspecified)$")
		list(APPEND CPACK_COMPONENTS_ALL ${comp})
	elseif(comp STREQUAL "zk" AND POOTER_HAVE_ZK)
		list(APPEND CPACK_COMPONENTS_ALL ${comp})
	elseif(comp STREQUAL "python")
		# the Python package installs with cmake --install (docs/python.md);
		# no .deb of it yet
		message(STATUS "pooter: the python component is not packaged as a .deb")
	else()
		message(WARNING "pooter: install component \"${comp}\" is in no "
			"package; add it to cmake/packaging.cmake")
	endif()
endforeach()

# libpooter0: the shared library, nothing else (Debian's policy for
# library packages: its name carries the soname).
set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME libpooter0)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SECTION libs)
set(CPACK_COMPONENT_RUNTIME_DISPLAY_NAME "libpooter0")
set(CPACK_DEBIAN_RUNTIME_DESCRIPTION "rounds of promises among processes - shared library
${POOTER_DESCRIPTION_BODY}

This package holds the shared library.")

# libpooter-dev: exactly this libpooter0, and liburing-dev because pooter.pc
# requires liburing.pc and the static library needs liburing.
set(CPACK_DEBIAN_DEV_PACKAGE_NAME libpooter-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS
	"libpooter0 (= ${POOTER_DEB_VERSION}), liburing-dev")
set(CPACK_COMPONENT_DEV_DISPLAY_NAME "libpooter-dev")
set(CPACK_DEBIAN_DEV_DESCRIPTION "rounds of promises among processes - development files
${POOTER_DESCRIPTION_BODY}

This package holds the header, the static library, pooter.pc, the CMake
package (find_package(pooter), target pooter::pooter), the examples and
the manual pages of sections 3 and 7.")

# pooter-tools: the tools, whichever component their install rules name.
set(CPACK_COMPONENT_TOOLS_GROUP tools)
set(CPACK_COMPONENT_UNSPECIFIED_GROUP tools)
set(CPACK_DEBIAN_TOOLS_PACKAGE_NAME pooter-tools)
set(CPACK_DEBIAN_TOOLS_PACKAGE_SECTION utils)
set(CPACK_DEBIAN_TOOLS_PACKAGE_DEPENDS "libpooter0 (>= ${PROJECT_VERSION})")
set(CPACK_COMPONENT_GROUP_TOOLS_DISPLAY_NAME "pooter-tools")
set(CPACK_DEBIAN_TOOLS_DESCRIPTION "rounds of promises among processes - tools
${POOTER_DESCRIPTION_BODY}

This package holds pooter-shm, which inspects and operates brokers from a
shell, and the other programs of tools/ (pooter-demo, ...).")

# libpooter-zk0: the zk:// backend, libpooter-zk.so.0, which libpooter
# dlopen()s on the first zk:// URL (src/api.c: from beside libpooter.so.0,
# else by its soname).  Only when src/zk/ built it (POOTER_HAVE_ZK: the
# ZooKeeper C client, libzookeeper-st-dev, was found).  It is named after
# its soname like any library package, since it is installed as one: in the
# multiarch libdir, with a SONAME; so it gets what dh_makeshlibs gives such
# a package (shlibs, the ldconfig trigger; below).  Exactly this libpooter0:
# the plugin and the library call each other through internal tables
# (src/backend.h) that no two versions promise to share.  Its other
# dependencies, libzookeeper-st2 and libc6, come from dpkg-shlibdeps.
set(POOTER_DEB_PACKAGES libpooter0 libpooter-dev pooter-tools)
if(POOTER_HAVE_ZK)
	list(APPEND POOTER_DEB_PACKAGES libpooter-zk0)
	set(CPACK_DEBIAN_ZK_PACKAGE_NAME libpooter-zk0)
	set(CPACK_DEBIAN_ZK_PACKAGE_SECTION libs)
	set(CPACK_POOTER_ZK_DEPENDS "libpooter0 (= ${POOTER_DEB_VERSION})")
	set(CPACK_DEBIAN_ZK_PACKAGE_DEPENDS "${CPACK_POOTER_ZK_DEPENDS}")
	set(CPACK_COMPONENT_ZK_DISPLAY_NAME "libpooter-zk0")
	set(CPACK_DEBIAN_ZK_DESCRIPTION "ZooKeeper backend for pooter (zk:// brokers)
${POOTER_DESCRIPTION_BODY}

A broker can also be kept on a ZooKeeper ensemble, named by a URL,
zk://HOST:PORT[,HOST:PORT...]/PATH/NAME, so that processes on several
hosts meet in the same rounds through the same calls.

This package holds libpooter-zk.so.0, the backend of zk:// brokers, which
libpooter loads on the first zk:// URL.  Programs that use shared-memory
brokers only do not need it, nor the ZooKeeper client it links.")
	# libpooter tells of this package when a zk:// URL finds no backend.
	set(CPACK_DEBIAN_RUNTIME_PACKAGE_SUGGESTS libpooter-zk0)
endif()
# For .ci/package.sh and .ci/lintian.sh: which packages cpack makes.
set(POOTER_DEB_PACKAGES "${POOTER_DEB_PACKAGES}" CACHE INTERNAL
	"The Debian packages cpack -G DEB makes of this build")

# Dependencies on shared libraries, as dpkg-shlibdeps finds them (libc6,
# liburing2; libpooter.so.0 is found in the build tree, and named above).
# CPackDeb needs file(1) to find the ELF files; without it or
# dpkg-shlibdeps, the dependencies are written by hand.
find_program(POOTER_DPKG_SHLIBDEPS dpkg-shlibdeps)
find_program(POOTER_FILE file)
mark_as_advanced(POOTER_DPKG_SHLIBDEPS POOTER_FILE)
if(POOTER_DPKG_SHLIBDEPS AND POOTER_FILE)
	set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
	get_target_property(POOTER_LIB_DIR pooter LIBRARY_OUTPUT_DIRECTORY)
	if(NOT POOTER_LIB_DIR)
		get_target_property(POOTER_LIB_DIR pooter BINARY_DIR)
	endif()
	set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS_PRIVATE_DIRS ${POOTER_LIB_DIR})
else()
	message(STATUS "pooter: no dpkg-shlibdeps or no file(1): Debian "
		"packages with dependencies written by hand (install dpkg-dev, file)")
	set(CPACK_DEBIAN_RUNTIME_PACKAGE_DEPENDS "libc6, liburing2")
	string(APPEND CPACK_DEBIAN_TOOLS_PACKAGE_DEPENDS ", libc6, liburing2")
	string(APPEND CPACK_DEBIAN_ZK_PACKAGE_DEPENDS ", libc6, libzookeeper-st2")
endif()

# libpooter0's control files, as dh_makeshlibs would write them: shlibs
# and symbols (every symbol of the version script, at the version that
# brought it), and an ldconfig trigger instead of postinst and postrm that
# call ldconfig (lintian: lacks-ldconfig-trigger, maintscript-calls-ldconfig).
# CPackDeb writes postinst and postrm scripts calling ldconfig whenever it
# looks at a package's ELF files and finds a library under /usr/lib: so it
# must not look at libpooter0's (its SHLIBDEPS off), and
# cmake/cpack-debian-tree.cmake runs dpkg-shlibdeps for it instead.
set(POOTER_DEB_CONTROL ${PROJECT_BINARY_DIR}/debian-control)
file(MAKE_DIRECTORY ${POOTER_DEB_CONTROL})
file(WRITE ${POOTER_DEB_CONTROL}/shlibs
	"libpooter ${PROJECT_VERSION_MAJOR} libpooter0 (>= ${PROJECT_VERSION})\n")
file(WRITE ${POOTER_DEB_CONTROL}/triggers "activate-noawait ldconfig\n")
# Each node of the version script (POOTER_0.1, ...) and its names; a symbol
# is required at the first version of its node (POOTER_x.y -> x.y.0).
file(READ ${PROJECT_SOURCE_DIR}/src/libpooter.map _pooter_map)
string(REGEX REPLACE "/\\*([^*]|\\*[^/])*\\*/" "" _pooter_map "${_pooter_map}")
string(REPLACE ";" "\n" _pooter_map "${_pooter_map}")
string(REPLACE "\n" ";" _pooter_map "${_pooter_map}")
set(_pooter_lines "")
set(_node "")
set(_global FALSE)
foreach(line IN LISTS _pooter_map)
	if(line MATCHES "^[ \t]*(POOTER_([0-9]+\\.[0-9]+))[ \t]*{")
		set(_node "${CMAKE_MATCH_1}")
		set(_ver "${CMAKE_MATCH_2}.0")
		list(APPEND _pooter_lines " ${_node}@${_node} ${_ver}")
	elseif(line MATCHES "global:")
		set(_global TRUE)
	elseif(line MATCHES "local:|}")
		set(_global FALSE)
	elseif(_global AND _node AND line MATCHES "^[ \t]*(pooter_[a-z0-9_]+)[ \t]*$")
		list(APPEND _pooter_lines " ${CMAKE_MATCH_1}@${_node} ${_ver}")
	endif()
endforeach()
list(LENGTH _pooter_lines _n)
if(_n LESS 2)
	message(FATAL_ERROR "cmake/packaging.cmake: no symbols read from src/libpooter.map")
endif()
list(SORT _pooter_lines)
list(JOIN _pooter_lines "\n" _pooter_lines)
file(WRITE ${POOTER_DEB_CONTROL}/symbols
	"libpooter.so.${PROJECT_VERSION_MAJOR} libpooter0 #MINVER#\n"
	"* Build-Depends-Package: libpooter-dev\n"
	"${_pooter_lines}\n")
set(CPACK_DEBIAN_RUNTIME_PACKAGE_CONTROL_EXTRA
	${POOTER_DEB_CONTROL}/shlibs
	${POOTER_DEB_CONTROL}/symbols
	${POOTER_DEB_CONTROL}/triggers)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
if(CPACK_DEBIAN_PACKAGE_SHLIBDEPS)
	set(CPACK_DEBIAN_RUNTIME_PACKAGE_SHLIBDEPS OFF)
	set(CPACK_POOTER_RUNTIME_SHLIBDEPS ON)
endif()

# libpooter-zk0's control files, the same way: an ldconfig trigger (the
# plugin is in a directory of ld.so's, where a program linked with
# libpooter.a finds it by its soname), no maintainer scripts, so CPackDeb's
# dpkg-shlibdeps off for it too; and a shlibs file, which lintian
# requires of every library with a SONAME in ld.so's path (no-shlibs, an
# error) and which is true: were a program ever linked against
# libpooter-zk.so.0, it would need libpooter-zk0.  That beats overriding
# the tag: the plugin is installed as a public library, and the override
# would hide a fact rather than an exception.  No symbols file: nothing
# links the plugin (there is no libpooter-zk.so for a linker to find), its
# one export, the entry point, is found with dlsym(); the informational
# no-symbols-control-file is overridden with that reason
# (cmake/cpack-debian-tree.cmake), and .ci/package.sh checks that the
# entry point is all the plugin exports.
if(POOTER_HAVE_ZK)
	set(POOTER_DEB_CONTROL_ZK ${POOTER_DEB_CONTROL}/zk)
	file(MAKE_DIRECTORY ${POOTER_DEB_CONTROL_ZK})
	file(WRITE ${POOTER_DEB_CONTROL_ZK}/shlibs
		"libpooter-zk ${PROJECT_VERSION_MAJOR} libpooter-zk0 (>= ${PROJECT_VERSION})\n")
	file(WRITE ${POOTER_DEB_CONTROL_ZK}/triggers "activate-noawait ldconfig\n")
	set(CPACK_DEBIAN_ZK_PACKAGE_CONTROL_EXTRA
		${POOTER_DEB_CONTROL_ZK}/shlibs
		${POOTER_DEB_CONTROL_ZK}/triggers)
	if(CPACK_DEBIAN_PACKAGE_SHLIBDEPS)
		set(CPACK_DEBIAN_ZK_PACKAGE_SHLIBDEPS OFF)
		set(CPACK_POOTER_ZK_SHLIBDEPS ON)
	endif()
	set(CPACK_POOTER_ZK_LINTIAN_OVERRIDES
		"# No symbols file, on purpose: nothing links against this plugin (there"
		"# is no libpooter-zk.so to link with): libpooter dlopen()s it and finds"
		"# its one export, the entry point, with dlsym()."
		"libpooter-zk0: no-symbols-control-file")
endif()

# Debian wants gzipped manual pages, a copyright file and a changelog in
# every package: done in cpack's staging tree, so that cmake --install is
# not affected.  The changelog is NEWS.md's, in Debian's format
# (changelog.Debian.gz), signed by the maintainer.
set(CPACK_POOTER_NEWS ${PROJECT_SOURCE_DIR}/NEWS.md)
set(CPACK_POOTER_DEB_RELEASE ${POOTER_PACKAGE_RELEASE})
set(CPACK_PRE_BUILD_SCRIPTS ${CMAKE_CURRENT_LIST_DIR}/cpack-debian-tree.cmake)

include(CPack)
