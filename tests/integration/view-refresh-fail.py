# SPDX-License-Identifier: Apache-2.0
"""A refresh of the view whose own reference report fails on the device.
The simulated host answers the extended request (the one that asks for
the certificate table) once with "certificate area too small" while asking
for less than the guest's 16 KiB (faults certs_small=1,certs_pages=2: a
host contradicting itself, an error of the host; a table that is really
larger than a guest takes is host-certs-large.py, and is no failure); the
driver keeps its key, as Linux does for this error. Only the reference
report asks for certificates, so exactly the refresh's reference report
fails, never a client's request. Shows:
 - a refresh for the host's change (a stale evidence report): the failure
   is logged once with the wording of daemon/snpd.c; snpd keeps serving
   reports, certificates and the static files, all of the old platform
   (tcb, platform.json, /v1/platform, the VCEK's TCB) while the device's
   reports carry the new one; evidence stays refused (503
   collateral-stale, FUSE EBUSY), never served with the old VCEK; no
   reload is counted as failed; health stays ok, but the status
   (stale_view: the change, the failure, no refresh armed), the body of
   /healthz (200, a second line after "ok") and the systemd status line
   say the view is stale and its refresh failed; the next stale report
   after the backoff refreshes the view, evidence of the new TCB
   verifies and all of them say nothing of it any more;
 - a SIGHUP after a firmware update whose reference report fails: the
   previous view stays (old TCB everywhere, same generation), the READY=1
   status line, the status file and GET /v1/status say the last reload
   failed, the log says so once; the next SIGHUP takes the new platform,
   clears it, and evidence of the new TCB verifies."""

import base64
import errno
import json
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import snpd_harness as h  # noqa: E402
import snptest as t  # noqa: E402

h.need_fuse()
h.need_cryptography()

LIMIT = 120  # seconds before a wait is called a failure (never a pass condition)
# the reference report at start passes (one exit); the next extended
# request, the next reference report, is told its 4 pages are too small
# and that 2 would do
FAULTS = "after=1,certs_small=1,certs_pages=2"
STALE_FAIL = "The view's refresh for the host's change failed"
RELOAD_FAIL = "The reference report failed"
# how long the host's first CRL is valid after the simulator is made (the
# start, sanitizers included, must fit)
VALID = 15
res = t.Results()


def http_evidence(d, tmp):
    """GET /v1/evidence: (status, problem type, TCB of its report, verify rc)."""
    nonce = os.urandom(32).hex()
    st, data = h.api_get(d, "/v1/evidence?nonce=" + nonce, timeout=120)
    if st != 200:
        return st, h.problem_type(data), None, None
    doc = json.loads(data)
    rc, _ = h.snpctl_verify_evidence(d, tmp, data, nonce)
    return st, None, h.report_tcb(base64.b64decode(doc["report"])), rc


def fuse_evidence(d):
    """A read of evidence/<hex>: its errno, 0 when served."""
    try:
        with open(d.path("evidence", os.urandom(32).hex()), "rb") as f:
            f.read()
        return 0
    except OSError as e:
        return e.errno


def evidence_served(d, tmp, what):
    """GET /v1/evidence until it is served (h.until_served(), a failure
    after LIMIT s): (the answer, all answers on the way)."""
    return h.until_served(res, lambda: http_evidence(d, tmp), what, LIMIT)


def verifies(a, tcb):
    """Whether the http_evidence() answer @a was served, of TCB @tcb, and
    verified."""
    return a is not None and a[2] == tcb and a[3] == 0


def daemon(top, name):
    """A daemon (not started) in @top/@name on a simulator with FAULTS:
    (its directory, it)."""
    tmp = os.path.join(top, name)
    os.makedirs(tmp)
    return tmp, h.Daemon(tmp=tmp, config="[Daemon]\nLogWriters=0\n",
                         env={"SNP_SIM_FAULTS": FAULTS})


def start_verified(d, tmp, what):
    """Start @d and check that evidence verifies: the view's TCB."""
    d.start()
    old = h.view_tcb(d)
    a, _ = evidence_served(d, tmp, "start")
    res.check(verifies(a, old), "%s: at start evidence verifies (TCB 0x%x)" % (what, old))
    return old


def raise_tcb(d, old):
    """A firmware update of @d's simulator: the microcode SPL of @old + 1."""
    new = old + (1 << 56)
    h.sim_set_tcb(d.sim, new)
    return new


def both_statuses(d):
    """The status file and GET /v1/status, named."""
    return (("status file", h.fuse_status(d)), ("/v1/status", h.api_status(d, timeout=120)))


def count_lines(log, text):
    return len([ln for ln in log.splitlines() if text in ln])


