# SPDX-License-Identifier: Apache-2.0
"""`snpctl collateral url` builds, for every genuine vector of
../shared/testdata/real, exactly the KDS VCEK URL of snp-abi.md §7.3,
computed here independently from the report bytes (CHIP_ID, REPORTED_TCB)
and, for the VCEK-only vectors, from the certificate; and a positive
vector's report and VCEK give the same URL. Never reaches the network."""

import snptest as t

t.need_testdata()
res = t.Results()
BASE = "https://kdsintf.amd.com"


def expected(product, report):
    chip = report[0x1a0:0x1e0]
    tcb = report[0x180:0x188]
    if product == "Turin":
        fmc, bl, tee, snp, uc = tcb[0], tcb[1], tcb[2], tcb[3], tcb[7]
        return "%s/vcek/v1/Turin/%s?fmcSPL=%d&blSPL=%d&teeSPL=%d&snpSPL=%d&ucodeSPL=%d" % (
            BASE, chip[:8].hex(), fmc, bl, tee, snp, uc)
    bl, tee, snp, uc = tcb[0], tcb[1], tcb[6], tcb[7]
    return "%s/vcek/v1/%s/%s?blSPL=%d&teeSPL=%d&snpSPL=%d&ucodeSPL=%d" % (
        BASE, product, chip.hex(), bl, tee, snp, uc)


n = 0
for v in t.manifest()["vectors"]:
    name, product = v["name"], v["product"]
    if v.get("endorsement") == "VLEK":
        continue
    from_report = None
    if v.get("report"):
        report = t.load_report(v)
        if not any(report[0x1a0:0x1e0]):
            continue  # masked CHIP_ID: KDS cannot be asked
        rc, out, err = t.snpctl(["collateral", "url", "--product", product, t.path(v["report"])])
        want = expected(product, report)
        res.check(rc == 0 and out.strip() == want,
                  "%s: report URL %r (rc %d, %s), expected %r" % (name, out.strip(), rc,
                                                                   err.strip(), want))
        from_report = out.strip()
        n += 1
    if v.get("vcek") and not v.get("expect"):
        rc, out, err = t.snpctl(["collateral", "url", "--vcek", t.path(v["vcek"])])
        res.check(rc == 0 and out.startswith(BASE + "/vcek/v1/" + product + "/"),
                  "%s: VCEK URL %r (rc %d, %s)" % (name, out.strip(), rc, err.strip()))
        if from_report:
            res.check(out.strip() == from_report,
                      "%s: the VCEK's URL %r equals the report's %r" % (name, out.strip(),
                                                                         from_report))
        n += 1
res.check(n >= 10, "%d URLs checked" % n)
res.done()
