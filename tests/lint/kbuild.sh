#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# kernel/ is kernel code: build it out of tree against a distribution's
# kernel headers (Debian: linux-headers-amd64) with W=1 and sparse (C=2),
# every compiler or sparse warning an error. snp-guest.c becomes a module
# (snpd-sev-guest.ko, modpost included), snp-sev.c and snp-cpuid.c kernel objects,
# which must make no indirect call (objdump).
# Nothing is loaded.
#
# The headers: $KDIR if set, else the newest /usr/src/linux-headers-*
# or /lib/modules/*/build with a Makefile and Module.symvers (the running
# kernel's version does not matter). Skips (77) without headers or sparse.
set -u
: "${SNP_TOP_SRCDIR:?}" "${SNP_TOP_BUILDDIR:?}"

kdir=${KDIR:-}
if [ -z "$kdir" ]; then
	for d in $(ls -d /usr/src/linux-headers-* /lib/modules/*/build 2>/dev/null | sort -V); do
		[ -f "$d/Makefile" ] && [ -f "$d/Module.symvers" ] && kdir=$d
	done
fi
[ -n "$kdir" ] || { echo "SKIP: no kernel headers (apt-get install linux-headers-amd64)"; exit 77; }
command -v sparse >/dev/null || { echo "SKIP: no sparse (apt-get install sparse)"; exit 77; }

# A private copy: Kbuild writes its objects next to the sources.
out="$SNP_TOP_BUILDDIR/kbuild"
rm -rf "$out"
mkdir -p "$out/kernel" || exit 99
cp "$SNP_TOP_SRCDIR"/kernel/*.c "$SNP_TOP_SRCDIR"/kernel/*.h "$SNP_TOP_SRCDIR"/kernel/Kbuild \
	"$out/kernel/" || exit 99

echo "kbuild: $kdir"
# not a sub-make of ours: no jobserver, no inherited flags
env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u MAKEOVERRIDES \
	make -j2 -C "$kdir" M="$out/kernel" W=1 C=2 KCFLAGS=-Werror modules snp-sev.o snp-cpuid.o \
	>"$out/log" 2>&1
rc=$?
cat "$out/log"
[ $rc -eq 0 ] || { echo "FAIL: kbuild exit $rc"; exit 1; }
# sparse only warns: any warning from sparse, the compiler, objtool or modpost fails
if grep -E '^[^ ]*:[0-9]+:([0-9]+:)? (warning|error):|^[^ ]*: (warning|error):|^(WARNING|ERROR):' \
	"$out/log" >/dev/null; then
	echo "FAIL: warnings"
	exit 1
fi
for f in snpd-sev-guest.ko snp-sev.o snp-cpuid.o snp-guest.o; do
	[ -f "$out/kernel/$f" ] || { echo "FAIL: $f not built"; exit 1; }
done
# The boot code (snp-sev.o, snp-cpuid.o) reaches the CPU and the hypervisor
# through inlines and direct calls only, as startup code must: no indirect
# call or jump, and (retpoline configs) no call to an indirect thunk.
objdump=${OBJDUMP:-objdump}
command -v "$objdump" >/dev/null || { echo "FAIL: no $objdump (binutils)"; exit 1; }
indirect=0
for f in snp-sev.o snp-cpuid.o; do
	"$objdump" -dr --no-show-raw-insn "$out/kernel/$f" >"$out/$f.dis" || exit 99
	if grep -E '__x86_indirect_(call_|jump_)?thunk|[[:space:]](call|jmp)[a-z]*[[:space:]]+\*' \
		"$out/$f.dis" >"$out/$f.indirect"; then
		echo "FAIL: $f has $(wc -l <"$out/$f.indirect") indirect call(s) or jump(s):"
		head -n 5 "$out/$f.indirect"
		indirect=1
	fi
done
[ $indirect -eq 0 ] || exit 1
echo "ok: snp-sev.o and snp-cpuid.o make no indirect call or jump"
modinfo "$out/kernel/snpd-sev-guest.ko" 2>/dev/null | grep -E '^(license|depends|alias):' ||
	true
echo "ok: kernel/ builds with W=1 and sparse against $kdir"
exit 0
