#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Simulated reports of every product and report version pass
# `snpctl verify --trust-ark <simulated ARK>` and fail without it, with
# "untrusted root" named as the reason.
set -u
. "$SNP_TOP_SRCDIR/tests/sim/sim-lib.sh"

nonce=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f

for prod in Milan Genoa Turin; do
	d=$(sim_new_dir $prod) || exit 1
	for ver in 2 3 5; do
		sed -i "s/^report_version=.*/report_version=$ver/" "$d/params"
		rm -rf "$d/certs"
		"$SNPCTL" report --backend="sim:$d" --nonce $nonce -o "$d/r.bin" \
			--certs-dir "$d/certs" || fail "$prod v$ver: report"
		for f in ark ask vcek; do
			[ -s "$d/certs/$f.pem" ] || fail "$prod v$ver: no $f.pem"
		done
		"$SNPCTL" verify "$d/r.bin" --certs "$d/certs" --trust-ark "$d/certs/ark.pem" \
			--report-data $nonce >"$d/ok.txt" 2>&1 ||
			{ cat "$d/ok.txt"; fail "$prod v$ver: verify with --trust-ark"; }
		"$SNPCTL" verify "$d/r.bin" --certs "$d/certs" >"$d/bad.txt" 2>&1
		rc=$?
		[ $rc -eq 1 ] || { cat "$d/bad.txt"; fail "$prod v$ver: exit $rc without --trust-ark"; }
		grep -q "untrusted root" "$d/bad.txt" || { cat "$d/bad.txt"; fail "$prod: reason"; }
		"$SNPCTL" show "$d/r.bin" | grep -q "version *$ver" || fail "$prod: version $ver"
		echo "ok: $prod report v$ver"
	done
	# AMD's names; the chip is recognisable by its CHIP_ID ("SIMULATD")
	openssl x509 -in "$d/certs/vcek.pem" -noout -subject -nameopt RFC2253 |
		grep -q "^subject=CN=SEV-VCEK,O=Advanced Micro Devices,ST=CA,L=Santa Clara,C=US,OU=Engineering$" ||
		fail "$prod: VCEK subject is not AMD's"
	"$SNPCTL" show "$d/r.bin" | grep -q "^chip_id *53494d554c415444" ||
		fail "$prod: the chip id does not start with SIMULATD"
	openssl x509 -in "$d/certs/ark.pem" -noout -subject | grep -q "CN *= *ARK-$prod" ||
		fail "$prod: ARK CN"
done

# A VLEK-signed platform (ASVK + VLEK).
v="$SIM_TMP/vlek"
"$SNPCTL" sim init --dir "$v" --product genoa --vlek 1 --csp-id SIMULATED-CSP-1 >/dev/null ||
	fail "vlek init"
"$SNPCTL" report --backend="sim:$v" -o "$v/r.bin" --certs-dir "$v/certs" || fail "vlek report"
[ -s "$v/certs/vlek.pem" ] || fail "no vlek.pem"
[ ! -e "$v/certs/vcek.pem" ] || fail "a VLEK platform hands out a VCEK"
"$SNPCTL" verify "$v/r.bin" --certs "$v/certs" --trust-ark "$v/certs/ark.pem" >"$v/ok.txt" 2>&1 ||
	{ cat "$v/ok.txt"; fail "vlek verify"; }
"$SNPCTL" show "$v/r.bin" | grep -q "VLEK" || fail "vlek: signing key"
echo "ok: VLEK"
exit 0
