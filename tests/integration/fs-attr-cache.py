# SPDX-License-Identifier: Apache-2.0
"""The kernel caches the entries and attributes of the report's path (the
root, report, report.json, nonce/) and of evidence's (evidence/), and a
reload still shows new owners and modes at once.

1. Reports in a row cost no LOOKUP or GETATTR each: the view's counters
   (/v1/status, read over HTTP so that the reads do not count) grow by at
   most a few per second of the run, as the 1 s cache expires, never by
   three per report as without the cache.
2. Reloads that change ReportMode=, Mode= and User= show at once, right
   after READY=1 with the old attributes freshly cached: stat() of the
   root, report, report.json and nonce/ gives the new owner and mode, and
   uid 65534 can open report for writing exactly when the new mode lets
   it, also through a path it has walked just before the reload; evidence/
   has the new owner too.
3. Evidence answers in a row (open evidence/<hex>, read to EOF, close) cost
   one LOOKUP each (the fresh name), not two (evidence/ again): LOOKUPs
   grow by at most one per answer plus one per second of the run. The
   answer is stored into the page cache before the OPEN returns, so no
   READ reaches snpd, and one GETATTR each (the size the store changed,
   asked by Python's fstat() or the first read); without the store, two
   READs each (the answer, the end of the file). The name's mode comes
   with its LOOKUP (fs-nonce-access.py shows that a reload cannot leave a
   stale mode that grants an open). The root's and evidence/'s entries and
   attributes outlive the 1 s cache: an answer 1.5 s later still costs one
   LOOKUP and one GETATTR."""

import json
import math
import os
import subprocess
import sys
import time

import snpd_harness as h
import snptest as t

h.need_fuse()
h.need_setpriv()
res = t.Results()

REPORTS = 60
EVIDENCE = 40
NOBODY = 65534

# As uid 65534: for every line on stdin, open report for writing and say
# whether that worked (the errno name otherwise).
OPENER = r"""
import errno, os, sys
print("ready", flush=True)
for line in sys.stdin:
    try:
        os.close(os.open(sys.argv[1], os.O_RDWR))
        print("ok", flush=True)
    except OSError as e:
        print(errno.errorcode.get(e.errno, str(e.errno)), flush=True)
"""


def config(report_mode, mode, user):
    return ("[Daemon]\nRateLimit=0\n\n[Filesystem]\nReportMode=%s\nMode=%s\nUser=%s\n"
            % (report_mode, mode, user))


def fs_counters(d):
    c = h.UnixHTTPConnection(d.api)
    c.request("GET", "/v1/status")
    st = json.loads(c.getresponse().read())["filesystem"]
    c.close()
    return st.get("lookups", 0) + st.get("getattrs", 0), st


def fs_counts(d):
    _, st = fs_counters(d)
    return st.get("lookups", 0), st.get("getattrs", 0), st.get("reads", 0)


def one_evidence(path, i):
    nonce = (0x4000 + i).to_bytes(4, "little") * 16
    with open(os.path.join(path, nonce.hex()), "rb", buffering=0) as f:
        data = b""
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            data += b
    try:
        return json.loads(data)["binding"]["nonce"] == nonce.hex()
    except (ValueError, KeyError, TypeError):
        return False


def one_report(path, i):
    nonce = i.to_bytes(4, "little") * 16
    fd = os.open(path, os.O_RDWR)
    try:
        os.write(fd, nonce)
        data = h.read_all(fd)
    finally:
        os.close(fd)
    return len(data) == 1184 and data[0x50:0x90] == nonce


def nobody_may_write(report_mode, user):
    """What default_permissions lets uid 65534 (not in group root) do."""
    mode = int(report_mode, 8)
    bits = (mode >> 6) & 0o6 if user == str(NOBODY) else mode & 0o6
    return "ok" if bits == 0o6 else "EACCES"


def nobody_open(p):
    p.stdin.write("open\n")
    p.stdin.flush()
    return p.stdout.readline().strip()


