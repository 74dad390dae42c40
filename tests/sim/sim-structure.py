# SPDX-License-Identifier: Apache-2.0
"""The simulator's certificates and reports are shaped as AMD's.

For each product (Milan, Genoa, Turin) the simulated ARK, ASK, ASVK, VCEK
and VLEK are compared, field by field and extension by extension, with
every genuine certificate of the same product and role in
../shared/testdata/real (read in place); and each simulated report version
(2, 3, 5) is compared with the genuine reports field by field through a
population rule. Any difference fails, except what ALLOW (below) lists:
what differs between any two genuine chips too (keys, signatures, serial
and key-id values, dates, chip id, TCB values, launch inputs).

Where no genuine sample of a product and role exists (a Genoa or Turin
VLEK), the comparison is reported as not possible and skipped.
"""
import glob
import json
import os
import struct
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import simtest  # noqa: E402

try:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
except ImportError:
    simtest.skip("python3-cryptography is not installed")

TESTDATA = os.environ.get("SNP_TESTDATA", "")
if not TESTDATA or not os.path.isfile(os.path.join(TESTDATA, "manifest.json")):
    simtest.skip("genuine AMD test data not found (SNP_TESTDATA=%r)" % TESTDATA)

# The documented allow-list: fields whose *values* may differ (their shape,
# DER type and presence are still compared).
ALLOW = {
    "serial": "serial number value (shape compared: 0 for VCEK/VLEK, small for CAs)",
    "validity": "notBefore/notAfter values and their UTCTime/GeneralizedTime form "
                "(RFC 5280 fixes it by year); the length in years is compared",
    "key": "public key and signature bytes (algorithm, size, curve compared)",
    "key_id": "SKI/AKI key identifier bytes (length compared)",
    "hwid": "hwID value = CHIP_ID (length and encoding compared)",
    "spl": "SPL values = the chip's TCB (DER INTEGER type compared)",
    "csp": "cspId value (IA5String type compared)",
    "report": "report values: GUEST_SVN, POLICY, FAMILY/IMAGE_ID, VMPL, TCBs, "
              "PLATFORM_INFO, REPORT_DATA, MEASUREMENT, HOST_DATA, key digests, "
              "REPORT_ID, CHIP_ID, firmware versions, signature",
}
errors = []
import warnings  # noqa: E402
warnings.simplefilter("ignore")


def err(msg):
    errors.append(msg)
    print("DIFF: " + msg)


# --- a minimal DER reader -------------------------------------------------

def der_tlv(buf, off):
    tag = buf[off]
    ln = buf[off + 1]
    hl = 2
    if ln & 0x80:
        n = ln & 0x7f
        ln = int.from_bytes(buf[off + 2:off + 2 + n], "big")
        hl = 2 + n
    return tag, buf[off + hl:off + hl + ln], off + hl + ln


def der_children(body):
    out, off = [], 0
    while off < len(body):
        tag, val, nxt = der_tlv(body, off)
        out.append((tag, val, body[off:nxt]))
        off = nxt
    return out


def tbs_parts(cert):
    _, certbody, _ = der_tlv(cert.public_bytes(encoding()), 0)
    tbs, sigalg, _sig = der_children(certbody)
    fields = der_children(tbs[1])
    return fields, sigalg[2]


def encoding():
    from cryptography.hazmat.primitives.serialization import Encoding
    return Encoding.DER


# --- certificate profiles ---------------------------------------------------

def product_of(cert):
    for c in (cert.subject, cert.issuer):
        cn = c.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
        for p in ("Milan", "Genoa", "Turin"):
            if cn.endswith("-" + p):
                return p
    return None


def role_of(cert):
    cn = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
    if cn.startswith("ARK-"):
        return "ARK"
    if cn.startswith("SEV-VLEK-"):
        return "ASVK"
    if cn in ("SEV-VCEK", "SEV-VLEK"):
        return cn[4:]
    if cn.startswith("SEV-"):
        return "ASK"
    return "?"


def name_profile(name, product):
    return [(a.oid.dotted_string, a._type.name, a.value.replace(product, "<P>"))
            for a in name]


