# SPDX-License-Identifier: Apache-2.0
"""The simulator across a firmware update made by editing its params (as
the tests of snpd's TCB handling do): every process that opens the state
afterwards, not only one that was running, signs with and hands out the
VCEK (and VLEK) of the new REPORTED_TCB, and the state directory's
vcek.pem/vlek.pem follow. Checked with python3-cryptography: the report's
REPORTED_TCB against the SPL extensions of the certificate in the host's
table and of the directory's file, and the report's signature with it.

As on hardware, every TCB has its own VCEK (VLEK) key, a function of the
chip's (CSP's) seed and the TCB alone:
 - after the update the certificate of the old TCB does not verify a new
   report, the new one does (and not the old report);
 - the keys are the ones sim/crypto.c documents (HKDF-SHA384 of the seed in
   "secrets", recomputed here), so the same TCB gives the same key in every
   process: back at the old TCB, the first certificate's key signs again;
 - the KDS emulator's VCEK of the old TCB (any_tcb) verifies the old
   report only, its VCEK of the new TCB the new report only;
 - a directory whose VCEK certificate and key file hold another key (one
   made before the keys were derived) gets the derived key and a new
   certificate at the next process, and the key file is never trusted;
 - a leaf of another key planted by hand (the key file the derived one) is
   handed out as it is, as a misconfigured host would."""

import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("SNP_TOP_SRCDIR", os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(SRC, "tests", "helpers"))
import snpd_harness as h  # noqa: E402
import snptest as t  # noqa: E402

h.need_cryptography()
from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature  # noqa: E402
from cryptography.hazmat.primitives.kdf.hkdf import HKDF  # noqa: E402
from cryptography.x509.oid import ObjectIdentifier  # noqa: E402
import kdsemu  # noqa: E402

if not h.SNPCTL or not os.access(h.SNPCTL, os.X_OK):
    print("SKIP: snpctl not built (SNPCTL=%r)" % h.SNPCTL)
    sys.exit(77)

AMD = "1.3.6.1.4.1.3704.1.3."
res = t.Results()


def spl(cert, n):
    """SPL n (1 bootloader, 2 tee, 3 snp, 8 microcode) of an AMD leaf: the
    DER INTEGER in its extension."""
    v = cert.extensions.get_extension_for_oid(ObjectIdentifier(AMD + str(n))).value.value
    assert v[0] == 0x02 and v[1] == len(v) - 2, v
    return int.from_bytes(v[2:], "big")


def cert_tcb(cert):
    """The leaf's TCB in the Milan/Genoa layout (bootloader, tee, 4 reserved
    bytes, snp, microcode)."""
    return spl(cert, 1) | spl(cert, 2) << 8 | spl(cert, 3) << 48 | spl(cert, 8) << 56


def report_and_certs(sim, out):
    """A report from a new snpctl process on @sim, with the host's table
    written as PEM files: (report bytes, {name: certificate})."""
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    rep = os.path.join(out, "report.bin")
    p = subprocess.run([h.SNPCTL, "report", "--backend=sim:" + sim, "-o", rep,
                        "--certs-dir", out], capture_output=True, text=True)
    if p.returncode != 0:
        return None, {}, p.stderr
    certs = {}
    for n in os.listdir(out):
        if n.endswith(".pem"):
            certs[n] = x509.load_pem_x509_certificate(open(os.path.join(out, n), "rb").read())
    return open(rep, "rb").read(), certs, ""


def signs(cert, report):
    """Does @cert's key verify @report's signature (ECDSA P-384, R and S
    little-endian at 0x2A0 and 0x2E8)?"""
    r = int.from_bytes(report[0x2A0:0x2A0 + 72], "little")
    s = int.from_bytes(report[0x2E8:0x2E8 + 72], "little")
    try:
        cert.public_key().verify(encode_dss_signature(r, s), report[:0x2A0],
                                 ec.ECDSA(hashes.SHA384()))
        return True
    except Exception:
        return False


P384_N = int("ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf"
             "581a0db248b0a77aecec196accc52973", 16)


