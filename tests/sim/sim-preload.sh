#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The LD_PRELOAD library provides /dev/sev-guest: a plain ioctl client
# built against <linux/sev-guest.h>, and snpctl's sev-guest backend, run
# against the simulator. Faults and the VMPCK disable survive across
# processes (they are guest state) until the guest is relaunched; many
# processes at once never reuse a sequence number.
set -u
. "$SNP_TOP_SRCDIR/tests/sim/sim-lib.sh"

[ -f "$SNP_TOP_BUILDDIR/sim/.libs/libsnp-preload.so" ] || { echo "SKIP: no preload library"; exit 77; }
CLIENT="$SNP_TOP_BUILDDIR/tests/sim/ioctl-client"

d=$(sim_new_dir Milan) || exit 1
pre()
{
	SNP_SIM_DIR="$d" LD_PRELOAD="$SIM_PRELOAD" "$@"
}

# 1. plain ioctls
pre "$CLIENT"
rc=$?
[ $rc -eq 77 ] && { echo "SKIP: ioctl client skipped"; exit 77; }
[ $rc -eq 0 ] || fail "ioctl client exit $rc"

# 2. snpctl's sev-guest backend through the preload library
pre "$SNPCTL" report --backend=sev-guest -o "$d/r.bin" --certs-dir "$d/c" || fail "report"
"$SNPCTL" verify "$d/r.bin" --certs "$d/c" --trust-ark "$d/c/ark.pem" >/dev/null ||
	fail "verify of a report from the preload device"
