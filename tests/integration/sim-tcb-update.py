# SPDX-License-Identifier: Apache-2.0
"""The simulator across a firmware update made by editing its params (as
the tests of snpd's TCB handling do): every process that opens the state
afterwards, not only one that was running, signs with and hands out the
VCEK (and VLEK) of the new REPORTED_TCB, and the state directory's
vcek.pem/vlek.pem follow. Checked with python3-cryptography: the report's
REPORTED_TCB against the SPL extensions of the certificate in the host's
table and of the directory's file, and the report's signature with it."""

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

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
    from cryptography.x509.oid import ObjectIdentifier
except ImportError:
    print("SKIP: python3-cryptography missing")
    sys.exit(77)

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
    finally:
        shutil.rmtree(top, ignore_errors=True)


check("VCEK", False)
check("VLEK", True)
res.done()
