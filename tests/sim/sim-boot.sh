#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# `snpctl sim boot`: a clean boot in both modes exits 0 and says what it
# did; every attack exits 1 and names the termination reason; bad options
# exit 3; with --report the booted guest gets a report through its GHCB
# that `snpctl verify` accepts; a hypervisor lying about CPUID does not
# change the guest's CPUID answers (the CPUID page's). The figures
# themselves are checked by test-sim-boot.
set -u
. "$SNP_TOP_SRCDIR/tests/sim/sim-lib.sh"
PY=${PYTHON3:-/usr/bin/python3}

expect 0 "booted and ran" "$SNPCTL" sim boot --memory 64 --validation pre
expect 0 "pages validated *15424 by the guest" "$SNPCTL" sim boot --memory 64 --validation pre
expect 0 "units accepted *3 of 2 MiB (on first use)" "$SNPCTL" sim boot --memory 64 --validation lazy --touch 5
expect 0 "booted and ran" "$SNPCTL" sim boot --memory 128 --validation lazy --touch 124

expect 1 "set 0 code 0 (general request)" "$SNPCTL" sim boot --memory 32 --attack remap
expect 1 "set 0 code 0 (general request)" "$SNPCTL" sim boot --memory 32 --validation lazy \
	--touch 4 --attack unvalidate
expect 1 "set 1 code 1 (page state change failure)" "$SNPCTL" sim boot --memory 32 \
	--attack psc-ignore
expect 1 "set 1 code 2 (PVALIDATE failure)" "$SNPCTL" sim boot --memory 32 --attack psc-partial
expect 1 "set 0 code 2 (SNP features unsupported)" "$SNPCTL" sim boot --memory 32 --attack no-snp
expect 1 "set 0 code 1 (GHCB protocol version unsupported)" "$SNPCTL" sim boot --memory 32 \
	--attack ghcb-v1
expect 1 "set 1 code 3 (not running at VMPL0)" "$SNPCTL" sim boot --memory 32 --vmpl 2

expect 3 "even number" "$SNPCTL" sim boot --memory 7
expect 3 "even number" "$SNPCTL" sim boot --memory 4
expect 3 "even number" "$SNPCTL" sim boot --memory 131072
expect 3 "pre or lazy" "$SNPCTL" sim boot --validation sometimes
expect 3 "unknown attack" "$SNPCTL" sim boot --attack rowhammer
expect 3 "touch" "$SNPCTL" sim boot --touch -1
expect 3 "usage" "$SNPCTL" sim boot extra
expect 3 "more than the 28 MiB" "$SNPCTL" sim boot --memory 32 --touch 29
expect 3 "attack-after-boot goes with" "$SNPCTL" sim boot --attack remap --attack-after-boot
expect 3 "even number of hex digits" "$SNPCTL" sim boot --report "$SIM_TMP/x" --nonce ""

# psc attacks through the GHCB: an honest boot, then acceptance goes wrong
expect 1 "during run: reason set 1 code 1" "$SNPCTL" sim boot --memory 32 --validation lazy \
	--touch 8 --attack psc-ignore --attack-after-boot
expect 1 "during run: reason set 1 code 2" "$SNPCTL" sim boot --memory 32 --validation lazy \
	--touch 8 --attack psc-partial --attack-after-boot

# CPUID: a hypervisor that lies about every leaf (MSR protocol and GHCB) does
# not fool the guest, which answers from the CPUID page; a malformed page ends
# the boot with set 1 code 4, as Linux
expect 0 "14 of 14 answers differ from what the hypervisor says" "$SNPCTL" sim boot \
	--memory 32 --attack cpuid-lie
grep -q "^ *00000000\.0  *00000010 68747541 444d4163 69746e65  5a5a5a4a" "$SIM_TMP/out" ||
	fail "cpuid-lie: the guest's leaf 0 is not the page's AuthenticAMD"
expect 0 "booted and ran" "$SNPCTL" sim boot --memory 32 --attack cpuid-lie --attack-after-boot
for count in 65 1000 23; do
	expect 1 "during boot: reason set 1 code 4 (CPUID page validation failure)" "$SNPCTL" sim \
		boot --memory 32 --cpuid-count $count
done
expect 3 "cpuid-count" "$SNPCTL" sim boot --cpuid-count x
for when in "" --attack-after-boot; do
	"$SNPCTL" sim boot --memory 32 --validation lazy --touch 4 --attack cpuid-lie $when \
		--json >"$SIM_TMP/j" || fail "cpuid-lie json boot failed"
	"$PY" - "$SIM_TMP/j" <<'PYEOF' || fail "cpuid-lie $when: the guest believed the hypervisor"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["result"] == "ok" and j["attack"] == "cpuid-lie", j
leaves = j["cpuid"]
assert len(leaves) == 14, leaves
# the guest's own fields: APIC IDs (hypervisor's), OSXSAVE, OSPKE, XSAVE sizes
own = {0x1: [0, 0xff000000, 1 << 27, 1 << 9], 0x7: [0, 0, 1 << 4, 0], 0xb: [0, 0, 0, ~0],
       0xd: [0, ~0, 0, 0], 0x8000001e: [~0, 0xff, 0xff, 0]}
