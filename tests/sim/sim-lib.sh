# SPDX-License-Identifier: Apache-2.0
# Sourced by the simulator shell tests (POSIX sh).
#
# A template state per product is generated once per build tree under a
# lock (RSA-4096 key generation takes seconds); each test copies it into
# its own temporary directory and relaunches the guest there (new VMPCKs,
# counters at zero).

: "${SNP_TOP_BUILDDIR:?}" "${SNP_TOP_SRCDIR:?}" "${SNPCTL:?}"

SIM_PRELOAD="$SNP_TOP_BUILDDIR/sim/.libs/libsnp-preload.so"
# In a sanitizer build the ASan runtime has to come first in LD_PRELOAD.
SIM_ASAN=$(ldd "$SIM_PRELOAD" 2>/dev/null | sed -n 's/^[[:space:]]*libasan[^ ]* => \([^ ]*\) .*/\1/p')
[ -z "$SIM_ASAN" ] || SIM_PRELOAD="$SIM_ASAN $SIM_PRELOAD"
SIM_TMP=$(mktemp -d "${TMPDIR:-/tmp}/snp-sim-test.XXXXXX")
trap 'rm -rf "$SIM_TMP"' EXIT INT TERM

fail()
{
	echo "FAIL: $*" >&2
	exit 1
}

# expect CODE PATTERN CMD...: CMD exits with CODE and its output (in
# $SIM_TMP/out) matches PATTERN (grep -i)
expect()
{
	code=$1
	pat=$2
	shift 2
	"$@" >"$SIM_TMP/out" 2>&1
	rc=$?
	[ $rc -eq "$code" ] || { cat "$SIM_TMP/out"; fail "exit $rc, not $code: $*"; }
	grep -qi -- "$pat" "$SIM_TMP/out" || { cat "$SIM_TMP/out"; fail "no '$pat': $*"; }
}

# sim_template PRODUCT -> prints the template directory
sim_template()
{
	# generation 2: AMD-shaped identity (SIM_TEST_TEMPLATE_GEN in sim-test.h)
	t="$SNP_TOP_BUILDDIR/tests/sim/tmpl-2-$1"
	(
		trap - EXIT INT TERM
		flock 9
		if [ ! -f "$t/params" ]; then
			"$SNPCTL" sim init --dir "$t" --product "$1" --force >/dev/null ||
				exit 1
		fi
	) 9>"$t.lock" || fail "cannot create the $1 template"
	echo "$t"
}

# sim_new_dir PRODUCT -> a fresh state directory (removed at exit)
sim_new_dir()
{
	t=$(sim_template "$1") || exit 1
	d=$(mktemp -d "$SIM_TMP/state.XXXXXX")
	cp "$t"/params "$t"/secrets "$t"/*.pem "$d"/ || fail "cannot copy $t"
	chmod 700 "$d"
	"$SNPCTL" sim relaunch --dir "$d" >/dev/null || fail "relaunch $d"
	echo "$d"
}

# The launch record (sim/state.c): 0x10 four LE64 firmware counters, 0x30
# the guest's secrets page (OS-area counters at 0xa0).

# guest_counter DIR [VMPCK] -> the guest's OS-area counter
guest_counter()
{
	od -An -tu4 -j $((0x30 + 0xa0 + 4 * ${2:-0})) -N4 "$1/launch-state" | tr -d ' '
}

# fw_counter DIR [VMPCK]
fw_counter()
{
	od -An -tu8 -j $((0x10 + 8 * ${2:-0})) -N8 "$1/launch-state" | tr -d ' '
}
