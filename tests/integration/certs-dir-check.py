# SPDX-License-Identifier: Apache-2.0
"""CertsDir=: the directory's VCEK is served only when it is the key that
signs the reference report (its signature, REPORTED_TCB and CHIP_ID, and
the directory's ASK and ARK sign it). Against the simulator, whose params
file is edited while snpd runs (as in evidence-tcb-change.py). Shows:
 (a) a CertsDir= holding the platform's ark/ask/vcek serves evidence that
     snpctl verify accepts, over HTTP and FUSE, as before;
 (b) the host raises REPORTED_TCB and the directory is not updated: once
     the view is refreshed, evidence is 503 collateral-unavailable (FUSE
     EBUSY) naming vcek.pem and both TCBs, never a document with the old
     VCEK; certs/vcek.pem is gone; status collateral.last_error says why
     (FUSE status and /v1/status); the refusal is logged once;
     /v1/report?certs=1 answered from the view (the host gives no
     certificates) never carries a VCEK of another TCB than its report's;
 (c) the operator writes the VCEK the host now hands out (its certificate
     table, from /v1/report?certs=1) into the directory and sends SIGHUP: evidence verifies again with the new TCB
     and status has no error;
 (d) a VCEK of another chip (a second simulator) in CertsDir= at start is
     refused the same way, naming CHIP_ID; fixing it and SIGHUP serve it;
 (e) a VLEK platform whose CertsDir= holds both ask.pem and asvk.pem: the
     VLEK is checked against (and served with) asvk.pem, evidence verifies,
     status has no last_error;
 (f) a CertsDir= with both vcek.pem and vlek.pem (one CA, or both): the
     VCEK, which does not sign the VLEK platform's reports, is left out
     without an error: no error logged, last_error clear, evidence
     verifies with the VLEK; it is said at info level once per read of the
     directory (start, SIGHUP). snpd_collateral_fetch_failing of /metrics
     is 0 then, and 1 while (b) refuses the directory's VCEK."""

import base64
import errno
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
from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402

LIMIT = 120  # seconds before a wait is called a failure (never a pass condition)
res = t.Results()


def last_errors(d):
    """collateral.last_error of the FUSE status file and of /v1/status."""
    with open(d.path("status")) as f:
        a = json.load(f)["collateral"]
    b = h.api_status(d, "collateral", timeout=120)
    return a.get("state"), a.get("last_error"), b.get("last_error")


def http_evidence(d, tmp):
    """One GET /v1/evidence: (status, problem type, detail or verify output,
    TCB of its report or None, snpctl verify rc or None)."""
    nonce = os.urandom(32).hex()
    st, data = h.api_get(d, "/v1/evidence?nonce=" + nonce, timeout=120)
    if st != 200:
        typ, detail = h.problem(data)
        return st, typ, detail, None, None
    doc = json.loads(data)
    rc, out = h.snpctl_verify_evidence(d, tmp, data, nonce)
    return st, None, out, h.report_tcb(base64.b64decode(doc["report"])), rc


def until(fetch, done, what):
    """Call fetch() until done(answer) (every 0.2 s, at most LIMIT s): the
    last answer and all of them."""
    seen = []
    end = time.monotonic() + LIMIT
    while time.monotonic() < end:
        a = fetch()
        seen.append(a)
        if done(a):
            return a, seen
        time.sleep(0.2)
    res.check(False, "%s: not within %d s (last %r)" % (what, LIMIT, seen[-1:]))
    return None, seen


def served_vcek(d):
    """certs/vcek.pem of the FUSE view, or the errno of its open."""
    try:
        with open(d.path("certs", "vcek.pem"), "rb") as f:
            return f.read()
    except OSError as e:
        return e.errno


def same_cert(pem, path):
    if not isinstance(pem, bytes):
        return False
    with open(path, "rb") as f:
        return x509.load_pem_x509_certificate(pem) == x509.load_pem_x509_certificate(f.read())


def refusals_logged(d, name, *words):
    return sum(1 for ln in d.read_log().splitlines()
               if "CertsDir=" in ln and name in ln and all(w in ln for w in words))


