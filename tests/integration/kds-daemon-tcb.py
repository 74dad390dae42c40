# SPDX-License-Identifier: Apache-2.0
"""snpd's collateral when the platform's TCB changes while it runs, never
serving unchecked certificates, and a KDS that signs badly; against the KDS
emulator (127.0.0.1 only) and a simulated chip. Shows:
 - a firmware update (the simulator's params: current/committed/reported
   TCB raised, the chip unchanged) while snpd runs, the host's table now
   stale (host_certs=stale): after SIGHUP snpd reports the new TCB, flags
   the host's VCEK as stale, fetches the VCEK of the new TCB from KDS and
   serves it (source kds); /v1/evidence verifies and carries the new TCB;
 - between a reload that changed the TCB and the worker's check of the
   host's table, no certificate is served (the check is held up
   deterministically: TrustArk=, which it reads first, is a file on
   tests/helpers/held-file whose open is held, a slow disk, from once the
   reload has read the configuration while the device is held; snpd reads
   no FIFO); once it can be read, the host's (now checked) VCEK is served;
 - a reload that does not change the TCB keeps the checked set;
 - a VCEK from KDS with the right extensions but signed by another key
   (emulator mode badsig) is refused and never cached: one VCEK request
   per pass, the cache stays empty; a bad VCEK planted in the cache is
   removed by snpd and fetched again, once;
 - KdsCAFile= (HTTPS to the emulator with its test CA) and CacheMaxSize=."""

import base64
import json
import os
import shutil
import signal
import subprocess
import sys

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


def wait_coll(d, pred, what):
    """h.wait_status() of /v1/status's collateral, LIMIT s."""
    return h.wait_status(res, d, pred, what, LIMIT)


def sources(d):
    try:
        return open(d.path("certs", "source")).read().splitlines()
    except OSError:
        return []


def verify_evidence(tmp, d, trusted, want_tcb):
    nonce = os.urandom(32).hex()
    st, data = h.api_get(d, "/v1/evidence?nonce=" + nonce)
    ev = json.loads(data) if st == 200 else {}
    rpt = base64.b64decode(ev.get("report", ""))
    got = int.from_bytes(rpt[0x180:0x188], "little") if len(rpt) == 1184 else None
    res.check(st == 200 and got == want_tcb,
              "/v1/evidence: 200, REPORTED_TCB 0x%x (want 0x%x)" % (got or 0, want_tcb))
    evf = os.path.join(tmp, "evidence.json")
    with open(evf, "wb") as f:
        f.write(data)
    p = subprocess.run([h.SNPCTL, "verify", evf, "--trust-ark", trusted, "--nonce", nonce,
                        "--offline", "--cache-dir", os.path.join(tmp, "verify-cache")],
                       capture_output=True, text=True)
    res.check(p.returncode == 0, "snpctl verify evidence.json with the new TCB: rc %d (0) %s%s"
              % (p.returncode, p.stdout[-400:], p.stderr[-400:]))


