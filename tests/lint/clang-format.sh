#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Every C source and header follows .clang-format (kernel style).
set -u
top=${SNP_TOP_SRCDIR:?}
cf=${CLANG_FORMAT:-}
if [ -z "$cf" ] || ! "$cf" --version >/dev/null 2>&1; then
	echo "SKIP: clang-format not installed"
	exit 77
fi
cd "$top" || exit 99
files=$(find kernel lib backend cli sim daemon fs http tests bench -name '*.[ch]' 2>/dev/null | sort)
[ -n "$files" ] || { echo "no sources found under $top"; exit 99; }
bad=0
for f in $files; do
	if ! "$cf" --style=file --dry-run --Werror "$f" >/dev/null 2>&1; then
		echo "not formatted: $f (run: clang-format -i $f)"
		"$cf" --style=file "$f" | diff -u "$f" - | head -n 20
		bad=$((bad + 1))
	fi
done
n=$(echo "$files" | wc -l)
echo "$n files checked, $bad not formatted"
[ "$bad" -eq 0 ]
