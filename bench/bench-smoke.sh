#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Self-test of the snpd benchmarks (make check), a few seconds of load:
# bench-snpd.sh in a tiny mode prints every figure in its format and its
# checks of served reports pass; and those checks can fail: a pool whose
# signatures were damaged is caught by the signature sample, a pool entry
# whose signed part differs from the request's (another VMPL) is
# never served, and nonces outside the pool are signed when asked.
# bench-evidence.sh likewise, and its checks of evidence answers fail on a
# wrong nonce, a damaged signature or REPORT_DATA. Never looks at speed.
# Without root or /dev/fuse only the checks run.
set -u
top=${SNP_TOP_BUILDDIR:?}
src=${SNP_TOP_SRCDIR:?}
export SNPD="$top/daemon/snpd" SNPCTL="$top/cli/snpctl" SNPD_LOAD="$top/bench/snpd-load"
work=$(mktemp -d "${TMPDIR:-/tmp}/bench-smoke-XXXXXX")
trap 'rm -rf "$work"' EXIT
fail() {
	echo "FAIL: $*"
	exit 1
}
"$SNPCTL" sim init --dir "$work/sim" >/dev/null || fail "sim init"

# 1. the checks themselves, on the raw backend loop (any user)
pool=$work/pool
BENCH_NONCE_BASE=0 "$SNPD_LOAD" presign "sim:$work/sim" "$pool" 16 || fail "presign"
export BENCH_VCEK="$work/sim/vcek.pem" BENCH_NONCE_COUNT=16 BENCH_VERIFY_EVERY=3
# raw POOL-FOR-SIM POOL-FOR-CHECK [ENV...]: one second of the raw loop
raw() {
	p1=$1 p2=$2
	shift 2
	rm -rf "$work/sim-raw"
	cp -a "$work/sim" "$work/sim-raw"
	env SNP_SIM_DEVICE_US=1000 SNP_SIM_PRESIGNED="$p1" BENCH_PRESIGNED="$p2" "$@" \
		"$SNPD_LOAD" raw "sim:$work/sim-raw" 1 1
}
out=$(raw "$pool" "$pool") || fail "raw with a good pool: $out"
echo "good pool: $out"
echo "$out" | grep -Eq "sig_bad=0 sample_presigned=([0-9]+)/\1$" || fail "good pool not used: $out"

# damaged signatures (one byte of R in every entry): the sample must catch it
python3 - "$pool" "$work/pool-badsig" <<'PY' || fail "python"
import sys
data = bytearray(open(sys.argv[1], "rb").read())
for off in range(0, len(data), 0x4A0):
    data[off + 0x2A0 + 5] ^= 0x01          # signature R
open(sys.argv[2], "wb").write(data)
PY
out=$(raw "$work/pool-badsig" "$work/pool-badsig")
rc=$?
echo "damaged pool: $out"
[ $rc -eq 1 ] || fail "a damaged signature was not reported (exit $rc)"
echo "$out" | grep -Eq "sig_bad=[1-9]" || fail "no bad signature counted: $out"

# genuine signatures of other reports with the same REPORT_DATA (VMPL 1):
# never used for our VMPL 0 requests (a match on REPORT_DATA alone would
# put a VMPL 1 signature on a VMPL 0 report, which the sample catches)
BENCH_NONCE_BASE=0 BENCH_PRESIGN_VMPL=1 "$SNPD_LOAD" presign "sim:$work/sim" "$work/pool-vmpl1" 16 ||
	fail "presign at VMPL 1"
out=$(raw "$work/pool-vmpl1" "$work/pool-vmpl1") || fail "pool of VMPL 1: $out"
echo "pool of VMPL 1: $out"
echo "$out" | grep -Eq "sig_bad=0 sample_presigned=0/[1-9]" || fail "a foreign pool entry was served: $out"