def scenario_tcb_change(tmp, sim, emu, trusted):
    """Items 1 and 2: a firmware update at runtime; nothing unchecked served."""
    emu.set(mode="normal", any_tcb=1)
    h.sim_set_params(sim, host_certs="full")
    cache = os.path.join(tmp, "cache-tcb")
    os.makedirs(os.path.join(tmp, "d-tcb"))
    hf = h.HeldFile(tmp, trusted)
    d = h.Daemon(tmp=os.path.join(tmp, "d-tcb"), sim_dir=sim,
                 config="[Daemon]\nKdsUrl=%s\n" % emu.url,
                 args=["--cache-dir", cache, "--trust-ark", hf.path])
    try:
        d.start()
        c = wait_coll(d, lambda c: c.get("state") == "complete", "start: complete")
        old = h.view_tcb(d)
        res.check(c is not None and "vcek.pem host" in sources(d),
                  "start, full host table: VCEK from the host (%r)" % sources(d))
        old_pem = open(d.path("certs", "vcek.pem"), "rb").read()

        # a firmware update: microcode SPL (byte 7 in every layout) + 1
        new = old + (1 << 56)
        h.sim_set_params(sim, current_tcb="0x%016x" % new, committed_tcb="0x%016x" % new,
                   reported_tcb="0x%016x" % new, host_certs="stale")
        before = emu.paths()
        d.reload()
        res.check(h.view_tcb(d) == new,
                  "after SIGHUP the view reports the new TCB 0x%x (was 0x%x): %r" % (
                      new, old, h.view_tcb(d)))
        c = wait_coll(d, lambda c: c.get("state") == "complete" and
                      "vcek.pem kds" in sources(d), "new TCB: VCEK from KDS")
        pem = open(d.path("certs", "vcek.pem"), "rb").read() if c else old_pem
        res.check(c is not None and "stale" in (c.get("host_table") or ""),
                  "the host's VCEK (older TCB) is flagged stale: %r" % (c and c.get("host_table")))
        res.check(h.vcek_ucode(pem) == (new >> 56) and pem != old_pem,
                  "the served VCEK is for the new TCB: ucodeSPL %d (want %d)" % (
                      h.vcek_ucode(pem), new >> 56))
        after = emu.paths()
        fetched = [p for p in after if p.startswith("/vcek/v1/") and "ucodeSPL=" in p and
                   after[p] > before.get(p, 0)]
        res.check(len(fetched) == 1 and ("ucodeSPL=%d" % (new >> 56)) in fetched[0],
                  "one VCEK request, for the new TCB: %r" % fetched)
        verify_evidence(tmp, d, trusted, new)

        # a reload with the same TCB keeps the checked set at once
        gen_src = sources(d)
        d.reload()
        res.check(sources(d) == gen_src and "vcek.pem kds" in gen_src,
                  "a reload with the same TCB keeps the checked set: %r" % sources(d))

        # Item 2: another update, the host's table right (full) but not yet
        # checked: the worker's local pass is held up opening TrustArk= (on
        # held-file, a slow disk) from once the reload has read the
        # configuration, until the test lets it go.
        newer = new + (1 << 56)
        h.sim_set_params(sim, current_tcb="0x%016x" % newer, committed_tcb="0x%016x" % newer,
                   reported_tcb="0x%016x" % newer, host_certs="full")
        held = h.DeviceHeld(d)
        try:
            d.proc.send_signal(signal.SIGHUP)
            d.wait_for("RELOADING=1")
            ok = h.wait_until(lambda: h.api_status(d)["reloading"] and
                              h.api_status(d)["broker"]["device_busy"])
            res.check(ok, "SIGHUP: the configuration is read, its reference report on the "
                      "device")
            hf.hold()
        finally:
            held.release()
        d.wait_for("READY=1")
        res.check(h.view_tcb(d) == newer, "the view reports the newer TCB")
        names = h.sorted_listdir(d.path("certs"))
        st, data = h.api_get(d, "/v1/certificates", {"Accept": "application/json"})
        j = json.loads(data) if st == 200 else {}
        res.check(not any(n in names for n in ("vcek.pem", "ask.pem", "ark.pem")) and
                  not j.get("vcek") and not j.get("ask"),
                  "TCB changed, host's table not checked yet: no certificate served "
                  "(/snp/certs %s, /v1/certificates %d %s)" % (names, st, sorted(j)))
        st, data = h.api_get(d, "/v1/evidence?nonce=00")
        res.check(st == 503, "/v1/evidence meanwhile: 503 (%d)" % st)
        res.check(h.api_status(d, "collateral").get("state") != "complete",
                  "status does not say complete meanwhile: %r" %
                  h.api_status(d, "collateral").get("state"))
        # TrustArk= can be read: the check completes
        ok = hf.wait_held(LIMIT)
        hf.release()
        res.check(ok, "the worker was held opening TrustArk=, then let go")
        c = wait_coll(d, lambda c: c.get("state") == "complete" and
                      "vcek.pem host" in sources(d), "checked host table served")
        pem = open(d.path("certs", "vcek.pem"), "rb").read() if c else b""
        res.check(c is not None and h.vcek_ucode(pem) == (newer >> 56),
                  "then the host's VCEK, checked, is served (%r)" % sources(d))
    finally:
        hf.release()  # a held open would hold snpd's stop
        try:
            h.stop_clean(d, res)
        finally:
            hf.stop()  # HelperFailed unless held-file ended cleanly


