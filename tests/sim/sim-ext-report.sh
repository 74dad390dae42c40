#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The extended request as a real host speaks it, through the LD_PRELOAD
# /dev/sev-guest: a client that, like AMD's get-report -x and go-sev-guest,
# asks with certs_len 0 gets EIO, exitinfo2 INVALID_LEN and the size in
# certs_len, then fetches and checks the table (ext-report-client.c); a
# host with no certificates (host_certs=0) answers like a plain request.
# No VMPCK is lost on the way.
set -u
. "$SNP_TOP_SRCDIR/tests/sim/sim-lib.sh"

[ -f "$SNP_TOP_BUILDDIR/sim/.libs/libsnp-preload.so" ] || { echo "SKIP: no preload library"; exit 77; }
CLIENT="$SNP_TOP_BUILDDIR/tests/sim/ext-report-client"

for prod in Milan Turin; do
	d=$(sim_new_dir $prod) || exit 1
	SNP_SIM_DIR="$d" LD_PRELOAD="$SIM_PRELOAD" "$CLIENT"
	rc=$?
	[ $rc -eq 77 ] && { echo "SKIP: ext-report client skipped"; exit 77; }
	[ $rc -eq 0 ] || fail "$prod: ext-report client exit $rc"
	[ "$(guest_counter "$d")" = "$(fw_counter "$d")" ] || fail "$prod: counters differ"
	# the VMPCK still works
	"$SNPCTL" report --backend="sim:$d" -o "$d/r.bin" --certs-dir "$d/c" ||
		fail "$prod: report after the size query"
	[ -s "$d/c/vcek.pem" ] || fail "$prod: no certificates from the sim backend"

	sed -i 's/^host_certs=.*/host_certs=0/' "$d/params"
	grep -q "^host_certs=0" "$d/params" || echo "host_certs=0" >>"$d/params"
	SNP_SIM_DIR="$d" LD_PRELOAD="$SIM_PRELOAD" "$CLIENT" --no-certs ||
		fail "$prod: host without certificates"
	"$SNPCTL" report --backend="sim:$d" -o "$d/r2.bin" ||
		fail "$prod: sim backend, host without certificates"
	expect 4 "no certificates" "$SNPCTL" report --backend="sim:$d" -o "$d/r3.bin" \
		--certs-dir "$d/c2"
	echo "ok: $prod"
done
exit 0
