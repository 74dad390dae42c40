# SPDX-License-Identifier: Apache-2.0
"""Every vector of ../shared/testdata/real/manifest.json through snpctl verify:
positive ones verify, each negative one fails exactly the listed checks."""

import snptest as t

t.need_testdata()
res = t.Results()

for v in t.manifest()["vectors"]:
    name = v["name"]
    rc, doc, out, err = t.verify_json(t.verify_args(v))
    if not res.check(doc is not None, "%s: JSON output (rc %d, stderr %r)" % (name, rc, err)):
        continue
    expect_fail = sorted(k for k, want in v.get("expect", {}).items() if want is False)
    got_fail = t.failed(doc, t.CHAIN_CHECKS)
    res.check(got_fail == expect_fail,
              "%s: failing checks %s, expected %s" % (name, got_fail, expect_fail))
    root = [c for c in doc["checks"] if c["name"] == "root_trust"][0]
    res.check(root["result"] == "passed" and "pinned ARK-" + v["product"] in root["detail"],
              "%s: root is the pinned AMD ARK-%s (%s)" % (name, v["product"], root["detail"]))
    if expect_fail:
        res.check(rc == 1, "%s: exit code %d, expected 1" % (name, rc))
        continue
    policy_fail = t.failed(doc)
    if rc == 2 and policy_fail == ["debug"]:
        # a genuine report with the DEBUG policy bit: refused unless allowed
        rc2, doc2, _, _ = t.verify_json(t.verify_args(v) + ["--allow-debug"])
        res.check(rc2 == 0, "%s: DEBUG policy refused by default, accepted with "
                  "--allow-debug (rc %d)" % (name, rc2))
        continue
    res.check(rc == 0, "%s: exit code %d, expected 0 (failed: %s)" % (name, rc, policy_fail))
    if v.get("report"):
        names = [c["name"] for c in doc["checks"] if c["result"] == "passed"]
        for must in ("report_sig", "signing_key", "tcb_match", "validity"):
            res.check(must in names, "%s: %s passed" % (name, must))

res.done()
