# SPDX-License-Identifier: Apache-2.0
"""A host whose certificate table is larger than the guest takes.

Linux's sev-guest driver takes at most 16 KiB of certificates
(SEV_FW_BLOB_MAX_SIZE; a larger or unaligned certs_len is EINVAL before
any request, in 6.1 as now, and configfs-tsm asks with exactly 16 KiB).
When the host answers "too small" and asks for more (the simulator's
fault certs_small with certs_pages=P: the host asks for P pages), snpd
must not ask again with a size the driver refuses, must say what the host
asked for, and must go on without the host's table, taking its
certificates from KDS (the emulator here), asking the host again with
backoff:

 1. such a host at start, for good (a hostile one asking for 4 GiB):
    snpd starts, READY=1 says why the host's certificates are not
    taken; the log says it once however often the host is asked again;
    /v1/status says what the host asked for; reports are served and
    evidence verifies with KDS's certificates; health is ok;
 2. such a host at start that then fixes its table (three refusals):
    once the table fits it is taken again, logged once, and the status
    clears;
 3. a refresh of the view for the host's change (a firmware update) that
    meets such a host: the refresh takes its reference report without the
    table, the view is of the new platform and evidence of the new TCB
    verifies, never logged as a failed refresh;
 4. a SIGHUP after a firmware update that meets such a host: the reload
    does not fail, the view is of the new platform."""

import base64
import json
import os
import shutil
import sys
import tempfile
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
NOT_FIT = "The host's certificate table does not fit: "
TAKEN = "The host's certificate table is taken again"
STALE_FAIL = "The view's refresh for the host's change failed"
res = t.Results()


def ready_status(d):
    for m in reversed(d.messages):
        lines = m.split("\n")
        if "READY=1" in lines:
            return ([ln for ln in lines if ln.startswith("STATUS=")] or [""])[0]
    return ""


def status(d):
    return h.api_status(d, timeout=120)


def evidence(d, tmp):
    """GET /v1/evidence: (HTTP status, TCB of its report, snpctl verify rc)."""
    nonce = os.urandom(32).hex()
    st, data = h.api_get(d, "/v1/evidence?nonce=" + nonce, timeout=120)
    if st != 200:
        return st, None, None
    doc = json.loads(data)
    rc, _ = h.snpctl_verify_evidence(d, tmp, data, nonce)
    return st, h.report_tcb(base64.b64decode(doc["report"])), rc


def evidence_verifies(d, tmp, what, tcb=None):
    """Check that GET /v1/evidence is served within LIMIT s (polled every
    0.2 s while snpd runs), of TCB @tcb when given, and verifies."""
    end = time.monotonic() + LIMIT
    a = None
    while time.monotonic() < end and d.proc.poll() is None:
        a = evidence(d, tmp)
        if a[0] == 200:
            break
        time.sleep(0.2)
    else:
        res.check(False, "%s: evidence never served (last %r)" % (what, a))
        a = None
    res.check(a is not None and (tcb is None or a[1] == tcb) and a[2] == 0,
              "%s (%r)" % (what, a))


def raise_tcb(d, old):
    """A firmware update of @d's simulator: the microcode SPL of @old + 1."""
    new = old + (1 << 56)
    h.sim_set_tcb(d.sim, new)
    return new


def started(d):
    try:
        d.start()
        return True
    except RuntimeError as e:
        res.check(False, "snpd did not start: %s" % str(e)[-600:])
        return False


def scenario(top, chip, emu, name, faults, body):
    """Scenario @name: a daemon on a copy of the emulator's @chip (same
    secrets, own state) whose host has @faults; once it started,
    body(its directory, it). Always stopped and checked."""
    tmp = os.path.join(top, name)
    os.makedirs(tmp)
    shutil.copytree(chip, os.path.join(tmp, "sim"))
    d = h.Daemon(tmp=tmp, config="[Daemon]\nKdsUrl=%s\n" % emu.url,
                 env={"SNP_SIM_FAULTS": faults})
    try:
        if started(d):
            body(tmp, d)
    finally:
        h.stop_clean(d, res)


def needs(pages):
    """What snpd says of a host asking for @pages pages."""
    return "the host's certificate table needs %d bytes, more than the guest's 16384" % (
        pages * 4096)


def refusal_logged_once(d, want, what):
    """The log says once that the host's table does not fit, with @want:
    that line."""
    lines = h.log_lines(d, NOT_FIT)
    res.check(len(lines) == 1 and want in lines[0],
              "%s: the host's size logged once (%r)" % (what, lines))
    return lines[0] if lines else ""


