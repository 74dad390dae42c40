#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
#
# End-to-end test of the Debian packages as an operator installs them: the
# packages built from this tree (tests/e2e/debs.sh: make dist, then
# dpkg-buildpackage with DEB_BUILD_OPTIONS=nocheck) are installed with
# `apt-get install ./snpd_*.deb ./snpctl_*.deb` into a per-run copy of the
# cached Debian 12 root of tests/e2e/nspawn.sh (which covers `make
# install`), booted with systemd-nspawn. A oneshot unit in the container
# runs apt-get and the checks: enabled and running after install, still so
# after `apt-get install --reinstall`, stopped and gone after `apt-get
# remove`, nothing left after `apt-get purge` but what Debian policy lets
# stay (the system group, the administrator's own files), and the
# simulator package's LD_PRELOAD device. One "ok ..."/"FAIL ..." line per
# check; the test passes only if all are ok and DONE was reached.
#
# Environment: as nspawn.sh (SNPD_E2E_CACHE, SNPD_E2E_MIRROR,
# SNPD_E2E_TIMEOUT, SNPD_E2E_ARTIFACTS).

set -u

CACHE=${SNPD_E2E_CACHE:-/var/cache/snpd-e2e/bookworm}
MIRROR=${SNPD_E2E_MIRROR:-http://deb.debian.org/debian}
TIMEOUT=${SNPD_E2E_TIMEOUT:-400}
STAMP_NAME=.snpd-e2e-stamp
NSPAWN_SH=${SNP_TOP_SRCDIR:-}/tests/e2e/nspawn.sh

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

[ "$(id -u)" = 0 ] || skip "needs root (dpkg-buildpackage, systemd-nspawn, mounts)"
[ -n "${SNP_TOP_SRCDIR:-}" ] || hard_error "SNP_TOP_SRCDIR is not set (run through make check)"
command -v systemd-nspawn >/dev/null 2>&1 ||
	skip "systemd-nspawn not found (apt-get install systemd-container)"
[ -c /dev/fuse ] || skip "/dev/fuse is not available"
. "$SNP_TOP_SRCDIR/tests/e2e/debs.sh"

# --- the cached root (nspawn.sh's) -----------------------------------------

# unmount whatever is left below $1
umount_below()
{
	awk -v p="$1/" 'index($2, p) == 1 { print $2 }' /proc/mounts | sort -r |
		while read -r m; do umount -l "$m" 2>/dev/null; done
}

# The root nspawn.sh caches holds everything the packages depend on. This
# script takes it as it is (any stamp nspawn.sh wrote); only where there is
# none does it make one the way nspawn.sh does, with nspawn.sh's package
# list and stamp, so that nspawn.sh then takes it as its own.
build_cache()
{
	command -v debootstrap >/dev/null 2>&1 || skip "debootstrap not found (apt-get install debootstrap)"
	eval "$(sed -n '/^SUITE=/p; /^PACKAGES="/,/"$/p' "$NSPAWN_SH")"
	[ -n "${SUITE:-}" ] && [ -n "${PACKAGES:-}" ] || hard_error "no SUITE/PACKAGES in $NSPAWN_SH"
	include=$(printf '%s' "$PACKAGES" | tr -s ' \n' ',,')
	stamp="snpd-e2e cache 1
suite=$SUITE
mirror=$MIRROR
variant=minbase
include=$include"
	tmp="$CACHE.new.$$"
	log="$CACHE.debootstrap.log"
	umount_below "$tmp"
	rm -rf "$tmp"
	echo "building the Debian $SUITE root in $CACHE (once; log in $log)"
	if ! debootstrap --variant=minbase --include="$include" "$SUITE" "$tmp" "$MIRROR" \
		>"$log" 2>&1; then
		umount_below "$tmp"
		rm -rf "$tmp"
		skip "debootstrap of Debian $SUITE from $MIRROR failed (no network?): see $log"
	fi
	umount_below "$tmp"
	rm -rf "$tmp"/var/cache/apt/archives/*.deb "$tmp"/var/lib/apt/lists/*_Packages
	echo snpd-e2e >"$tmp/etc/hostname"
	printf '%s\n' "$stamp" >"$tmp/$STAMP_NAME"
	rm -rf "$CACHE"
	mv "$tmp" "$CACHE" || hard_error "cannot rename $tmp to $CACHE"
}

# the packages first: they take longest and need no lock on the root
build_debs
set -- "$DEBS_DIR"/snpd_*_amd64.deb
deb_snpd=$1
set -- "$DEBS_DIR"/snpctl_*_amd64.deb
deb_snpctl=$1
set -- "$DEBS_DIR"/snpd-simulator_*_amd64.deb
deb_sim=$1
for f in "$deb_snpd" "$deb_snpctl" "$deb_sim"; do
	[ -f "$f" ] || hard_error "no $f in $DEBS_DIR"
done

mkdir -p "$(dirname "$CACHE")" || hard_error "cannot create $(dirname "$CACHE")"
exec 9>"$CACHE.lock"
flock -x 9
[ -f "$CACHE/$STAMP_NAME" ] || build_cache
flock -s 9
for p in systemd libfuse3-3 fuse3 libjansson4 libmicrohttpd12 libcurl4 curl libssl3 procps; do
	dpkg-query --admindir="$CACHE/var/lib/dpkg" -W -f='${Status}' "$p" 2>/dev/null |
		grep -q 'install ok installed' ||
		hard_error "the cached root $CACHE lacks $p (add it to PACKAGES in nspawn.sh)"
done

# --- the per-run copy ------------------------------------------------------

WORK=$(mktemp -d /var/tmp/snpd-e2e-deb.XXXXXX) || hard_error "mktemp failed"
ROOT=$WORK/root
RESULTS=$WORK/results
CONSOLE=$WORK/console.log
NSPAWN_PID=
OVERLAY=no

# shellcheck disable=SC2317 # (called from the trap)
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
	rmdir /run/systemd/nspawn/propagate/snpd-e2e-deb 2>/dev/null
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
if mount -t overlay snpd-e2e-deb \
	-o "lowerdir=$CACHE,upperdir=$WORK/upper,workdir=$WORK/ovl" "$ROOT" 2>/dev/null; then
	OVERLAY=yes
else
	cp -a "$CACHE/." "$ROOT/" || hard_error "cannot copy $CACHE to $ROOT"
fi

mkdir -p "$ROOT/root/debs"
cp "$deb_snpd" "$deb_snpctl" "$deb_sim" "$ROOT/root/debs/" || hard_error "cannot copy the packages"

# The operator's own configuration, there before the package: the
# simulated platform (a container has no /dev/sev-guest).
mkdir -p "$ROOT/etc/snpd/snpd.conf.d"
cat >"$ROOT/etc/snpd/snpd.conf.d/50-e2e.conf" <<'EOF'
# snpd package end-to-end test: the simulated platform
[Daemon]
Backend=sim:/var/lib/snpd/sim
# never the real KDS from a test; the simulated chip's own root
KdsOffline=yes
TrustArk=/var/lib/snpd/sim/ark.pem
EOF

# --- the checks, run in the container by snpd-deb-e2e.service ---------------

mkdir -p "$ROOT/usr/local/libexec"
cat >"$ROOT/usr/local/libexec/snpd-deb-e2e" <<'EOF'
#!/bin/sh
# snpd package end-to-end checks (written by tests/e2e/nspawn-deb.sh)
OUT=/e2e/results
: >"$OUT"
T=/run/snpd-deb-e2e
mkdir -p "$T"
cd /root/debs || exit 1
export DEBIAN_FRONTEND=noninteractive

ok() { echo "ok $*" >>"$OUT"; }
bad() { echo "FAIL $*" >>"$OUT"; }
check() { # check DESCRIPTION COMMAND...
	d=$1
	shift
	if "$@" >"$T/out" 2>&1; then ok "$d"; else bad "$d: $(tail -n 5 "$T/out" | tr '\n' ' ' | cut -c1-400)"; fi
}
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
apt() { # the apt-get run, its output kept for the artifacts
	echo "# apt-get $*" >>/e2e/apt.log
	apt-get -y -o Dpkg::Use-Pty=0 "$@" >>/e2e/apt.log 2>&1
}
is_active() { [ "$(systemctl is-active "$1")" = active ]; }
is_enabled() { [ "$(systemctl is-enabled "$1")" = enabled ]; }
not_active() { ! is_active "$1"; }
report_ok() {
	cat /snp/report >"$T/report.bin" && [ "$(wc -c <"$T/report.bin")" -eq 1184 ] ||
		{ echo "report: $(wc -c <"$T/report.bin" 2>/dev/null) bytes"; return 1; }
}
healthz() { [ "$(curl -sS --max-time 10 --unix-socket /run/snpd/api.sock http://snpd/healthz)" = ok ]; }
installed() { dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null | grep -q '^ii'; }
not_installed() { ! dpkg-query -W -f='${Status}' "$1" >/dev/null 2>&1 ||
	dpkg-query -W -f='${Status}' "$1" | grep -q 'not-installed'; }
absent() { for f; do [ ! -e "$f" ] || { echo "$f is there"; return 1; }; done; }
present() { for f; do [ -e "$f" ] || { echo "$f is missing"; return 1; }; done; }
# every path of the root and /run that names snp (what a package leaves)
snp_paths() {
	find / /run -xdev \( -path /proc -o -path /sys -o -path /e2e -o -path /root/debs \
		-o -path "$T" -o -path /usr/local/libexec/snpd-deb-e2e \
		-o -path /etc/systemd/system/snpd-deb-e2e.service \
		-o -path '/etc/systemd/system/*/snpd-deb-e2e.service' \) -prune -o \
		-iname '*snp*' -print 2>/dev/null | LC_ALL=C sort -u
}
running_ok() { # running_ok WHEN
	if wait_for 30 is_active snpd; then
		ok "$1: snpd is active"
	else
		bad "$1: snpd is $(systemctl is-active snpd): $(journalctl -u snpd -n 5 --no-pager -o cat | tr '\n' ' ')"
	fi
	check "$1: snpd.service is enabled" is_enabled snpd.service
	check "$1: snpd.socket is enabled and active" sh -c '[ "$(systemctl is-enabled snpd.socket)" = enabled ] && [ "$(systemctl is-active snpd.socket)" = active ]'
	if wait_for 10 report_ok; then ok "$1: /snp/report is 1184 bytes"; else bad "$1: /snp/report: $(report_ok 2>&1)"; fi
	check "$1: GET /healthz on /run/snpd/api.sock says ok" healthz
}

snp_paths >"$T/before"

# 1. install as an operator does: local files, dependencies from the root
check "apt-get install ./snpd_*.deb ./snpctl_*.deb" apt install ./snpd_*_amd64.deb ./snpctl_*_amd64.deb
both_installed() { installed snpd && installed snpctl; }
check "snpd and snpctl are installed" both_installed
check "the daemon package does not pull the simulator in" not_installed snpd-simulator
check "the snpd group exists (sysusers)" getent group snpd
conffile() { dpkg-query -W -f='${Conffiles}\n' snpd | grep -q '^ /etc/snpd/snpd.conf '; }
check "/etc/snpd/snpd.conf is a conffile" conffile
check "tmpfiles made /var/lib/snpd" present /var/lib/snpd
running_ok "after install"
check "snpctl verify --trust-ark accepts the view's report" \
	snpctl verify --offline --certs /snp/certs --trust-ark /snp/certs/ark.pem "$T/report.bin"

# 2. reinstall: still enabled and serving
pid0=$(systemctl show -p MainPID --value snpd)
check "apt-get install --reinstall ./snpd_*.deb" apt install --reinstall ./snpd_*_amd64.deb
running_ok "after --reinstall"
echo "reinstall: MainPID $pid0 -> $(systemctl show -p MainPID --value snpd)" >>/e2e/apt.log

# 3. the simulator package: the LD_PRELOAD device, for snpctl
check "apt-get install ./snpd-simulator_*.deb" apt install ./snpd-simulator_*_amd64.deb
lib=$(dpkg -L snpd-simulator | grep '/libsnp-preload\.so$')
sim_report() {
	snpctl sim init --dir "$T/sim" >/dev/null &&
		SNP_SIM_DIR="$T/sim" LD_PRELOAD="$lib" snpctl report --backend=sev-guest \
			-o "$T/sim.bin" --certs-dir "$T/simcerts" &&
		snpctl verify --offline "$T/sim.bin" --certs "$T/simcerts" --trust-ark "$T/simcerts/ark.pem"
}
check "snpctl report --backend=sev-guest through $lib verifies" sim_report
check "apt-get purge snpd-simulator" apt purge snpd-simulator

# 4. remove: stopped, unit and program gone, the conffile kept
check "apt-get remove snpd" apt remove snpd
check "after remove: snpd is not active" not_active snpd
check "after remove: snpd.socket is not active" not_active snpd.socket
check "after remove: /snp is not mounted" sh -c '! mountpoint -q /snp'
check "after remove: program and units are gone" absent /usr/sbin/snpd \
	/lib/systemd/system/snpd.service /lib/systemd/system/snpd.socket
check "after remove: systemd knows no snpd.service" sh -c \
	'[ "$(systemctl show -p LoadState --value snpd.service)" = not-found ]'
check "after remove: /etc/snpd/snpd.conf kept (a conffile until purge)" present /etc/snpd/snpd.conf
config_files() { dpkg-query -W -f='${db:Status-Abbrev}' snpd | grep -q '^rc'; }
check "after remove: snpd is in state config-files" config_files

# 5. purge: nothing left but the administrator's file and the group
check "apt-get purge snpd snpctl" apt purge snpd snpctl
both_gone() { not_installed snpd && not_installed snpctl; }
check "after purge: neither package is known to dpkg" both_gone
check "after purge: configuration, state, runtime and view directories are gone" absent \
	/etc/snpd/snpd.conf /var/lib/snpd /run/snpd /snp
check "after purge: no enablement symlinks or deb-systemd-helper state" sh -c \
	'! ls /etc/systemd/system/*/snpd.* /var/lib/systemd/deb-systemd-helper-enabled/*snpd* \
		/var/lib/systemd/deb-systemd-helper-masked/*snpd* 2>/dev/null | grep .'
check "after purge: the administrator's drop-in stays" present /etc/snpd/snpd.conf.d/50-e2e.conf
snp_paths >"$T/after"
# what is new since before the install, less what policy lets stay: the
# system group (not a path) and the administrator's files under /etc/snpd
left=$(LC_ALL=C comm -13 "$T/before" "$T/after")
if [ -z "$left" ]; then
	ok "after purge: no path naming snp that was not there before the install"
else
	bad "after purge, left behind: $(echo "$left" | tr '\n' ' ' | cut -c1-600)"
fi
if getent group snpd >/dev/null; then
	ok "after purge: the snpd system group stays (Debian policy: not removed)"
else
	ok "after purge: no snpd group"
fi

echo DONE >>"$OUT"
journalctl -b --no-pager >/e2e/journal.txt 2>&1
sync
systemctl --no-block poweroff
EOF
chmod 0755 "$ROOT/usr/local/libexec/snpd-deb-e2e"

cat >"$ROOT/etc/systemd/system/snpd-deb-e2e.service" <<'EOF'
[Unit]
Description=snpd package end-to-end checks
After=basic.target

[Service]
Type=oneshot
ExecStart=/usr/local/libexec/snpd-deb-e2e
StandardOutput=journal+console
TimeoutStartSec=300
FailureAction=poweroff

[Install]
WantedBy=multi-user.target
EOF

systemctl --root="$ROOT" enable snpd-deb-e2e.service >"$WORK/setup.log" 2>&1 ||
	{ cat "$WORK/setup.log"; hard_error "systemctl --root enable failed"; }
systemctl --root="$ROOT" mask console-getty.service getty.target >>"$WORK/setup.log" 2>&1
mkdir -p "$ROOT/etc/systemd/journald.conf.d"
printf '[Journal]\nForwardToConsole=yes\nMaxLevelConsole=info\n' \
	>"$ROOT/etc/systemd/journald.conf.d/snpd-e2e.conf"

# --- boot ------------------------------------------------------------------

if [ -d /run/systemd/system ]; then
	set -- --property="DeviceAllow=/dev/fuse rwm"
else
	set -- --keep-unit
fi
echo "booting $ROOT with $(basename "$deb_snpd") $(basename "$deb_snpctl") $(basename "$deb_sim") (overlay: $OVERLAY)"
start=$(date +%s)
# 8>&-: the container must not hold build_debs' shared lock (tests/e2e/debs.sh)
systemd-nspawn --boot --register=no --quiet --directory="$ROOT" \
	--machine=snpd-e2e-deb --private-network --setenv=SYSTEMD_COLORS=0 \
	--bind=/dev/fuse "$@" \
	--bind="$RESULTS:/e2e" --console=read-only \
	</dev/null >"$CONSOLE" 2>&1 8>&- &
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
	echo "--- apt-get (last 40 lines) ---"
	tail -n 40 "$RESULTS/apt.log" 2>/dev/null
	echo "--- console (last 60 lines) ---"
	tail -n 60 "$CONSOLE"
	if [ -f "$RESULTS/journal.txt" ]; then
		echo "--- journal, snpd lines (last 60) ---"
		grep -i 'snpd' "$RESULTS/journal.txt" | tail -n 60
	fi
fi
exit "$status"
