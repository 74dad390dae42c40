#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Evidence beyond the device's rate (issue 19 item 6): the simulated device
# throttled to one report per BENCH_EVIDENCE_DEVICE_MS ms (default 50 and
# 2000; SNP_SIM_DEVICE_US: wall time, no CPU), BENCH_EVIDENCE_CLIENTS
# concurrent evidence clients (default 1 10 100 1000), each asking for
# evidence with a fresh nonce in a closed loop. For each device and number
# of clients, BENCH_EVIDENCE_ROUNDS rounds of the raw device loop (one
# thread calling the backend: the device's reports/s), FUSE
# (evidence/HEX), HTTP unix and HTTP TCP (GET /v1/evidence), in an order
# that rotates every round, as bench-snpd.sh does. Mode "floor" puts
# evidence-floor in snpd's place on a unix socket: the least a batching
# server can do (same batching, the device a timer, prepared answers that
# only echo the nonce), what this machine allows any server; mode
# "floorfs" ("FUSE floor") does the same over FUSE, with exactly the FUSE
# requests and notifications snpd's evidence files cost. A figure is
# the median of per-round ratios (answers/s / the same round's raw
# reports/s) with min and max; a spread over BENCH_SPREAD_WARN of the
# median is a WARNING.
# Every answer must prove its client's nonce; a sample is verified fully
# (binding and signature). A failed check makes the script exit 1; speed
# never does. Needs root and /dev/fuse.
set -u
here=$(dirname "$0")
# shellcheck source=bench/bench-common.sh
. "$here/bench-common.sh"

DEVICES=${BENCH_EVIDENCE_DEVICE_MS:-50 2000}
CLIENTS=${BENCH_EVIDENCE_CLIENTS:-1 10 100 1000}
ROUNDS=${BENCH_EVIDENCE_ROUNDS:-3}
MODES=${BENCH_EVIDENCE_MODES:-raw floor fs floorfs unix tcp}
EVIDENCE_FLOOR=${EVIDENCE_FLOOR:-$(dirname "$SNPD_LOAD")/evidence-floor}
SPREAD=${BENCH_SPREAD_WARN:-0.10}
# the clients: FUSE's a thread each (open(2) blocks until the answer); HTTP's
# and the floor's connections on BENCH_EVIDENCE_CLIENT_LOOP epoll loops
# (default 1), as wrk and h2load carry theirs, or 0: a thread each
CLIENT_LOOP=${BENCH_EVIDENCE_CLIENT_LOOP:-1}
case $CLIENT_LOOP in
'' | *[!0-9]*) CLIENT_LOOP=65 ;;
esac
if [ "$CLIENT_LOOP" -gt 64 ]; then
	echo "bench-evidence: BENCH_EVIDENCE_CLIENT_LOOP: 0 to 64 loops" >&2
	exit 2
fi
# snpd configured for 1,000 clients of one uid (see bench/README.md); the
# window: BENCH_EVIDENCE_WINDOW_MS, else a tenth of the device period
snpd_conf="Daemon.BatchMax=2048 Daemon.QueueSize=2048 \
Daemon.RateLimit=0 Filesystem.MaxHandlesPerUser=4096 HTTP.MaxConnections=2048 \
HTTP.MaxConnectionsPerClient=2048"

window_for() {
	echo "${BENCH_EVIDENCE_WINDOW_MS:-$(($1 / 10))}"
}

# the warm-up per device, not measured: BENCH_EVIDENCE_WARMUP_MS, else two
# device periods, at least 1 s (all clients start at once, a herd the
# steady state never sees; its answers are still checked)
warmup_for() {
	if [ -n "${BENCH_EVIDENCE_WARMUP_MS:-}" ]; then
		echo "$BENCH_EVIDENCE_WARMUP_MS"
		return
	fi
	w=$(($1 * 2))
	[ "$w" -lt 1000 ] && w=1000
	echo "$w"
}

