# SPDX-License-Identifier: Apache-2.0
"""The table test of snpctl verify's policy checks: for each check a report
that passes it and one that fails it (simulated reports that differ from a
base report in one field, and genuine ones from ../shared/testdata/real),
under one policy file written by `snpctl policy from-report` from the base
report. Exit codes: 0 verified, 1 verification failed, 2 a policy check
failed, 3 bad input. A version-6 report is accepted with a note and refused
with --strict-version; Venice is marked unconfirmed; unknown bits are named
and refused only when forbidden; the command line overrides the file."""

import json
import os
import subprocess
import sys

import simtest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(simtest.SRC, "tests", "integration"))
import snptest  # noqa: E402

bad = 0
n = 0


def check(ok, what):
    global bad, n
    n += 1
    print("%s %s" % ("ok  " if ok else "FAIL", what))
    if not ok:
        bad += 1


def run(args):
    p = subprocess.run([simtest.SNPCTL] + args, capture_output=True)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def verify(args):
    rc, out, err = run(["verify", "--json"] + args)
    try:
        doc = json.loads(out)
    except ValueError:
        doc = None
    return rc, doc, err


def failed(doc):
    return sorted(c["name"] for c in doc["checks"] if c["result"] == "failed") if doc else None


def detail(doc, name):
    for c in doc["checks"]:
        if c["name"] == name:
            return c["result"], c["detail"]
    return None, None


def set_params(d, updates):
    path = os.path.join(d, "params")
    lines, seen = [], set()
    with open(path) as f:
        for line in f:
            k = line.split("=", 1)[0]
            if k in updates:
                line = "%s=%s\n" % (k, updates[k])
                seen.add(k)
            lines.append(line)
    lines += ["%s=%s\n" % (k, v) for k, v in updates.items() if k not in seen]
    with open(path, "w") as f:
        f.writelines(lines)


MILAN_TCB = 0x7300000000000003 | 8 << 48  # bootloader 3, snp 8, microcode 115
# every parameter a variant changes, with the base value (the Milan template's
# TCB, firmware and PLATFORM_INFO)
BASE = {
    "launch_tcb": "0x%x" % MILAN_TCB,
    "committed_tcb": "0x%x" % MILAN_TCB,
    "committed_fw_version": "1.55.21",
    "platform_info": "0x25",
    "report_version": "5",
    "policy": "0x130000",  # SMT, bit 17, SINGLE_SOCKET
    "guest_svn": "3",
    "family_id": "11" * 16,
    "image_id": "22" * 16,
    "id_key_digest": "33" * 48,
    "author_key_digest": "44" * 48,
    "author_key_en": "1",
    "launch_mit_vector": "0xb",
    "current_mit_vector": "0xb",
}

# (check, params that make a report fail it (the base report passes it))
VARIANTS = [
    ("guest_svn", {"guest_svn": "2"}),
    ("family_id", {"family_id": "12" * 16}),
    ("image_id", {"image_id": "23" * 16}),
    ("id_key_digest", {"id_key_digest": "34" * 48}),
    ("author_key_digest", {"author_key_digest": "45" * 48}),
    ("min_launch_tcb", {"launch_tcb": "0x%x" % (MILAN_TCB - 1)}),  # bootloader 2
    ("provisional", {"committed_tcb": "0x%x" % (MILAN_TCB - (1 << 56))}),  # microcode ahead
    ("provisional", {"committed_fw_version": "1.55.20"}),  # firmware ahead
    ("launch_mit_vector", {"launch_mit_vector": "0x3"}),
    ("current_mit_vector", {"current_mit_vector": "0x9"}),
    ("policy_bits", {"policy": "0x30000"}),  # required SINGLE_SOCKET clear
    ("policy_bits", {"policy": "0x330000"}),  # forbidden CXL_ALLOW set
    ("platform_info", {"platform_info": "0x21"}),  # required ECC_EN clear
]