def ext_profile(e, product):
    oid = e.oid.dotted_string
    v = e.value
    if isinstance(v, x509.UnrecognizedExtension):
        raw = v.value
        if oid == "1.3.6.1.4.1.3704.1.4":
            return (oid, e.critical, "hwID raw %d bytes" % len(raw)
                    if raw[:1] != b"\x04" or len(raw) not in (66, 10) else
                    "hwID OCTET STRING %d" % len(raw))
        if oid == "1.3.6.1.4.1.3704.1.5":
            return (oid, e.critical, "IA5" if raw[0] == 0x16 else raw[:1].hex())
        if oid == "1.3.6.1.4.1.3704.1.2":
            return (oid, e.critical, raw.hex())
        if oid.startswith("1.3.6.1.4.1.3704.1.3."):
            # SPL values are the TCB's (ALLOW spl); the reserved ones are 0
            if oid[-1] in "4567":
                return (oid, e.critical, raw.hex())
            return (oid, e.critical, "INTEGER" if raw[0] == 0x02 else raw[:1].hex())
        return (oid, e.critical, raw.hex())
    if isinstance(v, x509.SubjectKeyIdentifier):
        return (oid, e.critical, "keyid %d" % len(v.digest))
    if isinstance(v, x509.AuthorityKeyIdentifier):
        return (oid, e.critical, "keyid %d issuer %r serial %r" % (
            len(v.key_identifier or b""), v.authority_cert_issuer,
            v.authority_cert_serial_number))
    if isinstance(v, x509.CRLDistributionPoints):
        return (oid, e.critical, repr(v).replace(product, "<P>"))
    return (oid, e.critical, repr(v))


