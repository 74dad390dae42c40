# SPDX-License-Identifier: Apache-2.0
"""Independent oracle (Debian's python3-cryptography, none of our code):

- the simulated ARK is self-signed and signs the ASK, which signs the VCEK,
  all RSASSA-PSS SHA-384 / MGF1-SHA-384 / salt 48;
- the VCEK's AMD extensions match the report (hwID = CHIP_ID, SPLs = TCB);
- the report signature (ECDSA P-384, little-endian R/S) verifies;
- one captured request/response pair of each kind decrypts with the VMPCK
  (AES-256-GCM, IV = seqno LE || 0^4, AAD = header 0x30..0x5f).
"""
import os
import struct
import subprocess
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import simtest  # noqa: E402

try:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature, InvalidTag
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, utils
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
except ImportError:
    simtest.skip("python3-cryptography is not installed")

PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=48)
AMD = "1.3.6.1.4.1.3704.1."


def load(path):
    with open(path, "rb") as f:
        return x509.load_pem_x509_certificate(f.read())


def rd(path):
    with open(path, "rb") as f:
        return f.read()


def der_int(raw):
    if raw[0] != 0x02 or raw[1] != len(raw) - 2:
        simtest.fail("extension is not a DER INTEGER: %s" % raw.hex())
    return int.from_bytes(raw[2:], "big", signed=True)


def check_chain(d, report):
    ark, ask, vcek = (load(os.path.join(d, n + ".pem")) for n in ("ark", "ask", "vcek"))
    for child, parent, name in ((ark, ark, "ARK"), (ask, ark, "ASK"), (vcek, ask, "VCEK")):
        try:
            parent.public_key().verify(child.signature, child.tbs_certificate_bytes, PSS,
                                       hashes.SHA384())
        except InvalidSignature:
            simtest.fail("%s signature (PSS salt 48) does not verify" % name)
        if child.issuer != parent.subject:
            simtest.fail("%s issuer" % name)
        # AMD's names to the letter: a simulated chip is told by its keys
        # and CHIP_ID, not by a name a verifier compares
        org = child.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME)[0].value
        if org != "Advanced Micro Devices":
            simtest.fail("%s O= is %r, not AMD's" % (name, org))
    if ark.public_key().key_size != 4096 or ask.public_key().key_size != 4096:
        simtest.fail("ARK/ASK are not RSA-4096")
    if not isinstance(vcek.public_key(), ec.EllipticCurvePublicKey) or \
            vcek.public_key().curve.name != "secp384r1":
        simtest.fail("VCEK is not P-384")
    if vcek.serial_number != 0:
        simtest.fail("VCEK serial is not 0")
    cn = lambda c: c.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
    if (cn(ark), cn(ask), cn(vcek)) != ("ARK-Milan", "SEV-Milan", "SEV-VCEK"):
        simtest.fail("common names %r" % ((cn(ark), cn(ask), cn(vcek)),))

    ext = {e.oid.dotted_string: e.value.value for e in vcek.extensions
           if e.oid.dotted_string.startswith(AMD)}
    if ext[AMD + "4"] != report[0x1a0:0x1e0]:
        simtest.fail("hwID != CHIP_ID")
    if not report[0x1a0:0x1a8] == b"SIMULATD":
        simtest.fail("chip id is not recognisably simulated")
    tcb = report[0x180:0x188]
    spl = {1: tcb[0], 2: tcb[1], 3: tcb[6], 8: tcb[7], 4: 0, 5: 0, 6: 0, 7: 0}
    for n, v in spl.items():
        if der_int(ext[AMD + "3.%d" % n]) != v:
            simtest.fail("SPL .3.%d" % n)
    if ext[AMD + "2"] != b"\x16\x08Milan-B0":
        simtest.fail("productName %r" % ext[AMD + "2"])
    if der_int(ext[AMD + "1"]) != 0:
        simtest.fail("structVersion")

    r = int.from_bytes(report[0x2a0:0x2a0 + 72], "little")
    s = int.from_bytes(report[0x2e8:0x2e8 + 72], "little")
    if any(report[0x2a0 + 48:0x2a0 + 72]) or any(report[0x330:0x4a0]):
        simtest.fail("signature padding not zero")
    try:
        vcek.public_key().verify(utils.encode_dss_signature(r, s), report[:0x2a0],
                                 ec.ECDSA(hashes.SHA384()))
    except InvalidSignature:
        simtest.fail("report signature does not verify with the VCEK")
    print("ok: chain, extensions and report signature")