tmp = simtest.new_state("Milan")
try:
    def make_report(name, updates):
        set_params(tmp, dict(BASE, **updates))
        out = os.path.join(tmp, name + ".bin")
        subprocess.run([simtest.SNPCTL, "report", "--backend=sim:" + tmp, "-o", out,
                        "--certs-dir", os.path.join(tmp, "certs")], check=True,
                       stdout=subprocess.DEVNULL)
        return out

    base = make_report("base", {})
    certs = ["--certs", os.path.join(tmp, "certs"), "--trust-ark",
             os.path.join(tmp, "certs", "ark.pem"), "--offline", "--crl", "off"]
    pol = os.path.join(tmp, "policy.json")
    rc, _, err = run(["policy", "from-report", "-o", pol, base])
    check(rc == 0, "policy from-report of the base report (%s)" % err.strip())
    with open(pol) as f:
        policy = json.load(f)
    check(policy.get("require_policy_bits") == ["SMT", "SINGLE_SOCKET"] and
          policy.get("min_launch_mit_vector") == "0x000000000000000b" and
          policy.get("products") == ["Milan"] and policy.get("signer") == "vcek",
          "the generated policy holds the bits, vectors, product and signer as found")
    withpol = certs + ["--policy", pol]

    rc, doc, err = verify(withpol + [base])
    check(rc == 0 and failed(doc) == [], "base report: exit 0 under its policy (%s)"
          % (failed(doc) if doc else err))
    passed = {c["name"] for c in doc["checks"] if c["result"] == "passed"} if doc else set()
    for name in ("report_version", "product", "signer", "guest_svn", "family_id", "image_id",
                 "id_key_digest", "author_key_digest", "min_tcb", "min_launch_tcb",
                 "provisional", "launch_mit_vector", "current_mit_vector", "policy_bits",
                 "platform_info", "min_firmware"):
        check(name in passed, "base report passes %s" % name)
    check(doc is not None and doc.get("policy") == dict(policy),
          "--json carries the effective policy (= the file)")

    for i, (name, updates) in enumerate(VARIANTS):
        r = make_report("v%d" % i, updates)
        rc, doc, err = verify(withpol + [r])
        check(rc == 2 and failed(doc) == [name],
              "%s: a report with %s fails it alone, exit 2 (rc %d, failed %s)"
              % (name, updates, rc, failed(doc) if doc else err.strip()))

    # mitigation vectors need a version-5 report
    r = make_report("v3", {"report_version": "3"})
    rc, doc, err = verify(withpol + [r])
    check(rc == 2 and failed(doc) == ["current_mit_vector", "launch_mit_vector"] and
          "carries no" in detail(doc, "launch_mit_vector")[1],
          "version-3 report: mitigation vector minimums fail (rc %d, %s)"
          % (rc, failed(doc) if doc else err.strip()))
    # provisional firmware accepted when allowed
    r = make_report("prov", {"committed_fw_version": "1.55.20"})
    rc, doc, _ = verify(withpol + ["--allow-provisional", r])
    check(rc == 0 and "--allow-provisional" in detail(doc, "provisional")[1],
          "provisional firmware accepted with --allow-provisional (rc %d)" % rc)

    # version 6: accepted with the note, refused with --strict-version
    v6 = make_report("v6", {"report_version": "6"})
    rc, doc, _ = verify(withpol + [v6])
    st, det = detail(doc, "report_version") if doc else (None, "")
    check(rc == 0 and st == "passed" and "newer than the verifier knows" in det,
          "version 6: accepted with the note (rc %d: %s)" % (rc, det))
    check(doc is not None and doc["report_fields"].get("version") == 6 and
          "version_note" in doc["report_fields"], "version 6: the report fields carry the note")
    rc, doc, _ = verify(withpol + ["--strict-version", v6])
    check(rc == 2 and failed(doc) == ["report_version"] and
          doc["policy"]["strict_version"] is True,
          "version 6: refused with --strict-version, exit 2 (rc %d)" % rc)
    rc, out, _ = run(["show", v6])
    check(rc == 0 and "newer than the verifier knows" in out, "snpctl show notes version 6")

    # signer and products by option, overriding the file
    for args, want, what in (
            (["--signer", "vlek"], ["signer"], "--signer vlek refuses a VCEK-signed report"),
            (["--signer", "any"], [], "--signer any accepts it"),
            (["--deny-products", "milan"], ["product"], "--deny-products milan refuses it"),
            (["--products", "genoa,turin"], ["product"], "--products genoa,turin refuses it"),
            (["--products", "milan,venice"], [], "--products milan,venice accepts it"),
            (["--min-guest-svn", "4"], ["guest_svn"], "--min-guest-svn 4 overrides the file's 3"),
            (["--require-policy-bits", "SINGLE_SOCKET,MEM_AES_256_XTS"], ["policy_bits"],
             "--require-policy-bits MEM_AES_256_XTS refuses it"),
            (["--forbid-policy-bits", "SMT"], ["policy_bits"], "--forbid-policy-bits SMT"),
            (["--forbid-platform-info", "SMT_EN"], ["platform_info"],
             "--forbid-platform-info SMT_EN"),
            (["--require-platform-info", "TSME_EN"], ["platform_info"],
             "--require-platform-info TSME_EN"),
            (["--min-current-mit-vector", "0x10"], ["current_mit_vector"],
             "--min-current-mit-vector 0x10"),
            (["--id-key-digest", "00" * 48, "--id-key-digest", "33" * 48], [],
             "--id-key-digest set of two holds the report's"),
            (["--id-key-digest", "00" * 48], ["id_key_digest"],
             "--id-key-digest replaces the file's set"),
            (["--min-launch-tcb", "bootloader=4"], ["min_launch_tcb"],
             "--min-launch-tcb bootloader=4")):
        rc, doc, err = verify(withpol + args + [base])
        check(rc == (2 if want else 0) and failed(doc) == want,
              "%s (rc %d, failed %s)" % (what, rc, failed(doc) if doc else err.strip()))
    rc, doc, _ = verify(withpol + ["--min-guest-svn", "4", base])
    check(doc is not None and doc["policy"]["min_guest_svn"] == 4,
          "the effective policy shows the command line's value")

    # exit 1 outranks 2: a changed byte breaks the signature
    with open(base, "rb") as f:
        b = bytearray(f.read())
    b[0x90] ^= 1
    broken = os.path.join(tmp, "broken.bin")
    with open(broken, "wb") as f:
        f.write(b)
    rc, doc, _ = verify(withpol + [broken])
    check(rc == 1 and "report_sig" in failed(doc) and "measurement" in failed(doc),
          "a forged report: exit 1 (rc %d)" % rc)

    # exit 3: a policy file with an unknown key or a bad value, named
    for content, want in (('{"mesurement": "00"}', "'mesurement'"),
                          ('{"forbid_policy_bits": ["SINGLE_SOKET"]}', "SINGLE_SOKET"),
                          ('{"products": ["Rome"]}', "Rome"),
                          ('{"min_tcb": {"bootloader": 256}}', "min_tcb.bootloader"),
                          ('{"signer": "ask"}', "signer"),
                          ('{"vmpl": 0, "vmpl": 1}', "duplicate"),
                          ('[1]', "JSON object")):
        p = os.path.join(tmp, "bad.json")
        with open(p, "w") as f:
            f.write(content)
        rc, doc, err = verify(certs + ["--policy", p, base])
        check(rc == 3 and want in err, "bad policy %s: exit 3 naming %s (%s)"
              % (content, want, err.strip()))
        rc, _, err2 = run(["policy", "check", p])
        check(rc == 3 and want in err2, "policy check refuses %s" % content)
    rc, _, err = run(["verify"] + certs + ["--forbid-policy-bits", "NOPE", base])
    check(rc == 3 and "NOPE" in err, "a bad bit name on the command line: exit 3")
    big = os.path.join(tmp, "big.json")
    with open(big, "w") as f:
        f.write('{"$schema": "%s"}' % ("x" * 70000))
    rc, _, err = run(["verify"] + certs + ["--policy", big, base])
    check(rc == 3 and "larger than" in err, "a policy file over 64 KiB: exit 3")