def metrics(d):
    """/metrics as {name: value}, and "HELP name" -> its help text."""
    st, data = h.api_get(d, "/metrics", timeout=120)
    out = {}
    for ln in data.decode(errors="replace").splitlines() if st == 200 else []:
        if ln.startswith("# HELP "):
            name, _, text = ln[len("# HELP "):].partition(" ")
            out["HELP " + name] = text
        elif ln and not ln.startswith("#"):
            name, _, value = ln.rpartition(" ")
            out[name] = value
    return out


def dir_lines(d, level=None):
    """The log lines about CertsDir= (of syslog @level, "<N>", when given)."""
    return [ln for ln in d.read_log().splitlines()
            if "CertsDir=" in ln and (level is None or ln.startswith("<%d>" % level))]


def certs_dir(tmp, sim, vcek_from=None):
    """A CertsDir= with @sim's ark.pem and ask.pem and the vcek.pem of
    @vcek_from (default @sim)."""
    c = os.path.join(tmp, "certs")
    os.makedirs(c, exist_ok=True)
    for n in ("ark.pem", "ask.pem"):
        shutil.copy(os.path.join(sim, n), os.path.join(c, n))
    put_vcek(c, os.path.join(vcek_from or sim, "vcek.pem"))
    return c


def put_vcek(cdir, src):
    shutil.copy(src, os.path.join(cdir, "vcek.pem.new"))
    os.rename(os.path.join(cdir, "vcek.pem.new"), os.path.join(cdir, "vcek.pem"))


def stale(a):
    return a[0] == 503 and a[1] == "collateral-stale"


