# SPDX-License-Identifier: Apache-2.0
"""Every vector of ../shared/testdata/real/manifest.json through snpctl verify:
positive ones verify, each negative one fails exactly the listed checks. A
genuine report that allows debugging or runs provisional firmware is refused
by default and accepted with --allow-debug / --allow-provisional. Every
genuine report also passes under the policy `snpctl policy from-report`
writes from it, and fails under the policy of another vector."""

import json
import os
import tempfile

import snptest as t

t.need_testdata()
res = t.Results()
ALLOW = {"debug": "--allow-debug", "provisional": "--allow-provisional"}

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
    if rc == 2 and policy_fail and all(f in ALLOW for f in policy_fail):
        # a genuine report with the DEBUG policy bit or provisional firmware:
        # refused unless allowed
        extra = [ALLOW[f] for f in policy_fail]
        rc2, doc2, _, _ = t.verify_json(t.verify_args(v) + extra)
        res.check(rc2 == 0, "%s: %s refused by default, accepted with %s (rc %d)"
                  % (name, policy_fail, " ".join(extra), rc2))
        continue
    res.check(rc == 0, "%s: exit code %d, expected 0 (failed: %s)" % (name, rc, policy_fail))
    if v.get("report"):
        names = [c["name"] for c in doc["checks"] if c["result"] == "passed"]
        for must in ("report_sig", "signing_key", "tcb_match", "validity"):
            res.check(must in names, "%s: %s passed" % (name, must))

# policy from-report: each genuine report satisfies its own policy, and not
# another vector's
positive = [v for v in t.manifest()["vectors"] if v.get("report") and not v.get("expect")]
with tempfile.TemporaryDirectory() as tmp:
    policies = {}
    for i, v in enumerate(positive):
        p = os.path.join(tmp, "policy-%d.json" % i)
        rc, out, err = t.snpctl(["policy", "from-report", "--product", v["product"], "-o", p,
                                 t.path(v["report"])])
        if not res.check(rc == 0 and os.path.isfile(p),
                         "%s: policy from-report (rc %d, %s)" % (v["name"], rc, err.strip())):
            continue
        with open(p) as f:
            pol = json.load(f)
        res.check(pol.get("measurement") == t.load_report(v)[0x90:0xC0].hex() and
                  pol.get("products") == [v["product"]],
                  "%s: the policy holds the measurement and product as found" % v["name"])
        policies[i] = p
        rc, doc, _, err = t.verify_json(t.verify_args(v) + ["--policy", p])
        res.check(rc == 0 and doc is not None and doc.get("policy", {}).get("measurement") ==
                  pol["measurement"],
                  "%s: passes under its own policy (rc %d, failed %s)"
                  % (v["name"], rc, t.failed(doc) if doc else err))
    # "another vector": the next one from another launch (another measurement);
    # two reports of one guest launch (teekit's gcp-vmpl1 pair, oak's milan
    # pair) rightly satisfy the same policy
    for i, v in enumerate(positive):
        mine = t.load_report(v)[0x90:0xC0]
        others = [k % len(positive) for k in range(i + 1, i + len(positive))]
        others = [k for k in others if t.load_report(positive[k])[0x90:0xC0] != mine]
        j = others[0]
        if j not in policies:
            continue
        rc, doc, _, err = t.verify_json(t.verify_args(v) + ["--policy", policies[j]])
        fails = t.failed(doc) if doc else []
        # require_chip_id (a VLEK report has a masked CHIP_ID) fails chip_match: rc 1
        res.check(rc in (1, 2) and "measurement" in fails and
                  not set(fails) & {"chain", "report_sig", "signing_key", "tcb_match"},
                  "%s: fails under the policy of %s (rc %d, checks failed: %s)"
                  % (v["name"], positive[j]["name"], rc, fails))

res.done()
