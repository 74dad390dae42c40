# SPDX-License-Identifier: Apache-2.0
"""A report signed by a VLEK, with no VLEK given: AMD KDS serves VLEK
certificates only to cloud providers, so snpctl never asks it; `snpctl
verify` says where a VLEK comes from (the host's certificate table, or
`snpctl collateral import`). Once imported, the cache gives it (with the
embedded ASVK and ARK) and the genuine vectors verify offline; export and
import carry it to another machine. Genuine VLEK vectors of
../shared/testdata/real (manifest.json)."""
import json
import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import snptest as t  # noqa: E402

t.need_testdata()
if not t.SNPCTL or not os.access(t.SNPCTL, os.X_OK):
    print("SKIP: snpctl not built")
    sys.exit(77)
try:
    import cryptography  # noqa: F401
except ImportError:
    print("SKIP: python3-cryptography missing")
    sys.exit(77)

res = t.Results()
vecs = [v for v in t.manifest()["vectors"] if v.get("endorsement") == "VLEK" and
        not v["name"].startswith("NEG") and v.get("report")]
if not vecs:
    print("SKIP: no genuine VLEK vector")
    sys.exit(77)

tmp = tempfile.mkdtemp(prefix="snp-kds-vlek.")
try:
    for v in vecs:
        name = v["name"]
        rpt = t.path(v["report"])
        if v.get("report_format") == "hex":
            rpt = os.path.join(tmp, "r.bin")
            with open(rpt, "wb") as f:
                f.write(t.load_report(v))
        at = t.cert_not_before(v)
        c0 = os.path.join(tmp, name.replace("/", "_") + "-empty")
        for extra in (["--offline"], ["--kds-url", "http://127.0.0.1:1"]):
            rc, out, err = t.snpctl(["verify", rpt, "--at", at, "--cache-dir", c0] + extra)
            res.check(rc == 3 and "signed by a VLEK" in err and
                      "does not serve VLEK certificates" in err and
                      "certificate table" in err and "snpctl collateral import" in err and
                      "127.0.0.1:1" not in err,
                      "%s: no VLEK, %s: rc %d (3), says KDS serves none and where it comes "
                      "from, no request: %s" % (name, extra[0], rc, err.strip()))
        c1 = os.path.join(tmp, name.replace("/", "_") + "-c1")
        rc, out, err = t.snpctl(["collateral", "import", t.path(v["vcek"]), "--cache-dir", c1])
        vd = os.path.join(c1, "vlek")
        files = os.listdir(vd) if os.path.isdir(vd) else []
        res.check(rc == 0 and len(files) == 1 and
                  (os.stat(os.path.join(vd, files[0])).st_mode & 0o777) == 0o644,
                  "%s: collateral import of the VLEK: rc %d, vlek/%s %s" %
                  (name, rc, files, err.strip()))
        # the vector's firmware is provisional (CURRENT_TCB ahead of COMMITTED), which
        # verify refuses by default; that check is verify-table.py's, not this test's
        rc, out, err = t.snpctl(["verify", rpt, "--at", at, "--cache-dir", c1, "--offline",
                                 "--allow-provisional", "--json"])
        doc = json.loads(out) if out.startswith("{") else {}
        checks = {c["name"]: c["result"] for c in doc.get("checks", [])}
        res.check(rc == 0 and doc.get("sources", {}).get("leaf") == "cache" and
                  doc.get("sources", {}).get("ask") == "embedded AMD" and
                  checks.get("signing_key") == "passed" and checks.get("report_sig") == "passed",
                  "%s: the imported VLEK from the cache, embedded ASVK/ARK: rc %d, sources %r "
                  "%s" % (name, rc, doc.get("sources"), err.strip()))
        exp = os.path.join(tmp, name.replace("/", "_") + "-export")
        c2 = os.path.join(tmp, name.replace("/", "_") + "-c2")
        rc1, _, e1 = t.snpctl(["collateral", "export", exp, "--cache-dir", c1])
        rc2, _, e2 = t.snpctl(["collateral", "import", exp, "--cache-dir", c2])
        rc, out, err = t.snpctl(["verify", rpt, "--at", at, "--cache-dir", c2, "--offline",
                                 "--allow-provisional"])
        res.check(rc1 == 0 and rc2 == 0 and rc == 0 and "VCEK/VLEK cache" in out,
                  "%s: export, import elsewhere, verify offline: rc %d/%d/%d %s %s %s" %
                  (name, rc1, rc2, rc, e1.strip(), e2.strip(), err.strip()))
finally:
    shutil.rmtree(tmp, ignore_errors=True)
res.done()