def decrypt(page, vmpck):
    hdr = page[:0x60]
    tag = hdr[:16]
    seqno = struct.unpack_from("<Q", hdr, 0x20)[0]
    algo, hv, hsz, mtype, mver, msz = struct.unpack_from("<BBHBBH", hdr, 0x30)
    if (algo, hv, hsz) != (1, 1, 0x60):
        simtest.fail("header algo/version/size %d %d %#x" % (algo, hv, hsz))
    if any(hdr[16:32]):
        simtest.fail("authtag bytes 16..31 not zero")
    iv = struct.pack("<Q", seqno) + b"\0" * 4
    pt = AESGCM(vmpck).decrypt(iv, page[0x60:0x60 + msz] + tag, hdr[0x30:0x60])
    return seqno, mtype, mver, hdr[0x3c], pt


def check_messages(out):
    vmpck = rd(os.path.join(out, "vmpck.bin"))
    req = rd(os.path.join(out, "report-req.bin"))
    resp = rd(os.path.join(out, "report-resp.bin"))
    sq, t, v, k, pt = decrypt(req, vmpck)
    if t != 5 or v != 1 or k != 0 or len(pt) != 0x60 or sq % 2 != 1:
        simtest.fail("report request header: seq %d type %d ver %d vmpck %d" % (sq, t, v, k))
    if pt[:64] != rd(os.path.join(out, "report-data.bin")) or any(pt[64:]):
        simtest.fail("report request plaintext")
    sq2, t2, v2, k2, pt2 = decrypt(resp, vmpck)
    if sq2 != sq + 1 or t2 != 6 or v2 != 1 or k2 != 0:
        simtest.fail("report response header")
    status, size = struct.unpack_from("<II", pt2, 0)
    if status != 0 or size != 0x4a0 or pt2[0x20:0x20 + 0x4a0] != rd(os.path.join(out, "report.bin")):
        simtest.fail("report response plaintext")

    kq = rd(os.path.join(out, "key-req.bin"))
    kr = rd(os.path.join(out, "key-resp.bin"))
    sq3, t3, _, _, pt3 = decrypt(kq, vmpck)
    if t3 != 3 or sq3 != sq + 2 or len(pt3) != 32 or struct.unpack_from("<Q", pt3, 8)[0] != 8:
        simtest.fail("key request")
    sq4, t4, _, _, pt4 = decrypt(kr, vmpck)
    if t4 != 4 or sq4 != sq3 + 1 or struct.unpack_from("<I", pt4, 0)[0] != 0 or \
            pt4[0x20:0x40] != rd(os.path.join(out, "key.bin")):
        simtest.fail("key response")
    # a wrong key, or a flipped AAD bit, must not decrypt
    for bad_key, bad_page in ((bytes(32), resp), (vmpck, resp[:0x34] + b"\x07" + resp[0x35:])):
        try:
            decrypt(bad_page, bad_key)
            simtest.fail("decryption should have failed")
        except InvalidTag:
            pass
    print("ok: request/response pairs decrypt with the VMPCK (seq %d..%d)" % (sq, sq4))


def main():
    d = simtest.new_state("Milan")
    try:
        out = os.path.join(d, "capture")
        os.mkdir(out)
        subprocess.run([os.path.join(simtest.BUILD, "tests", "sim", "sim-capture"), d, out],
                       check=True)
        check_chain(d, rd(os.path.join(out, "report.bin")))
        check_messages(out)
    finally:
        simtest.cleanup(d)
    return 0


if __name__ == "__main__":
    sys.exit(main())
