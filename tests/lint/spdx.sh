#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Every source file starts with an SPDX line; kernel/ is dual-licensed.
set -u
cd "${SNP_TOP_SRCDIR:?}" || exit 99
bad=0
for f in $(find kernel lib backend cli sim daemon fs http tests bench systemd -type f \
	\( -name '*.[ch]' -o -name '*.sh' -o -name '*.py' -o -name '*.mk' -o -name '*.in' \) \
	2>/dev/null | sort) configure.ac Makefile.am bootstrap .ci/run; do
	[ -f "$f" ] || continue
	line=$(head -n 3 "$f" | grep -m1 'SPDX-License-Identifier:')
	case "$f" in
	kernel/*) want='GPL-2.0-only OR MIT' ;;
	*) want='Apache-2.0' ;;
	esac
	case "$line" in
	*"SPDX-License-Identifier: $want"*) ;;
	*) echo "missing or wrong SPDX line (want $want): $f"; bad=$((bad + 1)) ;;
	esac
done
echo "$bad file(s) without the right SPDX line"
[ "$bad" -eq 0 ]
