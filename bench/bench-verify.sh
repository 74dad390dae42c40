#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
#
# Wall time of `snpctl verify` per report, process start included, over the
# positive vectors of ../shared/testdata/real, against raw baselines
# measured in the same run:
#   snpctl --version                    process start of snpctl alone
#   openssl dgst -sha384 -verify        the report's ECDSA signature only
#   openssl verify -CAfile -untrusted   the ARK/ASK/VCEK chain only
# Target: verify under 20 ms per report including process start.
# Each vector is checked --at one day after its VCEK/VLEK's notBefore, so
# that certificates which have expired since (VLEKs last a year) verify.
#
# Uses hyperfine when installed, otherwise a loop timed with date +%s%N.
# Environment: SNPCTL (default: snpctl in PATH), SNP_TESTDATA, PYTHON3,
# SNP_BENCH_RUNS (runs per command, default 30), SNP_BENCH_NO_HYPERFINE=1.
#
# A benchmark, not a test: it prints figures and exits 0 whatever they are;
# it exits 1 only when it cannot run at all.
set -u
set -f

SNPCTL=${SNPCTL:-snpctl}
SNP_TESTDATA=${SNP_TESTDATA:-}
PYTHON3=${PYTHON3:-/usr/bin/python3}
runs=${SNP_BENCH_RUNS:-30}
target_ms=20

case $runs in
'' | *[!0-9]* | 0)
	echo "bench-verify: SNP_BENCH_RUNS='$runs' is not a positive number" >&2
	exit 1
	;;
esac
if [ -z "$SNP_TESTDATA" ] || [ ! -r "$SNP_TESTDATA/manifest.json" ]; then
	echo "bench-verify: no test data (set SNP_TESTDATA to ../shared/testdata/real)" >&2
	exit 1
fi
if ! "$SNPCTL" --version >/dev/null 2>&1; then
	echo "bench-verify: cannot run '$SNPCTL' (set SNPCTL)" >&2
	exit 1
fi
if ! [ -x "$PYTHON3" ]; then
	echo "bench-verify: needs $PYTHON3 to read the manifest" >&2
	exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/snp-bench.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

# One line per positive vector: NAME<TAB>ARGS (paths without whitespace).
# Also writes the raw-baseline inputs of one vector into $tmp/raw/.
"$PYTHON3" - "$SNP_TESTDATA" "$tmp" >"$tmp/vectors" <<'EOF' || exit 1
import datetime, json, os, subprocess, sys

testdata, tmp = sys.argv[1], sys.argv[2]


