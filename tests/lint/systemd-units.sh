#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The generated units pass systemd-analyze verify, and the service's
# exposure (systemd-analyze security --offline) stays at or below the
# figure the sandbox achieved (the ceiling is 2.0); README records
# it and what each remaining point is for.
set -u
: "${SNP_TOP_BUILDDIR:?}"
EXPOSURE_THRESHOLD=13	# 1.3 "OK" with systemd 252
sa=${SYSTEMD_ANALYZE:-}
if [ -z "$sa" ] || ! "$sa" --version >/dev/null 2>&1; then
	echo "SKIP: systemd-analyze not installed"
	exit 77
fi
units="$SNP_TOP_BUILDDIR/systemd"
[ -f "$units/snpd.service" ] || { echo "units not built in $units"; exit 99; }
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
# verify checks that the programs exist: point them at the built ones
sed -e "s|^ExecStart=.*|ExecStart=$SNP_TOP_BUILDDIR/daemon/snpd|" \
	-e "s|^\(Exec[A-Za-z]*=+\)[^ ]*/snpd-mount |\1$SNP_TOP_BUILDDIR/daemon/snpd-mount |" \
	"$units/snpd.service" >"$tmp/snpd.service"
cp "$units/snpd.socket" "$tmp/"
fail=0
if ! out=$("$sa" verify --man=no "$tmp/snpd.service" "$tmp/snpd.socket" 2>&1) || [ -n "$out" ]; then
	echo "systemd-analyze verify:"
	echo "$out"
	fail=1
else
	echo "ok: systemd-analyze verify snpd.service snpd.socket"
fi
out=$("$sa" security --offline=true --threshold="$EXPOSURE_THRESHOLD" "$tmp/snpd.service" 2>&1)
rc=$?
echo "$out" | tail -n 1
if [ $rc -ne 0 ]; then
	echo "exposure above the threshold $EXPOSURE_THRESHOLD:"
	echo "$out" | grep '✗'
	fail=1
fi
# the split: the mount is made outside the sandbox (snpd-mount, "+"), the
# daemon runs unprivileged in its own mount namespace
for want in User=snpd CapabilityBoundingSet= NotifyAccess=exec ProtectSystem=strict \
	ProtectHome=yes PrivateTmp=yes PrivateMounts=yes ProtectProc=invisible ProcSubset=pid \
	ProtectKernelTunables=yes ProtectKernelModules=yes ProtectKernelLogs=yes \
	ProtectControlGroups=yes DevicePolicy=closed "ExecStartPre=+[^ ]*/snpd-mount start" \
	"ExecStopPost=+[^ ]*/snpd-mount stop" "FileDescriptorStoreMax=[1-9]"; do
	grep -q "^$want\$\|^$want " "$tmp/snpd.service" || { echo "snpd.service lacks $want"; fail=1; }
done
if grep -q '^CapabilityBoundingSet=.' "$tmp/snpd.service" ||
	grep -q '^AmbientCapabilities=.' "$tmp/snpd.service"; then
	echo "snpd.service gives the daemon capabilities"
	fail=1
fi
if grep '^SystemCallFilter=[^~]' "$tmp/snpd.service" | grep -q '@mount\|@privileged'; then
	echo "snpd.service allows @mount or @privileged"
	fail=1
fi
for want in Type=notify WatchdogSec= "ExecReload=/bin/kill -HUP \$MAINPID" Restart=on-failure \
	RestartPreventExitStatus=78; do
	grep -q "^$want" "$tmp/snpd.service" || { echo "snpd.service lacks $want"; fail=1; }
done
exit $fail