in_range = lambda fn: fn <= 0x10 or 0x80000000 <= fn <= 0x80000028
for l in leaves:
    fn, g, t, h = l["fn"], l["guest"], l["table"], l["hypervisor"]
    assert all(x != y for x, y in zip(g, h) if x or y) or fn in own, l
    assert h == [r ^ 0x5a5a5a5a for r in t], l  # the hypervisor lied
    if not l["in_table"]:
        assert g == [0, 0, 0, 0] and t == [0, 0, 0, 0], l  # never the hypervisor's
        continue
    m = own.get(fn, [0, 0, 0, 0])
    for r in range(4):
        assert g[r] & ~m[r] & 0xffffffff == t[r] & ~m[r] & 0xffffffff, (l, r)
x = {(l["fn"], l["subfn"]): l["guest"] for l in leaves}
assert x[(0xd, 0)][1] == 832 and x[(0xd, 1)][1] == 832, x  # XCR0 x87|SSE|AVX
assert x[(0x1, 0)][1] >> 24 == 0x5a, x  # the APIC ID is the hypervisor's to give
assert j["machine"]["cpuid_nae"] == 3 and j["guest"]["cpuid_hv"] == 3, j
PYEOF
done

# JSON: parseable, and the numbers agree with each other
"$SNPCTL" sim boot --memory 256 --validation lazy --touch 10 --json >"$SIM_TMP/j" ||
	fail "json boot failed"
"$PY" - "$SIM_TMP/j" <<'PYEOF' || fail "json output wrong"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["result"] == "ok", j
g, r = j["guest"], j["rmp"]
assert g["units_accepted"] == 5 and g["vc_not_validated"] == 5, g
assert g["pages_validated"] == 5 * 512 + 64, g
assert r["pages_twice"] == 0 and r["units_left"] == (256 - 4) // 2 - 5, r
assert r["pages_valid"] == r["pages_launch"] - 17 + g["pages_validated"], (r, g)
PYEOF
"$SNPCTL" sim boot --memory 32 --attack remap --json >"$SIM_TMP/j"
[ $? -eq 1 ] || fail "remap --json should exit 1"
"$PY" -c 'import json,sys; j=json.load(open(sys.argv[1])); assert j["result"]=="terminated" and j["victim_gpa"]==0x200000 and j["phase"]=="run", j' \
	"$SIM_TMP/j" || fail "remap json wrong"
# A report through the booted guest's GHCB, verified against the chip's chain
d=$(sim_new_dir Genoa) || exit 1
nonce=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f
cp "$d/launch-state" "$SIM_TMP/" || fail "state copy"
for mode in pre lazy; do
	expect 0 "report obtained through the GHCB.*written to $SIM_TMP/r.bin" "$SNPCTL" sim boot \
		--memory 64 --validation $mode --touch 4 --report "$SIM_TMP/r.bin" --dir "$d" \
		--nonce $nonce
	[ "$(wc -c <"$SIM_TMP/r.bin")" -eq 1184 ] || fail "$mode: report size"
	"$SNPCTL" verify "$SIM_TMP/r.bin" --certs "$d" --trust-ark "$d/ark.pem" --report-data $nonce \
		>"$SIM_TMP/v.txt" 2>&1 || { cat "$SIM_TMP/v.txt"; fail "$mode: verify"; }
	grep -q "report_sig *passed" "$SIM_TMP/v.txt" || fail "$mode: signature not checked"
	"$SNPCTL" verify "$SIM_TMP/r.bin" --certs "$d" --trust-ark "$d/ark.pem" \
		--report-data 01 >/dev/null 2>&1 && fail "$mode: another nonce verified"
	rm -f "$SIM_TMP/r.bin"
done
# the boot is a launch in memory: the state directory is left as it was
cmp -s "$d/launch-state" "$SIM_TMP/launch-state" || fail "launch-state changed"
"$SNPCTL" sim boot --memory 32 --report "$SIM_TMP/r.bin" --dir "$d" --json >"$SIM_TMP/j" ||
	fail "json report boot failed"
"$PY" -c 'import json,sys; j=json.load(open(sys.argv[1])); assert j["report"]=={"ok":True,"rc":0,"exitinfo2":0} and j["machine"]["guest_requests"]==1, j' \
	"$SIM_TMP/j" || fail "report json wrong"
expect 0 "report obtained" env SNP_SIM_DIR="$d" "$SNPCTL" sim boot --memory 32 \
	--report "$SIM_TMP/r.bin"
expect 3 "nonce" "$SNPCTL" sim boot --memory 32 --report "$SIM_TMP/r.bin" --dir "$d" --nonce xyz
expect 3 "nonce" "$SNPCTL" sim boot --memory 32 --report "$SIM_TMP/r.bin" --dir "$d" \
	--nonce "$nonce$nonce"
expect 3 "go with --report" "$SNPCTL" sim boot --memory 32 --nonce 00
# a report that cannot be written: the result is still printed, exit 4
expect 4 "Failed to write" "$SNPCTL" sim boot --memory 32 --dir "$d" --report /proc/version/x
grep -q "booted and ran" "$SIM_TMP/out" || fail "no result printed when the report is lost"
echo "sim-boot.sh: ok"