def scenario_tcb(top):
    tmp = os.path.join(top, "tcb")
    os.makedirs(tmp)
    sim = os.path.join(tmp, "sim")
    h.sim_init(sim)
    cdir = certs_dir(tmp, sim)
    vcek = os.path.join(cdir, "vcek.pem")
    d = h.Daemon(tmp=tmp, sim_dir=sim, config="[Daemon]\nLogWriters=0\nCertsDir=%s\n" % cdir)
    try:
        d.start()
        old = h.view_tcb(d)
        # (a) as before
        a, _ = until(lambda: http_evidence(d, tmp), lambda a: a[0] == 200, "start")
        res.check(a is not None and a[3] == old and a[4] == 0,
                  "(a) CertsDir= with the right VCEK: /v1/evidence verifies, TCB 0x%x (%r)" % (
                      old, a and a[2][-200:]))
        e, tcb, rc, out = h.fuse_evidence(d, tmp)
        res.check(e == 0 and tcb == old and rc == 0,
                  "(a) FUSE evidence/<hex> verifies (%s, rc %r %s)" % (
                      errno.errorcode.get(e, e), rc, out[-200:]))
        res.check(same_cert(served_vcek(d), vcek), "(a) certs/vcek.pem is the directory's")
        state, ferr, herr = last_errors(d)
        res.check(state == "certs-dir" and ferr is None and herr is None,
                  "(a) status collateral: certs-dir, no last_error (%r %r %r)" % (
                      state, ferr, herr))

        # (b) a firmware update the directory does not follow
        new = old + (1 << 56)
        h.sim_set_tcb(sim, new)
        a, seen = until(lambda: http_evidence(d, tmp), lambda a: not stale(a),
                        "evidence after the TCB change")
        res.check(h.view_tcb(d) == new, "(b) the view was refreshed to the new TCB 0x%x (0x%x)" %
                  (new, h.view_tcb(d) or 0))
        res.check(all(s[0] != 200 for s in seen),
                  "(b) no evidence served after the change (%r)" %
                  [(s[0], s[1], s[3], s[4]) for s in seen])
        res.check(a is not None and a[0] == 503 and a[1] == "collateral-unavailable" and
                  "vcek.pem" in a[2] and "0x%016x" % new in a[2] and "0x%016x" % old in a[2],
                  "(b) then 503 collateral-unavailable naming vcek.pem, its TCB and "
                  "REPORTED_TCB (%r)" % (a and a[:3],))
        e, tcb, rc, _ = h.fuse_evidence(d, tmp)
        res.check(e == errno.EBUSY, "(b) FUSE evidence/<hex>: EBUSY (%s, TCB %r, verify rc %r)" % (
            errno.errorcode.get(e, e), tcb, rc))
        got = served_vcek(d)
        res.check(got == errno.ENOENT, "(b) certs/vcek.pem is not served (%r)" % (
            errno.errorcode.get(got, "served") if isinstance(got, int) else "served",))
        st, data = h.api_get(d, "/v1/certificates", {"Accept": "application/json"}, timeout=120)
        res.check(st == 200 and "vcek" not in json.loads(data) and "ask" in json.loads(data),
                  "(b) GET /v1/certificates: the ASK and ARK, no VCEK (%d %s)" % (st, data[:60]))
        state, ferr, herr = last_errors(d)
        res.check(all(isinstance(x, str) and "vcek.pem" in x and "REPORTED_TCB" in x and
                      "SIGHUP" in x for x in (ferr, herr)),
                  "(b) status (FUSE and /v1/status) collateral.last_error says why: %r / %r" % (
                      ferr, herr))
        n = refusals_logged(d, "vcek.pem", "0x%016x" % new)
        res.check(n == 1, "(b) the refusal is logged once with the file and TCB (%d)" % n)
        m = metrics(d)
        res.check(m.get("snpd_collateral_fetch_failing") == "1",
                  "(b) /metrics snpd_collateral_fetch_failing 1 while the directory's VCEK "
                  "is refused (%r)" % m.get("snpd_collateral_fetch_failing"))
        before = refusals_logged(d, "vcek.pem")

        # (c) the operator takes the VCEK the host now hands out (its
        # certificate table, as /v1/report?certs=1 returns it), SIGHUP
        st, data = h.api_get(d, "/v1/report?certs=1&nonce=00", timeout=120)
        j = json.loads(data) if st == 200 else {}
        der = base64.b64decode((j.get("certificates") or {}).get("vcek", ""))
        ok = st == 200 and j.get("certificates_encoding") == "der-base64" and der and \
            h.report_tcb(base64.b64decode(j["report"])) == new
        res.check(ok, "(c) the host's table (/v1/report?certs=1) has a VCEK (%d)" % st)
        if ok:
            pem = x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM)
            with open(os.path.join(tmp, "host-vcek.pem"), "wb") as f:
                f.write(pem)
            put_vcek(cdir, os.path.join(tmp, "host-vcek.pem"))
        d.reload()
        a, _ = until(lambda: http_evidence(d, tmp), lambda a: a[0] == 200, "after SIGHUP")
        res.check(a is not None and a[3] == new and a[4] == 0,
                  "(c) after SIGHUP /v1/evidence verifies with the new TCB (%r)" % (
                      a and (a[3], a[2][-200:]),))
        e, tcb, rc, out = h.fuse_evidence(d, tmp)
        res.check(e == 0 and tcb == new and rc == 0,
                  "(c) FUSE evidence/<hex> verifies (%s, rc %r %s)" % (
                      errno.errorcode.get(e, e), rc, out[-200:]))
        res.check(same_cert(served_vcek(d), vcek), "(c) certs/vcek.pem is the new one")
        state, ferr, herr = last_errors(d)
        res.check(ferr is None and herr is None, "(c) status has no last_error (%r %r)" % (
            ferr, herr))
        n = refusals_logged(d, "vcek.pem")
        res.check(n == before, "(c) nothing refused on SIGHUP (%d refusals logged before, %d "
                  "after)" % (before, n))
    finally:
        h.stop_clean(d, res)


