# SPDX-License-Identifier: Apache-2.0
"""Evidence when the host changes REPORTED_TCB while snpd runs (a firmware
update, SNP_COMMIT): the collateral snpd holds (VCEK, chain) is that of the
view's reference report, and snpd never serves it with a report of another
TCB. Against the simulator, whose params file is edited while snpd runs
(the simulator then issues the VCEK of the new TCB). Shows:
 - evidence verifies (snpctl verify); the host raises the TCB; the next
   GET /v1/evidence is 503 collateral-stale with Retry-After, never 200;
   snpd refreshes its view by itself (no SIGHUP): evidence verifies again
   with the new TCB and the static files show it; the change is logged
   once, with the old and the new TCB;
 - the same over FUSE: evidence/<hex> fails with EBUSY, then verifies;
 - GET /v1/report?certs=1 with a host that gives no certificates (so the
   view's are attached): 503 collateral-stale, then the VCEK of the new
   TCB (KDS emulator);
 - a batch whose report matches a view that a reload replaced while the
   batch was on the device, the new view's collateral still pending: 503
   collateral-unavailable, never a document without the VCEK;
 - a host flapping the TCB: evidence is served (at least one 200) and every
   200 verifies with the host's TCB, and snpd refreshes its view at most as
   often as its backoff allows (1 s doubling);
 - raw reports of other uids fill QueueSize= when the batch comes back
   stale: the view's refresh takes the reference report's own place in the
   broker and is not refused (it was: "Cannot ask for a reference report:
   Device or resource busy", the view kept the old TCB), evidence verifies
   with the new TCB while raw reports fill the queue again, and a SIGHUP
   with a full queue reloads."""

import base64
import collections
import errno
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("SNP_TOP_SRCDIR", os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(SRC, "tests", "helpers"))
import snpd_harness as h  # noqa: E402
import snptest as t  # noqa: E402

h.need_fuse()
h.need_cryptography()
import kdsemu  # noqa: E402

LIMIT = 120  # seconds before a wait is called a failure (never a pass condition)
res = t.Results()


def http_evidence(d, tmp):
    """One GET /v1/evidence: (status, Retry-After, problem type, TCB of its
    report or None, snpctl verify rc or None, verify output)."""
    nonce = os.urandom(32).hex()
    st, hd, data = h.api_get_full(d, "/v1/evidence?nonce=" + nonce, timeout=120)
    ra = hd.get("retry-after")
    if st != 200:
        return st, ra, h.problem_type(data), None, None, data[-300:]
    doc = json.loads(data)
    rc, out = h.snpctl_verify_evidence(d, tmp, data, nonce)
    return st, ra, None, h.report_tcb(base64.b64decode(doc["report"])), rc, out


def until_served(fetch, what):
    """h.until_served(): served is 200 (HTTP) or 0 (a FUSE read)."""
    return h.until_served(res, fetch, what, LIMIT, served=(0, 200))


def changes_logged(log, old, new):
    return sum(1 for ln in log.splitlines()
               if "0x%016x" % old in ln and "0x%016x" % new in ln and "changed" in ln)


