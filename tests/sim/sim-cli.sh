#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Bad input to `snpctl report|key|sim`: a clear message and exit code 3
# (usage) or 4 (device), never a crash.
set -u
. "$SNP_TOP_SRCDIR/tests/sim/sim-lib.sh"

d=$(sim_new_dir Milan) || exit 1

expect 3 "nonce" "$SNPCTL" report --backend="sim:$d" --nonce xyz -o "$SIM_TMP/r"
expect 3 "nonce" "$SNPCTL" report --backend="sim:$d" --nonce "$(printf '%0130d' 0)" -o "$SIM_TMP/r"
expect 3 "vmpl" "$SNPCTL" report --backend="sim:$d" --vmpl 4 -o "$SIM_TMP/r"
expect 3 "vmpl" "$SNPCTL" report --backend="sim:$d" --vmpl -1 -o "$SIM_TMP/r"
expect 3 "unknown backend" "$SNPCTL" report --backend=nope -o "$SIM_TMP/r"
expect 3 "configuration" "$SNPCTL" report --backend=sim: -o "$SIM_TMP/r"
expect 3 "Unexpected" "$SNPCTL" report --backend="sim:$d" extra
expect 3 "no simulated\|cannot\|holds no" "$SNPCTL" sim show --dir "$SIM_TMP/none"
expect 4 "cannot create\|not a directory" "$SNPCTL" report --backend=sim:/proc/version/x -o "$SIM_TMP/r"
expect 3 "fields" "$SNPCTL" key --backend="sim:$d" --fields policy,bogus
expect 3 "root" "$SNPCTL" key --backend="sim:$d" --root vcekk
expect 3 "tcb" "$SNPCTL" key --backend="sim:$d" --tcb 12345678901234567
expect 3 "tcb" "$SNPCTL" key --backend="sim:$d" --tcb xyz
expect 3 "svn" "$SNPCTL" key --backend="sim:$d" --svn 99999999999
# the firmware refuses: status inside the response, exit 4
expect 4 "INVALID_PARAM" "$SNPCTL" key --backend="sim:$d" --fields guest_svn --svn 9
expect 4 "INVALID_PARAM" "$SNPCTL" key --backend="sim:$d" --fields tcb_version --tcb ffffffffffffffff
expect 4 "INVALID_KEY" "$SNPCTL" key --backend="sim:$d" --root vlek
# sim init / faults
expect 3 "product" "$SNPCTL" sim init --dir "$SIM_TMP/x" --product venice
expect 3 "report-version\|report_version" "$SNPCTL" sim init --dir "$SIM_TMP/x" --report-version 4
expect 3 "policy" "$SNPCTL" sim init --dir "$SIM_TMP/x" --policy zz
expect 3 "measurement" "$SNPCTL" sim init --dir "$SIM_TMP/x" --measurement 0g
expect 3 "already" "$SNPCTL" sim init --dir "$d"
expect 3 "fault" "$SNPCTL" sim faults --dir "$d" explode=1
expect 3 "Unknown sim command" "$SNPCTL" sim frobnicate
# sim init's HEXNUM options are hex with or without 0x; other numbers are
# decimal, a leading zero included (snpctl(1))
"$SNPCTL" sim init --dir "$SIM_TMP/num" --tcb 010 --policy 30000 --guest-svn 010 >/dev/null 2>&1 ||
	fail "sim init with --tcb 010 --policy 30000 --guest-svn 010 refused"
shown=$("$SNPCTL" sim show --dir "$SIM_TMP/num" 2>&1)
for want in current_tcb=0x0000000000000010 reported_tcb=0x0000000000000010 \
	policy=0x0000000000030000 guest_svn=10; do
	printf '%s\n' "$shown" | grep -qx "$want" || fail "sim show lacks $want: $shown"
done
# a corrupt state directory
cp -r "$d" "$SIM_TMP/bad"
echo "nonsense" >>"$SIM_TMP/bad/params"
expect 4 "params" "$SNPCTL" key --backend="sim:$SIM_TMP/bad"
cp "$d/params" "$SIM_TMP/bad/params"
head -c 100 "$d/launch-state" >"$SIM_TMP/bad/launch-state"
expect 4 "launch-state" "$SNPCTL" key --backend="sim:$SIM_TMP/bad"
# the good directory still works, and counters agree
"$SNPCTL" key --backend="sim:$d" >/dev/null || fail "good dir"
[ "$(guest_counter "$d")" = "$(fw_counter "$d")" ] || fail "counters differ"
echo "ok: cli bad input"
exit 0
