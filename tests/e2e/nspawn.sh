#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
#
# End-to-end test of snpd under a real systemd: a minimal Debian 12 root
# (debootstrap, cached outside the source tree), the built tree installed
# into a per-run copy of it, booted with systemd-nspawn. A oneshot unit in
# the container runs the checks, writes one "ok ..."/"FAIL ..." line per
# check and a final "DONE" to a bind-mounted results directory, and powers
# the container off. Every line is printed here; the test passes only if
# all of them are ok and DONE was reached.
#
# Environment: SNP_TOP_BUILDDIR, SNP_SANITIZER, SNP_UNITDIR (set by make
# check); SNPD_E2E_CACHE overrides the cache (/var/cache/snpd-e2e/bookworm);
# SNPD_E2E_MIRROR the Debian mirror; SNPD_E2E_TIMEOUT the boot timeout (s);
# SNPD_E2E_ARTIFACTS=DIR keeps the console log, results and journal there.

set -u

SUITE=bookworm
MIRROR=${SNPD_E2E_MIRROR:-http://deb.debian.org/debian}
CACHE=${SNPD_E2E_CACHE:-/var/cache/snpd-e2e/bookworm}
TIMEOUT=${SNPD_E2E_TIMEOUT:-300}
# what the units and the binaries need (ldd daemon/snpd cli/snpctl), and
# /bin/kill (procps, not in minbase) for the unit's ExecReload=
PACKAGES="systemd systemd-sysv dbus libsystemd0 libfuse3-3 fuse3 libjansson4
libmicrohttpd12 libcurl4 curl libssl3 openssl libcap2 procps"
STAMP_NAME=.snpd-e2e-stamp

skip()
{
	echo "SKIP: $*"
	exit 77
}

hard_error()
{
	echo "ERROR: $*"
	exit 99
}

[ "$(id -u)" = 0 ] || skip "needs root (debootstrap, systemd-nspawn, mounts)"
[ -z "${SNPD_PACKAGE_BUILD:-}" ] || skip "inside a package build (debian/rules): no container boots there"
command -v systemd-nspawn >/dev/null 2>&1 ||
	skip "systemd-nspawn not found (apt-get install systemd-container)"
command -v debootstrap >/dev/null 2>&1 || skip "debootstrap not found (apt-get install debootstrap)"
[ -c /dev/fuse ] || skip "/dev/fuse is not available"
[ -z "${SNP_SANITIZER:-}" ] ||
	skip "sanitizer build (${SNP_SANITIZER}): its binaries would need libasan in the container"
case "${SNP_UNITDIR:-}" in
/lib/systemd/system | /usr/lib/systemd/system) ;;
*) skip "units are configured for '${SNP_UNITDIR:-}' (e.g. make distcheck), not a directory a booted system reads" ;;
esac
BUILDDIR=${SNP_TOP_BUILDDIR:-}
[ -n "$BUILDDIR" ] || hard_error "SNP_TOP_BUILDDIR is not set (run through make check)"
if ! [ -x "$BUILDDIR/daemon/snpd" ] || ! [ -x "$BUILDDIR/cli/snpctl" ]; then
	hard_error "snpd/snpctl not built in $BUILDDIR"
fi
for t in flock systemd-sysusers systemd-tmpfiles systemctl; do
	command -v "$t" >/dev/null 2>&1 || skip "$t not found"
done

# --- the cached root -------------------------------------------------------

include=$(printf '%s' "$PACKAGES" | tr -s ' \n' ',,')
stamp="snpd-e2e cache 1
suite=$SUITE
mirror=$MIRROR
variant=minbase
include=$include"

cache_ok()
{
	[ -d "$CACHE" ] && [ "$(cat "$CACHE/$STAMP_NAME" 2>/dev/null)" = "$stamp" ]
}

# unmount whatever is left below $1 (debootstrap mounts proc/sys in its target)
umount_below()
{
	awk -v p="$1/" 'index($2, p) == 1 { print $2 }' /proc/mounts | sort -r |
		while read -r m; do umount -l "$m" 2>/dev/null; done
}

