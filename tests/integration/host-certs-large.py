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
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("SNP_TOP_SRCDIR", os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
import snpd_harness as h  # noqa: E402
import snptest as t  # noqa: E402

h.need_fuse()
try:
    import cryptography  # noqa: F401
except ImportError:
    print("SKIP: python3-cryptography missing")
    sys.exit(77)

EMU = os.path.join(SRC, "tests", "helpers", "kds-emulator.py")
LIMIT = 120  # seconds before a wait is called a failure (never a pass condition)
NOT_FIT = "The host's certificate table does not fit: "
TAKEN = "The host's certificate table is taken again"
STALE_FAIL = "The view's refresh for the host's change failed"
res = t.Results()


class Emulator:
    def __init__(self, state):
        self.p = subprocess.Popen([sys.executable, EMU, "--state", state],
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.p.stdout.readline()
        if not line.strip():
            self.p.kill()
            raise RuntimeError("the KDS emulator did not start")
        self.url = "http://127.0.0.1:%d" % int(line)
        self.state = state

    def stop(self):
        self.p.kill()
        self.p.wait()


def call(d, path):
    c = h.UnixHTTPConnection(d.api, timeout=120)
    c.request("GET", path)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data


def status(d):
    st, data = call(d, "/v1/status")
    return json.loads(data) if st == 200 else {}


def log_lines(d, text):
    return [ln for ln in d.read_log().splitlines() if text in ln]


def ready_status(d):
    for m in reversed(d.messages):
        lines = m.split("\n")
        if "READY=1" in lines:
            return ([ln for ln in lines if ln.startswith("STATUS=")] or [""])[0]
    return ""


def evidence(d, tmp):
    """GET /v1/evidence: (HTTP status, TCB of its report, snpctl verify rc)."""
    nonce = os.urandom(32).hex()
    st, data = call(d, "/v1/evidence?nonce=" + nonce)
    if st != 200:
        return st, None, None
    doc = json.loads(data)
    path = os.path.join(tmp, "evidence.json")
    with open(path, "wb") as f:
        f.write(data)
    p = subprocess.run([h.SNPCTL, "verify", path, "--trust-ark", os.path.join(d.sim, "ark.pem"),
                        "--offline", "--nonce", nonce, "--cache-dir",
                        os.path.join(tmp, "verify-cache")],
                       capture_output=True, text=True, timeout=120)
    return st, h.report_tcb(base64.b64decode(doc["report"])), p.returncode


def until_evidence(d, tmp, what):
    end = time.monotonic() + LIMIT
    a = None
    while time.monotonic() < end and d.proc.poll() is None:
        a = evidence(d, tmp)
        if a[0] == 200:
            return a
        time.sleep(0.2)
    res.check(False, "%s: evidence never served (last %r)" % (what, a))
    return None


def daemon(top, name, faults, emu):
    """A daemon on a copy of the emulator's chip (same secrets, own state)."""
    tmp = os.path.join(top, name)
    os.makedirs(tmp)
    shutil.copytree(emu.state, os.path.join(tmp, "sim"))
    return tmp, h.Daemon(tmp=tmp, config="[Daemon]\nKdsUrl=%s\n" % emu.url,
                         env={"SNP_SIM_FAULTS": faults})


def started(d):
    try:
        d.start()
        return True
    except RuntimeError as e:
        res.check(False, "snpd did not start: %s" % str(e)[-600:])
        return False


def scenario_for_good(top, emu):
    """A host asking for 0xfffff pages at every extended request."""
    tmp, d = daemon(top, "for-good", "certs_small=1000000,certs_pages=1048575", emu)
    want = "the host's certificate table needs 4294963200 bytes, more than the guest's 16384"
    try:
        if not started(d):
            return
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
        a = until_evidence(d, tmp, "for good")
        res.check(a is not None and a[2] == 0,
                  "for good: evidence verifies with KDS's certificates (%r)" % (a,))
        # the host is asked again (1 s, then 2 s): still said once
        refs = s["reference_reports"]
        ok = h.wait_until(lambda: status(d)["reference_reports"] >= refs + 2, tries=LIMIT * 20)
        res.check(ok, "for good: the host is asked again with backoff (%d reference reports)" %
                  status(d)["reference_reports"])
        lines = log_lines(d, NOT_FIT)
        res.check(len(lines) == 1 and lines[0].startswith("<4>") and want in lines[0],
                  "for good: logged once, as a warning, with the size (%r)" % lines)
        res.check(not log_lines(d, TAKEN) and not log_lines(d, "Invalid argument"),
                  "for good: never taken, never EINVAL")
    finally:
        h.stop_clean(d, res)


def scenario_fixed(top, emu):
    """Three refusals (the start's, the retries after 1 s and 2 s), then it fits."""
    tmp, d = daemon(top, "fixed", "certs_small=3,certs_pages=5", emu)
    want = "the host's certificate table needs 20480 bytes, more than the guest's 16384"
    try:
        if not started(d):
            return
        ok = h.wait_until(lambda: log_lines(d, TAKEN), tries=LIMIT * 20)
        res.check(ok, "fixed: the host's table is taken once it fits")
        lines = log_lines(d, NOT_FIT)
        res.check(len(lines) == 1 and want in lines[0],
                  "fixed: the refusal logged once with the size (%r)" % lines)
        res.check(len(log_lines(d, TAKEN)) == 1, "fixed: taken again, logged once")
        s = status(d)
        res.check(s.get("host_certs") is None and s.get("health") == "ok" and
                  s["reference_reports"] >= 5,
                  "fixed: the status clears (%r, %d reference reports)" % (
                      s.get("host_certs"), s["reference_reports"]))
        a = until_evidence(d, tmp, "fixed")
        res.check(a is not None and a[2] == 0, "fixed: evidence verifies (%r)" % (a,))
    finally:
        h.stop_clean(d, res)


def scenario_refresh(top, emu):
    """The start's reference report fits; the refresh for a TCB change does not."""
    tmp, d = daemon(top, "refresh", "after=1,certs_small=1,certs_pages=6", emu)
    want = "the host's certificate table needs 24576 bytes, more than the guest's 16384"
    try:
        if not started(d):
            return
        old = h.view_tcb(d)
        a = until_evidence(d, tmp, "refresh: start")
        res.check(a is not None and a[1] == old and a[2] == 0,
                  "refresh: at start evidence verifies (TCB 0x%x)" % old)
        new = old + (1 << 56)
        h.sim_set_tcb(d.sim, new)
        a = until_evidence(d, tmp, "refresh: after the TCB change")
        res.check(a is not None and a[1] == new and a[2] == 0,
                  "refresh: evidence of the new TCB 0x%x verifies (%r)" % (new, a))
        res.check(h.view_tcb(d) == new, "refresh: the view is of the new TCB")
        lines = log_lines(d, NOT_FIT)
        res.check(len(lines) == 1 and want in lines[0],
                  "refresh: the host's size logged once (%r)" % lines)
        res.check(not log_lines(d, STALE_FAIL) and not log_lines(d, "Invalid argument"),
                  "refresh: not a failed refresh, never EINVAL")
        ok = h.wait_until(lambda: log_lines(d, TAKEN) and status(d).get("host_certs") is None,
                          tries=LIMIT * 20)
        res.check(ok, "refresh: the host is asked again and its table taken")
    finally:
        h.stop_clean(d, res)


def scenario_reload(top, emu):
    """A SIGHUP after a firmware update meets the host's large table."""
    tmp, d = daemon(top, "reload", "after=1,certs_small=1,certs_pages=6", emu)
    try:
        if not started(d):
            return
        old = h.view_tcb(d)
        new = old + (1 << 56)
        h.sim_set_tcb(d.sim, new)
        msg = d.reload()
        res.check("last reload failed" not in msg and
                  "without the host's certificates: the host's certificate table needs "
                  "24576 bytes" in msg,
                  "reload: READY=1 of the reload does not fail, says the host's size (%r)" %
                  msg)
        res.check(h.view_tcb(d) == new and not status(d)["last_reload_failed"],
                  "reload: the view is of the new TCB, no failed reload")
        res.check(len(log_lines(d, "Reloaded")) == 1 and
                  not log_lines(d, "keeping the previous view"),
                  "reload: logged as a reload, not as a failure")
        a = until_evidence(d, tmp, "reload")
        res.check(a is not None and a[1] == new and a[2] == 0,
                  "reload: evidence of the new TCB verifies (%r)" % (a,))
    finally:
        h.stop_clean(d, res)


def main():
    top = tempfile.mkdtemp(prefix="snpd-host-certs-")
    os.chmod(top, 0o755)
    emu = None
    try:
        # one chip for the KDS emulator; every daemon runs on a copy of it
        state = os.path.join(top, "chip")
        h.sim_init(state)
        emu = Emulator(state)
        scenario_for_good(top, emu)
        scenario_fixed(top, emu)
        scenario_refresh(top, emu)
        scenario_reload(top, emu)
    finally:
        if emu:
            emu.stop()
        shutil.rmtree(top, ignore_errors=True)
    res.done()


main()