def platform_view(d):
    """What the view and the API say of the platform: REPORTED_TCB of the
    tcb file, of platform.json and of GET /v1/platform, the microcode SPL
    of certs/vcek.pem and of GET /v1/certificates' VCEK."""
    with open(d.path("platform.json")) as f:
        fs_json = json.load(f)
    with open(d.path("certs", "vcek.pem"), "rb") as f:
        fs_vcek = h.vcek_ucode(f.read())
    st, data = h.api_get(d, "/v1/platform", timeout=120)
    api_json = json.loads(data) if st == 200 else {}
    st, data = h.api_get(d, "/v1/certificates", timeout=120)
    # the PEM bundle: the endorsement key first
    api_vcek = h.vcek_ucode(data) if st == 200 else None

    def reported(j):
        v = j.get("reported_tcb") or {}
        return int(v["raw"], 16) if "raw" in v else None
    return h.view_tcb(d), reported(fs_json), reported(api_json), fs_vcek, api_vcek


def check_view_is(d, tcb, what):
    # a new view has its certificates once the collateral worker's pass lands
    h.wait_until(lambda: not h.fuse_status(d)["collateral"]["checking"], tries=LIMIT * 20)
    got = platform_view(d)
    res.check(got == (tcb, tcb, tcb, tcb >> 56, tcb >> 56),
              "%s: tcb, platform.json, /v1/platform say REPORTED_TCB 0x%x and both VCEKs are "
              "of its microcode SPL %d (%r)" % (what, tcb, tcb >> 56, got))
    return got


def serving(d, tcb, what):
    """Raw reports (FUSE, HTTP) are served, of the device's TCB @tcb."""
    with open(d.path("report"), "rb") as f:
        fs_tcb = h.report_tcb(f.read())
    st, data = h.api_get(d, "/v1/report?nonce=" + os.urandom(16).hex(), timeout=120)
    api_tcb = h.report_tcb(base64.b64decode(json.loads(data)["report"])) if st == 200 else st
    st, _ = h.api_get(d, "/healthz", timeout=120)
    res.check(fs_tcb == tcb and api_tcb == tcb and st == 200 and d.proc.poll() is None,
              "%s: snpd serves raw reports of the device's TCB 0x%x (FUSE %r, HTTP %r), "
              "/healthz %r" % (what, tcb, fs_tcb, api_tcb, st))


def notified(d, text):
    """Whether a notification of @d's (READY=1 after the reference report,
    the STATUS= line every 10 s) says @text, within LIMIT s."""
    end = time.monotonic() + LIMIT
    while time.monotonic() < end:
        if any(text in m for m in d.messages):
            return True
        d.next_message()
    return False


def healthz(d):
    """GET /healthz: (status, its body's lines)."""
    st, data = h.api_get(d, "/healthz", timeout=120)
    return st, data.decode(errors="replace").split("\n")


def metric(d, name):
    st, data = h.api_get(d, "/metrics", timeout=120)
    for ln in data.decode().splitlines():
        if ln.startswith(name + " "):
            return int(float(ln.split()[1]))
    return None


def idle(d):
    s = h.fuse_status(d)
    return not s["reloading"] and not s["reload_pending"] and s["broker"]["queue_depth"] == 0 \
        and not s["broker"]["device_busy"]


