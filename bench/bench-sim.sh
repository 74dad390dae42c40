#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# bench-sim.sh: the simulated platform's throughput, in process (bench-sim)
# and one snpctl process per request (sim backend and sev-guest through
# the LD_PRELOAD library). Prints figures, never fails.
: "${SNPCTL:?}" "${BENCH_SIM:?}" "${SNP_PRELOAD:?}"
N=${N:-2000}
P=${P:-200}
dir=$(mktemp -d "${TMPDIR:-/tmp}/snp-bench-sim.XXXXXX")
trap 'rm -rf "$dir"' EXIT INT TERM

"$SNPCTL" sim init --dir "$dir/state" >/dev/null || exit 0
"$BENCH_SIM" "$dir/state" "$N" || true

now() { date +%s.%N; }
rate()
{
	awk -v n="$1" -v a="$2" -v b="$3" -v w="$4" \
		'BEGIN { t = b - a; printf "  %-44s %8.0f /s  (%7.2f ms each, n=%d)\n", w, n / t, t / n * 1000, n }'
}
echo "bench-sim.sh: one snpctl process per request"
t0=$(now)
i=0
while [ $i -lt "$P" ]; do
	"$SNPCTL" key --backend="sim:$dir/state" >/dev/null || break
	i=$((i + 1))
done
rate "$P" "$t0" "$(now)" "snpctl key --backend=sim:DIR"
t0=$(now)
i=0
while [ $i -lt "$P" ]; do
	SNP_SIM_DIR="$dir/state" LD_PRELOAD="$SNP_PRELOAD" "$SNPCTL" key --backend=sev-guest \
		>/dev/null || break
	i=$((i + 1))
done
rate "$P" "$t0" "$(now)" "snpctl key --backend=sev-guest (LD_PRELOAD)"
t0=$(now)
i=0
while [ $i -lt "$P" ]; do
	"$SNPCTL" report --backend="sim:$dir/state" -o "$dir/r.bin" || break
	i=$((i + 1))
done
rate "$P" "$t0" "$(now)" "snpctl report --backend=sim:DIR"
exit 0