def scenario_evidence(top):
    """HTTP, then FUSE: refused while the view is stale, then served again."""
    tmp = os.path.join(top, "ev")
    os.makedirs(tmp)
    d = h.Daemon(tmp=tmp, config="[Daemon]\nLogWriters=0\n")
    log = ""
    try:
        d.start()
        old = h.view_tcb(d)
        a, _ = until_served(lambda: http_evidence(d, tmp), "start")
        res.check(a is not None and a[3] == old and a[4] == 0,
                  "start: evidence verifies, TCB 0x%x (%r)" % (old, a and a[5][-200:]))

        # a firmware update: microcode SPL (byte 7 in every layout) + 1
        new = old + (1 << 56)
        h.sim_set_tcb(d.sim, new)
        st, ra, typ, tcb, rc, out = http_evidence(d, tmp)
        res.check(st == 503 and typ == "collateral-stale" and ra and int(ra) >= 1,
                  "TCB raised: the next /v1/evidence is 503 collateral-stale with "
                  "Retry-After (%r %r %r; TCB %r, verify rc %r)" % (st, typ, ra, tcb, rc))
        a, seen = until_served(lambda: http_evidence(d, tmp), "HTTP after the change")
        res.check(all(s[0] in (200, 503) for s in seen) and
                  all(s[2] in ("collateral-stale", "collateral-unavailable")
                      for s in seen if s[0] == 503),
                  "meanwhile only collateral-stale or collateral-unavailable: %r" %
                  [(s[0], s[2]) for s in seen])
        res.check(a is not None and a[3] == new and a[4] == 0,
                  "then evidence verifies with the new TCB 0x%x (%r)" % (
                      new, a and (a[3], a[5][-300:])))
        res.check(h.view_tcb(d) == new, "the view shows the new TCB without a reload: 0x%x" %
                  (h.view_tcb(d) or 0))
        s = h.fuse_status(d)
        res.check(s.get("reloads") == 0 and s["collateral"].get("stale_reports", 0) >= 1,
                  "no SIGHUP; status counts the stale report (%r)" % s["collateral"])

        # FUSE: another update
        newer = new + (1 << 56)
        h.sim_set_tcb(d.sim, newer)
        e, tcb, rc, _ = h.fuse_evidence(d, tmp)
        res.check(e == errno.EBUSY,
                  "TCB raised again: evidence/<hex> fails with EBUSY (%s, TCB %r, rc %r)" % (
                      errno.errorcode.get(e, e), tcb, rc))
        a, seen = until_served(lambda: h.fuse_evidence(d, tmp), "FUSE after the change")
        res.check(all(s[0] in (0, errno.EBUSY) for s in seen),
                  "meanwhile only EBUSY: %r" % [s[0] for s in seen])
        res.check(a is not None and a[1] == newer and a[2] == 0,
                  "then FUSE evidence verifies with the newer TCB 0x%x (%r)" % (
                      newer, a and (a[1], a[3][-300:])))
        a, _ = until_served(lambda: http_evidence(d, tmp), "HTTP after the second change")
        res.check(a is not None and a[3] == newer and a[4] == 0,
                  "and over HTTP (TCB %r)" % (a and a[3]))
    finally:
        log = h.stop_clean(d, res)
    res.check(changes_logged(log, old, new) == 1 and changes_logged(log, new, newer) == 1,
              "each change logged once with the old and new TCB (%d, %d)" % (
                  changes_logged(log, old, new), changes_logged(log, new, newer)))


def scenario_report_certs(top):
    """The host gives no certificates: /v1/report?certs=1 attaches the view's."""
    tmp = os.path.join(top, "rc")
    os.makedirs(tmp)
    sim = os.path.join(tmp, "sim")
    h.sim_init(sim)
    h.sim_set_params(sim, host_certs="none")
    emu = kdsemu.Emulator(sim)
    emu.set(mode="normal", any_tcb=1)
    d = h.Daemon(tmp=tmp, sim_dir=sim, config="[Daemon]\nKdsUrl=%s\n" % emu.url)
    try:
        d.start()
        old = h.view_tcb(d)
        a, _ = until_served(lambda: h.report_certs(d) if h.fuse_status(d)["collateral"].get(
            "state") == "complete" else (503, "waiting", None, None), "collateral from KDS")
        res.check(a is not None and a[2] == old and a[3] == old >> 56,
                  "start: the report and the view's VCEK are of TCB 0x%x (%r)" % (old, a))
        new = old + (1 << 56)
        h.sim_set_tcb(sim, new)
        a = h.report_certs(d)
        res.check(a[0] == 503 and a[1] == "collateral-stale",
                  "TCB raised: /v1/report?certs=1 is 503 collateral-stale (%r)" % (a,))
        a, seen = until_served(lambda: h.report_certs(d), "report with certs after the change")
        res.check(all(s[3] in (None, s[2] >> 56) for s in seen if s[0] == 200),
                  "never a VCEK of another TCB than the report's: %r" % seen)
        # the VCEK of the new TCB comes from KDS after the view's refresh
        a, _ = until_served(lambda: h.report_certs(d) if h.fuse_status(d)["collateral"].get(
            "state") == "complete" else (503, "waiting", None, None), "new VCEK")
        res.check(a is not None and a[2] == new and a[3] == new >> 56,
                  "then the VCEK of the new TCB 0x%x (%r)" % (new, a))
    finally:
        h.stop_clean(d, res)
        emu.stop()


