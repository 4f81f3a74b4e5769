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
#     of version VERSION-RELEASE, each "- " item a "  * " item refilled to
#     78 columns, signed by the Maintainer (CPACK_PACKAGE_CONTACT) at noon
#     UTC of that date (releases of the same day a minute apart);
#   - libpooter.a without debug information, and no .comment section in
#     any ELF file (what dh_strip does; lintian: unstripped-static-library,
#     binary-has-unneeded-section);
#   - the Depends of libpooter0 and libpooter-zk0 from dpkg-shlibdeps, run
#     here rather than by CPackDeb, which would add ldconfig scripts;
#   - /usr/share/lintian/overrides/PACKAGE where a package has any.
#
# Runs inside cpack after it installed the components into its staging tree
# (one directory per package: runtime, dev, tools, zk) and before it makes the
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
set(newer_epoch "")
set(entries 0)
# An item's words refilled into lines of at most 78 columns: "  * " on the
# first, four spaces on the others (lintian: debian-changelog-line-too-long
# past 80; NEWS.md's own lines are two columns narrower).
function(pooter_fill text out)
	string(ASCII 1 semi) # a list must not split at the text's semicolons
	string(REPLACE ";" "${semi}" text "${text}")
	string(REGEX REPLACE "[ \t\n]+" ";" words "${text}")
	set(lines "")
	set(line "  *")
	set(fresh TRUE)
	foreach(w IN LISTS words)
		if(w STREQUAL "")
			continue()
		endif()
		string(LENGTH "${line} ${w}" n)
		if(n GREATER 78 AND NOT fresh)
			string(APPEND lines "${line}\n")
			set(line "   ")
		endif()
		string(APPEND line " ${w}")
		set(fresh FALSE)
	endforeach()
	string(APPEND lines "${line}\n")
	string(REPLACE "${semi}" ";" lines "${lines}")
	set(${out} "${lines}" PARENT_SCOPE)
endfunction()
macro(pooter_end_item)
	if(NOT item STREQUAL "")
		pooter_fill("${item}" filled)
		string(APPEND entry "${filled}")
		set(item "")
	endif()
endmacro()
# Signed at noon UTC of the release's date; releases of one day a minute
# apart, the newest at noon, since each entry must be later than the one
# below it (lintian: latest-changelog-entry-without-new-date).
macro(pooter_end_entry)
	pooter_end_item()
	if(entry)
		execute_process(COMMAND date -u -d "${entry_date} 12:00:00" +%s
			OUTPUT_VARIABLE epoch OUTPUT_STRIP_TRAILING_WHITESPACE
			RESULT_VARIABLE rc)
		if(NOT rc EQUAL 0)
			message(FATAL_ERROR "cpack-debian-tree: NEWS.md: bad date ${entry_date}")
		endif()
		if(NOT newer_epoch STREQUAL "" AND epoch GREATER_EQUAL newer_epoch)
			if(epoch GREATER newer_epoch AND NOT newer_date STREQUAL entry_date)
				message(FATAL_ERROR "cpack-debian-tree: NEWS.md: ${version} "
					"(${entry_date}) is dated after the release above it "
					"(${newer_date}): newest first")
			endif()
			math(EXPR epoch "${newer_epoch} - 60")
		endif()
		execute_process(COMMAND date -u -R -d "@${epoch}"
			OUTPUT_VARIABLE when OUTPUT_STRIP_TRAILING_WHITESPACE
			RESULT_VARIABLE rc)
		if(NOT rc EQUAL 0)
			message(FATAL_ERROR "cpack-debian-tree: date -d @${epoch} failed")
		endif()
		string(APPEND changelog "${entry}\n -- ${CPACK_PACKAGE_CONTACT}  ${when}\n\n")
		math(EXPR entries "${entries} + 1")
		set(newer_epoch "${epoch}")
		set(newer_date "${entry_date}")
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
	elseif(NOT item STREQUAL "" AND line MATCHES "^  +(.*)$")
		string(APPEND item " ${CMAKE_MATCH_1}")
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