finally:
    simtest.cleanup(tmp)

# genuine reports: VLEK signer, products, unknown PLATFORM_INFO bit, Venice
if os.path.isfile(os.path.join(snptest.TESTDATA, "manifest.json")):
    vec = {v["name"]: v for v in snptest.manifest()["vectors"]}
    vl = snptest.verify_args(vec["trustee/milan-vlek-aws"]) + ["--allow-provisional"]
    for args, rc_want, what in ((["--signer", "vlek"], 0, "VLEK report passes --signer vlek"),
                                (["--signer", "vcek"], 2, "VLEK report fails --signer vcek")):
        rc, doc, _, _ = snptest.verify_json(vl + args)
        check(rc == rc_want, "%s (rc %d)" % (what, rc))
    ge = snptest.verify_args(vec["trustee/azure-genoa"]) + ["--allow-debug"]
    for args, rc_want, what in ((["--products", "genoa"], 0, "Genoa passes --products genoa"),
                                (["--deny-products", "genoa,milan"], 2,
                                 "Genoa fails --deny-products genoa,milan")):
        rc, doc, _, _ = snptest.verify_json(ge + args)
        check(rc == rc_want and (rc == 0 or failed(doc) == ["product"]),
              "%s (rc %d)" % (what, rc))
    tu = snptest.verify_args(vec["oak/turin"])
    rc, doc, _, _ = snptest.verify_json(tu)
    st, det = detail(doc, "platform_info")
    check(rc == 0 and "unknown bit 6" in det and
          doc["report_fields"]["platform_info"].get("unknown_bits") == ["unknown bit 6"],
          "Turin's PLATFORM_INFO bit 6 is named 'unknown bit 6' and accepted (rc %d)" % rc)
    rc, doc, _, _ = snptest.verify_json(tu + ["--forbid-platform-info", "unknown"])
    check(rc == 2 and failed(doc) == ["platform_info"] and "unknown bit 6" in
          detail(doc, "platform_info")[1], "--forbid-platform-info unknown refuses it")
    # a Turin report with a Venice model number: unconfirmed; --product overrides
    r = bytearray(snptest.load_report(vec["oak/turin"]))
    r[0x189] = 0x90
    tmpd = simtest.tempfile.mkdtemp(prefix="snp-venice.")
    try:
        p = os.path.join(tmpd, "venice.bin")
        with open(p, "wb") as f:
            f.write(r)
        rc, out, _ = run(["show", p])
        check("Venice (from cpuid; TCB layout and chip id length taken as Turin's, "
              "unconfirmed)" in out, "show: Venice marked unconfirmed")
        rc, doc, _, _ = snptest.verify_json(snptest.verify_args(vec["oak/turin"], p))
        check(rc == 1 and "Venice" in detail(doc, "product")[1] and
              "unconfirmed" in detail(doc, "product")[1] and
              doc["report_fields"].get("product_unconfirmed"),
              "verify: Venice marked unconfirmed (the changed byte breaks the signature)")
        rc, doc, _, _ = snptest.verify_json(snptest.verify_args(vec["oak/turin"], p) +
                                            ["--product", "turin"])
        check("product Turin (from hint)" in detail(doc, "product")[1],
              "--product turin overrides it")
    finally:
        simtest.cleanup(tmpd)
else:
    print("note: genuine vectors not found; their rows skipped")

print("%d checks, %d failed" % (n, bad))
sys.exit(1 if bad else 0)