def scenario_reload_race(top):
    """A batch whose report matches a view replaced while it was on the
    device, whose collateral is still being looked up: no document without
    its endorsement key (503 collateral-unavailable), then served. Made
    deterministic: the device is held while SIGHUP's reference report and
    then the batch wait for it, and the new view's collateral pass is held
    up opening TrustArk=, a file on tests/helpers/held-file (a slow disk)."""
    tmp = os.path.join(top, "rr")
    os.makedirs(tmp)
    sim = os.path.join(tmp, "sim")
    h.sim_init(sim)
    trust_src = os.path.join(tmp, "trusted-ark.pem")
    shutil.copy(os.path.join(sim, "ark.pem"), trust_src)
    hf = h.HeldFile(tmp, trust_src)
    d = h.Daemon(tmp=tmp, sim_dir=sim, config="[Daemon]\nLogWriters=0\n",
                 args=["--trust-ark", hf.path])
    held = None
    try:
        d.start()
        a, _ = until_served(lambda: http_evidence(d, tmp), "start")
        old = h.view_tcb(d)
        res.check(a is not None and a[4] == 0, "start: evidence verifies")
        held = h.DeviceHeld(d)
        # held only once the configuration is read and the reload's own
        # reference report is on the held device: one more reload, one more
        # reference report than before the SIGHUP, that one in flight. The
        # wait's first look is before the SIGHUP, and must not hold.
        s0 = h.fuse_status(d)

        def reload_on_device(_):
            s = h.fuse_status(d)
            return (s["reloads"] == s0["reloads"] + 1 and
                    s["reference_reports"] == s0["reference_reports"] + 1 and
                    s["reloading"] and s["broker"]["device_busy"])

        def sighup():
            d.proc.send_signal(signal.SIGHUP)
            d.wait_for("RELOADING=1")

        h.wait_evidence_across(res, d, "SIGHUP: the configuration is read, its reference "
                               "report on the device", reload_on_device, sighup)
        hf.hold()
        new = old + (1 << 56)
        h.sim_set_tcb(sim, new)
        out = []
        th = threading.Thread(target=lambda: out.append(http_evidence(d, tmp)))
        # the batch sent (one more than before) and in flight, waiting in
        # the broker's queue behind the reference report on the held device
        e0 = h.evidence_status(d)
        ok = h.wait_evidence_across(res, d, "the batch is sent",
                                    lambda e: e["batches"] == e0["batches"] + 1 and
                                    e["in_flight"] >= 1, th.start)
        s = h.fuse_status(d)
        res.check(ok and s["broker"]["queue_depth"] == 1 and s["reloading"] and
                  s["reference_reports"] == s0["reference_reports"] + 1,
                  "the batch waits behind the reference report (queue depth %d, reloading %r)"
                  % (s["broker"]["queue_depth"], s["reloading"]))
        # nothing has opened TrustArk= since the hold: the view is the old one
        before = hf.waiting()
        held.release()
        held = None
        th.join(LIMIT)
        a = out[0] if out else None
        res.check(a is not None and a[0] == 503 and a[2] == "collateral-unavailable",
                  "the view changed under the batch, its collateral pending: 503 "
                  "collateral-unavailable, not a document without it (%r)" % (a and a[:5],))
        ok = hf.wait_held(LIMIT)
        hf.release()
        res.check(not before and ok, "the collateral worker was held opening TrustArk= once "
                  "the new view was taken (not before: %r), then let go" % before)
        a, seen = until_served(lambda: http_evidence(d, tmp), "after the collateral")
        res.check(a is not None and a[3] == new and a[4] == 0,
                  "then evidence verifies with the new TCB (%r)" % (a and a[3],))
    finally:
        if held:
            held.release()
        hf.release()  # a held open would hold snpd's stop
        try:
            h.stop_clean(d, res)
        finally:
            hf.stop()  # HelperFailed unless held-file ended cleanly