build_cache()
{
	tmp="$CACHE.new.$$"
	log="$CACHE.debootstrap.log"
	umount_below "$tmp"
	rm -rf "$tmp"
	echo "building the Debian $SUITE root in $CACHE (once; log in $log)"
	start=$(date +%s)
	if ! debootstrap --variant=minbase --include="$include" "$SUITE" "$tmp" "$MIRROR" \
		>"$log" 2>&1; then
		umount_below "$tmp"
		rm -rf "$tmp"
		why=$(grep '^E:' "$log" | tail -n 1)
		skip "debootstrap of Debian $SUITE from $MIRROR failed (no network?): ${why:-see $log} ($log)"
	fi
	umount_below "$tmp"
	# what every run wants and nothing depends on: no package files, a name
	rm -rf "$tmp"/var/cache/apt/archives/*.deb "$tmp"/var/lib/apt/lists/*_Packages
	echo snpd-e2e >"$tmp/etc/hostname"
	printf '%s\n' "$stamp" >"$tmp/$STAMP_NAME"
	rm -rf "$CACHE.old"
	[ ! -d "$CACHE" ] || mv "$CACHE" "$CACHE.old"
	mv "$tmp" "$CACHE" || hard_error "cannot rename $tmp to $CACHE"
	rm -rf "$CACHE.old"
	echo "cache built in $(($(date +%s) - start)) s"
}

mkdir -p "$(dirname "$CACHE")" || hard_error "cannot create $(dirname "$CACHE")"
exec 9>"$CACHE.lock"
flock -x 9
cache_ok || build_cache
# keep the cache from being rebuilt under this run (it may be our lower layer)
flock -s 9

# --- the per-run copy ------------------------------------------------------

WORK=$(mktemp -d /var/tmp/snpd-e2e.XXXXXX) || hard_error "mktemp failed"
ROOT=$WORK/root
RESULTS=$WORK/results
CONSOLE=$WORK/console.log
NSPAWN_PID=
OVERLAY=no

# shellcheck disable=SC2317 # (called from the trap)
# SIGTERM makes nspawn power the container off; SIGKILL if that takes long
stop_nspawn()
{
	[ -n "$NSPAWN_PID" ] || return 0
	if kill -TERM "$NSPAWN_PID" 2>/dev/null; then
		i=0
		while kill -0 "$NSPAWN_PID" 2>/dev/null && [ $i -lt 30 ]; do
			sleep 0.5
			i=$((i + 1))
		done
		kill -KILL "$NSPAWN_PID" 2>/dev/null
	fi
	wait "$NSPAWN_PID" 2>/dev/null
	NSPAWN_PID=
}

# shellcheck disable=SC2317 # (the EXIT trap)
cleanup()
{
	if [ -n "${SNPD_E2E_ARTIFACTS:-}" ] && mkdir -p "$SNPD_E2E_ARTIFACTS"; then
		cp "$CONSOLE" "$RESULTS"/* "$SNPD_E2E_ARTIFACTS/" 2>/dev/null
	fi
	stop_nspawn
	# nspawn leaves this behind when the host's /run is not a tmpfs
	rmdir /run/systemd/nspawn/propagate/snpd-e2e 2>/dev/null
	if [ "$OVERLAY" = yes ]; then
		umount "$ROOT" 2>/dev/null || umount -l "$ROOT" 2>/dev/null
	fi
	umount_below "$WORK"
	if awk -v p="$WORK" 'index($2, p) == 1 { f = 1 } END { exit !f }' /proc/mounts; then
		echo "warning: mounts left below $WORK, not removing it"
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

mkdir -p "$ROOT" "$RESULTS" "$WORK/upper" "$WORK/ovl"
if mount -t overlay snpd-e2e \
	-o "lowerdir=$CACHE,upperdir=$WORK/upper,workdir=$WORK/ovl" "$ROOT" 2>/dev/null; then
	OVERLAY=yes
else
	cp -a "$CACHE/." "$ROOT/" || hard_error "cannot copy $CACHE to $ROOT"
fi

if ! make -C "$BUILDDIR" install DESTDIR="$ROOT" >"$WORK/install.log" 2>&1; then
	tail -n 20 "$WORK/install.log"
	hard_error "make install DESTDIR=$ROOT failed"
fi

# where the tree put things: the daemon names its configuration file, the
# installed unit names the daemon
unit="$ROOT$SNP_UNITDIR/snpd.service"
[ -f "$unit" ] || hard_error "make install did not install $SNP_UNITDIR/snpd.service"
conf=$("$BUILDDIR/daemon/snpd" --help 2>&1 |
	sed -n 's/.*--config FILE.*(default \(\/[^ ,)]*\).*/\1/p' | head -n 1)
[ -n "$conf" ] || conf=$(cd "$ROOT" && find usr etc -path '*/snpd/snpd.conf' | head -n 1 | sed 's|^|/|')
[ -f "$ROOT$conf" ] || hard_error "the installed configuration $conf is not in the root"
snpd_bin=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$unit" | head -n 1)
[ -x "$ROOT$snpd_bin" ] || hard_error "ExecStart=$snpd_bin is not installed"
snpctl=$(cd "$ROOT" && find usr -type f -name snpctl -perm -u+x | head -n 1)
[ -n "$snpctl" ] || hard_error "snpctl is not installed"
snpctl=/$snpctl

mkdir -p "$ROOT$conf.d"
cat >"$ROOT$conf.d/50-e2e.conf" <<'EOF'
# snpd end-to-end test: the simulated platform
[Daemon]
Backend=sim:/var/lib/snpd/sim
LogLevel=info
# never the real KDS from a test; the simulated chip's own root
KdsOffline=yes
TrustArk=/var/lib/snpd/sim/ark.pem

[Key:e2e]
Fields=measurement,policy
EOF

# --- the checks, run in the container by snpd-e2e.service --------------------

mkdir -p "$ROOT/usr/local/libexec"
{
	echo '#!/bin/sh'
	echo "SNPCTL='$snpctl'"
	echo "CONFD='$conf.d'"
	echo "SNPD='$snpd_bin'"
	cat <<'EOF'
# snpd end-to-end checks (written by tests/e2e/nspawn.sh)
OUT=/e2e/results
: >"$OUT"
T=/run/snpd-e2e
mkdir -p "$T"

ok() { echo "ok $*" >>"$OUT"; }
bad() { echo "FAIL $*" >>"$OUT"; }
check() { # check DESCRIPTION COMMAND...
	d=$1
	shift
	if "$@" >"$T/out" 2>&1; then ok "$d"; else bad "$d: $(tr '\n' ' ' <"$T/out" | cut -c1-300)"; fi
}
prop() { systemctl show -p "$1" --value snpd; }
# wait_for SECONDS COMMAND...: until COMMAND succeeds
wait_for() {
	n=$(($1 * 5))
	shift
	while [ "$n" -gt 0 ]; do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.2
		n=$((n - 1))
	done
	"$@"
}
is_active() { [ "$(systemctl is-active "$1")" = active ]; }
report_ok() { # a 1184-byte report from the view
	cat /snp/report >"$T/report.bin" && [ "$(wc -c <"$T/report.bin")" -eq 1184 ] ||
		{ echo "report: $(wc -c <"$T/report.bin" 2>/dev/null) bytes"; return 1; }
}
healthz() { [ "$(curl -sS --max-time 10 --unix-socket /run/snpd/api.sock http://snpd/healthz)" = ok ]; }

# 1. active once READY; the STATUS= text in systemctl status
if wait_for 30 is_active snpd; then
	ok "snpd is active"
else
	bad "snpd is $(systemctl is-active snpd) after 30 s"
fi
systemctl status --no-pager snpd >"$T/status" 2>&1
if grep -q 'Status: "Serving:' "$T/status"; then
	ok "systemctl status shows STATUS=$(sed -n 's/.*Status: "\(.*\)"$/\1/p' "$T/status")"
else
	bad "no 'Status: \"Serving:' in systemctl status: $(tr '\n' ' ' <"$T/status" | cut -c1-400)"
fi

# 2. the view and the socket-activated API
check "/snp/report is 1184 bytes" report_ok
check "snpctl verify --offline --certs /snp/certs --trust-ark accepts it" \
	"$SNPCTL" verify --offline --certs /snp/certs --trust-ark /snp/certs/ark.pem "$T/report.bin"
check "snpd.socket is active" is_active snpd.socket
check "GET /healthz through the socket says ok" healthz
api_report() {
	curl -sS --fail --max-time 10 --unix-socket /run/snpd/api.sock \
		'http://snpd/v1/report?nonce=00ff' >"$T/api.json" &&
		grep -q '"report"' "$T/api.json" ||
		{ head -c 300 "$T/api.json"; return 1; }
}
check "GET /v1/report?nonce=00ff gives a report" api_report
api_raw_verifies() {
	curl -sS --fail --max-time 10 --unix-socket /run/snpd/api.sock \
		'http://snpd/v1/report?nonce=00ff&format=raw' >"$T/api.bin" &&
		"$SNPCTL" verify --offline --certs /snp/certs --trust-ark /snp/certs/ark.pem --report-data 00ff "$T/api.bin"
}
check "the API's raw report verifies with --report-data 00ff" api_raw_verifies
eventlog_ok() {
	curl -sS --fail --max-time 10 --unix-socket /run/snpd/api.sock \
		'http://snpd/v1/status' >"$T/status.json" &&
		grep -q '"event_log":{"state":"ok"' "$T/status.json" ||
		{ grep -o '"event_log":{[^}]*}' "$T/status.json"; return 1; }
}
check "the event log is usable in the sandbox (boot id from \$SNPD_BOOT_ID)" eventlog_ok
certs_from_host() { grep -qx 'vcek.pem host' /snp/certs/source || { tr '\n' ' ' </snp/certs/source; return 1; }; }
check "/snp/certs/source: the VCEK from the host's table, checked against TrustArk=" certs_from_host
passed() { journalctl -b -u snpd --no-pager -o cat | grep -q 'passed by the service manager'; }
# journald takes in the service's output asynchronously: the line is waited for
check "snpd logged that the socket was passed by the service manager" wait_for 10 passed

# 2a. least privilege: user snpd, no capabilities, a mount namespace of
# its own, while the view is mounted in PID 1's namespace
pid=$(prop MainPID)
st_field() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
uid=$(st_field "$pid" Uid)
if [ -n "$uid" ] && [ "$uid" = "$(id -u snpd)" ]; then
	ok "snpd (pid $pid) runs as uid $uid (snpd)"
else
	bad "snpd (pid $pid) runs as uid '$uid', not snpd ($(id -u snpd 2>&1))"
fi
capeff=$(st_field "$pid" CapEff)
if [ "$capeff" = 0000000000000000 ]; then
	ok "CapEff=$capeff"
else
	bad "CapEff=$capeff (CapBnd=$(st_field "$pid" CapBnd))"
fi
ns_self=$(readlink "/proc/$pid/ns/mnt")
ns_init=$(readlink /proc/1/ns/mnt)
if [ -n "$ns_self" ] && [ "$ns_self" != "$ns_init" ]; then
	ok "snpd's mount namespace $ns_self differs from PID 1's $ns_init"
else
	bad "snpd's mount namespace '$ns_self', PID 1's '$ns_init'"
fi
snp_mounts() { awk '$5 == "/snp" && / - fuse\.snpd /' /proc/1/mountinfo | wc -l; }
if [ "$(snp_mounts)" = 1 ]; then
	ok "/snp is one fuse.snpd mount in PID 1's namespace: $(awk '$5 == "/snp"' /proc/1/mountinfo | cut -d' ' -f5-)"
else
	bad "/snp in PID 1's mountinfo: $(awk '$5 == "/snp"' /proc/1/mountinfo | tr '\n' ' ')"
fi
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
nobody_report() {
	n=$(as_nobody cat /snp/report | wc -c)
	[ "$n" -eq 1184 ] || { echo "$n bytes"; return 1; }
}
check "an unprivileged user (65534) reads a 1184-byte /snp/report" nobody_report
key_mode() { [ "$(stat -c '%u %g %a' /snp/keys/e2e)" = "0 0 400" ] || stat -c '%u %g %a' /snp/keys/e2e; }
check "/snp/keys/e2e keeps its configured owner and mode (0 0 400)" key_mode
systemd-analyze security snpd.service >"$T/security" 2>&1
exposure=$(sed -n 's/.*exposure level for snpd.service: \([0-9.]*\).*/\1/p' "$T/security")
if [ -n "$exposure" ] && awk -v e="$exposure" 'BEGIN { exit !(e <= 2.0) }'; then
	ok "systemd-analyze security snpd.service: exposure $exposure (<= 2.0)"
else
	bad "exposure '$exposure': $(tail -n 3 "$T/security" | tr '\n' ' ')"
fi

# 2b. the audit trail: a release over FUSE, a refusal over HTTP, in the
# journal with their fields, never the key
key_hex=$(od -An -tx1 /snp/keys/e2e | tr -d ' \n')
if [ "${#key_hex}" -eq 64 ]; then ok "root read a 32-byte /snp/keys/e2e"; else bad "key: '$key_hex'"; fi
if as_nobody cat /snp/keys/e2e >/dev/null 2>"$T/err"; then
	bad "uid 65534 read /snp/keys/e2e"
else
	ok "uid 65534 may not read /snp/keys/e2e: $(cat "$T/err")"
fi
http_refused() {
	c=$(as_nobody curl -sS -o /dev/null -w '%{http_code}' --max-time 10 \
		--unix-socket /run/snpd/api.sock -X POST http://snpd/v1/keys/e2e)
	[ "$c" = 403 ] || { echo "HTTP $c"; return 1; }
}
check "POST /v1/keys/e2e by uid 65534 is refused (403)" http_refused
audit_release() {
	journalctl -b -u snpd SNPD_EVENT=key-release SNPD_TRANSPORT=fuse -o json --no-pager >"$T/rel.json" &&
		grep -q '"SNPD_KEY_PROFILE":"e2e"' "$T/rel.json" && grep -q '"SNPD_PEER_UID":"0"' "$T/rel.json" &&
		grep -q '"SNPD_PEER_PID":"[1-9]' "$T/rel.json" && grep -q '"PRIORITY":"5"' "$T/rel.json"
}
if wait_for 10 audit_release; then
	ok "journalctl -u snpd SNPD_EVENT=key-release: $(journalctl -b -u snpd SNPD_EVENT=key-release -o cat --no-pager | tail -n 1)"
else
	bad "no key-release record: $(head -c 400 "$T/rel.json")"
fi
audit_refusal() {
	journalctl -b -u snpd SNPD_EVENT=key-refusal SNPD_TRANSPORT=http -o json --no-pager >"$T/ref.json" &&
		grep -q '"SNPD_PEER_UID":"65534"' "$T/ref.json"
}
if wait_for 10 audit_refusal; then
	ok "journalctl -u snpd SNPD_EVENT=key-refusal: $(journalctl -b -u snpd SNPD_EVENT=key-refusal -o cat --no-pager | tail -n 1)"
else
	bad "no key-refusal record: $(head -c 400 "$T/ref.json")"
fi
no_key_in_journal() { ! journalctl -b -o export --no-pager | grep -qi "$key_hex"; }
check "the key's bytes are nowhere in the journal" no_key_in_journal

# 3. reload applies a changed configuration; restart serves again
printf '[Key:reloaded]\nFields=measurement\n' >"$CONFD/60-reloaded.conf"
pid0=$(prop MainPID)
check "systemctl reload snpd" systemctl reload snpd
key_there() { [ -f /snp/keys/reloaded ]; }
if wait_for 10 key_there; then
	ok "after reload /snp/keys/reloaded exists (same MainPID: $([ "$(prop MainPID)" = "$pid0" ] && echo yes || echo no))"
else
	bad "after reload no /snp/keys/reloaded: $(ls /snp/keys 2>&1 | tr '\n' ' ')"
fi
check "systemctl restart snpd" systemctl restart snpd
check "after restart snpd is active" is_active snpd
check "after restart /snp/report is 1184 bytes" report_ok
check "after restart /healthz says ok" healthz

# 4. kill -9 of the main process: systemd restarts it, the mount is back
pid0=$(prop MainPID)
n0=$(prop NRestarts)
kill -9 "$pid0"
restarted() {
	p=$(prop MainPID)
	[ "$(prop NRestarts)" -gt "$n0" ] && [ "$p" != 0 ] && [ "$p" != "$pid0" ] && is_active snpd
}
if wait_for 30 restarted; then
	ok "after kill -9 of $pid0 systemd restarted snpd (NRestarts $n0 -> $(prop NRestarts), MainPID $(prop MainPID))"
else
	bad "no restart after kill -9 of $pid0: $(systemctl show -p ActiveState,SubState,MainPID,NRestarts,Result snpd | tr '\n' ' ')"
fi
if wait_for 10 report_ok; then
	ok "after the restart /snp/report is readable again"
else
	bad "after the restart /snp/report is not readable: $(report_ok 2>&1 | tr '\n' ' ')"
fi
unmounted() { journalctl -b -u snpd --no-pager -o cat | grep -q 'FUSE view at /snp unmounted'; }
check "snpd-mount stop took the dead mount down before the restart" unmounted
check "after the restart /snp is one mount" [ "$(snp_mounts)" = 1 ]

# 4a. kill -9 while readers wait for it: they fail at once, never hang
pid0=$(prop MainPID)
n0=$(prop NRestarts)
kill -STOP "$pid0"
readers=
for i in 1 2 3; do
	cat /snp/report >/dev/null 2>"$T/reader$i.err" &
	readers="$readers $!"
done
blocked() {
	for p in $readers; do
		grep -q 'fuse\|request_wait' "/proc/$p/wchan" 2>/dev/null || return 1
	done
}
if wait_for 10 blocked; then
	ok "3 readers of /snp/report are blocked in FUSE requests to the stopped snpd"
else
	bad "readers not seen blocked in FUSE (wchan: $(for p in $readers; do cat "/proc/$p/wchan" 2>/dev/null; echo; done | tr '\n' ' '))"
fi
t0=$(date +%s%N)
kill -9 "$pid0"
rcs=
for p in $readers; do
	wait "$p"
	rcs="$rcs $?"
done
ms=$((($(date +%s%N) - t0) / 1000000))
case " $rcs " in
*" 0 "*) bad "a blocked reader succeeded after kill -9 (exit statuses:$rcs)" ;;
*) ok "after kill -9 the blocked readers failed in $ms ms (exit statuses:$rcs): $(cat "$T/reader1.err")" ;;
esac
if wait_for 30 restarted && wait_for 10 report_ok; then
	ok "restarted (NRestarts $n0 -> $(prop NRestarts)) and /snp/report is readable"
else
	bad "no working restart after kill -9 with readers: $(systemctl show -p ActiveState,SubState,NRestarts snpd | tr '\n' ' ')"
fi

# 4b. a stop leaves no mount behind
check "systemctl stop snpd" systemctl stop snpd
if ! awk '$5 == "/snp"' /proc/1/mountinfo | grep -q .; then
	ok "after systemctl stop nothing is mounted at /snp"
else
	bad "after stop: $(awk '$5 == "/snp"' /proc/1/mountinfo | tr '\n' ' ')"
fi
check "systemctl start snpd" systemctl start snpd
check "and /snp/report is 1184 bytes" report_ok

# 4c. a second instance fails clearly instead of stacking mounts
if "$SNPD" --no-http --backend="sim:$T/sim2" >"$T/second.log" 2>&1; then
	bad "a hand-run snpd started over the service's mount"
elif grep -q 'already a live FUSE mount' "$T/second.log"; then
	ok "a hand-run snpd is refused: $(grep 'live FUSE' "$T/second.log" | head -n 1)"
else
	bad "a hand-run snpd failed without saying why: $(tr '\n' ' ' <"$T/second.log" | cut -c1-300)"
fi
check "/snp is still one mount" [ "$(snp_mounts)" = 1 ]
systemctl stop snpd
# the starts above count against StartLimitBurst=
systemctl reset-failed snpd
"$SNPD" --no-http --backend="sim:$T/sim2" >"$T/hand.log" 2>&1 &
hand=$!
if wait_for 30 report_ok; then
	ok "a hand-run snpd (root) mounts /snp by itself"
else
	bad "hand-run snpd: $(tail -n 5 "$T/hand.log" | tr '\n' ' ')"
fi
if systemctl start snpd >"$T/out" 2>&1; then
	bad "snpd.service started over a live hand-run mount"
else
	ok "systemctl start snpd fails while a hand-run snpd serves /snp ($(prop Result))"
fi
refused() { journalctl -b -u snpd --no-pager -o cat | grep -q 'already a live FUSE mount'; }
check "the journal says why: /snp is already a live FUSE mount" wait_for 10 refused
hand_serves() { report_ok && [ "$(awk '$5 == "/snp"' /proc/1/mountinfo | wc -l)" = 1 ]; }
check "the hand-run snpd still serves /snp, one mount" hand_serves
systemctl stop snpd
kill "$hand"
wait "$hand"
systemctl reset-failed snpd
check "with it gone systemctl start snpd works again" systemctl start snpd
check "and /snp/report is 1184 bytes" report_ok

# 5. the journal holds the messages with their priorities
journalctl -b -u snpd --no-pager -o json >"$T/journal.json" 2>&1
prio() { # prio N PATTERN: a message matching PATTERN with PRIORITY=N
	grep "\"PRIORITY\":\"$1\"" "$T/journal.json" | grep -q "\"MESSAGE\":\"$2"
}
check "journal: the ready message with PRIORITY=5 (notice)" prio 5 'snpd [^"]* ready'
check "journal: an info message with PRIORITY=6" prio 6 'HTTP API on [^"]*passed by the service manager'
no_prefix() { ! grep -q '"MESSAGE":"<[0-7]>' "$T/journal.json"; }
check "journal: no <N> prefixes left in messages" no_prefix

# 6. a configuration error fails the unit without a restart loop
printf '[Daemon]\nNoSuchKey=1\n' >"$CONFD/99-bad.conf"
if systemctl restart snpd >"$T/out" 2>&1; then
	bad "systemctl restart snpd succeeded with a bad configuration"
else
	ok "systemctl restart snpd fails with a bad configuration"
fi
res=$(prop Result)
st=$(prop ExecMainStatus)
n1=$(prop NRestarts)
if [ "$res" = exit-code ] && [ "$st" = 78 ]; then
	ok "Result=$res ExecMainStatus=$st"
else
	bad "Result=$res ExecMainStatus=$st (want exit-code, 78)"
fi
sleep 5
n2=$(prop NRestarts)
state=$(systemctl is-active snpd)
if [ "$n2" = "$n1" ] && [ "$state" = failed ]; then
	ok "no restart loop: NRestarts stays $n1 over 5 s, snpd is $state"
else
	bad "NRestarts $n1 -> $n2 over 5 s, snpd is $state"
fi
named() { journalctl -b -u snpd --no-pager -o cat | grep -q "99-bad.conf:2: unknown key 'NoSuchKey'"; }
check "the journal names the bad file and line" named
rm -f "$CONFD/99-bad.conf"
systemctl reset-failed snpd
check "without it systemctl start snpd works again" systemctl start snpd
check "and /snp/report is 1184 bytes" report_ok

echo DONE >>"$OUT"
journalctl -b --no-pager >/e2e/journal.txt 2>&1
sync
systemctl --no-block poweroff
EOF
} >"$ROOT/usr/local/libexec/snpd-e2e"
chmod 0755 "$ROOT/usr/local/libexec/snpd-e2e"

