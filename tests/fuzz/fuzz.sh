#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
#
# Build the libFuzzer targets of tests/fuzz/ with clang and run each for a
# short fixed time on a seed corpus made from the genuine AMD test data
# (fuzz-ghcb: a hostile hypervisor against the guest memory-validation code,
# from an all-zero "honest" seed), and the targets of what a client or a
# file gives snpd itself (fuzz-eventlog: POST /v1/log/events bodies and the
# stored event log; fuzz-config: snpd.conf; fuzz-names: nonce names, hex
# and numbers), from seeds that make-seeds-daemon.py writes.
#
# The main build may use gcc, so the targets are compiled here, straight
# from the sources, into a temporary directory.
#
# Environment (set by `make check`): SNP_TOP_SRCDIR, SNP_TOP_BUILDDIR,
# SNP_TESTDATA, CLANG, JANSSON_CFLAGS, JANSSON_LIBS, PYTHON3.
#   SNP_FUZZ_SECONDS  run time of each target (default 10; 0: the seeds only)
#   SNP_FUZZ_SEED     libFuzzer -seed (default: random, printed in the log)
#   SNP_FUZZ_KEEP=1   keep the temporary directory
#
# Exit: 0 no finding, 1 a crash, leak, timeout or build failure, 77 no
# usable clang/libFuzzer.
set -u

: "${SNP_TOP_SRCDIR:?}" "${SNP_TOP_BUILDDIR:?}"
CLANG=${CLANG:-}
PYTHON3=${PYTHON3:-/usr/bin/python3}
SNP_TESTDATA=${SNP_TESTDATA:-}
seconds=${SNP_FUZZ_SECONDS:-10}

case $seconds in
'' | *[!0-9]*)
	echo "fuzz.sh: SNP_FUZZ_SECONDS='$seconds' is not a number of seconds" >&2
	exit 99
	;;
esac

if [ -z "$CLANG" ]; then
	echo "SKIP: configure found no clang; install clang and libclang-rt-14-dev" \
		"(./bootstrap --deps) and re-run configure"
	exit 77
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/snp-fuzz.XXXXXX") || exit 99
keep=${SNP_FUZZ_KEEP:-0}
# shellcheck disable=SC2317 # called from the EXIT trap
cleanup()
{
	if [ "$keep" = 1 ]; then
		echo "fuzz.sh: kept $tmp"
	else
		rm -rf "$tmp"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Can this clang link a libFuzzer binary with ASan and UBSan?
sanitize="-fsanitize=fuzzer,address,undefined"
cat >"$tmp/probe.c" <<'EOF'
#include <stddef.h>
#include <stdint.h>
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return size > 0 && data[0] == 0x42;
}
EOF
if ! "$CLANG" $sanitize "$tmp/probe.c" -o "$tmp/probe" >"$tmp/probe.log" 2>&1; then
	echo "SKIP: $CLANG cannot link $sanitize (libFuzzer runtime missing?" \
		"Debian: libclang-rt-14-dev):"
	sed 's/^/  /' "$tmp/probe.log"
	exit 77
fi

CFLAGS_FUZZ="-std=gnu11 -g -O1 -fno-omit-frame-pointer $sanitize -fno-sanitize-recover=all"
CFLAGS_FUZZ="$CFLAGS_FUZZ -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers"
# daemon/config.c names its default file by it (the build passes it with -D)
CFLAGS_FUZZ="$CFLAGS_FUZZ -DSYSCONFDIR=\"/etc\""