def vcek_requests(emu):
    return sum(n for p, n in emu.paths().items() if p.startswith("/vcek/v1/") and "SPL=" in p)


def scenario_badsig(tmp, sim, emu):
    """Item 3: a VCEK signed by another key is never cached; a cached one
    is removed and fetched again, once per pass."""
    h.sim_set_params(sim, host_certs="none")
    emu.set(mode="badsig", any_tcb=0)
    cache = os.path.join(tmp, "cache-badsig")
    os.makedirs(os.path.join(tmp, "d-badsig"))
    before = vcek_requests(emu)
    d = h.Daemon(tmp=os.path.join(tmp, "d-badsig"), sim_dir=sim,
                 config="[Daemon]\nKdsUrl=%s\n" % emu.url, args=["--cache-dir", cache])
    try:
        d.start()
        c = wait_coll(d, lambda c: c.get("last_error") and c.get("next_retry"),
                      "badsig: pass over")
        res.check(c is not None and c["state"] == "partial" and "VCEK" in c["last_error"] and
                  "not signed" in c["last_error"],
                  "badsig VCEK from KDS: refused (%r)" % (c and c.get("last_error")))
        res.check(h.sorted_listdir(os.path.join(cache, "vcek")) == [] and
                  "vcek.pem" not in h.sorted_listdir(d.path("certs")),
                  "badsig: not cached (%s), not served" %
                  h.sorted_listdir(os.path.join(cache, "vcek")))
        res.check(vcek_requests(emu) - before == 1,
                  "badsig: one VCEK request in the pass (%d)" % (vcek_requests(emu) - before))
    finally:
        h.stop_clean(d, res)

    # plant the badly signed VCEK where the cache keeps this chip's VCEK
    st, body = emu.get(next(p for p in emu.paths() if p.startswith("/vcek/v1/") and
                            "SPL=" in p))
    name = None
    for p in emu.paths():
        if p.startswith("/vcek/v1/") and "SPL=" in p:
            prod, rest = p.split("/")[3], p.split("/")[4]
            hwid, q = rest.split("?")
            spl = dict(kv.split("=") for kv in q.split("&"))
            name = "%s-%s-%d-%d-%d-%d-%d.der" % (
                prod, hwid.lower(), int(spl.get("fmcSPL", 0)), int(spl["blSPL"]),
                int(spl["teeSPL"]), int(spl["snpSPL"]), int(spl["ucodeSPL"]))
    os.makedirs(os.path.join(cache, "vcek"), exist_ok=True)
    with open(os.path.join(cache, "vcek", name), "wb") as f:
        f.write(body)
    emu.set(mode="normal")
    before = vcek_requests(emu)
    d = h.Daemon(tmp=os.path.join(tmp, "d-badsig"), sim_dir=sim,
                 config="[Daemon]\nKdsUrl=%s\n" % emu.url, args=["--cache-dir", cache])
    try:
        d.start()
        c = wait_coll(d, lambda c: c.get("state") == "complete" or c.get("next_retry"),
                      "planted badsig: pass over")
        res.check(c is not None and c["state"] == "complete" and "vcek.pem kds" in sources(d),
                  "a badly signed VCEK in the cache is removed and fetched again: %r %r" % (
                      c and c.get("state"), sources(d)))
        res.check(vcek_requests(emu) - before == 1,
                  "fetched again once (%d VCEK request(s))" % (vcek_requests(emu) - before))
        cached = open(os.path.join(cache, "vcek", name), "rb").read() if c else b""
        res.check(cached != body and len(cached) > 0, "the cache now holds the good VCEK")
    finally:
        h.stop_clean(d, res)
    h.sim_set_params(sim, host_certs="full")


