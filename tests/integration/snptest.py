# SPDX-License-Identifier: Apache-2.0
"""Shared helpers of the Python integration tests (run by /usr/bin/python3)."""

import datetime
import json
import os
import subprocess
import sys
import warnings

warnings.filterwarnings("ignore", message=".*serial number.*")

SKIP = 77
SNPCTL = os.environ.get("SNPCTL", "")
TESTDATA = os.environ.get("SNP_TESTDATA", "")
SHARED = os.environ.get("SNP_SHARED_DIR", "")
CHAIN_CHECKS = ("chain", "report_sig", "signing_key", "tcb_match", "chip_match")


def need_testdata():
    if not TESTDATA or not os.path.isfile(os.path.join(TESTDATA, "manifest.json")):
        print("SKIP: genuine AMD test data not found (SNP_TESTDATA=%r)" % TESTDATA)
        sys.exit(SKIP)
    if not SNPCTL or not os.access(SNPCTL, os.X_OK):
        print("SKIP: snpctl not built (SNPCTL=%r)" % SNPCTL)
        sys.exit(SKIP)


def manifest():
    with open(os.path.join(TESTDATA, "manifest.json")) as f:
        return json.load(f)


def path(rel):
    return os.path.join(TESTDATA, rel)


def load_report(v):
    import binascii
    with open(path(v["report"]), "rb") as f:
        data = f.read()
    if v.get("report_format") == "hex":
        data = binascii.unhexlify(b"".join(data.split()))
    return data


def cert_not_before(v):
    """notBefore of the vector's VCEK/VLEK plus one day, as @EPOCH."""
    from cryptography import x509
    with open(path(v["vcek"]), "rb") as f:
        data = f.read()
    if b"-----BEGIN" in data:
        cert = x509.load_pem_x509_certificate(data[data.index(b"-----BEGIN"):])
    else:
        cert = x509.load_der_x509_certificate(data)
    nb = cert.not_valid_before.replace(tzinfo=datetime.timezone.utc)
    return "@%d" % int((nb + datetime.timedelta(days=1)).timestamp())


def verify_args(v, report_path=None):
    args = ["verify", "--json", "--vcek", path(v["vcek"]), "--at", cert_not_before(v)]
    for ca in v["ca"]:
        args += ["--chain", path(ca)]
    if "tcb_layout" in v:
        args += ["--product", v["tcb_layout"].lower()]
    if report_path is not None:
        args.append(report_path)
    elif v.get("report"):
        args.append(path(v["report"]))
    return args


def snpctl(args, stdin=None):
    p = subprocess.run([SNPCTL] + list(args), input=stdin, capture_output=True)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def verify_json(args, stdin=None):
    rc, out, err = snpctl(args, stdin)
    try:
        doc = json.loads(out) if out.strip() else None
    except ValueError:
        doc = None
    return rc, doc, out, err


def failed(doc, kinds=None):
    return sorted(c["name"] for c in doc["checks"]
                  if c["result"] == "failed" and (kinds is None or c["name"] in kinds))


def oracle_report_signature(report, vcek_pem):
    """The report's ECDSA P-384/SHA-384 signature (R, S little-endian at
    0x2a0/0x2e8 over bytes 0..0x29f), with python3-cryptography only."""
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    if isinstance(vcek_pem, str):
        vcek_pem = vcek_pem.encode()
    key = x509.load_pem_x509_certificate(vcek_pem).public_key()
    r = int.from_bytes(report[0x2A0:0x2E8], "little")
    s = int.from_bytes(report[0x2E8:0x330], "little")
    try:
        key.verify(encode_dss_signature(r, s), report[:0x2A0], ec.ECDSA(hashes.SHA384()))
    except InvalidSignature:
        return False
    return True


def oracle_verify(report, ark_pem, ask_pem, vcek_pem):
    """ARK -> ASK -> VCEK (RSASSA-PSS, SHA-384, MGF1-SHA-384, salt 48) and the
    report signature, with python3-cryptography only: none of our code."""
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    certs = [x509.load_pem_x509_certificate(p.encode() if isinstance(p, str) else p)
             for p in (ark_pem, ask_pem, vcek_pem)]
    ark, ask, vcek = certs
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=48)
    try:
        for child, parent in ((ark, ark), (ask, ark), (vcek, ask)):
            parent.public_key().verify(child.signature, child.tbs_certificate_bytes, pss,
                                       hashes.SHA384())
    except InvalidSignature:
        return False
    return oracle_report_signature(report, vcek_pem)


def oracle_verify_dir(report, certs_dir):
    """oracle_verify() with ark.pem, ask.pem and vcek.pem from a folder."""
    pems = []
    for name in ("ark.pem", "ask.pem", "vcek.pem"):
        with open(os.path.join(certs_dir, name), "rb") as f:
            pems.append(f.read())
    return oracle_verify(report, *pems)


class Results:
    def __init__(self):
        self.bad = 0
        self.n = 0

    def check(self, ok, what):
        self.n += 1
        if ok:
            print("ok   %s" % what)
        else:
            self.bad += 1
            print("FAIL %s" % what)
        return ok

    def expect_errno(self, fn, want, what):
        """fn() must fail with OSError errno @want."""
        import errno
        try:
            fn()
        except OSError as e:
            return self.check(e.errno == want, "%s: %s (want %s)" % (
                what, errno.errorcode.get(e.errno), errno.errorcode[want]))
        return self.check(False, "%s: no error (want %s)" % (what, errno.errorcode[want]))

    def done(self):
        print("%d checks, %d failed" % (self.n, self.bad))
        sys.exit(1 if self.bad else 0)
