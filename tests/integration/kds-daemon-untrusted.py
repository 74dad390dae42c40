# SPDX-License-Identifier: Apache-2.0
"""What the host's table, KDS (here the emulator, tests/helpers/kds-emulator.py,
127.0.0.1 only) and the cache hand snpd is checked before it is used or
shown. On a simulated chip, its ARK trusted through --trust-ark:
 - the host's leaf must be the report's signer: with CHIP_ID masked
   (mask_chip_id=1), a VCEK with the chip's extensions but another key
   (signed by the ASK), and on a VLEK platform a VLEK of another key
   (signed by the ASVK), are not served; the status says why and evidence
   is refused (503) instead of going out with a leaf every verifier fails;
 - a CRL whose issuer holds control bytes and bytes that are not UTF-8
   (KDS mode badissuer): the status still has last_error, as printable
   ASCII, and the log carries none of those bytes;
 - FIFOs in the cache in place of the VCEK, the cert_chain and the CRL are
   misses: the collateral completes from KDS and SIGTERM stops snpd at once
   (before, the worker blocked on the FIFO and the stop hung in
   pthread_join); a complete set is looked up again at its CRL's
   nextUpdate (status next_retry)."""

import os
import shutil
import stat
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
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
import kdsemu  # noqa: E402

emu_mod = kdsemu.emulator_module()
LIMIT = 60  # seconds before a wait is called a failure (never a pass condition)

res = t.Results()


def wait_coll(d, pred, what):
    """h.wait_status() of /v1/status's collateral, LIMIT s."""
    return h.wait_status(res, d, pred, what, LIMIT)


def daemon(tmp, name, sim, emu, cache):
    os.makedirs(os.path.join(tmp, name))
    return h.Daemon(tmp=os.path.join(tmp, name), sim_dir=sim,
                    config="[Daemon]\nKdsUrl=%s\n" % emu.url,
                    args=["--cache-dir", cache, "--trust-ark", os.path.join(sim, "ark.pem")])


def rekeyed(sim, leaf, ca):
    """STATE/@leaf.pem with another P-384 key, its names and extensions
    unchanged (serial 1: the builder takes no 0), signed by STATE/@ca-key.pem
    as the simulated CA signs (RSASSA-PSS): a genuine-looking leaf that did
    not sign the reports."""
    def load(n):
        with open(os.path.join(sim, n), "rb") as f:
            return f.read()
    cert = x509.load_pem_x509_certificate(load(leaf + ".pem"))
    ca_key = serialization.load_pem_private_key(load(ca + "-key.pem"), None)
    algid = emu_mod.der_elems(cert.public_bytes(serialization.Encoding.DER))[1][1]
    b = x509.CertificateBuilder().subject_name(cert.subject).issuer_name(cert.issuer) \
        .public_key(ec.generate_private_key(ec.SECP384R1()).public_key()) \
        .serial_number(1).not_valid_before(cert.not_valid_before) \
        .not_valid_after(cert.not_valid_after)
    for e in cert.extensions:
        b = b.add_extension(e.value, e.critical)
    der = emu_mod.pss_sign(b.sign(ca_key, hashes.SHA384()).public_bytes(
        serialization.Encoding.DER), ca_key, algid)
    new = x509.load_der_x509_certificate(der)
    with open(os.path.join(sim, leaf + ".pem"), "wb") as f:
        f.write(new.public_bytes(serialization.Encoding.PEM))
    return new.public_bytes(serialization.Encoding.PEM)


def scenario_leaf(tmp, what, sim_args, params, leaf, ca):
    """The host's table holds a leaf of the chip's CA with another key."""
    sim = os.path.join(tmp, "sim-" + what)
    h.sim_init(sim, *sim_args)
    h.sim_set_params(sim, **params)
    emu = kdsemu.Emulator(sim)  # the chip's own certificates, read now
    d = None
    try:
        bad = rekeyed(sim, leaf, ca)
        d = daemon(tmp, "d-" + what, sim, emu, os.path.join(tmp, "cache-" + what))
        d.start()
        c = wait_coll(d, lambda c: c.get("state") and not c.get("checking"), what)
        note = (c or {}).get("host_table") or ""
        names = os.listdir(d.path("certs")) if c else []
        served = b""
        if leaf + ".pem" in names:
            served = open(d.path("certs", leaf + ".pem"), "rb").read()
        res.check(c is not None and c.get("state") != "complete" and
                  "not the report's signer" in note and served != bad,
                  "%s: the host's %s of another key is not served: state %r, host_table %r, "
                  "certs/ %s" % (what, leaf.upper(), c and c.get("state"), note, names))
        st, data = h.api_get(d, "/v1/evidence?nonce=00")
        res.check(st == 503 and b"collateral-unavailable" in data,
                  "%s: /v1/evidence refused (503) without the report's own %s: %d %s" %
                  (what, leaf.upper(), st, data[:200]))
    finally:
        if d:
            h.stop_clean(d, res)
        emu.stop()


