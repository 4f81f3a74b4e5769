# SPDX-License-Identifier: MIT
#
# relocatable.cmake - whether an install may be moved: POOTER_RELOCATABLE
# (AUTO, ON, OFF) becomes a boolean.
#
# Relocatable, pooter.pc computes its prefix from its own location
# (${pcfiledir}, see src/CMakeLists.txt) and the installed tools find
# libpooter.so.0 through a RUNPATH relative to $ORIGIN (cmake/packaging.cmake),
# so `cmake --install build --prefix ~/p` works wherever ~/p is, and keeps
# working when the tree is moved.  AUTO is ON for every prefix but /usr: the
# system's prefix needs neither (Debian forbids a RUNPATH to the system's
# libdir, and -I/usr/include must not appear in pkg-config's output).
if(POOTER_RELOCATABLE STREQUAL "AUTO")
	if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
		set(POOTER_RELOCATABLE OFF)
	else()
		set(POOTER_RELOCATABLE ON)
	endif()
elseif(POOTER_RELOCATABLE)
	set(POOTER_RELOCATABLE ON)
else()
	set(POOTER_RELOCATABLE OFF)
endif()
