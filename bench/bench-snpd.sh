#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# snpd against the raw backend loop, in interleaved rounds: for each device
# model (BENCH_DEVICE_MS: "cpu" = the simulator signs on the CPU, else a
# fixed device time in ms that costs no CPU) and each number of clients
# (BENCH_CLIENTS), BENCH_ROUNDS rounds of raw, FUSE, HTTP unix and HTTP TCP,
# BENCH_SECONDS each, in an order that rotates every round. A figure is the
# median of the per-round ratios (mode / raw of the same round) with min and
# max; a spread (max - min) over BENCH_SPREAD_WARN (default 0.10) of the
# median is printed as a WARNING. Then snpd's CPU per request (utime+stime
# of /proc/PID/stat over each run / requests served), /healthz, memory per
# open handle and connection. Every served report is checked against its
# nonce and a sample's signatures are verified; a failed check makes the
# script exit 1. Never fails on speed. Needs root and /dev/fuse.
set -u
here=$(dirname "$0")
# shellcheck source=bench/bench-common.sh
. "$here/bench-common.sh"

SECS=${BENCH_SECONDS:-2}
ROUNDS=${BENCH_ROUNDS:-5}
CLIENTS=${BENCH_CLIENTS:-1 16 64}
DEVICES=${BENCH_DEVICE_MS:-cpu 1 5 20}
POOL=${BENCH_POOL:-4096}
SPREAD=${BENCH_SPREAD_WARN:-0.10}
HOLD=${BENCH_HOLD:-256}
HEALTHZ_ROUNDS=${BENCH_HEALTHZ_ROUNDS:-3}
MODES="raw fs unix tcp"
snpd_conf="Daemon.RateLimit=0 Daemon.QueueSize=4096 HTTP.MaxConnections=1024 HTTP.MaxConnectionsPerClient=1024"

if [ "$(id -u)" -ne 0 ] || [ ! -e /dev/fuse ]; then
	echo "bench-snpd: needs root and /dev/fuse; skipped"
	exit 0
fi
bench_tmp
echo "bench-snpd: $ROUNDS rounds x ${SECS}s, clients: $CLIENTS, device: $DEVICES (ms; cpu = signed on the CPU)"
bench_load
bench_sim "$POOL" || exit 0
echo "pool: $POOL reports signed ahead in ${pool_secs:-?} s"
res=$tmp/results
: >"$res"
failed=0

# run DEV N ROUND MODE: one measurement, appended to $res
run() {
	case $4 in
	raw)
		bench_copy_sim sim-raw >/dev/null
		# shellcheck disable=SC2046
		line=$(env -u BENCH_PID $(bench_device_env "$1") "$SNPD_LOAD" raw "sim:$tmp/sim-raw" 1 "$SECS")
		;;
	fs) line=$("$SNPD_LOAD" fs "$mnt" "$2" "$SECS") ;;
	unix) line=$("$SNPD_LOAD" unix "$sock" report "$2" "$SECS") ;;
	tcp) line=$("$SNPD_LOAD" tcp "127.0.0.1:$port" report "$2" "$SECS") ;;
	esac
	[ $? -eq 0 ] || failed=1
	[ -n "${BENCH_VERBOSE:-}" ] && echo "  $1 n=$2 round $3: $line"
	cpu=$(field snpd_cpu_us_per_req "$line")
	[ "$4" = raw ] && cpu=$(field client_cpu_us_per_req "$line")
	echo "$1 $2 $3 $4 $(field per_sec "$line") ${cpu:-nan} $(field errors "$line") \
$(field unbound "$line") $(field sig_checked "$line") $(field sig_bad "$line") \
$(field sample_presigned "$line")" >>"$res"
}