def scenario_https(tmp, sim):
    """Item 4: KdsCAFile= (HTTPS to a mirror with its own CA), CacheMaxSize=."""
    h.sim_set_params(sim, host_certs="none")
    tls = os.path.join(tmp, "tls")
    os.makedirs(tls)
    emu = kdsemu.Emulator(sim, tls_dir=tls)
    cache = os.path.join(tmp, "cache-https")
    vdir = os.path.join(cache, "vcek")
    os.makedirs(vdir)
    # older entries of other chips: 3 x 2 KiB, evicted first under a 4 KiB bound
    for i in range(3):
        fn = os.path.join(vdir, "Milan-%02x-0-1-0-1-1.der" % i)
        with open(fn, "wb") as f:
            f.write(bytes(2048))
        os.utime(fn, (1000000000 + i, 1000000000 + i))
    os.makedirs(os.path.join(tmp, "d-https"))
    d = h.Daemon(tmp=os.path.join(tmp, "d-https"), sim_dir=sim,
                 config="[Daemon]\nKdsUrl=%s\nKdsCAFile=%s\nCacheMaxSize=4096\n" % (
                     emu.https_url, emu.ca), args=["--cache-dir", cache])
    try:
        d.start()
        out = subprocess.run([h.SNPD, "--config", d.conf, "--dump-config"],
                             capture_output=True, text=True).stdout
        res.check("KdsCAFile=" + emu.ca in out and "CacheMaxSize=4096" in out,
                  "--dump-config shows KdsCAFile= and CacheMaxSize=")
        c = wait_coll(d, lambda c: c.get("state") == "complete" or c.get("next_retry"),
                      "https: pass over")
        res.check(c is not None and c["state"] == "complete" and "vcek.pem kds" in sources(d),
                  "KDS over HTTPS with KdsCAFile=: complete from KDS (%r, %r)" % (
                      c and c.get("last_error"), sources(d)))
        names = h.sorted_listdir(vdir)
        size = sum(os.path.getsize(os.path.join(vdir, n)) for n in names)
        res.check(size <= 4096 and len(names) >= 1 and
                  not any(n.startswith("Milan-00-") for n in names),
                  "CacheMaxSize=4096: vcek/ holds %d bytes %s, oldest evicted" % (size, names))
    finally:
        h.stop_clean(d, res)
    # the same without KdsCAFile=: the system's CAs do not know the test CA
    os.makedirs(os.path.join(tmp, "d-https2"))
    d = h.Daemon(tmp=os.path.join(tmp, "d-https2"), sim_dir=sim,
                 config="[Daemon]\nKdsUrl=%s\n" % emu.https_url,
                 args=["--cache-dir", os.path.join(tmp, "cache-https2")])
    try:
        d.start()
        c = wait_coll(d, lambda c: c.get("next_retry"), "https without the CA: pass over")
        res.check(c is not None and c["state"] != "complete" and c.get("last_error"),
                  "without KdsCAFile=: a TLS failure, not complete (%r)" % (
                      c and c.get("last_error")))
    finally:
        h.stop_clean(d, res)
        emu.stop()
    h.sim_set_params(sim, host_certs="full")


def main():
    tmp = __import__("tempfile").mkdtemp(prefix="snpd-kds-tcb-")
    os.chmod(tmp, 0o755)
    sim = os.path.join(tmp, "sim")
    h.sim_init(sim)
    trusted = os.path.join(tmp, "trusted-ark.pem")
    shutil.copy(os.path.join(sim, "ark.pem"), trusted)
    emu = kdsemu.Emulator(sim)
    try:
        scenario_badsig(tmp, sim, emu)
        scenario_https(tmp, sim)
        scenario_tcb_change(tmp, sim, emu, trusted)
    finally:
        emu.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    res.done()


main()