def scenario_stale(top):
    """The refresh after a stale evidence report fails; the next one works."""
    tmp, d = daemon(top, "stale")
    try:
        old = start_verified(d, tmp, "stale")
        check_view_is(d, old, "stale: at start")
        refs = h.fuse_status(d)["reference_reports"]
        errors = metric(d, 'snpd_device_requests_total{result="error"}')

        new = raise_tcb(d, old)
        a = http_evidence(d, tmp)
        res.check(a[0] == 503 and a[1] == "collateral-stale",
                  "stale: TCB raised: evidence is 503 collateral-stale (%r)" % (a,))
        ok = h.wait_until(lambda: h.log_lines(d, STALE_FAIL) and idle(d), tries=LIMIT * 20)
        res.check(ok, "stale: the view's refresh failed on the device and nothing is in "
                  "flight any more")
        fails = h.log_lines(d, STALE_FAIL)
        res.check(len(fails) == 1 and fails[0].startswith("<3>") and
                  "evidence of the new platform is refused until it succeeds" in fails[0],
                  "stale: the failure is logged once, at error level, saying evidence of the "
                  "new platform is refused (%r)" % fails)
        res.check(not h.log_lines(d, "keeping the previous view") and
                  not h.log_lines(d, "Reloaded"),
                  "stale: not logged as a failed reload nor as a view taken")
        # not only the log: the status, /healthz and the status line say it
        for name, x in both_statuses(d):
            sv = x.get("stale_view") or {}
            res.check(x["health"] == "ok" and "REPORTED_TCB" in sv.get("change", "") and
                      "0x%016x" % new in sv.get("change", "") and sv.get("last_error") and
                      sv.get("refreshing") is False and sv.get("next_refresh_in_ms") is None,
                      "stale: %s: health ok, stale_view says the change to 0x%x, the failure, "
                      "no refresh under way or armed (%r)" % (name, new, x.get("stale_view")))
        st, body = healthz(d)
        res.check(st == 200 and body[0] == "ok" and len(body) == 3 and
                  "the view is stale" in body[1] and "refresh failed" in body[1] and
                  "evidence of the new platform is refused" in body[1] and body[2] == "",
                  "stale: /healthz 200 (liveness), a second line says the view is stale and "
                  "its refresh failed (%r)" % body)
        res.check(notified(d, "the view is stale"),
                  "stale: the systemd status line says the view is stale (%r)" % d.messages[-3:])
        # the state while the view is stale and its refresh failed
        check_view_is(d, old, "stale: after the failed refresh")
        serving(d, new, "stale: after the failed refresh")
        for name, x in both_statuses(d):
            res.check(x["health"] == "ok" and not x["last_reload_failed"] and
                      x["reloads"] == 0 and x["view_generation"] == 1 and
                      x["reference_reports"] == refs + 1 and
                      x["collateral"]["stale_refreshes"] == 1 and
                      x["collateral"]["stale_reports"] >= 1,
                      "stale: %s: health ok, no reload failed, generation 1, one more "
                      "reference report, one refresh (%r)" % (name, {
                          k: x.get(k) for k in ("health", "last_reload_failed", "reloads",
                                                "view_generation", "reference_reports")}))
        res.check(metric(d, 'snpd_device_requests_total{result="error"}') == errors + 1 and
                  metric(d, "snpd_reference_reports_total") == refs + 1,
                  "stale: /metrics counts the failed device request and the reference report")
        # still refused, never served with the old VCEK: HTTP and FUSE;
        # those stale reports start the next refresh (after the backoff)
        e = fuse_evidence(d)
        res.check(e == errno.EBUSY, "stale: FUSE evidence is EBUSY (%s)" %
                  errno.errorcode.get(e, e))
        a, seen = evidence_served(d, tmp, "stale: after the failure")
        res.check(all(x[0] == 503 and x[1] in ("collateral-stale", "collateral-unavailable")
                      for x in seen[:-1]),
                  "stale: meanwhile only 503 collateral-stale/-unavailable (%r)" %
                  [x[:2] for x in seen])
        res.check(verifies(a, new),
                  "stale: the next refresh succeeds: evidence verifies with the new TCB 0x%x "
                  "(%r)" % (new, a))
        res.check(h.wait_until(lambda: idle(d)), "stale: idle again")
        check_view_is(d, new, "stale: after the next refresh")
        s = h.fuse_status(d)
        st, body = healthz(d)
        res.check(s["stale_view"] is None and st == 200 and body == ["ok", ""],
                  "stale: refreshed: stale_view null, /healthz just ok (%r, %r)" % (
                      s["stale_view"], body))
        res.check(s["view_generation"] == 2 and not s["last_reload_failed"] and
                  s["collateral"]["stale_refreshes"] == 2 and
                  s["reference_reports"] == refs + 2,
                  "stale: status: generation 2, two refreshes, two reference reports (%r %r "
                  "%r)" % (s["view_generation"], s["collateral"]["stale_refreshes"],
                           s["reference_reports"] - refs))
    finally:
        log = h.stop_clean(d, res)
    res.check(count_lines(log, STALE_FAIL) == 1, "stale: one failure in the whole log")
    res.check(count_lines(log, "The host changed the platform") == 1 and
              "The view follows the platform's change" in log,
              "stale: the change logged once; the view's catching up logged")
    # after the successful refresh too (the check after the failure runs
    # before any view is taken): a refresh, never logged as a reload
    res.check("Reloaded" not in log and "View refreshed: generation 2" in log,
              "stale: the refresh is logged as one (generation 2), never as a reload")