cat >"$ROOT/etc/systemd/system/snpd-e2e.service" <<'EOF'
[Unit]
Description=snpd end-to-end checks
After=snpd.service snpd.socket
Wants=snpd.service

[Service]
Type=oneshot
ExecStart=/usr/local/libexec/snpd-e2e
StandardOutput=journal+console
TimeoutStartSec=240
FailureAction=poweroff

[Install]
WantedBy=multi-user.target
EOF

systemd-sysusers --root="$ROOT" >"$WORK/setup.log" 2>&1 ||
	{ cat "$WORK/setup.log"; hard_error "systemd-sysusers --root failed"; }
systemd-tmpfiles --root="$ROOT" --create snpd.conf >>"$WORK/setup.log" 2>&1 ||
	{ cat "$WORK/setup.log"; hard_error "systemd-tmpfiles --root failed"; }
systemctl --root="$ROOT" enable snpd.socket snpd.service snpd-e2e.service \
	>>"$WORK/setup.log" 2>&1 ||
	{ cat "$WORK/setup.log"; hard_error "systemctl --root enable failed"; }
# no login prompt on the (piped) console, the journal on it instead
systemctl --root="$ROOT" mask console-getty.service getty.target >>"$WORK/setup.log" 2>&1
mkdir -p "$ROOT/etc/systemd/journald.conf.d"
printf '[Journal]\nForwardToConsole=yes\nMaxLevelConsole=info\n' \
	>"$ROOT/etc/systemd/journald.conf.d/snpd-e2e.conf"