def scenario_flapping(top):
    """The host flaps the TCB: nothing stale is served, refreshes back off."""
    tmp = os.path.join(top, "fl")
    os.makedirs(tmp)
    d = h.Daemon(tmp=tmp, config="[Daemon]\nLogWriters=0\n")
    try:
        d.start()
        a, _ = until_served(lambda: http_evidence(d, tmp), "start")
        base = h.view_tcb(d)
        refs0 = h.fuse_status(d)["reference_reports"]
        t0 = time.monotonic()
        answers = []
        # 12 flaps, and on until one is served (a 200): once the view has
        # taken one of the two TCBs, every other answer is of the view's
        # TCB; a busy machine may take longer for its collateral (bounded)
        i = 0
        while i < 12 or (not any(x[0] == 200 for x in answers) and
                         time.monotonic() - t0 < LIMIT):
            tcb = base + ((i % 2) + 1 << 56)
            h.sim_set_tcb(d.sim, tcb)
            st, ra, typ, got, rc, out = http_evidence(d, tmp)
            answers.append((st, typ, got, tcb, rc))
            i += 1
            if i > 12:
                time.sleep(0.05)  # paced while it waits for a 200
        elapsed = time.monotonic() - t0
        refs = h.fuse_status(d)["reference_reports"] - refs0
        served = [x for x in answers if x[0] == 200]
        bad = [x for x in served if x[2] != x[3] or x[4] != 0]
        kinds = collections.Counter((x[0], x[1]) for x in answers)
        res.check(bool(served) and not bad and all(x[0] in (200, 503) for x in answers),
                  "flapping host: some served (%d of %d), every 200 verifies with the host's "
                  "TCB, the rest 503 (%r; not verified: %r)" % (
                      len(served), len(answers), sorted(kinds.items(), key=str), bad[:3]))
        # refreshes at 0, 1, 3, 7 ... s after the first: one more for the
        # timer's last, should the test end just before it
        bound = int(math.log2(elapsed + 1)) + 2
        res.check(refs <= bound,
                  "flapping host: %d reference reports in %.1f s (at most %d)" % (
                      refs, elapsed, bound))
        res.check(d.proc.poll() is None, "snpd still serving")
    finally:
        h.stop_clean(d, res)


RAW_READER = "import sys\nwith open(sys.argv[1], 'rb') as f:\n    f.read()\n"
OTHER_UIDS = (65534, 65533)


def start(target):
    th = threading.Thread(target=target)
    th.start()
    return th


def raw_fuse(d, uid, out, key):
    """As @uid, read the report file (a raw report, a client of its own):
    out[key] = (rc, stderr)."""
    try:
        p = subprocess.run(["setpriv", "--reuid", str(uid), "--regid", str(uid),
                            "--clear-groups", "/usr/bin/python3", "-c", RAW_READER,
                            d.path("report")], capture_output=True, text=True, timeout=LIMIT)
        out[key] = (p.returncode, p.stderr[-300:])
    except subprocess.TimeoutExpired as e:
        out[key] = (None, repr(e))


def broker(d):
    return h.fuse_status(d)["broker"]


def fill_queue(d, tmp, out, tag):
    """With the device held: a raw report (root, HTTP) on the device, an
    evidence batch in its own place, raw FUSE reads of two other uids in
    both QueueSize=2 places. Returns (the hold, the client threads);
    out[tag + ...] gets the answers."""
    held = h.DeviceHeld(d)
    threads = [start(lambda: out.__setitem__(tag + "raw", h.api_get(
        d, "/v1/report?nonce=" + os.urandom(32).hex(), timeout=120)))]
    ok = h.wait_until(lambda: broker(d)["device_busy"])
    threads.append(start(lambda: out.__setitem__(tag + "ev", http_evidence(d, tmp))))
    ok = ok and h.wait_until(lambda: broker(d)["queue_depth"] == 1)
    for i, uid in enumerate(OTHER_UIDS):
        threads.append(start(lambda uid=uid: raw_fuse(d, uid, out, "%sfuse%d" % (tag, uid))))
        ok = ok and h.wait_until(lambda: broker(d)["queue_depth"] == 2 + i)
    res.check(ok, "%s: a raw report on the held device, a batch waits in its place, raw "
              "reads of two other uids fill QueueSize=2 (depth %d)" % (
                  tag, broker(d)["queue_depth"]))
    return held, threads


def raws_answered(out, tag):
    got = [out.get(tag + "raw", (None,))[0]] + [
        out.get("%sfuse%d" % (tag, uid), (None,))[0] for uid in OTHER_UIDS]
    res.check(got == [200, 0, 0], "%s: the raw reports are answered (%r)" % (tag, got))


def idle(d):
    b = broker(d)
    return b["queue_depth"] == 0 and not b["device_busy"] and not h.fuse_status(d)["reloading"]