def derived_pub(sim, tcb, vlek):
    """The public key the simulator's VCEK (VLEK) of @tcb must have
    (sim_leaf_key_derive(), sim/sim.h): HKDF-SHA384 of the seed with salt
    SIMULATED-VCEK-P384 (-VLEK-), info the TCB LE64, 64 bytes; the scalar
    1 + (OKM mod (n - 1)). Uncompressed point bytes."""
    secrets = dict(ln.split("=", 1) for ln in open(os.path.join(sim, "secrets")).read()
                   .splitlines() if "=" in ln and not ln.startswith("#"))
    seed = bytes.fromhex(secrets["vlek_seed" if vlek else "vcek_seed"])
    okm = HKDF(algorithm=hashes.SHA384(), length=64,
               salt=b"SIMULATED-VLEK-P384" if vlek else b"SIMULATED-VCEK-P384",
               info=tcb.to_bytes(8, "little")).derive(seed)
    key = ec.derive_private_key(1 + int.from_bytes(okm, "big") % (P384_N - 1), ec.SECP384R1())
    return pub_bytes(key.public_key())


def pub_bytes(pub):
    return pub.public_bytes(serialization.Encoding.X962,
                            serialization.PublicFormat.UncompressedPoint)


def plant(sim, leaf, ca, key):
    """STATE/@leaf with @key, names and extensions unchanged, signed by the
    CA's key (PKCS#1: the simulator does not check it). The new cert."""
    ca_key = serialization.load_pem_private_key(
        open(os.path.join(sim, ca + "-key.pem"), "rb").read(), None)
    cert = x509.load_pem_x509_certificate(open(os.path.join(sim, leaf), "rb").read())
    b = x509.CertificateBuilder().subject_name(cert.subject).issuer_name(
        cert.issuer).public_key(key.public_key()).serial_number(1).not_valid_before(
        cert.not_valid_before).not_valid_after(cert.not_valid_after)
    for e in cert.extensions:
        b = b.add_extension(e.value, e.critical)
    new = b.sign(ca_key, hashes.SHA384())
    with open(os.path.join(sim, leaf), "wb") as f:
        f.write(new.public_bytes(serialization.Encoding.PEM))
    return new


def key_checks(name, sim, vlek, leaf, first, rep_a, rep_b, old, new):
    """Per-TCB keys: @first/@rep_a of TCB @old, the current leaf/@rep_b of @new."""
    c = x509.load_pem_x509_certificate(open(os.path.join(sim, leaf), "rb").read())
    res.check(not signs(first, rep_b) and signs(c, rep_b) and not signs(c, rep_a),
              "%s: the %s of the old TCB does not verify the new report, the new one does "
              "and not the old report" % (name, leaf))
    res.check(pub_bytes(first.public_key()) == derived_pub(sim, old, vlek) and
              pub_bytes(c.public_key()) == derived_pub(sim, new, vlek),
              "%s: both keys are the seed's for their TCB (HKDF-SHA384, recomputed)" % name)
    if not vlek:
        # KDS (the emulator, started at the new TCB) for the old TCB and the new
        emu = kdsemu.Emulator(sim)
        try:
            emu.set(any_tcb=1)
            hw = c.extensions.get_extension_for_oid(
                ObjectIdentifier("1.3.6.1.4.1.3704.1.4")).value.value
            hw = hw[2:] if hw[0] == 4 and len(hw) == 66 else hw
            got = {}
            for tcb in (old, new):
                st, body = emu.get("/vcek/v1/Milan/%s?blSPL=%d&teeSPL=%d&snpSPL=%d&ucodeSPL=%d"
                                   % (hw.hex(), tcb & 0xff, tcb >> 8 & 0xff, tcb >> 48 & 0xff,
                                      tcb >> 56))
                got[tcb] = x509.load_der_x509_certificate(body) if st == 200 else None
            ok = got[old] is not None and got[new] is not None
            res.check(ok and signs(got[old], rep_a) and not signs(got[old], rep_b),
                      "%s: KDS's VCEK of the old TCB verifies the old report only" % name)
            res.check(ok and signs(got[new], rep_b) and not signs(got[new], rep_a),
                      "%s: KDS's VCEK of the new TCB verifies the new report only" % name)
        finally:
            emu.stop()


