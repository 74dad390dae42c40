#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# snpd's FUSE view under load, against the raw backend loop in the same run:
# throughput and p50/p99 latency at 1, 16 and 64 readers, resident memory
# under load, and time from start to READY=1. Prints figures; never fails
# on speed. Needs root and /dev/fuse.
set -u
: "${SNPD:?}" "${SNPCTL:?}" "${SNPD_LOAD:?}"
SECS=${BENCH_SECONDS:-5}
if [ "$(id -u)" -ne 0 ] || [ ! -e /dev/fuse ]; then
	echo "bench-snpd: needs root and /dev/fuse; skipped"
	exit 0
fi
tmp=$(mktemp -d /tmp/bench-snpd-XXXXXX)
trap 'kill "$pid" 2>/dev/null; wait 2>/dev/null; umount -l "$tmp/mnt" 2>/dev/null; rm -rf "$tmp"' EXIT
"$SNPCTL" sim init --dir "$tmp/sim" >/dev/null || exit 1
: >"$tmp/snpd.conf"
args="--config $tmp/snpd.conf --backend sim:$tmp/sim --mountpoint $tmp/mnt --rate-limit 0 --queue-size 4096 --log-level warning"

echo "start to READY=1 (existing simulated identity), 5 runs:"
for i in 1 2 3 4 5; do
	# shellcheck disable=SC2086
	"$SNPD_LOAD" ready 30 "$SNPD" $args
done

raw=$("$SNPD_LOAD" raw "sim:$tmp/sim" "$SECS")
echo "raw backend loop: $raw"
raw_rate=$(echo "$raw" | sed -n 's/.*per_sec=\([0-9.]*\).*/\1/p')

# shellcheck disable=SC2086
"$SNPD" $args >"$tmp/snpd.log" 2>&1 &
pid=$!
i=0
while [ ! -e "$tmp/mnt/report" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
echo "snpd idle: rss_kib=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)"
for n in 1 16 64; do
	out=$("$SNPD_LOAD" fs "$tmp/mnt" "$n" "$SECS" "$pid")
	rate=$(echo "$out" | sed -n 's/.*per_sec=\([0-9.]*\).*/\1/p')
	ratio=$(awk -v a="$rate" -v b="$raw_rate" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }')
	echo "fs: $out ratio_to_raw=$ratio"
done
