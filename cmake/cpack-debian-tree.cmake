# SPDX-License-Identifier: MIT
#
# cpack-debian-tree.cmake - CPACK_PRE_BUILD_SCRIPTS: make cpack's staging
# tree what Debian expects of a package's files, which cmake --install has
# no reason to do:
#
#   - manual pages gzipped (policy 12.1), with gzip -9n (no name, no time:
#     the same bytes every build); a page that is a symlink to another
#     becomes a symlink to the other's .gz;
#   - /usr/share/doc/PACKAGE/copyright in every package (policy 12.5), from
#     LICENSE.
#
# Runs inside cpack after it installed the components into its staging tree
# (one directory per package: runtime, dev, tools) and before it makes the
# packages.  Does nothing for other generators.

if(NOT CPACK_GENERATOR STREQUAL "DEB")
	return()
endif()
if(NOT CPACK_TEMPORARY_DIRECTORY OR NOT IS_DIRECTORY "${CPACK_TEMPORARY_DIRECTORY}")
	message(FATAL_ERROR "cpack-debian-tree: no staging directory "
		"(CPACK_TEMPORARY_DIRECTORY='${CPACK_TEMPORARY_DIRECTORY}')")
endif()
find_program(POOTER_GZIP gzip REQUIRED)

# --- manual pages ---------------------------------------------------------------
file(GLOB_RECURSE pages LIST_DIRECTORIES false
	"${CPACK_TEMPORARY_DIRECTORY}/*")
list(FILTER pages INCLUDE REGEX "/share/man/man[1-9]/[^/]+\\.[1-9]$")

# Links first, while their targets still have their uncompressed names.
foreach(page IN LISTS pages)
	if(NOT IS_SYMLINK "${page}")
		continue()
	endif()
	file(READ_SYMLINK "${page}" target)
	if(target MATCHES "/")
		message(FATAL_ERROR "cpack-debian-tree: ${page} links out of its "
			"directory (${target}); make it a link to a page beside it")
	endif()
	file(REMOVE "${page}")
	file(CREATE_LINK "${target}.gz" "${page}.gz" SYMBOLIC)
endforeach()

foreach(page IN LISTS pages)
	if(IS_SYMLINK "${page}" OR NOT EXISTS "${page}")
		continue()
	endif()
	execute_process(COMMAND ${POOTER_GZIP} -9nf "${page}"
		RESULT_VARIABLE rc)
	if(NOT rc EQUAL 0)
		message(FATAL_ERROR "cpack-debian-tree: gzip ${page} failed: ${rc}")
	endif()
endforeach()
list(LENGTH pages n)
message(STATUS "cpack-debian-tree: ${n} manual pages gzipped")

# --- copyright ------------------------------------------------------------------
# One staging directory per package, named after its component or group;
# CPACK_DEBIAN_<NAME>_PACKAGE_NAME says which package it becomes.
file(GLOB trees LIST_DIRECTORIES true "${CPACK_TEMPORARY_DIRECTORY}/*")
foreach(tree IN LISTS trees)
	if(NOT IS_DIRECTORY "${tree}")
		continue()
	endif()
	get_filename_component(comp "${tree}" NAME)
	string(TOUPPER "${comp}" comp)
	set(pkg "${CPACK_DEBIAN_${comp}_PACKAGE_NAME}")
	if(NOT pkg)
		message(FATAL_ERROR "cpack-debian-tree: staging directory ${tree} "
			"is no package named in cmake/packaging.cmake")
	endif()
	set(doc "${tree}${CPACK_PACKAGING_INSTALL_PREFIX}/share/doc/${pkg}")
	file(MAKE_DIRECTORY "${doc}")
	configure_file("${CPACK_RESOURCE_FILE_LICENSE}" "${doc}/copyright" COPYONLY)
	message(STATUS "cpack-debian-tree: ${pkg}: ${doc}/copyright")
endforeach()
