# SPDX-License-Identifier: Apache-2.0
# Sourced by the snpd benchmarks: a private simulated platform, the pool of
# reports signed ahead for the benchmark's nonces, and snpd started on a
# copy of that platform with the device-time model (or without: "cpu").
# Needs SNPD, SNPCTL and SNPD_LOAD.

: "${SNPD:?}" "${SNPCTL:?}" "${SNPD_LOAD:?}"

# State on tmpfs when there is one: the simulator replaces two files per
# request to keep its sequence numbers, and on a disk that file system
# work, not snpd, would dominate the CPU figures.
bench_tmp() {
	base=/dev/shm
	[ -d "$base" ] && [ -w "$base" ] || base=${TMPDIR:-/tmp}
	tmp=$(mktemp -d "$base/snpd-bench-XXXXXX") || exit 0
	chmod 0755 "$tmp"
	snpd_pid=
	trap 'bench_cleanup' EXIT
	trap 'exit 130' INT TERM
}

# bench_kill PID: SIGTERM, up to 10 s to go, then SIGKILL (the process
# need not be our child: polled, not waited for)
bench_kill() {
	kill "$1" 2>/dev/null
	i=0
	while kill -0 "$1" 2>/dev/null && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	# only if still there: gone, its pid may be another process's by now
	kill -0 "$1" 2>/dev/null && kill -9 "$1" 2>/dev/null
	return 0
}

# bench_umount DIR...: whatever is still mounted there goes (detached).
# Not only directories: the mount of a server that died fails stat() with
# ENOTCONN. Nothing mounted there (or no such path) is an error, silenced.
bench_umount() {
	for m in "$@"; do
		umount -l "$m" 2>/dev/null
	done
	return 0
}

bench_stop_snpd() {
	[ -n "$snpd_pid" ] || return 0
	# BENCH_STATUS_FILE: snpd's /v1/status at the end, appended there
	if [ -n "${BENCH_STATUS_FILE:-}" ] && [ -S "$sock" ] && command -v curl >/dev/null; then
		curl -s --unix-socket "$sock" http://snpd/v1/status >>"$BENCH_STATUS_FILE"
		echo >>"$BENCH_STATUS_FILE"
	fi
	# not our child (snpd-load started it)
	bench_kill "$snpd_pid"
	snpd_pid=
	bench_umount "$tmp"/mnt-*
	return 0
}

bench_cleanup() {
	# a server started beside snpd (bench-evidence.sh's evidence-floor)
	if [ -n "${floor_pid:-}" ]; then
		bench_kill "$floor_pid"
		floor_pid=
	fi
	bench_stop_snpd
	# every mount under $tmp, before it is removed (also without snpd)
	bench_umount "$tmp"/mnt-*
	if [ -s "$tmp/snpd.log" ]; then
		echo "snpd's log (warnings and errors; last 20 lines):"
		tail -n 20 "$tmp/snpd.log" | sed 's/^/  /'
	fi
	rm -rf "$tmp"
}

# bench_sim POOLSIZE: the platform (a copy of BENCH_SIM_DIR when set) and
# the pool for nonces 0..POOLSIZE-1
bench_sim() {
	if [ -n "${BENCH_SIM_DIR:-}" ]; then
		cp -a "$BENCH_SIM_DIR" "$tmp/sim" || return 1
	else
		"$SNPCTL" sim init --dir "$tmp/sim" >/dev/null || return 1
	fi
	chmod 0755 "$tmp/sim"
	t0=$(date +%s)
	BENCH_NONCE_BASE=0 "$SNPD_LOAD" presign "sim:$tmp/sim" "$tmp/pool" "$1" || return 1
	pool_secs=$(($(date +%s) - t0))
	chmod 0644 "$tmp/pool"
	export BENCH_VCEK="$tmp/sim/vcek.pem" BENCH_PRESIGNED="$tmp/pool"
	export BENCH_NONCE_COUNT="$1"
}

# bench_device_env DEV: the environment of the simulator for DEV (ms or cpu)
bench_device_env() {
	if [ "$1" = cpu ]; then
		echo "SNP_SIM_DEVICE_US=0"
	else
		echo "SNP_SIM_DEVICE_US=$(($1 * 1000)) SNP_SIM_PRESIGNED=$tmp/pool"
	fi
}

# bench_copy_sim NAME: a fresh copy of the platform (its own counters)
bench_copy_sim() {
	rm -rf "${tmp:?}/$1"
	cp -a "$tmp/sim" "$tmp/$1"
}

# bench_start_snpd DEV CONF-EXTRA...: start snpd on a fresh copy of the
# platform with the device model DEV; sets snpd_pid, mnt, sock, port.
bench_start_snpd() {
	dev=$1
	shift
	bench_copy_sim "sim-snpd"
	mnt=$tmp/mnt-$dev
	sock=$tmp/api-$dev.sock
	mkdir -p "$mnt"
	# below the ephemeral range (32768-60999), where a client socket may hold it
	port=$((20000 + ($$ + ${#dev} * 7919) % 12000))
	{
		echo "[Daemon]"
		echo "LogLevel=warning"
		# its own event log and cache, the simulated root, never the real KDS
		echo "EventLog=$tmp/eventlog-$dev"
		echo "CacheDir=$tmp/cache"
		echo "KdsOffline=yes"
		echo "TrustArk=$tmp/sim-snpd/ark.pem"
		for kv in "$@"; do
			case $kv in Daemon.*) echo "${kv#Daemon.}" ;; esac
		done
		echo "[Filesystem]"
		echo "Mountpoint=$mnt"
		for kv in "$@"; do
			case $kv in Filesystem.*) echo "${kv#Filesystem.}" ;; esac
		done
		echo "[HTTP]"
		echo "Socket=$sock"
		echo "Listen=127.0.0.1:$port"
		for kv in "$@"; do
			case $kv in HTTP.*) echo "${kv#HTTP.}" ;; esac
		done
	} >"$tmp/snpd.conf"
	# shellcheck disable=SC2046
	out=$(env $(bench_device_env "$dev") "$SNPD_LOAD" start 60 "$SNPD" \
		--config "$tmp/snpd.conf" --backend "sim:$tmp/sim-snpd" 2>>"$tmp/snpd.log")
	snpd_pid=$(echo "$out" | sed -n 's/.*pid=\([0-9]*\).*/\1/p')
	if [ -z "$snpd_pid" ]; then
		echo "snpd did not start:"
		tail -5 "$tmp/snpd.log"
		return 1
	fi
	export BENCH_PID="$snpd_pid"
}

# field NAME LINE: the value of NAME=... in a snpd-load line
field() {
	echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p" | head -1
}

# The load of the machine, printed beside the figures.
bench_load() {
	echo "load average: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs"
}

# bench_rotate R WORD...: the words rotated left by R-1 (round R of the
# interleaved order starts with word number R, modulo their number)
bench_rotate() {
	r=$1
	shift
	k=1
	while [ $k -lt "$r" ]; do
		m=$1
		shift
		set -- "$@" "$m"
		k=$((k + 1))
	done
	echo "$@"
}