# --- libpooter0's and libpooter-zk0's dependencies ------------------------------
# CPackDeb's dpkg-shlibdeps is off for them (cmake/packaging.cmake says why):
# run here, as CPackDeb would, their Depends handed to CPackDeb, which reads
# this script's variables.  libpooter-zk0's are added to the ones
# cmake/packaging.cmake names (libpooter0, exactly this version).
foreach(comp IN ITEMS runtime zk)
	string(TOUPPER "${comp}" COMP)
	if(NOT CPACK_POOTER_${COMP}_SHLIBDEPS)
		continue()
	endif()
	set(pkg "${CPACK_DEBIAN_${COMP}_PACKAGE_NAME}")
	find_program(POOTER_DPKG_SHLIBDEPS dpkg-shlibdeps REQUIRED)
	# the libraries themselves, not the links to them
	file(GLOB_RECURSE libs LIST_DIRECTORIES false
		"${CPACK_TEMPORARY_DIRECTORY}/${comp}/*.so.*")
	set(files "")
	foreach(lib IN LISTS libs)
		if(NOT IS_SYMLINK "${lib}")
			list(APPEND files "${lib}")
		endif()
	endforeach()
	if(NOT files)
		message(FATAL_ERROR "cpack-debian-tree: no shared library in the ${comp} tree (${pkg})")
	endif()
	set(shlibdeps_dir "${CPACK_TEMPORARY_DIRECTORY}/../shlibdeps-${comp}")
	file(MAKE_DIRECTORY "${shlibdeps_dir}/debian")
	file(WRITE "${shlibdeps_dir}/debian/control" "")
	execute_process(COMMAND ${POOTER_DPKG_SHLIBDEPS} -O ${files}
		WORKING_DIRECTORY "${shlibdeps_dir}"
		OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
	if(NOT rc EQUAL 0 OR NOT out MATCHES "shlibs:Depends=([^\n]*)")
		message(FATAL_ERROR "cpack-debian-tree: dpkg-shlibdeps (${pkg}) failed: ${err}")
	endif()
	set(depends "${CMAKE_MATCH_1}")
	if(CPACK_POOTER_${COMP}_DEPENDS)
		set(depends "${CPACK_POOTER_${COMP}_DEPENDS}, ${depends}")
	endif()
	set(CPACK_DEBIAN_${COMP}_PACKAGE_DEPENDS "${depends}")
	message(STATUS "cpack-debian-tree: ${pkg} depends on ${depends}")
endforeach()

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
	# 0644, whatever LICENSE's own mode (lintian: non-standard-file-perm)
	file(REMOVE "${doc}/copyright")
	file(COPY "${CPACK_RESOURCE_FILE_LICENSE}" DESTINATION "${doc}"
		FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
	get_filename_component(license "${CPACK_RESOURCE_FILE_LICENSE}" NAME)
	file(RENAME "${doc}/${license}" "${doc}/copyright")
	configure_file("${changelog_gz}" "${doc}/changelog.Debian.gz" COPYONLY)
	# lintian overrides: while the changelog has one entry, its first upload,
	# initial-upload-closes-no-bugs (not uploaded to Debian: there is no ITP
	# bug to close); and the package's own, CPACK_POOTER_<COMPONENT>_LINTIAN_OVERRIDES,
	# lines, each reason a comment above its tag.
	set(overrides "")
	if(entries EQUAL 1)
		string(APPEND overrides
			"# Built outside Debian's archive: no ITP bug to close.\n"
			"${pkg}: initial-upload-closes-no-bugs\n")
	endif()
	foreach(line IN LISTS CPACK_POOTER_${comp}_LINTIAN_OVERRIDES)
		string(APPEND overrides "${line}\n")
	endforeach()
	if(NOT overrides STREQUAL "")
		set(ovr "${tree}${CPACK_PACKAGING_INSTALL_PREFIX}/share/lintian/overrides")
		file(MAKE_DIRECTORY "${ovr}")
		file(WRITE "${ovr}/${pkg}" "${overrides}")
	endif()
	message(STATUS "cpack-debian-tree: ${pkg}: ${doc}/copyright, changelog.Debian.gz")
endforeach()