def scenario_report_certs(top):
    """(b) for /v1/report?certs=1: the host gives no certificates, the
    view's are attached."""
    tmp = os.path.join(top, "rc")
    os.makedirs(tmp)
    sim = os.path.join(tmp, "sim")
    h.sim_init(sim)
    h.sim_set_params(sim, host_certs="none")
    cdir = certs_dir(tmp, sim)
    d = h.Daemon(tmp=tmp, sim_dir=sim, config="[Daemon]\nCertsDir=%s\n" % cdir)
    try:
        d.start()
        old = h.view_tcb(d)
        a = h.report_certs(d)
        res.check(a[0] == 200 and a[2] == old and a[3] == old >> 56,
                  "(a) /v1/report?certs=1 attaches the directory's VCEK of TCB 0x%x (%r)" % (
                      old, a))
        new = old + (1 << 56)
        h.sim_set_tcb(sim, new)
        a, seen = until(lambda: h.report_certs(d), lambda a: a[0] == 200,
                        "report with certs after the change")
        res.check(all(s[3] is None or s[3] == s[2] >> 56 for s in seen if s[0] == 200),
                  "(b) /v1/report?certs=1 never attaches a VCEK of another TCB: %r" % seen)
        res.check(a is not None and a[2] == new and a[3] is None,
                  "(b) a report of TCB 0x%x comes without the directory's VCEK (%r)" % (new, a))
    finally:
        h.stop_clean(d, res)


def scenario_other_chip(top):
    tmp = os.path.join(top, "chip")
    os.makedirs(tmp)
    sim, other = os.path.join(tmp, "sim"), os.path.join(tmp, "other")
    h.sim_init(sim)
    h.sim_init(other)
    cdir = certs_dir(tmp, sim, vcek_from=other)
    d = h.Daemon(tmp=tmp, sim_dir=sim, config="[Daemon]\nLogWriters=0\nCertsDir=%s\n" % cdir)
    try:
        d.start()
        a = http_evidence(d, tmp)
        res.check(a[0] == 503 and a[1] == "collateral-unavailable" and "vcek.pem" in a[2] and
                  "CHIP_ID" in a[2],
                  "(d) another chip's VCEK at start: 503 collateral-unavailable naming vcek.pem "
                  "and CHIP_ID (%r)" % (a[:3] if a[0] != 200 else (a[0], a[4], a[2][-200:]),))
        e, _, rc, _ = h.fuse_evidence(d, tmp)
        res.check(e == errno.EBUSY, "(d) FUSE evidence/<hex>: EBUSY (%s, verify rc %r)" % (
            errno.errorcode.get(e, e), rc))
        got = served_vcek(d)
        res.check(got == errno.ENOENT, "(d) certs/vcek.pem is not served")
        state, ferr, herr = last_errors(d)
        res.check(all(isinstance(x, str) and "CHIP_ID" in x for x in (ferr, herr)),
                  "(d) status collateral.last_error says why: %r / %r" % (ferr, herr))
        n = refusals_logged(d, "vcek.pem", "CHIP_ID")
        res.check(n == 1, "(d) the refusal is logged once (%d)" % n)
        put_vcek(cdir, os.path.join(sim, "vcek.pem"))
        d.reload()
        a, _ = until(lambda: http_evidence(d, tmp), lambda a: a[0] == 200, "after SIGHUP")
        res.check(a is not None and a[4] == 0,
                  "(d) the chip's own VCEK and SIGHUP: evidence verifies (%r)" % (
                      a and a[2][-200:],))
        state, ferr, herr = last_errors(d)
        res.check(ferr is None and herr is None, "(d) status has no last_error then")
    finally:
        h.stop_clean(d, res)


def vlek_dir(tmp, files):
    """A VLEK platform (its reports are signed by the VLEK) and a CertsDir=
    with @files of it: (sim, dir)."""
    sim = os.path.join(tmp, "sim")
    h.sim_init(sim, "--vlek", "1")
    cdir = os.path.join(tmp, "certs")
    os.makedirs(cdir)
    for n in files:
        shutil.copy(os.path.join(sim, n), os.path.join(cdir, n))
    return sim, cdir


def served(d, name):
    try:
        with open(d.path("certs", name), "rb") as f:
            return f.read()
    except OSError as e:
        return e.errno


