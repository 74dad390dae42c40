#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Layers only import downward (docs: design.md §2, conventions.md "Layout
# and modules"):
#   kernel/ <- lib/ <- sim/ <- backend/ <- daemon/, fs/, http/, cli/
# A C file or header in one room includes no header of a higher room (kernel/
# includes only kernel/; the rooms of the top layer may include each other),
# and a room's local.mk links or compiles nothing of a higher room. tests/
# and bench/ sit above everything and are not checked.
set -u
cd "${SNP_TOP_SRCDIR:?}" || exit 99
rooms=
for r in kernel lib sim backend daemon fs http cli; do
	[ -d "$r" ] && rooms="$rooms $r"
done
[ -d kernel ] && [ -d lib ] || { echo "no kernel/ or lib/ under $PWD"; exit 99; }

# rank ROOM: the layer of a room, or -1 for anything else (system headers,
# tests/, bench/).
awk_rank='
function rank(room) {
	if (room == "kernel") return 0
	if (room == "lib") return 1
	if (room == "sim") return 2
	if (room == "backend") return 3
	if (room == "daemon" || room == "fs" || room == "http" || room == "cli") return 4
	return -1
}
'

# Includes: "room/x.h" or <room/x.h> is repo-relative (-I$(top_srcdir));
# "x.h" or "../room/x.h" is relative to the including file.
src=$(find $rooms -type f -name '*.[ch]' | sort)
bad_inc=$(awk "$awk_rank"'
function norm(path,    n, i, k, part, out) {
	n = split(path, part, "/")
	k = 0
	for (i = 1; i <= n; i++) {
		if (part[i] == "" || part[i] == ".")
			continue
		if (part[i] == "..") {
			if (k > 0)
				k--
			continue
		}
		out[++k] = part[i]
	}
	path = ""
	for (i = 1; i <= k; i++)
		path = path (i > 1 ? "/" : "") out[i]
	return path
}
/^[ \t]*#[ \t]*include[ \t]*["<]/ {
	line = $0
	sub(/^[ \t]*#[ \t]*include[ \t]*/, "", line)
	quoted = substr(line, 1, 1) == "\""
	line = substr(line, 2)
	sub(/[">].*$/, "", line)
	target = line
	if (quoted && (target ~ /^\.\.?\// || target !~ /\//)) {
		dir = FILENAME
		sub(/[^\/]*$/, "", dir)
		target = norm(dir target)
	}
	split(FILENAME, f, "/")
	split(target, t, "/")
	if (t[2] == "")
		next
	from = rank(f[1])
	to = rank(t[1])
	if (to > from)
		printf "%s:%d: %s/ includes %s (a higher layer)\n", FILENAME, FNR, f[1], line
}' $src)

# Build files: a lower room never names a higher room (its library or its
# sources) outside comments.
bad_mk=$(for r in $rooms; do [ -f "$r/local.mk" ] && echo "$r/local.mk"; done | awk "$awk_rank"'
{
	mk = $0
	split(mk, f, "/")
	from = rank(f[1])
	n = 0
	while ((getline line < mk) > 0) {
		n++
		if (line ~ /^[ \t]*#/)
			continue
		rest = line
		while (match(rest, /[A-Za-z_]+\//)) {
			room = substr(rest, RSTART, RLENGTH - 1)
			rest = substr(rest, RSTART + RLENGTH)
			if (rank(room) > from)
				printf "%s:%d: %s/ names %s/ (a higher layer): %s\n", mk, n, f[1], room, line
		}
	}
	close(mk)
}')

[ -n "$bad_inc" ] && echo "$bad_inc"
[ -n "$bad_mk" ] && echo "$bad_mk"
n=$(printf '%s\n%s\n' "$bad_inc" "$bad_mk" | grep -c .)
echo "$(echo "$src" | wc -l) sources and $(echo $rooms | wc -w) rooms checked, $n import(s) against the layering"
[ "$n" -eq 0 ]
