#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# kernel/ reaches its platform through link-time functions and inlines, not
# through tables of function pointers (issue 13): no kernel/ source or
# header declares a function pointer (the kernel's own tables, such as a
# struct file_operations instance, are filled, not declared), and no .c
# file tells the builds apart (kernel/compat.h does). The object-level check
# (no indirect call in snp-sev.o and snp-cpuid.o) is in kbuild.sh.
# Also two checkpatch points (no __attribute__, no volatile).
set -u
cd "${SNP_TOP_SRCDIR:?}/kernel" || exit 99
bad=0
# "(*name)(" or "(* const name)(": a declarator of a pointer to function
if grep -nE '\(\*[[:space:]]*(const[[:space:]]+)?[A-Za-z_][A-Za-z0-9_]*[[:space:]]*\)[[:space:]]*\(' \
	./*.c ./*.h; then
	echo "FAIL: function pointers declared in kernel/ (use a link-time function or an inline)"
	bad=1
fi
if grep -n '__KERNEL__' ./*.c; then
	echo "FAIL: a kernel/ .c file tests __KERNEL__ (kernel/compat.h tells the builds apart)"
	bad=1
fi
# checkpatch's points, checked here because Debian ships no checkpatch.pl:
# __packed/__noreturn/... instead of __attribute__, READ_ONCE instead of a
# volatile access (asm volatile is the one volatile allowed)
if grep -nE '__attribute__|volatile' ./*.c ./*.h | grep -vE 'asm volatile'; then
	echo "FAIL: __attribute__ or volatile in kernel/ (use __packed, __noreturn, READ_ONCE)"
	bad=1
fi
[ $bad -eq 0 ] && echo "ok: no function pointers declared in kernel/, no __KERNEL__ test in its .c files," \
	"no __attribute__ or volatile"
exit $bad
