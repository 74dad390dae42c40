# SPDX-License-Identifier: Apache-2.0
"""KdsOffline=yes with the CRL from the host's certificate table (the
simulator's host_crl_this_update/host_crl_next_update params: an empty CRL
of the simulated ARK under the CRL GUID). The job's table is the one of the
reference report it was looked up with; at the CRL's nextUpdate snpd must
take a fresh table from the host (a new reference report), not replay the
old one. Shows, without a SIGHUP:
 (a) a host CRL that expires half a minute after the start, and meanwhile
     the host's table carries a newer one: once the first's nextUpdate
     passes, certs/crl.der and /v1/certificates serve the newer one
     (signed by the ARK, python3-cryptography), the set stays complete,
     and it took one more reference report;
 (b) a host that keeps offering only the expired CRL: the set goes
     partial, crl.der is gone, last_error says the host's CRL expired and
     that the table is read again (next_retry says when: about 10 s away,
     not a busy loop: at most one reference report meanwhile); once the host has a
     newer CRL it is served after that backoff.
 (c) the device does not answer at the CRL's nextUpdate (the simulator's
     lock held): the expired CRL is not served meanwhile, the set is
     partial; the fresh table cannot be waited for.
Before the fix, (a) kept nothing (partial without a CRL until a SIGHUP)
and (b) said "not in the cache yet (KdsOffline=yes)" with no retry."""

import base64
import json
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import snpd_harness as h  # noqa: E402
import snptest as t  # noqa: E402

h.need_fuse()
h.need_cryptography()
from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import padding  # noqa: E402

PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=48)
LIMIT = 60  # seconds before a wait is called a failure (never a pass condition)
res = t.Results()


status = h.daemon_status


def wait(d, pred, what):
    """h.wait_daemon_status(), LIMIT s."""
    return h.wait_daemon_status(res, d, pred, what, LIMIT)


def served_crl(d):
    """certs/crl.der as a CRL object, None when there is none."""
    try:
        with open(d.path("certs", "crl.der"), "rb") as f:
            return x509.load_der_x509_crl(f.read())
    except (OSError, ValueError):
        return None


def epoch(crl):
    """nextUpdate of @crl in seconds since the epoch."""
    if crl is None:
        return None
    nu = crl.next_update  # naive UTC
    return int((nu - nu.__class__(1970, 1, 1)).total_seconds())


def ark_signed(sim, crl):
    ark = x509.load_pem_x509_certificate(open(os.path.join(sim, "ark.pem"), "rb").read())
    try:
        ark.public_key().verify(crl.signature, crl.tbs_certlist_bytes, PSS, hashes.SHA384())
        return crl.issuer == ark.subject
    except Exception:
        return False


def api_crl(d):
    st, data = h.api_get(d, "/v1/certificates", {"Accept": "application/json"})
    if st != 200:
        return None
    b = json.loads(data).get("crl")
    return x509.load_der_x509_crl(base64.b64decode(b)) if b else None


def start(tmp, name, valid):
    """A simulator whose host table has a CRL valid for @valid more seconds
    (from when the simulator is made), snpd on it; nextUpdate too."""
    sim = os.path.join(tmp, name + "-sim")
    h.sim_init(sim)
    now = int(time.time())
    until = now + valid
    h.sim_set_params(sim, host_crl_this_update=now - 3600, host_crl_next_update=until)
    os.makedirs(os.path.join(tmp, name))
    d = h.Daemon(tmp=os.path.join(tmp, name), sim_dir=sim)
    d.start()
    return sim, d, until