# nonces outside the pool: signed when asked, still bound and genuine
out=$(raw "$pool" "$pool" BENCH_NONCE_BASE=1000) || fail "nonces outside the pool: $out"
echo "outside the pool: $out"
echo "$out" | grep -Eq "unbound=0 .*sig_bad=0 sample_presigned=0/[1-9]" || fail "outside the pool: $out"
if [ "$(id -u)" -ne 0 ] || [ ! -e /dev/fuse ]; then
	echo "PASS (the benchmark itself skipped: needs root and /dev/fuse)"
	exit 0
fi
# 2. the benchmark in a tiny mode (root and /dev/fuse)
BENCH_SIM_DIR="$work/sim" BENCH_SECONDS=1 BENCH_ROUNDS=2 BENCH_CLIENTS=2 BENCH_DEVICE_MS=1 \
	BENCH_POOL=256 BENCH_HOLD=8 BENCH_HEALTHZ_ROUNDS=1 sh "$src/bench/bench-snpd.sh" >"$work/out" 2>&1
rc=$?
cat "$work/out"
[ $rc -eq 0 ] || fail "bench-snpd.sh exited $rc"
for mode in "FUSE report" "HTTP unix" "HTTP TCP"; do
	grep -Eq "^    $mode +[0-9.]+/s  ratio [0-9.]+x \[[0-9.]+, [0-9.]+\] \(2 rounds\)" "$work/out" ||
		fail "no ratio line for $mode"
done
grep -Eq "^device: 1 ms per request, no CPU$" "$work/out" || fail "no device line"
grep -Eq "^  clients=2 +raw +[0-9.]+/s \[" "$work/out" || fail "no raw line"
checks=$(grep "^  checks:" "$work/out")
echo "$checks" | grep -Eq "errors=0 unbound=0 signatures verified=[1-9][0-9]* bad=0" ||
	fail "checks of served reports: $checks"