with h.Daemon(config=config("0666", "0444", "root")) as d:
    d.start()
    report = d.path("report")

    # 1. no LOOKUP/GETATTR per report
    one_report(report, 0)  # the path is in the kernel's cache now
    before, st = fs_counters(d)
    res.check("lookups" in st and "getattrs" in st,
              "/v1/status counts the view's LOOKUP and GETATTR requests")
    t0 = time.monotonic()
    good = sum(one_report(report, i) for i in range(1, REPORTS + 1))
    elapsed = time.monotonic() - t0
    after, _ = fs_counters(d)
    # the root's attributes, report's entry and attributes expire once a
    # second each (a GETATTR follows each LOOKUP): a few per second started
    allowed = 4 * (math.ceil(elapsed) + 1)
    res.check(good == REPORTS, "%d of %d reports bound to their nonces" % (good, REPORTS))
    res.check(after - before <= allowed,
              "%d reports in %.2f s asked %d LOOKUP/GETATTR (at most %d; without the cache "
              "3 a report, %d)" % (REPORTS, elapsed, after - before, allowed, 3 * REPORTS))

    # 3. evidence/ is not looked up again per answer
    evidence = d.path("evidence")
    one_evidence(evidence, 0)  # the path is in the kernel's cache now
    l0, g0, r0 = fs_counts(d)
    t0 = time.monotonic()
    good = sum(one_evidence(evidence, i) for i in range(1, EVIDENCE + 1))
    elapsed = time.monotonic() - t0
    l1, g1, r1 = fs_counts(d)
    print("%d evidence answers in %.2f s: %.2f LOOKUP, %.2f GETATTR, %.2f READ per answer"
          % (EVIDENCE, elapsed, (l1 - l0) / EVIDENCE, (g1 - g0) / EVIDENCE,
             (r1 - r0) / EVIDENCE))
    res.check(good == EVIDENCE, "%d of %d evidence documents bound to their nonces"
              % (good, EVIDENCE))
    # the fresh name each (and an allowance of one a second for evidence/'s
    # entry, which no longer expires: see below)
    allowed = EVIDENCE + math.ceil(elapsed) + 1
    res.check(l1 - l0 <= allowed,
              "%d evidence answers in %.2f s asked %d LOOKUP (at most %d; without "
              "evidence/ cached 2 an answer, %d)"
              % (EVIDENCE, elapsed, l1 - l0, allowed, 2 * EVIDENCE))
    # the fresh name's attributes come with its LOOKUP: no GETATTR for the
    # permission check at open; one for the size of the stored answer (and
    # an allowance of one a second for the root and evidence/)
    allowed = EVIDENCE + 2 * (math.ceil(elapsed) + 1)
    res.check(g1 - g0 <= allowed,
              "%d evidence answers in %.2f s asked %d GETATTR (at most %d; without the "
              "names' attributes cached 3 an answer, %d)"
              % (EVIDENCE, elapsed, g1 - g0, allowed, 3 * EVIDENCE))
    res.check(r1 - r0 == 0,
              "%d evidence answers read from the page cache: %d READ reached snpd "
              "(2 an answer without the store)" % (EVIDENCE, r1 - r0))
    # the root's and evidence/'s entry and attributes outlive the 1 s cache
    # of the rest (DIR_TIMEOUT): after 1.5 s an answer still costs one LOOKUP
    # (its name) and one GETATTR (its size). With 1 s, every walker on its
    # way at an expiry asked its own, hundreds at once with 1,000 readers.
    time.sleep(1.5)
    l0, g0, _ = fs_counts(d)
    good = one_evidence(evidence, EVIDENCE + 1)
    l1, g1, _ = fs_counts(d)
    # (a second GETATTR if the machine stalls the reader for 1 s between two steps)
    res.check(good and l1 - l0 == 1 and g1 - g0 <= 2,
              "an answer 1.5 s later: %d LOOKUP, %d GETATTR (1 and 1: the path is still "
              "cached; 2 and 3 without)" % (l1 - l0, g1 - g0))

    # 2. reloads show new owners and modes at once
    opener = subprocess.Popen(["setpriv", "--reuid", str(NOBODY), "--regid", str(NOBODY),
                               "--clear-groups", sys.executable, "-c", OPENER, report],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        res.check(opener.stdout.readline().strip() == "ready", "uid 65534 is ready")
        # mode and owner, mode alone, owner alone, back
        steps = [("0600", "0440", "root"), ("0666", "0444", str(NOBODY)),
                 ("0644", "0400", str(NOBODY)), ("0644", "0444", "root"),
                 ("0666", "0444", "root")]
        prev = ("0666", "0444", "root")
        for report_mode, mode, user in steps:
            # the old attributes in the kernel's cache, by both users' walks
            os.stat(d.mnt)
            for name in ("report", "report.json", "nonce", "evidence"):
                os.stat(d.path(name))
            one_report(report, 1000)
            want_prev = nobody_may_write(prev[0], prev[2])
            res.check(nobody_open(opener) == want_prev,
                      "before the reload, uid 65534 %s report (ReportMode=%s, User=%s)"
                      % ("opens" if want_prev == "ok" else "may not open", prev[0], prev[2]))
            d.write_config(config(report_mode, mode, user))
            d.reload()
            uid = 0 if user == "root" else int(user)
            got = {name: os.stat(d.path(name) if name else d.mnt)
                   for name in ("", "report", "report.json", "nonce", "evidence")}
            res.check(got["report"].st_mode & 0o7777 == int(report_mode, 8),
                      "right after the reload report has mode %s (%o)"
                      % (report_mode, got["report"].st_mode & 0o7777))
            res.check(got["report.json"].st_mode & 0o7777 == int(mode, 8),
                      "right after the reload report.json has mode %s (%o)"
                      % (mode, got["report.json"].st_mode & 0o7777))
            res.check(all(s.st_uid == uid for s in got.values()),
                      "right after the reload the root, report, report.json, nonce/ and evidence/ "
                      "belong to uid %d (%s)" % (uid, [s.st_uid for s in got.values()]))
            want = nobody_may_write(report_mode, user)
            res.check(nobody_open(opener) == want,
                      "right after the reload uid 65534 %s report (ReportMode=%s, User=%s)"
                      % ("opens" if want == "ok" else "may not open", report_mode, user))
            prev = (report_mode, mode, user)
    finally:
        opener.stdin.close()
        opener.wait()

res.done()
