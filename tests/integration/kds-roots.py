# SPDX-License-Identifier: Apache-2.0
"""The AMD ARK, ASK and ASVK of Milan, Genoa and Turin are compiled into
snpctl: every positive genuine vector of ../shared/testdata/real verifies
with its VCEK (or VLEK) alone, --offline and an empty cache, the
intermediate and the root coming from the embedded AMD certificates
(each checked against its pinned SHA-256 when loaded)."""

import os
import shutil
import tempfile

import snptest as t

t.need_testdata()
res = t.Results()
tmp = tempfile.mkdtemp(prefix="snp-roots.")
try:
    seen = set()
    for v in t.manifest()["vectors"]:
        name = v["name"]
        if v.get("expect") or not v.get("vcek") or v["vcek"].endswith("bundle.pem"):
            continue
        args = ["verify", "--json", "--offline", "--cache-dir", os.path.join(tmp, "empty"),
                "--vcek", t.path(v["vcek"]), "--at", t.cert_not_before(v)]
        if v.get("report"):
            args.append(t.path(v["report"]))
        rc, doc, out, err = t.verify_json(args)
        if not res.check(doc is not None, "%s: JSON (rc %d, %s)" % (name, rc, err.strip())):
            continue
        kind = "ASVK" if v.get("endorsement") == "VLEK" else "ASK"
        root = [c for c in doc["checks"] if c["name"] == "root_trust"][0]
        res.check(rc in (0, 2) and t.failed(doc, t.CHAIN_CHECKS + ("validity",)) == [] and
                  doc["sources"]["ask"] == "embedded AMD" and
                  "pinned ARK-" + v["product"] in root["detail"],
                  "%s: VCEK/VLEK alone verifies with the embedded AMD %s and ARK-%s "
                  "(rc %d, failed %s, sources %r)" % (name, kind, v["product"], rc,
                                                      t.failed(doc), doc["sources"]))
        seen.add((v["product"], kind))
    res.check({("Milan", "ASK"), ("Genoa", "ASK"), ("Turin", "ASK"),
               ("Milan", "ASVK")} <= seen, "products and kinds covered: %s" % sorted(seen))
finally:
    shutil.rmtree(tmp, ignore_errors=True)
res.done()
