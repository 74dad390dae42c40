# SPDX-License-Identifier: Apache-2.0
"""snpctl verify beyond the genuine vectors: a chain made here with openssl
(not AMD's: untrusted unless --trust-ark), RSASSA-PSS parameters other than
SHA-384/MGF1-SHA-384/salt 48 refused, both hwID encodings, certificate
validity and --at, --certs DIR, and every policy option with its exit code."""

import datetime
import json
import os
import shutil
import struct
import subprocess
import tempfile

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

import snptest as t

t.need_testdata()
if not shutil.which("openssl"):
    print("SKIP: openssl command not found")
    raise SystemExit(t.SKIP)
res = t.Results()
vectors = {v["name"]: v for v in t.manifest()["vectors"]}
PSS48 = ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:48",
         "-sigopt", "rsa_mgf1_md:sha384"]
HWID = bytes(range(0x40, 0x80))


def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, capture_output=True)


def make_chain(d):
    """ARK-Milan -> SEV-Milan -> SEV-VCEK, all TEST names, like AMD's shape."""
    with open(os.path.join(d, "ca.cnf"), "w") as f:
        f.write("[req]\ndistinguished_name=dn\n[dn]\n"
                "[v3_ca]\nbasicConstraints=critical,CA:TRUE\n"
                "keyUsage=critical,keyCertSign,cRLSign\n"
                "subjectKeyIdentifier=hash\n")
    openssl("req", "-x509", "-newkey", "rsa:4096", "-nodes", "-keyout", "ark.key",
            "-subj", "/CN=ARK-Milan/O=snpd TEST (not AMD)", "-days", "3650", "-sha384",
            *PSS48, "-config", "ca.cnf", "-extensions", "v3_ca", "-out", "ark.pem", cwd=d)
    openssl("req", "-new", "-newkey", "rsa:4096", "-nodes", "-keyout", "ask.key",
            "-subj", "/CN=SEV-Milan/O=snpd TEST (not AMD)", "-config", "ca.cnf",
            "-out", "ask.csr", cwd=d)
    for name, opts in (("ask.pem", ["-sha384"] + PSS48),
                       ("ask-salt32.pem", ["-sha384", "-sigopt", "rsa_padding_mode:pss",
                                           "-sigopt", "rsa_pss_saltlen:32",
                                           "-sigopt", "rsa_mgf1_md:sha384"]),
                       ("ask-sha256.pem", ["-sha256", "-sigopt", "rsa_padding_mode:pss",
                                           "-sigopt", "rsa_pss_saltlen:48",
                                           "-sigopt", "rsa_mgf1_md:sha256"]),
                       ("ask-pkcs1.pem", ["-sha384"])):
        openssl("x509", "-req", "-in", "ask.csr", "-CA", "ark.pem", "-CAkey", "ark.key",
                "-set_serial", "1", "-days", "3650", *opts, "-extfile", "ca.cnf",
                "-extensions", "v3_ca", "-out", name, cwd=d)
    key = ec.generate_private_key(ec.SECP384R1())
    with open(os.path.join(d, "vcek.key"), "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    openssl("req", "-new", "-key", "vcek.key", "-subj", "/CN=SEV-VCEK/O=snpd TEST (not AMD)",
            "-config", "ca.cnf", "-out", "vcek.csr", cwd=d)
    amd = "1.3.6.1.4.1.3704.1."
    for name, hwid in (("vcek.der", "DER:" + HWID.hex()),
                       ("vcek-wrapped.der", "DER:0440" + HWID.hex())):
        with open(os.path.join(d, "vcek.cnf"), "w") as f:
            f.write("[ext]\n%s1=ASN1:INTEGER:0\n%s2=ASN1:IA5STRING:Milan-B0\n"
                    "%s3.1=ASN1:INTEGER:3\n%s3.2=ASN1:INTEGER:0\n%s3.3=ASN1:INTEGER:8\n"
                    "%s3.8=ASN1:INTEGER:115\n%s4=%s\n"
                    % (amd, amd, amd, amd, amd, amd, amd, hwid))
        openssl("x509", "-req", "-in", "vcek.csr", "-CA", "ask.pem", "-CAkey", "ask.key",
                "-set_serial", "0", "-days", "3650", "-sha384", *PSS48,
                "-extfile", "vcek.cnf", "-extensions", "ext", "-outform", "DER",
                "-out", name, cwd=d)
    return key


def sign_report(template, key, **fields):
    r = bytearray(template)
    r[0x1A0:0x1E0] = HWID
    r[0x180:0x188] = struct.pack("<Q", 0x7308000000000003)
    for off, val in fields.values():
        r[off:off + len(val)] = val
    der = key.sign(bytes(r[:0x2A0]), ec.ECDSA(hashes.SHA384()))
    rr, ss = decode_dss_signature(der)
    r[0x2A0:0x4A0] = b"\x00" * 0x200
    r[0x2A0:0x2A0 + 72] = rr.to_bytes(72, "little")
    r[0x2E8:0x2E8 + 72] = ss.to_bytes(72, "little")
    return bytes(r)


def checks(doc, status):
    return sorted(c["name"] for c in doc["checks"] if c["result"] == status)