# build NAME SOURCES...: the target plus the lib/ sources it needs
build()
{
	name=$1
	shift
	srcs=""
	for s in "$@"; do
		srcs="$srcs $SNP_TOP_SRCDIR/$s"
	done
	echo "fuzz.sh: building $name"
	# shellcheck disable=SC2086 # word splitting of the flag lists is intended
	if ! "$CLANG" $CFLAGS_FUZZ -include "$SNP_TOP_BUILDDIR/config.h" -I"$SNP_TOP_SRCDIR" \
		-I"$SNP_TOP_SRCDIR/sim/kshim" \
		${JANSSON_CFLAGS:-} ${CRYPTO_CFLAGS:-} $srcs -o "$tmp/$name" \
		${JANSSON_LIBS:--ljansson} ${CRYPTO_LIBS:--lcrypto} \
		>"$tmp/$name.build.log" 2>&1; then
		echo "FAIL: cannot build $name:"
		cat "$tmp/$name.build.log"
		return 1
	fi
	# warnings are not fatal here (the gcc build has -Werror) but are shown
	[ -s "$tmp/$name.build.log" ] && cat "$tmp/$name.build.log"
	return 0
}

build fuzz-report tests/fuzz/fuzz-report.c lib/report.c lib/report-json.c \
	lib/report-text.c lib/util.c || exit 1
build fuzz-cert-table tests/fuzz/fuzz-cert-table.c lib/cert-table.c lib/util.c || exit 1
build fuzz-ghcb tests/fuzz/fuzz-ghcb.c kernel/snp-sev.c kernel/snp-cpuid.c kernel/snp-guest.c \
	sim/machine.c sim/boot.c sim/hypervisor.c sim/firmware.c sim/presigned.c sim/crypto.c \
	sim/state.c sim/identity.c \
	sim/params.c sim/guest-platform.c sim/kshim/kshim.c sim/kshim/vcpu.c lib/cert-table.c \
	lib/report.c lib/util.c || exit 1
build fuzz-evidence tests/fuzz/fuzz-evidence.c lib/evlog.c lib/binding.c lib/merkle.c \
	lib/util.c || exit 1
# fuzz-eventlog includes daemon/eventlog.c itself (its parsers are static)
build fuzz-eventlog tests/fuzz/fuzz-eventlog.c lib/evlog.c lib/binding.c lib/merkle.c \
	lib/util.c lib/log.c || exit 1
# daemon/config.c checks Backend= against the backends, which link the simulator
build fuzz-config tests/fuzz/fuzz-config.c daemon/config.c backend/backend.c \
	backend/backend-sim.c backend/backend-tsm.c backend/backend-sevguest.c sim/machine.c \
	sim/boot.c sim/crypto.c sim/params.c sim/state.c sim/identity.c sim/firmware.c \
	sim/presigned.c sim/hypervisor.c sim/platform.c sim/guest-platform.c kernel/snp-sev.c \
	kernel/snp-cpuid.c kernel/snp-guest.c sim/kshim/kshim.c sim/kshim/vcpu.c \
	lib/cert-table.c lib/report.c lib/util.c lib/log.c || exit 1
build fuzz-names tests/fuzz/fuzz-names.c lib/util.c || exit 1

# Seed corpora, made now from the genuine test data (never stored in git).
mkdir -p "$tmp/corpus-report" "$tmp/corpus-cert-table" "$tmp/corpus-ghcb" || exit 99
# The hostile hypervisor starts from "answer honestly" (all zero bytes).
head -c 64 /dev/zero >"$tmp/corpus-ghcb/honest" || exit 99
# The evidence parsers start from a record and a binding section of docs/evidence.md.
mkdir -p "$tmp/corpus-evidence" || exit 99
printf '\001\000\013\000\000\000\001\040%032d\004boot' 0 >"$tmp/corpus-evidence/record" || exit 99
binding='{"scheme":"snpd-binding-v1","nonce":"abcd","leaf_index":0,"tree_size":1,"proof":[],"log":{"count":0,"head":"'"$(printf '%096d' 0)"'","events":[]}}'
printf '%s' "$binding" >"$tmp/corpus-evidence/binding" || exit 99
# ... and a document holding it, as snpctl verify reads one
printf '{"type":"snpd-evidence","version":1,"binding":%s}' "$binding" \
	>"$tmp/corpus-evidence/document" || exit 99