def printable(s):
    return all(0x20 <= ord(ch) <= 0x7e for ch in s)


def scenario_bad_issuer(tmp, sim, emu):
    emu.set(mode="badissuer")
    d = daemon(tmp, "d-issuer", sim, emu, os.path.join(tmp, "cache-issuer"))
    try:
        d.start()
        c = wait_coll(d, lambda c: c.get("next_retry") and not c.get("checking"),
                      "bad CRL issuer: pass over")
        err = (c or {}).get("last_error")
        res.check(c is not None and isinstance(err, str) and "CRL issuer is" in err and
                  printable(err) and "\\x1b" in err and "\\xff" in err,
                  "a CRL issuer with control and non-UTF-8 bytes: status last_error kept, "
                  "printable, escaped: %r (state %r)" % (err, c and c.get("state")))
        with open(d.log, "rb") as f:
            log = f.read()
        res.check(b"CRL issuer is" in log and b"\x1b" not in log and b"\xff" not in log,
                  "the log names the CRL issuer without its raw bytes")
    finally:
        emu.set(mode="normal")
        h.stop_clean(d, res)


def scenario_fifo(tmp, sim, emu):
    chip = emu_mod.Chip(sim)
    cache = os.path.join(tmp, "cache-fifo")
    s = chip.spl
    fifos = [("vcek", "Milan-%s-0-%d-%d-%d-%d.der" % (chip.hwid, s["blSPL"], s["teeSPL"],
                                                     s["snpSPL"], s["ucodeSPL"])),
             ("chain", "Milan-vcek.pem"), ("crl", "Milan-vcek.crl")]
    for sub, name in fifos:
        os.makedirs(os.path.join(cache, sub), exist_ok=True)
        os.mkfifo(os.path.join(cache, sub, name), 0o644)
    n = emu.count()
    d = daemon(tmp, "d-fifo", sim, emu, cache)
    try:
        d.start()
        c = wait_coll(d, lambda c: c.get("state") == "complete", "FIFOs in the cache")
        kinds = {sub: stat.S_ISREG(os.lstat(os.path.join(cache, sub, name)).st_mode)
                 for sub, name in fifos}
        res.check(c is not None and emu.count() - n == 3 and all(kinds.values()),
                  "FIFOs in the cache (VCEK, cert_chain, CRL) are misses: complete from KDS "
                  "with %d requests (3), now regular files %r" % (emu.count() - n, kinds))
        # the emulator's CRL is current for 7 days: looked up again then
        now = time.time()
        nr = (c or {}).get("next_retry")
        res.check(c is not None and isinstance(nr, int) and
                  abs(nr - (now + 7 * 86400)) < 3 * 3600,
                  "complete: looked up again at the CRL's nextUpdate (next_retry in %s s, "
                  "~%d)" % (nr - int(now) if isinstance(nr, int) else nr, 7 * 86400))
    finally:
        t0 = time.monotonic()
        rc = d.stop()
        took = time.monotonic() - t0
        res.check(rc == 0, "SIGTERM: snpd exits 0 (%s after %.1f s; a stop that hangs is "
                  "killed after 30 s)" % (rc, took))
        d.cleanup()


def main():
    tmp = tempfile.mkdtemp(prefix="snpd-kds-untrusted-")
    os.chmod(tmp, 0o755)
    try:
        scenario_leaf(tmp, "masked-vcek", [], {"mask_chip_id": "1"}, "vcek", "ask")
        scenario_leaf(tmp, "vlek", ["--vlek", "1"], {}, "vlek", "asvk")
        sim = os.path.join(tmp, "sim")
        h.sim_init(sim)
        h.sim_set_params(sim, host_certs="none")
        emu = kdsemu.Emulator(sim)
        try:
            scenario_bad_issuer(tmp, sim, emu)
            scenario_fifo(tmp, sim, emu)
        finally:
            emu.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    res.done()


main()
