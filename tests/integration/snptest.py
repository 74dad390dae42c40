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

    def done(self):
        print("%d checks, %d failed" % (self.n, self.bad))
        sys.exit(1 if self.bad else 0)
