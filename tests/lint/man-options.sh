#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The man pages match the real programs: every option of 'snpd --help' is in
# snpd(8) and snpd.conf(5), every key of 'snpd --dump-config' in snpd.conf(5),
# every --option of each snpctl command's --help in snpctl(1), every key of a
# verify policy file in snpctl(1) and in man/snp-policy.schema.json; and the
# pages format without a warning.
set -u
top=${SNP_TOP_SRCDIR:?}
snpd=${SNPD:?}
snpctl=${SNPCTL:?}
man="$top/man"

if command -v groff >/dev/null 2>&1; then
	check_roff() { groff -man -ww -z "$1" 2>&1; }
elif command -v man >/dev/null 2>&1; then
	check_roff() { MANWIDTH=80 man --warnings -l "$1" 2>&1 >/dev/null; }
else
	echo "SKIP: neither groff nor man is installed"
	exit 77
fi
for p in "$snpd" "$snpctl"; do
	[ -x "$p" ] || { echo "not built: $p"; exit 99; }
done

tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT

# A page's source as plain text: \- is '-', font changes and \& go.
plain() {
	sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' -e 's/\\f(..//g' -e 's/\\&//g' "$1"
}
for p in snpd.8 snpctl.1 snpd.conf.5; do
	[ -f "$man/$p" ] || { echo "missing man/$p"; exit 1; }
	plain "$man/$p" >"$tmp/$p.txt"
done

bad=0
# need WORD PAGE: WORD must stand in PAGE, not as the start of a longer option
need() {
	if ! grep -Eq -- "(^|[^A-Za-z0-9_-])$1([^A-Za-z0-9_-]|\$)" "$tmp/$2.txt"; then
		echo "man/$2: $1 is not documented${3:+ ($3)}"
		bad=$((bad + 1))
	fi
}
# the --options of a help text, one a line
options_of() {
	grep -oE -- '--[a-z][a-z0-9-]*' | sort -u
}

# snpd
"$snpd" --help >"$tmp/snpd-help" || { echo "snpd --help failed"; exit 1; }
n=0
for o in $(options_of <"$tmp/snpd-help"); do
	need "$o" snpd.8 "snpd --help"
	n=$((n + 1))
done
[ "$n" -ge 20 ] || { echo "snpd --help lists only $n options?"; bad=$((bad + 1)); }
# options bound to a configuration key are in snpd.conf(5) too
for o in $(grep -E '^  --[a-z-]+ +\[[A-Za-z]+\] [A-Za-z]+=' "$tmp/snpd-help" | options_of); do
	need "$o" snpd.conf.5 "snpd --help"
done

"$snpd" --dump-config --config /dev/null --key x >"$tmp/dump" ||
	{ echo "snpd --dump-config failed"; exit 1; }
# each key in the part of snpd.conf(5) about its section: from
# .SH "[Section] SECTION" (or "[Key:NAME] SECTIONS") to the next .SH
n=0
for s in $(sed -n 's/^\[\([A-Za-z]*\).*\]$/\1/p' "$tmp/dump" | sort -u); do
	awk -v s="$s" '
		/^\.SH / { on = index($0, "\"[" s "]") || index($0, "\"[" s ":NAME]") }
		on' "$tmp/snpd.conf.5.txt" >"$tmp/section-$s.txt"
	if [ ! -s "$tmp/section-$s.txt" ]; then
		echo "man/snpd.conf.5: no section for [$s]"
		bad=$((bad + 1))
		continue
	fi
	for k in $(awk -v s="$s" '
		/^\[/ { on = ($0 == "[" s "]" || index($0, "[" s ":") == 1); next }
		on && /^[A-Za-z]+=/ { sub(/=.*/, ""); print }' "$tmp/dump" | sort -u); do
		grep -Eq -- "(^|[^A-Za-z0-9_])$k=" "$tmp/section-$s.txt" || {
			echo "man/snpd.conf.5: $k= of [$s] (snpd --dump-config) is not documented"
			bad=$((bad + 1))
		}
		n=$((n + 1))
	done
done
[ "$n" -ge 30 ] || { echo "snpd --dump-config shows only $n keys?"; bad=$((bad + 1)); }

# snpctl: the commands of 'snpctl --help', each command's options
"$snpctl" --help >"$tmp/snpctl-help" || { echo "snpctl --help failed"; exit 1; }
cmds=$(sed -n '/^Commands:/,/^$/s/^  \([a-z][a-z]*\) .*/\1/p' "$tmp/snpctl-help")
[ -n "$cmds" ] || { echo "snpctl --help lists no commands?"; exit 1; }
for c in $cmds; do
	grep -Eq "^\.SS \"?$c( |\")" "$man/snpctl.1" ||
		{ echo "man/snpctl.1: no section for the command $c"; bad=$((bad + 1)); }
	"$snpctl" "$c" --help >"$tmp/help-$c" || { echo "snpctl $c --help failed"; exit 1; }
	for o in $(options_of <"$tmp/help-$c"); do
		need "$o" snpctl.1 "snpctl $c --help"
	done
done
for o in $(options_of <"$tmp/snpctl-help"); do
	need "$o" snpctl.1 "snpctl --help"
done

# snpctl verify's policy files: every key of 'snpctl policy keys' (the table
# in lib/policy.c) is listed in the POLICY FILE part of snpctl(1) and in the
# JSON Schema, and neither lists a key the code does not know
"$snpctl" policy keys >"$tmp/policy-keys" || { echo "snpctl policy keys failed"; exit 1; }
awk '{ print $1 }' "$tmp/policy-keys" | sort >"$tmp/keys-code"
[ "$(wc -l <"$tmp/keys-code")" -ge 20 ] ||
	{ echo "snpctl policy keys lists only $(wc -l <"$tmp/keys-code") keys?"; bad=$((bad + 1)); }
awk '/^is a JSON object, at most/ { on = 1 } /^\.S[HS] / { on = 0 } on && prev == ".TP" && /^\.B / {
	sub(/^\.B /, ""); print } { prev = $0 }' "$tmp/snpctl.1.txt" | sort >"$tmp/keys-man"
schema="$man/snp-policy.schema.json"
"${PYTHON3:-python3}" -c 'import json, sys
for k in json.load(open(sys.argv[1]))["properties"]: print(k)' "$schema" | sort >"$tmp/keys-schema" ||
	{ echo "$schema: not a JSON Schema with properties"; bad=$((bad + 1)); }
for w in man schema; do
	d=$(comm -3 "$tmp/keys-code" "$tmp/keys-$w")
	if [ -n "$d" ]; then
		echo "policy keys of the code (left) and the $w (right) differ:"
		echo "$d"
		bad=$((bad + 1))
	fi
done

# snpctl verify's evidence options: 'snpctl verify --help' and snpctl(1)
# say the same about each (its entry: the help's lines from "  --OPT" to
# the next option, the page's from ".BI --OPT" or ".B --OPT" to the next .TP)
help_entry() {
	awk -v o="$1" 'index($0, "  " o " ") == 1 { on = 1; print; next }
		on && /^  -/ { on = 0 } on && /^$/ { on = 0 } on' "$tmp/help-verify"
}
man_entry() {
	awk -v o="$1" '/^\.SS "verify/ { sec = 1 } /^\.SS / && !/^\.SS "verify/ { sec = 0 }
		sec && (index($0, ".BI " o " ") == 1 || $0 == ".B " o) { on = 1; next }
		on && /^\.(TP|PP|SS)/ { on = 0 } on' "$tmp/snpctl.1.txt"
}
same() { # OPTION PHRASE...: each phrase in both entries (case and line breaks aside)
	o=$1
	shift
	e_help=$(help_entry "$o" | tr -s ' \n' '  ')
	e_man=$(man_entry "$o" | tr -s ' \n' '  ')
	for w in "$@"; do
		for where in help man; do
			eval "t=\$e_$where"
			if ! printf '%s' "$t" | grep -qiF -- "$w"; then
				echo "snpctl verify $o: '$w' not in the $where entry (help and man differ)"
				bad=$((bad + 1))
			fi
		done
	done
}
same --require-event "bound evidence only" "anything else is refused" "32, 48 or 64 bytes" \
	"may repeat" "exit code 2"
same --forbid-event "bound evidence only" "anything else is refused" "may repeat" "exit code 2"
same --nonce "1 to 64 bytes" "snpd-binding-v1" "required for bound evidence" \
	"a raw report, a document without a binding" "exit code 1"
same --report-data "as the report holds it" "up to 64 bytes" "zero-padded" \
	"a raw report's nonce" "binding's hash"
same --trust-ark "although it is not" "ARK when none is given" "cached only under it"
same --json "binding" "event"
for w in "/v1/evidence" "/snp/evidence/" "--trust-ark" "REPORT|EVIDENCE|-"; do
	grep -qF -- "$w" "$tmp/help-verify" ||
		{ echo "snpctl verify --help does not say '$w' about evidence"; bad=$((bad + 1)); }
	awk '/^\.SS / { on = index($0, ".SS \"verify") == 1 } on' "$tmp/snpctl.1.txt" |
		grep -qF -- "$w" ||
		{ echo "man/snpctl.1 verify does not say '$w' about evidence"; bad=$((bad + 1)); }
done
grep -q '^  verify .*evidence' "$tmp/snpctl-help" ||
	{ echo "snpctl --help: verify does not mention evidence"; bad=$((bad + 1)); }

# formatting
for p in snpd.8 snpctl.1 snpd.conf.5; do
	w=$(check_roff "$man/$p")
	if [ -n "$w" ]; then
		echo "man/$p: formatter warnings:"
		echo "$w"
		bad=$((bad + 1))
	fi
	head -n 1 "$man/$p" | grep -q '^\.\\" SPDX-License-Identifier: Apache-2.0$' ||
		{ echo "man/$p: first line is not the SPDX line"; bad=$((bad + 1)); }
done

echo "$bad problem(s) in the man pages"
[ "$bad" -eq 0 ]
