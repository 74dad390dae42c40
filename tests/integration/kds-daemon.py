# SPDX-License-Identifier: Apache-2.0
"""snpd completes the certificate set whatever the host gives, against the
KDS emulator (tests/helpers/kds-emulator.py, 127.0.0.1 only) and a simulated
chip. Shows:
 - a host with NO certificate table (host_certs=0): /snp/certs and
   /v1/certificates complete (vcek.pem, ask.pem, ark.pem, crl.der, source
   saying kds; the ARK is the trusted root itself: trust-ark), /v1/evidence verifies with 'snpctl verify evidence.json' and
   with python3-cryptography alone; status and /metrics say complete;
 - a restart with the same CacheDir: the same with ZERO KDS requests;
 - KdsOffline=yes: no KDS request, a clear state; a reload to no applies it;
 - a 429 window (Retry-After: 3): one KDS request per backoff period, none
   while status says backoff (also across SIGHUPs), reports served all the
   time, complete once KDS answers again;
 - a hanging KDS: READY and reports do not wait; SIGTERM aborts the transfer;
 - a truncated or wrong VCEK from KDS: refused, not cached, not served,
   reports still served, /v1/evidence 503 collateral-unavailable;
 - a host table with a stale VCEK (another TCB, signed by the simulated ASK)
   is flagged and replaced from KDS; a host table whose ASK does not chain
   to the trusted root is refused and the chain comes from KDS.
The simulated ARK is not AMD's: snpd trusts it through --trust-ark (as
snpctl verify --trust-ark); without it only the embedded AMD roots count."""

import base64
import json
import os
import shutil
import subprocess
import sys
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
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import padding  # noqa: E402
import kdsemu  # noqa: E402

emu_mod = kdsemu.emulator_module()
PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=48)
LIMIT = 120  # seconds before a wait is called a failure (never a pass condition)

res = t.Results()


def wait_coll(d, pred, what):
    """h.wait_status() of /v1/status's collateral, LIMIT s."""
    return h.wait_status(res, d, pred, what, LIMIT)


def report_ok(d):
    st, _, data = h.api_get_full(d, "/v1/report?nonce=0102", {"Accept": "application/octet-stream"})
    return st == 200 and len(data) == 1184


def new_daemon(sim, tmp, name, emu_url, cache, extra=""):
    conf = "[Daemon]\nKdsUrl=%s\n%s" % (emu_url, extra)
    os.makedirs(os.path.join(tmp, name), exist_ok=True)
    return h.Daemon(tmp=os.path.join(tmp, name), sim_dir=sim, config=conf,
                    args=["--cache-dir", cache,
                          "--trust-ark", os.path.join(tmp, "trusted-ark.pem")])