def for_good(tmp, d):
    """A host asking for 0xfffff pages at every extended request."""
    want = needs(0xfffff)
    st = ready_status(d)
    res.check(st.startswith("STATUS=Serving:") and
              "without the host's certificates: " + want in st,
              "for good: READY=1, serving, says why the host's certificates are not "
              "taken (%r)" % st)
    s = status(d)
    hc = s.get("host_certs") or {}
    res.check(s.get("health") == "ok" and hc.get("needed_bytes") == 4294963200 and
              hc.get("guest_bytes") == 16384 and want in hc.get("error", "") and
              want in (s.get("collateral", {}).get("host_table") or ""),
              "for good: /v1/status: health ok, host_certs and collateral.host_table say "
              "what the host asked for (%r)" % hc)
    nxt = hc.get("next_retry_in_ms", "missing")
    res.check(nxt is None or (isinstance(nxt, int) and
                              0 <= nxt <= hc.get("retry_backoff_ms", -1)),
              "for good: next_retry_in_ms is what is left of the backoff, or null while "
              "asking (%r)" % hc)
    with open(d.path("report"), "rb") as f:
        res.check(len(f.read()) == 1184, "for good: reports are served")
    evidence_verifies(d, tmp, "for good: evidence verifies with KDS's certificates")
    # the host is asked again (1 s, then 2 s): still said once
    refs = s["reference_reports"]
    ok = h.wait_until(lambda: status(d)["reference_reports"] >= refs + 2, tries=LIMIT * 20)
    res.check(ok, "for good: the host is asked again with backoff (%d reference reports)" %
              status(d)["reference_reports"])
    line = refusal_logged_once(d, want, "for good")
    res.check(line.startswith("<4>"), "for good: logged as a warning (%r)" % line)
    res.check(not h.log_lines(d, TAKEN) and not h.log_lines(d, "Invalid argument"),
              "for good: never taken, never EINVAL")


def fixed(tmp, d):
    """Three refusals (the start's, the retries after 1 s and 2 s), then it fits."""
    ok = h.wait_until(lambda: h.log_lines(d, TAKEN), tries=LIMIT * 20)
    res.check(ok, "fixed: the host's table is taken once it fits")
    refusal_logged_once(d, needs(5), "fixed")
    res.check(len(h.log_lines(d, TAKEN)) == 1, "fixed: taken again, logged once")
    s = status(d)
    res.check(s.get("host_certs") is None and s.get("health") == "ok" and
              s["reference_reports"] >= 5,
              "fixed: the status clears (%r, %d reference reports)" % (
                  s.get("host_certs"), s["reference_reports"]))
    evidence_verifies(d, tmp, "fixed: evidence verifies")


def refresh(tmp, d):
    """The start's reference report fits; the refresh for a TCB change does not."""
    old = h.view_tcb(d)
    evidence_verifies(d, tmp, "refresh: at start evidence verifies (TCB 0x%x)" % old, old)
    new = raise_tcb(d, old)
    evidence_verifies(d, tmp, "refresh: evidence of the new TCB 0x%x verifies" % new, new)
    res.check(h.view_tcb(d) == new, "refresh: the view is of the new TCB")
    refusal_logged_once(d, needs(6), "refresh")
    res.check(not h.log_lines(d, STALE_FAIL) and not h.log_lines(d, "Invalid argument"),
              "refresh: not a failed refresh, never EINVAL")
    ok = h.wait_until(lambda: h.log_lines(d, TAKEN) and status(d).get("host_certs") is None,
                      tries=LIMIT * 20)
    res.check(ok, "refresh: the host is asked again and its table taken")


def reload(tmp, d):
    """A SIGHUP after a firmware update meets the host's large table."""
    new = raise_tcb(d, h.view_tcb(d))
    msg = d.reload()
    res.check("last reload failed" not in msg and
              "without the host's certificates: the host's certificate table needs "
              "24576 bytes" in msg,
              "reload: READY=1 of the reload does not fail, says the host's size (%r)" %
              msg)
    res.check(h.view_tcb(d) == new and not status(d)["last_reload_failed"],
              "reload: the view is of the new TCB, no failed reload")
    res.check(len(h.log_lines(d, "Reloaded")) == 1 and
              not h.log_lines(d, "keeping the previous view"),
              "reload: logged as a reload, not as a failure")
    evidence_verifies(d, tmp, "reload: evidence of the new TCB verifies", new)


def main():
    top = tempfile.mkdtemp(prefix="snpd-host-certs-")
    os.chmod(top, 0o755)
    emu = None
    try:
        # one chip for the KDS emulator; every daemon runs on a copy of it
        chip = os.path.join(top, "chip")
        h.sim_init(chip)
        emu = kdsemu.Emulator(chip)
        scenario(top, chip, emu, "for-good", "certs_small=1000000,certs_pages=1048575",
                 for_good)
        scenario(top, chip, emu, "fixed", "certs_small=3,certs_pages=5", fixed)
        scenario(top, chip, emu, "refresh", "after=1,certs_small=1,certs_pages=6", refresh)
        scenario(top, chip, emu, "reload", "after=1,certs_small=1,certs_pages=6", reload)
    finally:
        if emu:
            emu.stop()
        shutil.rmtree(top, ignore_errors=True)
    res.done()


main()