def check(name, vlek):
    top = tempfile.mkdtemp(prefix="snp-sim-tcb-")
    try:
        sim = os.path.join(top, "sim")
        h.sim_init(sim, "--product", "Milan", *(("--vlek", "1") if vlek else ()))
        leaf = "vlek.pem" if vlek else "vcek.pem"
        rep, certs, err = report_and_certs(sim, os.path.join(top, "a"))
        old = int.from_bytes(rep[0x180:0x188], "little") if rep else None
        res.check(rep is not None and leaf in certs and cert_tcb(certs[leaf]) == old and
                  signs(certs[leaf], rep),
                  "%s: at first the host's %s is of REPORTED_TCB 0x%x and signs the report %s"
                  % (name, leaf, old or 0, err))
        first, rep_a = certs.get(leaf), rep
        # a firmware update: the snp SPL one higher, by editing params only
        new = old + (1 << 48)
        v = "0x%016x" % new
        h.sim_set_params(sim, current_tcb=v, committed_tcb=v, reported_tcb=v)
        rep, certs, err = report_and_certs(sim, os.path.join(top, "b"))
        got = int.from_bytes(rep[0x180:0x188], "little") if rep else None
        res.check(got == new, "%s: a new process reports the new TCB 0x%x (0x%x) %s" % (
            name, new, got or 0, err))
        c = certs.get(leaf)
        res.check(c is not None and cert_tcb(c) == new,
                  "%s: and the host's %s is of the new TCB (0x%x)" % (
                      name, leaf, cert_tcb(c) if c else 0))
        res.check(c is not None and signs(c, rep), "%s: and signs the report" % name)
        on_disk = x509.load_pem_x509_certificate(open(os.path.join(sim, leaf), "rb").read())
        res.check(cert_tcb(on_disk) == new,
                  "%s: the state directory's %s follows (0x%x)" % (name, leaf,
                                                                     cert_tcb(on_disk)))
        # unchanged params: the leaf is not issued again
        before = open(os.path.join(sim, leaf), "rb").read()
        rep, certs, err = report_and_certs(sim, os.path.join(top, "c"))
        res.check(rep is not None and open(os.path.join(sim, leaf), "rb").read() == before,
                  "%s: with nothing changed, %s is left as it is %s" % (name, leaf, err))
        if first is None or rep is None:
            return
        key_checks(name, sim, vlek, leaf, first, rep_a, rep, old, new)

        # back to the old TCB (a rollback of REPORTED_TCB): the same key again
        v = "0x%016x" % old
        h.sim_set_params(sim, reported_tcb=v)
        rep, certs, err = report_and_certs(sim, os.path.join(top, "d"))
        c = certs.get(leaf)
        res.check(c is not None and cert_tcb(c) == old and
                  pub_bytes(c.public_key()) == pub_bytes(first.public_key()) and
                  signs(first, rep),
                  "%s: back at REPORTED_TCB 0x%x a new process signs with the first key "
                  "again %s" % (name, old, err))

        # a directory made before the keys were derived: another key in the
        # leaf and its key file; the next process derives and reissues
        other = ec.generate_private_key(ec.SECP384R1())
        plant(sim, leaf, "asvk" if vlek else "ask", other)
        with open(os.path.join(sim, leaf.replace(".pem", "-key.pem")), "wb") as f:
            f.write(other.private_bytes(serialization.Encoding.PEM,
                                        serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()))
        rep, certs, err = report_and_certs(sim, os.path.join(top, "e"))
        on_disk = x509.load_pem_x509_certificate(open(os.path.join(sim, leaf), "rb").read())
        key_file = serialization.load_pem_private_key(
            open(os.path.join(sim, leaf.replace(".pem", "-key.pem")), "rb").read(), None)
        res.check(rep is not None and signs(first, rep) and
                  pub_bytes(on_disk.public_key()) == derived_pub(sim, old, vlek) and
                  pub_bytes(key_file.public_key()) == derived_pub(sim, old, vlek),
                  "%s: another key in %s and its key file: the report is signed with the "
                  "derived key, both files rewritten %s" % (name, leaf, err))

        # a leaf of another key put there by hand, the key file the derived
        # one: the host hands it out as it is (a misconfigured host); the
        # firmware still signs with the derived key
        planted = plant(sim, leaf, "asvk" if vlek else "ask",
                        ec.generate_private_key(ec.SECP384R1()))
        rep, certs, err = report_and_certs(sim, os.path.join(top, "f"))
        c = certs.get(leaf)
        res.check(rep is not None and c is not None and
                  pub_bytes(c.public_key()) == pub_bytes(planted.public_key()) and
                  not signs(c, rep) and signs(first, rep),
                  "%s: a %s of another key planted by hand is handed out as it is, the "
                  "report signed with the derived key %s" % (name, leaf, err))
    finally:
        shutil.rmtree(top, ignore_errors=True)


check("VCEK", False)
check("VLEK", True)
res.done()