def scenario_no_table(tmp, sim, emu):
    cache = os.path.join(tmp, "cache1")
    d = new_daemon(sim, tmp, "d1", emu.url, cache)
    try:
        d.start()
        c = wait_coll(d, lambda c: c.get("state") == "complete", "no table: complete")
        n = emu.count()
        res.check(c is not None and n == 3 and c["kds_requests"] == 3,
                  "no host table: complete from KDS with 3 requests (VCEK, cert_chain, CRL): "
                  "emulator %d, status %r" % (n, c and c.get("kds_requests")))
        names = h.sorted_listdir(d.path("certs"))
        res.check({"ark.pem", "ask.pem", "vcek.pem", "chain.pem", "crl.der", "source"} <=
                  set(names), "/snp/certs lists %s" % names)
        src = open(d.path("certs", "source")).read()
        res.check(all(("%s kds" % f) in src.splitlines()
                      for f in ("vcek.pem", "ask.pem", "crl.der")) and
                  "ark.pem trust-ark" in src.splitlines(),
                  "certs/source says kds for each, the ARK is the trusted root: %r" % src)
        pems = {f: open(d.path("certs", f + ".pem"), "rb").read() for f in ("ark", "ask", "vcek")}
        crl = x509.load_der_x509_crl(open(d.path("certs", "crl.der"), "rb").read())
        ark = x509.load_pem_x509_certificate(pems["ark"])
        ark.public_key().verify(crl.signature, crl.tbs_certlist_bytes, PSS, hashes.SHA384())
        res.check(True, "certs/crl.der is a CRL signed by the ARK (python3-cryptography)")
        st, _, data = h.api_get_full(d, "/v1/certificates", {"Accept": "application/json"})
        j = json.loads(data)
        res.check(st == 200 and j.get("sources", {}).get("vcek") == "kds" and
                  base64.b64decode(j.get("crl", "")) == crl.public_bytes(
                      serialization.Encoding.DER),
                  "/v1/certificates JSON carries crl and sources: %r" % j.get("sources"))

        # evidence
        nonce = os.urandom(32).hex()
        st, hd, data = h.api_get_full(d, "/v1/evidence?nonce=" + nonce)
        ev = json.loads(data) if st == 200 else {}
        res.check(st == 200 and ev.get("version") == 1 and
                  ev.get("sources", {}).get("vcek") == "kds",
                  "/v1/evidence: 200, version 1 (%d %s)" % (st, data[:200]))
        rpt = base64.b64decode(ev.get("report", ""))
        res.check(len(rpt) == 1184 and rpt[0x80:0x90] == b"snpd-binding-v1\0" and
                  ev.get("binding", {}).get("nonce") == nonce,
                  "evidence: REPORT_DATA is bound (snpd-binding-v1) to the nonce")
        cs = ev.get("certificates", {})
        res.check(bool(cs) and t.oracle_verify(rpt, cs["ark"], cs["ask"], cs["vcek"]),
                  "evidence: ARK -> ASK -> VCEK -> report signature (python3-cryptography)")
        evf = os.path.join(tmp, "evidence.json")
        with open(evf, "wb") as f:
            f.write(data)
        empty = os.path.join(tmp, "empty-cache")
        p = subprocess.run([h.SNPCTL, "verify", evf, "--trust-ark",
                            os.path.join(tmp, "trusted-ark.pem"), "--nonce", nonce,
                            "--cache-dir", empty, "--kds-url", "http://127.0.0.1:9"],
                           capture_output=True, text=True)
        res.check(p.returncode == 0 and "evidence" in p.stdout and not os.path.exists(empty),
                  "snpctl verify evidence.json: rc %d (0), sources 'evidence', no cache or "
                  "network: %s %s" % (p.returncode, p.stdout.strip()[-600:], p.stderr.strip()))
        bad = dict(ev)
        bad["report"] = base64.b64encode(rpt[:0x50] + bytes(64) + rpt[0x90:]).decode()
        with open(evf, "w") as f:
            json.dump(bad, f)
        p = subprocess.run([h.SNPCTL, "verify", evf, "--trust-ark",
                            os.path.join(tmp, "trusted-ark.pem"), "--offline", "--nonce", nonce],
                           capture_output=True, text=True)
        res.check(p.returncode == 1, "a tampered evidence report fails verify: rc %d (1)" %
                  p.returncode)
        for q, want in (("", 400), ("?nonce=0g", 400), ("?nonce=" + "00" * 65, 400),
                        ("?nonce=00&format=raw", 400), ("?nonce=00&vmpl=4", 400)):
            st, _, _ = h.api_get_full(d, "/v1/evidence" + q)
            res.check(st == want, "/v1/evidence%s: %d (%d)" % (q, st, want))
        st, _, data = h.api_get_full(d, "/metrics")
        m = data.decode()
        res.check('snpd_collateral_state{state="complete"} 1' in m and
                  "snpd_kds_requests_total 3" in m and "snpd_collateral_age_seconds" in m,
                  "/metrics: collateral complete, 3 KDS requests, age")
        fs_status = json.loads(open(d.path("status")).read())
        res.check(fs_status.get("collateral", {}).get("state") == "complete",
                  "/snp/status carries the collateral")
    finally:
        h.stop_clean(d, res)

    # restart with the same cache: zero KDS requests
    before = emu.count()
    d = new_daemon(sim, tmp, "d2", emu.url, cache)
    try:
        d.start()
        c = h.api_status(d, "collateral")
        res.check(c.get("state") == "complete" and emu.count() == before and
                  c.get("kds_requests") == 0,
                  "restart, same CacheDir: complete at READY with 0 KDS requests "
                  "(emulator %d -> %d, %r)" % (before, emu.count(), c.get("state")))
        src = open(d.path("certs", "source")).read()
        res.check("vcek.pem cache" in src and "crl.der cache" in src,
                  "certs/source says cache: %r" % src)
    finally:
        h.stop_clean(d, res)