# run length per device: BENCH_EVIDENCE_SECONDS, else 100 device periods,
# at least 5 s and at most 20 s (10 periods of a 2 s device)
secs_for() {
	if [ -n "${BENCH_EVIDENCE_SECONDS:-}" ]; then
		echo "$BENCH_EVIDENCE_SECONDS"
		return
	fi
	s=$(($1 / 10))
	[ "$s" -lt 5 ] && s=5
	[ "$s" -gt 20 ] && s=20
	echo "$s"
}

if [ "$(id -u)" -ne 0 ] || [ ! -e /dev/fuse ]; then
	echo "bench-evidence: needs root and /dev/fuse; skipped"
	exit 0
fi
bench_tmp
echo "bench-evidence: $ROUNDS rounds, clients: $CLIENTS, device: one report per $DEVICES ms" \
	"(wall time, no CPU), modes: $MODES; measured after a warm-up of" \
	"$(for d in $DEVICES; do printf '%s ' "$(warmup_for "$d")"; done | sed 's/ $//;s/ /, /g') ms"
echo "snpd: BatchWindowMSec=$(for d in $DEVICES; do printf '%s ' "$(window_for "$d")"; done | \
	sed 's/ $//;s/ /, /g') (device $(echo "$DEVICES" | sed 's/ /, /g') ms)" \
	"$(echo "$snpd_conf" | tr -s ' \t\\' ' ' | sed 's/[A-Za-z]*\.//g')"
if [ "$CLIENT_LOOP" -gt 0 ]; then
	echo "clients: FUSE a thread each; HTTP and floor connections on $CLIENT_LOOP event loop(s)"
else
	echo "clients: a thread each"
fi
bench_load
# the platform; no pool: bound REPORT_DATA cannot be signed ahead, the
# simulator signs within the device time
bench_sim 1 || exit 0
unset BENCH_PRESIGNED
res=$tmp/results
: >"$res"
failed=0

# floor_start DEV serve|serve-fs WHERE: evidence-floor on its template for
# DEV (one of snpd's answers, fetched after snpd started); sets floor_pid;
# 0 once it said "ready" (up to 30 s). Its output file is made empty here,
# not by the child's redirection: until the child got that far, the last
# run's "ready" would still be read from it, and the wait would end before this
# floor is up (the "did not start: ready" seen in a round now and then).
floor_start() {
	floor_mode=$2
	: >"$tmp/floor.out"
	"$EVIDENCE_FLOOR" "$2" "$3" "$tmp/floor-$1.json" $(($1 * 1000)) \
		$(($(window_for "$1") * 1000)) 2048 >>"$tmp/floor.out" 2>&1 &
	floor_pid=$!
	i=0
	until grep -qx ready "$tmp/floor.out" 2>/dev/null || [ $i -ge 600 ]; do
		kill -0 "$floor_pid" 2>/dev/null || break
		sleep 0.05
		i=$((i + 1))
	done
	grep -qx ready "$tmp/floor.out"
}

# floor_stop: evidence-floor gone (serve-fs unmounts on SIGTERM) and its
# mount too, whatever became of the process; floor_counts: the FUSE
# requests it saw (serve-fs prints them when it ends)
floor_stop() {
	floor_counts=
	[ -n "${floor_pid:-}" ] || return 0
	alive=1
	kill -0 "$floor_pid" 2>/dev/null || alive=0
	bench_kill "$floor_pid"
	wait "$floor_pid" 2>/dev/null
	st=$?
	floor_pid=
	# serve-fs ends by itself on SIGTERM (0; 1 when its mount went
	# first), serve dies of it (143); a sanitizer's finding at the end is
	# another exit status
	ok=0
	[ "$floor_mode" = serve ] && ok=143
	if [ $alive -eq 0 ] || [ $st -ne $ok ]; then
		[ $alive -eq 0 ] && why="ended before its run did" || why="did not end cleanly"
		echo "bench-evidence: evidence-floor $why (exit $st):" \
			"$(tail -n 3 "$tmp/floor.out" | tr '\n' ' ')"
		failed=1
	fi
	bench_umount "$tmp/mnt-floorfs"
	# (a fixed string; a space in the path, which /proc/mounts writes as
	# \040, would go unseen here)
	if grep -qF " $tmp/mnt-floorfs " /proc/self/mounts; then
		echo "bench-evidence: the FUSE floor's mount is still there"
		failed=1
	fi
	floor_counts=$(sed -n 's/^evidence-floor: [^ ]*: //p' "$tmp/floor.out")
	return 0
}

