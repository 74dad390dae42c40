# SPDX-License-Identifier: Apache-2.0
"""snpctl and the CRLs it is handed, against the KDS emulator
(tests/helpers/kds-emulator.py) serving a simulated chip; never the real KDS:
 - a host certificate table (--cert-table) carrying an old CRL of the
   trusted ARK, past its nextUpdate, does not stand in for a current one:
   as for an evidence document, the cache's current CRL is used, and a
   revocation it lists fails 'crl' (before, the table's CRL was used and
   the check skipped as 'not current', hiding the revocation); the table's
   CRL set aside is named, with why and its nextUpdate, in
   sources.stale_crl and on stderr (null for a table without a CRL, so
   that the check shows the table's CRL was seen, not merely absent);
 - the same for an evidence document carrying that old CRL;
 - a CRL whose issuer holds control bytes and bytes that are not UTF-8: the
   error snpctl prints shows them escaped, as printable ASCII."""
import base64
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("SNP_TOP_SRCDIR", os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(SRC, "tests", "sim"))
sys.path.insert(0, os.path.join(SRC, "tests", "helpers"))
import simtest  # noqa: E402

if not os.access(simtest.SNPCTL, os.X_OK):
    simtest.skip("snpctl not built")
try:
    import cryptography  # noqa: F401
except ImportError:
    simtest.skip("python3-cryptography missing")
import kdsemu  # noqa: E402

emu_mod = kdsemu.emulator_module()

check = simtest.check


def main():
    d = simtest.new_state("Milan")
    tmp = tempfile.mkdtemp(prefix="snp-kds-crl-given.")
    emu = kdsemu.Emulator(d)
    try:
        rpt = os.path.join(tmp, "r.bin")
        subprocess.run([simtest.SNPCTL, "report", "--backend=sim:" + d, "--nonce", "00ff",
                        "-o", rpt], check=True, stdout=subprocess.DEVNULL)
        ark = os.path.join(d, "ark.pem")
        chip = emu_mod.Chip(d)

        # KDS's current CRL revokes the ASK; the host's table holds an old
        # one of the same ARK that does not
        emu.set(revoke=1)
        cache = os.path.join(tmp, "cache")
        rc, _, err = kdsemu.snpctl("collateral", "fetch", rpt, "--cache-dir", cache,
                                   "--trust-ark", ark, "--kds-url", emu.url, raw_stderr=True)
        check(rc == 0 and os.path.exists(os.path.join(cache, "crl", "Milan-vcek.crl")),
              "collateral fetch: the current (revoking) CRL cached: rc %d %s" %
              (rc, err.decode(errors="replace").strip()))
        now = datetime.datetime.now(datetime.timezone.utc)
        old = chip.crl(False, valid=(now - datetime.timedelta(days=60),
                                     now - datetime.timedelta(days=30)))
        tbl = os.path.join(tmp, "table.bin")
        with open(tbl, "wb") as f:
            f.write(kdsemu.cert_table(d, old))
        n = emu.count()
        rc, out, err = kdsemu.snpctl("verify", rpt, "--trust-ark", ark, "--cert-table", tbl,
                                     "--cache-dir", cache, "--kds-url", emu.url, "--json",
                                     raw_stderr=True)
        cc, src = kdsemu.crl_check(out)
        # the old CRL's nextUpdate, as snpctl prints it (whole seconds)
        until = (now - datetime.timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
        want = "the certificate table's CRL expired (nextUpdate %s)" % until
        check(rc == 1 and cc is not None and cc["result"] == "failed" and
              "REVOKED" in cc["detail"] and src.get("crl") == "cache" and emu.count() == n,
              "a table's expired CRL: the cache's current one used, the revocation found: rc "
              "%d (1), crl %r, sources.crl %r (cache), %d KDS requests (0)" %
              (rc, cc, src.get("crl"), emu.count() - n))
        check(src.get("stale_crl") == want and b"Stale CRL: " + want.encode() in err,
              "the table's expired CRL was seen and set aside: sources.stale_crl %r (%r), "
              "stderr %s" % (src.get("stale_crl"), want, err.decode(errors="replace").strip()))

        # a table without a CRL: nothing set aside, the cache's CRL used
        with open(tbl, "wb") as f:
            f.write(kdsemu.cert_table(d, None))
        rc, out, err = kdsemu.snpctl("verify", rpt, "--trust-ark", ark, "--cert-table", tbl,
                                     "--cache-dir", cache, "--kds-url", emu.url, "--json",
                                     raw_stderr=True)
        cc, src = kdsemu.crl_check(out)
        check(rc == 1 and cc is not None and "REVOKED" in cc["detail"] and
              src.get("crl") == "cache" and "stale_crl" in src and
              src["stale_crl"] is None and b"Stale CRL" not in err,
              "a table without a CRL: the cache's used, none set aside: rc %d (1), crl %r, "
              "sources %r %s" % (rc, cc, src, err.decode(errors="replace").strip()))

        # an evidence document carrying the old CRL: set aside the same way
        ev = os.path.join(tmp, "evidence.json")
        pems = {}
        for name in ("vcek", "ask", "ark"):
            with open(os.path.join(d, name + ".pem")) as f:
                pems[name] = f.read()
        with open(rpt, "rb") as f:
            rbytes = f.read()
        with open(ev, "w") as f:
            json.dump({"version": 1, "type": "snpd-evidence", "product": "Milan",
                       "report": base64.b64encode(rbytes).decode(), "endorsement_key": "vcek",
                       "certificates": pems, "crl": base64.b64encode(old).decode()}, f)
        n = emu.count()
        rc, out, err = kdsemu.snpctl("verify", ev, "--trust-ark", ark, "--cache-dir", cache,
                                     "--kds-url", emu.url, "--json", raw_stderr=True)
        cc, src = kdsemu.crl_check(out)
        want = "the evidence's CRL expired (nextUpdate %s)" % until
        check(rc == 1 and cc is not None and "REVOKED" in cc["detail"] and
              src.get("crl") == "cache" and src.get("stale_crl") == want and
              b"Stale CRL: " + want.encode() in err and emu.count() == n,
              "evidence with an expired CRL: the cache's used, the evidence's set aside: rc "
              "%d (1), crl %r, sources %r (stale_crl %r), %d KDS requests (0) %s" %
              (rc, cc, src, want, emu.count() - n, err.decode(errors="replace").strip()))
        emu.set(revoke=0)

        # a CRL issuer that is no text: escaped in snpctl's error
        emu.set(mode="badissuer")
        rc, out, err = kdsemu.snpctl("collateral", "fetch", rpt, "--cache-dir",
                                     os.path.join(tmp, "c2"), "--trust-ark", ark, "--kds-url",
                                     emu.url, raw_stderr=True)
        bad = [b for b in err if b < 0x20 and b != 0x0a or b > 0x7e]
        check(rc != 0 and b"CRL issuer is" in err and not bad and b"\\x1b" in err,
              "a CRL issuer with control and non-UTF-8 bytes: snpctl's error escapes them: rc "
              "%d, raw bytes %r: %s" % (rc, bytes(bad), err.decode(errors="replace").strip()))
        emu.set(mode="normal")
    finally:
        emu.stop()
        shutil.rmtree(tmp, ignore_errors=True)
        simtest.cleanup(d)
    simtest.done()


main()