for dev in $DEVICES; do
	# shellcheck disable=SC2086
	bench_start_snpd "$dev" $snpd_conf || exit 0
	for n in $CLIENTS; do
		r=1
		while [ $r -le "$ROUNDS" ]; do
			# rotate the order: round r starts with mode number r
			set -- $MODES
			k=1
			while [ $k -lt $r ]; do
				m=$1
				shift
				set -- "$@" "$m"
				k=$((k + 1))
			done
			for mode in "$@"; do
				run "$dev" "$n" "$r" "$mode"
			done
			r=$((r + 1))
		done
	done
	if [ "$dev" = "$(echo "$DEVICES" | awk '{print $NF}')" ]; then
		# the extras on the last instance: /healthz, memory
		for i in $(seq "$HEALTHZ_ROUNDS"); do
			for mode in unix tcp; do
				if [ $mode = unix ]; then
					line=$("$SNPD_LOAD" unix "$sock" healthz 16 "$SECS")
				else
					line=$("$SNPD_LOAD" tcp "127.0.0.1:$port" healthz 16 "$SECS")
				fi
				echo "healthz 16 $i $mode $(field per_sec "$line") \
$(field snpd_cpu_us_per_req "$line") $(field errors "$line") 0 0 0 -" >>"$res"
			done
		done
		# memory: each on a fresh snpd, whose heap has no free space yet
		# from earlier load to hide the new allocations in
		for kind in fs unix tcp; do
			bench_stop_snpd
			bench_start_snpd "$dev" $snpd_conf || exit 0
			idle_rss=$(awk '/^VmRSS/ {print $2}' "/proc/$snpd_pid/status")
			case $kind in
			fs) hold_fs=$("$SNPD_LOAD" hold fs "$mnt" "$HOLD") || failed=1 ;;
			unix) hold_unix=$("$SNPD_LOAD" hold unix "$sock" "$HOLD") || failed=1 ;;
			tcp) hold_tcp=$("$SNPD_LOAD" hold tcp "127.0.0.1:$port" "$HOLD") || failed=1 ;;
			esac
		done
	fi
	bench_stop_snpd
done

