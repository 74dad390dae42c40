#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# One title per problem type (RFC 9457 3.1.3: the title "SHOULD NOT change
# from occurrence to occurrence"): every problem(), reply_problem() and
# cut() call in the sources names its type and title as literals, and a
# type never comes with two titles.
set -u
cd "${SNP_TOP_SRCDIR:?}" || exit 99
exec /usr/bin/python3 - http/http.c daemon/eventlog.c <<'PY'
import re
import sys

calls = re.compile(r"\b(problem|reply_problem|cut)\((.*?)\);", re.S)
literal = re.compile(r'"((?:[^"\\]|\\.)*)"')
kebab = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
titles, bad, n = {}, 0, 0
for path in sys.argv[1:]:
    # comments out, their lines kept
    text = re.sub(r"/\*.*?\*/", lambda c: "\n" * c.group(0).count("\n"),
                  open(path).read(), flags=re.S)
    for m in calls.finditer(text):
        if m.group(2).lstrip().startswith(("struct ", "const ")):
            continue  # the declaration or definition
        if "rep.type, rep.title" in m.group(2):
            continue  # eventlog.c's reply_problem() answers, checked there
        lits = literal.findall(m.group(2))
        i = next((k for k, v in enumerate(lits) if kebab.match(v)), None)
        line = text.count("\n", 0, m.start()) + 1
        if i is None or i + 1 >= len(lits):
            print("%s:%d: %s() without a literal type and title" % (path, line, m.group(1)))
            bad += 1
            continue
        n += 1
        titles.setdefault(lits[i], {}).setdefault(lits[i + 1], []).append(
            "%s:%d" % (path, line))
for ty, ts in sorted(titles.items()):
    if len(ts) > 1:
        bad += 1
        print("type %s has %d titles: %s" % (ty, len(ts), "; ".join(
            "%r (%s)" % (t, ", ".join(w)) for t, w in sorted(ts.items()))))
if n < 20:  # the sources have dozens: fewer means the patterns no longer match them
    print("only %d problem calls found: is the pattern still right?" % n)
    bad += 1
print("%d problem calls, %d types, %d problem(s)" % (n, len(titles), bad))
sys.exit(1 if bad else 0)
PY