def check_time(cert):
    """--at one day after the leaf's notBefore (a VLEK expires after a year)."""
    for form in ("PEM", "DER"):
        try:
            out = subprocess.run(["openssl", "x509", "-inform", form, "-in", cert,
                                  "-noout", "-startdate"], capture_output=True,
                                 text=True).stdout.strip()
        except OSError:
            return None
        if out.startswith("notBefore="):
            t = datetime.datetime.strptime(out[10:], "%b %d %H:%M:%S %Y %Z")
            return (t + datetime.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return None

with open(os.path.join(testdata, "manifest.json")) as f:
    vectors = json.load(f)["vectors"]


def der_int(le):
    b = bytes(reversed(le)).lstrip(b"\0") or b"\0"
    if b[0] & 0x80:
        b = b"\0" + b
    return b"\x02" + bytes([len(b)]) + b


raw_done = False
for v in vectors:
    if v["name"].startswith("NEG") or "report" not in v or "vcek" not in v:
        continue
    paths = [v["report"], v["vcek"]] + v.get("ca", [])
    if any(any(c.isspace() for c in p) for p in paths):
        continue
    p = lambda rel: os.path.join(testdata, rel)
    args = ["verify", p(v["report"]), "--vcek", p(v["vcek"])]
    for ca in v.get("ca", []):
        args += ["--chain", p(ca)]
    at = check_time(p(v["vcek"]))
    if at:
        args += ["--at", at]
    print(v["name"] + "\t" + " ".join(args))

    # raw baseline: a binary report with separate ARK and ASK files
    ca = v.get("ca", [])
    if raw_done or v.get("report_format") == "hex" or len(ca) != 2:
        continue
    ark = [c for c in ca if "ark" in os.path.basename(c)]
    ask = [c for c in ca if "ask" in os.path.basename(c)]
    if len(ark) != 1 or len(ask) != 1:
        continue
    with open(p(v["report"]), "rb") as f:
        rep = f.read()
    if len(rep) != 0x4A0:
        continue
    sig_r, sig_s = rep[0x2A0:0x2A0 + 48], rep[0x2A0 + 72:0x2A0 + 72 + 48]
    body = der_int(sig_r) + der_int(sig_s)
    os.mkdir(os.path.join(tmp, "raw"))
    with open(os.path.join(tmp, "raw", "body.bin"), "wb") as f:
        f.write(rep[:0x2A0])
    with open(os.path.join(tmp, "raw", "sig.der"), "wb") as f:
        f.write(b"\x30" + bytes([len(body)]) + body)
    with open(os.path.join(tmp, "raw", "files"), "w") as f:
        f.write("%s\n%s\n%s\n%s\n" % (v["name"], p(v["vcek"]), p(ark[0]), p(ask[0])))
    raw_done = True
EOF

# Commands to time: LABEL<TAB>COMMAND (word-split, no globbing).
: >"$tmp/commands"
n_skip=0
tab=$(printf '\t')
while IFS=$tab read -r name args; do
	# shellcheck disable=SC2086 # the arguments are word-split on purpose
	"$SNPCTL" $args >"$tmp/out" 2>&1
	rc=$?
	if [ $rc -eq 2 ] && grep -q -- '--allow-debug' "$tmp/out"; then
		# a debug guest: the policy refuses it, the verification is the same
		args="$args --allow-debug"
		# shellcheck disable=SC2086
		"$SNPCTL" $args >"$tmp/out" 2>&1
		rc=$?
	fi
	if [ $rc -eq 0 ]; then
		printf 'verify %s\t%s %s\n' "$name" "$SNPCTL" "$args" >>"$tmp/commands"
	else
		echo "note: $name does not verify (exit $rc), left out:"
		sed 's/^/    /' "$tmp/out"
		n_skip=$((n_skip + 1))
	fi
done <"$tmp/vectors"
n_verify=$(wc -l <"$tmp/commands")
if [ "$n_verify" -eq 0 ]; then
	echo "bench-verify: no vector verifies; nothing to measure" >&2
	exit 1
fi

printf 'baseline snpctl --version\t%s --version\n' "$SNPCTL" >>"$tmp/commands"
raw_name=""
if [ -r "$tmp/raw/files" ] && command -v openssl >/dev/null 2>&1; then
	{
		read -r raw_name
		read -r raw_vcek
		read -r raw_ark
		read -r raw_ask
	} <"$tmp/raw/files"
	if openssl x509 -in "$raw_vcek" -inform DER -pubkey -noout >"$tmp/raw/pub.pem" 2>/dev/null ||
		openssl x509 -in "$raw_vcek" -pubkey -noout >"$tmp/raw/pub.pem" 2>/dev/null; then
		dgst="openssl dgst -sha384 -verify $tmp/raw/pub.pem -signature $tmp/raw/sig.der"
		dgst="$dgst $tmp/raw/body.bin"
		chain="openssl verify -CAfile $raw_ark -untrusted $raw_ask $raw_vcek"
		# shellcheck disable=SC2086
		if $dgst >/dev/null 2>&1; then
			printf 'raw openssl dgst\t%s\n' "$dgst" >>"$tmp/commands"
		else
			echo "note: openssl dgst does not verify $raw_name; raw ECDSA baseline left out"
		fi
		# shellcheck disable=SC2086
		if $chain >/dev/null 2>&1; then
			printf 'raw openssl verify\t%s\n' "$chain" >>"$tmp/commands"
		else
			echo "note: openssl verify fails on $raw_name; raw chain baseline left out"
		fi
	fi
else
	echo "note: no openssl or no vector with separate ARK/ASK files; no raw baseline"
fi

# Measure: $tmp/results gets LABEL<TAB>MEAN_MS<TAB>STDDEV_MS per command.
: >"$tmp/results"
tool=""
if [ "${SNP_BENCH_NO_HYPERFINE:-0}" != 1 ] && command -v hyperfine >/dev/null 2>&1; then
	tool="$(hyperfine --version), $runs runs per command after 3 warm-up runs"
	set --
	while IFS=$tab read -r label cmd; do
		set -- "$@" -n "$label" "$cmd"
	done <"$tmp/commands"
	if hyperfine -N --warmup 3 --runs "$runs" --style none \
		--export-json "$tmp/hyperfine.json" "$@" >"$tmp/hyperfine.log" 2>&1; then
		"$PYTHON3" -c '
import json, sys
for r in json.load(open(sys.argv[1]))["results"]:
    print("%s\t%.3f\t%.3f" % (r["command"], r["mean"] * 1e3, r["stddev"] * 1e3))
' "$tmp/hyperfine.json" >"$tmp/results" || tool=""
	else
		echo "note: hyperfine failed, falling back to a timed loop:"
		sed 's/^/    /' "$tmp/hyperfine.log"
		tool=""
	fi
fi
if [ -z "$tool" ]; then
	tool="shell loop timed with date +%s%N, $runs runs per command after 3 warm-up runs"
	: >"$tmp/results"
	while IFS=$tab read -r label cmd; do
		i=0
		while [ $i -lt 3 ]; do
			# shellcheck disable=SC2086
			$cmd >/dev/null 2>&1
			i=$((i + 1))
		done
		t0=$(date +%s%N)
		i=0
		while [ $i -lt "$runs" ]; do
			# shellcheck disable=SC2086
			$cmd >/dev/null 2>&1
			i=$((i + 1))
		done
		t1=$(date +%s%N)
		awk -v l="$label" -v a="$t0" -v b="$t1" -v n="$runs" \
			'BEGIN { printf "%s\t%.3f\t-\n", l, (b - a) / n / 1e6 }' >>"$tmp/results"
	done <"$tmp/commands"
fi

echo "tool: $tool"
[ -n "$raw_name" ] && echo "raw baselines on: $raw_name"
"$PYTHON3" - "$tmp/results" "$target_ms" <<'EOF'
import sys

rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
target = float(sys.argv[2])
verify = [(l[7:], float(m), s) for l, m, s in rows if l.startswith("verify ")]
base = {l: float(m) for l, m, s in rows if not l.startswith("verify ")}

w = 62
for name, m, s in verify:
    print("  %-*s %8.2f ms%s" % (w - 2, "snpctl verify " + name, m,
                                "" if s == "-" else "  (sd %s)" % s))
ms = [m for _, m, _ in verify]
mean = sum(ms) / len(ms)
print("%-*s %8.2f ms/report (min %.2f, max %.2f)"
      % (w, "snpctl verify, mean over %d reports" % len(ms), mean, min(ms), max(ms)))
print("target: under %.0f ms per report including process start: %s"
      % (target, "met" if mean < target else "NOT met"))
labels = [("baseline snpctl --version", "process start (snpctl --version)"),
          ("raw openssl dgst", "raw openssl dgst -sha384 -verify (ECDSA)"),
          ("raw openssl verify", "raw openssl verify (ARK/ASK/VCEK chain)")]
for key, text in labels:
    if key in base:
        print("%-*s %8.2f ms" % (w, text, base[key]))
print("ratios (same run):")
for key, text in labels:
    if key in base and base[key] > 0:
        print("  %-*s %8.2f" % (w - 2, "snpctl verify / " + text, mean / base[key]))
if "raw openssl dgst" in base and "raw openssl verify" in base:
    both = base["raw openssl dgst"] + base["raw openssl verify"]
    print("  %-*s %8.2f" % (w - 2, "snpctl verify / (openssl dgst + openssl verify)",
                            mean / both))
if "baseline snpctl --version" in base:
    print("%-*s %8.2f ms/report" % (w, "snpctl verify minus process start",
                                    mean - base["baseline snpctl --version"]))
EOF
[ "$n_skip" -gt 0 ] && echo "left out (do not verify): $n_skip vector(s)"
exit 0
