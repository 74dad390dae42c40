#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The HTTP API under load, against the raw backend loop in the same run:
# wrk over loopback TCP and snpd-load over the unix socket, 1, 16 and 64
# connections, throughput and p50/p99 latency for /v1/report, and /healthz
# requests per second. Prints figures; never fails on speed.
set -u
: "${SNPD:?}" "${SNPCTL:?}" "${SNPD_LOAD:?}"
SECS=${BENCH_SECONDS:-5}
tmp=$(mktemp -d /tmp/bench-http-XXXXXX)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT
"$SNPCTL" sim init --dir "$tmp/sim" >/dev/null || exit 1
port=$((20000 + $$ % 20000))
cat >"$tmp/snpd.conf" <<CONF
[Daemon]
RateLimit=0
QueueSize=4096
LogLevel=warning
[HTTP]
Socket=$tmp/api.sock
Listen=127.0.0.1:$port
MaxConnections=1024
CONF

raw=$("$SNPD_LOAD" raw "sim:$tmp/sim" "$SECS")
echo "raw backend loop: $raw"
raw_rate=$(echo "$raw" | sed -n 's/.*per_sec=\([0-9.]*\).*/\1/p')
ratio() { awk -v a="$1" -v b="$raw_rate" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

"$SNPD" --config "$tmp/snpd.conf" --backend "sim:$tmp/sim" --no-fs >"$tmp/log" 2>&1 &
pid=$!
i=0
while [ ! -S "$tmp/api.sock" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done

for n in 1 16 64; do
	out=$("$SNPD_LOAD" http-unix "$tmp/api.sock" "/v1/report?nonce=00ff" "$n" "$SECS")
	rate=$(echo "$out" | sed -n 's/.*per_sec=\([0-9.]*\).*/\1/p')
	echo "unix /v1/report: $out ratio_to_raw=$(ratio "$rate")"
done
out=$("$SNPD_LOAD" http-unix "$tmp/api.sock" /healthz 16 "$SECS")
echo "unix /healthz: $out"

if command -v wrk >/dev/null 2>&1; then
	for n in 1 16 64; do
		t=$n
		[ "$t" -gt 4 ] && t=4
		out=$(wrk -t "$t" -c "$n" -d "${SECS}s" --latency -H 'Accept: application/octet-stream' \
			"http://127.0.0.1:$port/v1/report?nonce=00ff" 2>&1)
		rate=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
		p50=$(echo "$out" | awk '$1 == "50%" {print $2}')
		p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
		errs=$(echo "$out" | awk '/Non-2xx|Socket errors/ {print}' | tr '\n' ' ')
		echo "tcp (wrk) /v1/report connections=$n per_sec=$rate p50=$p50 p99=$p99 ratio_to_raw=$(ratio "$rate") ${errs:-errors=0}"
	done
	out=$(wrk -t 2 -c 16 -d "${SECS}s" "http://127.0.0.1:$port/healthz" 2>&1)
	echo "tcp (wrk) /healthz connections=16 per_sec=$(echo "$out" | awk '/Requests\/sec/ {print $2}')"
else
	echo "wrk not installed: TCP figures skipped"
fi
echo "snpd rss_kib=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)"
