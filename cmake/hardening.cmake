# SPDX-License-Identifier: MIT
#
# hardening.cmake - the flags Debian's dpkg-buildflags gives with
# hardening=+all, for every target (POOTER_HARDENING, default ON):
#
#   -D_FORTIFY_SOURCE=2            checked string and memory functions (not
#                                  at -O0, where glibc refuses it, nor under
#                                  the sanitizers, which intercept the same)
#   -fstack-protector-strong       stack canaries
#   -fstack-clash-protection       no stack clash
#   -fcf-protection                CET on x86 (where gcc supports it)
#   -Wformat -Werror=format-security
#   PIE executables
#   -Wl,-z,relro -Wl,-z,now        read-only GOT after start-up (bindnow)
#
# lintian's hardening-no-* tags check the packages' binaries for them; the
# CFLAGS and LDFLAGS of the environment still come on top.
if(NOT POOTER_HARDENING)
	return()
endif()

include(CheckCCompilerFlag)
include(CheckPIESupported)

set(_pooter_fortify TRUE)
if(POOTER_SANITIZE OR POOTER_TSAN)
	set(_pooter_fortify FALSE)
endif()
if(_pooter_fortify)
	# After any -U_FORTIFY_SOURCE or other level the toolchain brings.
	add_compile_options(
		"$<$<NOT:$<CONFIG:Debug>>:-U_FORTIFY_SOURCE;-D_FORTIFY_SOURCE=2>")
endif()
add_compile_options(-fstack-protector-strong -Wformat
	-Werror=format-security)
foreach(flag -fstack-clash-protection -fcf-protection)
	string(MAKE_C_IDENTIFIER "POOTER_HAVE${flag}" var)
	check_c_compiler_flag(${flag} ${var})
	if(${var})
		add_compile_options(${flag})
	endif()
endforeach()

check_pie_supported(LANGUAGES C)
set(CMAKE_POSITION_INDEPENDENT_CODE ON)
add_link_options(-Wl,-z,relro -Wl,-z,now)