def scenario_offline_reload(tmp, sim, emu):
    """KdsOffline=yes never asks KDS; a reload with KdsOffline=no applies it."""
    cache = os.path.join(tmp, "cache-off")
    d = new_daemon(sim, tmp, "d-off", emu.url, cache, "KdsOffline=yes\n")
    before = emu.count()
    try:
        d.start()
        c = h.api_status(d, "collateral")
        res.check(c.get("state") == "partial" and "KdsOffline" in (c.get("last_error") or "")
                  and not c.get("next_retry") and emu.count() == before,
                  "KdsOffline=yes, empty cache: partial at READY, says why (%r), no retry, "
                  "no KDS request" % c.get("last_error"))
        st, hd, data = h.api_get_full(d, "/v1/evidence?nonce=00")
        res.check(st == 503 and b"collateral-unavailable" in data,
                  "KdsOffline=yes, empty cache: /v1/evidence 503 collateral-unavailable")
        p = subprocess.run([h.SNPCTL, "doctor", "--socket", d.api, "--mountpoint", d.mnt],
                           capture_output=True, text=True)
        res.check("collateral" in p.stdout and "partial" in p.stdout,
                  "snpctl doctor shows the collateral: %r" %
                  [ln for ln in p.stdout.splitlines() if "collateral" in ln])
        d.write_config(open(d.conf).read().replace("KdsOffline=yes", "KdsOffline=no"))
        d.reload()
        c = wait_coll(d, lambda c: c.get("state") == "complete", "reload KdsOffline=no")
        res.check(c is not None and emu.count() - before == 3,
                  "reload with KdsOffline=no: complete from KDS (%d requests)" %
                  (emu.count() - before))
    finally:
        h.stop_clean(d, res)


def scenario_429(tmp, sim, emu):
    emu.set(mode="429", retry_after="3")
    base = emu.count()
    cache = os.path.join(tmp, "cache429")
    d = new_daemon(sim, tmp, "d429", emu.url, cache)
    served = True
    try:
        d.start()
        seen = {}  # snpd's request count -> the backoff end it reported
        extra = []  # observations with more emulator requests than snpd made
        reloaded = False
        end = time.monotonic() + LIMIT
        while len(seen) < 3 and time.monotonic() < end:
            c = h.api_status(d, "collateral")
            served = served and report_ok(d)
            nr, n = c.get("next_retry"), c.get("kds_requests", 0)
            # in backoff until nr: no request may be made before it ends
            if nr and time.time() < nr - 0.5:
                got = emu.count() - base
                if time.time() < nr - 0.5:
                    if got != n:
                        extra.append((n, got))
                    seen.setdefault(n, nr)
                    if not reloaded:
                        reloaded = True
                        d.reload()  # a reload during the backoff asks nothing
                        n2 = emu.count() - base
                        res.check(n2 == n or time.time() >= nr,
                                  "SIGHUP during the backoff: still %d request(s)" % n2)
            time.sleep(0.2)
        ns = sorted(seen)
        res.check(ns == [1, 2, 3] and not extra,
                  "429: one KDS request per backoff period: snpd's counts in backoff %s, "
                  "emulator beyond them %s" % (ns, extra))
        gaps = [seen[k + 1] - seen[k] for k in ns[:-1] if k + 1 in seen]
        res.check(len(gaps) == 2 and all(g >= 2 for g in gaps),
                  "429: each next request waited for Retry-After (backoff ends %s s apart)" %
                  gaps)
        res.check(served, "reports served the whole time (HTTP 200, 1184 bytes)")
        res.check("429" in (h.api_status(d, "collateral").get("last_error") or ""),
                  "status last_error names the 429: %r" %
                  h.api_status(d, "collateral").get("last_error"))
        emu.set(mode="normal", retry_after="")
        c = wait_coll(d, lambda c: c.get("state") == "complete", "after the 429 window")
        res.check(c is not None and report_ok(d),
                  "complete once KDS answers again (%d requests in all)" %
                  (emu.count() - base))
    finally:
        emu.set(mode="normal", retry_after="")
        h.stop_clean(d, res)


def scenario_hang(tmp, sim, emu):
    """A KDS that never answers: READY and reports do not wait for it, and
    SIGTERM aborts the transfer instead of waiting out its 30 s timeout."""
    emu.set(mode="hang")
    base = emu.count()
    d = new_daemon(sim, tmp, "d-hang", emu.url, os.path.join(tmp, "cache-hang"))
    try:
        d.start()
        end = time.monotonic() + LIMIT
        while emu.count() == base and time.monotonic() < end:
            time.sleep(0.1)
        c = h.api_status(d, "collateral")
        res.check(emu.count() > base and c.get("checking") and report_ok(d),
                  "KDS hanging: READY sent, a request in flight, reports served")
        t0 = time.monotonic()
        rc = d.stop()
        took = time.monotonic() - t0
        log = d.read_log()
        res.check(rc == 0 and "Sanitizer" not in log,
                  "SIGTERM with a KDS request in flight: exit %s after %.1f s (the transfer "
                  "aborted; not a timed check)" % (rc, took))
        d.cleanup()
    finally:
        emu.set(mode="normal")
        h.stop_clean(d, res) if d.proc and d.proc.poll() is None else None