# floor_run DEV N SECS serve|serve-fs WHERE unix|fs: the load tool's run
# against evidence-floor at WHERE (its socket or mount), whose CPU is
# measured; sets line, fails as the run does
floor_run() {
	if floor_start "$1" "$4" "$5"; then
		# BENCH_CLIENT_LOOP: FUSE's clients stay threads
		line=$(BENCH_PID=$floor_pid BENCH_EVIDENCE_FLOOR=1 BENCH_CLIENT_LOOP=$CLIENT_LOOP \
			"$SNPD_LOAD" evidence "$6" "$5" "$2" "$3")
		rc=$?
	else
		line="evidence-floor did not start: $(tr '\n' ' ' <"$tmp/floor.out")"
		rc=1
	fi
	floor_stop
	return $rc
}

# batcher_counts: snpd's evidence batcher's "batches held gathered" so far
# (/v1/status), or nothing without curl
batcher_counts() {
	command -v curl >/dev/null || return 0
	curl -s --max-time 10 --unix-socket "$sock" http://snpd/v1/status |
		sed -n 's/.*"evidence":{\("members"[^}]*\)}.*/\1/p' | tr ',' '\n' |
		sed -n -e 's/^"batches":\([0-9]*\)$/\1/p' -e 's/^"held":\([0-9]*\)$/\1/p' \
			-e 's/^"gathered":\([0-9]*\)$/\1/p' | tr '\n' ' '
}

# batcher_delta BEFORE... AFTER...: what batcher_counts counted in between
batcher_delta() {
	[ $# -eq 6 ] && echo "    snpd's batches (warm-up included): $(($4 - $1))," \
		"held $(($5 - $2)), gathered $(($6 - $3))"
	return 0
}

# run DEV N ROUND MODE SECS: one measurement, appended to $res
run() {
	BENCH_WARMUP_MS=$(warmup_for "$1")
	export BENCH_WARMUP_MS
	counts0=
	case $4 in fs | unix | tcp) [ -n "${BENCH_VERBOSE:-}" ] && counts0=$(batcher_counts) ;; esac
	case $4 in
	raw)
		bench_copy_sim sim-raw >/dev/null
		line=$(env -u BENCH_PID SNP_SIM_DEVICE_US=$(($1 * 1000)) \
			"$SNPD_LOAD" raw "sim:$tmp/sim-raw" 1 "$5")
		;;
	fs) line=$("$SNPD_LOAD" evidence fs "$mnt" "$2" "$5") ;;
	unix) line=$(BENCH_CLIENT_LOOP=$CLIENT_LOOP "$SNPD_LOAD" evidence unix "$sock" "$2" "$5") ;;
	floor) floor_run "$1" "$2" "$5" serve "$tmp/floor.sock" unix ;;
	floorfs)
		# on its own mount, made and gone with each run
		mkdir -p "$tmp/mnt-floorfs"
		floor_run "$1" "$2" "$5" serve-fs "$tmp/mnt-floorfs" fs
		;;
	tcp)
		line=$(BENCH_CLIENT_LOOP=$CLIENT_LOOP "$SNPD_LOAD" evidence tcp "127.0.0.1:$port" \
			"$2" "$5")
		;;
	esac
	[ $? -eq 0 ] || failed=1
	if [ -n "${BENCH_VERBOSE:-}" ]; then
		echo "  $1 n=$2 round $3 $4: $line"
		[ "$4" = floorfs ] && echo "    evidence-floor's FUSE requests: $floor_counts"
		# shellcheck disable=SC2086
		case $4 in fs | unix | tcp) batcher_delta $counts0 $(batcher_counts) ;; esac
	fi
	if [ "$4" = raw ]; then
		echo "$1 $2 $3 raw $(field per_sec "$line") $(field per_sec "$line") 1 \
$(field p50_ms "$line") $(field p99_ms "$line") nan $(field errors "$line") \
$(field unbound "$line") 0 0 $(field sig_checked "$line") $(field sig_bad "$line") nan nan" >>"$res"
	else
		echo "$1 $2 $3 $4 $(field per_sec "$line") $(field reports_per_sec "$line") \
$(field answers_per_report "$line") $(field p50_ms "$line") $(field p99_ms "$line") \
$(field snpd_cpu_us_per_req "$line") $(field errors "$line") $(field unbound "$line") \
$(field binding_checked "$line") $(field binding_bad "$line") $(field sig_checked "$line") \
$(field sig_bad "$line") $(field report_period_ms "$line") \
$(field answer_spread_ms "$line")" >>"$res"
	fi
}