with tempfile.TemporaryDirectory() as d:
    key = make_chain(d)
    template = t.load_report(vectors["virtee-sev/milan"])
    rpath = os.path.join(d, "report.bin")
    nonce = bytes(range(32))
    with open(rpath, "wb") as f:
        f.write(sign_report(template, key, rd=(0x50, nonce + b"\x00" * 32),
                            vmpl=(0x30, struct.pack("<I", 1))))
    base = ["verify", "--json", "--ark", os.path.join(d, "ark.pem"),
            "--ask", os.path.join(d, "ask.pem"), "--vcek", os.path.join(d, "vcek.der")]

    # 1. not AMD's root: untrusted; with --trust-ark: verified, and it says so
    rc, doc, out, err = t.verify_json(base + [rpath])
    res.check(rc == 1 and checks(doc, "failed") == ["root_trust"] and
              "untrusted root" in json.dumps(doc), "self-made root is untrusted (rc %d)" % rc)
    rc, out, err = t.snpctl(base[:1] + base[2:] + [rpath])
    res.check(rc == 1 and "untrusted root" in out, "text output names the untrusted root")
    rc, doc, out, err = t.verify_json(base + ["--trust-ark", os.path.join(d, "ark.pem"), rpath])
    res.check(rc == 0 and doc["root"] == "explicit trust anchor",
              "--trust-ark accepts it and says so (rc %d, %s)" % (rc, doc and doc["root"]))
    rc, out, err = t.snpctl(base[:1] + base[2:] + ["--trust-ark", os.path.join(d, "ark.pem"),
                                                   rpath])
    res.check(rc == 0 and "explicitly trusted anchor, not AMD" in out, "text says not AMD")
    trusted = base + ["--trust-ark", os.path.join(d, "ark.pem")]
    # a genuine AMD ARK as --trust-ark does not make our root trusted
    rc, doc, _, _ = t.verify_json(base + ["--trust-ark", t.path("virtee-sev/milan_ark.pem"),
                                          rpath])
    res.check(rc == 1 and "root_trust" in checks(doc, "failed"), "another anchor: untrusted")

    # 2. both hwID encodings
    rc, doc, _, _ = t.verify_json(trusted[:-2] + ["--vcek", os.path.join(d, "vcek-wrapped.der"),
                                                  "--trust-ark", os.path.join(d, "ark.pem"),
                                                  rpath])
    res.check(rc == 0 and "chip_match" in checks(doc, "passed"),
              "hwID wrapped in an OCTET STRING matches (rc %d)" % rc)

    # 3. other RSASSA-PSS parameters are refused
    for ask, why in (("ask-salt32.pem", "salt length is not 48"),
                     ("ask-sha256.pem", "hash is not SHA-384"),
                     ("ask-pkcs1.pem", "not RSASSA-PSS")):
        args = list(trusted)
        args[args.index("--ask") + 1] = os.path.join(d, ask)
        rc, doc, _, _ = t.verify_json(args + [rpath])
        chain = [c for c in doc["checks"] if c["name"] == "chain"][0]
        res.check(rc == 1 and chain["result"] == "failed" and why in chain["detail"],
                  "%s refused: %s" % (ask, chain["detail"]))

    # 4. policy options: each mismatch fails exactly its check with exit code 2
    cases = [
        (["--report-data", nonce.hex()], 0, []),
        (["--report-data", (nonce + b"\x00" * 32).hex()], 0, []),
        (["--report-data", "ff" + nonce.hex()[2:]], 2, ["report_data"]),
        (["--vmpl", "1"], 0, []),
        (["--vmpl", "0"], 2, ["vmpl"]),
        (["--measurement", template[0x90:0xC0].hex()], 0, []),
        (["--measurement", "00" * 48], 2, ["measurement"]),
        (["--host-data", "00" * 32], 0, []),
        (["--host-data", "11" * 32], 2, ["host_data"]),
        (["--id-key-digest", "00" * 48, "--author-key-digest", "00" * 48], 0, []),
        (["--id-key-digest", "01" * 48], 2, ["id_key_digest"]),
        (["--min-tcb", "bootloader=3,tee=0,snp=8,microcode=115"], 0, []),
        (["--min-tcb", "snp=9"], 2, ["min_tcb"]),
        (["--min-tcb", "microcode=116"], 2, ["min_tcb"]),
        (["--min-tcb", "fmc=0"], 2, ["min_tcb"]),
        (["--min-fw", "1.52"], 0, []),
        (["--min-fw", "1.52.4"], 0, []),
        (["--min-fw", "1.52.5"], 2, ["min_firmware"]),
        (["--min-fw", "1.53"], 2, ["min_firmware"]),
        (["--deny-smt"], 2, ["smt"]),
        (["--vmpl", "0", "--deny-smt"], 2, ["smt", "vmpl"]),
    ]
    for opts, want_rc, want_failed in cases:
        rc, doc, _, err = t.verify_json(trusted + opts + [rpath])
        res.check(rc == want_rc and doc and checks(doc, "failed") == want_failed,
                  "%s -> rc %d %s (want %d %s) %s" % (" ".join(opts)[:60], rc,
                                                      doc and checks(doc, "failed"),
                                                      want_rc, want_failed, err.strip()))

    # --nonce is the nonce snpd's bound evidence proves: a raw report given
    # with it is refused (exit code 1), never checked as REPORT_DATA
    rc, doc, out, err = t.verify_json(trusted + ["--nonce", nonce.hex(), rpath])
    b = (doc or {}).get("binding") or {}
    res.check(rc == 1 and doc.get("result") == "verification failed" and b.get("ok") is False and
              "not an evidence document" in b.get("reason", "") and "checks" not in doc,
              "--nonce with a raw report: refused, rc %d (1) %r" % (rc, b))

    # 5. policy bits: debug and migration agent refused unless allowed
    for bit, check, allow in ((19, "debug", "--allow-debug"),
                              (18, "migrate_ma", "--allow-migration-agent")):
        p = os.path.join(d, "r-%s.bin" % check)
        with open(p, "wb") as f:
            f.write(sign_report(template, key, pol=(0x08, struct.pack("<Q", 0x30000 | 1 << bit))))
        rc, doc, _, _ = t.verify_json(trusted + [p])
        res.check(rc == 2 and checks(doc, "failed") == [check], "%s refused by default" % check)
        rc, doc, _, _ = t.verify_json(trusted + [allow, p])
        res.check(rc == 0, "%s accepted with %s" % (check, allow))

    # 6. a verification failure outranks a policy failure
    bad = bytearray(open(rpath, "rb").read())
    bad[0x90] ^= 1
    p = os.path.join(d, "r-bad.bin")
    with open(p, "wb") as f:
        f.write(bad)
    rc, doc, _, _ = t.verify_json(trusted + ["--vmpl", "0", p])
    res.check(rc == 1 and "report_sig" in checks(doc, "failed") and
              "vmpl" in checks(doc, "failed"), "signature failure gives 1 over policy 2")

    # 7. validity: an expired VLEK fails now, passes --at inside its validity
    vl = vectors["trustee/milan-vlek-aws"]
    args = t.verify_args(vl) + ["--allow-provisional"]  # its CURRENT_TCB is ahead
    i = args.index("--at")
    rc, doc, _, _ = t.verify_json(args[:i] + args[i + 2:])
    res.check(rc == 1 and checks(doc, "failed") == ["validity"] and
              "expired" in json.dumps(doc), "expired VLEK fails validity (rc %d)" % rc)
    rc, doc, _, _ = t.verify_json(args[:i] + ["--at", "2025-06-01"] + args[i + 2:])
    res.check(rc == 0, "--at 2025-06-01 inside the VLEK's year (rc %d)" % rc)
    rc, doc, _, _ = t.verify_json(args[:i] + ["--at", "2020-01-01T00:00:00Z"] + args[i + 2:])
    res.check(rc == 1 and checks(doc, "failed") == ["validity"], "--at before notBefore")

    # 8. --certs DIR with the usual names (PEM and DER)
    v = vectors["oak/genoa"]
    cd = os.path.join(d, "certs")
    os.mkdir(cd)
    shutil.copy(t.path("oak/ark_genoa.pem"), os.path.join(cd, "ark.pem"))
    shutil.copy(t.path("oak/ask_genoa.pem"), os.path.join(cd, "ask.pem"))
    shutil.copy(t.path(v["vcek"]), os.path.join(cd, "vcek.der"))
    rc, doc, _, err = t.verify_json(["verify", "--json", "--certs", cd, "--at",
                                     t.cert_not_before(v), t.path(v["report"])])
    res.check(rc == 0, "--certs DIR with ark.pem ask.pem vcek.der (rc %d %s)" % (rc, err))
    os.rename(os.path.join(cd, "ask.pem"), os.path.join(cd, "x"))
    # issue 14: the AMD ASK is compiled in, so a missing ASK is no longer an error
    rc, doc, _, err = t.verify_json(["verify", "--json", "--certs", cd, "--at",
                                     t.cert_not_before(v), t.path(v["report"])])
    res.check(rc == 0 and doc and doc["sources"]["ask"] == "embedded AMD",
              "--certs without an ASK: the embedded AMD ASK (rc %d, %s)" % (
                  rc, doc and doc.get("sources")))
    # no certificates at all: the cache, then KDS; --offline here (tests never
    # reach the network) with an empty cache gives exit 3 naming the remedy
    rc, _, err = t.snpctl(["verify", "--offline", "--cache-dir", os.path.join(d, "nocache"),
                           t.path(v["report"])])
    res.check(rc == 3 and "VCEK" in err and "snpctl collateral fetch" in err,
              "no certificates at all, offline, empty cache: exit 3 (%s)" % err.strip())

    # 9. certificates only (no report)
    rc, doc, _, _ = t.verify_json(["verify", "--json", "--vcek", t.path(v["vcek"]),
                                   "--chain", t.path("go-sev-guest/ask_ark_genoa.pem"),
                                   "--at", t.cert_not_before(v)])
    res.check(rc == 0 and doc["report"] is None, "certificate-only verification")

res.done()