def scenario_queue_full(top):
    """The reproduction of the review: the view's refresh (and a SIGHUP's
    reference report) with raw requests filling QueueSize=."""
    if not shutil.which("setpriv"):
        print("SKIP: queue full: setpriv (util-linux) not found")
        return
    tmp = os.path.join(top, "qf")
    os.makedirs(tmp)
    d = h.Daemon(tmp=tmp, config="[Daemon]\nLogWriters=0\nQueueSize=2\nBatchWindowMSec=0\n")
    held = None
    threads = []
    try:
        d.start()
        a, _ = until_served(lambda: http_evidence(d, tmp), "start")
        old = h.view_tcb(d)
        res.check(a is not None and a[4] == 0, "queue full: start: evidence verifies")
        refs = h.fuse_status(d)["reference_reports"]

        out = {}
        held, threads = fill_queue(d, tmp, out, "stale")
        new = old + (1 << 56)
        h.sim_set_tcb(d.sim, new)
        held.release()
        held = None
        for th in threads:
            th.join(LIMIT)
        a = out.get("staleev")
        res.check(a is not None and a[0] == 503 and a[2] == "collateral-stale",
                  "TCB raised under a full queue: the batch is 503 collateral-stale (%r)" %
                  (a and a[:3],))
        raws_answered(out, "stale")
        res.check(h.wait_until(lambda: idle(d)), "the broker is idle again")
        log = d.read_log()
        res.check("Cannot ask for a reference report" not in log,
                  "the view's refresh is not refused by the full queue (%r)" % [
                      ln for ln in log.splitlines() if "reference report" in ln][-3:])
        s = h.fuse_status(d)
        res.check(h.view_tcb(d) == new and s["reference_reports"] == refs + 1,
                  "the view took the new TCB 0x%x from one reference report (0x%x, %d)" % (
                      new, h.view_tcb(d) or 0, s["reference_reports"] - refs))
        res.check(not s["last_reload_failed"] and s["reloads"] == 0,
                  "no reload, none failed (%r %r)" % (s["last_reload_failed"], s["reloads"]))

        # the new TCB's collateral is looked up after the view took it: until
        # its endorsement key is in, evidence is 503 collateral-unavailable at
        # once and never waits in the queue (a loaded machine takes its time)
        a, seen = until_served(lambda: http_evidence(d, tmp), "the new TCB's collateral")
        res.check(all(x[0] == 200 or (x[0] == 503 and x[2] == "collateral-unavailable")
                      for x in seen),
                  "until the new TCB's collateral is in: only 503 collateral-unavailable (%r)" %
                  [(x[0], x[2]) for x in seen])
        res.check(a is not None and a[3] == new and a[4] == 0,
                  "evidence verifies with the new TCB before the queue is filled again")

        # the queue full again, and a SIGHUP's reference report in it
        out = {}
        held, threads = fill_queue(d, tmp, out, "full")
        d.proc.send_signal(signal.SIGHUP)
        d.wait_for("RELOADING=1")
        ok = h.wait_until(lambda: broker(d)["queue_depth"] == 4)
        res.check(ok, "SIGHUP with a full queue: its reference report waits in its own place "
                  "(depth %d)" % broker(d)["queue_depth"])
        held.release()
        held = None
        for th in threads:
            th.join(LIMIT)
        a = out.get("fullev")
        res.check(a is not None and a[0] == 200 and a[3] == new and a[4] == 0,
                  "while raw reports fill the queue, evidence verifies with the new TCB "
                  "0x%x (%r)" % (new, a and (a[0], a[2], a[3], a[5][-300:])))
        raws_answered(out, "full")
        msg = d.wait_for("READY=1")
        res.check("reload" not in msg, "the reload succeeded (%r)" % msg)
        res.check(h.wait_until(lambda: idle(d)), "the broker is idle again")
        s = h.fuse_status(d)
        res.check(not s["last_reload_failed"] and s["reloads"] == 1 and
                  s["reference_reports"] == refs + 2,
                  "status: one reload, not failed, its reference report taken (%r %r %d)" % (
                      s["last_reload_failed"], s["reloads"], s["reference_reports"] - refs))
    finally:
        if held:
            held.release()
        for th in threads:
            th.join(LIMIT)
        h.stop_clean(d, res)


def main():
    top = tempfile.mkdtemp(prefix="snpd-tcb-change-")
    os.chmod(top, 0o755)
    try:
        scenario_evidence(top)
        scenario_report_certs(top)
        scenario_reload_race(top)
        scenario_flapping(top)
        scenario_queue_full(top)
    finally:
        shutil.rmtree(top, ignore_errors=True)
    res.done()


main()