def cert_profile(cert):
    product = product_of(cert)
    fields, outer_sigalg = tbs_parts(cert)
    # tbs: [0] version, serial, signature, issuer, validity, subject, spki, [3] exts
    inner_sigalg = fields[2][2]
    pk = cert.public_key()
    if isinstance(pk, rsa.RSAPublicKey):
        key = "RSA-%d e=%d" % (pk.key_size, pk.public_numbers().e)
    elif isinstance(pk, ec.EllipticCurvePublicKey):
        key = "EC-%s" % pk.curve.name
    else:
        key = type(pk).__name__
    spki_alg = der_children(fields[6][1])[0][2]
    nb = getattr(cert, "not_valid_before_utc", None) or cert.not_valid_before
    na = getattr(cert, "not_valid_after_utc", None) or cert.not_valid_after
    years = round((na - nb).days / 365.25)
    serial = cert.serial_number
    return {
        "version": cert.version.name,
        "serial shape": "zero" if serial == 0 else "%d-byte positive" % (
            (serial.bit_length() + 8) // 8) if serial > 0 else "negative",
        "tbs signature algorithm": inner_sigalg.hex(),
        "signature algorithm": outer_sigalg.hex(),
        "issuer": name_profile(cert.issuer, product),
        "subject": name_profile(cert.subject, product),
        "validity years": years,
        "key": key,
        "spki algorithm": spki_alg.hex(),
        "tbs fields": [f[0] for f in fields],
        "extensions": [ext_profile(e, product) for e in cert.extensions],
    }


def load_certs(path):
    with open(path, "rb") as f:
        data = f.read()
    if b"-----BEGIN" in data:
        # one by one (load_pem_x509_certificates needs cryptography >= 39)
        out, marker = [], b"-----END CERTIFICATE-----"
        for part in data.split(marker)[:-1]:
            out.append(x509.load_pem_x509_certificate(part.strip() + b"\n" + marker + b"\n"))
        return out
    return [x509.load_der_x509_certificate(data)]


def genuine_certs():
    """Every certificate file of testdata/real except those only negative
    vectors use (deliberately altered)."""
    man = json.load(open(os.path.join(TESTDATA, "manifest.json")))
    neg_only = set()
    pos = set()
    for v in man["vectors"]:
        files = [v.get("vcek")] + v.get("ca", [])
        (neg_only if v["name"].startswith("NEG") else pos).update(f for f in files if f)
    neg_only -= pos
    out, seen = [], set()
    for path in sorted(glob.glob(os.path.join(TESTDATA, "**", "*.pem"), recursive=True) +
                       glob.glob(os.path.join(TESTDATA, "**", "*.der"), recursive=True)):
        rel = os.path.relpath(path, TESTDATA)
        if rel in neg_only:
            continue
        try:
            certs = load_certs(path)
        except ValueError:
            continue
        for c in certs:
            fp = c.tbs_certificate_bytes
            if fp in seen:
                continue
            seen.add(fp)
            out.append((rel, c))
    return out


def compare_cert(label, sim, genuine):
    """Each field of the simulated certificate must be as in the genuine
    ones; where the genuine ones differ among themselves (KDS changed over
    the years, e.g. the PSS trailerField of older VCEKs), as in one of them."""
    sp = cert_profile(sim)
    gps = [(rel, cert_profile(g)) for rel, g in genuine]
    for k in sp:
        if not any(sp[k] == gp[k] for _, gp in gps):
            err("%s %s differs from every genuine one:\n    sim:     %r\n%s" %
                (label, k, sp[k], "\n".join("    %s: %r" % (rel, gp[k]) for rel, gp in gps)))


# --- reports ---------------------------------------------------------------

def u32(d, o):
    return struct.unpack_from("<I", d, o)[0]


def u64(d, o):
    return struct.unpack_from("<Q", d, o)[0]


def zero(b):
    return "zero" if not any(b) else "non-zero"


def tcb_shape(d, o, product):
    t = d[o:o + 8]
    rsvd = t[4:7] if product == "Turin" else t[2:6]
    return "reserved bytes " + zero(rsvd)


# (field, class function(report, product), era function(version)); the era
# groups versions that define the field alike (ALLOW: values of report).
RULES = [
    ("VERSION", lambda d, p: u32(d, 0), lambda v: v),
    ("POLICY rsvd", lambda d, p: (u64(d, 8) >> 17 & 1, u64(d, 8) >> 26), lambda v: 0),
    ("SIGNATURE_ALGO", lambda d, p: u32(d, 0x34), lambda v: 0),
    ("CURRENT_TCB", lambda d, p: tcb_shape(d, 0x38, p), lambda v: 0),
    ("PLATFORM_INFO undefined bits",
     lambda d, p: zero(struct.pack("<Q", u64(d, 0x40) & ~0xff)), lambda v: 0),
    ("PLATFORM_INFO SMT_EN", lambda d, p: u64(d, 0x40) & 1, lambda v: 0),
    ("KEY_INFO signing key, reserved", lambda d, p: (u32(d, 0x48) >> 2 & 7, u32(d, 0x48) >> 5),
     lambda v: 0),
    ("0x04C reserved", lambda d, p: zero(d[0x4c:0x50]), lambda v: 0),
    ("AUTHOR_KEY_DIGEST zero unless AUTHOR_KEY_EN",
     lambda d, p: bool(u32(d, 0x48) & 1) or not any(d[0x110:0x140]), lambda v: 0),
    ("REPORT_ID", lambda d, p: zero(d[0x140:0x160]), lambda v: 0),
    ("REPORT_ID_MA", lambda d, p: "all ff" if d[0x160:0x180] == b"\xff" * 32 else
     zero(d[0x160:0x180]), lambda v: 0),
    ("REPORTED_TCB", lambda d, p: tcb_shape(d, 0x180, p), lambda v: 0),
    ("CPUID_FAM/MOD/STEP", lambda d, p: d[0x188:0x18b].hex(), lambda v: v >= 3),
    ("0x18B reserved", lambda d, p: zero(d[0x18b:0x1a0]), lambda v: 0),
    ("CHIP_ID shape", lambda d, p: "%s/%s" % (zero(d[0x1a0:0x1a8]), zero(d[0x1a8:0x1e0])),
     lambda v: 0),
    ("COMMITTED_TCB", lambda d, p: tcb_shape(d, 0x1e0, p), lambda v: 0),
    ("firmware version reserved bytes", lambda d, p: (d[0x1eb], d[0x1ef]), lambda v: 0),
    ("CURRENT = COMMITTED firmware", lambda d, p: d[0x1e8:0x1eb] == d[0x1ec:0x1ef],
     lambda v: 0),
    ("LAUNCH_TCB", lambda d, p: tcb_shape(d, 0x1f0, p), lambda v: 0),
    ("MIT_VECTORS", lambda d, p: zero(d[0x1f8:0x208]), lambda v: v >= 5),
    ("0x208 reserved", lambda d, p: zero(d[0x208:0x2a0]), lambda v: 0),
    ("signature R/S padding", lambda d, p: zero(d[0x2a0 + 48:0x2e8] + d[0x2e8 + 48:0x330]),
     lambda v: 0),
    ("signature reserved", lambda d, p: zero(d[0x330:0x4a0]), lambda v: 0),
]
# rules whose classes are taken from the same product when it has samples
PER_PRODUCT = {"CPUID_FAM/MOD/STEP", "CHIP_ID shape"}


def genuine_reports():
    man = json.load(open(os.path.join(TESTDATA, "manifest.json")))
    out, seen = [], set()
    for v in man["vectors"]:
        if v["name"].startswith("NEG") or not v.get("report") or v["report"] in seen:
            continue
        if v.get("endorsement") == "VLEK":
            continue  # the CHIP_ID of the VLEK sample is masked; compared in verify tests
        seen.add(v["report"])
        with open(os.path.join(TESTDATA, v["report"]), "rb") as f:
            d = f.read()
        if v.get("report_format") == "hex":
            d = bytes.fromhex(d.decode().strip())
        out.append((v["name"], v["product"], d[:0x4a0]))
    return out


def compare_report(label, d, product, version, genuine):
    for name, cls, era in RULES:
        same_era = [(n, p, g) for n, p, g in genuine if era(u32(g, 0)) == era(version)]
        pool = same_era
        if name in PER_PRODUCT:
            pool = [x for x in same_era if x[1] == product] or same_era
        if name == "VERSION":
            continue
        if not pool:
            print("note: %s %s: no genuine sample of that era" % (label, name))
            continue
        want = {repr(cls(g, p)) for _, p, g in pool}
        got = repr(cls(d, product))
        if got not in want:
            err("%s %s: %s, genuine: %s" % (label, name, got, sorted(want)))


def main():
    genuine = genuine_certs()
    reports = genuine_reports()
    by = {}
    for rel, c in genuine:
        by.setdefault((product_of(c), role_of(c)), []).append((rel, c))
    tmp = tempfile.mkdtemp(prefix="snp-sim-structure.")
    try:
        for product in ("Milan", "Genoa", "Turin"):
            # one identity with every certificate (ARK, ASK, VCEK, ASVK, VLEK)
            d = os.path.join(tmp, product)
            subprocess.run([simtest.SNPCTL, "sim", "init", "--dir", d, "--product", product,
                            "--vlek", "1"], check=True, stdout=subprocess.DEVNULL)
            for role, fn in (("ARK", "ark"), ("ASK", "ask"), ("VCEK", "vcek"),
                             ("ASVK", "asvk"), ("VLEK", "vlek")):
                sim = load_certs(os.path.join(d, fn + ".pem"))[0]
                g = by.get((product, role), [])
                if not g:
                    print("note: no genuine %s %s in testdata: not compared" % (product, role))
                    continue
                compare_cert("%s %s" % (product, role), sim, g)
                print("compared: %s %s with %d genuine" % (product, role, len(g)))
            # reports signed by the VCEK, as the genuine ones compared
            for ver in (2, 3, 5):
                simtest.write_kv_update(os.path.join(d, "params"),
                                        {"report_version": str(ver), "vlek": "0"})
                out = os.path.join(d, "r%d.bin" % ver)
                subprocess.run([simtest.SNPCTL, "report", "--backend=sim:" + d,
                                "--nonce", "00" * 64, "-o", out], check=True)
                with open(out, "rb") as f:
                    rep = f.read()
                compare_report("%s v%d" % (product, ver), rep, product, ver, reports)
                if ver == 5 and not any(rep[0x1f8:0x208]):
                    err("%s v5: mitigation vectors are zero by default" % product)
                print("compared: %s report v%d" % (product, ver))
    finally:
        simtest.cleanup(tmp)
    print("allow-list (values only):")
    for k, v in ALLOW.items():
        print("  %s: %s" % (k, v))
    if errors:
        simtest.fail("%d structural difference(s) from genuine AMD data" % len(errors))
    print("ok: simulated certificates and reports are shaped as genuine ones")
    return 0


if __name__ == "__main__":
    sys.exit(main())
