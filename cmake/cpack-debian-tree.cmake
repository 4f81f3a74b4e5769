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
#     LICENSE;
#   - /usr/share/doc/PACKAGE/changelog.Debian.gz in every package (policy
#     12.7), from NEWS.md: each "## VERSION (YYYY-MM-DD)" section an entry
#     of version VERSION-RELEASE, each "- " item a "  * " line, signed by
#     the Maintainer (CPACK_PACKAGE_CONTACT) at noon UTC of that date;
#   - libpooter.a without debug information, and no .comment section in
#     any ELF file (what dh_strip does; lintian: unstripped-static-library,
#     binary-has-unneeded-section).
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

# --- strip what dh_strip strips -------------------------------------------------
find_program(POOTER_OBJCOPY objcopy REQUIRED)
file(GLOB_RECURSE elves LIST_DIRECTORIES false "${CPACK_TEMPORARY_DIRECTORY}/*")
list(FILTER elves INCLUDE REGEX "(/bin/[^/]+|/lib[^/]*/[^/]+/?[^/]*\\.(so\\.[0-9.]+|a))$")
foreach(f IN LISTS elves)
	if(IS_SYMLINK "${f}")
		continue()
	endif()
	if(f MATCHES "\\.a$")
		set(args --strip-debug --enable-deterministic-archives
			--remove-section=.comment)
	else()
		set(args --remove-section=.comment)
	endif()
	execute_process(COMMAND ${POOTER_OBJCOPY} ${args} "${f}" RESULT_VARIABLE rc)
	if(NOT rc EQUAL 0)
		message(FATAL_ERROR "cpack-debian-tree: objcopy ${f} failed: ${rc}")
	endif()
endforeach()

# --- changelog.Debian, from NEWS.md -----------------------------------------------
if(NOT EXISTS "${CPACK_POOTER_NEWS}")
	message(FATAL_ERROR "cpack-debian-tree: no NEWS.md (CPACK_POOTER_NEWS='${CPACK_POOTER_NEWS}')")
endif()
file(STRINGS "${CPACK_POOTER_NEWS}" news)
set(changelog "")
set(entry "")
set(item "")
set(first TRUE)
macro(pooter_end_item)
	if(item)
		string(APPEND entry "  * ${item}\n")
		set(item "")
	endif()
endmacro()
macro(pooter_end_entry)
	pooter_end_item()
	if(entry)
		execute_process(COMMAND date -u -R -d "${entry_date} 12:00:00"
			OUTPUT_VARIABLE when OUTPUT_STRIP_TRAILING_WHITESPACE
			RESULT_VARIABLE rc)
		if(NOT rc EQUAL 0)
			message(FATAL_ERROR "cpack-debian-tree: NEWS.md: bad date ${entry_date}")
		endif()
		string(APPEND changelog "${entry}\n -- ${CPACK_PACKAGE_CONTACT}  ${when}\n\n")
		set(entry "")
	endif()
endmacro()
foreach(line IN LISTS news)
	if(line MATCHES "^## ([0-9]+\\.[0-9]+\\.[0-9]+) \\(([0-9]+-[0-9]+-[0-9]+)\\)$")
		pooter_end_entry()
		set(version "${CMAKE_MATCH_1}")
		set(entry_date "${CMAKE_MATCH_2}")
		if(first AND NOT version STREQUAL CPACK_PACKAGE_VERSION)
			message(FATAL_ERROR "cpack-debian-tree: NEWS.md's latest "
				"release is ${version}, the package's ${CPACK_PACKAGE_VERSION}: "
				"add a section for it")
		endif()
		set(first FALSE)
		set(entry "pooter (${version}-${CPACK_POOTER_DEB_RELEASE}) unstable; urgency=medium\n\n")
	elseif(entry AND line MATCHES "^- (.*)$")
		pooter_end_item()
		set(item "${CMAKE_MATCH_1}")
	elseif(item AND line MATCHES "^  +(.*)$")
		string(APPEND item "\n    ${CMAKE_MATCH_1}")
	elseif(line MATCHES "^## ")
		message(FATAL_ERROR "cpack-debian-tree: NEWS.md: '${line}' is not "
			"'## VERSION (YYYY-MM-DD)'")
	endif()
endforeach()
pooter_end_entry()
if(first)
	message(FATAL_ERROR "cpack-debian-tree: NEWS.md has no release section")
endif()
# Beside the staging trees, not in one: it is no file of a package.
get_filename_component(staging_parent "${CPACK_TEMPORARY_DIRECTORY}" DIRECTORY)
set(changelog_gz "${staging_parent}/changelog.Debian.gz")
file(WRITE "${staging_parent}/changelog.Debian" "${changelog}")
execute_process(COMMAND ${POOTER_GZIP} -9nf
	"${staging_parent}/changelog.Debian" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
	message(FATAL_ERROR "cpack-debian-tree: gzip changelog.Debian failed: ${rc}")
endif()

# --- libpooter0's dependencies --------------------------------------------------
# CPackDeb's dpkg-shlibdeps is off for it (cmake/packaging.cmake says why):
# run here, as CPackDeb would, its Depends handed to CPackDeb, which reads
# this script's variables.
if(CPACK_POOTER_RUNTIME_SHLIBDEPS)
	find_program(POOTER_DPKG_SHLIBDEPS dpkg-shlibdeps REQUIRED)
	file(GLOB_RECURSE libs LIST_DIRECTORIES false
		"${CPACK_TEMPORARY_DIRECTORY}/runtime/*.so.*")
	list(FILTER libs EXCLUDE REGEX "\\.so\\.[0-9]+$")
	if(NOT libs)
		message(FATAL_ERROR "cpack-debian-tree: no shared library in the runtime tree")
	endif()
	set(shlibdeps_dir "${CPACK_TEMPORARY_DIRECTORY}/../shlibdeps")
	file(MAKE_DIRECTORY "${shlibdeps_dir}/debian")
	file(WRITE "${shlibdeps_dir}/debian/control" "")
	execute_process(COMMAND ${POOTER_DPKG_SHLIBDEPS} -O ${libs}
		WORKING_DIRECTORY "${shlibdeps_dir}"
		OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
	if(NOT rc EQUAL 0 OR NOT out MATCHES "shlibs:Depends=([^\n]*)")
		message(FATAL_ERROR "cpack-debian-tree: dpkg-shlibdeps failed: ${err}")
	endif()
	set(CPACK_DEBIAN_RUNTIME_PACKAGE_DEPENDS "${CMAKE_MATCH_1}")
	message(STATUS "cpack-debian-tree: libpooter0 depends on ${CMAKE_MATCH_1}")
endif()

# --- copyright, changelog, lintian overrides ------------------------------------
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
	configure_file("${changelog_gz}" "${doc}/changelog.Debian.gz" COPYONLY)
	# Not uploaded to Debian: there is no ITP bug for the first entry to close.
	set(ovr "${tree}${CPACK_PACKAGING_INSTALL_PREFIX}/share/lintian/overrides")
	file(MAKE_DIRECTORY "${ovr}")
	file(WRITE "${ovr}/${pkg}"
		"# Built outside Debian's archive: no ITP bug to close.\n"
		"${pkg}: initial-upload-closes-no-bugs\n")
	message(STATUS "cpack-debian-tree: ${pkg}: ${doc}/copyright, changelog.Debian.gz")
endforeach()