n=$(echo "$checks" | sed -n 's/.*made ahead=\([0-9]*\)\/\([0-9]*\).*/\1 \2/p')
set -- $n
[ $# -eq 2 ] && [ "$1" -gt 0 ] && [ "$1" = "$2" ] || fail "sampled reports not from the pool: $checks"
grep -Eq "device=1 +clients=2 +backend +[0-9]+ us \| fs [0-9]+, net -?[0-9]+ \[" "$work/out" ||
	fail "no CPU per request line"
grep -Eq "/healthz over unix, 16 connections: [0-9.]+ us" "$work/out" || fail "no /healthz line"
for m in fs unix tcp; do
	grep -Eq "mode=hold-$m wanted=8 held=8 " "$work/out" || fail "no memory line for $m"
done

# 3. bench-evidence.sh in a tiny mode: its format and its checks of answers
BENCH_SIM_DIR="$work/sim" BENCH_EVIDENCE_DEVICE_MS=50 BENCH_EVIDENCE_CLIENTS="1 50" \
	BENCH_EVIDENCE_ROUNDS=1 BENCH_EVIDENCE_SECONDS=2 BENCH_VERIFY_EVERY=5 BENCH_VERBOSE=1 \
	sh "$src/bench/bench-evidence.sh" >"$work/ev" 2>&1
rc=$?
cat "$work/ev"
[ $rc -eq 0 ] || fail "bench-evidence.sh exited $rc"
grep -Eq "^device: one report per 50 ms, BatchWindowMSec=[0-9]+ \(bound [0-9]+ ms\)$" "$work/ev" || fail "no evidence device line"
grep -q "^clients: FUSE a thread each; HTTP and floor connections on 1 event loop(s)$" "$work/ev" ||
	fail "no evidence clients line"
for m in unix tcp floor; do
	grep -q " $m: mode=evidence-[a-z]* clients=50 client_loops=1 " "$work/ev" ||
		fail "the $m clients were not on an event loop"
done
# the FUSE floor: FUSE clients (a thread each), and per answer one OPEN,
# store, RELEASE and drop (bench-evidence.sh fails when its mount outlives
# a run)
grep -Eq " floorfs: mode=evidence-fs clients=50 warmup_s=" "$work/ev" ||
	fail "no FUSE floor run with 50 clients"
# (both runs, 1 and 50 clients)
[ "$(grep -Ec "^    evidence-floor's FUSE requests: lookups=[1-9][0-9]* opens=([1-9][0-9]*) getattrs=[0-9]+ reads=[0-9]+ releases=\1 forgets=[0-9]+ stored=\1 dropped=\1 errors=0 " "$work/ev")" -eq 2 ] ||
	fail "the FUSE floor did not store and drop one answer per open: $(grep "FUSE requests" "$work/ev")"
for n in 1 50; do
	grep -Eq "^  clients=$n +raw +[0-9.]+ reports/s \[" "$work/ev" || fail "no raw line for $n clients"
done
for mode in "floor" "FUSE" "FUSE floor" "HTTP unix" "HTTP TCP"; do
	n=$(grep -Ec "^    $mode +[0-9.]+ answers/s  ratio +[0-9.]+x \[[0-9.]+, [0-9.]+\] +[0-9.]+ answers/report  p50 [0-9]+ ms  p99 [0-9]+ ms \(worst [0-9]+\) (within|OVER) bound" "$work/ev")
	[ "$n" -eq 2 ] || fail "$n evidence lines for $mode (want 2)"
done
checks=$(grep "^  checks:" "$work/ev")
echo "$checks" | grep -Eq "errors=0 unbound=0 bindings verified=[1-9][0-9]* bad=0 signatures verified=[1-9][0-9]* bad=0" ||
	fail "checks of evidence answers: $checks"
grep -Eq "device=50 +clients=50 +\| fs [0-9]+ us \| unix [0-9]+ us \| tcp [0-9]+ us \| floor [0-9]+ us \| floorfs [0-9]+ us \|" "$work/ev" ||
	fail "no CPU per answer line"

# and those checks fail when the answers are wrong: the load tool damages
# each answer before its own checks (BENCH_EVIDENCE_TAMPER), so the real
# check code runs on them. tamper "ENV..." MODES: a 1 s run that must fail
tamper() {
	# shellcheck disable=SC2086 # ENV: one or more assignments
	env $1 BENCH_SIM_DIR="$work/sim" BENCH_EVIDENCE_DEVICE_MS=50 BENCH_EVIDENCE_CLIENTS=4 \
		BENCH_EVIDENCE_ROUNDS=1 BENCH_EVIDENCE_SECONDS=1 BENCH_VERIFY_EVERY=2 \
		BENCH_EVIDENCE_MODES="$2" sh "$src/bench/bench-evidence.sh" >"$work/ev-t" 2>&1
	rc=$?
	checks=$(grep "^  checks:" "$work/ev-t")
	echo "$1 ($2): exit $rc, $checks"
	[ $rc -eq 1 ] && grep -q "^bench-evidence: FAILED" "$work/ev-t" || fail "$1 not reported: exit $rc"
}
# the expected nonce is another request's: every answer unbound, the
# sampled bindings do not prove it
# (HTTP clients on an event loop, the default, and a thread each)
for loop in 1 0; do
	tamper "BENCH_EVIDENCE_CLIENT_LOOP=$loop BENCH_EVIDENCE_TAMPER=nonce" "raw unix"
	echo "$checks" | grep -Eq "unbound=[1-9][0-9]* bindings verified=([1-9][0-9]*) bad=\1 " ||
		fail "a wrong nonce passed (client loops: $loop): $checks"
done
# a damaged signature (the binding is intact): only the signature check
tamper BENCH_EVIDENCE_TAMPER=signature "raw fs"
echo "$checks" | grep -Eq "unbound=0 bindings verified=[1-9][0-9]* bad=0 signatures verified=([1-9][0-9]*) bad=\1$" ||
	fail "a damaged signature passed: $checks"
# a damaged REPORT_DATA: the binding no longer matches, nor the signature
tamper BENCH_EVIDENCE_TAMPER=report-data "raw tcp"
echo "$checks" | grep -Eq "unbound=0 bindings verified=([1-9][0-9]*) bad=\1 signatures verified=([1-9][0-9]*) bad=\2$" ||
	fail "a damaged REPORT_DATA passed: $checks"

echo "PASS"