# ... and from an honest boot that also asks for a report through the GHCB
{ printf ' ' && head -c 63 /dev/zero; } >"$tmp/corpus-ghcb/report" || exit 99
if [ -n "$SNP_TESTDATA" ] && [ -r "$SNP_TESTDATA/manifest.json" ] && [ -x "$PYTHON3" ]; then
	if ! "$PYTHON3" "$SNP_TOP_SRCDIR/tests/fuzz/make-seeds.py" "$SNP_TESTDATA" \
		"$tmp/corpus-report" "$tmp/corpus-cert-table"; then
		echo "FAIL: tests/fuzz/make-seeds.py failed"
		exit 1
	fi
else
	echo "fuzz.sh: note: no test data at '$SNP_TESTDATA' or no $PYTHON3;" \
		"fuzzing without seeds"
fi

# snpd's own inputs: seeds from the formats and the example configuration
mkdir -p "$tmp/corpus-eventlog" "$tmp/corpus-config" "$tmp/corpus-names" || exit 99
if [ -x "$PYTHON3" ]; then
	if ! "$PYTHON3" "$SNP_TOP_SRCDIR/tests/fuzz/make-seeds-daemon.py" "$SNP_TOP_SRCDIR" \
		"$tmp/corpus-eventlog" "$tmp/corpus-config" "$tmp/corpus-names"; then
		echo "FAIL: tests/fuzz/make-seeds-daemon.py failed"
		exit 1
	fi
else
	echo "fuzz.sh: note: no $PYTHON3; fuzzing snpd's own inputs without seeds"
fi

# Print a file as one line of lowercase hex.
hexdump_line()
{
	od -An -v -tx1 "$1" | tr -d ' \n'
	echo
}

error_re='BUG:|^==[0-9]+==|runtime error:|ERROR: libFuzzer|ERROR: AddressSanitizer|ERROR: LeakSanitizer'

# run NAME MAX_LEN: fuzz for $seconds, fail on any finding
run()
{
	name=$1
	max_len=$2
	art="$tmp/artifacts-$name"
	log="$tmp/$name.log"
	mkdir -p "$art" || return 1

	# -max_total_time=0 would mean no limit: 0 runs the seeds only
	if [ "$seconds" -eq 0 ]; then
		set -- -runs=0
	else
		set -- -max_total_time="$seconds"
	fi
	set -- "$@" -max_len="$max_len" -timeout=10 \
		-rss_limit_mb=2048 -error_exitcode=1 -timeout_exitcode=1 \
		-artifact_prefix="$art/" -print_final_stats=1
	[ -n "${SNP_FUZZ_SEED:-}" ] && set -- "$@" -seed="$SNP_FUZZ_SEED"

	echo "fuzz.sh: running $name for ${seconds}s" \
		"($(find "$tmp/corpus-$name" -type f | wc -l) seeds)"
	# TMPDIR: where fuzz-config writes its file (left there when it crashes)
	(cd "$tmp" && TMPDIR="$tmp" "./fuzz-$name" "$@" "corpus-$name") >"$log" 2>&1
	rc=$?

	grep -E '^(INFO: Seed|#[0-9]+[[:space:]]+(INITED|DONE))|^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb|new_units_added)' \
		"$log" | sed "s/^/  $name: /"

	findings=$(ls "$art")
	if [ "$rc" -eq 0 ] && [ -z "$findings" ]; then
		return 0
	fi

	echo "FAIL: $name exited with $rc"
	echo "---- $name: report ----"
	# from the first error line to the end; the whole tail when there is none
	if grep -qE "$error_re" "$log"; then
		awk -v re="$error_re" 'p || $0 ~ re { p = 1; print }' "$log"
	else
		tail -n 80 "$log"
	fi
	for f in "$art"/*; do
		[ -f "$f" ] || continue
		echo "---- $(basename "$f") ($(wc -c <"$f") bytes), hex ----"
		hexdump_line "$f"
		echo "reproduce: $tmp/fuzz-$name $f"
	done
	keep=1
	return 1
}

status=0
run report 8192 || status=1
run cert-table 16384 || status=1
run ghcb 4096 || status=1
run evidence 4096 || status=1
run eventlog 4096 || status=1
run config 4096 || status=1
run names 512 || status=1
exit $status