def check_vlek_served(d, tmp, sim, what):
    """Evidence verifies with the VLEK, served with the ASVK; no last_error."""
    a, _ = until(lambda: http_evidence(d, tmp), lambda a: a[0] != 503 or
                 a[1] != "collateral-stale", what)
    res.check(a is not None and a[0] == 200 and a[4] == 0,
              "%s: /v1/evidence verifies (%r)" % (
                  what, a and (a[:2] if a[0] != 200 else (a[0], a[4], a[2][-300:]))))
    res.check(same_cert(served(d, "vlek.pem"), os.path.join(sim, "vlek.pem")) and
              same_cert(served(d, "ask.pem"), os.path.join(sim, "asvk.pem")) and
              served(d, "vcek.pem") == errno.ENOENT,
              "%s: certs/ the VLEK with the ASVK as ask.pem, no vcek.pem" % what)
    state, ferr, herr = last_errors(d)
    res.check(state == "certs-dir" and ferr is None and herr is None,
              "%s: status collateral certs-dir without last_error (%r %r)" % (what, ferr, herr))


def scenario_vlek_cas(top):
    """(e) ask.pem and asvk.pem both in the directory, a VLEK platform."""
    tmp = os.path.join(top, "cas")
    os.makedirs(tmp)
    sim, cdir = vlek_dir(tmp, ("ark.pem", "ask.pem", "asvk.pem", "vlek.pem"))
    d = h.Daemon(tmp=tmp, sim_dir=sim, config="[Daemon]\nLogWriters=0\nCertsDir=%s\n" % cdir)
    try:
        d.start()
        check_vlek_served(d, tmp, sim, "(e) ark, ask, asvk, vlek")
        errs = dir_lines(d, 3)
        res.check(not errs, "(e) nothing about CertsDir= logged as an error (%r)" % errs[:2])
    finally:
        h.stop_clean(d, res)


def scenario_both_leaves(top):
    """(f) vcek.pem and vlek.pem both in the directory, a VLEK platform."""
    tmp = os.path.join(top, "leaves")
    os.makedirs(tmp)
    sim, cdir = vlek_dir(tmp, ("ark.pem", "asvk.pem", "vcek.pem", "vlek.pem"))
    d = h.Daemon(tmp=tmp, sim_dir=sim, config="[Daemon]\nLogWriters=0\nCertsDir=%s\n" % cdir)
    try:
        d.start()
        check_vlek_served(d, tmp, sim, "(f) ark, asvk, vcek, vlek")
        errs, infos = dir_lines(d, 3), dir_lines(d, 6)
        res.check(not errs and len(infos) == 1 and "vcek.pem" in infos[0],
                  "(f) the VCEK left out: no error logged (%r), said once at info level (%r)" %
                  (errs[:2], infos))
        m = metrics(d)
        help_ = m.get("HELP snpd_collateral_fetch_failing", "")
        res.check(m.get("snpd_collateral_fetch_failing") == "0" and "CertsDir=" in help_,
                  "(f) /metrics snpd_collateral_fetch_failing 0, its help says what it counts "
                  "(%r, %r)" % (m.get("snpd_collateral_fetch_failing"), help_))
        # all five files, read again on SIGHUP
        shutil.copy(os.path.join(sim, "ask.pem"), os.path.join(cdir, "ask.pem"))
        d.reload()
        check_vlek_served(d, tmp, sim, "(f) all five files, after SIGHUP")
        errs, infos = dir_lines(d, 3), dir_lines(d, 6)
        res.check(not errs and len(infos) == 2,
                  "(f) after SIGHUP: still no error (%r), the VCEK said once more at info level "
                  "(%d lines)" % (errs[:2], len(infos)))
    finally:
        h.stop_clean(d, res)


def main():
    top = tempfile.mkdtemp(prefix="snpd-certsdir-")
    os.chmod(top, 0o755)
    try:
        for scenario in (scenario_tcb, scenario_report_certs, scenario_other_chip,
                         scenario_vlek_cas, scenario_both_leaves):
            try:
                scenario(top)
            except Exception as e:  # one scenario's failure does not hide the others'
                res.check(False, "%s: %r" % (scenario.__name__, e))
    finally:
        shutil.rmtree(top, ignore_errors=True)
    res.done()


main()
