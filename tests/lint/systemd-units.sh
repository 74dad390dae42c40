#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The generated units pass systemd-analyze verify, and the service's
# exposure (systemd-analyze security --offline) stays at or below the
# figure the sandbox achieved; README records it.
set -u
: "${SNP_TOP_BUILDDIR:?}"
EXPOSURE_THRESHOLD=41	# 4.1 "OK" with systemd 252
sa=${SYSTEMD_ANALYZE:-}
if [ -z "$sa" ] || ! "$sa" --version >/dev/null 2>&1; then
	echo "SKIP: systemd-analyze not installed"
	exit 77
fi
units="$SNP_TOP_BUILDDIR/systemd"
[ -f "$units/snpd.service" ] || { echo "units not built in $units"; exit 99; }
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
# verify checks that ExecStart= exists: point it at the built daemon
sed "s|^ExecStart=.*|ExecStart=$SNP_TOP_BUILDDIR/daemon/snpd|" "$units/snpd.service" \
	>"$tmp/snpd.service"
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
# the sandbox must not create a mount namespace: /snp would be hidden
for opt in ProtectSystem ProtectHome PrivateTmp PrivateDevices PrivateMounts \
	ProtectKernelTunables ProtectKernelModules ProtectKernelLogs ProtectControlGroups \
	ProtectProc ReadOnlyPaths ReadWritePaths InaccessiblePaths TemporaryFileSystem \
	BindPaths MountFlags RootDirectory; do
	if grep -q "^$opt=" "$tmp/snpd.service"; then
		echo "snpd.service sets $opt=, which hides the FUSE mount from the host"
		fail=1
	fi
done
for want in Type=notify WatchdogSec= "ExecReload=/bin/kill -HUP \$MAINPID" Restart=on-failure \
	RestartPreventExitStatus=78; do
	grep -q "^$want" "$tmp/snpd.service" || { echo "snpd.service lacks $want"; fail=1; }
done
exit $fail