def scenario_reload(top):
    """A SIGHUP after a firmware update fails; the next one works."""
    tmp, d = daemon(top, "reload")
    try:
        old = start_verified(d, tmp, "reload")
        refs = h.fuse_status(d)["reference_reports"]

        new = raise_tcb(d, old)
        msg = d.reload()
        res.check("last reload failed" in msg,
                  "reload: READY=1 of the failed reload says so (%r)" % msg)
        fails = h.log_lines(d, RELOAD_FAIL)
        res.check(len(fails) == 1 and fails[0].startswith("<3>") and
                  fails[0].endswith("keeping the previous view") and
                  not h.log_lines(d, STALE_FAIL),
                  "reload: the failure is logged once, keeping the previous view (%r)" % fails)
        check_view_is(d, old, "reload: after the failed reload")
        serving(d, new, "reload: after the failed reload")
        for name, x in both_statuses(d):
            res.check(x["last_reload_failed"] and x["reloads"] == 1 and
                      x["view_generation"] == 1 and x["reference_reports"] == refs + 1 and
                      x["collateral"]["stale_reports"] == 0,
                      "reload: %s: last_reload_failed, one reload, generation 1, one more "
                      "reference report, no stale report (%r)" % (name, {
                          k: x.get(k) for k in ("last_reload_failed", "reloads",
                                                "view_generation", "reference_reports")}))

        msg = d.reload()
        res.check("last reload failed" not in msg,
                  "reload: the next SIGHUP succeeds (%r)" % msg)
        check_view_is(d, new, "reload: after the next SIGHUP")
        s = h.fuse_status(d)
        res.check(not s["last_reload_failed"] and s["reloads"] == 2 and
                  s["view_generation"] == 2 and s["reference_reports"] == refs + 2,
                  "reload: status: not failed, two reloads, generation 2 (%r %r %r)" % (
                      s["last_reload_failed"], s["reloads"], s["view_generation"]))
        a, seen = evidence_served(d, tmp, "reload: after the next SIGHUP")
        res.check(verifies(a, new) and all(x[1] == "collateral-unavailable" for x in seen[:-1]),
                  "reload: evidence verifies with the new TCB 0x%x, never stale (%r)" % (
                      new, [x[:3] for x in seen]))
        res.check(h.fuse_status(d)["collateral"]["stale_reports"] == 0,
                  "reload: the view was current: no stale report")
    finally:
        log = h.stop_clean(d, res)
    res.check(count_lines(log, RELOAD_FAIL) == 1, "reload: one failure in the whole log")


def scenario_collateral(top):
    """KdsOffline=yes, the CRL from the host's table: at its nextUpdate the
    reference report that fetches the host's fresh table fails. The
    platform did not change: the view keeps serving, and the failure is
    not said to be a refresh for a host's change."""
    tmp, d = daemon(top, "coll")
    sim = d.sim
    until = int(time.time()) + VALID
    h.sim_set_params(sim, host_crl_this_update=until - 3600, host_crl_next_update=until)
    try:
        d.start()
        ok = h.wait_until(lambda: h.fuse_status(d)["collateral"]["state"] == "complete",
                          tries=LIMIT * 20)
        res.check(ok and h.served_crl_next_update(d) == until,
                  "collateral: complete at start with the host's CRL (nextUpdate %r, want %d)" %
                  (h.served_crl_next_update(d), until))
        old = h.view_tcb(d)
        refs = h.fuse_status(d)["reference_reports"]
        newer = until + 86400
        h.sim_set_params(sim, host_crl_this_update=until - 60, host_crl_next_update=newer)
        ok = h.wait_until(lambda: h.fuse_status(d)["reference_reports"] > refs and idle(d),
                          tries=(VALID + LIMIT) * 20)
        res.check(ok, "collateral: at the CRL's nextUpdate a reference report was asked for "
                  "and answered")
        log = d.read_log()
        fails = h.log_lines(d, "The reference report asked for a fresh host certificate table")
        res.check(len(fails) == 1 and fails[0].startswith("<4>") and
                  "asked again in" in fails[0] and STALE_FAIL not in log and
                  "evidence of the new platform is refused" not in log and
                  "keeping the previous view" not in log,
                  "collateral: its failure is logged once as what it was, not as a refresh "
                  "for a host's change nor a failed reload (%r)" % [
                      ln for ln in log.splitlines() if "failed" in ln])
        a, seen = evidence_served(d, tmp, "collateral: after the failure")
        res.check(verifies(a, old) and len(seen) == 1,
                  "collateral: the platform did not change: evidence verifies at once (%r)" %
                  [x[:3] for x in seen])
        s = h.fuse_status(d)
        res.check(not s["last_reload_failed"] and s["collateral"]["stale_reports"] == 0 and
                  s["health"] == "ok" and h.view_tcb(d) == old,
                  "collateral: no reload failed, no stale report, health ok, the same TCB")
        ok = h.wait_until(lambda: h.served_crl_next_update(d) == newer and
                          h.fuse_status(d)["collateral"]["state"] == "complete", tries=LIMIT * 20)
        res.check(ok, "collateral: asked again later: the host's newer CRL is served (%r)" %
                  h.served_crl_next_update(d))
    finally:
        h.stop_clean(d, res)


def main():
    top = tempfile.mkdtemp(prefix="snpd-view-fail-")
    os.chmod(top, 0o755)
    try:
        scenario_stale(top)
        scenario_reload(top)
        scenario_collateral(top)
    finally:
        shutil.rmtree(top, ignore_errors=True)
    res.done()


main()