def scenario_bad_kds(tmp, sim, emu, mode):
    emu.set(mode=mode)
    cache = os.path.join(tmp, "cache-" + mode)
    d = new_daemon(sim, tmp, "d-" + mode, emu.url, cache)
    try:
        d.start()
        c = wait_coll(d, lambda c: c.get("last_error") and c.get("next_retry"),
                      mode + ": pass over")
        res.check(c is not None and c["state"] == "partial" and "VCEK" in c["last_error"],
                  "%s VCEK from KDS: refused, state %s: %r" % (
                      mode, c and c["state"], c and c["last_error"]))
        names = h.sorted_listdir(d.path("certs"))
        res.check("vcek.pem" not in names and h.sorted_listdir(os.path.join(cache, "vcek")) == [],
                  "%s: not served (%s) and not cached" % (mode, names))
        res.check(report_ok(d), "%s: reports still served" % mode)
        st, hd, _ = h.api_get_full(d, "/v1/evidence?nonce=00")
        res.check(st == 503 and "retry-after" in hd,
                  "%s: /v1/evidence 503 with Retry-After (%d)" % (mode, st))
    finally:
        emu.set(mode="normal")
        h.stop_clean(d, res)


def table_scenarios(tmp, sim0, emu):
    """Host tables: a stale VCEK, then an ASK of another root."""
    # the emulator keeps serving the genuine simulated chip (sim0); the
    # host's copy (sim1) is tampered with
    sim1 = os.path.join(tmp, "sim-stale")
    shutil.copytree(sim0, sim1)
    # the simulator's stale table: a VCEK of the same hwID and ASK, every
    # non-zero SPL of REPORTED_TCB one lower, with that TCB's key (the
    # firmware derives one per TCB, sim/identity.c); a
    # vcek.pem of another TCB planted in its directory would be reissued
    h.sim_set_params(sim1, host_certs="stale")
    chip = emu_mod.Chip(sim0)
    before = emu.count()
    d = new_daemon(sim1, tmp, "d-stale", emu.url, os.path.join(tmp, "cache-stale"))
    try:
        d.start()
        c = wait_coll(d, lambda c: c.get("state") == "complete", "stale table: complete")
        src = open(d.path("certs", "source")).read() if c else ""
        res.check(c is not None and "stale" in (c.get("host_table") or "") and
                  "vcek.pem kds" in src and "ask.pem host" in src and
                  "ark.pem host" in src,
                  "host table with a stale VCEK: flagged (%r), VCEK from KDS, ASK/ARK from "
                  "the host: %r" % (c and c.get("host_table"), src))
        served = open(d.path("certs", "vcek.pem"), "rb").read()
        res.check(served == chip.vcek.public_bytes(serialization.Encoding.PEM),
                  "the served VCEK is the chip's current one, not the stale one")
        res.check(emu.count() - before == 2,
                  "stale table: 2 KDS requests (VCEK, CRL): %d" % (emu.count() - before))
    finally:
        h.stop_clean(d, res)

    # an ASK (and ARK) of another root in the host's table: refused
    sim2 = os.path.join(tmp, "sim-foreign")
    shutil.copytree(sim0, sim2)
    h.sim_set_params(sim2, host_certs="1")
    other = os.path.join(tmp, "other")
    h.sim_init(other)
    for f in ("ark.pem", "ask.pem"):
        shutil.copy(os.path.join(other, f), os.path.join(sim2, f))
    d = new_daemon(sim2, tmp, "d-foreign", emu.url, os.path.join(tmp, "cache-foreign"))
    try:
        d.start()
        c = wait_coll(d, lambda c: c.get("state") == "complete", "foreign table: complete")
        src = open(d.path("certs", "source")).read() if c else ""
        ark = open(d.path("certs", "ark.pem"), "rb").read() if c else b""
        res.check(c is not None and "refused" in (c.get("host_table") or "") and
                  "ask.pem kds" in src and "vcek.pem kds" in src and
                  ark == chip.ark.public_bytes(serialization.Encoding.PEM),
                  "host table not chaining to the trusted root: refused (%r), all from KDS: "
                  "%r" % (c and c.get("host_table"), src))
    finally:
        h.stop_clean(d, res)


def main():
    tmp = __import__("tempfile").mkdtemp(prefix="snpd-kds-daemon-")
    os.chmod(tmp, 0o755)
    sim = os.path.join(tmp, "sim")
    h.sim_init(sim)
    h.sim_set_params(sim, host_certs="0")
    shutil.copy(os.path.join(sim, "ark.pem"), os.path.join(tmp, "trusted-ark.pem"))
    emu = kdsemu.Emulator(sim)
    try:
        scenario_no_table(tmp, sim, emu)
        scenario_offline_reload(tmp, sim, emu)
        scenario_429(tmp, sim, emu)
        scenario_hang(tmp, sim, emu)
        for mode in ("truncate", "wrong"):
            scenario_bad_kds(tmp, sim, emu, mode)
        table_scenarios(tmp, sim, emu)
    finally:
        emu.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    res.done()


main()
