# SPDX-License-Identifier: Apache-2.0
"""A version-2 report does not say its product; the host's certificate
table must not say it for snpd. Against simulated chips making v2 reports,
the KDS emulator (tests/helpers/kds-emulator.py, 127.0.0.1 only) serving
the genuine chip, and the simulated ARK trusted through TrustArk=. Shows:
 (a) a genuine host table (ARK, ASK, VCEK of the chip): at READY the
     view's product is Milan from the checked VCEK (product_source
     "certificate"), the collateral completes;
 (b) on a Milan, the host's table holds a self-made "VCEK" (the chip's
     own public key, so the report's signature verifies with it, but
     issued by a key that is no ASK) whose productName says Turin: /snp/tcb and platform.json keep the
     Milan/Genoa TCB layout (no fmc), the report JSON never says Turin,
     KDS is never asked for Turin, and the collateral completes from the
     trusted chain (the chip's VCEK from KDS), after which the product is
     Milan, from the certificate;
 (c) on a Turin (8-byte CHIP_ID), the host's self-made VCEK says
     Milan-B0: /snp/tcb keeps the Turin layout (fmc=...), KDS is never
     asked for Milan, the collateral completes."""

import json
import os
import shutil
import sys
import tempfile

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
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402
import kdsemu  # noqa: E402

emu_mod = kdsemu.emulator_module()

LIMIT = 120  # seconds before a wait is called a failure (never a pass condition)
AMD = "1.3.6.1.4.1.3704.1."
res = t.Results()


def wait_complete(d, what):
    """h.wait_status() until the collateral of /v1/status is complete."""
    return h.wait_status(res, d, lambda c: c.get("state") == "complete",
                         "%s: the collateral completes" % what, LIMIT,
                         get=lambda d: h.api_status(d, "collateral", timeout=120))


def forge_leaf(sim, product):
    """The chip's VCEK (its public key, subject, issuer name, SPLs, hwID)
    with productName @product, issued by a key of the host's own (not the
    ASK's); written as the sim's vcek.pem, which its host hands out in the
    certificate table (the simulator keeps a leaf whose SPLs are those of
    REPORTED_TCB)."""
    chip = emu_mod.Chip(sim)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    v = chip.vcek
    b = x509.CertificateBuilder().subject_name(v.subject).issuer_name(v.issuer).public_key(
        v.public_key()).serial_number(x509.random_serial_number()).not_valid_before(
        v.not_valid_before).not_valid_after(v.not_valid_after)
    for e in v.extensions:
        val = e.value
        if e.oid.dotted_string == AMD + "2":
            val = x509.UnrecognizedExtension(e.oid, b"\x16" + bytes([len(product)]) +
                                             product.encode())
        b = b.add_extension(val, e.critical)
    der = b.sign(key, hashes.SHA384()).public_bytes(serialization.Encoding.DER)
    der = emu_mod.pss_sign(der, key, chip.pss_algid)
    with open(os.path.join(sim, "vcek.pem"), "wb") as f:
        f.write(x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM))


def daemon(tmp, name, sim, emu, ark):
    os.makedirs(os.path.join(tmp, name), exist_ok=True)
    return h.Daemon(tmp=os.path.join(tmp, name), sim_dir=sim,
                    config="[Daemon]\nKdsUrl=%s\nTrustArk=%s\n" % (emu.url, ark),
                    args=["--cache-dir", os.path.join(tmp, name, "cache")])


def view(d):
    """(tcb lines, platform.json product and product_source, the product of
    a fresh report's JSON)."""
    tcb = open(d.path("tcb")).read()
    pj = json.load(open(d.path("platform.json")))
    st, data = h.api_get(d, "/v1/report?nonce=0102", timeout=120)
    rj = json.loads(data).get("report_fields", {}) if st == 200 else {}
    return tcb, pj.get("product"), pj.get("product_source"), rj.get("product")


def kds_products(emu):
    return sorted({p.split("/")[3] for p in emu.paths() if p.count("/") >= 4})


def scenario(tmp, name, product, forged, want_tcb):
    """A chip of @product (v2 reports); its host's VCEK forged to say
    @forged (None: the genuine table)."""
    sim0 = os.path.join(tmp, name + "-chip")
    h.sim_init(sim0, "--product", product, "--report-version", "2")
    ark = os.path.join(tmp, name + "-trusted-ark.pem")
    shutil.copy(os.path.join(sim0, "ark.pem"), ark)
    sim = os.path.join(tmp, name + "-host")
    shutil.copytree(sim0, sim)
    h.sim_set_params(sim, host_certs="full")
    if forged:
        forge_leaf(sim, forged)
    host_leaf = open(os.path.join(sim, "vcek.pem"), "rb").read()
    emu = kdsemu.Emulator(sim0)
    genuine = open(os.path.join(sim0, "vcek.pem"), "rb").read()
    d = daemon(tmp, name, sim, emu, ark)
    what = "%s v2, host VCEK %s" % (product, "says " + forged if forged else "genuine")
    try:
        d.start()
        res.check(open(os.path.join(sim, "vcek.pem"), "rb").read() == host_leaf and
                  (not forged or host_leaf != genuine),
                  "%s: the simulated host hands out the leaf of the test" % what)
        tcb, pp, ps, rp = view(d)
        res.check(all(w in tcb for w in want_tcb) and ("fmc=" in tcb) == (product == "Turin"),
                  "%s: at READY /snp/tcb has the %s layout (%s): %r" % (
                      what, product, ", ".join(want_tcb), tcb.splitlines()[0]))
        if forged:
            res.check(pp != forged.split("-")[0] and rp != forged.split("-")[0],
                      "%s: at READY platform.json (%s from %s) and the report JSON (%s) do "
                      "not say %s" % (what, pp, ps, rp, forged))
        else:
            res.check(pp == product and ps == "certificate" and rp == product,
                      "%s: at READY platform.json says %s from the certificate (%s from %s), "
                      "the report JSON too (%s)" % (what, product, pp, ps, rp))
        c = wait_complete(d, what)
        served = open(d.path("certs", "vcek.pem"), "rb").read() if c else b""
        res.check(c is not None and served == genuine,
                  "%s: the collateral completes, the served VCEK is the chip's (host table %r)"
                  % (what, c and c.get("host_table")))
        if forged:
            res.check(c is not None and "refused" in (c.get("host_table") or ""),
                      "%s: the host's table is refused: %r" % (what, c and c.get("host_table")))
        tcb, pp, ps, rp = view(d)
        res.check(all(w in tcb for w in want_tcb) and ("fmc=" in tcb) == (product == "Turin") and
                  pp == product and ps == "certificate" and rp == product,
                  "%s: complete: /snp/tcb %s layout, platform.json %s from %s, report JSON %s "
                  "(want %s from the certificate)" % (what, product, pp, ps, rp, product))
        asked = kds_products(emu)
        res.check(asked == [product] or (not forged and asked in ([], [product])),
                  "%s: KDS asked for %s only: %r" % (what, product, asked))
    finally:
        h.stop_clean(d, res)
        emu.stop()


def main():
    tmp = tempfile.mkdtemp(prefix="snpd-host-product-")
    os.chmod(tmp, 0o755)
    try:
        scenario(tmp, "genuine", "Milan", None,
                 ["bootloader=3 tee=0 snp=8 microcode=115"])
        scenario(tmp, "milan", "Milan", "Turin",
                 ["bootloader=3 tee=0 snp=8 microcode=115"])
        scenario(tmp, "turin", "Turin", "Milan-B0",
                 ["fmc=1 bootloader=1 tee=1 snp=3 microcode=68"])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    res.done()


main()
