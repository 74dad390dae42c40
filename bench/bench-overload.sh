#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Overload and fairness: one client floods snpd (BENCH_FLOOD threads, far
# above the device rate) while a light client asks once every
# BENCH_LIGHT_MS (default 1000) ms, BENCH_LIGHT_COUNT (default 15) times.
# Printed: the light client's success rate and p50/p99/max latency over
# FUSE, HTTP unix and HTTP TCP, with the flood from the same uid, from
# another uid (setpriv), and for TCP from another loopback address and from
# eight of them; once with the shipped per-client limits and once with
# RateLimit=0. The device-time model is on (BENCH_DEVICE_MS, default 5).
# Never fails on speed. Needs root and /dev/fuse.
set -u
here=$(dirname "$0")
# shellcheck source=bench/bench-common.sh
. "$here/bench-common.sh"

DEV=${BENCH_DEVICE_MS:-5}
FLOOD=${BENCH_FLOOD:-64}
LIGHT_MS=${BENCH_LIGHT_MS:-1000}
LIGHT_N=${BENCH_LIGHT_COUNT:-15}
POOL=${BENCH_POOL:-4096}
OTHER_UID=${BENCH_OTHER_UID:-65534}

if [ "$(id -u)" -ne 0 ] || [ ! -e /dev/fuse ] || ! command -v setpriv >/dev/null; then
	echo "bench-overload: needs root, /dev/fuse and setpriv; skipped"
	exit 0
fi
bench_tmp
bench_sim "$POOL" || exit 0
# a copy the other uid can run
mkdir "$tmp/bin"
cp "$SNPD_LOAD" "$tmp/bin/snpd-load"
chmod 0755 "$tmp/bin" "$tmp/bin/snpd-load"
flood_secs=$(((LIGHT_N + 1) * LIGHT_MS / 1000 + 2))
light_base=$((POOL - 512))
failed=0
echo "bench-overload: device $DEV ms per request (no CPU), flood of $FLOOD threads for ${flood_secs}s," \
	"light client every $LIGHT_MS ms x $LIGHT_N"
bench_load

# light KIND TARGET: the light client's line (nonces of its own)
light() {
	BENCH_NONCE_BASE=$light_base BENCH_NONCE_COUNT=512 "$SNPD_LOAD" light "$1" "$2" "$LIGHT_MS" "$LIGHT_N"
}

# scenario LABEL LIGHT-KIND LIGHT-TARGET [FLOOD-AS FLOOD-ARGS...]
scenario() {
	label=$1 lk=$2 lt=$3
	shift 3
	fl=
	if [ $# -gt 0 ]; then
		who=$1
		shift
		src=
		case $who in src:*) src=${who#src:} ;; esac
		if [ "$who" = other ]; then
			setpriv --reuid="$OTHER_UID" --regid="$OTHER_UID" --clear-groups \
				env -u BENCH_VCEK -u BENCH_PRESIGNED -u BENCH_PID \
				BENCH_NONCE_COUNT=$light_base "$tmp/bin/snpd-load" "$@" >"$tmp/flood" 2>&1 &
		else
			env -u BENCH_PID BENCH_SRC="$src" BENCH_NONCE_COUNT=$light_base \
				"$tmp/bin/snpd-load" "$@" >"$tmp/flood" 2>&1 &
		fi
		fl=$!
	fi
	line=$(light "$lk" "$lt") || failed=1
	if [ -n "$fl" ]; then
		wait "$fl"
		fline=$(cat "$tmp/flood")
	fi
	printf "  %-44s light: ok %s/%s p50 %s ms p99 %s ms max %s ms" "$label" \
		"$(field ok "$line")" "$(field requests "$line")" "$(field p50_ms "$line")" \
		"$(field p99_ms "$line")" "$(field max_ms "$line")"
	f=$(field last_failure "$line")
	[ -z "$f" ] || printf " (last failure: %s)" "$f"
	[ "$(field unbound "$line")" = 0 ] || printf " UNBOUND=%s" "$(field unbound "$line")"
	[ "$(field sig_bad "$line")" = 0 ] || printf " BAD-SIGNATURES=%s" "$(field sig_bad "$line")"
	if [ -n "$fl" ]; then
		printf " | flood: %s/s served, %s refused" "$(field per_sec "$fline")" "$(field errors "$fline")"
	fi
	printf "\n"
}

for cfg in shipped unlimited; do
	if [ $cfg = shipped ]; then
		echo
		echo "shipped limits (RateLimit=100/s, RateBurst=200, QueueSize=64, MaxConnectionsPerClient=32):"
		bench_start_snpd "$DEV" || exit 0
	else
		echo
		echo "RateLimit=0, QueueSize=4096, MaxConnections=MaxConnectionsPerClient=1024:"
		bench_start_snpd "$DEV" Daemon.RateLimit=0 Daemon.QueueSize=4096 \
			HTTP.MaxConnections=1024 HTTP.MaxConnectionsPerClient=1024 || exit 0
	fi
	tcp=127.0.0.1:$port
	if [ $cfg = shipped ]; then
		scenario "FUSE, no flood" fs "$mnt"
		scenario "HTTP unix, no flood" unix "$sock"
		scenario "HTTP TCP, no flood" tcp "$tcp"
	fi
	scenario "FUSE, flood FUSE same uid" fs "$mnt" same fs "$mnt" "$FLOOD" "$flood_secs"
	scenario "FUSE, flood FUSE uid $OTHER_UID" fs "$mnt" other fs "$mnt" "$FLOOD" "$flood_secs"
	scenario "HTTP unix, flood unix same uid" unix "$sock" same unix "$sock" report "$FLOOD" "$flood_secs"
	scenario "HTTP unix, flood unix uid $OTHER_UID" unix "$sock" other unix "$sock" report "$FLOOD" "$flood_secs"
	scenario "HTTP TCP, flood TCP same address" tcp "$tcp" same tcp "$tcp" report "$FLOOD" "$flood_secs"
	scenario "HTTP TCP, flood TCP uid $OTHER_UID" tcp "$tcp" other tcp "$tcp" report "$FLOOD" "$flood_secs"
	scenario "HTTP TCP, flood TCP from 127.0.0.2" tcp "$tcp" \
		src:127.0.0.2 tcp "$tcp" report "$FLOOD" "$flood_secs"
	scenario "HTTP TCP, flood TCP from 127.0.0.2-9" tcp "$tcp" \
		src:127.0.0.2,127.0.0.3,127.0.0.4,127.0.0.5,127.0.0.6,127.0.0.7,127.0.0.8,127.0.0.9 \
		tcp "$tcp" report "$FLOOD" "$flood_secs"
	scenario "FUSE, flood HTTP unix uid $OTHER_UID" fs "$mnt" other unix "$sock" report "$FLOOD" "$flood_secs"
	bench_stop_snpd
done
bench_load
if [ "$failed" -ne 0 ]; then
	echo "bench-overload: FAILED: a light client's report was not bound to its nonce or its signature did not verify"
	exit 1
fi
exit 0