for dev in $DEVICES; do
	secs=$(secs_for "$dev")
	# shellcheck disable=SC2086
	bench_start_snpd "$dev" $snpd_conf "Daemon.BatchWindowMSec=$(window_for "$dev")" || exit 0
	case " $MODES " in
	*" floor "* | *" floorfs "*)
		"$EVIDENCE_FLOOR" fetch "$sock" "$tmp/floor-$dev.json" || failed=1
		;;
	esac
	echo "$dev $(window_for "$dev")" >>"$tmp/windows"
	for n in $CLIENTS; do
		r=1
		while [ $r -le "$ROUNDS" ]; do
			# shellcheck disable=SC2086
			for mode in $(bench_rotate $r $MODES); do
				run "$dev" "$n" "$r" "$mode" "$secs"
			done
			r=$((r + 1))
		done
	done
	bench_stop_snpd
done

echo
bench_load
# shellcheck disable=SC2016
awk -v spread="$SPREAD" -v devices="$DEVICES" -v clients="$CLIENTS" -v wins="$(tr "\n" " " <"$tmp/windows")" '
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
	k = $1 SUBSEP $2 SUBSEP $3 SUBSEP $4
	rate[k] = $5; reps[k] = $6; apr[k] = $7; p50[k] = $8; p99[k] = $9; cpu[k] = $10
	per[k] = $17; spr[k] = $18
	rounds[$1, $2] = $3 > rounds[$1, $2] ? $3 : rounds[$1, $2]
	errs[$1] += $11; unb[$1] += $12; bchk[$1] += $13; bbad[$1] += $14
	if ($4 != "raw") { sig[$1] += $15; bad[$1] += $16 }
}
END {
	nd = split(devices, D, " "); nc = split(clients, C, " ")
	nw = split(wins, W, " ")
	for (i = 1; i < nw; i += 2) window[W[i]] = W[i + 1]
	split("floor fs floorfs unix tcp", M, " ")
	name["floor"] = "floor"; name["fs"] = "FUSE"; name["floorfs"] = "FUSE floor"
	name["unix"] = "HTTP unix"; name["tcp"] = "HTTP TCP"
	print "Evidence answers/s against the device'"'"'s reports/s (raw loop, same round),"
	print "median of per-round ratios [min, max]; answers per device report and p50/p99"
	print "latency medians over rounds (p99 also its worst round); bound = BatchWindowMSec"
	print "+ two device requests:"
	for (d = 1; d <= nd; d++) {
		dev = D[d]; bound = window[dev] + 2 * dev
		print ""
		printf "device: one report per %s ms, BatchWindowMSec=%s (bound %s ms)\n", dev, window[dev], bound
		for (c = 1; c <= nc; c++) {
			n = C[c]; R = rounds[dev, n]
			k = 0
			for (r = 1; r <= R; r++) if ((dev, n, r, "raw") in rate) raws[++k] = rate[dev, n, r, "raw"]
			if (!k) continue
			rm = median(raws, k); minmax(raws, k)
			printf "  clients=%-4s raw %7.2f reports/s [%.2f, %.2f]\n", n, rm, lo, hi
			for (m = 1; m <= 5; m++) {
				mode = M[m]; k = 0
				for (r = 1; r <= R; r++) {
					if (!((dev, n, r, mode) in rate) || rate[dev, n, r, "raw"] <= 0) continue
					k++
					q[k] = rate[dev, n, r, mode] / rate[dev, n, r, "raw"]
					x[k] = rate[dev, n, r, mode]; y[k] = apr[dev, n, r, mode]
					a50[k] = p50[dev, n, r, mode]; a99[k] = p99[dev, n, r, mode]
					pp[k] = per[dev, n, r, mode]; ss[k] = spr[dev, n, r, mode]
					w99 = (k == 1 || a99[k] > w99) ? a99[k] : w99
				}
				if (!k) continue
				xm = median(x, k); ym = median(y, k); m50 = median(a50, k); m99 = median(a99, k)
				med = median(q, k); minmax(q, k)
				printf "    %-10s %9.1f answers/s  ratio %7.1fx [%.1f, %.1f]  %6.1f answers/report  p50 %.0f ms  p99 %.0f ms (worst %.0f) %s bound",
				       name[mode], xm, med, lo, hi, ym, m50, m99, w99, w99 <= bound ? "within" : "OVER"
				if (med > 0 && (hi - lo) / med > spread + 0) printf "  WARNING: spread %.0f%% of the median", 100 * (hi - lo) / med
				printf "\n"
				if (c == nc && n + 0 >= 1000) {
					pm = median(pp, k); sm = median(ss, k)
					printf "      a report every %.1f ms (two: %.1f ms, what a client that comes back while the other batch is on the device waits at least), a batch answered in %.1f ms\n", pm, 2 * pm, sm
				}
				if (c == nc && n + 0 >= 1000)
					printf "      target at %s clients (>= 100x, p99 <= %s ms): %s\n", n, bound,
					       (lo >= 100 && w99 <= bound) ? "met in every round" : (med >= 100 && m99 <= bound ? "met by the medians" : "MISSED")
			}
		}
		printf "  checks: errors=%d unbound=%d bindings verified=%d bad=%d signatures verified=%d bad=%d\n",
		       errs[dev], unb[dev], bchk[dev], bbad[dev], sig[dev], bad[dev]
	}
	print ""
	print "snpd CPU per answer (utime+stime of /proc/PID/stat over the run / answers), median over rounds"
	print "(floor, floorfs: evidence-floor'"'"'s own):"
	split("fs unix tcp floor floorfs", MC, " ")
	for (d = 1; d <= nd; d++) {
		dev = D[d]
		for (c = 1; c <= nc; c++) {
			n = C[c]; R = rounds[dev, n]; line = ""
			for (m = 1; m <= 5; m++) {
				mode = MC[m]; k = 0
				for (r = 1; r <= R; r++)
					if ((dev, n, r, mode) in cpu && cpu[dev, n, r, mode] != "nan" && cpu[dev, n, r, mode] != "") z[++k] = cpu[dev, n, r, mode]
				if (k) line = line sprintf(" %s %.0f us |", mode, median(z, k))
			}
			if (line != "") printf "  device=%-5s clients=%-4s |%s\n", dev, n, line
		}
	}
}' "$res"
if [ "$failed" -ne 0 ]; then
	echo "bench-evidence: FAILED: an answer was not bound to its client's nonce, a binding or signature did not verify, or a load run failed"
	exit 1
fi
exit 0