echo
bench_load
# shellcheck disable=SC2016
awk -v spread="$SPREAD" -v devices="$DEVICES" -v clients="$CLIENTS" '
function median(a, n,    i, j, t) {
	for (i = 2; i <= n; i++)
		for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
function minmax(a, n,    i) {
	lo = hi = a[1]
	for (i = 2; i <= n; i++) { if (a[i] < lo) lo = a[i]; if (a[i] > hi) hi = a[i] }
}
{
	rate[$1, $2, $3, $4] = $5; cpu[$1, $2, $3, $4] = $6
	rounds[$1, $2] = $3 > rounds[$1, $2] ? $3 : rounds[$1, $2]
	errs[$1] += $7; unb[$1] += $8; sig[$1] += $9; bad[$1] += $10
	if ($11 != "" && $11 != "-") { split($11, f, "/"); hit[$1] += f[1]; kept[$1] += f[2] }
}
END {
	nd = split(devices, D, " "); nc = split(clients, C, " ")
	split("fs unix tcp", M, " ")
	name["fs"] = "FUSE report"; name["unix"] = "HTTP unix"; name["tcp"] = "HTTP TCP"
	print "Throughput against the raw backend loop (1 thread), median of per-round ratios [min, max]:"
	for (d = 1; d <= nd; d++) {
		dev = D[d]
		print ""
		print (dev == "cpu" ? "device: simulator signing on the CPU (no model)" : "device: " dev " ms per request, no CPU")
		for (c = 1; c <= nc; c++) {
			n = C[c]; R = rounds[dev, n]
			k = 0
			for (r = 1; r <= R; r++) if ((dev, n, r, "raw") in rate) raws[++k] = rate[dev, n, r, "raw"]
			if (!k) continue
			rm = median(raws, k); minmax(raws, k)
			printf "  clients=%-3s raw %8.1f/s [%.1f, %.1f]\n", n, rm, lo, hi
			for (m = 1; m <= 3; m++) {
				mode = M[m]; k = 0; kr = 0
				for (r = 1; r <= R; r++) {
					if (!((dev, n, r, mode) in rate) || rate[dev, n, r, "raw"] <= 0) continue
					q[++k] = rate[dev, n, r, mode] / rate[dev, n, r, "raw"]
					x[k] = rate[dev, n, r, mode]
				}
				if (!k) continue
				xm = median(x, k)
				med = median(q, k); minmax(q, k)
				printf "    %-12s %8.1f/s  ratio %.2fx [%.2f, %.2f] (%d rounds)", name[mode], xm, med, lo, hi, k
				if (med > 0 && (hi - lo) / med > spread + 0) printf "  WARNING: spread %.0f%% of the median", 100 * (hi - lo) / med
				printf "\n"
			}
		}
		printf "  checks: errors=%d unbound=%d signatures verified=%d bad=%d", errs[dev], unb[dev], sig[dev], bad[dev]
		if (kept[dev]) printf " sampled reports with a signature made ahead=%d/%d", hit[dev], kept[dev]
		printf "\n"
	}
	print ""
	print "snpd CPU per request (utime+stime of /proc/PID/stat over the run / requests), median over rounds [min, max]."
	print "\"backend\" is the raw loop'"'"'s own CPU per report (the in-process simulator: driver, AES-GCM,"
	print "state-file updates), also spent inside snpd; snpd minus backend is the daemon'"'"'s overhead:"
	target["fs"] = 100; target["unix"] = 150; target["tcp"] = 150
	for (d = 1; d <= nd; d++) {
		dev = D[d]
		for (c = 1; c <= nc; c++) {
			n = C[c]; R = rounds[dev, n]
			k = 0
			for (r = 1; r <= R; r++) if ((dev, n, r, "raw") in cpu && cpu[dev, n, r, "raw"] != "nan") b[++k] = cpu[dev, n, r, "raw"]
			if (!k) continue
			bm = median(b, k)
			printf "  device=%-4s clients=%-3s backend %6.0f us |", dev, n, bm
			for (m = 1; m <= 3; m++) {
				mode = M[m]; k = 0; kn = 0
				for (r = 1; r <= R; r++) {
					if (!((dev, n, r, mode) in cpu) || cpu[dev, n, r, mode] == "nan") continue
					y[++k] = cpu[dev, n, r, mode]
					if (cpu[dev, n, r, "raw"] != "nan") z[++kn] = cpu[dev, n, r, mode] - cpu[dev, n, r, "raw"]
				}
				if (!k) continue
				ym = median(y, k)
				zm = kn ? median(z, kn) : 0; minmax(z, kn)
				printf " %s %.0f, net %.0f [%.0f, %.0f] (target <%d) |", mode, ym, zm, lo, hi, target[mode]
			}
			printf "\n"
		}
	}
	for (m = 1; m <= 2; m++) {
		mode = (m == 1 ? "unix" : "tcp"); k = 0
		for (r = 1; r <= 9; r++) if (("healthz", 16, r, mode) in cpu && cpu["healthz", 16, r, mode] != "nan") { y[++k] = cpu["healthz", 16, r, mode]; x[k] = rate["healthz", 16, r, mode] }
		if (!k) continue
		ym = median(y, k); minmax(y, k); xm = median(x, k)
		printf "  /healthz over %s, 16 connections: %.1f us [%.1f, %.1f] per request (target <10), %.0f/s\n", mode, ym, lo, hi, xm
	}
}' "$res"

echo
echo "snpd memory (smaps_rollup of a fresh snpd, $HOLD held at once; idle VmRSS ${idle_rss:-?} KiB):"
for l in "${hold_fs:-}" "${hold_unix:-}" "${hold_tcp:-}"; do
	[ -n "$l" ] && echo "  $l"
done
if [ "$failed" -ne 0 ]; then
	echo "bench-snpd: FAILED: a served report was not bound to its nonce, a signature did not verify, or a load run failed"
	exit 1
fi
exit 0