def scenario_newer(tmp):
    sim, d, until = start(tmp, "newer", 30)
    try:
        s = wait(d, lambda s: s.get("collateral", {}).get("state") == "complete",
                 "(a) complete at the start")
        c = s["collateral"] if s else {}
        crl = served_crl(d)
        res.check(crl is not None and epoch(crl) == until and
                  c.get("sources", {}).get("crl.der") == "host" and
                  c.get("next_retry") == until,
                  "(a) the host's CRL served, nextUpdate %s (want %d), source %r, next_retry %r"
                  % (epoch(crl), until, c.get("sources"), c.get("next_retry")))
        refs = s.get("reference_reports", 0) if s else 0
        # the host now hands out a newer CRL; snpd's reference report is older
        newer = h.sim_renew_host_crl(sim, 7 * 86400)
        s = wait(d, lambda s: time.time() > until and
                 epoch(served_crl(d)) == newer and
                 s.get("collateral", {}).get("state") == "complete",
                 "(a) the newer host CRL after the old one's nextUpdate")
        crl = served_crl(d)
        res.check(s is not None and crl is not None and ark_signed(sim, crl),
                  "(a) certs/crl.der is the newer CRL, signed by the ARK")
        a = api_crl(d)
        res.check(a is not None and epoch(a) == newer,
                  "(a) /v1/certificates carries the newer CRL (nextUpdate %s)" % epoch(a))
        res.check(s is not None and s.get("reloads") == 0 and
                  s.get("reference_reports", 0) - refs in (1, 2) and
                  s["collateral"].get("next_retry") == newer,
                  "(a) no SIGHUP, one fresh reference report (%s), next_retry the new "
                  "nextUpdate (%r)" % (s and s.get("reference_reports", 0) - refs,
                                       s and s["collateral"].get("next_retry")))
    finally:
        h.stop_clean(d, res)


def scenario_expired(tmp):
    sim, d, until = start(tmp, "expired", 25)
    try:
        wait(d, lambda s: s.get("collateral", {}).get("state") == "complete",
             "(b) complete at the start")
        s = wait(d, lambda s: s.get("collateral", {}).get("state") == "partial",
                 "(b) partial once the host's only CRL expired")
        c = s["collateral"] if s else {}
        err = c.get("last_error") or ""
        res.check("CRL" in err and "expired" in err and "KdsOffline" in err and
                  err.endswith("; the host's table is read again later"),
                  "(b) last_error says why and that it is read again: %r" % err)
        res.check("expired" in (c.get("host_table") or ""),
                  "(b) host_table notes the expired CRL: %r" % c.get("host_table"))
        nr = c.get("next_retry") or 0
        # in the status that first said partial: a backoff, not a clock window
        res.check(nr and 0 <= c.get("next_retry_in_sec", -1) <= 11,
                  "(b) next_retry in about 10 s: %r" % c.get("next_retry_in_sec"))
        res.check(served_crl(d) is None and api_crl(d) is None,
                  "(b) no CRL served (neither crl.der nor /v1/certificates)")
        refs = s.get("reference_reports", 0) if s else 0
        time.sleep(3)
        s2 = status(d)
        res.check(s2.get("reference_reports", 0) - refs <= 1 and
                  s2.get("collateral", {}).get("state") == "partial",
                  "(b) no busy loop: %d reference report(s) in 3 s" %
                  (s2.get("reference_reports", 0) - refs))
        newer = h.sim_renew_host_crl(sim)
        s = wait(d, lambda s: s.get("collateral", {}).get("state") == "complete" and
                 epoch(served_crl(d)) == newer, "(b) the host's newer CRL after the backoff")
        res.check(s is not None and s.get("reloads") == 0 and time.time() >= nr - 1,
                  "(b) served after the backoff, without a SIGHUP")
    finally:
        h.stop_clean(d, res)


def scenario_no_answer(tmp):
    """(c) at the CRL's nextUpdate the device does not answer (held): the
    expired CRL is not served meanwhile, the set is partial."""
    sim, d, until = start(tmp, "noanswer", 25)
    dev = None
    try:
        wait(d, lambda s: s.get("collateral", {}).get("state") == "complete",
             "(c) complete at the start")
        res.check(epoch(served_crl(d)) == until, "(c) the host's CRL served before its nextUpdate")
        dev = h.DeviceHeld(d)
        s = wait(d, lambda s: time.time() > until and
                 s.get("collateral", {}).get("state") == "partial" and
                 served_crl(d) is None and api_crl(d) is None,
                 "(c) the device held: partial, no CRL served after its nextUpdate")
        res.check(s is not None and "expired" in (s["collateral"].get("last_error") or ""),
                  "(c) last_error says the host's CRL expired: %r" %
                  (s and s["collateral"].get("last_error")))
    finally:
        if dev:
            dev.release()
        h.stop_clean(d, res)


with tempfile.TemporaryDirectory(prefix="snpd-crl-host-") as tmp:
    os.chmod(tmp, 0o755)
    scenario_newer(tmp)
    scenario_expired(tmp)
    scenario_no_answer(tmp)
res.done()