k1=$(pre "$SNPCTL" key --backend=sev-guest --fields measurement,policy) || fail "key (preload)"
k2=$("$SNPCTL" key --backend="sim:$d" --fields measurement,policy) || fail "key (sim)"
[ "$k1" = "$k2" ] || fail "sev-guest and sim backends derive different keys"
[ ${#k1} -eq 64 ] || fail "key length"
[ "$(guest_counter "$d")" = "$(fw_counter "$d")" ] || fail "counters differ"

# 3. without SNP_SIM_DIR the device does not exist
LD_PRELOAD="$SIM_PRELOAD" "$SNPCTL" key --backend=sev-guest >"$SIM_TMP/nodev" 2>&1 &&
	fail "device without SNP_SIM_DIR"
grep -q "/dev/sev-guest" "$SIM_TMP/nodev" || fail "no device: message"

# 4. BUSY is retried (short backoff), the same message resent
before=$(fw_counter "$d")
SNP_SIM_FAULTS=busy=3 SNP_SIM_RETRY_MS=1,1000 pre "$SNPCTL" key --backend=sev-guest >/dev/null ||
	fail "busy not retried"
[ $(($(fw_counter "$d") - before)) -eq 2 ] || fail "busy consumed more than one seqno"

# 5. a tampered response disables the VMPCK, for later processes too; the
#    driver says so as Linux does (pr_alert)
SNP_SIM_FAULTS=tamper=1 pre "$SNPCTL" key --backend=sev-guest >"$SIM_TMP/t1" 2>&1
[ $? -eq 4 ] || fail "tamper: exit code"
grep -q "^<1>snp-guest: Disabling VMPCK0 communication key to prevent IV reuse" "$SIM_TMP/t1" ||
	{ cat "$SIM_TMP/t1"; fail "tamper: no pr_alert on the wipe"; }
# ENOTTY: exitinfo2 is 0xff, not what the caller left there
pre "$CLIENT" --exitinfo2-disabled || fail "exitinfo2 on ENOTTY"
pre "$SNPCTL" report --backend=sev-guest -o "$d/x.bin" >"$SIM_TMP/t2" 2>&1
[ $? -eq 4 ] || fail "after tamper: exit code"
grep -q "disabled its VMPCK" "$SIM_TMP/t2" || { cat "$SIM_TMP/t2"; fail "after tamper: ENOTTY"; }
"$SNPCTL" key --backend="sim:$d" >/dev/null 2>&1 && fail "sim backend after the disable"
"$SNPCTL" sim relaunch --dir "$d" >/dev/null || fail "relaunch"
pre "$SNPCTL" key --backend=sev-guest >/dev/null || fail "after relaunch"

# 6. replay, drop, firmware error: disabled as well (the second request of
#    the ioctl client meets the fault)
for f in "after=1,replay=1" "after=1,drop=1" "after=1,fw_error=1"; do
	"$SNPCTL" sim relaunch --dir "$d" >/dev/null
	SNP_SIM_FAULTS="$f" pre "$CLIENT" >/dev/null 2>&1 && fail "$f not detected"
	pre "$SNPCTL" key --backend=sev-guest >"$SIM_TMP/f" 2>&1 && fail "$f: not disabled"
	grep -q "disabled its VMPCK" "$SIM_TMP/f" || fail "$f: ENOTTY"
done

# faults from the state directory (snpctl sim faults)
"$SNPCTL" sim relaunch --dir "$d" >/dev/null
"$SNPCTL" sim faults --dir "$d" tamper=1 || fail "sim faults"
"$SNPCTL" key --backend="sim:$d" >/dev/null 2>&1 && fail "faults file ignored"
"$SNPCTL" sim faults --dir "$d" none || fail "sim faults none"
"$SNPCTL" key --backend="sim:$d" >/dev/null 2>&1 && fail "not disabled after tamper"

# 6b. the host refuses the exit itself: as Linux, the ioctl returns the
#     positive ES_VMM_ERROR / ES_EXCEPTION with errno untouched and the VMPCK
#     goes; snpctl says so and hands out no key (never 32 zero bytes)
for spec in "refuse_exit=1:2" "refuse_exit=1,refuse_info2=0x80000b0d:4"; do
	"$SNPCTL" sim relaunch --dir "$d" >/dev/null
	SNP_SIM_FAULTS="${spec%:*}" pre "$CLIENT" --refused "${spec##*:}" >/dev/null ||
		fail "${spec%:*}: ioctl result"
done
"$SNPCTL" sim relaunch --dir "$d" >/dev/null
SNP_SIM_FAULTS=refuse_exit=1 pre "$SNPCTL" key --backend=sev-guest >"$SIM_TMP/rk" 2>"$SIM_TMP/rk.err"
rc=$?
[ $rc -eq 4 ] || { cat "$SIM_TMP/rk" "$SIM_TMP/rk.err"; fail "refused exit: key exit $rc"; }
[ -s "$SIM_TMP/rk" ] && { cat "$SIM_TMP/rk"; fail "refused exit: a key was printed"; }
grep -q "refused the guest request" "$SIM_TMP/rk.err" ||
	{ cat "$SIM_TMP/rk.err"; fail "refused exit: no message"; }
"$SNPCTL" sim relaunch --dir "$d" >/dev/null
SNP_SIM_FAULTS=refuse_exit=1 pre "$SNPCTL" report --backend=sev-guest -o "$d/rr.bin" \
	>"$SIM_TMP/rr" 2>&1
[ $? -eq 4 ] || { cat "$SIM_TMP/rr"; fail "refused exit: report exit code"; }
grep -q "refused the guest request" "$SIM_TMP/rr" || { cat "$SIM_TMP/rr"; fail "refused: report message"; }

# 7. many processes at once: every request gets its own sequence number
"$SNPCTL" sim relaunch --dir "$d" >/dev/null
i=0
while [ $i -lt 12 ]; do
	(
		trap - EXIT INT TERM
		for j in 1 2 3 4 5; do
			"$SNPCTL" key --backend="sim:$d" >/dev/null || touch "$SIM_TMP/parallel-failed"
		done
	) &
	i=$((i + 1))
done
wait
[ ! -e "$SIM_TMP/parallel-failed" ] || fail "parallel requests failed"
[ "$(fw_counter "$d")" = 120 ] || fail "firmware counter $(fw_counter "$d") != 120"
[ "$(guest_counter "$d")" = 120 ] || fail "guest counter $(guest_counter "$d") != 120"

# 8. the user boundary: bad user pointers give EFAULT, never a crash or a
#    wiped VMPCK (every bad request is followed by a good one)
"$SNPCTL" sim relaunch --dir "$d" >/dev/null
pre "$CLIENT" --bad-pointers || fail "bad user pointers"
[ "$(guest_counter "$d")" = "$(fw_counter "$d")" ] || fail "bad pointers: counters differ"

# 9. many threads of one process on one descriptor: the driver's own lock
#    (the preload library does not serialise) keeps every sequence number
#    unique: all 1600 requests succeed
"$SNPCTL" sim relaunch --dir "$d" >/dev/null
pre "$CLIENT" --threads 8 200 || fail "threads"
[ "$(fw_counter "$d")" = 3200 ] || fail "threads: firmware counter $(fw_counter "$d") != 3200"
[ "$(guest_counter "$d")" = 3200 ] || fail "threads: guest counter $(guest_counter "$d") != 3200"
echo "ok: preload, faults, concurrency, user pointers, threads"
exit 0
