# SPDX-License-Identifier: Apache-2.0
"""snpctl show --json agrees field by field with an independent reading:
../shared/tools/verify_real_vectors.py --json (Debian's python3-cryptography)."""

import json
import os
import subprocess
import sys
import tempfile

import snptest as t

t.need_testdata()
oracle = os.path.join(t.SHARED, "tools", "verify_real_vectors.py")
if not os.path.isfile(oracle):
    print("SKIP: oracle %s not found" % oracle)
    sys.exit(t.SKIP)

res = t.Results()
with tempfile.TemporaryDirectory() as tmp:
    out = os.path.join(tmp, "oracle.json")
    p = subprocess.run([sys.executable, oracle, "--root", t.TESTDATA, "--json", out],
                       capture_output=True)
    res.check(p.returncode == 0, "oracle ran (rc %d)" % p.returncode)
    with open(out) as f:
        oracle_results = {r["name"]: r for r in json.load(f)}

    for v in t.manifest()["vectors"]:
        if not v.get("report"):
            continue
        name = v["name"]
        want = oracle_results[name]["info"]["report"]
        product = v.get("tcb_layout", v["product"]).lower()
        rc, doc, _, err = t.verify_json(["show", "--json", "--product", product,
                                         t.path(v["report"])])
        if not res.check(rc == 0 and doc, "%s: show --json (rc %d %s)" % (name, rc, err)):
            continue
        pairs = [
            ("version", doc["version"], want["version"]),
            ("guest_svn", doc["guest_svn"], want["guest_svn"]),
            ("policy", doc["policy"]["raw"], want["policy"]),
            ("vmpl", doc["vmpl"], want["vmpl"]),
            ("signature_algo", doc["signature_algo"], want["signature_algo"]),
            ("current_tcb", doc["current_tcb"]["raw"], want["current_tcb"]),
            ("platform_info", doc["platform_info"]["raw"], want["platform_info"]),
            ("author_key_en", int(doc["key_info"]["author_key_en"]), want["author_key_en"]),
            ("mask_chip_key", int(doc["key_info"]["mask_chip_key"]), want["mask_chip_key"]),
            ("signing_key", doc["key_info"]["signing_key"], want["signing_key"]),
            ("report_data", doc["report_data"], want["report_data"]),
            ("measurement", doc["measurement"], want["measurement"]),
            ("reported_tcb", doc["reported_tcb"]["raw"], want["reported_tcb"]),
            ("reported_tcb parts",
             {k: doc["reported_tcb"][k] for k in want["reported_tcb_fields"]},
             want["reported_tcb_fields"]),
            ("reported_tcb part names", sorted(k for k in doc["reported_tcb"] if k != "raw"),
             sorted(want["reported_tcb_fields"])),
            ("chip_id", doc["chip_id"], want["chip_id"]),
            ("committed_tcb", doc["committed_tcb"]["raw"], want["committed_tcb"]),
            ("launch_tcb", doc["launch_tcb"]["raw"], want["launch_tcb"]),
            ("current firmware", "%d.%d build %d" % (doc["current_major"],
                                                     doc["current_minor"],
                                                     doc["current_build"]),
             want["current_fw"]),
        ]
        if "cpuid_fam_mod_step" in want:
            pairs.append(("cpuid", "%02xh/%02xh/%xh" % (doc["cpuid_fam_id"], doc["cpuid_mod_id"],
                                                        doc["cpuid_step"]),
                          want["cpuid_fam_mod_step"]))
        else:
            pairs.append(("no cpuid in v2", "cpuid_fam_id" in doc, False))
        # byte arrays the oracle does not print: compare with the raw bytes
        raw = t.load_report(v)
        for field, off, n in (("family_id", 0x10, 16), ("image_id", 0x20, 16),
                              ("host_data", 0xC0, 32), ("id_key_digest", 0xE0, 48),
                              ("author_key_digest", 0x110, 48), ("report_id", 0x140, 32),
                              ("report_id_ma", 0x160, 32)):
            pairs.append((field, doc[field], raw[off:off + n].hex()))
        bad = [(k, a, b) for k, a, b in pairs if a != b]
        res.check(not bad, "%s: %d fields agree with the oracle%s" % (
            name, len(pairs), "" if not bad else " -- differ: %r" % bad))

res.done()