# --- boot ------------------------------------------------------------------

# Under a host systemd nspawn puts the container in a scope whose device
# policy must let /dev/fuse through; without one (no system bus) there is
# no scope to give properties to, and the caller's cgroup is kept.
if [ -d /run/systemd/system ]; then
	set -- --property="DeviceAllow=/dev/fuse rwm"
else
	set -- --keep-unit
fi
echo "booting $ROOT (snpd $snpd_bin, config $conf, snpctl $snpctl; overlay: $OVERLAY)"
start=$(date +%s)
systemd-nspawn --boot --register=no --quiet --directory="$ROOT" \
	--machine=snpd-e2e --private-network --setenv=SYSTEMD_COLORS=0 \
	--bind=/dev/fuse "$@" \
	--bind="$RESULTS:/e2e" --console=read-only \
	</dev/null >"$CONSOLE" 2>&1 &
NSPAWN_PID=$!
timed_out=no
while kill -0 "$NSPAWN_PID" 2>/dev/null; do
	if [ $(($(date +%s) - start)) -ge "$TIMEOUT" ]; then
		timed_out=yes
		echo "FAIL the container did not power off within $TIMEOUT s; stopping it"
		stop_nspawn
		break
	fi
	sleep 1
done
if [ "$timed_out" = no ]; then
	wait "$NSPAWN_PID"
	rc=$?
	NSPAWN_PID=
	echo "systemd-nspawn exited with $rc after $(($(date +%s) - start)) s"
fi

# --- results ---------------------------------------------------------------

status=0
if [ -s "$RESULTS/results" ]; then
	cat "$RESULTS/results"
else
	echo "FAIL no results from the container"
	status=1
fi
grep -q '^FAIL' "$RESULTS/results" 2>/dev/null && status=1
grep -q '^ok' "$RESULTS/results" 2>/dev/null || status=1
[ "$(tail -n 1 "$RESULTS/results" 2>/dev/null)" = DONE ] || {
	echo "FAIL the checks did not reach DONE"
	status=1
}
[ "$timed_out" = no ] || status=1
if [ "$status" != 0 ]; then
	echo "--- console (last 60 lines) ---"
	tail -n 60 "$CONSOLE"
	if [ -f "$RESULTS/journal.txt" ]; then
		echo "--- journal, snpd lines (last 60) ---"
		grep -i 'snpd' "$RESULTS/journal.txt" | tail -n 60
	fi
fi
exit "$status"
